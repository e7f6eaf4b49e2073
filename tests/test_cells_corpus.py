"""The Cells rules on real schemas: GitLab's dump with its real catalogue, Lago's in generic mode.

Skipped without the corpus (../shared/corpus); CI sets CELLSBOT_REQUIRE_CORPUS=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.build import SourceFile, build_schema
from analyzers.cells import CellsContext
from analyzers.cells_config import CellsConfig
from analyzers.config import parse_config
from analyzers.diff import diff_schemas
from analyzers.engine import run_rules
from analyzers.findings import Finding
from analyzers.gitlab import lazy_catalogue
from analyzers.rules import RuleContext

LAGO_CONFIG = """\
cells:
  roots:
    organizations: organization_id
  classes:
    cell_local: [schema_migrations, ar_internal_metadata]
"""


def _gitlab_files(corpus: Path, *, extra_docs: dict[str, str] | None = None) -> dict[str, str]:
    root = corpus / "gitlab"
    paths = [*root.glob("db/docs/*.yml"), *root.glob("db/gitlab_schemas/*.yaml")]
    paths.append(root / "config" / "gitlab_loose_foreign_keys.yml")
    files = {str(p.relative_to(root)): p.read_text() for p in paths}
    files.update({f"db/docs/{t}.yml": text for t, text in (extra_docs or {}).items()})
    return files


def _review(base_sql: str, head_sql: str, cells: CellsContext, changed_docs=()) -> list[Finding]:
    base = build_schema([SourceFile("db/structure.sql", base_sql)])
    head = build_schema([SourceFile("db/structure.sql", head_sql)])
    ctx = RuleContext(
        head=head.schema,
        base=base.schema,
        changes=diff_schemas(base.schema, head.schema),
        cells=cells,
        dictionary_changed=frozenset(changed_docs),
    )
    return run_rules(ctx).findings


@pytest.fixture(scope="module")
def gitlab_dump(corpus: Path) -> str:
    return (corpus / "gitlab" / "db" / "structure.sql").read_text()


@pytest.fixture(scope="module")
def everything_new(corpus: Path, gitlab_dump: str) -> list[Finding]:
    """GitLab's whole dump reviewed as if every table were new, with the real catalogue."""
    files = _gitlab_files(corpus)
    cells = CellsContext.gitlab(lazy_catalogue(files), CellsConfig())
    docs = [Path(p).stem for p in files if p.startswith("db/docs/")]
    return _review("", gitlab_dump, cells, docs)


def _of(findings: list[Finding], rule: str, table: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule and f.table == table]


def test_whole_gitlab_dump_reports_every_finding_at_a_file_and_line(everything_new):
    assert len(everything_new) > 800
    assert all(f.path and f.line > 0 and f.message for f in everything_new)
    assert {f.rule for f in everything_new} >= {"CELLS001", "CELLS010", "CELLS020", "CELLS030"}


def test_a_table_without_a_dictionary_file(everything_new, gitlab_dump):
    [finding] = _of(everything_new, "CELLS001", "abuse_events")
    line = gitlab_dump.split("\n").index("CREATE TABLE abuse_events (") + 1
    assert (finding.path, finding.line) == ("db/structure.sql", line)
    assert "table_name: abuse_events" in finding.fix.text


def test_a_unique_index_that_holds_in_one_cell_only(everything_new):
    # p_ci_builds (gitlab_ci) has a unique token index without project_id: tokens of two
    # projects on two cells can collide
    [finding] = _of(everything_new, "CELLS010", "p_ci_builds")
    assert finding.columns == ("token_encrypted", "partition_id")
    assert "CREATE UNIQUE INDEX CONCURRENTLY" in finding.fix.text
    assert "(project_id, token_encrypted, partition_id)" in finding.fix.text


def test_keys_that_are_unique_across_cells_are_not_reported(everything_new):
    # (merge_request_diff_id, relative_order): scoped by a reference to a row of one cell
    assert not _of(everything_new, "CELLS010", "merge_request_diff_files")
    assert not _of(everything_new, "CELLS010", "merge_requests")


def test_sequences_in_cluster_wide_tables(everything_new):
    [finding] = _of(everything_new, "CELLS030", "plans")
    assert finding.columns == ("id",)
    assert "gitlab_main_clusterwide disallows sequences" in finding.message


def test_foreign_keys_across_schemas(everything_new):
    crossing = _of(everything_new, "CELLS020", "merge_requests")
    assert crossing
    assert all("to users (gitlab_main_clusterwide)" in f.message for f in crossing)


