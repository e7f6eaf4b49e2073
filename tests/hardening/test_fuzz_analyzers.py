"""Property-based fuzzing of the analyzer: the splitter, the extraction and the schema model.

Two sources of input: scripts built from a grammar of PostgreSQL DDL fragments (with comments,
odd quoting and dollar quotes between and inside the statements), and statements of the real
corpus (../shared/corpus) mutated token by token. The properties hold for any text:

- nothing escapes the entry points `cellsbot review` uses (`split_statements`, `extract`,
  `scan_files` + `build_scanned`, `compare`, the rules);
- the splitter's pieces are the input's text, in order, on the lines they report, and what lies
  between them is only blanks, comments and semicolons; splitting is deterministic;
- every statement is accounted for: the build's statistics count each one once
  (statements = modeled + no_effect + unanalyzable), and each unanalyzable one is an explicit
  item; a modeled statement has operations, a no-effect one has none;
- operations are plain data (they survive the parse cache's `marshal`), and a build served
  from a warm cache (or one whose operations were evicted) equals a fresh one;
- the incremental comparison reports exactly what the full one does.
"""

from __future__ import annotations

import itertools
import marshal
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from analyzers.build import (
    BuildResult,
    Extractor,
    ScannedFile,
    SourceFile,
    build_scanned,
    digest,
    scan_files,
)
from analyzers.cells import CellsContext
from analyzers.cells_config import CellsConfig
from analyzers.deps import statement_deps
from analyzers.engine import check
from analyzers.extract import extract
from analyzers.incremental import Comparison, compare
from analyzers.rules import RuleContext
from analyzers.split import Statement, blank_comments, split_statements
from analyzers.status import MODELED, NO_EFFECT, UNANALYZABLE
from tests.hardening.conftest import fuzz_settings

# --------------------------------------------------------------------------- the grammar

# A small pool of names, so that statements refer to each other's tables, columns and indexes.
TABLES = ("orgs", "projects", "issues", "notes", "events", "g_settings")
COLUMNS = ("id", "org_id", "project_id", "name", "path", "created_at", "state")
ODD_IDENTIFIERS = (
    '"Mixed Case"',
    '"semi;colon"',
    '"quote""inside"',
    '"-- not a comment"',
    '"/* nor this */"',
    '"$$"',
    '"ünïcödé"',
    '"tab\there"',
    '"new\nline"',
    '"' + "x" * 70 + '"',  # longer than NAMEDATALEN: PostgreSQL truncates it to 63 bytes
    "ünïcödé_plain",
    "a$b",
    "x" * 80,
)


@st.composite
def names(draw: st.DrawFn, pool: tuple[str, ...]) -> str:
    """A name of `pool` four times in five (so that statements meet), else an odd one."""
    return draw(st.sampled_from(pool if draw(st.integers(0, 4)) else ODD_IDENTIFIERS))


@st.composite
def qualified(draw: st.DrawFn, pool: tuple[str, ...]) -> str:
    name = draw(names(pool))
    schema = draw(st.sampled_from(("",) * 6 + ("public.", "other.", '"Odd Schema".')))
    return schema + name


TABLE = qualified(TABLES)
COLUMN = names(COLUMNS)
TYPES = st.sampled_from(
    (
        "int",
        "integer",
        "bigint",
        "smallint",
        "text",
        "varchar(255)",
        "character varying",
        "numeric(10, 2)",
        "timestamp with time zone",
        "timestamptz",
        "serial",
        "bigserial",
        "bit varying(8)",
        "int[]",
        "jsonb",
        '"char"',
        "boolean",
        "uuid",
        "bigint UNSIGNED",
    )
)
LITERALS = st.sampled_from(
    (
        "0",
        "-1",
        "3.14",
        "'plain'",
        "'semi;colon'",
        "'it''s'",
        "E'esc\\'aped;'",
        "e'\\\\'",
        "$$dollar; quoted$$",
        "$tag$ $$ nested ; $tag$",
        "'multi\nline;'",
        "now()",
        "CURRENT_TIMESTAMP",
        "nextval('issues_id_seq'::regclass)",
        "'{}'::jsonb",
        "NULL",
        "true",
        "U&'\\0041'",
        "B'101'",
    )
)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    column = draw(COLUMN)
    return draw(
        st.sampled_from(
            (
                f"{column} > 0",
                f"{column} IS NOT NULL",
                f"char_length({column}) <= 255",
                f"{column} IN ('a', 'b;c')",
                f"({column} = 1 OR {column} = 2)",
                "true",
            )
        )
    )


