"""Each kind of change the diff reports, with the line it points at."""

from __future__ import annotations

import textwrap

from analyzers.build import SourceFile, build_schema
from analyzers.diff import Change, diff_schemas

BASE = """\
CREATE TABLE projects (
    id bigint NOT NULL,
    name text,
    visibility_level integer DEFAULT 0 NOT NULL,
    archived boolean DEFAULT false
);
CREATE TABLE issues (
    id bigint NOT NULL,
    project_id bigint,
    title character varying
);
ALTER TABLE ONLY projects ADD CONSTRAINT projects_pkey PRIMARY KEY (id);
ALTER TABLE issues ADD CONSTRAINT fk_issues_project FOREIGN KEY (project_id) REFERENCES projects;
CREATE INDEX index_issues_on_project_id ON issues USING btree (project_id);
CREATE UNIQUE INDEX index_projects_on_name ON projects USING btree (name);
CREATE TABLE old_things (id bigint);
"""


def diff(base: str, head: str, *, base_files=None, head_files=None) -> list[Change]:
    base_model = build_schema(base_files or [SourceFile("db/structure.sql", textwrap.dedent(base))])
    head_model = build_schema(head_files or [SourceFile("db/structure.sql", textwrap.dedent(head))])
    assert base_model.unanalyzable == head_model.unanalyzable == []
    return diff_schemas(base_model.schema, head_model.schema)


def kinds(changes: list[Change]) -> list[tuple[str, str | None, str, int]]:
    return [(c.kind, c.table, c.name, c.line) for c in changes]


def test_no_change_no_diff():
    assert diff(BASE, BASE) == []


def test_table_added_with_its_constraints_and_indexes_at_their_lines():
    head = BASE + (
        "CREATE TABLE labels (\n    id bigint NOT NULL,\n    project_id bigint NOT NULL\n);\n"
        "ALTER TABLE ONLY labels ADD CONSTRAINT labels_pkey PRIMARY KEY (id);\n"
        "CREATE UNIQUE INDEX index_labels_on_project ON labels (project_id);\n"
    )
    changes = diff(BASE, head)
    assert kinds(changes) == [
        ("table_added", "labels", "labels", 17),
        ("constraint_added", "labels", "labels_pkey", 21),
        ("index_added", "labels", "index_labels_on_project", 22),
    ]
    added = changes[0]
    assert added.side == "head"
    assert [c["name"] for c in added.details["columns"]] == ["id", "project_id"]
    assert changes[2].details == {"table": "labels", "unique": True, "columns": ["project_id"]}


def test_table_dropped_points_at_the_base_file():
    head = BASE.replace("CREATE TABLE old_things (id bigint);\n", "")
    [change] = diff(BASE, head)
    assert (change.kind, change.name, change.side, change.path, change.line) == (
        "table_dropped",
        "old_things",
        "base",
        "db/structure.sql",
        16,
    )


def test_table_renamed_in_a_dump_is_paired_by_identical_columns():
    head = BASE.replace(
        "CREATE TABLE old_things (id bigint);", "CREATE TABLE new_things (id bigint);"
    )
    assert kinds(diff(BASE, head)) == [("table_renamed", "new_things", "new_things", 16)]


def test_explicit_rename_in_migrations_is_reported_as_rename():
    files = [SourceFile("migrate/001.sql", "CREATE TABLE a (id int, x int);")]
    head_files = [
        *files,
        SourceFile("migrate/002.sql", "ALTER TABLE a RENAME TO b;\nALTER TABLE b ADD y int;"),
    ]
    changes = diff("", "", base_files=files, head_files=head_files)
    assert kinds(changes) == [
        ("table_renamed", "b", "b", 1),
        ("column_added", "b", "y", 2),
    ]
    assert changes[0].old_name == "a"
    assert changes[0].path == "migrate/001.sql"  # where the table is defined


