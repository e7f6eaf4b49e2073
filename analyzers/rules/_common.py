"""Small helpers shared by the rule modules."""

from __future__ import annotations

from analyzers.model import CHECK, Table

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
