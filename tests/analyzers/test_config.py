"""`.cellsbot.yml`: parsing, schema file selection, natural order, glob semantics, owners."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.config import (
    DEFAULT_DUMPS,
    DEFAULT_EXCLUDE,
    DEFAULT_MIGRATIONS,
    Config,
    ConfigError,
    OwnerRule,
    OwnersConfig,
    SchemaFiles,
    Selection,
    is_handle,
    natural_key,
    parse_config,
    select_files,
)

# ------------------------------------------------------------------------- parse_config

_KNOWN = "known: cells, owners, request_reviews, rules, schema, teams"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("  \n\n", id="blank"),
        pytest.param("# nothing configured\n", id="only-a-comment"),
        pytest.param("---\n", id="empty-document"),
        pytest.param("schema:\n", id="empty-schema"),
        pytest.param("schema: {}\n", id="empty-schema-mapping"),
    ],
)
def test_empty_config_gives_defaults(text: str) -> None:
    config = parse_config(text)
    assert config == Config()
    assert config.schema == SchemaFiles(
        dumps=DEFAULT_DUMPS, migrations=DEFAULT_MIGRATIONS, exclude=DEFAULT_EXCLUDE, order="natural"
    )


def test_every_key_is_read() -> None:
    config = parse_config(
        "schema:\n"
        "  dumps: [db/a.sql, db/b.sql]\n"
        "  migrations:\n"
        "    - sql/**/*.sql\n"
        "  exclude: []\n"
        "  order: lexical\n"
    )
    assert config.schema == SchemaFiles(
        dumps=("db/a.sql", "db/b.sql"), migrations=("sql/**/*.sql",), exclude=(), order="lexical"
    )


def test_unset_keys_keep_their_defaults() -> None:
    schema = parse_config("schema:\n  order: lexical\n").schema
    assert (schema.dumps, schema.migrations, schema.exclude) == (
        DEFAULT_DUMPS,
        DEFAULT_MIGRATIONS,
        DEFAULT_EXCLUDE,
    )


@pytest.mark.parametrize("key", ["dumps", "migrations", "exclude"])
def test_a_single_string_glob_is_a_list_of_one(key: str) -> None:
    schema = parse_config(f"schema:\n  {key}: schema/*.sql\n").schema
    assert getattr(schema, key) == ("schema/*.sql",)


def test_docstring_example() -> None:
    assert parse_config("schema:\n  dumps: [schema.sql]\n").schema.dumps == ("schema.sql",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("schema: [unclosed\n", "not valid YAML", id="invalid-yaml"),
        pytest.param("schema:\n\tdumps: x\n", "not valid YAML", id="tab-indentation"),
        pytest.param("a: 1\n---\nb: 2\n", "not valid YAML", id="two-documents"),
        pytest.param("- a\n- b\n", "expected a mapping at the top level", id="top-level-list"),
        pytest.param("[]\n", "expected a mapping at the top level", id="top-level-empty-list"),
        pytest.param("false\n", "expected a mapping at the top level", id="top-level-false"),
        pytest.param("0\n", "expected a mapping at the top level", id="top-level-zero"),
        pytest.param("just words\n", "expected a mapping at the top level", id="top-level-str"),
        pytest.param(
            "schemas: {}\n",
            f"unknown key(s) schemas; {_KNOWN}",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "schema: {}\nextra: 1\nalso: 2\n",
            f"unknown key(s) also, extra; {_KNOWN}",
            id="several-unknown-keys-sorted",
        ),
        pytest.param(
            "1: x\n",
            f"unknown key(s) 1; {_KNOWN}",
            id="integer-key",
        ),
        pytest.param(
            "null: x\n",
            f"unknown key(s) None; {_KNOWN}",
            id="null-key",
        ),
        pytest.param(
            "schema:\n  dump: x\n",
            "schema: unknown key(s) dump; known: dumps, exclude, migrations, order",
            id="unknown-schema-key",
        ),
        pytest.param(
            "schema:\n  2: x\n  z: y\n",
            "schema: unknown key(s) 2, z; known: dumps, exclude, migrations, order",
            id="mixed-key-types",
        ),
        pytest.param("schema: []\n", "`schema` must be a mapping", id="schema-empty-list"),
        pytest.param("schema: ''\n", "`schema` must be a mapping", id="schema-empty-string"),
        pytest.param("schema: db/*.sql\n", "`schema` must be a mapping", id="schema-string"),
        pytest.param(
            "schema:\n  order: random\n",
            "schema.order must be one of natural, lexical, not 'random'",
            id="bad-order",
        ),
        pytest.param(
            "schema:\n  order: Natural\n",
            "schema.order must be one of natural, lexical, not 'Natural'",
            id="order-is-case-sensitive",
        ),
        pytest.param(
            "schema:\n  order: [natural]\n",
            "schema.order must be one of natural, lexical, not ['natural']",
            id="order-list",
        ),
        pytest.param(
            "schema:\n  dumps: 5\n",
            "schema.dumps must be a glob or a list of globs",
            id="dumps-number",
        ),
        pytest.param(
            "schema:\n  dumps:\n",
            "schema.dumps must be a glob or a list of globs",
            id="dumps-null",
        ),
        pytest.param(
            "schema:\n  migrations: [a.sql, 3]\n",
            "schema.migrations must be a glob or a list of globs",
            id="migrations-list-with-number",
        ),
        pytest.param(
            "schema:\n  exclude: {a: b}\n",
            "schema.exclude must be a glob or a list of globs",
            id="exclude-mapping",
        ),
    ],
)
def test_invalid_config_raises_config_error_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert message in str(raised.value)
    assert str(raised.value).startswith(".cellsbot.yml: ")


def test_config_error_names_the_source_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^repo/\.cellsbot\.yml at abc: unknown key\(s\) x;"):
        parse_config("x: 1\n", source="repo/.cellsbot.yml at abc")


# ------------------------------------------------------------------------ select_files

_DEFAULT_SELECTED_DUMPS = ["db/structure.sql"]
_DEFAULT_SELECTED_MIGRATIONS = [
    "db/migrate/x/1.sql",
    "db/migrate/2.sql",
    "migrations/2020_x/up.sql",
    "server/migrations/postgres/000001_x.up.sql",
    "a/migrations/1.sql",
    "migrations/3.sql",
]
_DEFAULT_IGNORED = [
    "README.md",
    "db/schema.rb",
    "db/migrate/20200101_add.rb",
    "db/structure.sql.orig",
    "x/db/structure.sql",
    "migrations/2020_x/down.sql",
    "migrations/2020_x/a/up.sql",
    "server/migrations/postgres/000001_x.down.sql",
    "a/migrations/1.down.sql",
    "a/migrations/sub/2.sql",
    "db/migrate/x/1.down.sql",
    "src/main.sql",
]


@pytest.mark.parametrize("path", _DEFAULT_SELECTED_DUMPS)
def test_defaults_select_dump(path: str) -> None:
    assert select_files([path], SchemaFiles()) == Selection([path], [])


@pytest.mark.parametrize("path", _DEFAULT_SELECTED_MIGRATIONS)
def test_defaults_select_migration(path: str) -> None:
    assert select_files([path], SchemaFiles()) == Selection([], [path])


@pytest.mark.parametrize("path", _DEFAULT_IGNORED)
def test_defaults_ignore_other_files_and_down_migrations(path: str) -> None:
    assert select_files([path], SchemaFiles()) == Selection([], [])


def test_defaults_sort_migrations_and_prefer_dumps_for_paths() -> None:
    paths = _DEFAULT_IGNORED + _DEFAULT_SELECTED_MIGRATIONS + _DEFAULT_SELECTED_DUMPS
    selection = select_files(reversed(paths), SchemaFiles())
    assert selection.dumps == ["db/structure.sql"]
    assert selection.migrations == [
        "a/migrations/1.sql",
        "db/migrate/2.sql",
        "db/migrate/x/1.sql",
        "migrations/3.sql",
        "migrations/2020_x/up.sql",
        "server/migrations/postgres/000001_x.up.sql",
    ]
    assert selection.paths == ["db/structure.sql"]


def test_paths_are_the_migrations_when_there_is_no_dump() -> None:
    selection = select_files(["db/migrate/2.sql", "db/migrate/1.sql"], SchemaFiles())
    assert selection.dumps == []
    assert selection.paths == ["db/migrate/1.sql", "db/migrate/2.sql"]


def test_paths_are_empty_without_schema_files() -> None:
    assert select_files(["README.md"], SchemaFiles()).paths == []


def test_selection_accepts_any_iterable_of_paths() -> None:
    paths = (p for p in ["db/structure.sql", "db/migrate/1.sql"])
    assert select_files(paths, SchemaFiles()) == Selection(
        ["db/structure.sql"], ["db/migrate/1.sql"]
    )


def test_a_path_matching_dumps_and_migrations_is_a_dump_only() -> None:
    files = SchemaFiles(dumps=("sql/schema.sql",), migrations=("sql/*.sql",), exclude=())
    selection = select_files(["sql/2.sql", "sql/schema.sql", "sql/1.sql"], files)
    assert selection == Selection(["sql/schema.sql"], ["sql/1.sql", "sql/2.sql"])


def test_dumps_are_sorted_lexically() -> None:
    files = SchemaFiles(dumps=("dumps/*.sql",), migrations=(), exclude=())
    selection = select_files(["dumps/b10.sql", "dumps/b9.sql", "dumps/a.sql"], files)
    assert selection.dumps == ["dumps/a.sql", "dumps/b10.sql", "dumps/b9.sql"]
    assert selection.paths == selection.dumps


def test_exclude_applies_to_dumps_too() -> None:
    files = SchemaFiles(dumps=("db/*.sql",), migrations=(), exclude=("db/old*.sql",))
    assert select_files(["db/old.sql", "db/new.sql"], files).dumps == ["db/new.sql"]


def test_empty_exclude_keeps_down_migrations() -> None:
    files = SchemaFiles(exclude=())
    selection = select_files(["db/migrate/1.down.sql", "a/migrations/1.down.sql"], files)
    assert selection.migrations == ["a/migrations/1.down.sql", "db/migrate/1.down.sql"]


_DELTAS = ["delta/10/a.sql", "delta/9/b.sql", "delta/9/a.sql", "delta/100/a.sql"]


def test_natural_order_compares_numbers_by_value() -> None:
    files = SchemaFiles(dumps=(), migrations=("delta/**/*.sql",), order="natural")
    assert select_files(_DELTAS, files).migrations == [
        "delta/9/a.sql",
        "delta/9/b.sql",
        "delta/10/a.sql",
        "delta/100/a.sql",
    ]


def test_lexical_order_compares_characters() -> None:
    files = SchemaFiles(dumps=(), migrations=("delta/**/*.sql",), order="lexical")
    assert select_files(_DELTAS, files).migrations == [
        "delta/10/a.sql",
        "delta/100/a.sql",
        "delta/9/a.sql",
        "delta/9/b.sql",
    ]


@pytest.mark.parametrize(
    "paths",
    [
        ["m/migrations/1_a.sql", "m/migrations/01_a.sql"],
        ["m/migrations/01_a.sql", "m/migrations/1_a.sql"],
    ],
)
def test_natural_order_does_not_depend_on_input_order(paths: list[str]) -> None:
    # 1 and 01 have the same value; the path itself breaks the tie.
    assert select_files(paths, SchemaFiles()).migrations == [
        "m/migrations/01_a.sql",
        "m/migrations/1_a.sql",
    ]


def test_order_from_parsed_config_is_applied() -> None:
    files = parse_config("schema:\n  migrations: 'delta/*/a.sql'\n  order: lexical\n").schema
    assert select_files(["delta/9/a.sql", "delta/10/a.sql"], files).paths == [
        "delta/10/a.sql",
        "delta/9/a.sql",
    ]


# -------------------------------------------------------------------------- natural_key


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("delta/10/a.sql", ["delta/", 10, "/a.sql"]),
        ("no digits", ["no digits"]),
        ("007", ["", 7, ""]),
        ("v1.2", ["v", 1, ".", 2, ""]),
        ("x1²", ["x", 1, "²"]),  # `²` is a digit to str.isdigit, but not a number
        ("m/٣_x.sql", ["m/", 3, "_x.sql"]),  # any Unicode decimal digit has its value
    ],
)
def test_natural_key_splits_digit_runs_into_numbers(path: str, key: list[object]) -> None:
    assert natural_key(path) == key


def test_natural_key_sorts_versions_and_prefixes() -> None:
    paths = ["v1.10", "v1.9", "v1.9.1", "v1", "v10", "v2"]
    assert sorted(paths, key=natural_key) == ["v1", "v1.9", "v1.9.1", "v1.10", "v2", "v10"]


# ------------------------------------------------------------------------- glob semantics


def _matches(glob: str, path: str) -> bool:
    files = SchemaFiles(dumps=(), migrations=(glob,), exclude=())
    return select_files([path], files).migrations == [path]


@pytest.mark.parametrize(
    ("glob", "path", "expected"),
    [
        # `**/` spans zero or more directories
        ("**/x.sql", "x.sql", True),
        ("**/x.sql", "a/x.sql", True),
        ("**/x.sql", "a/b/c/x.sql", True),
        ("**/x.sql", "ax.sql", False),
        ("**/x.sql", "a/bx.sql", False),
        ("a/**/x.sql", "a/x.sql", True),
        ("a/**/x.sql", "a/b/x.sql", True),
        ("a/**/x.sql", "a/b/c/x.sql", True),
        ("a/**/x.sql", "ab/x.sql", False),
        ("a/**/x.sql", "b/a/x.sql", False),
        ("a/**/x.sql", "a/b/x.sql.bak", False),
        # a trailing `**` matches everything below
        ("db/**", "db/a/b.sql", True),
        ("db/**", "dbx/a.sql", False),
        # `*` stays inside one segment
        ("*.sql", "a.sql", True),
        ("*.sql", ".sql", True),
        ("*.sql", "d/a.sql", False),
        ("d/*.sql", "d/e/a.sql", False),
        ("migrations/*/up.sql", "migrations/a/up.sql", True),
        ("migrations/*/up.sql", "migrations/a/b/up.sql", False),
        ("migrations/*/up.sql", "migrations/up.sql", False),
        # `?` is exactly one character, never `/`
        ("d/?.sql", "d/1.sql", True),
        ("d/?.sql", "d/12.sql", False),
        ("d/?.sql", "d/.sql", False),
        ("d?a.sql", "d/a.sql", False),
        # everything else is literal, and the whole path must match
        ("a.sql", "aXsql", False),
        ("[ab].sql", "a.sql", False),
        ("[ab].sql", "[ab].sql", True),
        ("a+(b).sql", "a+(b).sql", True),
        ("db/structure.sql", "db/structure.sql", True),
        ("db/structure.sql", "db/structure.sql.bak", False),
        ("db/structure.sql", "x/db/structure.sql", False),
    ],
)
def test_glob_semantics(glob: str, path: str, expected: bool) -> None:
    assert _matches(glob, path) is expected


def test_the_documented_cells_example_is_valid():
    """docs/configuration.md's complete example parses, with the values it shows."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = docs[docs.index("## The sharding model") :]
    example = section[
        section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))
    ]
    cells = parse_config(example).cells
    assert cells.roots == {"organizations": "organization_id"}
    assert cells.classes["cell_local"][0] == "schema_migrations"
    assert cells.sharding_keys == {"wallet_transactions": {"wallet_org_id": "organizations"}}
    assert [claim.table for claim in cells.claims] == ["users", "api_keys"]


