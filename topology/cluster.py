"""The cluster file of the Topology Service: cells, their sequence ranges, and the callers.

Shaped like GitLab's Topology Service `config.toml` (`[[cells]]` with `id`, `address`,
`session_prefix` and `[[cells.sequence_ranges]]` of `minval`/`maxval`), with our extensions: a
cell's rollout `ring` and `state`, and `[[callers]]` with their role and token.

Pure: the caller reads the file and passes its text, its name and the environment. Errors name
the file and the place, as a path such as `cells[1].sequence_ranges[0]` (indexes count from 0,
in file order), and never show a token.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

CLUSTER_FILE = "cluster.toml"

# 64-bit IDs: 1 sign bit, 6 reserved bits, 57 sequence bits.
MAX_ID = 2**57 - 1
MIN_NEW_RANGE = 10**11  # a new cell, or an extension, gets at least 100 billion IDs

STATES = ("active", "draining", "offline")
ROLES = ("cell", "router", "admin")
MIN_TOKEN_LENGTH = 16

_TOP_KEYS = frozenset({"cells", "callers"})
_CELL_KEYS = frozenset({"id", "address", "session_prefix", "ring", "state", "sequence_ranges"})
_RANGE_KEYS = frozenset({"minval", "maxval"})
_CALLER_KEYS = frozenset({"role", "cell_id", "token", "token_env", "name"})
_REQUIRED: Any = object()


class ClusterError(ValueError):
    """The cluster file is not valid; the message says what and where."""


@dataclass(frozen=True, slots=True)
class SequenceRange:
    """IDs `minval..maxval` (both included) that a cell's sequences may hand out."""

    minval: int
    maxval: int

    def contains(self, value: int) -> bool:
        """Whether `value` lies in the range."""
        return self.minval <= value <= self.maxval

    @property
    def size(self) -> int:
        """How many IDs the range holds."""
        return self.maxval - self.minval + 1


LEGACY_RANGE = SequenceRange(1, 10**12 - 1)  # the legacy cell's "first trillion"


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell, as `[[cells]]` describes it (GitLab's `CellInfo` plus `ring` and `state`)."""

    id: int
    address: str
    session_prefix: str
    sequence_ranges: tuple[SequenceRange, ...]
    ring: int = 0  # rollout order: ring 0 first
    state: str = "active"  # one of STATES


@dataclass(frozen=True, slots=True)
class Caller:
    """Who may call the service, with which token. `repr()` and `str()` leave the token out."""

    role: str  # one of ROLES
    name: str  # a label for logs
    cell_id: int | None  # the caller's cell, for role "cell" only
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Cluster:
    cells: tuple[Cell, ...]
    callers: tuple[Caller, ...]

    def cell(self, id: int) -> Cell | None:
        """The cell with this id, or None."""
        return next((cell for cell in self.cells if cell.id == id), None)


def parse_cluster(
    text: str, *, source: str = CLUSTER_FILE, environ: Mapping[str, str] = os.environ
) -> Cluster:
    """Read the cluster file's text; `token_env` names a variable of `environ`.

    Unknown keys are errors, so that typos do not pass silently.

    >>> parse_cluster("").cells
    ()
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ClusterError(f"{source}: not valid TOML: {error}") from error
    _no_unknown_keys(data, _TOP_KEYS, source)
    cells = tuple(
        _parse_cell(table, f"{source}: cells[{i}]")
        for i, table in enumerate(_tables(data, "cells", source))
    )
    validate_cells(cells, source=source)
    callers = tuple(
        _parse_caller(table, f"{source}: callers[{i}]", environ)
        for i, table in enumerate(_tables(data, "callers", source))
    )
    validate_callers(callers, cells, source=source)
    return Cluster(cells, callers)


def _parse_cell(table: dict[str, Any], where: str) -> Cell:
    _no_unknown_keys(table, _CELL_KEYS, where)
    ranges = tuple(
        _parse_range(item, f"{where}.sequence_ranges[{j}]")
        for j, item in enumerate(_tables(table, "sequence_ranges", where))
    )
    return Cell(
        id=_value(table, "id", int, where),
        address=_value(table, "address", str, where),
        session_prefix=_value(table, "session_prefix", str, where),
        sequence_ranges=ranges,
        ring=_value(table, "ring", int, where, default=0),
        state=_value(table, "state", str, where, default="active"),
    )


def _parse_range(table: dict[str, Any], where: str) -> SequenceRange:
    _no_unknown_keys(table, _RANGE_KEYS, where)
    return SequenceRange(_value(table, "minval", int, where), _value(table, "maxval", int, where))


def _parse_caller(table: dict[str, Any], where: str, environ: Mapping[str, str]) -> Caller:
    _no_unknown_keys(table, _CALLER_KEYS, where)
    role = _value(table, "role", str, where)
    cell_id = _value(table, "cell_id", int, where, default=None)
    name = _value(table, "name", str, where, default=None)
    if name is None:
        name = f"cell-{cell_id}" if role == "cell" and cell_id is not None else role
    elif not name.strip():
        raise ClusterError(f"{where}: name must not be empty (leave it out for a default)")
    return Caller(role, name, cell_id, _token(table, where, environ))


def _token(table: dict[str, Any], where: str, environ: Mapping[str, str]) -> str:
    """The literal `token`, or the value of the variable `token_env` names; never both."""
    if ("token" in table) == ("token_env" in table):
        both = "not both" if "token" in table else "neither is set"
        raise ClusterError(f"{where}: set exactly one of token and token_env, {both}")
    if "token" in table:
        return _value(table, "token", str, where)
    variable = _value(table, "token_env", str, where)
    if not variable:
        raise ClusterError(f"{where}: token_env must name an environment variable")
    token = environ.get(variable)
    if token is None:
        raise ClusterError(f"{where}: environment variable {variable} (token_env) is not set")
    if not token:
        raise ClusterError(f"{where}: environment variable {variable} (token_env) is empty")
    return token


def _tables(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    """An array of tables (`[[key]]`); absent means none."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ClusterError(f"{where}: {key} must be an array of tables ([[{key}]])")
    return value


def _value(
    table: dict[str, Any], key: str, kind: type, where: str, *, default: Any = _REQUIRED
) -> Any:
    """`table[key]`, which must be a `kind` (int or str); shows the type, never the value."""
    if key not in table:
        if default is _REQUIRED:
            raise ClusterError(f"{where}: missing key {key}")
        return default
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):  # TOML booleans are not ints
        expected = "an integer" if kind is int else "a string"
        raise ClusterError(f"{where}: {key} must be {expected}, not {type(value).__name__}")
    return value


