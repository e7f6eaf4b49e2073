"""The pure rules of rollouts: waves by ring, gates, reports, pause, resume and retry."""

from __future__ import annotations

import pytest

from topology.cluster import Cell, SequenceRange
from topology.domain import rollouts as rules
from topology.domain.rollouts import (
    APPLIED,
    COMPLETED,
    FAILED,
    HALTED,
    PAUSED,
    PENDING,
    RUNNING,
    CellProgress,
    Rollout,
    RolloutError,
)

VERSIONS = ("v1", "v2")


def rollout(*cells: CellProgress, state: str = RUNNING, versions=VERSIONS) -> Rollout:
    return Rollout(7, "group/project!1@abc", "group/project!1", versions, state, cells)


def cell(cell_id: int, ring: int, state: str = PENDING, applied=(), error=None) -> CellProgress:
    return CellProgress(cell_id, ring, state, tuple(applied), error)


def states(found: Rollout) -> dict[int, tuple[str, tuple[str, ...]]]:
    return {c.cell_id: (c.state, c.applied_versions) for c in found.cells}


def refused(reason: str, action, *args, **kwargs) -> str:
    with pytest.raises(RolloutError) as error:
        action(*args, **kwargs)
    assert error.value.reason == reason
    return error.value.message


# creating ----------------------------------------------------------------------------------

CELLS = [
    Cell(3, "c3:443", "cell3:", (SequenceRange(1, 10),), ring=1),
    Cell(1, "c1:443", "cell1:", (SequenceRange(11, 20),), ring=0),
    Cell(2, "c2:443", "cell2:", (SequenceRange(21, 30),), ring=0, state="offline"),
    Cell(4, "c4:443", "cell4:", (SequenceRange(31, 40),), ring=0, state="draining"),
]


def test_a_new_rollout_takes_every_cell_not_offline_by_ring():
    new = rules.new_rollout(key="k", name="n", versions=["v1", "v2"], cells=CELLS)
    assert new.state == RUNNING
    assert [(c.cell_id, c.ring, c.state, c.applied_versions) for c in new.cells] == [
        (1, 0, PENDING, ()),
        (4, 0, PENDING, ()),
        (3, 1, PENDING, ()),
    ]
    assert new.current_ring == 0


def test_a_rollout_without_cells_is_completed_at_once():
    new = rules.new_rollout(key="k", name="n", versions=["v1"], cells=[CELLS[2]])
    assert (new.state, new.cells, new.current_ring) == (COMPLETED, (), None)


@pytest.mark.parametrize(
    ("key", "versions", "message"),
    [
        ("k", [], "a rollout needs at least one version"),
        ("k", ["v1", "v2", "v1"], "version 'v1' appears twice"),
        ("k", ["v1", " "], "a version must not be blank"),
        ("k", ["v" * 256], "is longer than 255 characters"),
        ("  ", ["v1"], "key and name must not be blank"),
    ],
)
def test_invalid_rollouts(key, versions, message):
    found = refused(
        rules.INVALID_ROLLOUT, rules.new_rollout, key=key, name="n", versions=versions, cells=CELLS
    )
    assert message in found


def test_a_key_in_use_needs_the_same_versions_in_the_same_order():
    existing = rollout(cell(1, 0))
    rules.check_same_versions(existing, ["v1", "v2"])
    message = refused(rules.KEY_IN_USE, rules.check_same_versions, existing, ["v2", "v1"])
    assert message == "key 'group/project!1@abc' belongs to rollout 7 of other versions (v1, v2)"


# gates and waves ---------------------------------------------------------------------------


def test_only_the_lowest_ring_with_work_left_is_open():
    waves = rollout(cell(1, 0), cell(2, 0, APPLIED, VERSIONS), cell(3, 1), cell(4, 2))
    assert [rules.gate(waves, i).allowed for i in (1, 2, 3, 4)] == [True, False, False, False]
    assert rules.gate(waves, 2).reason == rules.CELL_APPLIED
    later = rules.gate(waves, 4)
    assert (later.reason, later.ring, later.current_ring, later.state) == (
        rules.NOT_YOUR_WAVE,
        2,
        0,
        RUNNING,
    )
    assert later.message == "cell 4 is in ring 2; ring 0 is not applied everywhere yet"
    assert later.pending_versions == VERSIONS


def test_the_next_ring_opens_once_every_cell_of_lower_rings_applied():
    waves = rollout(cell(1, 0, RUNNING, ["v1"]), cell(2, 0, APPLIED, VERSIONS), cell(3, 1))
    assert rules.gate(waves, 1).pending_versions == ("v2",)
    assert not rules.gate(waves, 3).allowed
    done = rules.report(waves, 1, version="v2", state=APPLIED)
    assert states(done)[1] == (APPLIED, VERSIONS)
    assert (done.current_ring, done.state) == (1, RUNNING)
    assert rules.gate(done, 3).allowed
    assert rules.gate(done, 3).reason == rules.OPEN


