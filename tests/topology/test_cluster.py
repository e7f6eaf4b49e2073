"""The cluster file: parsing, validation, next_range, and tokens kept out of repr and errors."""

from __future__ import annotations

import pytest

from topology.cluster import (
    LEGACY_RANGE,
    MAX_ID,
    MIN_NEW_RANGE,
    Caller,
    Cell,
    Cluster,
    ClusterError,
    SequenceRange,
    next_range,
    parse_cluster,
    validate_callers,
    validate_cells,
)

SOURCE = "deploy/prod-cluster.toml"
CELL1_TOKEN = "cell1-secret-0123456789"
ADMIN_TOKEN = "admin-secret-0123456789"
ROUTER_TOKEN = "router-literal-0123456789"
ENV = {"CELL1_TOKEN": CELL1_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN}
TOKENS = (CELL1_TOKEN, ADMIN_TOKEN, ROUTER_TOKEN)

VALID = f"""\
# two cells: the legacy one and a newer one with an extension
[[cells]]
id = 1
address = "cell-1.example.com:443"
session_prefix = "cell1:"
  [[cells.sequence_ranges]]
  minval = 1
  maxval = 999999999999

[[cells]]
id = 2
address = "cell-2.example.com:443"
session_prefix = "cell2:"
ring = 1
state = "draining"
  [[cells.sequence_ranges]]
  minval = 1000000000000
  maxval = 1099999999999
  [[cells.sequence_ranges]]
  minval = 2000000000000
  maxval = 2099999999999

[[callers]]
role = "cell"
cell_id = 1
token_env = "CELL1_TOKEN"

[[callers]]
role = "router"
name = "edge"
token = "{ROUTER_TOKEN}"

[[callers]]
role = "admin"
token_env = "ADMIN_TOKEN"
"""


def _edit(old: str, new: str) -> str:
    """VALID with its only occurrence of `old` replaced."""
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


def _error(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ClusterError) as raised:
        parse_cluster(text, source=SOURCE, environ=ENV if environ is None else environ)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE}: "), message
    assert not any(token in message for token in TOKENS), message
    return message


# ------------------------------------------------------------------------- parse_cluster


def test_valid_file_gives_the_dataclasses() -> None:
    cluster = parse_cluster(VALID, source=SOURCE, environ=ENV)
    assert cluster == Cluster(
        cells=(
            Cell(1, "cell-1.example.com:443", "cell1:", (SequenceRange(1, 999_999_999_999),)),
            Cell(
                2,
                "cell-2.example.com:443",
                "cell2:",
                (
                    SequenceRange(1_000_000_000_000, 1_099_999_999_999),
                    SequenceRange(2_000_000_000_000, 2_099_999_999_999),
                ),
                ring=1,
                state="draining",
            ),
        ),
        callers=(
            Caller("cell", "cell-1", 1, CELL1_TOKEN),
            Caller("router", "edge", None, ROUTER_TOKEN),
            Caller("admin", "admin", None, ADMIN_TOKEN),
        ),
    )
    assert cluster.cells[0].ring == 0
    assert cluster.cells[0].state == "active"


def test_cell_lookup() -> None:
    cluster = parse_cluster(VALID, environ=ENV)
    cell = cluster.cell(2)
    assert cell is not None
    assert cell.session_prefix == "cell2:"
    assert cluster.cell(3) is None


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file_is_an_empty_cluster(text: str) -> None:
    assert parse_cluster(text, environ={}) == Cluster((), ())


