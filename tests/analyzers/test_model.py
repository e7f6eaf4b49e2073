"""Each DDL form, each sqlglot normalization, and what becomes unanalyzable."""

from __future__ import annotations

import marshal
import textwrap

import pytest

from analyzers.build import BuildResult, SourceFile, build_schema
from analyzers.extract import MODELED, NO_EFFECT, UNANALYZABLE, extract


def build(*scripts: str) -> BuildResult:
    """Build from one file per script, applied in order."""
    files = [SourceFile(f"m{i}.sql", textwrap.dedent(s)) for i, s in enumerate(scripts)]
    return build_schema(files)


def schema(*scripts: str):
    result = build(*scripts)
    assert result.unanalyzable == [], result.unanalyzable
    return result.schema


# --- normalizations of sqlglot's measured gaps (corpus statements that showed them) --------


def test_create_index_on_only_partitioned_parent_is_modeled():
    # GitLab structure.sql: CREATE INDEX index_issue_stage_events_project_duration ON ONLY …
    s = schema(
        """
        CREATE TABLE analytics_events (id bigint, project_id bigint, end_at timestamptz)
        PARTITION BY HASH (project_id);
        CREATE INDEX index_events_project_duration ON ONLY analytics_events USING btree
            (project_id, end_at) WHERE (end_at IS NOT NULL);
        CREATE UNIQUE INDEX idx_events_unique ON ONLY analytics_events USING btree (id, project_id);
        """
    )
    index = s.indexes["index_events_project_duration"]
    assert (index.table, index.only, index.unique) == ("analytics_events", True, False)
    assert index.columns == ["project_id", "end_at"]
    assert index.where == "end_at IS NOT NULL"
    assert s.indexes["idx_events_unique"].unique
    assert s.tables["analytics_events"].partition_by == "HASH (project_id)"


def test_rename_without_column_keyword_renames_the_column_not_the_table():
    # lemmy 2021-04-01-173552: ALTER TABLE person RENAME preferred_username TO display_name;
    s = schema(
        "CREATE TABLE person (id int, preferred_username text);",
        "ALTER TABLE person RENAME preferred_username TO display_name;",
    )
    assert "person" in s.tables
    assert list(s.tables["person"].columns) == ["id", "display_name"]
    assert "display_name" not in s.tables


def test_serial_is_an_integer_with_an_owned_sequence_not_an_identity():
    # lemmy 2023-09-18-141700: id serial PRIMARY KEY
    s = schema(
        "CREATE TABLE login_token (id serial PRIMARY KEY, big bigserial, small smallserial);"
    )
    column = s.tables["login_token"].columns["id"]
    assert (column.type, column.serial, column.identity, column.nullable) == (
        "int",
        True,
        None,
        False,
    )
    assert column.default == "NEXTVAL(CAST('login_token_id_seq' AS REGCLASS))"
    assert s.sequences["login_token_id_seq"].owned_by == ("login_token", "id")
    assert s.tables["login_token"].columns["big"].type == "bigint"
    assert s.tables["login_token"].columns["small"].type == "smallint"
    assert s.tables["login_token"].primary_key.name == "login_token_pkey"


def test_drop_index_with_several_names_drops_each():
    # lemmy 2023-02-01-012747: DROP INDEX idx_…_featured_local_active, idx_…_community_active;
    s = schema(
        """
        CREATE TABLE t (a int, b int, c int);
        CREATE INDEX ia ON t (a);
        CREATE INDEX ib ON t (b);
        CREATE INDEX ic ON t (c);
        DROP INDEX ia, ib;
        """
    )
    assert list(s.indexes) == ["ic"]


# --- tables and columns ---------------------------------------------------------------------


