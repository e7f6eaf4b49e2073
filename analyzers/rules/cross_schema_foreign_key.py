"""CELLS020: a foreign key joins tables of schemas that may not reference each other."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.cells import UNKNOWN
from analyzers.findings import ERROR, Finding, Fix
from analyzers.model import Location
from analyzers.rules._common import GENERIC_CONFIG, ORGANIZATIONS
from analyzers.rules.base import Example, Rule, RuleContext


class CrossSchemaForeignKey(Rule):
    code = "CELLS020"
    name = "cross-schema-foreign-key"
    severity = ERROR
    summary = "A foreign key joins tables of schemas (classes) that may not reference each other."
    rationale = (
        "Cell-local tables stay in their cell while organization tables move between cells, and "
        "cluster-wide tables are copied everywhere: a foreign key across them breaks when either "
        "side moves. GitLab lists allowed targets in each schema's `allow_cross_foreign_keys`."
    )
    remedy = (
        "Use a loose foreign key, move one table to a compatible schema, or drop the reference."
    )
    examples = (
        Example(
            "generic mode: a global table references a sharded one",
            ORGANIZATIONS + "CREATE TABLE plans (id bigint PRIMARY KEY, "
            "owner_id bigint REFERENCES organizations);\n",
            expect=("plans",),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a sharded table references a global one",
            ORGANIZATIONS + "CREATE TABLE plans (id bigint PRIMARY KEY);\n"
            "CREATE TABLE subscriptions (id bigint PRIMARY KEY, organization_id bigint NOT NULL "
            "REFERENCES organizations, plan_id bigint REFERENCES plans);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for change in ctx.added("foreign_key_added"):
            source = ctx.policy(change.table or "")
            target = ctx.policy(change.details.get("ref_table") or "")
            if UNKNOWN in (source.klass, target.klass) or source.fk_groups is None:
                continue
            if target.group in source.fk_groups:
                continue
            yield self.finding(
                Location(change.path, change.line),
                f"foreign key {change.name} from {change.table} ({source.group}) to "
                f"{target.table} ({target.group}) crosses schemas that may not reference "
                "each other",
                table=change.table,
                columns=tuple(change.details.get("columns") or ()),
                fix=Fix("text", self.remedy, None, self.remedy),
            )


RULE = CrossSchemaForeignKey()
