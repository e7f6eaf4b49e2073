"""CELLS005: the sharding key column has no foreign key (or loose foreign key) to its root."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding, Fix
from analyzers.names import bare
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS
from analyzers.rules.base import Example, Rule, RuleContext


class ShardingKeyWithoutForeignKey(Rule):
    code = "CELLS005"
    name = "sharding-key-without-foreign-key"
    severity = ERROR
    summary = (
        "The sharding key column has neither a foreign key nor a loose foreign key to its root."
    )
    rationale = (
        "Without a reference, rows can point at organizations that do not exist, and deleting "
        "an organization leaves them behind in every cell. GitLab's spec requires a foreign key "
        "(partitioned tables excepted); tables in another database use a loose foreign key."
    )
    remedy = (
        "Add a foreign key to the root (NOT VALID, then VALIDATE), or a loose foreign key in "
        "config/gitlab_loose_foreign_keys.yml when the root lives in another database."
    )
    examples = (
        Example(
            "generic mode: organization_id without a foreign key",
            ORGANIZATIONS
            + "CREATE TABLE invoices (id bigint PRIMARY KEY, organization_id bigint NOT NULL);\n",
            expect=("invoices",),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: organization_id with a foreign key",
            ORGANIZATIONS + "CREATE TABLE invoices (id bigint PRIMARY KEY, "
            "organization_id bigint NOT NULL REFERENCES organizations);\n",
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: partitioned tables are excepted",
            ORGANIZATIONS + "CREATE TABLE events (id bigint, organization_id bigint NOT NULL) "
            "PARTITION BY HASH (organization_id);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            if table.partition_by or not policy.requires_key:
                continue
            loose = {(lfk.column, lfk.to_table) for lfk in ctx.cells.loose_foreign_keys(table.name)}
            for column, root in (policy.sharding_key or {}).items():
                if column not in table.columns:
                    continue  # CELLS003
                references = {
                    bare(fk.ref_table or "")
                    for fk in ctx.foreign_keys_from.get(table.name, ())
                    if fk.columns == [column]
                }
                if root in references or (column, root) in loose:
                    continue
                yield self.finding(
                    table.columns[column].location,
                    f"sharding key {table.name}.{column} has no foreign key to {root}",
                    table=table.name,
                    columns=(column,),
                    fix=_fix(ctx, table.name, column, root),
                )


def _fix(ctx: RuleContext, table: str, column: str, root: str) -> Fix:
    if ctx.policy(table).database != ctx.policy(root).database:
        text = (
            f"{bare(table)}:\n  - table: {root}\n    column: {column}\n"
            "    on_delete: async_delete\n"
        )
        return Fix(
            "loose_foreign_key",
            text,
            None,
            "the root is in another database: add a loose foreign key",
        )
    name = f"fk_{bare(table)}_{column}"[:63]
    text = (
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
        f"REFERENCES {root}(id) ON DELETE CASCADE NOT VALID;\n"
        f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};\n"
    )
    return Fix("sql", text, None, "add the foreign key without a long lock, then validate it")


RULE = ShardingKeyWithoutForeignKey()