def test_create_table_columns_types_defaults_identity_generated():
    s = schema(
        """
        CREATE TABLE public.items (
            id bigint GENERATED ALWAYS AS IDENTITY,
            "Name" character varying(255) DEFAULT 'x'::character varying NOT NULL,
            price numeric(10,2),
            total numeric GENERATED ALWAYS AS (price * 2) STORED,
            tags text[] DEFAULT '{}'::text[],
            created_at timestamp with time zone DEFAULT now() NOT NULL
        );
        """
    )
    columns = s.tables["items"].columns
    assert list(columns) == ["id", "Name", "price", "total", "tags", "created_at"]
    assert (columns["id"].identity, columns["id"].nullable) == ("ALWAYS", False)
    assert columns["Name"].type == "varchar(255)"
    assert not columns["Name"].nullable
    assert columns["total"].generated == "price * 2"
    assert columns["created_at"].type == "timestamptz"
    assert columns["created_at"].default == "CURRENT_TIMESTAMP"  # sqlglot's canonical now()


def test_column_lines_point_at_the_column_definition():
    result = build(
        "\n\nCREATE TABLE t (\n    a int,\n    b text\n);\nALTER TABLE t ADD COLUMN c int;\n"
    )
    table = result.schema.tables["t"]
    assert table.location.line == 3
    assert table.columns["a"].location.line == 4
    assert table.columns["b"].location.line == 5
    assert table.columns["c"].location.line == 7


def test_schema_qualified_and_quoted_names():
    s = schema(
        'CREATE SCHEMA app; CREATE TABLE app."Orders" (id int); CREATE TABLE Public.Users (id int);'
    )
    assert set(s.tables) == {"app.Orders", "users"}
    assert "app" in s.schemas


def test_alter_table_actions():
    s = schema(
        """
        CREATE TABLE t (a int, b varchar(10), c int DEFAULT 1, d int NOT NULL);
        ALTER TABLE t
            ADD COLUMN e bigint NOT NULL DEFAULT 0, -- comment with a quote ' and a comma,
            ALTER COLUMN b TYPE text USING b::text,
            ALTER COLUMN a SET NOT NULL,
            ALTER COLUMN d DROP NOT NULL,
            ALTER COLUMN c DROP DEFAULT,
            ALTER COLUMN a SET DEFAULT 5;
        ALTER TABLE t ADD COLUMN IF NOT EXISTS e int;
        ALTER TABLE IF EXISTS missing ADD COLUMN x int;
        """
    )
    columns = s.tables["t"].columns
    assert columns["b"].type == "text"
    assert (columns["a"].nullable, columns["a"].default) == (False, "5")
    assert columns["d"].nullable
    assert columns["c"].default is None
    assert (columns["e"].type, columns["e"].default) == ("bigint", "0")
    assert "missing" not in s.tables


def test_drop_column_drops_its_indexes_and_constraints():
    s = schema(
        """
        CREATE TABLE t (a int, b int UNIQUE, c int);
        CREATE INDEX t_b_idx2 ON t (b, c);
        CREATE INDEX t_c_idx ON t (c);
        ALTER TABLE t DROP COLUMN b;
        """
    )
    assert list(s.tables["t"].columns) == ["a", "c"]
    assert s.tables["t"].constraints == {}
    assert list(s.indexes) == ["t_c_idx"]


# --- constraints ----------------------------------------------------------------------------


def test_unnamed_constraints_get_postgres_names():
    s = schema(
        """
        CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE);
        CREATE TABLE child (
            id int,
            parent_id int REFERENCES parent ON DELETE CASCADE,
            a int CHECK (a > 0),
            b int,
            PRIMARY KEY (id),
            UNIQUE (a, b),
            CHECK (num_nonnulls(a, b) = 1)
        );
        ALTER TABLE child ADD CHECK (b > 0);
        ALTER TABLE child ADD CHECK (b < 100);
        """
    )
    child = s.tables["child"]
    assert set(child.constraints) == {
        "child_pkey",
        "child_parent_id_fkey",
        "child_a_check",
        "child_a_b_key",
        "child_check",
        "child_b_check",
        "child_b_check1",
    }
    fk = child.constraints["child_parent_id_fkey"]
    assert (fk.ref_table, fk.ref_columns, fk.on_delete) == ("parent", ["id"], "CASCADE")
    assert child.constraints["child_check"].columns == ["a", "b"]
    assert s.tables["parent"].constraints["parent_code_key"].kind == "unique"


