"""CELLS001: a new table needs a valid GitLab dictionary file."""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.findings import ERROR, Finding, Fix
from analyzers.gitlab import dictionary_problems
from analyzers.inference import infer_sharding_key
from analyzers.model import Location
from analyzers.names import bare
from analyzers.rules.base import Example, Rule, RuleContext

_SQL = "CREATE TABLE projects (id bigint PRIMARY KEY);\n"


class MissingDictionaryEntry(Rule):
    code = "CELLS001"
    name = "missing-dictionary-entry"
    severity = ERROR
    summary = "A new table has no valid `db/docs/<table>.yml` dictionary file."
    rationale = (
        "GitLab maps every table to a `gitlab_schema` through its dictionary file; without "
        "one the application raises `Could not find gitlab schema for table`, and the cells "
        "tooling cannot tell whether the table needs a sharding key."
    )
    remedy = (
        "Add `db/docs/<table>.yml` with `table_name`, `gitlab_schema`, `feature_categories` "
        "and `milestone` (and the sharding key); use only the allowed fields."
    )
    modes = ("gitlab",)
    examples = (
        Example(
            "a new table without a dictionary file",
            _SQL + "CREATE TABLE labels (id bigint PRIMARY KEY, project_id bigint NOT NULL);\n",
            expect=("labels",),
            base_sql=_SQL,
            mode="gitlab",
        ),
        Example(
            "a dictionary file with an unknown gitlab_schema and a field that is not allowed",
            _SQL + "CREATE TABLE labels (id bigint PRIMARY KEY, project_id bigint NOT NULL);\n",
            expect=("labels", "labels"),
            base_sql=_SQL,
            docs={
                "labels": "table_name: labels\nfeature_categories: [team_planning]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_orgs\nowner: me\n"
            },
            mode="gitlab",
        ),
        Example(
            "a complete dictionary file",
            _SQL + "CREATE TABLE labels (id bigint PRIMARY KEY, project_id bigint NOT NULL);\n",
            base_sql=_SQL,
            docs={
                "labels": "table_name: labels\nfeature_categories: [team_planning]\n"
                "milestone: '18.0'\ngitlab_schema: gitlab_main_org\n"
                "sharding_key:\n  project_id: projects\n"
            },
            mode="gitlab",
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        catalogue = ctx.cells.catalogue
        if catalogue is None:
            return
        known = set(catalogue.schemas)
        for table in ctx.new_tables:
            policy = ctx.policy(table.name)
            if policy.declared_in is None:
                yield self.finding(
                    table.location,
                    f"new table {table.name} has no dictionary file db/docs/{bare(table.name)}.yml",
                    table=table.name,
                    fix=_template(table.name, ctx),
                )
        for name in sorted(ctx.dictionary_changed):
            entry = catalogue.entries.get(name)
            if entry is None:
                continue
            for problem in dictionary_problems(entry, known):
                field = next((f for f in entry.lines if f in problem), None)
                at = Location(entry.path, entry.lines.get(field, 1) if field else 1)
                yield self.finding(at, f"{entry.path}: {problem}", table=name)


def _template(table: str, ctx: RuleContext) -> Fix:
    model = ctx.head.tables[table]
    candidates = infer_sharding_key(model, ctx)
    lines = [
        "---",
        f"table_name: {bare(table)}",
        "classes: []",
        "feature_categories: []",
        "description: ",
        "introduced_by_url: ",
        "milestone: ''",
        "gitlab_schema: gitlab_main_org",
    ]
    if candidates:
        lines.append(candidates[0].fix().text.rstrip("\n"))
    path = f"db/docs/{bare(table)}.yml"
    return Fix("dictionary", "\n".join(lines) + "\n", {"path": path}, f"create {path}")


RULE = MissingDictionaryEntry()