# ------------------------------------------------------------- owners, teams, request_reviews


def test_owners_teams_and_request_reviews_are_read() -> None:
    config = parse_config(
        "owners:\n"
        "  - tables: ['ci_*', 'public.p_ci_*']\n"
        "    owners: ['@gitlab-org/verify']\n"
        "  - paths: 'db/migrate/*ci*'\n"
        "    owners: '@alice'\n"
        "  - tables: [audit.*]\n"
        "    paths: ['db/audit/**']\n"
        "    owners: [compliance@example.com, '@@maintainer']\n"
        "teams:\n"
        "  continuous_integration: ['@gitlab-org/verify', '@gitlab-org/verify/runner']\n"
        "  team_planning: '@gitlab-org/plan'\n"
        "  deprecated: []\n"
        "request_reviews: true\n"
    )
    assert config.owners == OwnersConfig(
        rules=(
            OwnerRule(owners=("@gitlab-org/verify",), tables=("ci_*", "public.p_ci_*")),
            OwnerRule(owners=("@alice",), paths=("db/migrate/*ci*",)),
            OwnerRule(
                owners=("compliance@example.com", "@@maintainer"),
                tables=("audit.*",),
                paths=("db/audit/**",),
            ),
        ),
        teams={
            "continuous_integration": ("@gitlab-org/verify", "@gitlab-org/verify/runner"),
            "team_planning": ("@gitlab-org/plan",),
            "deprecated": (),
        },
        request_reviews=True,
    )
    assert config.schema == SchemaFiles()