def test_foreign_keys_composite_not_valid_and_validate():
    s = schema(
        """
        CREATE TABLE p (a int, b int, PRIMARY KEY (a, b));
        CREATE TABLE c (x int, y int);
        ALTER TABLE ONLY c ADD CONSTRAINT fk_c_p FOREIGN KEY (x, y) REFERENCES p(a, b)
            ON DELETE SET NULL ON UPDATE CASCADE NOT VALID;
        """
    )
    fk = s.tables["c"].constraints["fk_c_p"]
    assert (fk.columns, fk.ref_columns, fk.on_delete, fk.on_update, fk.not_valid) == (
        ["x", "y"],
        ["a", "b"],
        "SET NULL",
        "CASCADE",
        True,
    )
    validated = schema(
        "CREATE TABLE p (a int PRIMARY KEY); CREATE TABLE c (x int);",
        "ALTER TABLE c ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES p(a) NOT VALID;",
        "ALTER TABLE c VALIDATE CONSTRAINT fk;",
    )
    assert not validated.tables["c"].constraints["fk"].not_valid


def test_check_not_null_and_num_nonnulls_not_valid():
    # GitLab: ADD CONSTRAINT check_… CHECK ((project_id IS NOT NULL)) NOT VALID
    s = schema(
        """
        CREATE TABLE scans (project_id bigint, a int, b int);
        ALTER TABLE scans
            ADD CONSTRAINT check_2d56d882f6 CHECK ((project_id IS NOT NULL)) NOT VALID;
        ALTER TABLE scans ADD CONSTRAINT check_one CHECK ((num_nonnulls(a, b) = 1));
        """
    )
    constraints = s.tables["scans"].constraints
    check = constraints["check_2d56d882f6"]
    assert (check.kind, check.columns, check.expression, check.not_valid) == (
        "check",
        ["project_id"],
        "project_id IS NOT NULL",
        True,
    )
    assert constraints["check_one"].columns == ["a", "b"]
    assert not constraints["check_one"].not_valid


def test_rename_and_drop_constraint_and_exclude():
    s = schema(
        """
        CREATE TABLE t (a int, CONSTRAINT old_name UNIQUE (a));
        ALTER TABLE t RENAME CONSTRAINT old_name TO new_name;
        ALTER TABLE ONLY t ADD CONSTRAINT no_overlap EXCLUDE USING gist (a WITH =);
        ALTER TABLE t DROP CONSTRAINT IF EXISTS not_there;
        """
    )
    assert set(s.tables["t"].constraints) == {"new_name", "no_overlap"}
    assert s.tables["t"].constraints["no_overlap"].kind == "exclude"
    assert s.renames[0].kind == "constraint"


def test_unique_nulls_not_distinct():
    s = schema(
        """
        CREATE TABLE t (a int, b int);
        ALTER TABLE t ADD CONSTRAINT u UNIQUE NULLS NOT DISTINCT (a, b);
        CREATE UNIQUE INDEX i ON t USING btree (a) NULLS NOT DISTINCT;
        """
    )
    assert s.tables["t"].constraints["u"].nulls_not_distinct
    assert s.indexes["i"].nulls_not_distinct


# --- indexes ----------------------------------------------------------------------------------


def test_unique_partial_and_expression_indexes():
    s = schema(
        """
        CREATE TABLE users (id int, email text, deleted_at timestamptz);
        CREATE UNIQUE INDEX index_users_on_lower_email ON users USING btree (lower(email))
            WHERE (deleted_at IS NULL);
        CREATE INDEX CONCURRENTLY IF NOT EXISTS index_users_on_id_desc
            ON users (id DESC) INCLUDE (email);
        CREATE INDEX ON users (email);
        """
    )
    unique = s.indexes["index_users_on_lower_email"]
    assert (unique.unique, unique.columns, unique.where) == (
        True,
        ["LOWER(email)"],
        "deleted_at IS NULL",
    )
    assert s.indexes["index_users_on_id_desc"].columns == ["id DESC"]
    assert s.indexes["index_users_on_id_desc"].include == ["email"]
    assert "users_email_idx" in s.indexes