def test_sequence_range() -> None:
    sequence_range = SequenceRange(10, 19)
    assert sequence_range.size == 10
    assert sequence_range.contains(10)
    assert sequence_range.contains(19)
    assert not sequence_range.contains(9)
    assert not sequence_range.contains(20)
    assert LEGACY_RANGE.size == 10**12 - 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cells
        pytest.param(
            _edit("\nid = 2\n", "\nid = 1\n"),
            ["cells[0] and cells[1] both have id 1"],
            id="duplicate-id",
        ),
        pytest.param(_edit("\nid = 2\n", "\nid = 0\n"), ["cells[1] (id 0)", "positive"], id="id-0"),
        pytest.param(
            _edit("\nid = 2\n", '\nid = "2"\n'),
            ["cells[1]: id must be an integer, not str"],
            id="id-not-int",
        ),
        pytest.param(
            _edit('address = "cell-2.example.com:443"\n', ""),
            ["cells[1]: missing key address"],
            id="missing-address",
        ),
        pytest.param(
            _edit('"cell-2.example.com:443"', '" "'),
            ["cells[1] (id 2): address must not be empty"],
            id="empty-address",
        ),
        pytest.param(
            _edit('session_prefix = "cell2:"', 'session_prefix = ""'),
            ["cells[1] (id 2): session_prefix must not be empty"],
            id="empty-prefix",
        ),
        pytest.param(
            _edit('session_prefix = "cell2:"', 'session_prefix = "cell1:"'),
            ["cells[0] (id 1) and cells[1] (id 2) both have session_prefix 'cell1:'"],
            id="duplicate-prefix",
        ),
        pytest.param(
            _edit('session_prefix = "cell2:"', 'session_prefix = "cell1:x"'),
            ["'cell1:' of cells[0] (id 1) is a prefix of 'cell1:x' of cells[1] (id 2)"],
            id="prefix-of-prefix",
        ),
        pytest.param(
            _edit('session_prefix = "cell2:"', 'session_prefix = "cell"'),
            ["'cell' of cells[1] (id 2) is a prefix of 'cell1:' of cells[0] (id 1)"],
            id="prefix-of-earlier-prefix",
        ),
        pytest.param(
            _edit('state = "draining"', 'state = "drained"'),
            ["cells[1] (id 2): state must be one of active, draining, offline, not 'drained'"],
            id="bad-state",
        ),
        pytest.param(
            _edit("ring = 1", "ring = -1"),
            ["cells[1] (id 2): ring must be an integer >= 0, not -1"],
            id="negative-ring",
        ),
        pytest.param(
            _edit("ring = 1", "ring = 1.5"),
            ["cells[1]: ring must be an integer, not float"],
            id="float-ring",
        ),
        pytest.param(
            _edit("ring = 1", "ring = true"),
            ["cells[1]: ring must be an integer, not bool"],
            id="bool-ring",
        ),
        pytest.param(
            _edit("ring = 1", "rign = 1"),
            ["cells[1]: unknown key(s) rign; known: address, id,"],
            id="unknown-key-in-cell",
        ),
        # sequence ranges
        pytest.param(
            _edit("minval = 1000000000000", "minval = 999999999999"),
            ["sequence range 1..999999999999 of cells[0] (id 1) overlaps", "of cells[1] (id 2)"],
            id="overlap-across-cells",
        ),
        pytest.param(
            _edit("minval = 2000000000000", "minval = 1099999999999"),
            [
                "cells[1] (id 2): sequence_ranges[0] 1000000000000..1099999999999 "
                "and sequence_ranges[1] 1099999999999..2099999999999 overlap"
            ],
            id="overlap-within-a-cell",
        ),
        pytest.param(
            _edit("maxval = 2099999999999", f"maxval = {MAX_ID + 1}"),
            [f"cells[1] (id 2): sequence_ranges[1]: maxval {MAX_ID + 1}", "MAX_ID"],
            id="beyond-57-bits",
        ),
        pytest.param(
            _edit("maxval = 2099999999999", "maxval = 1999999999999"),
            ["sequence_ranges[1]: minval 2000000000000 is greater than maxval 1999999999999"],
            id="minval-above-maxval",
        ),
        pytest.param(
            _edit("minval = 1\n", "minval = 0\n"),
            ["cells[0] (id 1): sequence_ranges[0]: minval 0 must be at least 1"],
            id="minval-0",
        ),
        pytest.param(
            _edit("maxval = 999999999999", "maxval = 999999999999\n  max = 5"),
            ["cells[0].sequence_ranges[0]: unknown key(s) max; known: maxval, minval"],
            id="unknown-key-in-range",
        ),
        pytest.param(
            _edit("  minval = 1\n", ""),
            ["cells[0].sequence_ranges[0]: missing key minval"],
            id="missing-minval",
        ),
        pytest.param(
            _edit("  [[cells.sequence_ranges]]\n  minval = 1\n  maxval = 999999999999\n", ""),
            ["cells[0] (id 1): needs at least one [[cells.sequence_ranges]]"],
            id="no-ranges",
        ),
        # callers
        pytest.param(
            _edit("cell_id = 1\n", ""),
            ["callers[0] (cell): role cell needs cell_id"],
            id="cell-without-cell-id",
        ),
        pytest.param(
            _edit("cell_id = 1\n", "cell_id = 7\n"),
            ["callers[0] (cell-7): cell_id 7 is not a cell of this file"],
            id="unknown-cell-id",
        ),
        pytest.param(
            _edit('role = "router"\n', 'role = "router"\ncell_id = 1\n'),
            ["callers[1] (edge): cell_id is only for role cell, not router"],
            id="router-with-cell-id",
        ),
        pytest.param(
            _edit('role = "admin"', 'role = "root"'),
            ["callers[2] (root): role must be one of cell, router, admin, not 'root'"],
            id="bad-role",
        ),
        pytest.param(
            _edit('name = "edge"', 'nmae = "edge"'),
            ["callers[1]: unknown key(s) nmae; known: cell_id, name, role, token, token_env"],
            id="unknown-key-in-caller",
        ),
        pytest.param(
            _edit('name = "edge"', 'name = ""'),
            ["callers[1]: name must not be empty"],
            id="empty-name",
        ),
        pytest.param(
            _edit(
                'token_env = "ADMIN_TOKEN"', f'token_env = "ADMIN_TOKEN"\ntoken = "{ADMIN_TOKEN}"'
            ),
            ["callers[2]: set exactly one of token and token_env, not both"],
            id="token-and-token-env",
        ),
        pytest.param(
            _edit('token_env = "ADMIN_TOKEN"\n', ""),
            ["callers[2]: set exactly one of token and token_env, neither is set"],
            id="neither-token-nor-token-env",
        ),
        pytest.param(
            _edit(f'token = "{ROUTER_TOKEN}"', "token = 12345678901234567890"),
            ["callers[1]: token must be a string, not int"],
            id="token-not-a-string",
        ),
        pytest.param(
            _edit(f'token = "{ROUTER_TOKEN}"', 'token = "tiny-tok"'),
            ["callers[1] (edge): the token must be at least 16 characters"],
            id="short-token",
        ),
        pytest.param(
            _edit(f'token = "{ROUTER_TOKEN}"', 'token = "with space 0123456789"'),
            ["callers[1] (edge): the token must be printable ASCII without spaces"],
            id="token-with-space",
        ),
        pytest.param(
            _edit(f'token = "{ROUTER_TOKEN}"', f'token = "{CELL1_TOKEN}"'),
            ["callers[0] (cell-1) and callers[1] (edge) have the same token"],
            id="shared-token",
        ),
        # the file as a whole
        pytest.param(
            _edit("[[cells]]\nid = 1\n", "verison = 1\n[[cells]]\nid = 1\n"),
            [f"{SOURCE}: unknown key(s) verison; known: callers, cells"],
            id="unknown-top-level-key",
        ),
        pytest.param(
            "cells = 3\n",
            [f"{SOURCE}: cells must be an array of tables ([[cells]])"],
            id="cells-not-tables",
        ),
        pytest.param(
            _edit('"cell-1.example.com:443"', '"cell-1.example.com:443'),
            [f"{SOURCE}: not valid TOML:", "line 4"],
            id="invalid-toml",
        ),
    ],
)
def test_invalid_file(text: str, expected: list[str]) -> None:
    message = _error(text)
    for fragment in expected:
        assert fragment in message, message