ACTIONS = st.sampled_from(
    ("CASCADE", "SET NULL", "SET NULL (org_id)", "RESTRICT", "NO ACTION", "SET DEFAULT")
)


@st.composite
def column_constraints(draw: st.DrawFn) -> str:
    options = [
        lambda: "NOT NULL",
        lambda: "NULL",
        lambda: f"DEFAULT {draw(LITERALS)}",
        lambda: "PRIMARY KEY",
        lambda: "UNIQUE",
        lambda: f"REFERENCES {draw(TABLE)} ON DELETE {draw(ACTIONS)}",
        lambda: f"REFERENCES {draw(TABLE)}({draw(COLUMN)})",
        lambda: f"CHECK ({draw(expressions())})",
        lambda: "GENERATED ALWAYS AS IDENTITY",
        lambda: "GENERATED BY DEFAULT AS IDENTITY",
        lambda: f"GENERATED ALWAYS AS ({draw(COLUMN)} * 2) STORED",
        lambda: "AUTOINCREMENT",
    ]
    chosen = [option() for option in draw(st.lists(st.sampled_from(options), max_size=3))]
    if chosen and draw(st.booleans()):
        chosen[0] = f"CONSTRAINT {draw(names(('c_one', 'c_two')))} {chosen[0]}"
    return " ".join(chosen)


@st.composite
def column_definitions(draw: st.DrawFn) -> str:
    return f"{draw(COLUMN)} {draw(TYPES)} {draw(column_constraints())}".rstrip()


@st.composite
def column_lists(draw: st.DrawFn) -> str:
    return ", ".join(draw(st.lists(COLUMN, min_size=1, max_size=3)))


@st.composite
def table_constraints(draw: st.DrawFn) -> str:
    body = draw(
        st.sampled_from(
            (
                lambda: f"PRIMARY KEY ({draw(column_lists())})",
                lambda: f"UNIQUE ({draw(column_lists())})",
                lambda: f"UNIQUE NULLS NOT DISTINCT ({draw(column_lists())})",
                lambda: (
                    f"FOREIGN KEY ({draw(column_lists())}) REFERENCES {draw(TABLE)} "
                    f"({draw(column_lists())}) ON DELETE {draw(ACTIONS)}"
                ),
                lambda: f"CHECK ({draw(expressions())})",
                lambda: f"CHECK ({draw(expressions())}) NOT VALID",
                lambda: f"EXCLUDE USING gist ({draw(COLUMN)} WITH =)",
            )
        )
    )()
    if draw(st.booleans()):
        return f"CONSTRAINT {draw(names(('fk_one', 'key_two', 'chk')))} {body}"
    return body


@st.composite
def create_tables(draw: st.DrawFn) -> str:
    name = draw(TABLE)
    head = draw(
        st.sampled_from(("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", "CREATE UNLOGGED TABLE"))
    )
    kind = draw(
        st.sampled_from(("plain", "plain", "plain", "partitioned", "partition", "as", "like"))
    )
    if kind == "partition":
        bound = draw(
            st.sampled_from(("FOR VALUES FROM (1) TO (10)", "FOR VALUES IN ('a')", "DEFAULT"))
        )
        return f"{head} {name} PARTITION OF {draw(TABLE)} {bound}"
    if kind == "as":
        return f"{head} {name} AS SELECT 1 AS id, ';' AS {draw(COLUMN)}"
    items = draw(st.lists(column_definitions(), max_size=5))
    items += draw(st.lists(table_constraints(), max_size=2))
    if kind == "like":
        items.append(f"LIKE {draw(TABLE)} INCLUDING ALL")
    tail = f" PARTITION BY RANGE ({draw(COLUMN)})" if kind == "partitioned" else ""
    return f"{head} {name} (\n    " + ",\n    ".join(items) + f"\n){tail}"