def test_alter_index_rename_and_primary_key_index_rename():
    s = schema(
        """
        CREATE TABLE user_ (id int PRIMARY KEY, name text);
        CREATE INDEX idx_user_name ON user_ (name);
        ALTER INDEX idx_user_name RENAME TO idx_person_name;
        ALTER INDEX user__pkey RENAME TO person__pkey;
        """
    )
    assert list(s.indexes) == ["idx_person_name"]
    assert set(s.tables["user_"].constraints) == {"person__pkey"}


# --- partitions, sequences, triggers ---------------------------------------------------------


def test_partitions_attach_detach_and_partition_of():
    s = schema(
        """
        CREATE TABLE p_builds (id bigint, partition_id bigint) PARTITION BY LIST (partition_id);
        CREATE TABLE builds_100 (id bigint, partition_id bigint);
        ALTER TABLE ONLY p_builds ATTACH PARTITION builds_100 FOR VALUES IN ('100');
        CREATE TABLE builds_101 PARTITION OF p_builds FOR VALUES IN (101);
        CREATE TABLE builds_old (id bigint, partition_id bigint);
        ALTER TABLE p_builds ATTACH PARTITION builds_old FOR VALUES IN (1);
        ALTER TABLE p_builds DETACH PARTITION builds_old;
        CREATE INDEX index_p_builds_id ON ONLY p_builds (id);
        CREATE INDEX index_builds_100_id ON builds_100 (id);
        ALTER INDEX index_p_builds_id ATTACH PARTITION index_builds_100_id;
        """
    )
    assert s.partitions_of("p_builds") == ["builds_100", "builds_101"]
    assert s.tables["builds_100"].partition_bound == "FOR VALUES IN ('100')"
    assert list(s.tables["builds_101"].columns) == ["id", "partition_id"]
    assert s.tables["builds_old"].partition_of is None
    assert s.indexes["index_builds_100_id"].parent == "index_p_builds_id"


def test_sequences_owned_by_and_rename():
    s = schema(
        """
        CREATE TABLE t (id bigint NOT NULL);
        CREATE SEQUENCE t_id_seq START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1;
        ALTER SEQUENCE t_id_seq OWNED BY t.id;
        ALTER TABLE ONLY t ALTER COLUMN id SET DEFAULT nextval('t_id_seq'::regclass);
        CREATE SEQUENCE free_seq;
        ALTER SEQUENCE free_seq RENAME TO loose_seq;
        ALTER SEQUENCE loose_seq RESTART WITH 10;
        """
    )
    assert s.sequences["t_id_seq"].owned_by == ("t", "id")
    assert s.tables["t"].columns["id"].default == "NEXTVAL(CAST('t_id_seq' AS REGCLASS))"
    assert set(s.sequences) == {"t_id_seq", "loose_seq"}


def test_triggers_create_rename_drop():
    s = schema(
        """
        CREATE TABLE t (id int);
        CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER trg_a BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER trg_b AFTER DELETE ON t REFERENCING OLD TABLE AS old_table
            FOR EACH STATEMENT EXECUTE FUNCTION f();
        ALTER TRIGGER trg_a ON t RENAME TO trg_c;
        DROP TRIGGER IF EXISTS trg_b ON t;
        """
    )
    assert list(s.triggers) == [("t", "trg_c")]
    trigger = s.triggers[("t", "trg_c")]
    assert (trigger.function, trigger.when) == ("f", "BEFORE INSERT OR UPDATE FOR EACH ROW")
    assert "f" in s.functions


# --- drops, renames of tables ------------------------------------------------------------------


def test_drop_table_cascade_removes_foreign_keys_indexes_and_owned_sequences():
    s = schema(
        """
        CREATE TABLE p (id serial PRIMARY KEY);
        CREATE TABLE c (p_id int REFERENCES p, other int);
        CREATE INDEX p_idx ON p (id);
        DROP TABLE IF EXISTS p, nothing CASCADE;
        """
    )
    assert set(s.tables) == {"c"}
    assert s.tables["c"].constraints == {}
    assert s.indexes == {}
    assert s.sequences == {}


def test_rename_table_and_set_schema_keep_references():
    s = schema(
        """
        CREATE SCHEMA archive;
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (p_id int REFERENCES p);
        CREATE INDEX p_idx ON p (id);
        ALTER TABLE p RENAME TO parent;
        ALTER TABLE c SET SCHEMA archive;
        """
    )
    assert set(s.tables) == {"parent", "archive.c"}
    assert s.tables["archive.c"].constraints["c_p_id_fkey"].ref_table == "parent"
    assert s.indexes["p_idx"].table == "parent"


