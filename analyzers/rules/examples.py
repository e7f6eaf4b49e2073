"""Run a rule's examples: each one builds its base and head schemas and checks the rule."""

from __future__ import annotations

from collections.abc import Mapping

from analyzers.build import SourceFile, build_schema
from analyzers.cells import CellsContext
from analyzers.config import parse_config
from analyzers.diff import diff_schemas
from analyzers.findings import Finding
from analyzers.gitlab import GitLabCatalogue
from analyzers.rules.base import Example, Rule, RuleContext

DUMP = "db/structure.sql"


def example_context(example: Example, *, gitlab_files: Mapping[str, str] = ()) -> RuleContext:
    """The context of an example: `gitlab_files` are GitLab's schema catalogue (GitLab mode)."""
    base = build_schema([SourceFile(DUMP, example.base_sql)])
    head = build_schema([SourceFile(DUMP, example.sql)])
    config = parse_config(example.config).cells
    if example.mode == "gitlab":
        docs = {f"db/docs/{table}.yml": text for table, text in example.docs.items()}
        cells = CellsContext.gitlab(
            GitLabCatalogue.from_files({**dict(gitlab_files), **docs}), config
        )
    else:
        cells = CellsContext.generic(config)
    known = {(i.path, i.excerpt, i.reason) for i in base.unanalyzable}
    unanalyzable = [(i, (i.path, i.excerpt, i.reason) not in known) for i in head.unanalyzable]
    return RuleContext(
        head=head.schema,
        base=base.schema,
        changes=diff_schemas(base.schema, head.schema),
        cells=cells,
        unanalyzable=unanalyzable,
        dictionary_changed=frozenset(example.docs),
    )


def run_example(
    rule: Rule, example: Example, *, gitlab_files: Mapping[str, str] = ()
) -> list[Finding]:
    return list(rule.check(example_context(example, gitlab_files=gitlab_files)))
