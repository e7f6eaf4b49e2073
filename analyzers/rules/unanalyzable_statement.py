"""CELLS090: a statement that may change the schema could not be analyzed."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import WARNING, Finding, Fix
from analyzers.model import Location
from analyzers.rules._common import GENERIC_CONFIG
from analyzers.rules.base import Example, Rule, RuleContext


class UnanalyzableStatement(Rule):
    needs_sharding_model = False
    code = "CELLS090"
    name = "unanalyzable-statement"
    severity = WARNING
    summary = "A statement that may change the schema could not be analyzed: a human must look."
    rationale = (
        "DO blocks and functions that run DDL, SQL the parser cannot read, or statements on "
        "objects the model does not know may add tables, keys or indexes the rules never see."
    )
    remedy = (
        "Review the statement by hand; prefer plain DDL, or suppress with "
        "`-- cellsbot:ignore CELLS090 <reason>` once checked."
    )
    examples = (
        Example(
            "generic mode: a DO block that adds a column",
            "CREATE TABLE t (id bigint PRIMARY KEY);\n"
            "DO $$ BEGIN EXECUTE 'ALTER TABLE t ADD COLUMN x int'; END $$;\n",
            expect=("",),
            base_sql="CREATE TABLE t (id bigint PRIMARY KEY);\n",
            config=GENERIC_CONFIG,
        ),
        Example(
            "generic mode: a DO block that only updates rows",
            "CREATE TABLE t (id bigint PRIMARY KEY);\nDO $$ BEGIN UPDATE t SET id = id; END $$;\n",
            base_sql="CREATE TABLE t (id bigint PRIMARY KEY);\n",
            config=GENERIC_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for item, new in ctx.unanalyzable:
            if not new:
                continue
            yield self.finding(
                Location(item.path, item.line),
                f"could not analyze this statement ({item.reason}); check by hand what it changes",
                end_line=item.end_line,
                fix=Fix("text", self.remedy, None, self.remedy),
            )


RULE = UnanalyzableStatement()
