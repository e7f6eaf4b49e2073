"""CELLS009: a leaf table is sharded by organization_id although a more specific root is at hand."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import WARNING, Finding
from analyzers.inference import infer_sharding_key
from analyzers.rules.base import Example, Rule, RuleContext

_BASE = (
    "CREATE TABLE organizations (id bigint PRIMARY KEY);\n"
    "CREATE TABLE projects (id bigint PRIMARY KEY, organization_id bigint NOT NULL);\n"
)
_TABLE = (
    "CREATE TABLE issue_votes (id bigint PRIMARY KEY, "
    "organization_id bigint NOT NULL REFERENCES organizations, "
    "project_id bigint NOT NULL REFERENCES projects);\n"
)


def _doc(key: str) -> str:
    return (
        "table_name: issue_votes\nfeature_categories: [team_planning]\nmilestone: '18.7'\n"
        f"gitlab_schema: gitlab_main_org\nsharding_key:\n  {key}\n"
    )


class OrganizationKeyOnLeafTable(Rule):
    code = "CELLS009"
    name = "organization-key-on-leaf-table"
    severity = WARNING
    summary = "A table is sharded by organization_id although it belongs to a project or namespace."
    rationale = (
        "GitLab reserves `organization_id` as a sharding key for root-level models: a leaf "
        "table that belongs to a project or a namespace should follow it (`project_id`, "
        "`namespace_id`), so that it moves with its parent when a project or group is moved."
    )
    remedy = "Shard the table by the more specific key the inference proposes."
    modes = ("gitlab",)
    examples = (
        Example(
            "issue_votes references projects but is sharded by organization",
            _BASE + _TABLE,
            expect=("issue_votes",),
            base_sql=_BASE,
            docs={"issue_votes": _doc("organization_id: organizations")},
            mode="gitlab",
        ),
        Example(
            "issue_votes sharded by its project",
            _BASE + _TABLE,
            base_sql=_BASE,
            docs={"issue_votes": _doc("project_id: projects")},
            mode="gitlab",
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            if set((policy.sharding_key or {}).values()) != {"organizations"}:
                continue
            better = [
                c
                for c in infer_sharding_key(table, ctx)
                if c.kind == "sharding_key" and c.root in ("projects", "namespaces")
            ]
            if not better:
                continue
            yield self.finding(
                ctx.declaration(policy, table),
                f"{table.name} is sharded by organization_id, but {better[0].explanation}",
                table=table.name,
                columns=(better[0].column,),
                fix=better[0].fix(),
            )


RULE = OrganizationKeyOnLeafTable()
