"""The sharding model of a revision: what each table is under cells, in GitLab or generic mode.

GitLab mode reads GitLab's own files (`db/docs/*.yml`, `db/gitlab_schemas/*.yaml`,
`config/gitlab_loose_foreign_keys.yml`); generic mode reads `cells:` in `.cellsbot.yml`. The
rules see one interface, `CellsContext`, either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from analyzers.cells_config import GITLAB_CLAIMS, CellsConfig, Claim
from analyzers.config import matches_any
from analyzers.gitlab import GitLabCatalogue, LooseForeignKey, database_of
from analyzers.model import Schema
from analyzers.names import bare

SHARDED = "sharded"
GLOBAL = "global"
CELL_LOCAL = "cell_local"
UNKNOWN = "unknown"  # GitLab mode: a table without a dictionary entry

#: The column a table references each GitLab root by.
GITLAB_ROOT_COLUMNS = {
    "projects": "project_id",
    "namespaces": "namespace_id",
    "organizations": "organization_id",
    "users": "user_id",
}
#: Which roots to prefer for a sharding key, most specific first (organization_id is only for
#: root-level models, per GitLab's sharding guidelines).
ROOT_PREFERENCE = ("projects", "namespaces", "users", "organizations")
DEFAULT_GITLAB_ROOTS = ("projects", "namespaces", "organizations")


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """What the sharding model says about one table."""

    table: str
    klass: str  # SHARDED, GLOBAL, CELL_LOCAL or UNKNOWN
    group: str | None  # gitlab_schema in GitLab mode, the class in generic mode
    database: str
    roots: tuple[str, ...]  # tables its sharding key may reference
    sharding_key: dict[str, str] | None = None  # declared: column -> root table
    desired_sharding_key: dict[str, Any] | None = None
    key_issue_url: str | None = None
    disallow_sequences: bool = False
    fk_groups: frozenset[str] | None = None  # groups foreign keys may point into; None: any
    declared_in: str | None = None  # where the key is declared (dictionary file, config)
    declared_line: int | None = None
    exempt: bool = False

    @property
    def requires_key(self) -> bool:
        return self.klass == SHARDED and not self.exempt


@dataclass
class CellsContext:
    """The sharding model of one revision, for the rules."""

    mode: str  # "gitlab" or "generic"
    config: CellsConfig
    catalogue: GitLabCatalogue | None = None
    _policies: dict[str, TablePolicy] = field(default_factory=dict)

    @classmethod
    def gitlab(cls, catalogue: GitLabCatalogue, config: CellsConfig) -> CellsContext:
        return cls("gitlab", config, catalogue)

    @classmethod
    def generic(cls, config: CellsConfig) -> CellsContext:
        return cls("generic", config)

    @property
    def configured(self) -> bool:
        """Whether there is a sharding model: GitLab's files, or roots in `.cellsbot.yml`."""
        return self.mode == "gitlab" or bool(self.config.roots)

    @cached_property
    def claims(self) -> tuple[Claim, ...]:
        builtin = tuple(Claim(t, c) for t, c in GITLAB_CLAIMS) if self.mode == "gitlab" else ()
        return builtin + self.config.claims

    @cached_property
    def root_columns(self) -> dict[str, str]:
        """Root table -> the column other tables reference it by."""
        if self.mode == "gitlab":
            return {**GITLAB_ROOT_COLUMNS, **self.config.roots}
        return dict(self.config.roots)

    def root_rank(self, root: str) -> int:
        order = [r for r in ROOT_PREFERENCE if r in self.root_columns]
        order += [r for r in self.root_columns if r not in order]
        return order.index(root) if root in order else len(order)

    def loose_foreign_keys(self, table: str) -> list[LooseForeignKey]:
        if self.catalogue is None:
            return []
        return list(self.catalogue.loose_foreign_keys.get(bare(table), ()))

    def policy(self, table: str, model: Schema | None = None) -> TablePolicy:
        """The policy of `table`; generic mode reads convention keys from `model`'s columns."""
        key = table if model is None else f"{table}\0{id(model)}"
        policy = self._policies.get(key)
        if policy is None:
            if self.mode == "gitlab":
                policy = self._gitlab_policy(table)
            else:
                policy = self._generic_policy(table, model)
            self._policies[key] = policy
        return policy

    def is_root(self, table: str) -> bool:
        return bare(table) in self.root_columns

    # GitLab mode ------------------------------------------------------------------------

    def _gitlab_policy(self, table: str) -> TablePolicy:
        assert self.catalogue is not None
        entry = self.catalogue.entry_for(bare(table))
        if entry is None or not entry.gitlab_schema:  # inference still tries the usual roots
            return TablePolicy(table, UNKNOWN, None, "main", DEFAULT_GITLAB_ROOTS)
        schema = self.catalogue.schemas.get(entry.gitlab_schema)
        requires = bool(schema and schema.require_sharding_key)
        roots = tuple(schema.sharding_root_tables) if schema else ()
        if requires and not roots:  # gitlab_ci and gitlab_sec list none: GitLab's docs give these
            roots = DEFAULT_GITLAB_ROOTS
        klass = (
            SHARDED if requires else GLOBAL if "clusterwide" in entry.gitlab_schema else CELL_LOCAL
        )
        groups = None
        if schema is not None:
            groups = frozenset(
                {
                    entry.gitlab_schema,
                    *schema.allow_cross_foreign_keys,
                    *entry.allow_cross_foreign_keys,
                }
            )
        return TablePolicy(
            table=table,
            klass=klass,
            group=entry.gitlab_schema,
            database=database_of(entry.gitlab_schema),
            roots=roots,
            sharding_key=dict(entry.sharding_key) if entry.sharding_key else None,
            desired_sharding_key=entry.desired_sharding_key,
            key_issue_url=entry.sharding_key_issue_url,
            disallow_sequences=bool(schema and schema.disallow_sequences),
            fk_groups=groups,
            declared_in=entry.path,
            declared_line=next(
                (
                    entry.lines[k]
                    for k in ("sharding_key", "desired_sharding_key", "gitlab_schema")
                    if k in entry.lines
                ),
                1,
            ),
            exempt=entry.exempt_from_sharding,
        )

    # generic mode -----------------------------------------------------------------------

    def _generic_policy(self, table: str, model: Schema | None) -> TablePolicy:
        config = self.config
        name = bare(table)
        klass = next(
            (k for k, globs in config.classes.items() if matches_any(name, globs)),
            config.default_class,
        )
        database = next(
            (db for db, globs in config.databases.items() if matches_any(name, globs)), "main"
        )
        declared = config.sharding_keys.get(name)
        key = declared
        if key is None and model is not None and table in model.tables:
            columns = model.tables[table].columns
            key = {c: root for root, c in self.root_columns.items() if c in columns} or None
        allowed = {SHARDED: {SHARDED, GLOBAL}, GLOBAL: {GLOBAL}, CELL_LOCAL: {CELL_LOCAL, GLOBAL}}
        return TablePolicy(
            table=table,
            klass=klass,
            group=klass,
            database=database,
            roots=tuple(self.root_columns),
            sharding_key=key,
            disallow_sequences=klass in config.disallow_sequences,
            fk_groups=frozenset(allowed.get(klass, {klass})),
            declared_in=".cellsbot.yml" if declared else None,
            exempt=self.is_root(name),
        )
