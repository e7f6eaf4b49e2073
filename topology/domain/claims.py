"""The rules of GitLab's lease-first, commit-later claim protocol, apart from storage.

A BeginUpdate batch creates and destroys claims for one cell, all or nothing. A create
conflicts on (bucket type, value) whatever the existing claim's lease state; a destroy applies
only to an unleased claim of the same cell; one batch may not touch the same claim twice.
"""

from __future__ import annotations

from dataclasses import dataclass

ALREADY_TAKEN = "ALREADY_TAKEN"  # permanent: the value belongs to someone
LEASED = "LEASED"  # temporary: another update holds the claim; try again later
INVALID_BATCH = "INVALID_BATCH"  # the request itself is wrong
NOT_FOUND = "NOT_FOUND"  # a destroy of a claim that does not exist
NOT_OWNER = "NOT_OWNER"  # a destroy of another cell's claim
CELL_NOT_FOUND = "CELL_NOT_FOUND"  # the batch names a cell the cluster does not have
CELL_UNAVAILABLE = "CELL_UNAVAILABLE"  # offline: no writes; draining: no new claims
MAX_VALUE_LENGTH = 1024  # as GitLab's STRING(1024) bucket_value


@dataclass(frozen=True, slots=True)
class ClaimKey:
    bucket_type: str
    value: str

    def __str__(self) -> str:
        return f"{self.bucket_type}:{self.value}"


@dataclass(frozen=True, slots=True)
class Conflict:
    key: ClaimKey
    reason: str  # ALREADY_TAKEN, LEASED, NOT_FOUND, NOT_OWNER, INVALID_BATCH
    detail: str = ""


class ClaimConflict(Exception):
    """BeginUpdate could not apply the batch; nothing was changed."""

    def __init__(self, reason: str, conflicts: list[Conflict], message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.conflicts = conflicts
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.reason == LEASED


def batch_problems(
    creates: list[ClaimKey], destroys: list[ClaimKey], known_types: set[str]
) -> list[Conflict]:
    """What makes a batch invalid before any storage is touched."""
    problems: list[Conflict] = []
    if not creates and not destroys:
        problems.append(Conflict(ClaimKey("", ""), INVALID_BATCH, "the batch is empty"))
    seen: set[ClaimKey] = set()
    for destroying, keys in ((False, creates), (True, destroys)):
        for key in keys:
            if key.bucket_type not in known_types:
                problems.append(
                    Conflict(key, INVALID_BATCH, f"unknown bucket type {key.bucket_type!r}")
                )
            elif not key.value:
                problems.append(Conflict(key, INVALID_BATCH, "empty bucket value"))
            elif len(key.value) > MAX_VALUE_LENGTH:
                problems.append(
                    Conflict(key, INVALID_BATCH, f"bucket value longer than {MAX_VALUE_LENGTH}")
                )
            elif key in seen:
                what = "creates and destroys" if destroying else "creates"
                problems.append(Conflict(key, INVALID_BATCH, f"the batch {what} {key} twice"))
            seen.add(key)
    return problems


def cell_problem(cell_id: int, state: str | None, creating: bool) -> Conflict | None:
    """Whether the cell may write claims: an offline cell may not; a draining cell (being
    emptied) may destroy its claims but not create new ones."""
    where = ClaimKey("", "")
    if state is None:
        return Conflict(where, CELL_NOT_FOUND, f"no cell {cell_id}")
    if state == "offline" or (state == "draining" and creating):
        return Conflict(where, CELL_UNAVAILABLE, f"cell {cell_id} is {state}")
    return None


def conflict_error(conflicts: list[Conflict]) -> ClaimConflict:
    """One error for a failed batch; the most permanent reason wins (taken, then leased)."""
    order = [
        CELL_NOT_FOUND,
        CELL_UNAVAILABLE,
        INVALID_BATCH,
        ALREADY_TAKEN,
        NOT_OWNER,
        NOT_FOUND,
        LEASED,
    ]
    reason = min((c.reason for c in conflicts), key=order.index)
    keys = ", ".join(str(c.key) for c in conflicts if c.reason == reason)
    messages = {
        CELL_NOT_FOUND: "unknown cell",
        CELL_UNAVAILABLE: "the cell may not write these claims",
        INVALID_BATCH: "invalid batch",
        ALREADY_TAKEN: "already taken",
        NOT_OWNER: "claimed by another cell",
        NOT_FOUND: "no such claim",
        LEASED: "leased by another update; try again later",
    }
    details = "; ".join(c.detail for c in conflicts if c.reason == reason and c.detail)
    return ClaimConflict(reason, conflicts, f"{messages[reason]}: {details or keys}")
