"""Statement splitting: quotes, comments, psql meta-commands and line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.split import SplitError, Statement, blank_comments, split_statements

Row = tuple[str, int, int]  # (text, line, end_line)


def rows(statements: list[Statement]) -> list[Row]:
    return [(s.text, s.line, s.end_line) for s in statements]


def split_ok(text: str) -> list[Row]:
    """Statements of `text`, which must split without error."""
    statements, error = split_statements(text)
    assert error is None, error
    return rows(statements)


# ---------------------------------------------------------------------------- quoting


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "SELECT 'a;b';\nSELECT 2;",
            [("SELECT 'a;b'", 1, 1), ("SELECT 2", 2, 2)],
            id="semicolon-in-string",
        ),
        pytest.param(
            "SELECT 'it''s; fine'; SELECT 2;",
            [("SELECT 'it''s; fine'", 1, 1), ("SELECT 2", 1, 1)],
            id="doubled-quote-in-string",
        ),
        pytest.param(
            "SELECT ''; SELECT ';'''; SELECT '''';",
            [("SELECT ''", 1, 1), ("SELECT ';'''", 1, 1), ("SELECT ''''", 1, 1)],
            id="empty-string-and-quote-only-strings",
        ),
        pytest.param(
            "SELECT 'a\\'; SELECT 2;",
            [("SELECT 'a\\'", 1, 1), ("SELECT 2", 1, 1)],
            id="backslash-is-not-an-escape-in-standard-string",
        ),
        pytest.param(
            "SELECT 'multi;\nline'; SELECT 3;",
            [("SELECT 'multi;\nline'", 1, 2), ("SELECT 3", 2, 2)],
            id="multi-line-string",
        ),
        pytest.param(
            "SELECT E'it\\'s;'; SELECT 2;",
            [("SELECT E'it\\'s;'", 1, 1), ("SELECT 2", 1, 1)],
            id="E-string-backslash-quote",
        ),
        pytest.param(
            "SELECT e'a\\';b'; SELECT 2;",
            [("SELECT e'a\\';b'", 1, 1), ("SELECT 2", 1, 1)],
            id="lowercase-e-string-backslash-quote",
        ),
        pytest.param(
            "SELECT E'a\\\\'; SELECT 2;",
            [("SELECT E'a\\\\'", 1, 1), ("SELECT 2", 1, 1)],
            id="E-string-escaped-backslash-then-close",
        ),
        pytest.param(
            "SELECT E'x''; y'; SELECT 2;",
            [("SELECT E'x''; y'", 1, 1), ("SELECT 2", 1, 1)],
            id="E-string-doubled-quote",
        ),
        pytest.param(
            "e'\\';';SELECT 2;",
            [("e'\\';'", 1, 1), ("SELECT 2", 1, 1)],
            id="E-string-at-start-of-text",
        ),
        pytest.param(
            "SELECT 1;E'\\';';",
            [("SELECT 1", 1, 1), ("E'\\';'", 1, 1)],
            id="E-string-right-after-semicolon",
        ),
        pytest.param(
            "SELECT (E'\\'' || ';');",
            [("SELECT (E'\\'' || ';')", 1, 1)],
            id="E-string-after-parenthesis",
        ),
        pytest.param(
            'SELECT "a;b" FROM "x""y;z"; SELECT 2;',
            [('SELECT "a;b" FROM "x""y;z"', 1, 1), ("SELECT 2", 1, 1)],
            id="quoted-identifiers-with-semicolon-and-doubled-quote",
        ),
        pytest.param(
            'SELECT "it\'s"; SELECT \'say "hi;"\';',
            [('SELECT "it\'s"', 1, 1), ("SELECT 'say \"hi;\"'", 1, 1)],
            id="each-quote-kind-hides-the-other",
        ),
    ],
)
def test_quoted_semicolons_do_not_split(text: str, expected: list[Row]) -> None:
    assert split_ok(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "SELECT type'a\\'; SELECT 2;",
            [("SELECT type'a\\'", 1, 1), ("SELECT 2", 1, 1)],
            id="lowercase-word-ending-in-e",
        ),
        pytest.param(
            "SELECT TYPE'a\\'; SELECT 2;",
            [("SELECT TYPE'a\\'", 1, 1), ("SELECT 2", 1, 1)],
            id="uppercase-word-ending-in-E",
        ),
        pytest.param(
            "SELECT some_name'\\';SELECT 2;",
            [("SELECT some_name'\\'", 1, 1), ("SELECT 2", 1, 1)],
            id="underscore-word-ending-in-e",
        ),
        pytest.param(
            "SELECT café'\\';SELECT 2;",
            [("SELECT café'\\'", 1, 1), ("SELECT 2", 1, 1)],
            id="non-ascii-letter-before-e",
        ),
    ],
)
def test_word_ending_in_e_before_quote_is_not_an_escape_string(
    text: str, expected: list[Row]
) -> None:
    # Read as E'…', the `\'` would escape the quote and swallow the next statement.
    assert split_ok(text) == expected


# ------------------------------------------------------------------------ dollar quotes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "CREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql;\nSELECT 2;",
            [
                ("CREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql", 1, 3),
                ("SELECT 2", 4, 4),
            ],
            id="anonymous-dollar-quote",
        ),
        pytest.param(
            "DO $body$\nBEGIN\n  EXECUTE $$SELECT 1;$$;\nEND\n$body$;\nSELECT 2;",
            [
                ("DO $body$\nBEGIN\n  EXECUTE $$SELECT 1;$$;\nEND\n$body$", 1, 5),
                ("SELECT 2", 6, 6),
            ],
            id="tagged-quote-containing-anonymous-quote",
        ),
        pytest.param(
            "SELECT $outer$ $inner$ ; $inner$ ; $outer$; SELECT 2;",
            [("SELECT $outer$ $inner$ ; $inner$ ; $outer$", 1, 1), ("SELECT 2", 1, 1)],
            id="nested-different-tags",
        ),
        pytest.param(
            "SELECT $a$ $ab$; $a$; SELECT 2;",
            [("SELECT $a$ $ab$; $a$", 1, 1), ("SELECT 2", 1, 1)],
            id="longer-tag-does-not-close-shorter",
        ),
        pytest.param(
            "SELECT $A$ ; $a$ ; $A$; SELECT 2;",
            [("SELECT $A$ ; $a$ ; $A$", 1, 1), ("SELECT 2", 1, 1)],
            id="tags-are-case-sensitive",
        ),
        pytest.param(
            "SELECT $_t1$;$_t1$; SELECT 2;",
            [("SELECT $_t1$;$_t1$", 1, 1), ("SELECT 2", 1, 1)],
            id="tag-with-underscore-and-digit",
        ),
        pytest.param(
            "SELECT $$ ' \" -- /* $$; SELECT 2;",
            [("SELECT $$ ' \" -- /* $$", 1, 1), ("SELECT 2", 1, 1)],
            id="quotes-and-comment-openers-inside-are-plain-text",
        ),
        pytest.param(
            "SELECT 'x$$'; SELECT 2; -- $$\nSELECT 3;",
            [("SELECT 'x$$'", 1, 1), ("SELECT 2", 1, 1), ("SELECT 3", 2, 2)],
            id="dollars-inside-string-and-comment-open-nothing",
        ),
    ],
)
def test_dollar_quoted_bodies_keep_their_semicolons(text: str, expected: list[Row]) -> None:
    assert split_ok(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "SELECT x$y$ FROM t; SELECT 2;",
            [("SELECT x$y$ FROM t", 1, 1), ("SELECT 2", 1, 1)],
            id="identifier-with-dollars",
        ),
        pytest.param(
            "SELECT a$$b; SELECT 2;",
            [("SELECT a$$b", 1, 1), ("SELECT 2", 1, 1)],
            id="identifier-with-double-dollar",
        ),
        pytest.param(
            "SELECT a$b$c$d; SELECT 2;",
            [("SELECT a$b$c$d", 1, 1), ("SELECT 2", 1, 1)],
            id="identifier-with-many-dollars",
        ),
        pytest.param(
            "SELECT x$y$, $y$;$y$; SELECT 2;",
            [("SELECT x$y$, $y$;$y$", 1, 1), ("SELECT 2", 1, 1)],
            id="identifier-then-real-quote-with-same-tag",
        ),
        pytest.param(
            "PREPARE p AS SELECT $1, $2; EXECUTE p(1, 2);",
            [("PREPARE p AS SELECT $1, $2", 1, 1), ("EXECUTE p(1, 2)", 1, 1)],
            id="positional-parameters",
        ),
        pytest.param(
            "SELECT $1;$$;$$",
            [("SELECT $1", 1, 1), ("$$;$$", 1, 1)],
            id="positional-parameter-then-dollar-quote",
        ),
        pytest.param(
            "SELECT été$x$ FROM t; SELECT 2;",
            [("SELECT été$x$ FROM t", 1, 1), ("SELECT 2", 1, 1)],
            id="non-ascii-identifier-with-dollars",
        ),
    ],
)
def test_dollars_that_do_not_open_a_quote(text: str, expected: list[Row]) -> None:
    assert split_ok(text) == expected


# ---------------------------------------------------------------------------- comments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "SELECT 1 -- it's; not the end\n+ 2;\nSELECT 3;",
            [("SELECT 1 -- it's; not the end\n+ 2", 1, 2), ("SELECT 3", 3, 3)],
            id="line-comment-with-semicolon-and-apostrophe",
        ),
        pytest.param(
            "SELECT 1; -- it's ; \nSELECT 2;",
            [("SELECT 1", 1, 1), ("SELECT 2", 2, 2)],
            id="line-comment-between-statements",
        ),
        pytest.param(
            "SELECT 1 /* ; ' \" $$ */ + 2; SELECT 3;",
            [("SELECT 1 /* ; ' \" $$ */ + 2", 1, 1), ("SELECT 3", 1, 1)],
            id="block-comment-hides-quotes",
        ),
        pytest.param(
            "SELECT 1 /* a /* b */ ; */ + 2; SELECT 3;",
            [("SELECT 1 /* a /* b */ ; */ + 2", 1, 1), ("SELECT 3", 1, 1)],
            id="nested-block-comment",
        ),
        pytest.param(
            "/* a /* b */ ; */ SELECT 1;",
            [("SELECT 1", 1, 1)],
            id="nested-block-comment-before-statement",
        ),
        pytest.param(
            "SELECT 1 /**/; SELECT 2;",
            [("SELECT 1 /**/", 1, 1), ("SELECT 2", 1, 1)],
            id="empty-block-comment",
        ),
        pytest.param(
            "SELECT 1 /* x /*/ y */ ; */; SELECT 2;",
            [("SELECT 1 /* x /*/ y */ ; */", 1, 1), ("SELECT 2", 1, 1)],
            id="slash-star-slash-opens-a-nested-comment",
        ),
        pytest.param(
            "SELECT 1 /* -- */ ; SELECT 2;",
            [("SELECT 1 /* -- */", 1, 1), ("SELECT 2", 1, 1)],
            id="line-comment-opener-inside-block-comment",
        ),
        pytest.param(
            "SELECT 1 -- /* \n; SELECT 2;",
            [("SELECT 1 -- /*", 1, 1), ("SELECT 2", 2, 2)],
            id="block-comment-opener-inside-line-comment",
        ),
    ],
)
def test_comments_hide_semicolons(text: str, expected: list[Row]) -> None:
    assert split_ok(text) == expected


# --------------------------------------------------------------------- line numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "\n\n-- header; it's\n/* multi\nline */\n\nSELECT 1;",
            [("SELECT 1", 7, 7)],
            id="leading-blank-lines-and-comments",
        ),
        pytest.param(
            "SELECT 1;   SELECT 2;\n\n  SELECT 3;",
            [("SELECT 1", 1, 1), ("SELECT 2", 1, 1), ("SELECT 3", 3, 3)],
            id="several-statements-on-a-line",
        ),
        pytest.param(
            "SELECT 1; /* c\n */ -- d\n\n  /* e */ SELECT\n2;",
            [("SELECT 1", 1, 1), ("SELECT\n2", 4, 5)],
            id="mixed-comments-between-statements",
        ),
        pytest.param(
            "CREATE TABLE t (\n  a int,\n  b int\n);\n",
            [("CREATE TABLE t (\n  a int,\n  b int\n)", 1, 4)],
            id="multi-line-statement",
        ),
        pytest.param(
            "SELECT 1\n\n;\nSELECT 2;",
            [("SELECT 1", 1, 1), ("SELECT 2", 4, 4)],
            id="semicolon-on-a-later-line-is-not-the-end-line",
        ),
        pytest.param(
            "SELECT 1 -- tail\n;",
            [("SELECT 1 -- tail", 1, 1)],
            id="comment-before-semicolon-is-part-of-statement",
        ),
        pytest.param(
            "SELECT 1;\nSELECT 2\n\n",
            [("SELECT 1", 1, 1), ("SELECT 2", 2, 2)],
            id="final-statement-without-semicolon",
        ),
        pytest.param(
            "SELECT 1;\nSELECT\n  2",
            [("SELECT 1", 1, 1), ("SELECT\n  2", 2, 3)],
            id="multi-line-final-statement-without-semicolon",
        ),
        pytest.param(
            "SELECT 1;\n-- trailing comment\n/* another */\n\n",
            [("SELECT 1", 1, 1)],
            id="trailing-comments-are-no-statement",
        ),
        pytest.param(
            "SELECT 1;\r\n\r\nCREATE TABLE t (\r\n  a int\r\n);\r\n-- c\r\nSELECT 2\r\n",
            [("SELECT 1", 1, 1), ("CREATE TABLE t (\r\n  a int\r\n)", 3, 5), ("SELECT 2", 7, 7)],
            id="crlf-line-endings",
        ),
    ],
)
def test_lines_are_those_of_first_token_and_last_character(text: str, expected: list[Row]) -> None:
    assert split_ok(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-text"),
        pytest.param(";", id="lone-semicolon"),
        pytest.param(";;\n ; \n", id="only-semicolons"),
        pytest.param("  \n-- only; a comment\n/* and ; this */\n", id="only-comments"),
    ],
)
def test_text_without_statements_yields_none(text: str) -> None:
    assert split_ok(text) == []


def test_empty_statements_produce_nothing() -> None:
    assert split_ok("SELECT 1;;\n;\nSELECT 2;; ;") == [("SELECT 1", 1, 1), ("SELECT 2", 3, 3)]


def test_docstring_example() -> None:
    assert [s.line for s in split_statements("SELECT 1;\n\nSELECT ';';")[0]] == [1, 3]


# ---------------------------------------------------------------- psql meta-commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "\\restrict abc123\n\nSET x = 1;\n\\unrestrict abc123\n",
            [("\\restrict abc123", 1, 1), ("SET x = 1", 3, 3), ("\\unrestrict abc123", 4, 4)],
            id="pg-dump-restrict-and-unrestrict",
        ),
        pytest.param(
            "-- dump\n\\connect db\nSELECT 1;",
            [("\\connect db", 2, 2), ("SELECT 1", 3, 3)],
            id="after-a-comment",
        ),
        pytest.param(
            "\\restrict k  \r\nSELECT 1;\r\n",
            [("\\restrict k", 1, 1), ("SELECT 1", 2, 2)],
            id="trailing-space-and-crlf-stripped",
        ),
        pytest.param(
            "\\set q 'a;b'\nSELECT 1;",
            [("\\set q 'a;b'", 1, 1), ("SELECT 1", 2, 2)],
            id="quotes-in-meta-command-are-its-own",
        ),
        pytest.param(
            "SELECT 'a\\b';",
            [("SELECT 'a\\b'", 1, 1)],
            id="backslash-inside-a-statement-is-not-a-meta-command",
        ),
    ],
)
def test_psql_meta_commands_are_statements_of_their_own(text: str, expected: list[Row]) -> None:
    assert split_ok(text) == expected


# ------------------------------------------------------------------------ unterminated


@pytest.mark.parametrize(
    ("text", "expected", "what", "line"),
    [
        pytest.param(
            "SELECT 1;\nSELECT 'abc;\ndef",
            [("SELECT 1", 1, 1), ("SELECT 'abc;\ndef", 2, 3)],
            "string literal",
            2,
            id="string",
        ),
        pytest.param(
            "SELECT\n  1,\n  'x; SELECT 2;\n",
            [("SELECT\n  1,\n  'x; SELECT 2;", 1, 3)],
            "string literal",
            3,
            id="string-opened-on-a-later-line-of-the-statement",
        ),
        pytest.param(
            'SELECT 1;\nSELECT\n"abc;',
            [("SELECT 1", 1, 1), ('SELECT\n"abc;', 2, 3)],
            "quoted identifier",
            3,
            id="quoted-identifier",
        ),
        pytest.param(
            "SELECT E'abc\\'; SELECT 2;",
            [("SELECT E'abc\\'; SELECT 2;", 1, 1)],
            "escape string literal",
            1,
            id="escape-string",
        ),
        pytest.param(
            "SELECT 1;\nCREATE FUNCTION f() AS $body$\nSELECT 1;\n$$\n",
            [("SELECT 1", 1, 1), ("CREATE FUNCTION f() AS $body$\nSELECT 1;\n$$", 2, 4)],
            "dollar-quoted string $body$",
            2,
            id="dollar-quote",
        ),
        pytest.param(
            "SELECT 1 /* a /* b */ ;\nSELECT 2;",
            [("SELECT 1 /* a /* b */ ;\nSELECT 2;", 1, 2)],
            "block comment",
            1,
            id="nested-block-comment-closed-once",
        ),
        pytest.param(
            "SELECT 1;\n\n/* never closed;\nSELECT 2;",
            [("SELECT 1", 1, 1)],
            "block comment",
            3,
            id="block-comment-between-statements",
        ),
    ],
)
def test_unterminated_quote_or_comment_reports_where_it_started(
    text: str, expected: list[Row], what: str, line: int
) -> None:
    statements, error = split_statements(text)
    assert rows(statements) == expected
    assert isinstance(error, SplitError)
    assert (error.what, error.line) == (what, line)


def test_split_error_message_and_type() -> None:
    _, error = split_statements("SELECT 1;\nSELECT 'x")
    assert isinstance(error, ValueError)
    assert str(error) == "unterminated string literal starting on line 2"


def test_nothing_is_lost_after_an_unterminated_quote() -> None:
    text = "SELECT 1;\n  SELECT $$ body;\nmore;  \n"
    statements, error = split_statements(text)
    assert error is not None
    assert statements[-1].text == "SELECT $$ body;\nmore;"
    assert text.rstrip().endswith(statements[-1].text)


# ------------------------------------------------------------------------- invariants

_SAMPLE = (
    "\\restrict key\n"
    "-- header; it's\n"
    "CREATE TABLE t (\n"
    "  a text DEFAULT 'x;y',\n"
    '  "b;c" int\n'
    ");\n"
    "/* block\n /* nested */ ; */\n"
    "CREATE FUNCTION f() RETURNS int AS $fn$\n"
    "BEGIN RETURN 1; END\n"
    "$fn$ LANGUAGE plpgsql;\n"
    "COMMENT ON TABLE t IS E'it\\'s';\n"
    "SELECT x$y$ FROM t\n"
)


def test_sample_script_splits_into_expected_statements() -> None:
    assert split_ok(_SAMPLE) == [
        ("\\restrict key", 1, 1),
        ("CREATE TABLE t (\n  a text DEFAULT 'x;y',\n  \"b;c\" int\n)", 3, 6),
        (
            "CREATE FUNCTION f() RETURNS int AS $fn$\nBEGIN RETURN 1; END\n$fn$ LANGUAGE plpgsql",
            9,
            11,
        ),
        ("COMMENT ON TABLE t IS E'it\\'s'", 12, 12),
        ("SELECT x$y$ FROM t", 13, 13),
    ]


def _assert_statements_sit_on_their_lines(text: str, statements: list[Statement]) -> None:
    lines = text.split("\n")
    for statement in statements:
        body = statement.text.split("\n")
        assert statement.end_line - statement.line == len(body) - 1
        assert body[0] in lines[statement.line - 1], statement
        assert body[-1] in lines[statement.end_line - 1], statement


def test_statements_sit_on_the_lines_they_report() -> None:
    _assert_statements_sit_on_their_lines(_SAMPLE, split_statements(_SAMPLE)[0])


@pytest.mark.corpus
def test_gitlab_structure_dump_splits_completely(corpus: Path) -> None:
    path = corpus / "gitlab" / "db" / "structure.sql"
    if not path.is_file():
        pytest.skip(f"{path} is not in the corpus")
    text = path.read_text()
    statements, error = split_statements(text)
    assert error is None
    assert len(statements) == 11336
    assert all(s.text and not s.text.endswith(";") for s in statements)
    _assert_statements_sit_on_their_lines(text, statements)


# ----------------------------------------------------------------------- blank_comments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("SELECT 1 -- c\n", "SELECT 1     \n", id="line-comment"),
        pytest.param("a -- it's\nb /* c */", "a        \nb        ", id="docstring-example"),
        pytest.param("a /* x\ny\nz */ b", "a     \n \n     b", id="multi-line-block-comment"),
        pytest.param("a /* b /* c */ d */ e", "a" + " " * 19 + "e", id="nested-block-comment"),
        pytest.param("a -- c\r\nb", "a      \nb", id="crlf-carriage-return-blanked"),
        pytest.param("a /* b\nc", "a     \n ", id="unterminated-block-comment-to-end"),
        pytest.param("a 'b -- c", "a 'b -- c", id="unterminated-string-untouched"),
        pytest.param(
            "SELECT '--x', E'\\'--y', \"--z\", $$--w$$, '/* v */' -- real\n",
            "SELECT '--x', E'\\'--y', \"--z\", $$--w$$, '/* v */'        \n",
            id="comment-openers-inside-quotes-untouched",
        ),
        pytest.param(
            "SELECT type'\\' -- c", "SELECT type'\\'     ", id="word-ending-in-e-before-quote"
        ),
        pytest.param("SELECT x$y$ -- c\n", "SELECT x$y$     \n", id="identifier-with-dollars"),
        pytest.param("SELECT 1; -- c\nSELECT 2;", "SELECT 1;     \nSELECT 2;", id="semicolons"),
        pytest.param("SELECT 'a;b'", "SELECT 'a;b'", id="no-comment"),
    ],
)
def test_blank_comments_replaces_comments_with_spaces(text: str, expected: str) -> None:
    assert blank_comments(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        _SAMPLE,
        "a /* x\r\ny */ b -- c\r\nd",
        "/* a\n/* b\n*/\n*/\n",
        "SELECT $$\n-- not a comment\n$$ -- comment\n",
    ],
)
def test_blank_comments_keeps_length_and_lines(text: str) -> None:
    blanked = blank_comments(text)
    assert len(blanked) == len(text)
    assert [i for i, c in enumerate(blanked) if c == "\n"] == [
        i for i, c in enumerate(text) if c == "\n"
    ]