@st.composite
def create_indexes(draw: st.DrawFn) -> str:
    words = ["CREATE"]
    words += ["UNIQUE"] if draw(st.booleans()) else []
    words += ["INDEX"]
    words += ["CONCURRENTLY"] if draw(st.booleans()) else []
    words += ["IF NOT EXISTS"] if draw(st.booleans()) else []
    if draw(st.integers(0, 3)):
        words.append(draw(names(("idx_a", "idx_b", "issues_pkey"))))
    words += ["ON"]
    words += ["ONLY"] if draw(st.booleans()) else []
    words.append(draw(TABLE))
    words += [f"USING {draw(st.sampled_from(('btree', 'gin', 'gist', 'hash')))}"][
        : draw(st.integers(0, 1))
    ]
    columns = draw(
        st.lists(
            st.sampled_from(("", " DESC", " ASC NULLS LAST")).flatmap(
                lambda order: COLUMN.map(lambda c: c + order)
            )
            | st.just("lower(name)")
            | st.just("(state || ';')"),
            min_size=1,
            max_size=3,
        )
    )
    words.append(f"({', '.join(columns)})")
    if draw(st.booleans()):
        words.append(f"INCLUDE ({draw(COLUMN)})")
    if draw(st.booleans()):
        words.append("NULLS NOT DISTINCT")
    if draw(st.booleans()):
        words.append(f"WHERE {draw(expressions())}")
    return " ".join(words)


@st.composite
def alter_actions(draw: st.DrawFn) -> str:
    column = draw(COLUMN)
    return draw(
        st.sampled_from(
            (
                lambda: f"ADD COLUMN {draw(column_definitions())}",
                lambda: f"ADD COLUMN IF NOT EXISTS {draw(column_definitions())}",
                lambda: f"ADD {draw(column_definitions())}",
                lambda: f"DROP COLUMN {column}",
                lambda: f"DROP COLUMN IF EXISTS {column} CASCADE",
                lambda: f"DROP {column}",
                lambda: f"RENAME COLUMN {column} TO {draw(COLUMN)}",
                lambda: f"RENAME {column} TO {draw(COLUMN)}",
                lambda: f"RENAME CONSTRAINT {draw(names(('fk_one', 'chk')))} TO c_new",
                lambda: f"ADD {draw(table_constraints())}",
                lambda: f"DROP CONSTRAINT {draw(names(('fk_one', 'key_two', 'issues_pkey')))}",
                lambda: f"DROP CONSTRAINT IF EXISTS {draw(names(('fk_one', 'chk')))}",
                lambda: f"VALIDATE CONSTRAINT {draw(names(('fk_one', 'chk')))}",
                lambda: f"ALTER COLUMN {column} SET DEFAULT {draw(LITERALS)}",
                lambda: f"ALTER COLUMN {column} DROP DEFAULT",
                lambda: f"ALTER COLUMN {column} SET NOT NULL",
                lambda: f"ALTER {column} DROP NOT NULL",
                lambda: f"ALTER COLUMN {column} TYPE bigint USING {column}::bigint",
                lambda: f"ALTER COLUMN {column} ADD GENERATED ALWAYS AS IDENTITY",
                lambda: f"ALTER COLUMN {column} SET STATISTICS 100",
                lambda: f"ATTACH PARTITION {draw(TABLE)} FOR VALUES FROM (1) TO (5)",
                lambda: f"DETACH PARTITION {draw(TABLE)} CONCURRENTLY",
                lambda: "ADD PRIMARY KEY USING INDEX idx_a",
                lambda: "ADD CONSTRAINT u UNIQUE USING INDEX idx_b",
                lambda: "SET SCHEMA other",
                lambda: "OWNER TO gitlab",
                lambda: "REPLICA IDENTITY FULL",
                lambda: "ENABLE ROW LEVEL SECURITY",
                lambda: "SET (fillfactor = 70)",
            )
        )
    )()


@st.composite
def alter_tables(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(("ALTER TABLE", "ALTER TABLE ONLY", "ALTER TABLE IF EXISTS")))
    if draw(st.integers(0, 5)) == 0:
        return f"{head} {draw(TABLE)} RENAME TO {draw(names(TABLES))}"
    actions = draw(st.lists(alter_actions(), min_size=1, max_size=3))
    return f"{head} {draw(TABLE)}\n    " + ",\n    ".join(actions)


