"""CELLS010: a new unique constraint or index on a sharded table leaves out the sharding key."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.cells import SHARDED
from analyzers.diff import Change
from analyzers.findings import ERROR, Finding, Fix
from analyzers.inference import infer_sharding_key
from analyzers.model import EXCLUDE, PRIMARY_KEY, UNIQUE
from analyzers.names import bare
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS, global_column, scoping_columns
from analyzers.rules.base import Example, Rule, RuleContext

_CUSTOMERS = (
    ORGANIZATIONS + "CREATE TABLE customers (id bigint PRIMARY KEY, "
    "organization_id bigint NOT NULL REFERENCES organizations, external_id text NOT NULL);\n"
)


class UniqueNotScopedByShardingKey(Rule):
    code = "CELLS010"
    name = "unique-not-scoped-by-sharding-key"
    severity = ERROR
    summary = (
        "A new unique constraint or index on a sharded table does not include the sharding key."
    )
    rationale = (
        "Each cell has its own database: a UNIQUE index there is unique inside one cell only. Two "
        "organizations on two cells can insert the same value, and moving one of them to the "
        "other cell then fails. A primary key on `id` alone is fine: ids come from cluster-wide "
        "sequence ranges."
    )
    remedy = (
        "Scope the index by the sharding key (`UNIQUE (organization_id, external_id)`), or, for "
        "a value that must be unique across all cells, claim it in the Topology Service (CELLS011)."
    )
    examples = (
        Example(
            "generic mode: a unique external_id across organizations",
            _CUSTOMERS
            + "CREATE UNIQUE INDEX index_customers_on_external_id ON customers (external_id);\n",
            expect=("customers",),
            base_sql=_CUSTOMERS,
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: unique within an organization",
            _CUSTOMERS + "CREATE UNIQUE INDEX index_customers_on_org_and_external_id "
            "ON customers (organization_id, external_id);\n",
            base_sql=_CUSTOMERS,
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a primary key on id alone",
            ORGANIZATIONS + "CREATE TABLE taxes (id bigint PRIMARY KEY, "
            "organization_id bigint NOT NULL REFERENCES organizations);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for change in ctx.changes:
            unique = _unique_columns(ctx, change)
            if unique is None:
                continue
            table_name, columns, where = unique
            table = ctx.head.tables.get(table_name)
            policy = ctx.policy(table_name)
            if (
                table is None
                or table.partition_of
                or policy.klass != SHARDED
                or ctx.cells.is_root(bare(table_name))
            ):
                continue
            if scoping_columns(ctx, table) & set(columns):
                continue
            if any(global_column(c, ctx.cells.config.global_unique_columns) for c in columns):
                continue  # a globally meaningful value: CELLS011 says to claim it
            key = list(policy.sharding_key or {})
            if not key:
                inferred = infer_sharding_key(table, ctx)
                key = [inferred[0].column] if inferred else []
            if not key:
                continue  # no sharding key to scope by: CELLS002
            yield self.finding(
                _location(change),
                f"{change.object.replace('_', ' ')} {change.name} makes "
                f"({', '.join(columns)}) unique within one cell only: "
                f"it does not include the sharding key {', '.join(key)}",
                table=table_name,
                columns=tuple(columns),
                fix=_scoped(change, table_name, key, columns, where),
            )


def _unique_columns(ctx: RuleContext, change: Change) -> tuple[str, list[str], str | None] | None:
    """(table, columns, predicate) of a unique index or key the change adds or makes unique."""
    if change.object == "index" and change.action in ("added", "altered"):
        index = ctx.head.indexes.get(change.name)
        if index is None or not index.unique or index.parent or index.inherited:
            return None
        if change.action == "altered" and "unique" not in change.details:
            return None
        return index.table, [c.split(" ")[0].strip('"') for c in index.columns], index.where
    if change.object == "constraint" and change.action == "added":
        kind = change.details.get("type")
        columns = change.details.get("columns") or []
        if kind in (PRIMARY_KEY, UNIQUE, EXCLUDE) and change.table:
            return change.table, list(columns), None
    return None


def _location(change: Change):
    from analyzers.model import Location  # noqa: PLC0415

    return Location(change.path, change.line)


def _scoped(
    change: Change, table: str, key: list[str], columns: list[str], where: str | None
) -> Fix:
    scoped = key + [c for c in columns if c not in key]
    name = f"index_{bare(table)}_on_{'_and_'.join(scoped)}"[:63]
    predicate = f" WHERE {where}" if where else ""
    text = (
        f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} "
        f"USING btree ({', '.join(scoped)}){predicate};\n"
    )
    if change.object == "index":
        text += f"DROP INDEX CONCURRENTLY {change.name};\n"
    else:
        text += f"ALTER TABLE {table} DROP CONSTRAINT {change.name};\n"
    return Fix("sql", text, {"columns": scoped}, "make it unique per " + ", ".join(key))


RULE = UniqueNotScopedByShardingKey()
