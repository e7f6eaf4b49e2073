"""CELLS006: the sharding key may be NULL."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding, Fix
from analyzers.names import bare
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS, is_not_null
from analyzers.rules.base import Example, Rule, RuleContext


class ShardingKeyNullable(Rule):
    code = "CELLS006"
    name = "sharding-key-nullable"
    severity = ERROR
    summary = "The sharding key column is nullable and no check constraint makes it NOT NULL."
    rationale = (
        "A row whose sharding key is NULL belongs to no organization: no cell can own it and it "
        "cannot be moved. GitLab accepts NOT NULL or a `CHECK (col IS NOT NULL)` constraint, and "
        "a `num_nonnulls(…)` check for keys of several columns."
    )
    remedy = (
        "Make the column NOT NULL, or add a NOT VALID check constraint and validate it after "
        "backfilling."
    )
    examples = (
        Example(
            "generic mode: a nullable organization_id",
            ORGANIZATIONS + "CREATE TABLE invoices (id bigint PRIMARY KEY, "
            "organization_id bigint REFERENCES organizations);\n",
            expect=("invoices",),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a check constraint instead of NOT NULL",
            ORGANIZATIONS + "CREATE TABLE invoices (id bigint PRIMARY KEY, "
            "organization_id bigint REFERENCES organizations, "
            "CONSTRAINT check_org CHECK ((organization_id IS NOT NULL)));\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            columns = [c for c in policy.sharding_key or {} if c in table.columns]
            if not columns or not policy.requires_key or is_not_null(table, columns):
                continue
            if len(columns) == 1:
                [column] = columns
                name = f"check_{bare(table.name)}_{column}_not_null"[:63]
                text = (
                    f"ALTER TABLE {table.name} ADD CONSTRAINT {name} "
                    f"CHECK ({column} IS NOT NULL) NOT VALID;\n"
                    f"ALTER TABLE {table.name} VALIDATE CONSTRAINT {name};\n"
                )
            else:
                name = f"check_{bare(table.name)}_sharding_key"[:63]
                text = (
                    f"ALTER TABLE {table.name} ADD CONSTRAINT {name} "
                    f"CHECK (num_nonnulls({', '.join(columns)}) >= 1) NOT VALID;\n"
                )
            yield self.finding(
                table.columns[columns[0]].location,
                f"sharding key ({', '.join(columns)}) of {table.name} may be NULL",
                table=table.name,
                columns=tuple(columns),
                fix=Fix("sql", text, None, "constrain the key to NOT NULL without a long lock"),
            )


RULE = ShardingKeyNullable()