@st.composite
def other_statements(draw: st.DrawFn) -> str:
    table, column = draw(TABLE), draw(COLUMN)
    index, function = draw(names(("idx_a", "idx_b"))), draw(names(("f", "notify")))
    return draw(
        st.sampled_from(
            (
                f"COMMENT ON TABLE {table} IS 'a; b -- c'",
                f"COMMENT ON COLUMN {table}.{column} IS E'it\\'s; /* not a comment'",
                f"CREATE SEQUENCE {table}_seq OWNED BY {table}.{column}",
                f"CREATE SEQUENCE IF NOT EXISTS {draw(names(('s1', 's2')))} START 1",
                f"ALTER SEQUENCE {draw(names(('s1', 's2')))} OWNED BY {table}.{column}",
                f"ALTER SEQUENCE {draw(names(('s1', 's2')))} RENAME TO s3",
                "ALTER SEQUENCE s1 OWNED BY NONE",
                f"ALTER INDEX {index} RENAME TO idx_c",
                f"ALTER INDEX {index} ATTACH PARTITION {draw(names(('idx_a', 'idx_b')))}",
                f"DROP TABLE {table}",
                f"DROP TABLE IF EXISTS {table}, {draw(TABLE)} CASCADE",
                f"DROP INDEX CONCURRENTLY IF EXISTS {index}",
                f"DROP INDEX {index}, {draw(names(('idx_a', 'idx_b')))}",
                f"DROP SEQUENCE IF EXISTS {draw(names(('s1', 's2')))}",
                f"DROP VIEW IF EXISTS v1, {draw(names(('v2', 'v3')))}",
                "DROP SCHEMA IF EXISTS other CASCADE",
                f"DROP FUNCTION IF EXISTS {function}(integer), {function}(text, timestamp)",
                f"DROP TRIGGER IF EXISTS trg ON {table}",
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$\nBEGIN\n  NEW.updated_at := now(); -- ;\n  RETURN NEW;\nEND\n$$",
                f"CREATE FUNCTION {function}() RETURNS void AS $body$\nBEGIN\n  EXECUTE "
                f"'ALTER TABLE {table} ADD COLUMN x int';\nEND\n$body$ LANGUAGE plpgsql",
                f"CREATE TRIGGER trg BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION {function}()",
                f"ALTER TRIGGER trg ON {table} RENAME TO trg2",
                "DO $$ BEGIN RAISE NOTICE 'hello; world'; END $$",
                f"DO $do$\nBEGIN\n  IF NOT EXISTS (SELECT 1) THEN\n"
                f"    CREATE TABLE {table} (id int);\n  END IF;\nEND\n$do$",
                "DO LANGUAGE plpgsql $$ BEGIN EXECUTE format('DROP TABLE %I', 'x'); END $$",
                f"CREATE VIEW {draw(names(('v1', 'v2')))} AS SELECT * FROM {table}",
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS v3 AS SELECT {column} FROM {table}",
                "CREATE SCHEMA IF NOT EXISTS other",
                "CREATE SCHEMA AUTHORIZATION gitlab",
                'CREATE EXTENSION IF NOT EXISTS "pg_trgm"',
                "DROP EXTENSION IF EXISTS btree_gist, pg_trgm",
                "SET search_path = public, pg_catalog",
                "SET statement_timeout = 0",
                "SELECT pg_catalog.set_config('search_path', '', false)",
                f"GRANT SELECT ON {table} TO reader",
                f"INSERT INTO {table} VALUES (1, 'a;b')",
                "CREATE TYPE mood AS ENUM ('sad', 'ok;')",
                "ALTER TYPE mood ADD VALUE 'happy'",
                "CREATE DOMAIN posint AS integer CHECK (VALUE > 0)",
                "CREATE POLICY p ON issues USING (true)",
                "BEGIN",
                "COMMIT",
                "\\restrict AbCdEf123",
                "\\unrestrict AbCdEf123",
                "VACUUM ANALYZE issues",
                "TRUNCATE issues",
                "CREATE EVENT TRIGGER et ON ddl_command_end EXECUTE FUNCTION f()",
                "CREATE RULE r AS ON INSERT TO issues DO INSTEAD NOTHING",
                "REINDEX INDEX idx_a",
            )
        )
    )


