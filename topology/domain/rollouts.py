"""The rules of a rollout of merged schema migrations across the cells, ring by ring.

A rollout applies its versions, in order, on every cell that was not offline when it was
created. Cells go in waves by ring: the current wave is the lowest ring that still has a cell
which has not applied every version, and only that wave's cells may start. A failure halts
the rollout, so later waves stay closed until an admin retries the failed cell. Reports are
idempotent, so a deploy pipeline may send one again after a timeout.

Pure: functions take a `Rollout` and return a new one, or raise RolloutError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from topology.cluster import Cell

# a rollout's states
RUNNING, PAUSED, HALTED, COMPLETED = "running", "paused", "halted", "completed"
# a cell's states: PENDING, RUNNING (started, some versions may be applied), APPLIED, FAILED
PENDING, APPLIED, FAILED = "pending", "applied", "failed"
REPORTS = (RUNNING, APPLIED, FAILED)  # what a cell may report for a version
MAX_ERROR_LENGTH = 2000
MAX_VERSION_LENGTH = 255

# why a request is refused (the API's ErrorInfo reasons)
INVALID_ROLLOUT = "INVALID_ROLLOUT"  # a create with bad versions, key or name
KEY_IN_USE = "ROLLOUT_KEY_IN_USE"  # the key names a rollout of other versions
UNKNOWN_VERSION = "UNKNOWN_VERSION"  # a report of a version the rollout does not have
INVALID_REPORT = "INVALID_REPORT"  # an error text with a state other than failed
CELL_NOT_IN_ROLLOUT = "CELL_NOT_IN_ROLLOUT"
CELL_NOT_FAILED = "CELL_NOT_FAILED"  # a retry of a cell that has not failed
# why a cell's gate is closed (also the reason a running/applied report is refused)
OPEN = "OPEN"
NOT_YOUR_WAVE = "NOT_YOUR_WAVE"
ROLLOUT_PAUSED = "ROLLOUT_PAUSED"
ROLLOUT_HALTED = "ROLLOUT_HALTED"
ROLLOUT_COMPLETED = "ROLLOUT_COMPLETED"
CELL_FAILED = "CELL_FAILED"
CELL_APPLIED = "CELL_APPLIED"


class RolloutError(Exception):
    """A request the rules refuse; `reason` is one of the constants above."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class CellProgress:
    """One cell's part in a rollout; `ring` is the cell's ring when the rollout was created."""

    cell_id: int
    ring: int
    state: str = PENDING
    applied_versions: tuple[str, ...] = ()  # in the rollout's order
    error: str | None = None  # set when failed: "<version>: <the pipeline's message>"
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rollout:
    id: int  # 0 until stored
    key: str
    name: str
    versions: tuple[str, ...]
    state: str
    cells: tuple[CellProgress, ...]  # by ring, then cell id
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def current_ring(self) -> int | None:
        """The current wave: the lowest ring with a cell not applied; None when none is left."""
        return min((c.ring for c in self.cells if c.state != APPLIED), default=None)

    def cell(self, cell_id: int) -> CellProgress:
        found = next((c for c in self.cells if c.cell_id == cell_id), None)
        if found is None:
            raise RolloutError(
                CELL_NOT_IN_ROLLOUT, f"cell {cell_id} is not part of rollout {self.id}"
            )
        return found


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether a cell may apply now, and what it has left to apply."""

    allowed: bool
    reason: str  # OPEN, or why the gate is closed
    message: str
    pending_versions: tuple[str, ...]
    ring: int
    current_ring: int | None
    state: str  # the rollout's


def new_rollout(*, key: str, name: str, versions: Sequence[str], cells: Iterable[Cell]) -> Rollout:
    """The rollout to create: every cell that is not offline, with its ring as it is now. With
    no such cell there is nothing to do, and the rollout is completed from the start."""
    problem = _problem(key, name, versions)
    if problem:
        raise RolloutError(INVALID_ROLLOUT, problem)
    members = sorted(
        (CellProgress(c.id, c.ring) for c in cells if c.state != "offline"),
        key=lambda c: (c.ring, c.cell_id),
    )
    return Rollout(0, key, name, tuple(versions), RUNNING if members else COMPLETED, tuple(members))


def _problem(key: str, name: str, versions: Sequence[str]) -> str | None:
    if not key.strip() or not name.strip():
        return "key and name must not be blank"
    if not versions:
        return "a rollout needs at least one version"
    seen: set[str] = set()
    for version in versions:
        if not version.strip():
            return "a version must not be blank"
        if len(version) > MAX_VERSION_LENGTH:
            return f"version {version[:40]!r}… is longer than {MAX_VERSION_LENGTH} characters"
        if version in seen:
            return f"version {version!r} appears twice"
        seen.add(version)
    return None


def check_same_versions(existing: Rollout, versions: Sequence[str]) -> None:
    """A create with a key in use returns the existing rollout, if it asks for the same
    versions in the same order."""
    if existing.versions != tuple(versions):
        raise RolloutError(
            KEY_IN_USE,
            f"key {existing.key!r} belongs to rollout {existing.id} of other versions "
            f"({', '.join(existing.versions)})",
        )


def gate(rollout: Rollout, cell_id: int) -> Gate:
    """Whether `cell_id` may apply now: the rollout is running, the cell is in the current wave
    and has neither applied everything nor failed."""
    cell = rollout.cell(cell_id)
    closed = _closed(rollout, cell)
    reason, message = closed or (OPEN, f"cell {cell_id} may apply rollout {rollout.id}")
    return Gate(
        allowed=closed is None,
        reason=reason,
        message=message,
        pending_versions=tuple(v for v in rollout.versions if v not in cell.applied_versions),
        ring=cell.ring,
        current_ring=rollout.current_ring,
        state=rollout.state,
    )


def _closed(rollout: Rollout, cell: CellProgress) -> tuple[str, str] | None:
    """(reason, message) when the cell's gate is closed, the most permanent reason first."""
    if rollout.state == COMPLETED:
        return ROLLOUT_COMPLETED, f"rollout {rollout.id} is completed"
    if cell.state == APPLIED:
        return (
            CELL_APPLIED,
            f"cell {cell.cell_id} has applied every version of rollout {rollout.id}",
        )
    if cell.state == FAILED:
        return CELL_FAILED, f"cell {cell.cell_id} failed ({cell.error}); an admin must retry it"
    if rollout.state == PAUSED:
        return ROLLOUT_PAUSED, f"rollout {rollout.id} is paused"
    if rollout.state == HALTED:
        return ROLLOUT_HALTED, f"rollout {rollout.id} is halted: {_failed_cells(rollout)} failed"
    if cell.ring != rollout.current_ring:
        return (
            NOT_YOUR_WAVE,
            f"cell {cell.cell_id} is in ring {cell.ring}; ring {rollout.current_ring} is not "
            "applied everywhere yet",
        )
    return None


