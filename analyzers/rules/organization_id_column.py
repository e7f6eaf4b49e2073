"""CELLS008: organization_id must be NOT NULL, without default, and reference organizations."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding
from analyzers.model import Table
from analyzers.names import bare
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS, is_not_null
from analyzers.rules.base import Example, Rule, RuleContext

COLUMN = "organization_id"


class OrganizationIdColumn(Rule):
    code = "CELLS008"
    name = "organization-id-column"
    severity = ERROR
    summary = (
        "An `organization_id` column is nullable, has a default, or does not reference "
        "organizations."
    )
    rationale = (
        "`organization_id` is how rows are tied to an organization, in any table. A NULL or a "
        "default (usually the first organization) silently puts rows in the wrong cell; GitLab's "
        "sharding spec checks every such column."
    )
    remedy = (
        "Make it NOT NULL (or add a NOT NULL check), drop the default, and add a foreign key "
        "(or loose foreign key) to organizations."
    )
    examples = (
        Example(
            "generic mode: a default of 1 and no foreign key",
            ORGANIZATIONS + "CREATE TABLE webhooks (id bigint PRIMARY KEY, "
            "organization_id bigint DEFAULT 1 NOT NULL);\n",
            expect=("webhooks", "webhooks"),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a proper organization_id",
            ORGANIZATIONS + "CREATE TABLE webhooks (id bigint PRIMARY KEY, "
            "organization_id bigint NOT NULL REFERENCES organizations);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if "organizations" not in ctx.cells.root_columns:
            return
        tables = {t.name: t for t in ctx.new_tables if COLUMN in t.columns}
        for change in ctx.changes:
            if (
                change.object == "column"
                and change.name == COLUMN
                and change.action in ("added", "altered")
            ):
                table = ctx.head.tables.get(change.table or "")
                if table is not None and not table.partition_of:
                    tables[table.name] = table
        for table in tables.values():
            yield from self._problems(ctx, table)

    def _problems(self, ctx: RuleContext, table: Table) -> Iterator[Finding]:
        column = table.columns[COLUMN]
        if not is_not_null(table, [COLUMN]):
            yield self.finding(
                column.location,
                f"{table.name}.{COLUMN} is nullable",
                table=table.name,
                columns=(COLUMN,),
            )
        if column.default is not None:
            yield self.finding(
                column.location,
                f"{table.name}.{COLUMN} has a default ({column.default}): "
                "rows would silently join that organization",
                table=table.name,
                columns=(COLUMN,),
            )
        references = {
            bare(fk.ref_table or "")
            for fk in ctx.foreign_keys_from.get(table.name, ())
            if fk.columns == [COLUMN]
        }
        loose = {
            lfk.to_table for lfk in ctx.cells.loose_foreign_keys(table.name) if lfk.column == COLUMN
        }
        if "organizations" not in references | loose:
            yield self.finding(
                column.location,
                f"{table.name}.{COLUMN} has no foreign key or loose foreign key to organizations",
                table=table.name,
                columns=(COLUMN,),
            )


RULE = OrganizationIdColumn()