GARBAGE = st.sampled_from(
    (
        "(",
        ")",
        ",",
        "'",
        '"',
        "$$",
        "$a$",
        "E'",
        "/*",
        "*/",
        "--",
        "\\",
        "\x00",
        "\ufffd",
        "\u2028",
        "\ufeff",
        "\x1b[0m",
        "ONLY",
        "CREATE",
        "TABLE",
        "INDEX",
        "ON",
        "::",
        "[]",
    )
)
STATEMENTS = st.one_of(
    create_tables(),
    create_indexes(),
    alter_tables(),
    other_statements(),
    # anything at all, glued from keywords and punctuation
    st.lists(GARBAGE | st.text(max_size=8), min_size=1, max_size=8).map(" ".join),
)

# What may stand between two tokens of a statement without changing it.
TOKEN_GAPS = st.sampled_from(
    (
        " ",
        " ",
        " ",
        "\n",
        "\t",
        "  \n  ",
        " /* c; 'x */ ",
        " /* a /* nested; */ b */ ",
        " -- c; 'x\n",
    )
)
# What may stand between two statements.
SEPARATORS = st.sampled_from(
    (
        ";\n",
        ";\n",
        ";\n\n",
        "; ",
        ";;\n",
        ";\n-- a comment; with 'quote\n",
        ";\n/* block; */\n",
        ";\n/* outer /* inner; */ still; */\n",
        "\n;\n",
        ";\r\n",
    )
)
_TOKEN = re.compile(r"\S+|\s+")


@st.composite
def with_token_gaps(draw: st.DrawFn, statement: str) -> str:
    """`statement` with some of its blanks replaced by comments or other blanks (only outside
    quotes: a blank inside a string is part of its value)."""
    if not draw(st.booleans()) or re.search(r"['\"$]", statement):
        return statement
    pieces = _TOKEN.findall(statement)
    return "".join(draw(TOKEN_GAPS) if piece.isspace() else piece for piece in pieces)


@st.composite
def scripts(draw: st.DrawFn, statements: st.SearchStrategy[str] = STATEMENTS) -> str:
    """A SQL file: statements, separators, and sometimes a leading or trailing comment or an
    unterminated last statement."""
    body = draw(st.lists(statements.flatmap(with_token_gaps), max_size=12))
    parts = [draw(st.sampled_from(("", "", "-- header\n", "/* header */\n", "\ufeff")))]
    for statement in body:
        parts += [statement, draw(SEPARATORS)]
    parts.append(draw(st.sampled_from(("", "", "", "-- trailing", "/* open", "'open", "$$ open"))))
    return "".join(parts)


@st.composite
def edited(draw: st.DrawFn, statements: list[str]) -> list[str]:
    """`statements` after a merge request's worth of edits: statements added, removed,
    replaced, duplicated or moved."""
    result = list(statements)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(result)))
        edit = draw(st.sampled_from(("add", "add", "remove", "replace", "duplicate", "move")))
        if edit == "add" or not result:
            result.insert(at, draw(STATEMENTS))
            continue
        at = min(at, len(result) - 1)
        if edit == "remove":
            del result[at]
        elif edit == "replace":
            result[at] = draw(STATEMENTS)
        elif edit == "duplicate":
            result.insert(at, result[at])
        else:
            result.insert(draw(st.integers(0, len(result) - 1)), result.pop(at))
    return result