def test_rings_may_skip_numbers():
    waves = rollout(cell(1, 2, APPLIED, VERSIONS), cell(2, 5))
    assert waves.current_ring == 5
    assert rules.gate(waves, 2).allowed


@pytest.mark.parametrize(
    ("rollout_state", "cell_state", "reason"),
    [
        (PAUSED, PENDING, rules.ROLLOUT_PAUSED),
        (HALTED, PENDING, rules.ROLLOUT_HALTED),
        (RUNNING, FAILED, rules.CELL_FAILED),
        (PAUSED, FAILED, rules.CELL_FAILED),
    ],
)
def test_closed_gates_say_why(rollout_state, cell_state, reason):
    error = "v1: boom" if cell_state == FAILED else None
    found = rollout(cell(1, 0, cell_state, error=error), cell(2, 0), state=rollout_state)
    gate = rules.gate(found, 1)
    assert (gate.allowed, gate.reason, gate.state) == (False, reason, rollout_state)


def test_a_completed_rollout_has_no_current_ring():
    done = rollout(cell(1, 0, APPLIED, VERSIONS), state=COMPLETED)
    gate = rules.gate(done, 1)
    assert (gate.allowed, gate.reason, gate.current_ring, gate.pending_versions) == (
        False,
        rules.ROLLOUT_COMPLETED,
        None,
        (),
    )


def test_a_cell_outside_the_rollout():
    message = refused(rules.CELL_NOT_IN_ROLLOUT, rules.gate, rollout(cell(1, 0)), 9)
    assert message == "cell 9 is not part of rollout 7"


# reports -----------------------------------------------------------------------------------


def test_applied_versions_move_a_cell_to_running_then_applied_and_complete_the_rollout():
    one = rollout(cell(1, 0))
    started = rules.report(one, 1, version="v1", state=RUNNING)
    assert states(started)[1] == (RUNNING, ())
    half = rules.report(started, 1, version="v2", state=APPLIED)  # any order; kept in order
    assert states(half)[1] == (RUNNING, ("v2",))
    done = rules.report(half, 1, version="v1", state=APPLIED)
    assert states(done)[1] == (APPLIED, ("v1", "v2"))
    assert (done.state, done.current_ring) == (COMPLETED, None)


@pytest.mark.parametrize("rollout_state", [RUNNING, PAUSED, HALTED, COMPLETED])
def test_an_applied_version_reported_again_changes_nothing(rollout_state):
    cells = (cell(1, 0, RUNNING, ["v1"]), cell(2, 0, FAILED, error="v1: x"))
    if rollout_state == COMPLETED:
        cells = (cell(1, 0, APPLIED, VERSIONS),)
    found = rollout(*cells, state=rollout_state)
    assert rules.report(found, 1, version="v1", state=APPLIED) is found


FAILED_2 = cell(2, 0, FAILED, error="v1: x")


@pytest.mark.parametrize(
    ("waves", "cell_id", "state", "reason"),
    [
        (rollout(cell(1, 0), cell(2, 1)), 2, RUNNING, rules.NOT_YOUR_WAVE),
        (rollout(cell(1, 0), cell(2, 1)), 2, APPLIED, rules.NOT_YOUR_WAVE),
        (rollout(cell(1, 0), cell(2, 1)), 2, FAILED, rules.NOT_YOUR_WAVE),
        (rollout(cell(1, 0), state=PAUSED), 1, RUNNING, rules.ROLLOUT_PAUSED),
        (rollout(cell(1, 0), state=PAUSED), 1, APPLIED, rules.ROLLOUT_PAUSED),
        (rollout(cell(1, 0), FAILED_2, state=HALTED), 1, APPLIED, rules.ROLLOUT_HALTED),
        (rollout(cell(1, 0, RUNNING), state=HALTED), 1, RUNNING, rules.ROLLOUT_HALTED),
        (rollout(FAILED_2, state=HALTED), 2, APPLIED, rules.CELL_FAILED),
        (rollout(cell(1, 0, APPLIED, VERSIONS), state=COMPLETED), 1, RUNNING, "ROLLOUT_COMPLETED"),
    ],
)
def test_reports_need_an_open_gate(waves, cell_id, state, reason):
    error = "boom" if state == FAILED else None
    refused(reason, rules.report, waves, cell_id, version="v1", state=state, error=error)


