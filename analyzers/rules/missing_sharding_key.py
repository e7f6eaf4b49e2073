"""CELLS002: a table that must be sharded declares no sharding key."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding, Fix
from analyzers.inference import sharding_key_fix
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS
from analyzers.rules.base import Example, Rule, RuleContext

_GITLAB_BASE = (
    "CREATE TABLE projects (id bigint PRIMARY KEY);\n"
    "CREATE TABLE issues (id bigint PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects);\n"
)
_ISSUES_DOC = (
    "table_name: issues\nfeature_categories: [team_planning]\nmilestone: '8.0'\n"
    "gitlab_schema: gitlab_main_org\nsharding_key:\n  project_id: projects\n"
)


class MissingShardingKey(Rule):
    code = "CELLS002"
    name = "missing-sharding-key"
    severity = ERROR
    summary = "A new table in a sharded schema declares no sharding key."
    rationale = (
        "Every row of an organization table must say which organization, namespace or project "
        "it belongs to, so that it can live in, and move with, exactly one cell. GitLab's "
        "sharding_key_spec fails for such a table after the fact; this finds it in review."
    )
    remedy = (
        "Declare `sharding_key` (a NOT NULL column referencing a root table) or, when the "
        "column must be added and backfilled first, `desired_sharding_key`. cellsbot infers "
        "both from the table's foreign keys; the fix shows the lines to paste."
    )
    examples = (
        Example(
            "issue_links reaches projects through issues: a backfill plan is inferred",
            _GITLAB_BASE + "CREATE TABLE issue_links (id bigint PRIMARY KEY, "
            "source_id bigint NOT NULL REFERENCES issues);\n",
            expect=("issue_links",),
            base_sql=_GITLAB_BASE,
            docs={
                "issues": _ISSUES_DOC,
                "issue_links": "table_name: issue_links\nfeature_categories: [team_planning]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_org\n",
            },
            mode="gitlab",
        ),
        Example(
            "a table with a declared sharding key",
            _GITLAB_BASE,
            base_sql="CREATE TABLE projects (id bigint PRIMARY KEY);\n",
            docs={"issues": _ISSUES_DOC},
            mode="gitlab",
        ),
        Example(
            "generic mode: invoices has no organization_id",
            ORGANIZATIONS + "CREATE TABLE customers (id bigint PRIMARY KEY, "
            "organization_id bigint NOT NULL REFERENCES organizations);\n"
            "CREATE TABLE invoices (id bigint PRIMARY KEY, "
            "customer_id bigint NOT NULL REFERENCES customers);\n",
            expect=("invoices",),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a global table needs no key",
            ORGANIZATIONS + "CREATE TABLE plans (id bigint PRIMARY KEY, name text);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for table in ctx.key_subjects:
            policy = ctx.policy(table.name)
            if not policy.requires_key:
                continue
            if policy.sharding_key or policy.desired_sharding_key or policy.key_issue_url:
                continue
            fix = sharding_key_fix(table, ctx)
            if ctx.cells.mode == "generic":
                fix = _generic_fix(fix, table.name, ctx)
            yield self.finding(
                ctx.declaration(policy, table),
                f"{table.name} is in {policy.group} and needs a sharding key; "
                + (fix.explanation or "none can be inferred"),
                table=table.name,
                fix=fix,
            )


def _key_type(ctx: RuleContext, root: str) -> str:
    """The type of the root's primary key (uuid in Lago, bigint in most Rails apps)."""
    model = ctx.head.tables.get(root)
    primary = model.primary_key if model else None
    if model and primary and len(primary.columns) == 1:
        return model.columns[primary.columns[0]].type or "bigint"
    return "bigint"


def _generic_fix(fix: Fix, table: str, ctx: RuleContext) -> Fix:
    """In generic mode a key is a column: declare it, or add and backfill it."""
    if fix.kind == "sharding_key":
        text = f"cells:\n  sharding_keys:\n    {table}:\n" + "".join(
            f"      {column}: {root}\n" for column, root in fix.data.items()
        )
        return Fix("config", text, fix.data, fix.explanation, fix.alternatives)
    if fix.kind == "desired_sharding_key":
        [(column, plan)] = fix.data.items()
        parent = plan["backfill_via"]["parent"]
        text = (
            f"ALTER TABLE {table} ADD COLUMN {column} {_key_type(ctx, plan['references'])} "
            f"REFERENCES {plan['references']};\n"
            f"UPDATE {table} SET {column} = p.{parent['sharding_key']} FROM {parent['table']} p "
            f"WHERE p.{parent.get('table_primary_key', 'id')} = {table}.{parent['foreign_key']};\n"
            f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL;\n"
        )
        return Fix("sql", text, fix.data, fix.explanation, fix.alternatives)
    return fix


RULE = MissingShardingKey()
