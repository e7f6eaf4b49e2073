"""The `cells:` and `rules:` sections of `.cellsbot.yml`: the sharding model and rule settings.

GitLab repositories describe their sharding model in their own files (`db/docs`,
`db/gitlab_schemas`); any other multi-tenant PostgreSQL application describes it here. See
docs/configuration.md for a complete example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analyzers.findings import SEVERITIES

MODES = ("auto", "gitlab", "generic")
CLASSES = ("sharded", "global", "cell_local")
#: Column names whose uniqueness usually means something across the whole cluster: routing
#: and login attributes (a column matches by its name or by a `_<word>` suffix).
DEFAULT_GLOBAL_UNIQUE_COLUMNS = (
    "username",
    "email",
    "path",
    "slug",
    "domain",
    "fingerprint",
    "key",
    "token",
)
#: Claims GitLab documents (doc/development/cells/claims.md): what its cells claim today.
GITLAB_CLAIMS = (
    ("users", ("username",)),
    ("emails", ("email",)),
    ("organizations", ("path",)),
    ("routes", ("path",)),
    ("redirect_routes", ("path",)),
    ("keys", ("fingerprint",)),
    ("keys", ("fingerprint_sha256",)),
    ("gpg_keys", ("fingerprint",)),
    ("gpg_keys", ("primary_keyid",)),
)


class CellsConfigError(ValueError):
    """`cells:` or `rules:` is not valid; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A globally unique attribute registered with the Topology Service's claim service."""

    table: str
    columns: tuple[str, ...]
    type: str | None = None


@dataclass(frozen=True, slots=True)
class RuleSetting:
    """A rule's severity, everywhere or for some paths and tables (globs)."""

    code: str
    severity: str
    paths: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CellsConfig:
    mode: str = "auto"  # gitlab when the repository has GitLab's files, else generic
    roots: dict[str, str] = field(default_factory=dict)  # root table -> key column
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # class -> table globs
    default_class: str = "sharded"
    sharding_keys: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> col -> root
    databases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # database -> globs
    claims: tuple[Claim, ...] = ()
    global_unique_columns: tuple[str, ...] = DEFAULT_GLOBAL_UNIQUE_COLUMNS
    disallow_sequences: tuple[str, ...] = ("global",)  # classes whose tables use no sequences
    rules: tuple[RuleSetting, ...] = ()


_CELLS_KEYS = {
    "mode",
    "roots",
    "classes",
    "default_class",
    "sharding_keys",
    "databases",
    "claims",
    "global_unique_columns",
    "disallow_sequences",
}


def parse_cells(cells: Any, rules: Any, source: str) -> CellsConfig:
    """Validate and read the `cells:` and `rules:` sections (either may be None)."""
    cells = _mapping(cells, "cells", source)
    unknown = sorted(str(key) for key in set(cells) - _CELLS_KEYS)
    if unknown:
        raise CellsConfigError(f"{source}: cells: unknown key(s) {', '.join(unknown)}")
    mode = cells.get("mode", "auto")
    _choice(mode, MODES, "cells.mode", source)
    default_class = cells.get("default_class", "sharded")
    _choice(default_class, CLASSES, "cells.default_class", source)
    classes = {
        name: _strings(globs, f"cells.classes.{name}", source)
        for name, globs in _mapping(cells.get("classes"), "cells.classes", source).items()
    }
    for name in classes:
        _choice(name, CLASSES, "a class in cells.classes", source)
    return CellsConfig(
        mode=mode,
        roots={
            str(k): str(v) for k, v in _mapping(cells.get("roots"), "cells.roots", source).items()
        },
        classes=classes,
        default_class=default_class,
        sharding_keys=_sharding_keys(cells.get("sharding_keys"), source),
        databases={
            name: _strings(globs, f"cells.databases.{name}", source)
            for name, globs in _mapping(cells.get("databases"), "cells.databases", source).items()
        },
        claims=_claims(cells.get("claims"), source),
        global_unique_columns=_strings(
            cells.get("global_unique_columns", DEFAULT_GLOBAL_UNIQUE_COLUMNS),
            "cells.global_unique_columns",
            source,
        ),
        disallow_sequences=_strings(
            cells.get("disallow_sequences", ("global",)), "cells.disallow_sequences", source
        ),
        rules=_rule_settings(rules, source),
    )


def _mapping(value: Any, where: str, source: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CellsConfigError(f"{source}: {where} must be a mapping")
    return value


def _strings(value: Any, where: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise CellsConfigError(f"{source}: {where} must be a string or a list of strings")
    return tuple(value)


def _choice(value: Any, allowed: tuple[str, ...], where: str, source: str) -> None:
    if value not in allowed:
        raise CellsConfigError(
            f"{source}: {where} must be one of {', '.join(allowed)}, not {value!r}"
        )


def _sharding_keys(value: Any, source: str) -> dict[str, dict[str, str]]:
    keys: dict[str, dict[str, str]] = {}
    for table, key in _mapping(value, "cells.sharding_keys", source).items():
        columns = _mapping(key, f"cells.sharding_keys.{table}", source)
        keys[str(table)] = {str(column): str(root) for column, root in columns.items()}
    return keys


def _claims(value: Any, source: str) -> tuple[Claim, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CellsConfigError(f"{source}: cells.claims must be a list")
    claims = []
    for number, raw in enumerate(value, 1):
        where = f"cells.claims[{number}]"
        item = _mapping(raw, where, source)
        if "table" not in item or "columns" not in item:
            raise CellsConfigError(f"{source}: {where} needs `table` and `columns`")
        columns = _strings(item["columns"], f"{where}.columns", source)
        claims.append(Claim(str(item["table"]), columns, item.get("type")))
    return tuple(claims)


def _rule_settings(value: Any, source: str) -> tuple[RuleSetting, ...]:
    """`CELLS010: warning`, or `CELLS010: [{severity: off, tables: [legacy_*]}]`."""
    settings = []
    for code, setting in _mapping(value, "rules", source).items():
        items = setting if isinstance(setting, list) else [setting]
        for raw in items:
            entry = {"severity": raw} if isinstance(raw, str) else raw
            item = _mapping(entry, f"rules.{code}", source)
            severity = item.get("severity")
            _choice(severity, SEVERITIES, f"rules.{code}.severity", source)
            settings.append(
                RuleSetting(
                    str(code),
                    severity,
                    _strings(item.get("paths", ()), f"rules.{code}.paths", source),
                    _strings(item.get("tables", ()), f"rules.{code}.tables", source),
                )
            )
    return tuple(settings)