# --- statements outside the model, and unanalyzable ones --------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SET statement_timeout = 0",
        "SELECT pg_catalog.set_config('search_path', '', false)",
        "COMMENT ON TABLE t IS 'x'",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
        "INSERT INTO t VALUES (1)",
        "CREATE TYPE mood AS ENUM ('sad', 'ok')",
        "ALTER TYPE mood ADD VALUE 'happy'",
        "CREATE POLICY p ON t USING (true)",
        "ALTER TABLE t OWNER TO admin",
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
        "DO $$ BEGIN UPDATE t SET a = 1; END $$",
        "\\restrict abc",
    ],
)
def test_statements_without_schema_effect(sql):
    assert extract(sql).status == NO_EFFECT


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DO $$ BEGIN ALTER TABLE t ADD COLUMN x int; END $$", "DO block runs DDL"),
        (
            "CREATE FUNCTION mk(p int) RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
            "EXECUTE format('CREATE TABLE t_%s ()', p); END $$",
            "function mk runs DDL",
        ),
        ("CREATE TABLE t2 AS SELECT * FROM t", "CREATE TABLE t2 AS SELECT"),
        ("CREATE TABLE broken (a int b int c)", "sqlglot could not parse"),
        ("IMPORT FOREIGN SCHEMA remote FROM SERVER s INTO public", "sqlglot could not parse"),
        ("ALTER TABLE t ALTER COLUMN a DROP EXPRESSION", "opaque command"),
    ],
)
def test_unanalyzable_statements_say_why(sql, reason):
    extraction = extract(sql)
    assert extraction.status == UNANALYZABLE
    assert reason in extraction.reason


def test_unanalyzable_item_has_file_line_and_excerpt_and_rest_still_modeled():
    result = build(
        """
        CREATE TABLE a (id int);

        DO $$
        BEGIN
          EXECUTE 'ALTER TABLE a ADD COLUMN x int';
        END
        $$;

        CREATE TABLE b (id int);
        """
    )
    [item] = result.unanalyzable
    assert (item.path, item.line, item.end_line) == ("m0.sql", 4, 8)
    assert item.excerpt.startswith("DO $$ BEGIN EXECUTE 'ALTER TABLE a")
    assert set(result.schema.tables) == {"a", "b"}
    assert (result.stats.modeled, result.stats.unanalyzable) == (2, 1)


def test_alter_of_a_missing_table_is_reported_not_raised():
    result = build("ALTER TABLE ghost ADD COLUMN x int;\nCREATE TABLE real (id int);")
    [item] = result.unanalyzable
    assert (item.line, item.reason) == (1, "table ghost does not exist")
    assert "real" in result.schema.tables


def test_unterminated_statement_is_reported():
    result = build("CREATE TABLE a (id int);\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1;\n")
    [item] = result.unanalyzable
    assert item.line == 2
    assert "unterminated dollar-quoted string" in item.reason


def test_dbmate_down_section_is_not_applied():
    s = schema("-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n")
    assert "t" in s.tables


def test_create_table_as_makes_a_table_with_unknown_columns_that_later_statements_alter():
    result = build(
        """
        CREATE TABLE src (a int);
        CREATE TABLE copy AS SELECT a FROM src;
        ALTER TABLE copy ALTER COLUMN a SET NOT NULL, ADD PRIMARY KEY (a);
        """
    )
    assert [item.reason for item in result.unanalyzable] == [
        "CREATE TABLE copy AS SELECT: its columns are not known"
    ]
    table = result.schema.tables["copy"]
    assert table.partial
    assert not table.columns["a"].nullable
    assert table.primary_key.columns == ["a"]


def test_operations_are_plain_data_that_survive_the_cache():
    extraction = extract("CREATE TABLE t (id int PRIMARY KEY, b text DEFAULT 'x')")
    assert extraction.status == MODELED
    assert marshal.loads(marshal.dumps(extraction.ops)) == extraction.ops