def test_column_added_dropped_altered_renamed():
    head = BASE.replace("    name text,\n", "    name text NOT NULL,\n")
    head = head.replace("visibility_level integer", "visibility integer")
    head = head.replace(
        "    archived boolean DEFAULT false\n",
        "    archived boolean DEFAULT true,\n    topic text\n",
    )
    head = head.replace("    title character varying\n", "    title text\n").replace(
        "    project_id bigint,\n", ""
    )
    head = "\n".join(line for line in head.split("\n") if "(project_id)" not in line)
    changes = diff(BASE, head)
    assert kinds(changes) == [
        ("column_altered", "projects", "name", 3),
        ("column_renamed", "projects", "visibility", 4),
        ("column_altered", "projects", "archived", 5),
        ("column_added", "projects", "topic", 6),
        ("column_altered", "issues", "title", 10),
        ("column_dropped", "issues", "project_id", 9),
        ("foreign_key_dropped", "issues", "fk_issues_project", 13),
        ("index_dropped", "issues", "index_issues_on_project_id", 14),
    ]
    by_name = {c.name: c for c in changes}
    assert by_name["name"].details == {"nullable": {"before": True, "after": False}}
    assert by_name["archived"].details == {"default": {"before": "FALSE", "after": "TRUE"}}
    assert by_name["title"].details == {"type": {"before": "varchar", "after": "text"}}
    assert by_name["visibility"].old_name == "visibility_level"
    assert by_name["project_id"].side == "base"


def test_constraints_added_dropped_altered_and_renamed():
    base = (
        BASE
        + "ALTER TABLE issues ADD CONSTRAINT check_title CHECK ((char_length(title) <= 255));\n"
    )
    head = base.replace(
        "check_title CHECK ((char_length(title) <= 255))",
        "check_title_len CHECK ((char_length(title) <= 255))",
    )
    head += "ALTER TABLE issues ADD CONSTRAINT check_project CHECK ((project_id IS NOT NULL))"
    head += " NOT VALID;\n"
    head = head.replace("REFERENCES projects;", "REFERENCES projects(id) ON DELETE CASCADE;")
    head = head.replace(
        "ADD CONSTRAINT projects_pkey PRIMARY KEY (id);",
        "ADD CONSTRAINT projects_pkey PRIMARY KEY (id, name);",
    )
    changes = diff(base, head)
    assert kinds(changes) == [
        ("column_altered", "projects", "name", 3),  # a primary key column is NOT NULL
        ("constraint_altered", "projects", "projects_pkey", 12),
        ("foreign_key_altered", "issues", "fk_issues_project", 13),
        ("constraint_renamed", "issues", "check_title_len", 17),
        ("constraint_added", "issues", "check_project", 18),
    ]
    by_name = {c.name: c for c in changes}
    assert by_name["fk_issues_project"].details == {
        "on_delete": {"before": None, "after": "CASCADE"}
    }
    assert by_name["projects_pkey"].details == {
        "columns": {"before": ["id"], "after": ["id", "name"]}
    }
    assert by_name["check_project"].details["not_valid"] is True
    assert by_name["check_title_len"].old_name == "check_title"


def test_validating_a_constraint_is_an_alteration():
    files = [
        SourceFile(
            "1.sql",
            "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
        )
    ]
    head = [*files, SourceFile("2.sql", "ALTER TABLE t VALIDATE CONSTRAINT c;")]
    [change] = diff("", "", base_files=files, head_files=head)
    assert (change.kind, change.details) == (
        "constraint_altered",
        {"not_valid": {"before": True, "after": False}},
    )


def test_indexes_added_dropped_altered_renamed():
    head = BASE.replace("index_issues_on_project_id ON", "index_issues_on_project ON")
    head = head.replace(
        "ON projects USING btree (name);",
        "ON projects USING btree (name) WHERE (archived = false);",
    )
    head += "CREATE INDEX index_issues_on_title ON issues (title);\n"
    changes = diff(BASE, head)
    assert kinds(changes) == [
        ("index_renamed", "issues", "index_issues_on_project", 14),
        ("index_altered", "projects", "index_projects_on_name", 15),
        ("index_added", "issues", "index_issues_on_title", 17),
    ]
    assert changes[1].details == {"where": {"before": None, "after": "archived = FALSE"}}


