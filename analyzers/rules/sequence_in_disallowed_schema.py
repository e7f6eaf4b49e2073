"""CELLS030: a sequence (serial, identity) in a schema that disallows sequences."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding, Fix
from analyzers.model import Location
from analyzers.rules._common import GENERIC_CONFIG
from analyzers.rules.base import Example, Rule, RuleContext


class SequenceInDisallowedSchema(Rule):
    code = "CELLS030"
    name = "sequence-in-disallowed-schema"
    severity = ERROR
    summary = "A serial, identity or new sequence for a table whose schema disallows sequences."
    rationale = (
        "Cluster-wide rows are written on several cells; each cell's own sequence hands out the "
        "same ids, so ids collide (GitLab sets `disallow_sequences` on gitlab_main_clusterwide "
        "and gitlab_shared_org for this reason)."
    )
    remedy = "Use a natural or composite key, or UUIDs, instead of a sequence."
    examples = (
        Example(
            "generic mode: a serial id on a global table",
            "CREATE TABLE plans (id serial PRIMARY KEY, name text);\n",
            expect=("plans",),
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a natural key on a global table",
            "CREATE TABLE plans (code text PRIMARY KEY, name text);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        seen: set[tuple[str, str]] = set()
        for change in ctx.changes:
            found = self._sequence(ctx, change)
            if found is None or found in seen:
                continue
            seen.add(found)
            table, column = found
            yield self.finding(
                Location(change.path, change.line),
                f"{table}.{column} takes its values from a sequence, but {ctx.policy(table).group} "
                "disallows sequences: ids would collide between cells",
                table=table,
                columns=(column,),
                fix=Fix("text", self.remedy, None, self.remedy),
            )

    def _sequence(self, ctx: RuleContext, change) -> tuple[str, str] | None:
        """(table, column) that the change gives a sequence, in a schema that disallows them."""
        if change.kind == "sequence_added" and change.details.get("owned_by"):
            table, _, column = change.details["owned_by"].rpartition(".")
        elif change.kind == "column_added" and change.details.get("identity"):
            table, column = change.table or "", change.name
        elif change.kind == "table_added":
            model = ctx.head.tables.get(change.name)
            identity = [c.name for c in model.columns.values() if c.identity] if model else []
            if not identity:
                return None
            table, column = change.name, identity[0]
        else:
            return None
        return (table, column) if ctx.policy(table).disallow_sequences else None


RULE = SequenceInDisallowedSchema()
