"""CELLS021: a foreign key joins tables that live in different databases."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.cells import UNKNOWN
from analyzers.findings import ERROR, Finding, Fix
from analyzers.model import Location
from analyzers.names import bare
from analyzers.rules.base import Example, Rule, RuleContext

_CONFIG = """\
cells:
  roots: {projects: project_id}
  databases:
    ci: ["ci_*"]
"""
_PROJECTS = "CREATE TABLE projects (id bigint PRIMARY KEY);\n"
SHARED = "shared"  # GitLab's gitlab_shared*: present in every database


class CrossDatabaseForeignKey(Rule):
    code = "CELLS021"
    name = "cross-database-foreign-key"
    severity = ERROR
    summary = "A foreign key joins tables that live in different databases (main, ci, sec)."
    rationale = (
        "PostgreSQL cannot enforce a foreign key across databases; GitLab decomposed its main, "
        "ci and sec databases and such references must be loose foreign keys, cleaned up "
        "asynchronously."
    )
    remedy = (
        "Replace the foreign key with a loose foreign key (config/gitlab_loose_foreign_keys.yml)."
    )
    examples = (
        Example(
            "generic mode: a ci table references projects in main",
            _PROJECTS + "CREATE TABLE ci_runs (id bigint PRIMARY KEY, "
            "project_id bigint NOT NULL REFERENCES projects);\n",
            expect=("ci_runs",),
            base_sql=_PROJECTS,
            config=_CONFIG,
        ),
        Example(
            "generic mode: the same database",
            _PROJECTS + "CREATE TABLE issues (id bigint PRIMARY KEY, "
            "project_id bigint NOT NULL REFERENCES projects);\n",
            base_sql=_PROJECTS,
            config=_CONFIG,
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for change in ctx.added("foreign_key_added"):
            source = ctx.policy(change.table or "")
            target_name = change.details.get("ref_table") or ""
            target = ctx.policy(target_name)
            if UNKNOWN in (source.klass, target.klass) or SHARED in (
                source.database,
                target.database,
            ):
                continue
            if source.database == target.database:
                continue
            columns = change.details.get("columns") or []
            text = f"{bare(change.table or '')}:\n" + "".join(
                f"  - table: {bare(target_name)}\n"
                f"    column: {column}\n"
                "    on_delete: async_delete\n"
                for column in columns
            )
            yield self.finding(
                Location(change.path, change.line),
                f"foreign key {change.name} from {change.table} ({source.database} database) to "
                f"{target_name} ({target.database} database) cannot be enforced: "
                "use a loose foreign key",
                table=change.table,
                columns=tuple(columns),
                fix=Fix("loose_foreign_key", text, None, "config/gitlab_loose_foreign_keys.yml"),
            )


RULE = CrossDatabaseForeignKey()
