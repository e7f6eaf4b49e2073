"""CELLS003: a declared sharding key column is not a column of the table."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding
from analyzers.rules.base import Example, Rule, RuleContext

_SQL = "CREATE TABLE projects (id bigint PRIMARY KEY);\n"


class ShardingKeyColumnMissing(Rule):
    code = "CELLS003"
    name = "sharding-key-column-missing"
    severity = ERROR
    summary = "The declared sharding key names a column the table does not have."
    rationale = "A sharding key that is not a column shards nothing: rows cannot be routed."
    remedy = "Fix the column name in the declaration, or add the column in this change."
    examples = (
        Example(
            "the dictionary names project_id, the table has proj_id",
            _SQL + "CREATE TABLE labels (id bigint PRIMARY KEY, proj_id bigint NOT NULL);\n",
            expect=("labels",),
            base_sql=_SQL,
            docs={
                "labels": "table_name: labels\nfeature_categories: [team_planning]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_org\n"
                "sharding_key:\n  project_id: projects\n"
            },
            mode="gitlab",
        ),
        Example(
            "generic mode: a configured key that exists",
            "CREATE TABLE organizations (id bigint PRIMARY KEY);\n"
            "CREATE TABLE wallets (id bigint PRIMARY KEY, org bigint NOT NULL "
            "REFERENCES organizations);\n",
            config="cells:\n  roots: {organizations: organization_id}\n"
            "  sharding_keys: {wallets: {org: organizations}}\n",
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            for column in policy.sharding_key or {}:
                if column not in table.columns:
                    yield self.finding(
                        ctx.declaration(policy, table),
                        f"sharding key column {column} is not a column of {table.name}",
                        table=table.name,
                        columns=(column,),
                    )


RULE = ShardingKeyColumnMissing()