def test_declared_plans_and_tracking_issues_satisfy_the_sharding_key_rule(everything_new):
    assert not _of(everything_new, "CELLS002", "merge_request_diff_files")  # desired_sharding_key
    assert not _of(everything_new, "CELLS002", "p_ci_builds")  # sharding_key_issue_url
    assert not _of(everything_new, "CELLS002", "ai_flow_schedules")  # sharding_key


def test_a_foreign_key_from_the_ci_database_to_main(corpus, gitlab_dump):
    files = _gitlab_files(corpus)
    cells = CellsContext.gitlab(lazy_catalogue(files), CellsConfig())
    head = gitlab_dump + (
        "\nALTER TABLE ONLY p_ci_builds\n"
        "    ADD CONSTRAINT fk_builds_user FOREIGN KEY (user_id) REFERENCES users(id);\n"
    )
    findings = _review(gitlab_dump, head, cells)
    [finding] = [f for f in findings if f.rule == "CELLS021"]
    assert (finding.table, finding.line) == ("p_ci_builds", len(gitlab_dump.split("\n")) + 1)
    assert "from p_ci_builds (ci database) to users (main database)" in finding.message
    assert finding.fix.text == (
        "p_ci_builds:\n  - table: users\n    column: user_id\n    on_delete: async_delete\n"
    )


def test_a_new_table_gets_its_sharding_key_inferred_from_a_real_parent(corpus, gitlab_dump):
    doc = (
        "table_name: merge_request_reviews\nfeature_categories: [code_review_workflow]\n"
        "milestone: '18.7'\ngitlab_schema: gitlab_main_org\n"
    )
    files = _gitlab_files(corpus, extra_docs={"merge_request_reviews": doc})
    cells = CellsContext.gitlab(lazy_catalogue(files), CellsConfig())
    head = gitlab_dump + (
        "\nCREATE TABLE merge_request_reviews (\n    id bigint NOT NULL,\n"
        "    merge_request_id bigint NOT NULL,\n    summary text\n);\n"
        "\nALTER TABLE ONLY merge_request_reviews\n"
        "    ADD CONSTRAINT fk_reviews_mr FOREIGN KEY (merge_request_id) "
        "REFERENCES merge_requests(id);\n"
    )
    findings = _review(gitlab_dump, head, cells, ["merge_request_reviews"])
    [finding] = [f for f in findings if f.rule == "CELLS002"]
    assert finding.path == "db/docs/merge_request_reviews.yml"
    assert finding.fix.kind == "desired_sharding_key"
    [(column, plan)] = finding.fix.data.items()
    assert plan["backfill_via"]["parent"]["table"] == "merge_requests"
    assert plan["backfill_via"]["parent"]["foreign_key"] == "merge_request_id"
    assert (column, plan["references"]) == ("target_project_id", "projects")


@pytest.fixture(scope="module")
def lago(corpus: Path) -> list[Finding]:
    dump = (corpus / "lago" / "db" / "structure.sql").read_text()
    cells = CellsContext.generic(parse_config(LAGO_CONFIG).cells)
    return _review("", dump, cells)


def test_lago_tables_without_organization_id_get_a_backfill_plan(lago):
    # applied_add_ons reaches organizations through customers.organization_id
    [finding] = _of(lago, "CELLS002", "applied_add_ons")
    assert finding.fix.kind == "sql"
    assert finding.fix.text.splitlines() == [
        "ALTER TABLE applied_add_ons ADD COLUMN organization_id uuid REFERENCES organizations;",
        "UPDATE applied_add_ons SET organization_id = p.organization_id FROM customers p "
        "WHERE p.id = applied_add_ons.customer_id;",
        "ALTER TABLE applied_add_ons ALTER COLUMN organization_id SET NOT NULL;",
    ]
    assert [f.table for f in lago if f.rule == "CELLS002" and f.fix.kind == "text"] == [
        "active_storage_attachments",
        "active_storage_blobs",
        "active_storage_variant_records",
        "password_resets",
        "user_devices",
        "users",
        "versions",
    ]


def test_lago_global_api_key_values(lago):
    [finding] = _of(lago, "CELLS010", "api_keys")
    assert finding.columns == ("value",)


def test_lago_organization_id_without_foreign_key(lago):
    problems = {f.message for f in _of(lago, "CELLS008", "coupons")}
    assert (
        "coupons.organization_id has no foreign key or loose foreign key to organizations"
        in problems
    )


def test_a_ci_table_reaches_projects_through_its_loose_foreign_key(everything_new):
    # ci_build_report_results lives in the ci database: no foreign key to projects, only the
    # loose foreign key in config/gitlab_loose_foreign_keys.yml
    [finding] = _of(everything_new, "CELLS001", "ci_build_report_results")
    assert "sharding_key:\n  project_id: projects\n" in finding.fix.text
