"""PostgreSQL identifier handling: case folding, qualified names, default constraint names."""

from __future__ import annotations

import re

DEFAULT_SCHEMA = "public"
MAX_IDENTIFIER = 63

_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'  # \w: Unicode letters, digits, _
#: A possibly schema-qualified identifier, as a regular expression fragment.
QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"
_PART = re.compile(_IDENT)


def fold(identifier: str) -> str:
    """Fold one identifier as PostgreSQL does: quoted keeps its case, unquoted is lowercased.

    >>> fold('"Users"'), fold('Users')
    ('Users', 'users')
    """
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


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


def default_constraint_name(table_key: str, columns: list[str], suffix: str) -> str:
    """The name PostgreSQL gives an unnamed constraint or index (`t_a_b_key`, `t_pkey`, …).

    PostgreSQL truncates the parts so that the whole fits in 63 bytes; we do the same on
    characters, which agrees for ASCII names.
    """
    table = bare(table_key)
    label = "_".join(columns)
    parts = [table] if suffix == "pkey" or not label else [table, label]
    overflow = len("_".join([*parts, suffix])) - MAX_IDENTIFIER
    while overflow > 0:
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        cut = min(overflow, len(parts[longest]) - 1)
        parts[longest] = parts[longest][: len(parts[longest]) - cut]
        overflow -= cut
    return in_schema_of(table_key, "_".join([*parts, suffix]))