def report(
    rollout: Rollout, cell_id: int, *, version: str, state: str, error: str | None = None
) -> Rollout:
    """The rollout after `cell_id` reports `state` (running, applied, failed) for `version`.

    `running` and a first `applied` need the cell's gate open, except that a cell which has
    started (is running) may always report how its version ended, applied or failed, even
    when the rollout was paused or halted meanwhile. `applied` again for an applied version,
    and `failed` again from a failed cell, change nothing. Returns `rollout` itself then.
    """
    cell = rollout.cell(cell_id)
    if version not in rollout.versions:
        raise RolloutError(UNKNOWN_VERSION, f"rollout {rollout.id} has no version {version!r}")
    if state not in REPORTS:
        raise RolloutError(INVALID_REPORT, f"state must be one of {', '.join(REPORTS)}")
    if error is not None and state != FAILED:
        raise RolloutError(INVALID_REPORT, f"only a failed report carries an error, not {state}")
    if (state == APPLIED and version in cell.applied_versions) or cell.state == state == FAILED:
        return rollout
    if state == RUNNING or cell.state != RUNNING:
        closed = _closed(rollout, cell)
        if closed:
            raise RolloutError(*closed)
    if state == RUNNING:
        return rollout if cell.state == RUNNING else _with(rollout, replace(cell, state=RUNNING))
    if state == FAILED:
        failed = replace(cell, state=FAILED, error=f"{version}: {error or 'failed'}")
        halted = HALTED if rollout.state == RUNNING else rollout.state  # paused stays paused
        return _with(replace(rollout, state=halted), failed)
    applied = tuple(v for v in rollout.versions if v in cell.applied_versions or v == version)
    done = APPLIED if len(applied) == len(rollout.versions) else RUNNING
    updated = _with(rollout, replace(cell, state=done, applied_versions=applied))
    if updated.current_ring is None:
        return replace(updated, state=COMPLETED)
    return updated


def pause(rollout: Rollout) -> Rollout:
    """Stop new work: no gate opens until `resume`. A running or halted rollout can be paused;
    pausing a paused one changes nothing."""
    if rollout.state == COMPLETED:
        raise RolloutError(
            ROLLOUT_COMPLETED, f"rollout {rollout.id} is completed; nothing to pause"
        )
    return rollout if rollout.state == PAUSED else replace(rollout, state=PAUSED)


def resume(rollout: Rollout) -> Rollout:
    """A paused rollout runs again, or is halted when a cell has failed meanwhile. Resuming a
    running one changes nothing; a halted one needs `retry` instead."""
    if rollout.state == PAUSED:
        return replace(rollout, state=HALTED if _failed_cells(rollout) else RUNNING)
    if rollout.state == HALTED:
        raise RolloutError(
            ROLLOUT_HALTED,
            f"rollout {rollout.id} is halted: {_failed_cells(rollout)} failed; retry instead",
        )
    if rollout.state == COMPLETED:
        raise RolloutError(ROLLOUT_COMPLETED, f"rollout {rollout.id} is completed")
    return rollout


def retry(rollout: Rollout, cell_id: int) -> Rollout:
    """A failed cell is pending again (its applied versions stay); a halted rollout whose last
    failed cell this was runs again. A paused rollout stays paused."""
    cell = rollout.cell(cell_id)
    if cell.state != FAILED:
        raise RolloutError(
            CELL_NOT_FAILED,
            f"cell {cell_id} is {cell.state}, not failed: there is nothing to retry",
        )
    updated = _with(rollout, replace(cell, state=PENDING, error=None))
    if updated.state == HALTED and not _failed_cells(updated):
        return replace(updated, state=RUNNING)
    return updated


def _with(rollout: Rollout, cell: CellProgress) -> Rollout:
    cells = tuple(cell if c.cell_id == cell.cell_id else c for c in rollout.cells)
    return replace(rollout, cells=cells)


def _failed_cells(rollout: Rollout) -> str:
    """ "cell 4" or "cells 4, 5"; empty when no cell has failed."""
    failed = [str(c.cell_id) for c in rollout.cells if c.state == FAILED]
    if not failed:
        return ""
    return f"cell{'s' if len(failed) > 1 else ''} {', '.join(failed)}"
