"""Rollouts over HTTP against a real PostgreSQL: waves by ring, halting and retry, idempotent
and concurrent reports, pause and resume, creation by key, and who may call what."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.topology.conftest import TOKENS, RunningServer, Topology, ring_cluster
from topology.client import TopologyClient, TopologyError

V1, V2 = "20260101000000", "20260102000000"
VERSIONS = [V1, V2]
KEY = "gitlab-org/gitlab!42@0a1b2c3d"
NAME = "gitlab-org/gitlab!42"
RINGS = {1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 6: 2, 7: 0}  # cell -> ring; cell 7 is offline


def _ring_cluster() -> str:
    """Six active cells, two per ring 0, 1, 2, and an offline cell 7 in ring 0."""
    return ring_cluster(RINGS, _token, offline={7})


def _token(cell_id: int) -> str:
    return f"rollout-cell-{cell_id}-token-0123456789"


@pytest.fixture
def rings(fresh_database: str) -> Iterator[Topology]:
    running = Topology(fresh_database, RunningServer(fresh_database, cluster_text=_ring_cluster()))
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        running.server.stop()


def cell(rings: Topology, cell_id: int) -> TopologyClient:
    return rings.client(token=_token(cell_id))


def apply_all(rings: Topology, rollout_id: int, cell_id: int, versions=VERSIONS) -> None:
    """What a cell's deploy pipeline does once its gate is open."""
    client = cell(rings, cell_id)
    for version in versions:
        client.report_rollout_status(rollout_id, cell_id, version, "running")
        client.report_rollout_status(rollout_id, cell_id, version, "applied")


def open_gates(rings: Topology, rollout_id: int) -> list[int]:
    return [c for c in range(1, 7) if cell(rings, c).rollout_gate(rollout_id, c).allowed]


def cell_states(rings: Topology, rollout_id: int) -> dict[int, tuple[str, list[str]]]:
    found = rings.client("admin").get_rollout(rollout_id)
    return {c.cell_id: (c.state, c.applied_versions) for c in found.cells}


def refused(call: Callable[[], object]) -> TopologyError:
    with pytest.raises(TopologyError) as error:
        call()
    return error.value