@pytest.mark.parametrize("rollout_state", [PAUSED, HALTED])
def test_a_started_cell_may_finish_its_version_after_a_pause_or_halt(rollout_state):
    found = rollout(cell(1, 0, RUNNING, ["v1"]), FAILED_2, cell(3, 1), state=rollout_state)
    done = rules.report(found, 1, version="v2", state=APPLIED)
    assert states(done)[1] == (APPLIED, VERSIONS)
    assert done.state == rollout_state  # cell 2 still failed: no completion, ring 1 stays shut
    assert not rules.gate(done, 3).allowed


def test_a_failure_halts_the_rollout_and_keeps_the_version_with_the_error():
    waves = rollout(cell(1, 0, RUNNING, ["v1"]), cell(2, 0, RUNNING), cell(3, 1))
    halted = rules.report(waves, 1, version="v2", state=FAILED, error="lock timeout")
    assert halted.state == HALTED
    failed = halted.cells[0]
    assert (failed.state, failed.applied_versions, failed.error) == (
        FAILED,
        ("v1",),
        "v2: lock timeout",
    )
    assert rules.gate(halted, 3).reason == rules.ROLLOUT_HALTED
    assert (
        rules.gate(halted, 1).message == "cell 1 failed (v2: lock timeout); an admin must retry it"
    )
    again = rules.report(halted, 1, version="v2", state=FAILED, error="lock timeout")
    assert again is halted
    other = rules.report(halted, 2, version="v1", state=FAILED)
    assert other.cells[1].error == "v1: failed"
    assert rules.gate(other, 3).message == "rollout 7 is halted: cells 1, 2 failed"


def test_a_failure_while_paused_leaves_the_rollout_paused():
    paused = rollout(cell(1, 0, RUNNING), state=PAUSED)
    failed = rules.report(paused, 1, version="v1", state=FAILED, error="x")
    assert (failed.state, failed.cells[0].state) == (PAUSED, FAILED)


@pytest.mark.parametrize(
    ("version", "state", "error", "reason"),
    [
        ("v9", APPLIED, None, rules.UNKNOWN_VERSION),
        ("v1", "done", None, rules.INVALID_REPORT),
        ("v1", APPLIED, "oops", rules.INVALID_REPORT),
    ],
)
def test_invalid_reports(version, state, error, reason):
    refused(reason, rules.report, rollout(cell(1, 0)), 1, version=version, state=state, error=error)


def test_running_again_changes_nothing():
    started = rollout(cell(1, 0, RUNNING, ["v1"]))
    assert rules.report(started, 1, version="v2", state=RUNNING) is started


# pause, resume, retry ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "failed", "action", "after"),
    [
        (RUNNING, False, rules.pause, PAUSED),
        (HALTED, True, rules.pause, PAUSED),
        (PAUSED, False, rules.pause, PAUSED),
        (PAUSED, False, rules.resume, RUNNING),
        (PAUSED, True, rules.resume, HALTED),
        (RUNNING, False, rules.resume, RUNNING),
    ],
)
def test_pause_and_resume(before, failed, action, after):
    second = cell(2, 0, FAILED, error="v1: x") if failed else cell(2, 0)
    assert action(rollout(cell(1, 0), second, state=before)).state == after


@pytest.mark.parametrize(
    ("before", "action", "reason"),
    [
        (HALTED, rules.resume, rules.ROLLOUT_HALTED),
        (COMPLETED, rules.resume, rules.ROLLOUT_COMPLETED),
        (COMPLETED, rules.pause, rules.ROLLOUT_COMPLETED),
    ],
)
def test_invalid_transitions(before, action, reason):
    failed = cell(2, 0, FAILED, error="v1: x")
    message = refused(reason, action, rollout(cell(1, 0, APPLIED, VERSIONS), failed, state=before))
    if before == HALTED:
        assert message == "rollout 7 is halted: cell 2 failed; retry instead"


def test_retry_makes_the_cell_pending_and_runs_a_halted_rollout_once_no_cell_failed():
    halted = rollout(
        cell(1, 0, FAILED, ["v1"], "v2: x"), cell(2, 0, FAILED, error="v1: y"), state=HALTED
    )
    one = rules.retry(halted, 1)
    assert (one.state, one.cells[0]) == (HALTED, cell(1, 0, PENDING, ["v1"]))
    both = rules.retry(one, 2)
    assert both.state == RUNNING
    assert rules.gate(both, 1).pending_versions == ("v2",)
    paused = rules.retry(rollout(cell(1, 0, FAILED, error="v1: x"), state=PAUSED), 1)
    assert paused.state == PAUSED


def test_only_a_failed_cell_can_be_retried():
    message = refused(rules.CELL_NOT_FAILED, rules.retry, rollout(cell(1, 0, RUNNING)), 1)
    assert message == "cell 1 is running, not failed: there is nothing to retry"
    refused(rules.CELL_NOT_IN_ROLLOUT, rules.retry, rollout(cell(1, 0)), 2)