def test_unknown_key_error_names_the_sequence_range_of_the_right_cell() -> None:
    text = _edit("maxval = 2099999999999", "maxval = 2099999999999\n  step = 1")
    assert "cells[1].sequence_ranges[1]: unknown key(s) step" in _error(text)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param(
            {"CELL1_TOKEN": CELL1_TOKEN}, "ADMIN_TOKEN (token_env) is not set", id="unset"
        ),
        pytest.param({**ENV, "ADMIN_TOKEN": ""}, "ADMIN_TOKEN (token_env) is empty", id="empty"),
    ],
)
def test_token_env_must_be_set(environ: dict[str, str], expected: str) -> None:
    message = _error(VALID, environ)
    assert f"{SOURCE}: callers[2]: environment variable {expected}" in message


def test_short_token_from_the_environment_is_not_shown() -> None:
    message = _error(VALID, {**ENV, "ADMIN_TOKEN": "tiny-admin"})
    assert "callers[2] (admin): the token must be at least 16 characters" in message
    assert "tiny-admin" not in message


def test_default_source_names_the_file() -> None:
    with pytest.raises(ClusterError, match=r"^cluster\.toml: not valid TOML"):
        parse_cluster("[[cells]\n", environ={})


# ------------------------------------------------------------------------- validate_*