def concurrently(actions: list[Callable[[], object]]) -> list[object]:
    """Run the actions at the same moment, each in its own thread; their results in order."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = actions[i]()
        except TopologyError as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# waves -------------------------------------------------------------------------------------


def test_waves_open_ring_by_ring_and_a_failure_halts_until_the_cell_is_retried(rings):
    admin = rings.client("admin")
    rollout = admin.create_rollout(KEY, NAME, VERSIONS)
    assert (rollout.state, rollout.current_ring, rollout.versions) == ("running", 0, VERSIONS)
    assert [(c.cell_id, c.ring, c.state) for c in rollout.cells] == [
        (1, 0, "pending"),
        (2, 0, "pending"),
        (3, 1, "pending"),
        (4, 1, "pending"),
        (5, 2, "pending"),
        (6, 2, "pending"),
    ]  # cell 7 is offline: not part of it
    assert open_gates(rings, rollout.id) == [1, 2]
    waiting = cell(rings, 3).rollout_gate(rollout.id, 3)
    assert (waiting.reason, waiting.ring, waiting.current_ring) == ("NOT_YOUR_WAVE", 1, 0)
    assert waiting.pending_versions == VERSIONS

    apply_all(rings, rollout.id, 1)
    assert cell_states(rings, rollout.id)[1] == ("applied", VERSIONS)
    assert open_gates(rings, rollout.id) == [2]  # ring 1 waits for cell 2
    apply_all(rings, rollout.id, 2)
    assert open_gates(rings, rollout.id) == [3, 4]
    assert admin.get_rollout(rollout.id).current_ring == 1

    three, four = cell(rings, 3), cell(rings, 4)
    three.report_rollout_status(rollout.id, 3, V1, "running")
    failed = four.report_rollout_status(rollout.id, 4, V1, "failed", error="lock timeout on users")
    assert (failed.rollout_state, failed.cell.state, failed.cell.error) == (
        "halted",
        "failed",
        f"{V1}: lock timeout on users",
    )
    assert open_gates(rings, rollout.id) == []
    assert cell(rings, 5).rollout_gate(rollout.id, 5).reason == "ROLLOUT_HALTED"
    assert four.rollout_gate(rollout.id, 4).reason == "CELL_FAILED"
    for version in VERSIONS:  # cell 3 had started: it may finish
        three.report_rollout_status(rollout.id, 3, version, "applied")
    assert cell_states(rings, rollout.id)[3] == ("applied", VERSIONS)
    assert cell(rings, 5).rollout_gate(rollout.id, 5).reason == "ROLLOUT_HALTED"

    retried = admin.retry_rollout_cell(rollout.id, 4)
    assert retried.state == "running"
    assert (retried.cells[3].state, retried.cells[3].error) == ("pending", None)
    assert open_gates(rings, rollout.id) == [4]
    apply_all(rings, rollout.id, 4)
    assert open_gates(rings, rollout.id) == [5, 6]
    apply_all(rings, rollout.id, 5)
    apply_all(rings, rollout.id, 6)
    done = admin.get_rollout(rollout.id)
    assert (done.state, done.current_ring) == ("completed", None)
    assert {c.state for c in done.cells} == {"applied"}
    gate = cell(rings, 6).rollout_gate(rollout.id, 6)
    assert (gate.allowed, gate.reason, gate.pending_versions) == (False, "ROLLOUT_COMPLETED", [])


def test_reports_are_idempotent_and_checked(rings):
    admin, one = rings.client("admin"), cell(rings, 1)
    rollout = admin.create_rollout(KEY, NAME, VERSIONS)
    first = one.report_rollout_status(rollout.id, 1, V1, "applied")
    again = one.report_rollout_status(rollout.id, 1, V1, "applied")
    assert again == first  # nothing changed, not even the time of the last change
    assert again.cell.applied_versions == [V1]

    out_of_wave = refused(
        lambda: cell(rings, 5).report_rollout_status(rollout.id, 5, V1, "running")
    )
    assert (out_of_wave.status, out_of_wave.code, out_of_wave.reason) == (
        400,
        9,
        "NOT_YOUR_WAVE",
    )
    assert out_of_wave.message == "cell 5 is in ring 2; ring 0 is not applied everywhere yet"
    unknown = refused(lambda: one.report_rollout_status(rollout.id, 1, "2099", "applied"))
    assert (unknown.status, unknown.code, unknown.reason) == (400, 3, "UNKNOWN_VERSION")
    too_long = refused(lambda: one.report_rollout_status(rollout.id, 1, V2, "failed", "x" * 2001))
    assert (too_long.status, too_long.reason) == (400, "INVALID_REQUEST")
    bad_state = refused(lambda: one.report_rollout_status(rollout.id, 1, V2, "done"))
    assert (bad_state.status, bad_state.reason) == (400, "INVALID_REQUEST")
    offline = refused(lambda: cell(rings, 7).report_rollout_status(rollout.id, 7, V1, "running"))
    assert (offline.status, offline.reason) == (404, "CELL_NOT_IN_ROLLOUT")
    missing = refused(lambda: one.report_rollout_status(999, 1, V1, "applied"))
    assert (missing.status, missing.reason) == (404, "ROLLOUT_NOT_FOUND")
    assert cell_states(rings, rollout.id)[1] == ("running", [V1])  # refusals changed nothing

    for cell_id in range(1, 7):
        apply_all(rings, rollout.id, cell_id)
    after = one.report_rollout_status(rollout.id, 1, V2, "applied")
    assert (after.rollout_state, after.current_ring, after.cell.state) == (
        "completed",
        None,
        "applied",
    )
    late = refused(lambda: one.report_rollout_status(rollout.id, 1, V2, "running"))
    assert late.reason == "ROLLOUT_COMPLETED"


# concurrency -------------------------------------------------------------------------------


def test_concurrent_reports_of_the_same_versions_for_one_cell(rings):
    versions = ["001", "002", "003"]
    rollout = rings.client("admin").create_rollout(KEY, NAME, versions)

    def report_all() -> list[str]:
        client = cell(rings, 1)
        return [
            client.report_rollout_status(rollout.id, 1, v, "applied").cell.state for v in versions
        ]

    results = concurrently([report_all] * 16)
    assert not [r for r in results if isinstance(r, TopologyError)]
    assert cell_states(rings, rollout.id)[1] == ("applied", versions)


def test_concurrent_reports_of_different_versions_for_one_cell(rings):
    versions = [f"{i:03}" for i in range(16)]
    rollout = rings.client("admin").create_rollout(KEY, NAME, versions)

    def report(version: str) -> Callable[[], object]:
        return lambda: cell(rings, 1).report_rollout_status(rollout.id, 1, version, "applied")

    results = concurrently([report(v) for v in versions])
    # each report saw the one before it: 1, 2, … 16 versions applied, the last one completing
    assert sorted(len(r.cell.applied_versions) for r in results) == list(range(1, 17))
    assert [r.cell.state for r in results if len(r.cell.applied_versions) == 16] == ["applied"]
    assert cell_states(rings, rollout.id)[1] == ("applied", versions)


def finish(rings: Topology, rollout_id: int, cell_id: int) -> Callable[[], object]:
    return lambda: cell(rings, cell_id).report_rollout_status(rollout_id, cell_id, V2, "applied")


def test_concurrent_last_reports_of_a_wave_open_the_next_wave_once(rings):
    admin = rings.client("admin")
    # the two cells of each ring finish together; the first to commit still sees the other's
    # ring as the current wave, the second sees the next one (or none: completed)
    waves = {(1, 2): {0, 1}, (3, 4): {1, 2}, (5, 6): {2, None}}
    for attempt in range(5):
        rollout = admin.create_rollout(f"{KEY}-{attempt}", NAME, VERSIONS)
        for pair, seen in waves.items():
            for cell_id in pair:
                cell(rings, cell_id).report_rollout_status(rollout.id, cell_id, V1, "applied")
            results = concurrently([finish(rings, rollout.id, cell_id) for cell_id in pair])
            assert {r.current_ring for r in results} == seen
        assert sorted(r.rollout_state for r in results) == ["completed", "running"]
        assert admin.get_rollout(rollout.id).state == "completed"


# pause, resume, retry ----------------------------------------------------------------------


def test_pause_and_resume(rings):
    admin, one, two = rings.client("admin"), cell(rings, 1), cell(rings, 2)
    rollout = admin.create_rollout(KEY, NAME, VERSIONS)
    one.report_rollout_status(rollout.id, 1, V1, "running")
    paused = admin.pause_rollout(rollout.id)
    assert paused.state == "paused"
    assert admin.pause_rollout(rollout.id).state == "paused"  # again: no change
    assert open_gates(rings, rollout.id) == []
    assert two.rollout_gate(rollout.id, 2).reason == "ROLLOUT_PAUSED"
    refusal = refused(lambda: two.report_rollout_status(rollout.id, 2, V1, "running"))
    assert (refusal.status, refusal.reason) == (400, "ROLLOUT_PAUSED")
    assert one.report_rollout_status(rollout.id, 1, V1, "applied").cell.applied_versions == [V1]
    nextv = refused(lambda: one.report_rollout_status(rollout.id, 1, V2, "running"))
    assert nextv.reason == "ROLLOUT_PAUSED"  # a started cell finishes its version, no more

    assert admin.resume_rollout(rollout.id).state == "running"
    assert admin.resume_rollout(rollout.id).state == "running"  # again: no change
    assert open_gates(rings, rollout.id) == [1, 2]


def test_a_halted_rollout_can_be_paused_retried_and_resumed(rings):
    admin, two = rings.client("admin"), cell(rings, 2)
    rollout = admin.create_rollout(KEY, NAME, VERSIONS)
    two.report_rollout_status(rollout.id, 2, V1, "failed", error="disk full")
    halted = refused(lambda: admin.resume_rollout(rollout.id))
    assert (halted.status, halted.code, halted.reason) == (400, 9, "ROLLOUT_HALTED")
    assert halted.message == f"rollout {rollout.id} is halted: cell 2 failed; retry instead"
    not_failed = refused(lambda: admin.retry_rollout_cell(rollout.id, 1))
    assert (not_failed.status, not_failed.reason) == (400, "CELL_NOT_FAILED")

    assert admin.pause_rollout(rollout.id).state == "paused"
    assert admin.resume_rollout(rollout.id).state == "halted"  # cell 2 still failed
    admin.pause_rollout(rollout.id)
    retried = admin.retry_rollout_cell(rollout.id, 2)
    assert (retried.state, retried.cells[1].state) == ("paused", "pending")  # stays paused
    assert two.rollout_gate(rollout.id, 2).reason == "ROLLOUT_PAUSED"
    assert admin.resume_rollout(rollout.id).state == "running"
    assert open_gates(rings, rollout.id) == [1, 2]

    for cell_id in range(1, 7):
        apply_all(rings, rollout.id, cell_id)
    for action in (admin.pause_rollout, admin.resume_rollout):
        assert refused(lambda a=action: a(rollout.id)).reason == "ROLLOUT_COMPLETED"
    missing = refused(lambda: admin.pause_rollout(999))
    assert (missing.status, missing.reason) == (404, "ROLLOUT_NOT_FOUND")


# creating and listing ----------------------------------------------------------------------


def test_create_is_idempotent_by_key(rings):
    admin = rings.client("admin")
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    body = {"key": KEY, "name": NAME, "versions": VERSIONS}
    first = httpx.post(f"{rings.url}/v1/rollouts", json=body, headers=headers)
    assert first.status_code == 201
    raw = first.json()
    assert set(raw) == {
        "id",
        "key",
        "name",
        "versions",
        "state",
        "currentRing",
        "cells",
        "createdAt",
        "updatedAt",
    }
    assert isinstance(raw["id"], str)  # int64 as a string, as protojson writes it
    assert set(raw["cells"][0]) == {
        "cellId",
        "ring",
        "state",
        "appliedVersions",
        "error",
        "updatedAt",
    }
    apply_all(rings, int(raw["id"]), 1)
    second = httpx.post(f"{rings.url}/v1/rollouts", json=body, headers=headers)
    assert second.status_code == 200  # the existing rollout, as it is now
    assert second.json()["id"] == raw["id"]
    assert second.json()["cells"][0]["appliedVersions"] == VERSIONS

    other = refused(lambda: admin.create_rollout(KEY, NAME, [V2, V1]))
    assert (other.status, other.code, other.reason) == (409, 6, "ROLLOUT_KEY_IN_USE")
    twice = refused(lambda: admin.create_rollout("k2", NAME, [V1, V1]))
    assert (twice.status, twice.code, twice.reason) == (400, 3, "INVALID_ROLLOUT")
    assert twice.message == f"version '{V1}' appears twice"
    empty = refused(lambda: admin.create_rollout("k3", NAME, []))
    assert (empty.status, empty.reason) == (400, "INVALID_REQUEST")
    assert [r.id for r in admin.list_rollouts()] == [int(raw["id"])]


def test_concurrent_creates_with_one_key_make_one_rollout(rings):
    def create() -> object:
        return rings.client("admin").create_rollout(KEY, NAME, VERSIONS)

    results = concurrently([create] * 8)
    assert len({r.id for r in results}) == 1
    assert len(rings.client("admin").list_rollouts()) == 1


def test_a_rollout_keeps_the_rings_of_its_creation(rings):
    admin = rings.client("admin")
    rollout = admin.create_rollout(KEY, NAME, VERSIONS)
    admin.update_cell(5, ring=0)
    admin.update_cell(2, state="offline")
    admin.add_cell(8, "cell-8.example.com:443", "cell8:")
    cells = admin.get_rollout(rollout.id).cells
    assert [(c.cell_id, c.ring) for c in cells] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2)]
    later = admin.create_rollout(f"{KEY}-later", NAME, VERSIONS)
    assert [(c.cell_id, c.ring) for c in later.cells] == [
        (1, 0),
        (5, 0),
        (8, 0),
        (3, 1),
        (4, 1),
        (6, 2),
    ]


def test_list_rollouts_newest_first_and_by_name(rings):
    admin = rings.client("admin")
    made = [admin.create_rollout(f"{KEY}-{i}", f"project!{i % 2}", [V1]) for i in range(4)]
    assert [r.id for r in admin.list_rollouts()] == [r.id for r in reversed(made)]
    assert [r.key for r in admin.list_rollouts(name="project!1")] == [f"{KEY}-3", f"{KEY}-1"]
    assert admin.list_rollouts(name="nothing") == []
    missing = refused(lambda: admin.get_rollout(999))
    assert (missing.status, missing.reason) == (404, "ROLLOUT_NOT_FOUND")


# who may call what -------------------------------------------------------------------------


def _routes(rollout_id: int) -> list[tuple[str, str, dict | None, set[str]]]:
    """(method, path, body, callers allowed), in an order the rollout's state allows."""
    base = f"/v1/rollouts/{rollout_id}"
    status = {"version": V1, "state": "running"}
    create = {"key": "auth", "name": NAME, "versions": [V1]}
    return [
        ("POST", "/v1/rollouts", create, {"admin"}),
        ("GET", "/v1/rollouts", None, {"admin"}),
        ("GET", base, None, {"cell1", "cell2", "router", "admin"}),
        ("GET", f"{base}/cells/1/gate", None, {"cell1", "admin"}),
        ("POST", f"{base}/cells/1/status", status, {"cell1", "admin"}),
        ("POST", f"{base}:pause", None, {"admin"}),
        ("POST", f"{base}:resume", None, {"admin"}),
        ("POST", f"{base}/cells/1:retry", None, {"admin"}),
    ]


def test_the_auth_matrix(rings):
    rollout = rings.client("admin").create_rollout(KEY, NAME, VERSIONS)
    tokens = {
        "cell1": _token(1),
        "cell2": _token(2),
        "router": TOKENS["router"],
        "admin": TOKENS["admin"],
    }
    for method, path, body, allowed in _routes(rollout.id):
        for caller, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            response = httpx.request(method, rings.url + path, json=body, headers=headers)
            if caller in allowed:
                assert response.status_code not in (401, 403), (method, path, caller)
                continue
            assert response.status_code == 403, (method, path, caller, response.text)
            wrong_cell = caller == "cell2" and "/cells/1/" in path
            reason = "WRONG_CELL" if wrong_cell else "FORBIDDEN_ROLE"
            assert response.json()["details"][0]["reason"] == reason
        anonymous = httpx.request(method, rings.url + path, json=body)
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == 16
    assert cell_states(rings, rollout.id)[1] == ("running", [])  # cell 1's own report counted
