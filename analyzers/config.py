"""`.cellsbot.yml`: which files of a repository are schema files, and in what order; who owns
what (`owners`, `teams`, `request_reviews`)."""

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
TOP_LEVEL_KEYS = frozenset({"schema", "cells", "rules", "owners", "teams", "request_reviews"})
OWNER_RULE_KEYS = frozenset({"tables", "paths", "owners"})
#: The roles GitLab accepts as Code Owners (`@@maintainer`; a plural such as `@@maintainers` too).
OWNER_ROLES = ("developer", "maintainer", "owner")
HANDLE_FORMS = "@user, @group/subgroup, @@role or an email address"

# GitLab's namespace paths: letters, digits, `_`, `.`, `-`, not starting with `-`.
_NAMESPACE = r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*"
_HANDLE = re.compile(
    rf"@{_NAMESPACE}(?:/{_NAMESPACE})*"  # a user or a group, or a subgroup
    rf"|@@(?:{'|'.join(OWNER_ROLES)})s?"  # a role
    r"|[^@\s]{1,100}@[^@\s]{0,254}\w",  # an email address (GitLab's loose form)
    re.IGNORECASE,
)


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
class OwnerRule:
    """`owners:` item: these owners own the tables and files matching these globs."""

    owners: tuple[str, ...]
    tables: tuple[str, ...] = ()  # table-name globs; see `analyzers.owners.table_matches`
    paths: tuple[str, ...] = ()  # repository path globs, as for schema files


@dataclass(frozen=True, slots=True)
class OwnersConfig:
    """Who owns what: explicit rules, and (GitLab mode) owners per feature category."""

    rules: tuple[OwnerRule, ...] = ()
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)  # category -> handles
    request_reviews: bool = False  # whether the bot requests the owners as reviewers


@dataclass(frozen=True, slots=True)
class Config:
    schema: SchemaFiles = field(default_factory=SchemaFiles)
    cells: CellsConfig = field(default_factory=CellsConfig)
    owners: OwnersConfig = field(default_factory=OwnersConfig)


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
    _no_unknown_keys(data, TOP_LEVEL_KEYS, source)
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
        _owners_config(data, source),
    )


def is_handle(text: str) -> bool:
    """Whether `text` names an owner as GitLab does: `@user`, `@group/subgroup`, `@@role`
    (developer, maintainer or owner) or an email address.

    >>> [is_handle(h) for h in ("@gitlab-org/verify", "@@maintainer", "a@b.example", "alice")]
    [True, True, True, False]
    """
    return _HANDLE.fullmatch(text) is not None


def _owners_config(data: dict[str, Any], source: str) -> OwnersConfig:
    """The `owners:`, `teams:` and `request_reviews:` keys."""
    request_reviews = data.get("request_reviews", False)
    if not isinstance(request_reviews, bool):
        raise ConfigError(
            f"{source}: request_reviews must be true or false, not {request_reviews!r}"
        )
    return OwnersConfig(
        rules=_owner_rules(data.get("owners"), source),
        teams=_teams(data.get("teams"), source),
        request_reviews=request_reviews,
    )


def _owner_rules(value: Any, source: str) -> tuple[OwnerRule, ...]:
    if value is None:  # absent, or `owners:` with nothing under it
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{source}: owners must be a list of rules")
    rules = []
    for number, item in enumerate(value, 1):
        where = f"owners[{number}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: {where} must be a mapping with `owners` and globs")
        _no_unknown_keys(item, OWNER_RULE_KEYS, f"{source}: {where}")
        if "owners" not in item:
            raise ConfigError(f"{source}: {where} needs `owners`")
        owners = _handles(item["owners"], f"{where}.owners", source)
        if not owners:
            raise ConfigError(f"{source}: {where}.owners must name at least one owner")
        tables = _rule_globs(item, "tables", where, source)
        paths = _rule_globs(item, "paths", where, source)
        if not tables and not paths:
            raise ConfigError(f"{source}: {where} needs `tables` or `paths` (globs)")
        rules.append(OwnerRule(owners=owners, tables=tables, paths=paths))
    return tuple(rules)


def _rule_globs(item: dict[str, Any], key: str, where: str, source: str) -> tuple[str, ...]:
    value = item.get(key, ())
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{source}: {where}.{key} must be a glob or a list of globs")
    return tuple(value)


def _teams(value: Any, source: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: teams must be a mapping of feature category to owners")
    return {
        str(category): _handles(owners, f"teams.{category}", source)
        for category, owners in value.items()
    }


def _handles(value: Any, where: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: {where} must be a handle or a list of handles")
    for handle in value:
        if not is_handle(handle):
            raise ConfigError(f"{source}: {where}: {handle!r} is not an owner ({HANDLE_FORMS})")
    return tuple(value)


def _no_unknown_keys(data: dict[str, Any], known: Iterable[str], where: str) -> None:
    unknown = sorted(str(key) for key in set(data) - set(known))  # YAML keys need not be str
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