def _cell(id: int, prefix: str, *ranges: tuple[int, int]) -> Cell:
    return Cell(id, f"cell-{id}:443", prefix, tuple(SequenceRange(*r) for r in ranges))


def test_validate_cells_accepts_touching_ranges() -> None:
    validate_cells([_cell(1, "a", (1, 10), (21, 30)), _cell(2, "b", (11, 20))])


def test_validate_cells_finds_an_overlap_hidden_behind_a_neighbour() -> None:
    cells = [_cell(1, "a", (1, 100)), _cell(2, "b", (5, 6)), _cell(3, "c", (50, 60))]
    with pytest.raises(ClusterError, match=r"^cluster\.toml: sequence range 1\.\.100 of cells"):
        validate_cells(cells)


def test_validate_cells_rejects_a_bool_ring() -> None:
    cell = Cell(1, "cell-1:443", "a", (SequenceRange(1, 10),), ring=True)
    with pytest.raises(ClusterError, match="ring must be an integer >= 0"):
        validate_cells([cell], source="x.toml")


def test_validate_callers_checks_the_cell_exists() -> None:
    caller = Caller("cell", "cell-2", 2, "t" * 16)
    validate_callers([caller], [_cell(2, "b", (1, 10))])
    with pytest.raises(ClusterError, match=r"callers\[0\] \(cell-2\): cell_id 2 is not a cell"):
        validate_callers([caller], [_cell(1, "a", (1, 10))])


# ------------------------------------------------------------------------- next_range


def test_next_range_on_no_cells_is_the_legacy_range() -> None:
    assert next_range([]) == LEGACY_RANGE == SequenceRange(1, 10**12 - 1)


def test_next_range_on_no_cells_respects_a_larger_size() -> None:
    assert next_range([], size=2 * 10**12) == SequenceRange(1, 2 * 10**12)


def test_next_range_after_the_legacy_range() -> None:
    legacy = Cell(1, "cell-1:443", "cell1:", (LEGACY_RANGE,))
    assert next_range([legacy]) == SequenceRange(10**12, 10**12 + 10**11 - 1)
    assert next_range([legacy], size=10).size == MIN_NEW_RANGE  # raised to the minimum
    assert next_range([legacy], size=3 * 10**11) == SequenceRange(10**12, 10**12 + 3 * 10**11 - 1)


def test_next_range_starts_after_the_highest_maxval_of_any_cell() -> None:
    cells = [_cell(1, "a", (5 * 10**12, 6 * 10**12), (1, 10)), _cell(2, "b", (10**12, 2 * 10**12))]
    assert next_range(cells).minval == 6 * 10**12 + 1


def test_next_range_may_end_exactly_at_max_id() -> None:
    cells = [_cell(1, "a", (1, MAX_ID - MIN_NEW_RANGE))]
    assert next_range(cells) == SequenceRange(MAX_ID - MIN_NEW_RANGE + 1, MAX_ID)


@pytest.mark.parametrize(
    ("maxval", "size"),
    [
        pytest.param(MAX_ID, MIN_NEW_RANGE, id="full"),
        pytest.param(MAX_ID - MIN_NEW_RANGE + 1, MIN_NEW_RANGE, id="one-short"),
        pytest.param(10**12 - 1, MAX_ID, id="size-too-large"),
    ],
)
def test_next_range_fails_when_the_space_is_exhausted(maxval: int, size: int) -> None:
    cells = [_cell(1, "a", (1, maxval))]
    with pytest.raises(ClusterError, match=r"^sequence space exhausted"):
        next_range(cells, size=size)


# ------------------------------------------------------------------------- tokens


def test_tokens_never_in_repr_or_str() -> None:
    cluster = parse_cluster(VALID, environ=ENV)
    caller = cluster.callers[0]
    assert caller.token == CELL1_TOKEN
    for text in (repr(caller), str(caller), f"{caller}", repr(cluster), str(cluster)):
        assert not any(token in text for token in TOKENS), text
    assert repr(caller) == "Caller(role='cell', name='cell-1', cell_id=1)"