def _no_unknown_keys(data: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ClusterError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def validate_cells(cells: Sequence[Cell], *, source: str = CLUSTER_FILE) -> None:
    """Check each cell, then that ids, session prefixes and sequence ranges do not clash.

    Session prefixes must not be prefixes of one another, since the router matches by prefix;
    sequence ranges must not overlap, within a cell or across cells.
    """
    for i, cell in enumerate(cells):
        _check_cell(cell, f"{source}: {_cell_name(i, cell)}")
    _check_unique_ids(cells, source)
    _check_prefixes(cells, source)
    _check_overlaps(cells, source)


def _cell_name(index: int, cell: Cell) -> str:
    return f"cells[{index}] (id {cell.id})"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_cell(cell: Cell, where: str) -> None:
    if not _is_int(cell.id) or cell.id < 1:
        raise ClusterError(f"{where}: id must be a positive integer")
    if not isinstance(cell.address, str) or not cell.address.strip():
        raise ClusterError(f"{where}: address must not be empty")
    if not isinstance(cell.session_prefix, str) or not cell.session_prefix:
        raise ClusterError(f"{where}: session_prefix must not be empty")
    if cell.state not in STATES:
        raise ClusterError(f"{where}: state must be one of {', '.join(STATES)}, not {cell.state!r}")
    if not _is_int(cell.ring) or cell.ring < 0:
        raise ClusterError(f"{where}: ring must be an integer >= 0, not {cell.ring!r}")
    if not cell.sequence_ranges:
        raise ClusterError(
            f"{where}: needs at least one [[cells.sequence_ranges]], "
            "or its IDs would collide with other cells'"
        )
    for j, sequence_range in enumerate(cell.sequence_ranges):
        _check_range(sequence_range, f"{where}: sequence_ranges[{j}]")


def _check_range(sequence_range: SequenceRange, where: str) -> None:
    minval, maxval = sequence_range.minval, sequence_range.maxval
    if not (_is_int(minval) and _is_int(maxval)):
        raise ClusterError(f"{where}: minval and maxval must be integers")
    if minval < 1:
        raise ClusterError(f"{where}: minval {minval} must be at least 1")
    if maxval > MAX_ID:
        raise ClusterError(
            f"{where}: maxval {maxval} is beyond the 57-bit sequence space "
            f"(MAX_ID = 2**57 - 1 = {MAX_ID})"
        )
    if minval > maxval:
        raise ClusterError(f"{where}: minval {minval} is greater than maxval {maxval}")


def _check_unique_ids(cells: Sequence[Cell], source: str) -> None:
    seen: dict[int, int] = {}
    for i, cell in enumerate(cells):
        if cell.id in seen:
            raise ClusterError(
                f"{source}: cells[{seen[cell.id]}] and cells[{i}] both have id {cell.id}"
            )
        seen[cell.id] = i


def _check_prefixes(cells: Sequence[Cell], source: str) -> None:
    """In sorted order, a prefix of any other prefix is a prefix of the one right after it."""
    ordered = sorted((cell.session_prefix, i) for i, cell in enumerate(cells))
    for (prefix, i), (other, j) in pairwise(ordered):
        first, second = _cell_name(i, cells[i]), _cell_name(j, cells[j])
        if prefix == other:
            raise ClusterError(
                f"{source}: {first} and {second} both have session_prefix {prefix!r}"
            )
        if other.startswith(prefix):
            raise ClusterError(
                f"{source}: session_prefix {prefix!r} of {first} is a prefix of {other!r} of "
                f"{second}; the router matches by prefix and could not tell them apart"
            )


def _check_overlaps(cells: Sequence[Cell], source: str) -> None:
    """Sorted by minval, any overlap shows up between neighbours."""
    ordered = sorted(
        (sequence_range.minval, sequence_range.maxval, i, j)
        for i, cell in enumerate(cells)
        for j, sequence_range in enumerate(cell.sequence_ranges)
    )
    for (low, high, i, j), (other_low, other_high, k, m) in pairwise(ordered):
        if other_low > high:
            continue
        if i == k:
            raise ClusterError(
                f"{source}: {_cell_name(i, cells[i])}: sequence_ranges[{j}] {low}..{high} "
                f"and sequence_ranges[{m}] {other_low}..{other_high} overlap"
            )
        raise ClusterError(
            f"{source}: sequence range {low}..{high} of {_cell_name(i, cells[i])} overlaps "
            f"{other_low}..{other_high} of {_cell_name(k, cells[k])}"
        )


def validate_callers(
    callers: Sequence[Caller], cells: Sequence[Cell], *, source: str = CLUSTER_FILE
) -> None:
    """Check each caller's role, cell and token, and that no two callers share a token."""
    cell_ids = {cell.id for cell in cells}
    for i, caller in enumerate(callers):
        _check_caller(caller, cell_ids, f"{source}: callers[{i}] ({caller.name})")
    seen: dict[str, int] = {}
    for i, caller in enumerate(callers):
        if caller.token in seen:
            first = seen[caller.token]
            raise ClusterError(
                f"{source}: callers[{first}] ({callers[first].name}) and callers[{i}] "
                f"({caller.name}) have the same token; each caller needs its own"
            )
        seen[caller.token] = i


def _check_caller(caller: Caller, cell_ids: set[int], where: str) -> None:
    if caller.role not in ROLES:
        raise ClusterError(f"{where}: role must be one of {', '.join(ROLES)}, not {caller.role!r}")
    if caller.role == "cell":
        if caller.cell_id is None:
            raise ClusterError(f"{where}: role cell needs cell_id")
        if caller.cell_id not in cell_ids:
            raise ClusterError(f"{where}: cell_id {caller.cell_id} is not a cell of this file")
    elif caller.cell_id is not None:
        raise ClusterError(f"{where}: cell_id is only for role cell, not {caller.role}")
    if len(caller.token) < MIN_TOKEN_LENGTH:
        raise ClusterError(f"{where}: the token must be at least {MIN_TOKEN_LENGTH} characters")
    if not (caller.token.isascii() and caller.token.isprintable()) or " " in caller.token:
        raise ClusterError(f"{where}: the token must be printable ASCII without spaces")


def next_range(cells: Iterable[Cell], *, size: int = MIN_NEW_RANGE) -> SequenceRange:
    """The sequence range for a new cell, or to extend a cell that runs out of IDs.

    It starts right after the highest `maxval` of any cell and holds at least MIN_NEW_RANGE IDs
    (a smaller `size` is raised). With no range yet, it starts at 1 and holds at least the
    legacy cell's first trillion, so the default is LEGACY_RANGE.

    >>> next_range([])
    SequenceRange(minval=1, maxval=999999999999)
    """
    highest = max((r.maxval for cell in cells for r in cell.sequence_ranges), default=0)
    size = max(size, MIN_NEW_RANGE if highest else LEGACY_RANGE.size)
    start = highest + 1
    end = start + size - 1
    if end > MAX_ID:
        raise ClusterError(
            f"sequence space exhausted: {size} IDs from {start} would end at {end}, beyond "
            f"MAX_ID = 2**57 - 1 = {MAX_ID}; {max(MAX_ID - highest, 0)} IDs are left"
        )
    return SequenceRange(start, end)
