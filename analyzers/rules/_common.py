"""Small helpers shared by the rule modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzers.model import CHECK, Table

if TYPE_CHECKING:
    from analyzers.rules.base import RuleContext

GENERIC_CONFIG = """\
cells:
  roots:
    organizations: organization_id
  classes:
    global: [plans]
    cell_local: [schema_migrations]
"""
ORGANIZATIONS = "CREATE TABLE organizations (id bigint PRIMARY KEY, path text NOT NULL);\n"


def has_not_null_check(table: Table, columns: list[str]) -> bool:
    """A CHECK that makes the columns NOT NULL: `col IS NOT NULL`, or for several columns a
    `num_nonnulls(…)` check over all of them (GitLab's multi-column sharding keys)."""
    for constraint in table.constraints.values():
        if constraint.kind != CHECK or not constraint.expression:
            continue
        expression = constraint.expression.upper()
        if len(columns) == 1 and constraint.columns == columns and "IS NOT NULL" in expression:
            return True
        if "NUM_NONNULLS" in expression and set(columns) <= set(constraint.columns):
            return True
    return False


def is_not_null(table: Table, columns: list[str]) -> bool:
    known = [table.columns[c] for c in columns if c in table.columns]
    if len(columns) == 1 and known and not known[0].nullable:
        return True
    return has_not_null_check(table, columns)


def scoping_columns(ctx: RuleContext, table: Table) -> set[str]:
    """Columns that tie a row to one organization, so that a unique set containing one of them
    is unique across all cells too: the sharding key, the table's own `id` (ids come from
    cluster-wide sequence ranges), and foreign keys to rows that live in one cell."""
    from analyzers.cells import CELL_LOCAL, GLOBAL  # noqa: PLC0415
    from analyzers.inference import infer_sharding_key  # noqa: PLC0415

    key = set(ctx.policy(table.name).sharding_key or {})
    if not key:
        inferred = infer_sharding_key(table, ctx)
        key = {inferred[0].column} if inferred and inferred[0].kind == "sharding_key" else set()
    if "id" in table.columns:
        key.add("id")
    for fk in ctx.foreign_keys_from.get(table.name, ()):
        if len(fk.columns) == 1 and ctx.policy(fk.ref_table or "").klass not in (
            GLOBAL,
            CELL_LOCAL,
        ):
            key.add(fk.columns[0])
    return key


def global_column(column: str, words: tuple[str, ...]) -> bool:
    """Whether a column's name says its value identifies something cluster-wide."""
    return any(column == word or column.endswith(f"_{word}") for word in words)
