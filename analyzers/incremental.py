"""Compare two revisions, rebuilding only the objects their differing statements touch.

Two revisions of a 2 MB dump share all but a handful of statements. When every statement
has local dependencies (`analyzers.deps`), the unchanged statements that neither own nor
need a touched object behave identically in both revisions and can be left out of both
builds: the diff of the two partial models equals the diff of the full ones. Otherwise (a
DROP, a RENAME, statements reordered, or a base revision whose full build had errors) both
revisions are built in full.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from analyzers.build import (
    BuildResult,
    Extractor,
    ScannedFile,
    StatementInfo,
    build_scanned,
    digest,
)
from analyzers.diff import Change, diff_schemas

FULL = "full"
INCREMENTAL = "incremental"


@dataclass(slots=True)
class Comparison:
    base: BuildResult
    head: BuildResult
    changes: list[Change]
    mode: str  # FULL or INCREMENTAL
    rebuilt: int  # distinct statements applied (all of them in full mode)
    base_error_free: bool  # whether a full build of each revision applies every operation
    head_error_free: bool


def fileset_key(scanned: list[ScannedFile]) -> bytes:
    """Identity of a revision's schema files, for facts cached about its full build."""
    return digest("\n".join(f"{f.source.path}\0{digest(f.source.text).hex()}" for f in scanned))


def compare(
    base: list[ScannedFile],
    head: list[ScannedFile],
    extractor: Extractor,
    *,
    base_error_free: bool | None = None,
    seeds: frozenset[str] = frozenset(),
) -> Comparison:
    """Build and diff both revisions; incrementally when that is known to be exact.

    The incremental path relies on a full build of `base` applying every operation without
    a model error. Callers cache that fact (`base_error_free`); when it is unknown (None),
    the base is built in full once to learn it.
    """
    included = affected_statements(base, head, seeds=seeds)
    base_full = None
    if included is not None and base_error_free is None:
        base_full = build_scanned(base, extractor)
        base_error_free = base_full.model_errors == 0
    if included is None or not base_error_free:
        base_result = base_full or build_scanned(base, extractor)
        head_result = build_scanned(head, extractor)
        rebuilt = len({i.key for f in (*base, *head) for i in f.statements})
        mode = FULL
    else:
        base_result = build_scanned(base, extractor, only=lambda info: info.key in included)
        head_result = build_scanned(head, extractor, only=lambda info: info.key in included)
        rebuilt, mode = len(included), INCREMENTAL
        if base_full is not None:  # built in full to learn that the base builds cleanly
            rebuilt += len({i.key for f in base for i in f.statements} - included)
    changes = diff_schemas(base_result.schema, head_result.schema)
    return Comparison(
        base_result,
        head_result,
        changes,
        mode,
        rebuilt,
        base_error_free=base_result.model_errors == 0 if mode == FULL else bool(base_error_free),
        head_error_free=head_result.model_errors == 0,
    )


def affected_statements(
    base: list[ScannedFile], head: list[ScannedFile], *, seeds: frozenset[str] = frozenset()
) -> set[bytes] | None:
    """Digests of the statements to apply so that both partial models diff like full ones.

    None when some statement's dependencies are not local or the unchanged statements are
    not in the same order in both revisions. `seeds` are object ids (`t:table`) to build
    even if unchanged, with what they need (e.g. tables whose dictionary entry changed).
    """
    base_infos = [info for f in base for info in f.statements]
    head_infos = [info for f in head for info in f.statements]
    if any(info.deps is None for info in (*base_infos, *head_infos)):
        return None
    base_count = Counter(info.key for info in base_infos)
    head_count = Counter(info.key for info in head_infos)
    changed = {k for k in base_count.keys() | head_count.keys() if base_count[k] != head_count[k]}
    if _unchanged_order(base_infos, changed) != _unchanged_order(head_infos, changed):
        return None
    return _closure(changed, [*base_infos, *head_infos], seeds)


def _unchanged_order(infos: list[StatementInfo], changed: set[bytes]) -> list[bytes]:
    return [info.key for info in infos if info.key not in changed]


def _closure(
    changed: set[bytes], infos: Iterable[StatementInfo], seeds: frozenset[str]
) -> set[bytes]:
    """Changed statements, those of objects whose state may differ, and what they need:
    objects they require, and, as context for the rules, the tables their foreign keys
    reference (transitively, so that a sharding key can be inferred along them)."""
    deps = {info.key: info.deps for info in infos}
    owners: dict[str, set[bytes]] = defaultdict(set)
    requirers: dict[str, set[bytes]] = defaultdict(set)
    for key, (owned, required, _) in deps.items():
        for obj in owned:
            owners[obj].add(key)
        for obj in required:
            requirers[obj].add(key)
    # objects whose state may differ: owned by a changed statement, or built from one that is
    differing: set[str] = set()
    pending = [obj for key in changed for obj in deps[key][0]]
    while pending:
        obj = pending.pop()
        if obj in differing:
            continue
        differing.add(obj)
        pending.extend(o for key in requirers[obj] for o in deps[key][0])
    included = set(changed)
    included.update(key for obj in differing for key in owners[obj])
    # objects the included statements need or reference (the same in both revisions)
    needed = [obj for key in included for obj in (*deps[key][1], *deps[key][2])]
    needed.extend(seeds)
    present = set(differing)
    while needed:
        obj = needed.pop()
        if obj in present:
            continue
        present.add(obj)
        for key in owners[obj]:
            if key not in included:
                included.add(key)
                needed.extend((*deps[key][1], *deps[key][2]))
    return included