def test_sequences_and_triggers():
    base = (
        BASE
        + "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
    )
    base += "CREATE TRIGGER trg BEFORE INSERT ON issues FOR EACH ROW EXECUTE FUNCTION f();\n"
    head = base.replace("BEFORE INSERT ON issues", "BEFORE INSERT OR UPDATE ON issues")
    head += "CREATE SEQUENCE issues_id_seq;\nALTER SEQUENCE issues_id_seq OWNED BY issues.id;\n"
    head += "CREATE TRIGGER trg2 AFTER DELETE ON projects FOR EACH ROW EXECUTE FUNCTION f();\n"
    changes = diff(base, head)
    assert kinds(changes) == [
        ("trigger_altered", "issues", "trg", 18),
        ("sequence_added", "issues", "issues_id_seq", 19),
        ("trigger_added", "projects", "trg2", 21),
    ]
    assert changes[1].details == {"owned_by": "issues.id"}


def test_partition_attached_and_detached_and_partitioning_changed():
    base = BASE + (
        "CREATE TABLE p_builds (id bigint, pid bigint) PARTITION BY LIST (pid);\n"
        "CREATE TABLE builds_1 (id bigint, pid bigint);\n"
        "CREATE TABLE builds_2 (id bigint, pid bigint);\n"
        "ALTER TABLE ONLY p_builds ATTACH PARTITION builds_1 FOR VALUES IN ('1');\n"
    )
    head = base.replace(
        "ATTACH PARTITION builds_1 FOR VALUES IN ('1');",
        "ATTACH PARTITION builds_2 FOR VALUES IN ('2');",
    ).replace("PARTITION BY LIST (pid)", "PARTITION BY RANGE (pid)")
    changes = diff(base, head)
    assert kinds(changes) == [
        ("table_altered", "p_builds", "p_builds", 17),
        ("partition_detached", "builds_1", "builds_1", 18),
        ("partition_attached", "builds_2", "builds_2", 19),
    ]
    assert changes[0].details == {"partition_by": {"before": "LIST (pid)", "after": "RANGE (pid)"}}
    assert changes[2].details == {"parent": "p_builds", "bound": "FOR VALUES IN ('2')"}


def test_schema_added():
    head = "CREATE SCHEMA archive;\n" + BASE
    [change] = [c for c in diff(BASE, head) if c.object == "schema"]
    assert (change.kind, change.name, change.line) == ("schema_added", "archive", 1)


def test_change_json_is_the_documented_shape():
    head = BASE + "CREATE INDEX index_issues_on_title ON issues (title);\n"
    [change] = diff(BASE, head)
    assert change.to_json() == {
        "kind": "index_added",
        "object": "index",
        "action": "added",
        "table": "issues",
        "name": "index_issues_on_title",
        "old_name": None,
        "path": "db/structure.sql",
        "line": 17,
        "side": "head",
        "details": {"table": "issues", "unique": False, "columns": ["title"]},
    }


def test_a_change_to_a_partitioned_table_is_reported_once_not_per_partition():
    base = (
        "CREATE TABLE events (id bigint, k int) PARTITION BY LIST (k);\n"
        "CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);\n"
        "CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);\n"
        "CREATE TABLE users (id bigint PRIMARY KEY);\n"
    )
    head = base + (
        "ALTER TABLE events ADD COLUMN user_id bigint;\n"
        "ALTER TABLE events ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users(id);\n"
        "CREATE INDEX index_events_on_user_id ON events (user_id);\n"
    )
    files = [SourceFile("1.sql", base)]
    changes = diff("", "", base_files=files, head_files=[SourceFile("1.sql", head)])
    assert kinds(changes) == [
        ("column_added", "events", "user_id", 5),
        ("foreign_key_added", "events", "fk_user", 6),
        ("index_added", "events", "index_events_on_user_id", 7),
    ]
    model = build_schema([SourceFile("1.sql", head)]).schema
    partition = model.tables["events_2"]
    assert partition.columns["user_id"].inherited
    assert partition.constraints["fk_user"].inherited
    [clone] = model.indexes_of("events_2")
    assert (clone.name, clone.parent) == ("events_2_user_id_idx", "index_events_on_user_id")