@pytest.mark.parametrize(
    "text",
    ["", "owners:\nteams:\n", "owners: []\nteams: {}\nrequest_reviews: false\n"],
)
def test_owners_default_to_none(text: str) -> None:
    assert parse_config(text).owners == OwnersConfig()
    assert OwnersConfig() == OwnersConfig(rules=(), teams={}, request_reviews=False)


_HANDLES = "(@user, @group/subgroup, @@role or an email address)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("owners: {a: b}\n", "owners must be a list of rules", id="owners-mapping"),
        pytest.param("owners: '@a'\n", "owners must be a list of rules", id="owners-string"),
        pytest.param(
            "owners: ['@a']\n",
            "owners[1] must be a mapping with `owners` and globs",
            id="rule-string",
        ),
        pytest.param(
            "owners:\n  - tables: [a]\n    owners: ['@a']\n  - table: [b]\n    owners: ['@b']\n",
            "owners[2]: unknown key(s) table; known: owners, paths, tables",
            id="unknown-rule-key",
        ),
        pytest.param("owners:\n  - tables: [a]\n", "owners[1] needs `owners`", id="no-owners"),
        pytest.param(
            "owners:\n  - tables: [a]\n    owners: []\n",
            "owners[1].owners must name at least one owner",
            id="empty-owners",
        ),
        pytest.param(
            "owners:\n  - owners: ['@a']\n",
            "owners[1] needs `tables` or `paths` (globs)",
            id="no-globs",
        ),
        pytest.param(
            "owners:\n  - owners: ['@a']\n    tables: []\n    paths: []\n",
            "owners[1] needs `tables` or `paths` (globs)",
            id="empty-globs",
        ),
        pytest.param(
            "owners:\n  - owners: ['@a']\n    tables: {ci: x}\n",
            "owners[1].tables must be a glob or a list of globs",
            id="tables-mapping",
        ),
        pytest.param(
            "owners:\n  - owners: ['@a']\n    paths: [db/, 3]\n",
            "owners[1].paths must be a glob or a list of globs",
            id="paths-with-number",
        ),
        pytest.param(
            "owners:\n  - owners: ['@a']\n    paths: ['']\n",
            "owners[1].paths must be a glob or a list of globs",
            id="empty-glob",
        ),
        pytest.param(
            "owners:\n  - owners: [alice]\n    tables: [a]\n",
            f"owners[1].owners: 'alice' is not an owner {_HANDLES}",
            id="handle-without-at",
        ),
        pytest.param(
            "owners:\n  - owners: {a: b}\n    tables: [a]\n",
            "owners[1].owners must be a handle or a list of handles",
            id="owners-mapping-in-rule",
        ),
        pytest.param(
            "teams: ['@a']\n",
            "teams must be a mapping of feature category to owners",
            id="teams-list",
        ),
        pytest.param(
            "teams:\n  ci: [3]\n",
            "teams.ci must be a handle or a list of handles",
            id="team-number",
        ),
        pytest.param(
            "teams:\n  ci: ['@group/']\n",
            f"teams.ci: '@group/' is not an owner {_HANDLES}",
            id="team-bad-handle",
        ),
        pytest.param(
            "request_reviews: 'yes'\n",
            "request_reviews must be true or false, not 'yes'",
            id="request-reviews-string",
        ),
        pytest.param(
            "request_reviews:\n",
            "request_reviews must be true or false, not None",
            id="request-reviews-null",
        ),
    ],
)
def test_invalid_owners_config(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert str(raised.value) == f".cellsbot.yml: {message}"


@pytest.mark.parametrize(
    "handle",
    [
        "@alice",
        "@a",
        "@first.last",
        "@user_name-2",
        "@gitlab-org/verify",
        "@gitlab-org/maintainers/database",
        "@@maintainer",
        "@@maintainers",
        "@@developer",
        "@@Owner",
        "jane.doe@example.com",
        "ops+db@mail.example.org",
        "root@localhost",
    ],
)
def test_valid_handles(handle: str) -> None:
    assert is_handle(handle)
    assert parse_config(f"teams:\n  ci: ['{handle}']\n").owners.teams == {"ci": (handle,)}


@pytest.mark.parametrize(
    "handle",
    [
        "alice",
        "@",
        "@@",
        "@@reporter",
        "@@guest",
        "@-alice",
        "@group/",
        "@group//sub",
        "@a b",
        "@alice,",
        "@al!ce",
        "@alice@example.com",
        "@example.com@",
        "jane@",
        "jane@example.",
        "",
    ],
)
def test_invalid_handles(handle: str) -> None:
    assert not is_handle(handle)
    with pytest.raises(ConfigError, match="is not an owner"):
        parse_config(f"teams:\n  ci: ['{handle}']\n")


def test_the_documented_owners_example_is_valid():
    """docs/configuration.md's owners example parses, with the values it shows."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = docs[docs.index("## Owners") :]
    example = section[
        section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))
    ]
    owners = parse_config(example).owners
    assert owners.rules[0] == OwnerRule(owners=("@gitlab-org/verify",), tables=("ci_*", "p_ci_*"))
    assert owners.teams["team_planning"] == ("@gitlab-org/plan",)
    assert owners.request_reviews is False
