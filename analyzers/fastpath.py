"""Exact recognizers for pg_dump's most frequent statement shapes, which skip sqlglot.

Half of a pg_dump file is four fixed shapes: `CREATE [UNIQUE] INDEX … USING m (a, b DESC)`,
`ALTER TABLE ONLY t ADD CONSTRAINT c PRIMARY KEY|UNIQUE (…)`, `… FOREIGN KEY (…) REFERENCES
r(…) [ON DELETE …] [ON UPDATE …]` and `ALTER COLUMN id SET DEFAULT nextval('s'::regclass)`.
For those, and only when every identifier is a plain lower-case one, the operations are built
here, exactly as `analyzers.sqlglot_ops` would build them from sqlglot's tree; anything else
returns None and goes to sqlglot. `tests/analyzers/test_fastpath.py` checks both paths agree
on every statement of the corpus.
"""

from __future__ import annotations

import re
from typing import Any

from analyzers.names import in_schema_of, name_addition, nextval_default, numbered, qualify

_NAME = r"[a-z_][a-z0-9_]*"
_TABLE = rf"(?:({_NAME})\.)?({_NAME})"
_COLUMNS = rf"{_NAME}(?:, {_NAME})*"
_ACTION = r"CASCADE|SET NULL|RESTRICT|NO ACTION|SET DEFAULT"
_INDEX = re.compile(
    rf"CREATE (UNIQUE )?INDEX ({_NAME}) ON (ONLY )?{_TABLE} USING ({_NAME}) "
    rf"\(({_NAME}(?: DESC)?(?:, {_NAME}(?: DESC)?)*)\)"
)
_ALTER = re.compile(rf"ALTER TABLE (ONLY )?{_TABLE}\s+")
_KEY = re.compile(rf"ADD CONSTRAINT ({_NAME}) (PRIMARY KEY|UNIQUE) \(({_COLUMNS})\)")
_FOREIGN_KEY = re.compile(
    rf"ADD CONSTRAINT ({_NAME}) FOREIGN KEY \(({_COLUMNS})\) REFERENCES {_TABLE}\(({_COLUMNS})\)"
    rf"(?: ON DELETE ({_ACTION}))?(?: ON UPDATE ({_ACTION}))?( NOT VALID)?"
)
_NEXTVAL = re.compile(
    rf"ALTER COLUMN ({_NAME}) SET DEFAULT nextval\('({_NAME}(?:\.{_NAME})?)'::regclass\)"
)
# Words sqlglot parses as something other than a plain column name: leave them to sqlglot.
_SPECIAL = frozenset(
    {"all", "and", "as", "asc", "by", "case", "current_date", "current_time", "current_timestamp",
     "current_user", "date", "default", "desc", "distinct", "false", "from", "interval", "is",
     "left", "not", "null", "or", "order", "right", "row", "session_user", "time", "timestamp",
     "true", "user", "values", "with"}
)  # fmt: skip


def recognize(text: str) -> tuple[tuple[Any, ...], ...] | None:
    """The operations of `text` if it has one of the shapes above, else None."""
    if text.startswith("CREATE"):
        return _index(text)
    if text.startswith("ALTER TABLE"):
        return _alter_table(text)
    return None


def _plain(*names: str) -> bool:
    return not any(name in _SPECIAL for name in names)


def _index(text: str) -> tuple[tuple[Any, ...], ...] | None:
    match = _INDEX.fullmatch(text)
    if match is None:
        return None
    unique, name, only, schema, table, using, columns = match.groups()
    parts = columns.split(", ")
    if not _plain(name, table, *(part.split(" ")[0] for part in parts)):
        return None
    key = qualify(table, schema)
    index = {
        "name": in_schema_of(key, name),
        "naming": [name_addition(numbered([part.split(" ")[0] for part in parts])), "idx"],
        "table": key,
        "unique": bool(unique),
        "columns": parts,
        "include": [],
        "where": None,
        "using": None if using == "btree" else using,
        "only": bool(only),
        "nulls_not_distinct": False,
        "if_not_exists": False,
        "line": 0,
    }
    return (("index", index),)


def _alter_table(text: str) -> tuple[tuple[Any, ...], ...] | None:
    head = _ALTER.match(text)
    if head is None:
        return None
    ops = _alter_action(text[head.end() :], *head.groups()[1:])
    if ops is None or head.group(1):
        return ops
    return (("recurse", qualify(head.group(3), head.group(2)), ops),)  # without ONLY


def _alter_action(rest: str, schema: str | None, table: str) -> tuple[tuple[Any, ...], ...] | None:
    key = qualify(table, schema)
    match = _KEY.fullmatch(rest)
    if match:
        name, kind, columns = match.groups()
        names = columns.split(", ")
        if not _plain(table, name, *names):
            return None
        kind = "primary_key" if kind == "PRIMARY KEY" else "unique"
        return (("add_constraint", key, _constraint(name, kind, names)),)
    match = _FOREIGN_KEY.fullmatch(rest)
    if match:
        return _foreign_key(key, table, match)
    match = _NEXTVAL.fullmatch(rest)
    if match and _plain(table, match.group(1)):
        default = nextval_default(match.group(2))
        return (("alter_column", key, match.group(1), {"default": default}),)
    return None


def _foreign_key(key: str, table: str, match: re.Match[str]) -> tuple[tuple[Any, ...], ...] | None:
    name, columns, ref_schema, ref_table, ref_columns, on_delete, on_update, not_valid = (
        match.groups()
    )
    names, ref_names = columns.split(", "), ref_columns.split(", ")
    if not _plain(table, name, ref_table, *names, *ref_names):
        return None
    constraint = _constraint(name, "foreign_key", names, not_valid=bool(not_valid))
    constraint.update(
        ref_table=qualify(ref_table, ref_schema),
        ref_columns=ref_names,
        on_delete=on_delete,
        on_update=on_update,
    )
    return (("add_constraint", key, constraint),)


def _constraint(
    name: str, kind: str, columns: list[str], *, not_valid: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "naming": None,
        "kind": kind,
        "columns": columns,
        "line": 0,
        "not_valid": not_valid,
    }
