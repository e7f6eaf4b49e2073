"""The incremental comparison reports exactly what the full one does, and falls back when unsure."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.build import Extractor, ScannedFile, SourceFile, scan_files
from analyzers.incremental import FULL, INCREMENTAL, Comparison, compare

EXAMPLE = Path(__file__).resolve().parents[2] / "bot" / "example_repo"


def scan(*texts: str, path: str = "db/structure.sql") -> list[ScannedFile]:
    files = [SourceFile(path if len(texts) == 1 else f"{i:03}.sql", t) for i, t in enumerate(texts)]
    return scan_files(files, Extractor())


def report(comparison: Comparison) -> tuple:
    return (
        [c.to_json() for c in comparison.changes],
        [i.to_json() for i in comparison.head.unanalyzable],
        [i.to_json() for i in comparison.base.unanalyzable],
    )


def both(base_text: str, head_text: str) -> tuple[Comparison, Comparison]:
    """The full and the incremental comparison of two single-file revisions."""
    extractor = Extractor()
    base = scan_files([SourceFile("db/structure.sql", base_text)], extractor)
    head = scan_files([SourceFile("db/structure.sql", head_text)], extractor)
    full = compare(base, head, extractor, base_error_free=False)
    incremental = compare(base, head, extractor, base_error_free=True)
    learned = compare(base, head, extractor)  # the base is built in full to learn it is clean
    assert report(learned) == report(full)
    assert learned.base_error_free == full.base_error_free
    assert full.mode == FULL
    assert report(incremental) == report(full)
    return full, incremental


def test_example_repository_incremental_equals_full():
    base = (EXAMPLE / "base/db/structure.sql").read_text()
    head = (EXAMPLE / "head/db/structure.sql").read_text()
    full, incremental = both(base, head)
    assert incremental.mode == INCREMENTAL
    assert len(full.changes) == 14
    assert incremental.rebuilt < full.rebuilt
    assert not incremental.head.complete


def test_a_new_index_rebuilds_the_index_and_its_table_only():
    base = "CREATE TABLE a (id int);\nCREATE TABLE b (id int, x int);\nCREATE INDEX b_x ON b (x);\n"
    head = base + "CREATE UNIQUE INDEX b_id ON b (id);\n"
    _, incremental = both(base, head)
    assert [c.kind for c in incremental.changes] == ["index_added"]
    assert incremental.rebuilt == 2  # the new index and `CREATE TABLE b`
    assert set(incremental.head.schema.tables) == {"b"}


def test_a_removed_table_rebuilds_what_depends_on_it():
    base = (
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCREATE INDEX b_id ON b (id);\n"
        "ALTER TABLE b ADD CONSTRAINT b_pkey PRIMARY KEY (id);\n"
    )
    head = "CREATE TABLE a (id int);\n"
    _, incremental = both(base, head)
    assert [c.kind for c in incremental.changes] == ["table_dropped"]


def test_an_index_left_on_a_removed_table_is_still_reported_as_an_error():
    base = "CREATE TABLE b (id int);\nCREATE INDEX b_id ON b (id);\n"
    head = "CREATE INDEX b_id ON b (id);\n"
    _, incremental = both(base, head)
    assert [i.reason for i in incremental.head.unanalyzable] == ["table b does not exist"]


def test_partition_of_a_changed_parent_is_rebuilt():
    base = (
        "CREATE TABLE p (id int, k int) PARTITION BY LIST (k);\n"
        "CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);\n"
    )
    head = base.replace("(id int, k int)", "(id int, k int, extra text)")
    _, incremental = both(base, head)
    # the partition's copy of the column is inherited: reported once, on the parent
    assert [(c.kind, c.table) for c in incremental.changes] == [("column_added", "p")]
    assert "extra" in incremental.head.schema.tables["p1"].columns


@pytest.mark.parametrize(
    ("base", "head"),
    [
        # a DROP has effects beyond the objects it names
        (
            "CREATE TABLE a (id int);\nCREATE TABLE b (id int);",
            "CREATE TABLE a (id int);\nDROP TABLE IF EXISTS b;",
        ),
        # unchanged statements in another order
        (
            "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
            "CREATE TABLE b (id int);\nCREATE TABLE a (id int);\n",
        ),
    ],
)
def test_falls_back_to_full_builds_when_not_exact(base, head):
    extractor = Extractor()
    base_files = scan_files([SourceFile("s.sql", base)], extractor)
    head_files = scan_files([SourceFile("s.sql", head)], extractor)
    assert compare(base_files, head_files, extractor, base_error_free=True).mode == FULL


def test_falls_back_when_the_base_does_not_build_cleanly():
    base = scan("CREATE INDEX orphan ON missing (id);\nCREATE TABLE a (id int);")
    head = scan(
        "CREATE INDEX orphan ON missing (id);\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);"
    )
    comparison = compare(base, head, Extractor())
    assert comparison.mode == FULL
    assert not comparison.base_error_free
    assert [c.kind for c in comparison.changes] == ["table_added"]


GITLAB_MUTATIONS = {
    "new table with index and foreign key": (
        "CREATE TABLE abuse_events (",
        "CREATE TABLE abuse_event_notes (\n    id bigint NOT NULL,\n"
        "    abuse_event_id bigint NOT NULL\n);\n\n"
        "CREATE UNIQUE INDEX index_abuse_event_notes ON abuse_event_notes USING btree "
        "(abuse_event_id);\n\n"
        "ALTER TABLE ONLY abuse_event_notes\n    ADD CONSTRAINT fk_notes FOREIGN KEY "
        "(abuse_event_id) REFERENCES abuse_events(id);\n\nCREATE TABLE abuse_events (",
    ),
    "column type changed": (
        "    target_branch character varying NOT NULL,",
        "    target_branch text NOT NULL,",
    ),
    "index renamed": (
        "CREATE INDEX index_users_on_username ON users",
        "CREATE INDEX index_users_on_username_renamed ON users",
    ),
    "index removed": ("CREATE INDEX index_users_on_username ON users USING btree (username);", ""),
    "check constraint changed": (
        "CHECK ((num_nonnulls(epic_id, issue_id, merge_request_id) = 1)) NOT VALID",
        "CHECK ((num_nonnulls(epic_id, issue_id, merge_request_id) >= 1)) NOT VALID",
    ),
    "index detached from its partitioned parent": (
        "ALTER INDEX index_issue_stage_events_project_duration ATTACH PARTITION "
        "gitlab_partitions_static.index_000925dbd7;",
        "",
    ),
}


@pytest.mark.parametrize("mutation", sorted(GITLAB_MUTATIONS))
def test_gitlab_dump_mutations_incremental_equals_full(corpus, mutation):
    text = (corpus / "gitlab" / "db" / "structure.sql").read_text()
    old, new = GITLAB_MUTATIONS[mutation]
    assert old in text
    full, incremental = both(text, text.replace(old, new, 1))
    assert incremental.mode == INCREMENTAL
    assert full.changes, "the mutation must change the schema"
    assert incremental.rebuilt < 200
