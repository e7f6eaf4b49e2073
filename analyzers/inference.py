"""Infer a table's sharding key from the schema, ranked, with the reason for each choice.

A direct reference to a root table gives a `sharding_key`. Otherwise a reference to a parent
that has (or is inferred to have) a sharding key gives GitLab's backfill plan, a
`desired_sharding_key`. References are foreign keys, loose foreign keys (GitLab's
`config/gitlab_loose_foreign_keys.yml`, for tables in another database than their root), or,
where a table has neither, a column named after a root's key column (`project_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analyzers.findings import Fix
from analyzers.names import bare

if TYPE_CHECKING:
    from analyzers.model import Table
    from analyzers.rules.base import RuleContext

FOREIGN_KEY, LOOSE, CONVENTION = 0, 1, 2
_VIA = {FOREIGN_KEY: "a foreign key", LOOSE: "a loose foreign key", CONVENTION: "its name only"}
MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Reference:
    """A single-column reference from a table to another."""

    column: str
    table: str  # referenced table (model key)
    via: int  # FOREIGN_KEY, LOOSE or CONVENTION


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: str  # "sharding_key" or "desired_sharding_key"
    column: str
    root: str
    data: dict[str, Any]  # the mapping under `kind` in db/docs/<table>.yml
    rank: tuple[int, ...]  # lower is better
    explanation: str

    def fix(self) -> Fix:
        return Fix(self.kind, _yaml({self.kind: self.data}), self.data, self.explanation)


def infer_sharding_key(table: Table, ctx: RuleContext) -> list[Candidate]:
    """Candidates for `table`'s sharding key, best first."""
    return _Inference(ctx).candidates(table.name, depth=0, seen=frozenset())


def sharding_key_fix(table: Table, ctx: RuleContext) -> Fix:
    """The best candidate as a fix, the others as alternatives; advice when there is none."""
    candidates = infer_sharding_key(table, ctx)
    if not candidates:
        roots = ", ".join(ctx.policy(table.name).roots) or "a root table"
        text = (
            f"No reference from {table.name} leads to {roots}. Add a NOT NULL column that "
            f"references one (e.g. {_example_column(ctx)}), with a foreign key, and declare it "
            "as the sharding key."
        )
        return Fix("text", text, None, "no foreign key path to a root table")
    best, *others = candidates
    fix = best.fix()
    return Fix(fix.kind, fix.text, fix.data, fix.explanation, tuple(c.fix() for c in others))


def _example_column(ctx: RuleContext) -> str:
    columns = ctx.cells.root_columns
    root = min(columns, key=ctx.cells.root_rank) if columns else None
    return f"{columns[root]} referencing {root}" if root else "a column referencing a root table"


class _Inference:
    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.memo: dict[str, list[Candidate]] = {}

    def references(self, table: Table) -> list[Reference]:
        refs = [
            Reference(fk.columns[0], fk.ref_table or "", FOREIGN_KEY)
            for fk in self.ctx.foreign_keys_from.get(table.name, ())
            if len(fk.columns) == 1
        ]
        known = {r.column for r in refs}
        for lfk in self.ctx.cells.loose_foreign_keys(table.name):
            if lfk.column in table.columns and lfk.column not in known:
                refs.append(Reference(lfk.column, lfk.to_table, LOOSE))
                known.add(lfk.column)
        for root, column in self.ctx.cells.root_columns.items():
            if column in table.columns and column not in known:
                refs.append(Reference(column, root, CONVENTION))
        return refs

    def candidates(self, name: str, *, depth: int, seen: frozenset[str]) -> list[Candidate]:
        if name in self.memo:
            return self.memo[name]
        table = self.ctx.head.tables.get(name)
        if table is None:
            return []
        roots = set(self.ctx.policy(name).roots)
        refs = self.references(table)
        found = [self.direct(table, ref) for ref in refs if bare(ref.table) in roots]
        if depth < MAX_DEPTH:
            for ref in refs:
                if bare(ref.table) not in roots and ref.table not in seen and ref.table != name:
                    found.extend(self.indirect(table, ref, roots, depth, seen | {name}))
        result = sorted(found, key=lambda c: c.rank)
        self.memo[name] = result
        return result

    def direct(self, table: Table, ref: Reference) -> Candidate:
        root = bare(ref.table)
        column = table.columns[ref.column]
        indexed = ref.column in self.ctx.indexed_first_columns.get(table.name, ())
        traits = [
            "NOT NULL" if not column.nullable else "nullable",
            "indexed" if indexed else "not indexed",
        ]
        explanation = (
            f"{ref.column} references {root} by {_VIA[ref.via]} ({', '.join(traits)}): "
            f"use it as the sharding key"
        )
        rank = (0, ref.via, int(column.nullable), int(not indexed), self.ctx.cells.root_rank(root))
        return Candidate("sharding_key", ref.column, root, {ref.column: root}, rank, explanation)

    def indirect(
        self, table: Table, ref: Reference, roots: set[str], depth: int, seen: frozenset[str]
    ) -> list[Candidate]:
        parent = self.ctx.head.tables.get(ref.table)
        if parent is None:
            return []
        declared = self.ctx.policy(parent.name).sharding_key
        if declared and len(declared) == 1:
            parent_key, root = next(iter(declared.items()))
            source = 0
        else:
            direct = [
                c
                for c in self.candidates(parent.name, depth=depth + 1, seen=seen)
                if c.kind == "sharding_key"
            ]
            if not direct:
                return []
            parent_key, root, source = direct[0].column, direct[0].root, 1
        if root not in roots or parent_key in table.columns:
            return []
        column = table.columns[ref.column]
        indexed = ref.column in self.ctx.indexed_first_columns.get(table.name, ())
        via: dict[str, Any] = {
            "foreign_key": ref.column,
            "table": bare(parent.name),
            "sharding_key": parent_key,
            "belongs_to": ref.column[:-3] if ref.column.endswith("_id") else bare(parent.name),
        }
        primary = parent.primary_key
        if primary and primary.columns != ["id"] and len(primary.columns) == 1:
            via["table_primary_key"] = primary.columns[0]
        data = {parent_key: {"references": root, "backfill_via": {"parent": via}}}
        how = "declared" if source == 0 else "inferred"
        explanation = (
            f"{ref.column} references {bare(parent.name)} by {_VIA[ref.via]}, whose sharding key "
            f"is {parent_key} → {root} ({how}): add {parent_key} and backfill it from "
            f"{bare(parent.name)}"
        )
        rank = (
            1,
            source,
            ref.via,
            int(column.nullable),
            int(not indexed),
            self.ctx.cells.root_rank(root),
        )
        return [Candidate("desired_sharding_key", parent_key, root, data, rank, explanation)]


def _yaml(data: dict[str, Any]) -> str:
    import yaml  # noqa: PLC0415 (only when a fix is rendered)

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
