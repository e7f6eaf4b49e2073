"""Coordination between merge requests: what each one touches, and where two of them collide.

Pure: the worker keeps a ledger of open and merged merge requests (worker/ledger.py) and asks
these functions what one MR should be told about the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from analyzers.diff import Change

OPENED, MERGED, CLOSED = "opened", "merged", "closed"
PROPOSED, ACTIVE, DROPPED = "proposed", "active", "dropped"  # a claim type's states

#: where a migration's version sits in its path: GitLab's db/schema_migrations/<version> and
#: db/(post_)migrate/<version>_<name>.rb, and the generic <version>_<name>.sql / .up.sql and
#: <version>_<name>/up.sql of the migration tools the config's defaults cover
_VERSION_PATTERNS = (
    re.compile(r"(?:^|/)db/schema_migrations/(\d{14})$"),
    re.compile(r"(?:^|/)db/(?:post_)?migrate/(?:[^/]+/)*(\d{14})_[^/]+\.rb$"),
    re.compile(r"(?:^|/)migrations?/(?:[^/]+/)*(\d{3,})[_-][^/]*\.sql$"),
    re.compile(r"(?:^|/)migrations/(?:[^/]+/)*(\d{4}-\d{2}-\d{2}-\d{6}|\d{3,})[_-][^/]*/up\.sql$"),
    re.compile(r"(?:^|/)db/migrate/(?:[^/]+/)*(\d{3,})[_-][^/]*\.sql$"),
)


@dataclass(frozen=True, slots=True, order=True)
class Touch:
    """One schema object a merge request changes: `table` is the table it belongs to (the
    table itself for a table change; empty for a schema or a free-standing sequence)."""

    table: str
    object: str  # table, column, constraint, foreign_key, index, sequence, trigger, partition
    name: str
    action: str  # added, dropped, altered, renamed, attached, detached


def touches(changes: Iterable[Change]) -> tuple[Touch, ...]:
    """The schema objects `changes` touch, each once, sorted."""
    found = {
        Touch(change.table or "", change.object, change.name, change.action) for change in changes
    }
    return tuple(sorted(found))


def migration_versions(paths: Iterable[str]) -> tuple[str, ...]:
    """The migration versions among changed file paths, each once, in version order."""
    found = set()
    for path in paths:
        for pattern in _VERSION_PATTERNS:
            if match := pattern.search(path):
                found.add(match.group(1))
                break
    return tuple(sorted(found))


@dataclass(frozen=True, slots=True)
class Entry:
    """What the ledger knows of one merge request."""

    project_id: int
    iid: int
    state: str  # OPENED, MERGED or CLOSED
    title: str = ""
    web_url: str = ""
    author: str = ""
    head_sha: str = ""
    touches: tuple[Touch, ...] = ()
    versions: tuple[str, ...] = ()
    #: handles of the owners of what it touches (all of them, the author's team included)
    owners: tuple[str, ...] = ()

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(touch.table for touch in self.touches if touch.table)

    @property
    def ref(self) -> str:
        return f"!{self.iid}"


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim type a maintainer asked for from a merge request
    (`@cellsbot claim <table>.<column> as <BUCKET_TYPE>`)."""

    bucket_type: str
    table: str
    column: str
    requested_by: str
    state: str  # PROPOSED until the MR merges, then ACTIVE; DROPPED when it closes


_CLAIM = re.compile(
    r"(?P<table>[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)\.(?P<column>[A-Za-z_][\w$]*)"
    r"\s+as\s+(?P<type>[A-Z][A-Z0-9_]*)",
)


def parse_claim(arguments: str) -> tuple[str, str, str] | None:
    """`<table>.<column> as <BUCKET_TYPE>` (the table may be schema-qualified) ->
    (table, column, bucket type); None when the arguments do not read so."""
    match = _CLAIM.fullmatch(arguments.strip())
    return (match["table"], match["column"], match["type"]) if match else None


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another merge request that changes the same tables, or uses the same migration
    versions, as the one being reviewed."""

    other: Entry
    tables: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    #: the other MR's changes to the shared tables
    their_touches: tuple[Touch, ...] = field(default=(), compare=False)


def conflicts(entry: Entry, others: Iterable[Entry]) -> list[Conflict]:
    """The open merge requests of the same project that collide with `entry`, by iid."""
    found = []
    for other in others:
        if (other.project_id, other.iid) == (entry.project_id, entry.iid):
            continue
        if other.project_id != entry.project_id or other.state != OPENED:
            continue
        tables = tuple(sorted(entry.tables & other.tables))
        versions = tuple(sorted(set(entry.versions) & set(other.versions)))
        if tables or versions:
            theirs = tuple(t for t in other.touches if t.table in tables)
            found.append(Conflict(other, tables, versions, theirs))
    return sorted(found, key=lambda conflict: conflict.other.iid)


def changed_under(merged: Entry, still_open: Entry) -> Conflict | None:
    """What a merge of `merged` changed under `still_open`: the shared tables (with the
    merged MR's changes to them) and versions; None when they do not collide."""
    found = conflicts(still_open, [replace(merged, state=OPENED)])
    return found[0] if found else None


def partners(before: Sequence[Conflict], after: Sequence[Conflict]) -> set[int]:
    """The iids whose view of this MR changed between two conflict lists: conflicts that
    appeared, disappeared, or now share other tables or versions."""
    old = {c.other.iid: (c.tables, c.versions) for c in before}
    new = {c.other.iid: (c.tables, c.versions) for c in after}
    return {iid for iid in old.keys() | new.keys() if old.get(iid) != new.get(iid)}
