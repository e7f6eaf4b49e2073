"""The claims protocol over HTTP against a real PostgreSQL: leases, conflicts, idempotency,
listing, and what survives a restart."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest

from topology.client import Claim, ClaimConflict, TopologyError


def user(name: str, source: int = 0) -> Claim:
    return Claim(
        "USERNAMES",
        name,
        subject_type="USER",
        subject_id=source,
        source_type="RAILS_TABLE_USERS",
        source_id=source.to_bytes(8, "big"),
    )


def statuses(database_url: str) -> dict[tuple[str, str], tuple[int, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT bucket_type, bucket_value, cell_id, status FROM claims"
        ).fetchall()
    return {(t, v): (cell, status) for t, v, cell, status in rows}


def test_begin_update_leases_creates_and_commit_makes_them_active(topology):
    cell = topology.client("cell1")
    lease = cell.begin_update(1, creates=[user("alice", 7), Claim("EMAILS", "alice@example.com")])
    assert statuses(topology.database_url) == {
        ("USERNAMES", "alice"): (1, "LEASE_CREATING"),
        ("EMAILS", "alice@example.com"): (1, "LEASE_CREATING"),
    }
    assert [lease_.uuid.value for lease_ in cell.list_leases(1)] == [lease]
    cell.commit_update(1, lease)
    assert set(statuses(topology.database_url).values()) == {(1, "ACTIVE")}
    assert list(cell.list_leases(1)) == []
    record = topology.client("admin").get_record("USERNAMES", "alice").record
    assert record.cell_id == 1
    assert record.lease_uuid is None
    assert (record.metadata.subject.type, record.metadata.subject.id) == ("USER", 7)
    assert record.metadata.source.rails_primary_key_id == (7).to_bytes(8, "big")


def test_commit_and_rollback_are_idempotent(topology):
    cell = topology.client("cell1")
    lease = cell.begin_update(1, creates=[user("bob")])
    cell.commit_update(1, lease)
    cell.commit_update(1, lease)  # a retried commit succeeds and changes nothing
    cell.rollback_update(1, lease)  # a rollback after the commit finds nothing to undo
    assert statuses(topology.database_url) == {("USERNAMES", "bob"): (1, "ACTIVE")}

    lease = cell.begin_update(1, creates=[user("carol")])
    cell.rollback_update(1, lease)
    cell.rollback_update(1, lease)
    cell.commit_update(1, lease)  # too late: the lease is gone, nothing becomes active
    assert ("USERNAMES", "carol") not in statuses(topology.database_url)


def test_concurrent_commit_and_rollback_of_one_lease_apply_one_of_them(topology):
    cell = topology.client("cell1")
    lease = cell.begin_update(1, creates=[user(f"racer-{i}") for i in range(20)])
    barrier = threading.Barrier(2)

    def finish(action):
        barrier.wait()
        action(1, lease)

    threads = [
        threading.Thread(target=finish, args=(topology.client("cell1").commit_update,)),
        threading.Thread(target=finish, args=(topology.client("cell1").rollback_update,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome = statuses(topology.database_url)
    assert outcome == {} or set(outcome.values()) == {(1, "ACTIVE")}
    assert len(outcome) in (0, 20)


def test_destroy_then_commit_deletes_and_rollback_restores(topology):
    cell = topology.client("cell1")
    cell.commit_update(1, cell.begin_update(1, creates=[user("dave"), user("erin")]))
    lease = cell.begin_update(1, destroys=[user("dave")])
    assert statuses(topology.database_url)[("USERNAMES", "dave")] == (1, "LEASE_DESTROYING")
    cell.rollback_update(1, lease)
    assert statuses(topology.database_url)[("USERNAMES", "dave")] == (1, "ACTIVE")
    cell.commit_update(1, cell.begin_update(1, destroys=[user("dave")]))
    assert statuses(topology.database_url) == {("USERNAMES", "erin"): (1, "ACTIVE")}


def test_a_create_conflicts_whatever_the_lease_state(topology):
    one, two = topology.client("cell1"), topology.client("cell2")
    leased = one.begin_update(1, creates=[user("frank")])
    with pytest.raises(ClaimConflict) as leased_error:
        two.begin_update(2, creates=[user("frank")])
    assert (leased_error.value.status, leased_error.value.code) == (400, 9)
    assert leased_error.value.reason == "LEASED"
    assert leased_error.value.retryable
    assert leased_error.value.retry_after == 1
    assert leased_error.value.claims == ["USERNAMES:frank"]

    one.commit_update(1, leased)
    with pytest.raises(ClaimConflict) as taken:
        two.begin_update(2, creates=[user("frank")])
    assert (taken.value.status, taken.value.code, taken.value.reason) == (409, 6, "ALREADY_TAKEN")
    assert not taken.value.retryable
    assert taken.value.retry_after is None
    with pytest.raises(ClaimConflict, match="ALREADY_TAKEN"):  # the owner cannot create it twice
        one.begin_update(1, creates=[user("frank")])


def test_a_failed_batch_changes_nothing(topology):
    one, two = topology.client("cell1"), topology.client("cell2")
    one.commit_update(1, one.begin_update(1, creates=[user("gina")]))
    with pytest.raises(ClaimConflict, match="ALREADY_TAKEN"):
        two.begin_update(2, creates=[user("hugo"), user("gina"), user("ivan")])
    assert set(statuses(topology.database_url)) == {("USERNAMES", "gina")}
    assert list(two.list_leases(2)) == []  # the lease of the failed batch is gone too


def test_destroys_only_for_the_creating_cell_and_only_unleased(topology):
    one, two = topology.client("cell1"), topology.client("cell2")
    one.commit_update(1, one.begin_update(1, creates=[user("jane")]))
    with pytest.raises(ClaimConflict) as not_owner:
        two.begin_update(2, destroys=[user("jane")])
    assert (not_owner.value.status, not_owner.value.reason) == (400, "NOT_OWNER")

    held = one.begin_update(1, destroys=[user("jane")])
    with pytest.raises(ClaimConflict) as leased:
        one.begin_update(1, destroys=[user("jane")])
    assert leased.value.reason == "LEASED"
    one.commit_update(1, held)

    with pytest.raises(ClaimConflict) as missing:
        one.begin_update(1, destroys=[user("jane")])
    assert (missing.value.status, missing.value.code, missing.value.reason) == (
        404,
        5,
        "CLAIM_NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("creates", "destroys", "message"),
    [
        ([], [], "the batch is empty"),
        ([user("kim"), user("kim")], [], "creates USERNAMES:kim twice"),
        ([user("kim")], [user("kim")], "creates and destroys USERNAMES:kim"),
        ([Claim("NO_SUCH_TYPE", "x")], [], "unknown bucket type 'NO_SUCH_TYPE'"),
        ([Claim("USERNAMES", "")], [], "empty bucket value"),
    ],
)
def test_invalid_batches_are_refused(topology, creates, destroys, message):
    with pytest.raises(ClaimConflict, match=message) as error:
        topology.client("cell1").begin_update(1, creates=creates, destroys=destroys)
    assert (error.value.status, error.value.code, error.value.reason) == (400, 3, "INVALID_BATCH")
    assert statuses(topology.database_url) == {}


def test_a_lease_of_another_cell_cannot_be_committed(topology):
    lease = topology.client("cell1").begin_update(1, creates=[user("lena")])
    with pytest.raises(TopologyError) as error:
        topology.client("cell2").commit_update(2, lease)
    assert (error.value.status, error.value.reason) == (404, "LEASE_NOT_FOUND")
    with pytest.raises(TopologyError):
        topology.client("cell2").rollback_update(2, lease)
    assert statuses(topology.database_url) == {("USERNAMES", "lena"): (1, "LEASE_CREATING")}


def test_begin_update_for_an_unknown_cell_is_404(topology):
    with pytest.raises(TopologyError) as error:
        topology.client("admin").begin_update(99, creates=[user("mia")])
    assert (error.value.status, error.value.reason) == (404, "CELL_NOT_FOUND")


def test_32_clients_racing_on_overlapping_values(topology):
    """Each value ends owned by exactly one cell, the losers get the right conflict, and no
    lease is left behind."""
    values = [f"contested-{i}" for i in range(12)]
    rng = random.Random(4)
    batches = [rng.sample(values, 3) for _ in range(32)]
    barrier = threading.Barrier(32)
    outcomes: list[tuple[int, list[str], str]] = [None] * 32  # type: ignore[list-item]

    def race(i: int) -> None:
        cell_id = i % 3 + 1
        client = topology.client(f"cell{cell_id}")
        barrier.wait()
        try:
            lease = client.begin_update(cell_id, creates=[user(v) for v in batches[i]])
        except ClaimConflict as conflict:
            outcomes[i] = (cell_id, batches[i], conflict.reason)
            return
        if i % 4 == 0:  # some winners change their mind
            client.rollback_update(cell_id, lease)
            outcomes[i] = (cell_id, batches[i], "ROLLED_BACK")
        else:
            client.commit_update(cell_id, lease)
            outcomes[i] = (cell_id, batches[i], "COMMITTED")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = statuses(topology.database_url)
    committed = [(cell, batch) for cell, batch, outcome in outcomes if outcome == "COMMITTED"]
    assert committed, "someone must win"
    owners = Counter(v for _, batch in committed for v in batch)
    assert all(count == 1 for count in owners.values()), "a value was committed twice"
    assert final == {("USERNAMES", v): (cell, "ACTIVE") for cell, batch in committed for v in batch}
    reasons = {outcome for _, _, outcome in outcomes} - {"COMMITTED", "ROLLED_BACK"}
    assert reasons <= {"ALREADY_TAKEN", "LEASED"}
    for _, batch, outcome in outcomes:
        if outcome == "ALREADY_TAKEN":  # only a committed claim is "taken", and commits stay
            assert any(v in owners for v in batch)
    admin = topology.client("admin")
    assert all(list(admin.list_leases(cell)) == [] for cell in (1, 2, 3))


def test_committed_claims_survive_a_restart(topology):
    cell = topology.client("cell1")
    cell.commit_update(1, cell.begin_update(1, creates=[user("nora", 3)]))
    pending = cell.begin_update(1, creates=[user("otto", 4)])
    topology.restart()
    cell = topology.client("cell1")
    assert topology.client("admin").get_record("USERNAMES", "nora").record.status == "ACTIVE"
    assert [lease.uuid.value for lease in cell.list_leases(1)] == [pending]  # leases too
    cell.commit_update(1, pending)
    assert (
        topology.client("router").classify(claim={"username": "otto"}) == "cell-1.example.com:443"
    )


def test_list_leases_pages_every_lease_exactly_once(topology):
    cell = topology.client("cell2")
    leases = [cell.begin_update(2, creates=[user(f"lease-{i}")]) for i in range(23)]
    other = topology.client("cell3").begin_update(3, creates=[user("not-mine")])
    listed = [lease.uuid.value for lease in cell.list_leases(2, limit=5)]
    assert listed == leases  # oldest first, no duplicates, no gaps
    assert other not in listed
    middle = next(iter(cell.list_leases(2, limit=1)))
    later = list(cell.list_leases(2, created_after=middle.created_at, limit=4))
    assert [lease.uuid.value for lease in later] == leases[1:]
    future = datetime.now(UTC).replace(year=2100)
    assert list(cell.list_leases(2, created_after=future)) == []


def test_list_leases_rejects_a_cursor_it_did_not_give(topology):
    response = topology.client("cell1")._http.get(
        "/v1/claims/leases", params={"cellId": 1, "next": "bogus"}
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["reason"] == "INVALID_CURSOR"


def test_list_records_pages_every_record_exactly_once_without_splitting_a_source_row(topology):
    cell = topology.client("cell1")
    claims = []
    for source in range(1, 31):  # users with a username, and every third one an email too
        claims.append(user(f"user-{source}", source))
        if source % 3 == 0:
            claims.append(
                Claim(
                    "EMAILS",
                    f"u{source}@example.com",
                    source_type="RAILS_TABLE_USERS",
                    source_id=source.to_bytes(8, "big"),
                )
            )
    claims.append(Claim("ROUTES", "no-source"))
    cell.commit_update(1, cell.begin_update(1, creates=claims))
    topology.client("cell2").commit_update(
        2, topology.client("cell2").begin_update(2, creates=[user("elsewhere", 99)])
    )

    seen = [r.metadata.bucket.value for r in cell.all_records(1, limit=4)]
    assert sorted(seen) == sorted(c.value for c in claims)
    assert len(seen) == len(set(seen))
    page = cell.list_records(1, limit=4)
    assert page.truncated
    sources = [r.metadata.source.rails_primary_key_id for r in page.records]
    assert sources[0] == b""  # claims without a source row come first
    rest = cell.list_records(1, source_id_gt=sources[-1], limit=100)
    assert not {r.metadata.source.rails_primary_key_id for r in rest.records} & set(sources)


def test_list_records_filters(topology):
    cell = topology.client("cell1")
    cell.commit_update(
        1,
        cell.begin_update(
            1,
            creates=[
                user("pia", 1),
                user("quinn", 2),
                user("rosa", 3),
                Claim(
                    "EMAILS",
                    "pia@example.com",
                    source_type="RAILS_TABLE_EMAILS",
                    source_id=(1).to_bytes(8, "big"),
                ),
            ],
        ),
    )
    by_type = cell.list_records(1, bucket_types=["EMAILS"])
    assert [r.metadata.bucket.value for r in by_type.records] == ["pia@example.com"]
    by_source = cell.list_records(1, source_type="RAILS_TABLE_USERS")
    assert [r.metadata.bucket.value for r in by_source.records] == ["pia", "quinn", "rosa"]
    ranged = cell.list_records(
        1,
        source_type="RAILS_TABLE_USERS",
        source_id_gt=(1).to_bytes(8, "big"),
        source_id_lte=(2).to_bytes(8, "big"),
    )
    assert [r.metadata.bucket.value for r in ranged.records] == ["quinn"]
    assert not ranged.truncated
    response = cell._http.get(
        "/v1/claims/records", params={"cellId": 1, "claimTypes": "CLAIM_TYPE_EMAIL"}
    )
    assert [r["metadata"]["bucket"]["value"] for r in response.json()["records"]] == [
        "pia@example.com"
    ]


def test_get_record_by_bucket_or_by_claim_field(topology):
    cell = topology.client("cell2")
    cell.commit_update(2, cell.begin_update(2, creates=[Claim("ROUTES", "gitlab-org/gitlab")]))
    admin = topology.client("admin")
    found = admin.get_record("ROUTES", "gitlab-org/gitlab")
    assert found.cell_info.id == 2
    assert found.cell_info.address == "cell-2.example.com:443"
    by_claim = admin._http.get("/v1/claims/record", params={"claim.route": "gitlab-org/gitlab"})
    assert by_claim.json()["record"]["cellId"] == "2"  # int64 as a string, as protojson
    with pytest.raises(TopologyError) as missing:
        admin.get_record("ROUTES", "nope")
    assert (missing.value.status, missing.value.reason) == (404, "CLAIM_NOT_FOUND")
    bad = admin._http.get("/v1/claims/record", params={"claim.route": "a", "bucket.type": "ROUTES"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/claims:beginUpdate", {"cellId": "abc", "createRecords": []}),
        (
            "/v1/claims:beginUpdate",
            {"cellId": "1", "createRecords": [{"bucket": {"type": "USERNAMES"}}]},
        ),
        (
            "/v1/claims:beginUpdate",
            {
                "cellId": "1",
                "createRecords": [{"bucket": {"type": "USERNAMES", "value": "x" * 1025}}],
            },
        ),
        (
            "/v1/claims:beginUpdate",
            {
                "cellId": "1",
                "createRecords": [
                    {
                        "bucket": {"type": "USERNAMES", "value": "a"},
                        "source": {"railsPrimaryKeyId": "%%%"},
                    }
                ],
            },
        ),
        (
            "/v1/claims:beginUpdate",
            {
                "cellId": "1",
                "createRecords": [
                    {"bucket": {"type": "USERNAMES", "value": "a"}, "subject": {"id": "seven"}}
                ],
            },
        ),
        ("/v1/claims:beginUpdate", {"cellId": "1", "createRecords": "nope"}),
        ("/v1/claims:beginUpdate", [1, 2]),
        ("/v1/claims:commitUpdate", {"cellId": "1", "leaseUuid": {"value": "not-a-uuid"}}),
        ("/v1/claims:commitUpdate", {"cellId": "1"}),
        ("/v1/claims:rollbackUpdate", {"cellId": "1", "leaseUuid": "flat-string"}),
    ],
)
def test_malformed_requests_are_400_never_500(topology, path, body):
    response = topology.client("cell1")._http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3
    assert statuses(topology.database_url) == {}


@pytest.mark.parametrize(
    "query",
    [
        {"cellId": "1", "sourceIdGt": "%%%"},
        {"cellId": "1", "limit": "0"},
        {"cellId": "1", "limit": "100000"},
        {"cellId": "x"},
        {},
        {"cellId": "1", "claimTypes": "CLAIM_TYPE_NOPE"},
    ],
)
def test_malformed_list_queries_are_400(topology, query):
    response = topology.client("admin")._http.get("/v1/claims/records", params=query)
    assert response.status_code == 400, response.text


def test_user_data_is_kept_as_given(topology):
    cell = topology.client("cell1")
    user_data = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "hi"}
    body = {
        "cellId": "1",
        "createRecords": [{"bucket": {"type": "ROUTES", "value": "kept"}, "userData": user_data}],
    }
    lease = cell._http.post("/v1/claims:beginUpdate", json=body).json()["leaseUuid"]["value"]
    cell.commit_update(1, lease)
    record = topology.client("admin")._http.get(
        "/v1/claims/record", params={"bucket.type": "ROUTES", "bucket.value": "kept"}
    )
    assert record.json()["record"]["metadata"]["userData"] == user_data


def test_draining_cells_only_destroy_and_offline_cells_write_nothing(topology):
    admin, cell = topology.client("admin"), topology.client("cell2")
    cell.commit_update(2, cell.begin_update(2, creates=[user("stays"), user("goes")]))
    admin.update_cell(2, state="draining")
    with pytest.raises(ClaimConflict) as draining:
        cell.begin_update(2, creates=[user("new-on-draining")])
    assert (draining.value.status, draining.value.reason) == (400, "CELL_UNAVAILABLE")
    assert "cell 2 is draining" in draining.value.message
    cell.commit_update(2, cell.begin_update(2, destroys=[user("goes")]))
    admin.update_cell(2, state="offline")
    with pytest.raises(ClaimConflict, match="cell 2 is offline"):
        cell.begin_update(2, destroys=[user("stays")])
    assert statuses(topology.database_url) == {("USERNAMES", "stays"): (2, "ACTIVE")}