def as_files(statements: list[str], *, files: int = 1) -> list[SourceFile]:
    """`statements` as a schema dump (one file) or as migrations (several, in order)."""
    size = -(-len(statements) // files) or 1
    chunks = [statements[i : i + size] for i in range(0, len(statements), size)] or [[]]
    return [
        SourceFile(f"db/migrate/{number:03}.sql", "".join(f"{s};\n" for s in chunk))
        for number, chunk in enumerate(chunks)
    ]


# ----------------------------------------------------------------------- the properties


def check_split(text: str) -> list[tuple[Statement, bool]]:
    """The splitter's promises: the statements are the input's text, in order, on their lines;
    between them there are only blanks, comments and semicolons (psql meta-commands are
    statements of their own); deterministic. Returns each statement and whether it is
    complete (a semicolon or the end of its meta-command's line ends it) rather than cut short
    by the end of the text."""
    statements, error = split_statements(text)
    again, same_error = split_statements(text)
    assert (again, repr(same_error)) == (statements, repr(error))  # deterministic
    line_count = text.count("\n") + 1
    starts = _line_starts(text)
    spans: list[tuple[int, int]] = []
    position = 0
    for statement in statements:
        assert statement.text, statement
        assert statement.text == statement.text.rstrip(), statement
        assert not statement.text[0].isspace(), statement
        assert 1 <= statement.line <= statement.end_line <= line_count, statement
        assert statement.end_line - statement.line == statement.text.count("\n"), statement
        found = _find_after_gap(text, statement.text, position, starts[statement.line - 1])
        assert found is not None, f"{statement} is not where it says, or lost text before it"
        assert text.count("\n", 0, found) + 1 == statement.line, statement
        position = found + len(statement.text)
        spans.append((found, position))
    rest = text[position:]
    if error is None:
        assert _only_blanks_comments_semicolons(rest), f"text lost at the end: {rest!r}"
    else:
        assert 1 <= error.line <= line_count, error
        assert error.what, error
    gaps = [text[end:following] for (_, end), (following, _) in itertools.pairwise(spans)]
    gaps += [rest] if statements else []
    return [
        (statement, statement.text.startswith("\\") or ";" in blank_comments(gap))
        for statement, gap in zip(statements, gaps, strict=True)
    ]


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _find_after_gap(text: str, piece: str, position: int, line_start: int) -> int | None:
    """Where `piece` starts at or after `line_start`, with only blanks, comments and semicolons
    between `position` and it."""
    found = text.find(piece, max(position, line_start))
    while found >= 0:
        if _only_blanks_comments_semicolons(text[position:found]):
            return found
        found = text.find(piece, found + 1)
    return None


def _only_blanks_comments_semicolons(gap: str) -> bool:
    return not blank_comments(gap).replace(";", " ").strip()


def check_extraction(statement: str) -> None:
    extraction = extract(statement)
    assert extraction == extract(statement)  # deterministic
    assert extraction.status in (MODELED, NO_EFFECT, UNANALYZABLE)
    if extraction.status == MODELED:
        assert extraction.ops, f"modeled without operations: {statement!r}"
    if extraction.status == NO_EFFECT:
        assert not extraction.ops, extraction
    if extraction.status == UNANALYZABLE:
        assert extraction.reason.strip(), extraction
    assert marshal.loads(marshal.dumps(extraction.ops)) == extraction.ops  # the cache's format
    statement_deps(extraction.ops)


class MarshalCache:
    """`analyzers.build.ParseCache` in memory, storing what bot.cache stores: marshal bytes."""

    def __init__(self) -> None:
        self.stores: dict[str, dict[bytes, bytes]] = {"files": {}, "ops": {}, "facts": {}}

    def get_file(self, key: bytes) -> list[tuple[Any, ...]] | None:
        return self._get("files", key)

    def put_file(self, key: bytes, statements: list[tuple[Any, ...]]) -> None:
        self.stores["files"][key] = marshal.dumps(statements)

    def get_ops(self, keys: list[bytes]) -> dict[bytes, Any]:
        return {k: marshal.loads(self.stores["ops"][k]) for k in keys if k in self.stores["ops"]}

    def put_ops(self, entries: dict[bytes, Any]) -> None:
        self.stores["ops"].update((k, marshal.dumps(v)) for k, v in entries.items())

    def get_fact(self, key: bytes) -> Any:
        return self._get("facts", key)

    def put_fact(self, key: bytes, value: Any) -> None:
        self.stores["facts"][key] = marshal.dumps(value)

    def _get(self, store: str, key: bytes) -> Any:
        data = self.stores[store].get(key)
        return None if data is None else marshal.loads(data)


def build(files: list[SourceFile], extractor: Extractor) -> tuple[list[ScannedFile], BuildResult]:
    scanned = scan_files(files, extractor)
    return scanned, build_scanned(scanned, extractor)


def check_accounting(
    files: list[SourceFile], scanned: list[ScannedFile], result: BuildResult
) -> None:
    """Every statement is counted once, as modeled, no effect or unanalyzable, and each
    unanalyzable one (and each operation the model refused) is an explicit item."""
    stats = result.stats
    assert stats.files == len(files)
    assert stats.statements == stats.modeled + stats.no_effect + stats.unanalyzable
    assert stats.statements == sum(len(f.statements) for f in scanned)
    assert len(result.unanalyzable) == stats.unanalyzable + result.model_errors
    items = {(i.path, i.line, i.end_line) for i in result.unanalyzable}
    for file in scanned:
        statements = check_split(file.text)
        extracted = {(i.line, i.end_line, i.key) for i in file.statements}
        for statement, complete in statements:
            if complete:  # extracted, not reported as the text's unterminated end
                where = (statement.line, statement.end_line, digest(statement.text))
                assert where in extracted, f"statement dropped or misreported: {statement}"
        assert len(file.statements) - len(statements) in (0, 1)
        last_line = file.source.text.count("\n") + 1
        for info in file.statements:
            assert 1 <= info.line <= info.end_line <= last_line, info
            if info.status == UNANALYZABLE:
                assert info.reason.strip(), info
                assert (file.source.path, info.line, info.end_line) in items, info
    for item in result.unanalyzable:
        assert item.reason.strip(), item
        assert item.excerpt or item.reason.startswith("unterminated"), item


def summary(result: BuildResult) -> tuple[Any, ...]:
    stats = result.stats
    counts = (stats.files, stats.statements, stats.modeled, stats.no_effect, stats.unanalyzable)
    return (result.schema, result.unanalyzable, counts, result.model_errors, result.complete)


def report(comparison: Comparison) -> tuple[Any, ...]:
    """What a review shows of a comparison (as tests/analyzers/test_incremental.py compares)."""
    return (
        [c.to_json() for c in comparison.changes],
        [i.to_json() for i in comparison.head.unanalyzable],
        [i.to_json() for i in comparison.base.unanalyzable],
    )


CELLS = CellsContext.generic(
    CellsConfig(mode="generic", roots={"orgs": "id"}, classes={"global": ("g_*",)})
)


def check_review(base: list[SourceFile], head: list[SourceFile]) -> None:
    """What `cellsbot review` does with two revisions: scan both with one extractor, compare
    (incrementally when it can: it must agree with the full comparison), run the rules."""
    extractor = Extractor()
    base_scanned, head_scanned = scan_files(base, extractor), scan_files(head, extractor)
    full = compare(base_scanned, head_scanned, extractor, base_error_free=False)
    learned = compare(base_scanned, head_scanned, extractor)
    event(f"comparison: {learned.mode}")  # how often the incremental path is exercised
    assert report(learned) == report(full)
    assert learned.base_error_free == full.base_error_free
    if full.base_error_free:
        trusted = compare(base_scanned, head_scanned, extractor, base_error_free=True)
        assert report(trusted) == report(full)
    for comparison in (full, learned):
        unanalyzable = [(item, True) for item in comparison.head.unanalyzable]
        ctx = RuleContext(
            head=comparison.head.schema,
            base=comparison.base.schema,
            changes=comparison.changes,
            cells=CELLS,
            unanalyzable=unanalyzable,
        )
        for finding in check(ctx):
            assert finding.rule, finding
            assert finding.message, finding


def check_build(files: list[SourceFile]) -> None:
    """Build `files`: the accounting holds, and builds through the parse cache (cold, warm, and
    warm with the operations evicted, which parses them again) give the same result."""
    scanned, result = build(files, Extractor())
    check_accounting(files, scanned, result)
    cache = MarshalCache()
    cold = build(files, Extractor(cache))[1]
    warm = build(files, Extractor(cache))[1]
    cache.stores["ops"].clear()
    evicted = build(files, Extractor(cache))[1]
    assert summary(cold) == summary(result)
    assert summary(warm) == summary(result)
    assert summary(evicted) == summary(result)


# ------------------------------------------------------------------ grammar-built input


@fuzz_settings(ci=150, long=5000)
@given(text=scripts())
# found: the complete statement before an unclosed comment was reported as unterminated
@example(text="CREATE TABLE a (id int);\n/* never closed")
@example(text="CREATE TABLE a (id int); /* never closed")
# found: DROP lists whose names sqlglot cannot read, and DROP FUNCTION without a name, were
# "modeled" with fewer (or no) operations
@example(text="DROP TABLE orgs x, projects y")
@example(text="DROP FUNCTION -- gone\n;")
def test_grammar_scripts_split_and_build(text: str) -> None:
    check_build([SourceFile("db/structure.sql", text)])


@fuzz_settings(ci=200, long=10000)
@given(statement=STATEMENTS.flatmap(with_token_gaps))
@example(statement="DROP INDEX idx_a, idx_b c")
@example(statement="drop function ")  # found by mutating supabase-storage's 0005 migration
def test_grammar_statements_extract(statement: str) -> None:
    check_extraction(statement)


@fuzz_settings(ci=60, long=3000)
@given(data=st.data())
def test_grammar_script_edits_review(data: st.DataObject) -> None:
    base = data.draw(st.lists(STATEMENTS, max_size=10), label="base")
    head = data.draw(edited(base), label="head")
    files = data.draw(st.sampled_from((1, 1, 2, 3)), label="files")
    check_review(as_files(base, files=files), as_files(head, files=files))


ANY_TEXT = st.text(max_size=300) | st.binary(max_size=300).map(
    lambda raw: raw.decode("utf-8", errors="replace")  # as bot.git reads blobs
)


@fuzz_settings(ci=100, long=5000)
@given(text=ANY_TEXT)
def test_any_text_splits_and_builds(text: str) -> None:
    check_build([SourceFile("db/structure.sql", text)])


# ------------------------------------------------------------------- mutated corpus SQL

_CORPUS_SUFFIXES = (".sql", ".postgres")
_WORDS = re.compile(r"\w+|\s+|[^\w\s]")


@cache
def corpus_files(root: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(path, statement texts) of every SQL file of the corpus."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name.endswith(_CORPUS_SUFFIXES):
            statements, _ = split_statements(path.read_text(errors="replace"))
            if statements:
                found.append((str(path.relative_to(root)), tuple(s.text for s in statements)))
    return tuple(found)


@pytest.fixture(scope="module")
def real_sql(corpus: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    files = corpus_files(corpus)
    assert len(files) > 100, f"the corpus at {corpus} has only {len(files)} SQL files"
    return files


INSERTIONS = GARBAGE | st.sampled_from(
    ("x" * 100, '"' + "y" * 200 + '"', "\n", ";", "'a;b'", "ONLY", "NOT NULL", "DEFAULT")
)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` with a few of its tokens truncated, deleted, duplicated, swapped or replaced, or
    garbage inserted (unbalanced quotes and parentheses, NUL, huge identifiers)."""
    tokens = _WORDS.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            tokens = [draw(INSERTIONS)]
        at = draw(st.integers(0, len(tokens) - 1))
        mutation = draw(
            st.sampled_from(("truncate", "delete", "duplicate", "swap", "insert", "insert", "huge"))
        )
        if mutation == "truncate":
            tokens = tokens[:at]
        elif mutation == "delete":
            del tokens[at]
        elif mutation == "duplicate":
            tokens.insert(at, tokens[at])
        elif mutation == "swap":
            other = draw(st.integers(0, len(tokens) - 1))
            tokens[at], tokens[other] = tokens[other], tokens[at]
        elif mutation == "insert":
            tokens.insert(at, draw(INSERTIONS))
        else:
            tokens[at] = draw(st.sampled_from(("z" * 300, '"' + "\u00e9" * 100 + '"', "\x00")))
    return "".join(tokens)


@st.composite
def corpus_windows(draw: st.DrawFn, files: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    """Up to 15 consecutive statements of one corpus file (so that they refer to each other)."""
    _, statements = draw(st.sampled_from(files))
    start = draw(st.integers(0, len(statements) - 1))
    return list(statements[start : start + draw(st.integers(1, 15))])


@pytest.mark.corpus
@fuzz_settings(ci=150, long=10000)
@given(data=st.data())
def test_mutated_corpus_statements_extract(data: st.DataObject, real_sql: Any) -> None:
    _, statements = data.draw(st.sampled_from(real_sql), label="file")
    statement = data.draw(st.sampled_from(statements), label="statement")
    check_extraction(statement)
    check_extraction(data.draw(mutated(statement), label="mutated"))


@pytest.mark.corpus
@fuzz_settings(ci=60, long=3000)
@given(data=st.data())
def test_mutated_corpus_files_split_build_and_review(data: st.DataObject, real_sql: Any) -> None:
    base = data.draw(corpus_windows(real_sql), label="base")
    head = list(base)
    for at in data.draw(st.lists(st.integers(0, len(head) - 1), min_size=1, max_size=3)):
        head[at] = data.draw(mutated(head[at]), label=f"statement {at}")
    text = "".join(f"{statement};\n" for statement in head)
    if data.draw(st.booleans(), label="mutate the file as a whole"):
        text = data.draw(mutated(text), label="file")
    check_build([SourceFile("db/structure.sql", text)])
    check_review(as_files(base), [SourceFile("db/migrate/000.sql", text)])
