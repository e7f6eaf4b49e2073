"""PostgreSQL identifier handling: case folding, qualified names, default constraint names."""

from __future__ import annotations

import re
from collections.abc import Container

DEFAULT_SCHEMA = "public"
MAX_IDENTIFIER = 63

_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'  # \w: Unicode letters, digits, _
#: A possibly schema-qualified identifier, as a regular expression fragment.
QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"
_PART = re.compile(_IDENT)


def fold(identifier: str) -> str:
    """Fold one identifier as PostgreSQL does: quoted keeps its case, unquoted is lowercased;
    both are cut to 63 bytes.

    >>> fold('"Users"'), fold('Users')
    ('Users', 'users')
    """
    if identifier.startswith('"'):
        return truncate(identifier[1:-1].replace('""', '"'))
    return truncate(identifier.lower())


def qualify(name: str, schema: str | None = None) -> str:
    """The model's key for a relation: `name` in the default schema, else `schema.name`."""
    if schema is None or schema == DEFAULT_SCHEMA:
        return name
    return f"{schema}.{name}"


def split_qualified(text: str) -> list[str]:
    """The folded parts of a dotted name: `a."B".c` is `['a', 'B', 'c']`."""
    return [fold(part) for part in _PART.findall(text)]


def parse_qualified(text: str) -> str:
    """Turn source text such as `Public."Foo"` into the model key `Foo`.

    >>> parse_qualified('gitlab_partitions_static."T1"')
    'gitlab_partitions_static.T1'
    """
    parts = [fold(part) for part in _PART.findall(text)]
    if len(parts) == 1:
        return parts[0]
    return qualify(parts[-1], parts[-2])


def schema_of(key: str) -> str:
    """The schema part of a model key (`public` when unqualified)."""
    return key.rsplit(".", 1)[0] if "." in key else DEFAULT_SCHEMA


def bare(key: str) -> str:
    """The relation name of a model key without its schema."""
    return key.rsplit(".", 1)[-1]


def in_schema_of(table_key: str, name: str) -> str:
    """Key of an index or sequence `name` created beside the table `table_key`."""
    return qualify(name, schema_of(table_key))


def truncate(name: str) -> str:
    """PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1)."""
    encoded = name.encode()
    if len(encoded) <= MAX_IDENTIFIER:
        return name
    return encoded[:MAX_IDENTIFIER].decode(errors="ignore")


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    """PostgreSQL's makeObjectName: `name1_name2_label`, the longer part shortened first.

    >>> make_object_name("t", "a_b", "key")
    't_a_b_key'
    """
    overhead = (len(label) + 1 if label else 0) + (1 if name2 else 0)
    available = MAX_IDENTIFIER - overhead
    chars1, chars2 = len(name1), len(name2 or "")
    while chars1 + chars2 > available:
        if chars1 > chars2:
            chars1 -= 1
        else:
            chars2 -= 1
    parts = [name1[:chars1]]
    if name2:
        parts.append(name2[:chars2])
    if label:
        parts.append(label)
    return "_".join(parts)


def choose_name(name1: str, name2: str | None, label: str, taken: Container[str]) -> str:
    """PostgreSQL's ChooseRelationName/ChooseConstraintName: the first free of `t_a_key`,
    `t_a_key1`, `t_a_key2`, … (the number goes on the label, so the name stays ≤ 63 bytes).
    """
    name, number = make_object_name(name1, name2, label), 0
    while name in taken:
        number += 1
        name = make_object_name(name1, name2, f"{label}{number}")
    return name


def numbered(names: list[str]) -> list[str]:
    """Repeated names within one index get numbers: `expr`, `expr1`, `expr2`."""
    result: list[str] = []
    for name in names:
        candidate, number = name, 0
        while candidate in result:
            number += 1
            candidate = f"{name}{number}"
        result.append(candidate)
    return result


def name_addition(names: list[str]) -> str:
    """Column names joined for a generated name, cut once long enough (as PostgreSQL does)."""
    text = ""
    for name in names:
        text = f"{text}_{name}" if text else name
        if len(text) >= MAX_IDENTIFIER:
            break
    return text


_EXCLUDE_ELEMENTS = re.compile(r"EXCLUDE\s+(?:USING\s+\w+\s*)?\((.*)\)", re.IGNORECASE | re.DOTALL)


def exclude_columns(text: str) -> list[str]:
    """Column names of `EXCLUDE USING gist (a WITH =, (expr) WITH &&)`: ['a', 'expr']."""
    match = _EXCLUDE_ELEMENTS.search(text)
    if match is None:
        return []
    names, depth, start, body = [], 0, 0, match.group(1)
    for i, char in enumerate(f"{body},"):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            element = body[start:i].strip()
            first = _PART.match(element)
            names.append(fold(first.group()) if first and not element.startswith("(") else "expr")
            start = i + 1
    return names


def nextval_default(sequence: str) -> str:
    """The default of a serial column, as the model writes it (sqlglot's rendering)."""
    return f"NEXTVAL(CAST('{sequence}' AS REGCLASS))"


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def _column_pattern(column: str) -> re.Pattern[str]:
    """How `column` appears in an expression the model keeps (sqlglot's rendering): quoted,
    or bare when it needs no quotes; never as a function name or after a dot."""
    quoted = re.escape('"' + column.replace('"', '""') + '"')
    if not _PLAIN.fullmatch(column):
        return re.compile(quoted)
    return re.compile(rf'{quoted}|(?<![\w$."]){re.escape(column)}(?![\w$"(])')


def mentions(expression: str | None, column: str) -> bool:
    """Whether an index key, predicate or check expression uses `column`.

    >>> mentions("lower(email) DESC", "email"), mentions("email_id", "email")
    (True, False)
    """
    return bool(expression) and _column_pattern(column).search(expression) is not None


def rename_in(expression: str, old: str, new: str) -> str:
    """`expression` with the column `old` called `new`."""
    replacement = new if _PLAIN.fullmatch(new) else '"' + new.replace('"', '""') + '"'
    return _column_pattern(old).sub(lambda _: replacement, expression)
