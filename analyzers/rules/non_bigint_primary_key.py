"""CELLS031: a new table's integer primary key is not 64-bit."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding, Fix
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS
from analyzers.rules.base import Example, Rule, RuleContext

SMALL_INTEGERS = {"int", "integer", "int4", "smallint", "int2"}


class NonBigintPrimaryKey(Rule):
    needs_sharding_model = False
    code = "CELLS031"
    name = "non-bigint-primary-key"
    severity = ERROR
    summary = "A new table's integer primary key is not 64-bit."
    rationale = (
        "Cells allocate ids from cluster-wide 64-bit sequence ranges: a cell's range starts far "
        "above 2^31, so a 32-bit id column overflows on its first insert."
    )
    remedy = "Use bigint (or bigserial) for the primary key."
    examples = (
        Example(
            "generic mode: serial (32-bit) primary key",
            ORGANIZATIONS + "CREATE TABLE tags (id serial PRIMARY KEY, "
            "organization_id bigint NOT NULL REFERENCES organizations);\n",
            expect=("tags",),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: bigint primary key",
            ORGANIZATIONS + "CREATE TABLE tags (id bigserial PRIMARY KEY, "
            "organization_id bigint NOT NULL REFERENCES organizations);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.new_tables:
            primary = table.primary_key
            if primary is None or len(primary.columns) != 1:
                continue
            column = table.columns.get(primary.columns[0])
            if column is None or (column.type or "").split("(")[0] not in SMALL_INTEGERS:
                continue
            text = f"ALTER TABLE {table.name} ALTER COLUMN {column.name} TYPE bigint;\n"
            yield self.finding(
                column.location,
                f"primary key {table.name}.{column.name} is {column.type}, not bigint: cell "
                "sequence ranges are 64-bit",
                table=table.name,
                columns=(column.name,),
                fix=Fix("sql", text, None, "declare the column bigint in CREATE TABLE"),
            )


RULE = NonBigintPrimaryKey()
