"""The analyzer on real schema files from public projects (../shared/corpus).

Skipped when the corpus is absent (a user's clone); CI sets CELLSBOT_REQUIRE_CORPUS=1.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

from analyzers.build import BuildResult, SourceFile, build_schema
from analyzers.config import SchemaFiles, select_files

DEFAULT_FILES = SchemaFiles()


@cache
def _build_project(root: Path, files: SchemaFiles = DEFAULT_FILES) -> BuildResult:
    paths = [os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs]
    selection = select_files(paths, files)
    return build_schema([SourceFile(p, (root / p).read_text()) for p in selection.paths])


@pytest.fixture(scope="module")
def gitlab(corpus: Path) -> BuildResult:
    return _build_project(corpus / "gitlab")


@pytest.fixture(scope="module")
def lago(corpus: Path) -> BuildResult:
    return _build_project(corpus / "lago")


@pytest.fixture(scope="module")
def lemmy(corpus: Path) -> BuildResult:
    return _build_project(corpus / "lemmy")


def test_gitlab_dump_is_fully_modeled(gitlab: BuildResult):
    stats = gitlab.stats
    assert (stats.files, stats.statements, stats.unanalyzable) == (1, 11336, 0)
    assert stats.modeled + stats.no_effect == 11336
    assert gitlab.unanalyzable == []
    assert len(gitlab.schema.tables) == 1048


def test_gitlab_merge_requests_table(gitlab: BuildResult):
    table = gitlab.schema.tables["merge_requests"]
    assert list(table.columns)[:5] == [
        "id",
        "target_branch",
        "source_branch",
        "source_project_id",
        "author_id",
    ]
    assert (table.columns["target_branch"].type, table.columns["target_branch"].nullable) == (
        "varchar",
        False,
    )
    assert table.primary_key.columns == ["id"]
    assert gitlab.schema.sequences["merge_requests_id_seq"].owned_by == ("merge_requests", "id")


def test_gitlab_check_and_foreign_key_of_description_versions(gitlab: BuildResult):
    constraints = gitlab.schema.tables["description_versions"].constraints
    check = constraints["check_76c1eb7122"]  # num_nonnulls(epic_id, issue_id, merge_request_id) = 1
    assert (check.columns, check.not_valid) == (["epic_id", "issue_id", "merge_request_id"], True)
    assert check.location.line == 28773
    fk = constraints["fk_rails_12b144011c"]
    assert (fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete) == (
        ["merge_request_id"],
        "merge_requests",
        ["id"],
        "CASCADE",
    )
    assert fk.location.line == 43593


def test_gitlab_partitioned_indexes_and_attached_partitions(gitlab: BuildResult):
    schema = gitlab.schema
    parent = schema.indexes["index_issue_stage_events_project_duration"]
    assert (parent.table, parent.only) == ("analytics_cycle_analytics_issue_stage_events", True)
    children = [i for i in schema.indexes.values() if i.parent == parent.name]
    assert len(children) == 32
    assert {i.table.split(".")[0] for i in children} == {"gitlab_partitions_static"}
    assert schema.tables["p_ci_builds"].partition_by == "LIST (partition_id)"
    assert "ci_builds" in schema.partitions_of("p_ci_builds")


def test_gitlab_unique_indexes_and_triggers(gitlab: BuildResult):
    schema = gitlab.schema
    unique = sorted(i.name for i in schema.indexes_of("users") if i.unique)
    assert "index_users_on_email" in unique
    assert "index_users_on_confirmation_token" in unique
    assert "index_users_on_username" not in unique  # a plain index in GitLab's dump
    trigger = schema.triggers[("ci_runner_machines", "assign_ci_runner_machines_id_trigger")]
    assert (trigger.function, trigger.when) == (
        "assign_ci_runner_machines_id_value",
        "BEFORE INSERT FOR EACH ROW",
    )


def test_lago_dump_with_on_only_and_nulls_not_distinct(lago: BuildResult):
    assert lago.unanalyzable == []
    schema = lago.schema
    index = schema.indexes["idx_pif_values_on_filter_metric_filter_and_value"]
    assert (index.table, index.unique, index.nulls_not_distinct, index.where) == (
        "product_filter_values",
        True,
        True,
        "deleted_at IS NULL",
    )
    assert schema.indexes["idx_unique_on_enriched_events"].only
    organizations = schema.tables["organizations"]
    assert organizations.primary_key.columns == ["id"]


def test_lemmy_migrations_applied_in_order(lemmy: BuildResult):
    schema = lemmy.schema
    assert lemmy.stats.files == 342
    person = schema.tables["person"]
    assert "display_name" in person.columns  # RENAME preferred_username TO display_name
    assert "preferred_username" not in person.columns
    fks = {(c.columns[0], c.ref_table) for c in schema.tables["comment"].foreign_keys}
    assert ("creator_id", "person") in fks
    assert ("post_id", "post") in fks
    # what could not be modeled is reported, each with file and line
    reasons = {item.reason for item in lemmy.unanalyzable}
    assert "CREATE TABLE post_aggregates_fast AS SELECT: its columns are not known" in reasons
    assert all(item.path.startswith("migrations/") and item.line > 0 for item in lemmy.unanalyzable)


def test_not_postgresql_synapse_files_are_reported_and_the_rest_goes_on(corpus: Path):
    path = "synapse/storage/schema/main/delta/12/v12.sql"
    text = (corpus / "synapse" / path).read_text()
    result = build_schema([SourceFile(path, text)])
    reasons = [item.reason for item in result.unanalyzable]
    assert (
        "not PostgreSQL: column filter_id: BIGINT UNSIGNED (PostgreSQL has no unsigned types)"
        in reasons
    )
    assert "not PostgreSQL: column id: AUTOINCREMENT (use an identity column)" in reasons
    assert "rejections" in result.schema.tables  # the PostgreSQL statements around them
    assert (
        result.stats.statements
        == result.stats.modeled + result.stats.no_effect + result.stats.unanalyzable
    )


def test_every_corpus_file_is_accounted_for(corpus: Path):
    """No exception on any file; every statement modeled, without effect, or reported."""
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".sql", ".postgres"))
    assert len(files) > 900
    totals = {"statements": 0, "unanalyzable": 0}
    for path in files:
        result = build_schema([SourceFile(str(path.relative_to(corpus)), path.read_text())])
        stats = result.stats
        assert stats.statements == stats.modeled + stats.no_effect + stats.unanalyzable, path
        assert stats.unanalyzable <= len(result.unanalyzable), path
        totals["statements"] += stats.statements
        totals["unanalyzable"] += stats.unanalyzable
    assert totals["statements"] > 19000
    assert totals["unanalyzable"] < totals["statements"] * 0.02
