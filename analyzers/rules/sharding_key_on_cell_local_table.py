"""CELLS007: a cell-local or cluster-wide table declares a sharding key."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.cells import CELL_LOCAL, GLOBAL
from analyzers.findings import ERROR, Finding, Fix
from analyzers.rules.base import Example, Rule, RuleContext

_SQL = "CREATE TABLE projects (id bigint PRIMARY KEY);\n"


class ShardingKeyOnCellLocalTable(Rule):
    code = "CELLS007"
    name = "sharding-key-on-cell-local-table"
    severity = ERROR
    summary = "A table in a cell-local or cluster-wide schema declares a sharding key."
    rationale = (
        "Cell-local data never moves between cells and cluster-wide data is on every cell: a "
        "sharding key there says the opposite, and GitLab's spec rejects it."
    )
    remedy = (
        "Move the table to an organization schema (e.g. gitlab_main_org), or remove the "
        "sharding key."
    )
    examples = (
        Example(
            "a cell-local table with a sharding key",
            _SQL
            + "CREATE TABLE zoekt_tasks (id bigint PRIMARY KEY, project_id bigint NOT NULL);\n",
            expect=("zoekt_tasks",),
            base_sql=_SQL,
            docs={
                "zoekt_tasks": "table_name: zoekt_tasks\nfeature_categories: [global_search]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_cell_local\n"
                "sharding_key:\n  project_id: projects\n"
            },
            mode="gitlab",
        ),
        Example(
            "a cell-local table without one",
            _SQL + "CREATE TABLE zoekt_nodes (id bigint PRIMARY KEY);\n",
            base_sql=_SQL,
            docs={
                "zoekt_nodes": "table_name: zoekt_nodes\nfeature_categories: [global_search]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_cell_local\n"
            },
            mode="gitlab",
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            if policy.klass in (CELL_LOCAL, GLOBAL) and policy.sharding_key:
                yield self.finding(
                    ctx.declaration(policy, table),
                    f"{table.name} is in {policy.group}, which is not sharded, but declares a "
                    f"sharding key",
                    table=table.name,
                    columns=tuple(policy.sharding_key),
                    fix=Fix("text", "gitlab_schema: gitlab_main_org\n", None, self.remedy),
                )


RULE = ShardingKeyOnCellLocalTable()
