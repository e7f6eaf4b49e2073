"""Suppression comments: where they are written, what they cover, and how they are applied."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from analyzers.findings import WARNING, Finding
from analyzers.suppressions import (
    Suppression,
    apply_suppressions,
    parse_sql_suppressions,
    parse_yaml_suppressions,
)

SQL = "db/structure.sql"
YML = "db/docs/projects.yml"

Row = tuple[int, tuple[str, ...], str, str, int, int]  # line, codes, reason, scope, first, last
Parser = Callable[[str, str], tuple[list[Suppression], list[Finding]]]


def finding(rule: str, line: int, path: str = SQL) -> Finding:
    return Finding(rule=rule, name="some-rule", severity="error", path=path, line=line, message="m")


def rows(suppressions: list[Suppression]) -> list[Row]:
    return [
        (s.line, tuple(sorted(s.codes)), s.reason, s.scope, s.first_line, s.last_line)
        for s in suppressions
    ]


def parse_sql(text: str) -> list[Row]:
    """Suppressions of `text`, which must give no warning."""
    suppressions, warnings = parse_sql_suppressions(SQL, text)
    assert warnings == []
    return rows(suppressions)


def parse_yaml(text: str) -> list[Row]:
    suppressions, warnings = parse_yaml_suppressions(YML, text)
    assert warnings == []
    return rows(suppressions)


def warning_lines(warnings: list[Finding]) -> list[tuple[str, str, str, str, int]]:
    return [(w.rule, w.name, w.severity, w.path, w.line) for w in warnings]


def suppressed(
    findings: list[Finding], suppressions: list[Suppression]
) -> list[tuple[str, int, str | None]]:
    """(rule, line, suppressed_by) of the suppressed findings; checks nothing is lost."""
    result = apply_suppressions(findings, suppressions)
    assert len(result.findings) + len(result.suppressed) == len(findings)
    assert all(f.suppressed_by is None for f in result.findings)
    return [(f.rule, f.line, f.suppressed_by) for f in result.suppressed]


# ----------------------------------------------------------------------------- SQL forms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "SELECT 1;\nCREATE UNIQUE INDEX i ON t (a); -- cellsbot:ignore CELLS010 scoped\n",
            [(2, ("CELLS010",), "scoped", "statement", 2, 2)],
            id="same-line",
        ),
        pytest.param(
            "SELECT 1;\n-- cellsbot:ignore CELLS010 scoped by trigger\nCREATE UNIQUE INDEX i\n"
            "  ON t (a);\n",
            [(2, ("CELLS010",), "scoped by trigger", "statement", 3, 4)],
            id="line-before",
        ),
        pytest.param(
            "-- Unique per project.\n-- cellsbot:ignore CELLS010 scoped\n-- (see issue 12)\n"
            "/* another */\nCREATE UNIQUE INDEX i ON t (a);\n",
            [(2, ("CELLS010",), "scoped", "statement", 5, 5)],
            id="comment-block-before",
        ),
        pytest.param(
            "/* cellsbot:ignore CELLS010 scoped */\nCREATE UNIQUE INDEX i ON t (a);\n",
            [(1, ("CELLS010",), "scoped", "statement", 2, 2)],
            id="block-comment-before",
        ),
        pytest.param(
            "/* cellsbot:ignore CELLS010 scoped */ CREATE UNIQUE INDEX i\n  ON t (a);\n",
            [(1, ("CELLS010",), "scoped", "statement", 1, 2)],
            id="block-comment-same-line",
        ),
        pytest.param(
            "/*\n * Note.\n * cellsbot:ignore CELLS010 scoped\n */\n"
            "CREATE UNIQUE INDEX i ON t (a);\n",
            [(3, ("CELLS010",), "scoped", "statement", 5, 5)],
            id="multi-line-block-comment",
        ),
        pytest.param(
            "CREATE TABLE t (\n  id bigint,\n  -- cellsbot:ignore CELLS011 legacy\n  a text\n);\n",
            [(3, ("CELLS011",), "legacy", "statement", 1, 5)],
            id="inside-statement",
        ),
        pytest.param(
            "CREATE UNIQUE INDEX i ON t (a); -- cellsbot:ignore CELLS010,CELLS011 both fine\n",
            [(1, ("CELLS010", "CELLS011"), "both fine", "statement", 1, 1)],
            id="several-codes",
        ),
        pytest.param(
            "SELECT 1; -- cellsbot:ignore CELLS010 , CELLS011: both fine\n",
            [(1, ("CELLS010", "CELLS011"), "both fine", "statement", 1, 1)],
            id="several-codes-spaced-colon",
        ),
        pytest.param(
            "SELECT 1; --cellsbot:ignore CELLS010 -- legacy table\n",
            [(1, ("CELLS010",), "legacy table", "statement", 1, 1)],
            id="no-space-and-dash-separator",
        ),
        pytest.param(
            "SELECT 1;\n\n-- cellsbot:ignore-file CELLS010,CELLS002 generated dump\nSELECT 2;\n",
            [(3, ("CELLS002", "CELLS010"), "generated dump", "file", 1, 4)],
            id="file-scope",
        ),
        pytest.param(
            "SELECT 1;\n/* cellsbot:ignore-file CELLS002 generated */\n",
            [(2, ("CELLS002",), "generated", "file", 1, 2)],
            id="file-scope-block-comment-at-end",
        ),
        pytest.param(
            "SELECT 1; SELECT 2; -- cellsbot:ignore CELLS010 both\nSELECT 3;\n",
            [(1, ("CELLS010",), "both", "statement", 1, 1)],
            id="two-statements-on-the-line",
        ),
    ],
)
def test_sql_forms(text: str, expected: list[Row]) -> None:
    assert parse_sql(text) == expected


def test_sql_statement_suppression_covers_only_its_statement() -> None:
    text = (
        "-- cellsbot:ignore CELLS010 scoped by trigger\n"  # 1
        "CREATE UNIQUE INDEX a ON t (x)\n"  # 2
        "  WHERE x > 0;\n"  # 3
        "CREATE UNIQUE INDEX b ON t (y);\n"  # 4
        "\n"  # 5
        "CREATE UNIQUE INDEX c ON t (z);\n"  # 6
    )
    suppressions, warnings = parse_sql_suppressions(SQL, text)
    assert warnings == []
    findings = [
        finding("CELLS010", 2),
        finding("CELLS010", 3),
        finding("CELLS011", 2),
        finding("CELLS010", 4),
        finding("CELLS010", 6),
    ]
    result = apply_suppressions(findings, suppressions)
    assert [(f.rule, f.line, f.suppressed_by) for f in result.suppressed] == [
        ("CELLS010", 2, "scoped by trigger"),
        ("CELLS010", 3, "scoped by trigger"),
    ]
    assert [(f.rule, f.line) for f in result.findings] == [
        ("CELLS011", 2),
        ("CELLS010", 4),
        ("CELLS010", 6),
    ]
    assert result.errors == result.findings


def test_sql_trailing_comment_does_not_reach_the_next_statement() -> None:
    text = "CREATE INDEX a ON t (x); -- cellsbot:ignore CELLS010 fine\nCREATE INDEX b ON t (y);\n"
    suppressions, _ = parse_sql_suppressions(SQL, text)
    assert suppressed([finding("CELLS010", 1), finding("CELLS010", 2)], suppressions) == [
        ("CELLS010", 1, "fine")
    ]


def test_sql_file_scope_covers_every_line_and_lineless_findings() -> None:
    text = "SELECT 1;\n-- cellsbot:ignore-file CELLS002 generated\nSELECT 2;\n"
    suppressions, _ = parse_sql_suppressions(SQL, text)
    findings = [finding("CELLS002", 1), finding("CELLS002", 40), finding("CELLS002", 0)]
    findings.append(finding("CELLS010", 1))
    assert suppressed(findings, suppressions) == [
        ("CELLS002", 1, "generated"),
        ("CELLS002", 40, "generated"),
        ("CELLS002", 0, "generated"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("SELECT '-- cellsbot:ignore CELLS010 in a string';\n", id="string-literal"),
        pytest.param("SELECT E'\\' -- cellsbot:ignore CELLS010 escaped';\n", id="escape-string"),
        pytest.param(
            'CREATE TABLE "-- cellsbot:ignore CELLS010 x" (a int);\n', id="quoted-identifier"
        ),
        pytest.param(
            "CREATE FUNCTION f() RETURNS void AS $$\n"
            "  -- cellsbot:ignore CELLS010 in a body\n"
            "  /* cellsbot:ignore-file CELLS002 in a body */\n"
            "  SELECT 1;\n"
            "$$ LANGUAGE sql;\n",
            id="dollar-quoted-body",
        ),
        pytest.param(
            "CREATE FUNCTION f() RETURNS void AS $body$\n"
            "-- cellsbot:ignore-file CELLS010 in a body\n"
            "$body$ LANGUAGE sql;\n",
            id="tagged-dollar-quoted-body",
        ),
        pytest.param(
            "-- see cellsbot:ignore CELLS010 in the docs\nSELECT 1;\n",
            id="not-at-comment-start",
        ),
    ],
)
def test_sql_directives_that_do_not_count(text: str) -> None:
    assert parse_sql(text) == []


def test_sql_comment_after_a_string_still_counts() -> None:
    text = "SELECT 'it''s -- not a comment'; -- cellsbot:ignore CELLS010 real\n"
    assert parse_sql(text) == [(1, ("CELLS010",), "real", "statement", 1, 1)]


# ---------------------------------------------------------------------------- YAML forms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "table_name: projects\nsharding_key: {} # cellsbot:ignore CELLS002 top-level\n",
            [(2, ("CELLS002",), "top-level", "line", 2, 2)],
            id="same-line",
        ),
        pytest.param(
            "table_name: projects\n# cellsbot:ignore CELLS002 top-level\nsharding_key: {}\n",
            [(2, ("CELLS002",), "top-level", "line", 2, 3)],
            id="line-before",
        ),
        pytest.param(
            "# cellsbot:ignore CELLS002,CELLS003 top-level\n# another comment\n"
            "  # indented comment\ntable_name: projects\n",
            [(1, ("CELLS002", "CELLS003"), "top-level", "line", 1, 4)],
            id="comment-block-before-several-codes",
        ),
        pytest.param(
            "table_name: projects\n\n# cellsbot:ignore-file CELLS002 organization-wide table\n",
            [(3, ("CELLS002",), "organization-wide table", "file", 1, 3)],
            id="file-scope",
        ),
    ],
)
def test_yaml_forms(text: str, expected: list[Row]) -> None:
    assert parse_yaml(text) == expected


def test_yaml_line_suppression_covers_only_its_line() -> None:
    text = (
        "table_name: projects\n"  # 1
        "# cellsbot:ignore CELLS002 top-level\n"  # 2
        "sharding_key:\n"  # 3
        "  namespace_id: namespaces\n"  # 4
        "gitlab_schema: gitlab_main_cell\n"  # 5
    )
    suppressions, warnings = parse_yaml_suppressions(YML, text)
    assert warnings == []
    findings = [finding("CELLS002", line, YML) for line in (1, 2, 3, 4, 5)]
    assert suppressed(findings, suppressions) == [
        ("CELLS002", 2, "top-level"),
        ("CELLS002", 3, "top-level"),
    ]


def test_yaml_hash_inside_scalars_is_not_a_comment() -> None:
    text = (
        'description: "# cellsbot:ignore CELLS002 quoted"\n'
        "notes: 'a # cellsbot:ignore CELLS002 single-quoted'\n"
        "url: https://example.com/#cellsbot:ignore\n"
        "details: |\n"
        "  # cellsbot:ignore-file CELLS002 block scalar content\n"
        "  more text\n"
        "# cellsbot:ignore CELLS003 real\n"
        "table_name: projects\n"
    )
    assert parse_yaml(text) == [(7, ("CELLS003",), "real", "line", 7, 8)]


def test_yaml_that_does_not_parse_still_yields_comments() -> None:
    text = "table_name: [projects\n# cellsbot:ignore-file CELLS002 broken file\n"
    assert parse_yaml(text) == [(2, ("CELLS002",), "broken file", "file", 1, 2)]


# ------------------------------------------------------------------------------ warnings


@pytest.mark.parametrize(
    ("parse", "path", "text", "line", "scope"),
    [
        pytest.param(
            parse_sql_suppressions, SQL, "SELECT 1;\nSELECT 2; -- cellsbot:ignore CELLS010\n", 2,
            "statement", id="sql-statement",
        ),
        pytest.param(
            parse_sql_suppressions, SQL, "/* cellsbot:ignore-file CELLS010 */\nSELECT 1;\n", 1,
            "file", id="sql-file",
        ),
        pytest.param(
            parse_yaml_suppressions, YML, "# cellsbot:ignore CELLS002   \ntable_name: t\n", 1,
            "line", id="yaml-line",
        ),
    ],
)  # fmt: skip
def test_missing_reason_warns_and_still_applies(
    parse: Parser, path: str, text: str, line: int, scope: str
) -> None:
    suppressions, warnings = parse(path, text)
    assert warning_lines(warnings) == [
        ("CELLS091", "suppression-without-reason", WARNING, path, line)
    ]
    assert "reason" in warnings[0].message
    assert [(s.line, s.reason, s.scope) for s in suppressions] == [(line, "", scope)]
    code = next(iter(suppressions[0].codes))
    assert suppressed([finding(code, 2, path)], suppressions) == [(code, 2, "")]


@pytest.mark.parametrize(
    ("text", "line", "mentions"),
    [
        pytest.param("SELECT 1; -- cellsbot:ignore\n", 1, "no rule code", id="no-code"),
        pytest.param("SELECT 1; -- cellsbot:ignore   \n", 1, "no rule code", id="blank-code"),
        pytest.param("SELECT 1; -- cellsbot:ignore * everything\n", 1, "'*'", id="wildcard"),
        pytest.param(
            "SELECT 1; -- cellsbot:ignore cells010 lower case\n", 1, "'cells010'", id="lower-case"
        ),
        pytest.param(
            "SELECT 1; -- cellsbot:ignore this is fine\n", 1, "'this'", id="reason-without-code"
        ),
        pytest.param(
            "SELECT 1; -- cellsbot:ignore CELLS010,CELLS1 typo\n", 1, "'CELLS1'", id="one-bad"
        ),
        pytest.param(
            "SELECT 1; -- cellsbot:ignore, CELLS010 typo\n", 1, "no rule code", id="glued-comma"
        ),
        pytest.param(
            "SELECT 1;\n-- cellsbot:ignore-next-line CELLS010 typo\nSELECT 2;\n",
            2,
            "`cellsbot:ignore-next-line` is not a directive",
            id="unknown-keyword",
        ),
        pytest.param(
            "SELECT 1;\n-- cellsbot:ignore CELLS010 dangling\n\nSELECT 2;\n",
            2,
            "suppresses nothing",
            id="blank-line-before-statement",
        ),
        pytest.param(
            "SELECT 1;\n-- cellsbot:ignore CELLS010 dangling\n",
            2,
            "suppresses nothing",
            id="end-of-file",
        ),
    ],
)
def test_invalid_sql_suppression_warns_and_suppresses_nothing(
    text: str, line: int, mentions: str
) -> None:
    suppressions, warnings = parse_sql_suppressions(SQL, text)
    assert suppressions == []
    assert warning_lines(warnings) == [
        ("CELLS091", "suppression-without-reason", WARNING, SQL, line)
    ]
    assert mentions in warnings[0].message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("# cellsbot:ignore * all\ntable_name: t\n", id="wildcard"),
        pytest.param("# cellsbot:ignore-file\ntable_name: t\n", id="no-code"),
        pytest.param("table_name: t\n# cellsbot:ignore CELLS002 dangling\n\nx: 1\n", id="dangling"),
    ],
)
def test_invalid_yaml_suppression_warns_and_suppresses_nothing(text: str) -> None:
    suppressions, warnings = parse_yaml_suppressions(YML, text)
    assert suppressions == []
    assert [(w.rule, w.severity) for w in warnings] == [("CELLS091", WARNING)]


def test_invalid_and_valid_directives_in_one_file() -> None:
    text = (
        "-- cellsbot:ignore CELLS0 typo\n"  # 1
        "-- cellsbot:ignore CELLS010 real\n"  # 2
        "CREATE UNIQUE INDEX i ON t (a);\n"  # 3
    )
    suppressions, warnings = parse_sql_suppressions(SQL, text)
    assert rows(suppressions) == [(2, ("CELLS010",), "real", "statement", 3, 3)]
    assert [w.line for w in warnings] == [1]


# ------------------------------------------------------------------------------ applying


def test_findings_in_other_files_are_untouched() -> None:
    suppressions, _ = parse_sql_suppressions(
        SQL, "-- cellsbot:ignore-file CELLS010 generated\nCREATE UNIQUE INDEX i ON t (a);\n"
    )
    other = [finding("CELLS010", 2, "db/other.sql"), finding("CELLS010", 2, "")]
    result = apply_suppressions(other, suppressions)
    assert result.findings == other
    assert result.suppressed == []


def test_findings_without_a_line_are_not_suppressed_by_line_scoped_suppressions() -> None:
    suppressions, _ = parse_sql_suppressions(SQL, "SELECT 1; -- cellsbot:ignore CELLS010 x\n")
    lineless = finding("CELLS010", 0)
    assert apply_suppressions([lineless], suppressions).findings == [lineless]


def test_statement_suppression_wins_over_file_suppression() -> None:
    text = (
        "-- cellsbot:ignore-file CELLS010 generated\n"  # 1
        "SELECT 1;\n"  # 2
        "SELECT 2; -- cellsbot:ignore CELLS010 specific\n"  # 3
    )
    suppressions, _ = parse_sql_suppressions(SQL, text)
    assert suppressed([finding("CELLS010", 2), finding("CELLS010", 3)], suppressions) == [
        ("CELLS010", 2, "generated"),
        ("CELLS010", 3, "specific"),
    ]


def test_already_suppressed_findings_stay_suppressed() -> None:
    done = Finding("CELLS010", "n", "error", SQL, 1, "m", suppressed_by="earlier")
    result = apply_suppressions([done], [])
    assert result.suppressed == [done]
    assert result.findings == []


def test_suppressions_across_sql_and_yaml_files() -> None:
    sql, _ = parse_sql_suppressions(SQL, "SELECT 1; -- cellsbot:ignore CELLS010 sql reason\n")
    yml, _ = parse_yaml_suppressions(YML, "x: 1 # cellsbot:ignore CELLS010 yaml reason\n")
    findings = [finding("CELLS010", 1), finding("CELLS010", 1, YML), finding("CELLS010", 2)]
    result = apply_suppressions(findings, sql + yml)
    assert [(f.path, f.line, f.suppressed_by) for f in result.suppressed] == [
        (SQL, 1, "sql reason"),
        (YML, 1, "yaml reason"),
    ]
    assert result.suppressed[0].to_json()["suppressed_by"] == "sql reason"
    assert [(f.path, f.line) for f in result.findings] == [(SQL, 2)]
