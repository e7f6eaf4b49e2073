"""The pure rules of claims and classify."""

from __future__ import annotations

import pytest

from topology.cluster import Cell, SequenceRange
from topology.domain import claims
from topology.domain.claims import ClaimKey, Conflict
from topology.domain.classify import classify

KNOWN = {"USERNAMES", "ROUTES"}


def key(value: str, bucket: str = "USERNAMES") -> ClaimKey:
    return ClaimKey(bucket, value)


def test_a_valid_batch_has_no_problems():
    assert claims.batch_problems([key("a"), key("a", "ROUTES")], [key("b")], KNOWN) == []


@pytest.mark.parametrize(
    ("creates", "destroys", "detail"),
    [
        ([], [], "the batch is empty"),
        ([key("a"), key("a")], [], "the batch creates USERNAMES:a twice"),
        ([key("a")], [key("a")], "the batch creates and destroys USERNAMES:a twice"),
        ([key("a", "EMAILS")], [], "unknown bucket type 'EMAILS'"),
        ([], [key("")], "empty bucket value"),
    ],
)
def test_batch_problems(creates, destroys, detail):
    problems = claims.batch_problems(creates, destroys, KNOWN)
    assert [p.detail for p in problems] == [detail]
    assert {p.reason for p in problems} == {claims.INVALID_BATCH}


def test_the_most_permanent_conflict_decides_the_answer():
    error = claims.conflict_error(
        [
            Conflict(key("a"), claims.LEASED, "a is leased"),
            Conflict(key("b"), claims.ALREADY_TAKEN, "b is taken"),
            Conflict(key("c"), claims.ALREADY_TAKEN, "c is taken"),
        ]
    )
    assert error.reason == claims.ALREADY_TAKEN
    assert not error.retryable
    assert error.message == "already taken: b is taken; c is taken"
    only_leased = claims.conflict_error([Conflict(key("a"), claims.LEASED, "")])
    assert only_leased.retryable
    assert only_leased.message == "leased by another update; try again later: USERNAMES:a"


CELLS = [
    Cell(2, "two:443", "cell2:", (SequenceRange(10**12, 2 * 10**12),)),
    Cell(1, "one:443", "cell1:", (SequenceRange(1, 10**12 - 1),), state="offline"),
    Cell(3, "three:443", "cell3:", (SequenceRange(3 * 10**12, 4 * 10**12),)),
]


@pytest.mark.parametrize(
    ("kind", "value", "cell_id"),
    [
        ("FIRST_CELL", "", 2),  # cell 1 is offline
        ("SESSION_PREFIX", "cell3:abc", 3),
        ("SESSION_PREFIX", "cell1:abc", 1),  # an offline cell still owns its sessions
        ("SESSION_PREFIX", "cell9:abc", None),
        ("SESSION_PREFIX", "xcell2:", None),
        ("CELL_ID", "2", 2),
        ("CELL_ID", " 3 ", 3),
        ("CELL_ID", "four", None),
        ("ROUTE", "x", None),
    ],
)
def test_classify(kind, value, cell_id):
    found = classify(CELLS, kind, value)
    assert (found.id if found else None) == cell_id
