"""`.cellsbot.yml`: which files of a repository are schema files, and in what order."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from analyzers.cells_config import CellsConfig, CellsConfigError, parse_cells

CONFIG_FILE = ".cellsbot.yml"
DEFAULT_DUMPS = ("db/structure.sql",)
DEFAULT_MIGRATIONS = (
    "db/migrate/**/*.sql",
    "migrations/*/up.sql",
    "**/migrations/**/*.up.sql",
    "**/migrations/*.sql",
)
DEFAULT_EXCLUDE = ("**/*.down.sql", "**/down.sql")
ORDERS = ("natural", "lexical")


class ConfigError(ValueError):
    """The configuration file is not valid; the message says what and where."""


@dataclass(frozen=True, slots=True)
class SchemaFiles:
    """Globs (relative to the repository root, `**` spans directories) and ordering."""

    dumps: tuple[str, ...] = DEFAULT_DUMPS
    migrations: tuple[str, ...] = DEFAULT_MIGRATIONS
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    order: str = "natural"


@dataclass(frozen=True, slots=True)
class Config:
    schema: SchemaFiles = field(default_factory=SchemaFiles)
    cells: CellsConfig = field(default_factory=CellsConfig)


def parse_config(text: str, *, source: str = CONFIG_FILE) -> Config:
    """Read `.cellsbot.yml` text. Unknown keys are errors, so that typos do not pass silently.

    >>> parse_config("schema:\\n  dumps: [schema.sql]\\n").schema.dumps
    ('schema.sql',)
    """
    if not text.strip():
        return Config()
    import yaml  # noqa: PLC0415 (most repositories have no config file: skip the import)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    if data is None:  # an empty file or only comments
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    _no_unknown_keys(data, {"schema", "cells", "rules"}, source)
    try:
        cells = parse_cells(data.get("cells"), data.get("rules"), source)
    except CellsConfigError as error:
        raise ConfigError(str(error)) from error
    schema = data.get("schema")
    if schema is None:  # `schema:` with nothing under it
        schema = {}
    if not isinstance(schema, dict):
        raise ConfigError(f"{source}: `schema` must be a mapping")
    _no_unknown_keys(schema, {"dumps", "migrations", "exclude", "order"}, f"{source}: schema")
    order = schema.get("order", "natural")
    if order not in ORDERS:
        raise ConfigError(
            f"{source}: schema.order must be one of {', '.join(ORDERS)}, not {order!r}"
        )
    return Config(
        SchemaFiles(
            dumps=_globs(schema, "dumps", DEFAULT_DUMPS, source),
            migrations=_globs(schema, "migrations", DEFAULT_MIGRATIONS, source),
            exclude=_globs(schema, "exclude", DEFAULT_EXCLUDE, source),
            order=order,
        ),
        cells,
    )


def _no_unknown_keys(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in set(data) - known)  # YAML keys need not be strings
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _globs(
    data: dict[str, Any], key: str, default: tuple[str, ...], source: str
) -> tuple[str, ...]:
    value = data.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: schema.{key} must be a glob or a list of globs")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Selection:
    """Schema files of one revision: dumps, and migrations in the order they apply."""

    dumps: list[str]
    migrations: list[str]

    @property
    def paths(self) -> list[str]:
        """Files that build the model: the dumps when there are any, else the migrations.

        A dump already is the result of the migrations; applying both would create every
        object twice.
        """
        return self.dumps if self.dumps else self.migrations


def select_files(paths: Iterable[str], files: SchemaFiles) -> Selection:
    """Pick the schema files among a revision's `paths`."""
    candidates = [p for p in paths if not _matches_any(p, files.exclude)]
    dumps = sorted(p for p in candidates if _matches_any(p, files.dumps))
    chosen = set(dumps)
    migrations = [p for p in candidates if p not in chosen and _matches_any(p, files.migrations)]
    if files.order == "natural":  # the path breaks ties such as `01.sql` and `1.sql`
        migrations.sort(key=lambda path: (natural_key(path), path))
    else:
        migrations.sort()
    return Selection(dumps, migrations)


def natural_key(path: str) -> list[Any]:
    """Sort key that orders digits by value: `delta/9/a.sql` before `delta/10/a.sql`."""
    # Odd pieces are the digit runs; `str.isdigit` would also accept `²`, which `int` rejects.
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", path))]


def matches_any(path: str, globs: Iterable[str]) -> bool:
    """Whether `path` (or a table name) matches one of the globs."""
    return _matches_any(path, globs)


def _matches_any(path: str, globs: Iterable[str]) -> bool:
    return any(_glob_regex(glob).fullmatch(path) for glob in globs)


@cache
def _glob_regex(glob: str) -> re.Pattern[str]:
    """`**/` spans zero or more directories, `*` and `?` stay inside one path segment."""
    parts: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            parts.append(".*")
            i += 2
        elif glob[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(parts))
