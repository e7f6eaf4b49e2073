"""The coordination ledger on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from analyzers.coordination import ACTIVE, MERGED, OPENED, PROPOSED, Claim, Entry, Touch
from topology.storage.migrate import apply_migrations
from worker.ledger import Ledger

CI = Touch("ci_builds", "column", "token", "added")
ISSUES = Touch("issues", "column", "weight", "altered")


@pytest.fixture
def ledger(fresh_database: str) -> Iterator[Ledger]:
    opened = Ledger(fresh_database)
    yield opened
    opened.close()


def entry(iid: int, *found: Touch, versions: tuple[str, ...] = ()) -> Entry:
    return Entry(7, iid, OPENED, title=f"MR {iid}", head_sha=f"{iid:040x}", touches=found,
                 versions=versions)  # fmt: skip


def test_a_review_is_recorded_and_replaced_by_the_next(ledger: Ledger) -> None:
    assert ledger.record(entry(1, CI)) == (None, [])
    before, colliding = ledger.record(entry(1, ISSUES, versions=("20241105120000",)))
    assert before == entry(1, CI)
    assert colliding == []
    assert ledger.get(7, 1) == entry(1, ISSUES, versions=("20241105120000",))


def test_open_merge_requests_sharing_a_table_or_a_version_collide(ledger: Ledger) -> None:
    ledger.record(entry(1, CI))
    ledger.record(entry(2, ISSUES, versions=("20241105120000",)))
    ledger.record(entry(3, ISSUES))
    _, colliding = ledger.record(entry(4, CI, versions=("20241105120000",)))
    assert [other.iid for other in colliding] == [1, 2]
    assert colliding[0].touches == (CI,)
    ledger.set_state(7, 1, MERGED, merge_sha="f" * 40)
    assert [other.iid for other in ledger.colliding(entry(4, CI))] == []
    assert ledger.get(7, 1).state == MERGED


def test_unknown_merge_requests_are_not_created_by_a_state_change(ledger: Ledger) -> None:
    assert ledger.set_state(7, 99, MERGED) is None
    assert ledger.get(7, 99) is None


def test_concurrent_reviews_of_one_project_always_see_each_other(fresh_database: str) -> None:
    """Twelve merge requests on one table recorded at once: every pair is seen by the one
    recorded second, so no collision goes unnoticed."""
    ledgers = [Ledger(fresh_database, max_size=1) for _ in range(12)]
    start = threading.Barrier(12)
    seen: dict[int, set[int]] = {}

    def review(iid: int) -> None:
        start.wait()
        _, colliding = ledgers[iid - 1].record(entry(iid, CI))
        seen[iid] = {other.iid for other in colliding}

    threads = [threading.Thread(target=review, args=(iid,)) for iid in range(1, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in ledgers:
        ledger.close()
    pairs = {(a, b) for a in range(1, 13) for b in range(a + 1, 13)}
    assert all(b in seen[a] or a in seen[b] for a, b in pairs)


def test_claims_are_proposed_once_then_settled(ledger: Ledger) -> None:
    ledger.record(entry(1, CI))
    ledger.record(entry(2, CI))
    claim = Claim("CI_BUILD_TOKEN", "ci_builds", "token", "alice", PROPOSED)
    assert ledger.propose_claim(7, 1, claim)
    assert not ledger.propose_claim(7, 1, claim)  # the same command again
    assert not ledger.claimed_elsewhere(7, 1, "CI_BUILD_TOKEN")
    ledger.propose_claim(7, 2, claim)
    assert ledger.claimed_elsewhere(7, 1, "CI_BUILD_TOKEN")
    ledger.set_claim_state(7, 1, "CI_BUILD_TOKEN", ACTIVE)
    assert ledger.claims(7, 1) == [Claim("CI_BUILD_TOKEN", "ci_builds", "token", "alice", ACTIVE)]


def test_only_the_latest_rollout_watcher_may_show(ledger: Ledger) -> None:
    ledger.record(entry(1, CI))
    ledger.set_rollout(7, 1, 42)
    ledger.set_rollout(7, 1, 43)  # a retried merge task: the first rollout stays
    first = ledger.new_watch(7, 1)
    second = ledger.new_watch(7, 1)
    assert not ledger.show_rollout(7, 1, first, state="running", shown="old")
    assert ledger.show_rollout(7, 1, second, state="running", shown="new")
    rollout = ledger.rollout(7, 1)
    assert (rollout.rollout_id, rollout.state, rollout.shown, rollout.watch) == (
        42,
        "running",
        "new",
        second,
    )


def test_the_ledger_lives_in_its_own_schema_beside_the_topology_service(
    fresh_database: str,
) -> None:
    apply_migrations(fresh_database)  # the Topology Service's, in the same database
    Ledger(fresh_database).close()
    Ledger(fresh_database).close()  # a second start applies nothing again
    with psycopg.connect(fresh_database) as conn:
        versions = conn.execute("SELECT version FROM ledger.schema_migrations").fetchall()
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ledger' "
            "ORDER BY 1"
        ).fetchall()
        topology = conn.execute("SELECT count(*) FROM public.schema_migrations").fetchone()
    assert versions == [(1,)]
    assert [name for (name,) in tables] == [
        "claims",
        "merge_requests",
        "rollouts",
        "schema_migrations",
        "touches",
    ]
    assert topology[0] >= 1
