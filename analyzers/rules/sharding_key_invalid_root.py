"""CELLS004: the sharding key references a table that is not a root of the table's schema."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding
from analyzers.rules.base import Example, Rule, RuleContext

_SQL = (
    "CREATE TABLE projects (id bigint PRIMARY KEY);\n"
    "CREATE TABLE issues (id bigint PRIMARY KEY, project_id bigint NOT NULL);\n"
)


class ShardingKeyInvalidRoot(Rule):
    code = "CELLS004"
    name = "sharding-key-invalid-root"
    severity = ERROR
    summary = "The sharding key references a table that is not a sharding root of its schema."
    rationale = (
        "Cells move data by organization, namespace or project: only the schema's "
        "`sharding_root_tables` say which cell a row belongs to."
    )
    remedy = (
        "Reference one of the schema's root tables "
        "(for gitlab_main_org: projects, namespaces, organizations)."
    )
    examples = (
        Example(
            "a key that references issues",
            _SQL + "CREATE TABLE notes (id bigint PRIMARY KEY, issue_id bigint NOT NULL);\n",
            expect=("notes",),
            base_sql=_SQL,
            docs={
                "notes": "table_name: notes\nfeature_categories: [team_planning]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_org\n"
                "sharding_key:\n  issue_id: issues\n"
            },
            mode="gitlab",
        ),
        Example(
            "a key that references projects",
            _SQL + "CREATE TABLE notes (id bigint PRIMARY KEY, project_id bigint NOT NULL);\n",
            base_sql=_SQL,
            docs={
                "notes": "table_name: notes\nfeature_categories: [team_planning]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_org\n"
                "sharding_key:\n  project_id: projects\n"
            },
            mode="gitlab",
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            if not policy.roots:
                continue
            for column, root in (policy.sharding_key or {}).items():
                if root not in policy.roots:
                    yield self.finding(
                        ctx.declaration(policy, table),
                        f"sharding key {column} of {table.name} references {root}, which is not "
                        f"a root of {policy.group} ({', '.join(policy.roots)})",
                        table=table.name,
                        columns=(column,),
                    )


RULE = ShardingKeyInvalidRoot()
