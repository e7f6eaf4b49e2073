"""Owners of what a merge request touches: CODEOWNERS as GitLab reads it, and resolve_owners."""

from __future__ import annotations

import doctest

import pytest

import analyzers.owners
from analyzers.config import OwnerRule, OwnersConfig, parse_config
from analyzers.owners import (
    CODEOWNERS_PATHS,
    CodeOwners,
    Owner,
    Problem,
    Reason,
    SectionMatch,
    Touched,
    dictionary_path,
    find_codeowners,
    outside_author,
    parse_codeowners,
    resolve_owners,
    table_matches,
)

# A CODEOWNERS file in the style of GitLab's own (`.gitlab/CODEOWNERS`): an unnamed section,
# required and optional sections with default owners, a `[Database]` section owning `/db/` and
# the dictionary `/db/docs/`, and an approvals count.
ACME_CODEOWNERS = """\
# Code owners of the Acme application. Every required section needs an approval.
# See https://docs.gitlab.com/user/project/codeowners/reference/

* @acme/maintainers

^[Documentation] @acme/technical-writing
/doc/
*.md

[Database][2] @acme/database/reviewers
/db/
/db/docs/ @acme/database/reviewers @acme/cells
/db/fixtures/
!/db/fixtures/development/
/lib/acme/database/

[Backend] @acme/backend
*.rb
/db/fixtures/ @acme/qa

[Verify]
/app/models/ci/ @acme/verify
/db/docs/ci_*.yml @acme/verify release-team@acme.example

^[Security] @@maintainer
/db/docs/*_tokens.yml
/app/models/ci/runner\\ token.rb @acme/security
\\#notes.md @acme/security
"""

_ALL = SectionMatch(None, ("@acme/maintainers",), "*", 4)
_DB = SectionMatch("Database", ("@acme/database/reviewers",), "/db/", 11, approvals=2)
_DB_DOCS = SectionMatch(
    "Database", ("@acme/database/reviewers", "@acme/cells"), "/db/docs/", 12, approvals=2
)


@pytest.fixture(scope="module")
def acme() -> CodeOwners:
    return parse_codeowners(ACME_CODEOWNERS, source=".gitlab/CODEOWNERS")


def test_the_example_has_no_problems(acme: CodeOwners) -> None:
    assert acme.problems == ()
    assert [section.name for section in acme.sections] == [
        None,
        "Documentation",
        "Database",
        "Backend",
        "Verify",
        "Security",
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("db/structure.sql", [_ALL, _DB], id="database-directory"),
        pytest.param(
            "db/docs/ci_builds.yml",
            [
                _ALL,
                _DB_DOCS,  # `/db/docs/` is the last match in [Database]: it wins over `/db/`
                SectionMatch(
                    "Verify",
                    ("@acme/verify", "release-team@acme.example"),
                    "/db/docs/ci_*.yml",
                    23,
                ),
            ],
            id="dictionary-file-in-three-sections",
        ),
        pytest.param(
            "db/docs/personal_access_tokens.yml",
            [
                _ALL,
                _DB_DOCS,
                SectionMatch(
                    "Security", ("@@maintainer",), "/db/docs/*_tokens.yml", 26, optional=True
                ),
            ],
            id="optional-section-with-a-role-as-default",
        ),
        pytest.param(
            "db/fixtures/development/users.rb",
            # excluded from [Database]; in [Backend] the later `/db/fixtures/` beats `*.rb`
            [_ALL, SectionMatch("Backend", ("@acme/qa",), "/db/fixtures/", 19)],
            id="exclusion-and-last-match-wins",
        ),
        pytest.param(
            "db/fixtures/production/plans.rb",
            [
                _ALL,
                SectionMatch(
                    "Database", ("@acme/database/reviewers",), "/db/fixtures/", 13, approvals=2
                ),
                SectionMatch("Backend", ("@acme/qa",), "/db/fixtures/", 19),
            ],
            id="exclusion-is-only-for-its-directory",
        ),
        pytest.param(
            "doc/api/README.md",
            [
                _ALL,
                SectionMatch(
                    "Documentation", ("@acme/technical-writing",), "*.md", 8, optional=True
                ),
            ],
            id="default-owners-of-an-optional-section",
        ),
        pytest.param(
            "app/models/ci/runner token.rb",
            [
                _ALL,
                SectionMatch("Backend", ("@acme/backend",), "*.rb", 18),
                SectionMatch("Verify", ("@acme/verify",), "/app/models/ci/", 22),
                SectionMatch(
                    "Security",
                    ("@acme/security",),
                    "/app/models/ci/runner\\ token.rb",
                    27,
                    optional=True,
                ),
            ],
            id="escaped-space",
        ),
        pytest.param(
            "lib/#notes.md",
            [
                _ALL,
                SectionMatch(
                    "Documentation", ("@acme/technical-writing",), "*.md", 8, optional=True
                ),
                SectionMatch("Security", ("@acme/security",), "\\#notes.md", 28, optional=True),
            ],
            id="escaped-hash-at-any-depth",
        ),
        pytest.param(".gitlab-ci.yml", [_ALL], id="star-matches-dotfiles"),
        pytest.param("/db/structure.sql", [_ALL, _DB], id="leading-slash-in-the-path"),
    ],
)
def test_owners_of_the_example(acme: CodeOwners, path: str, expected: list[SectionMatch]) -> None:
    assert acme.owners_of(path) == expected


# ---------------------------------------------------------------------- where the file is


def test_codeowners_paths_in_gitlab_order() -> None:
    assert CODEOWNERS_PATHS == ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"], "CODEOWNERS"),
        ([".gitlab/CODEOWNERS", "docs/CODEOWNERS"], "docs/CODEOWNERS"),
        ([".gitlab/CODEOWNERS", "README.md"], ".gitlab/CODEOWNERS"),
        (["lib/CODEOWNERS", ".github/CODEOWNERS", "codeowners"], None),
        ([], None),
    ],
)
def test_find_codeowners_takes_the_first_in_gitlab_order(
    paths: list[str], expected: str | None
) -> None:
    assert find_codeowners(iter(paths)) == expected


# ---------------------------------------------------------------------- pattern semantics


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # anchored: from the root only
        ("/README.md", "README.md", True),
        ("/README.md", "docs/README.md", False),
        ("/docs/README.md", "docs/README.md", True),
        # unanchored: at any depth, even with a `/` inside (GitLab prepends `**/`)
        ("README.md", "README.md", True),
        ("README.md", "app/lib/README.md", True),
        ("internal/README.md", "internal/README.md", True),
        ("internal/README.md", "docs/api/internal/README.md", True),
        ("internal/README.md", "internal/x/README.md", False),
        # a trailing `/`: the directory and everything below it
        ("/docs/", "docs/a.md", True),
        ("/docs/", "docs/api/graphql/a.md", True),
        ("/docs/", "docs", False),
        ("/docs/", "x/docs/a.md", False),
        ("docs/", "x/docs/a.md", True),
        # no trailing `/`: only a file of that name, not a directory's contents
        ("docs", "docs", True),
        ("docs", "docs/a.md", False),
        # `*` stays within a segment, `**/` spans directories, `**` elsewhere is `*`
        ("/docs/*", "docs/a.md", True),
        ("/docs/*", "docs/api/a.md", False),
        ("/docs/*.md", "docs/a.md", True),
        ("/docs/*/README.md", "docs/api/README.md", True),
        ("/docs/*/README.md", "docs/README.md", False),
        ("/docs/**/index.md", "docs/index.md", True),
        ("/docs/**/index.md", "docs/api/graphql/index.md", True),
        ("/docs/**", "docs/a.md", True),
        ("/docs/**", "docs/api/a.md", False),
        ("*", "a/b/c.txt", True),
        ("*.rb", "app/models/user.rb", True),
        ("*.rb", "app/models/user.rbx", False),
        ("/*.rb", "app/user.rb", False),
        ("/db/*ci*", "db/ci_builds.sql", True),
        # `?` and classes are one character, never `/`
        ("/db/?.sql", "db/1.sql", True),
        ("/db/?.sql", "db/12.sql", False),
        ("/db/[ab].sql", "db/b.sql", True),
        ("/db/[ab].sql", "db/c.sql", False),
        ("/db/[!ab].sql", "db/c.sql", True),
        ("/db/[a-c].sql", "db/b.sql", True),
        ("/db[/]x", "db/x", False),
        # escapes and dotfiles; matching is case-sensitive
        ("/a\\*b", "a*b", True),
        ("/a\\*b", "axb", False),
        ("/.gitlab/", ".gitlab/CODEOWNERS", True),
        ("/Docs/", "docs/a.md", False),
        ("/{a,b}.md", "a.md", False),
    ],
)
def test_pattern_semantics(pattern: str, path: str, expected: bool) -> None:
    codeowners = parse_codeowners(f"{pattern} @owner\n")
    assert codeowners.problems == ()
    assert bool(codeowners.owners_of(path)) is expected


# ---------------------------------------------------------------------------- sections


def test_last_match_wins_within_a_section_and_sections_add_up() -> None:
    codeowners = parse_codeowners(
        "* @admin\n"
        "[README Owners]\n"
        "README.md @user1 @user2\n"
        "internal/README.md @user4\n"
        "[README other owners]\n"
        "README.md @user3\n"
    )
    owners = [(m.section, m.owners) for m in codeowners.owners_of("internal/README.md")]
    assert owners == [
        (None, ("@admin",)),
        ("README Owners", ("@user4",)),
        ("README other owners", ("@user3",)),
    ]
    assert [m.owners for m in codeowners.owners_of("README.md")][1] == ("@user1", "@user2")


def test_sections_with_the_same_name_are_one_section_case_insensitively() -> None:
    codeowners = parse_codeowners(
        "[Database] @db\n/db/\n[Backend]\n*.rb @rb\n[DATABASE]\n/db/migrate/ @migrations\n"
    )
    assert [section.name for section in codeowners.sections] == ["Database", "Backend"]
    matches = codeowners.owners_of("db/migrate/1_add.rb")
    assert [(m.section, m.owners, m.line) for m in matches] == [
        ("Database", ("@migrations",), 6),
        ("Backend", ("@rb",), 4),
    ]


def test_a_repeated_pattern_keeps_its_place_and_takes_the_later_owners() -> None:
    # GitLab keeps a section's entries in a Hash keyed by pattern: writing `/db/` again
    # replaces its owners but not its place, so the more specific `/db/*.rb` still wins.
    codeowners = parse_codeowners("/db/ @first\n/db/*.rb @ruby\n/db/ @second\n")
    assert [(m.owners, m.line) for m in codeowners.owners_of("db/seeds.rb")] == [(("@ruby",), 2)]
    assert [(m.owners, m.line) for m in codeowners.owners_of("db/a.sql")] == [(("@second",), 3)]


def test_unanchored_and_anchored_spellings_of_a_pattern_stay_apart() -> None:
    codeowners = parse_codeowners("db/ @anywhere\n/db/ @root\n")
    assert codeowners.owners_of("db/a.sql")[0].owners == ("@root",)
    assert codeowners.owners_of("ee/db/a.sql")[0].owners == ("@anywhere",)


@pytest.mark.parametrize(
    ("header", "optional", "approvals"),
    [
        ("[Database]", False, 0),
        ("^[Database]", True, 0),
        ("[Database][2]", False, 2),
        ("[Database][]", False, 0),
        ("[Database][2] @db", False, 2),
    ],
)
def test_section_headers(header: str, optional: bool, approvals: int) -> None:
    codeowners = parse_codeowners(f"{header}\n/db/ @owner\n")
    assert codeowners.problems == ()
    (match,) = codeowners.owners_of("db/a.sql")
    assert (match.section, match.optional, match.approvals) == ("Database", optional, approvals)


def test_a_section_is_optional_only_when_every_header_is() -> None:
    text = "^[Docs]\n/doc/ @docs\n[docs]\n*.md @md\n^[Go]\n*.go @go\n"
    codeowners = parse_codeowners(text)
    assert [(s.name, s.optional) for s in codeowners.sections] == [("Docs", False), ("Go", True)]
    assert codeowners.owners_of("doc/a.txt")[0].optional is False


def test_default_owners_apply_to_entries_without_owners() -> None:
    codeowners = parse_codeowners(
        "[Database] @database-team @agarcia\nmodel/db/\nconfig/db/database-setup.md @docs-team\n"
    )
    assert codeowners.owners_of("model/db/a.rb")[0].owners == ("@database-team", "@agarcia")
    assert codeowners.owners_of("config/db/database-setup.md")[0].owners == ("@docs-team",)


def test_default_owners_belong_to_their_header_line() -> None:
    codeowners = parse_codeowners("[Db] @first\n/a/\n[Db] @second\n/b/\n")
    assert codeowners.owners_of("a/x")[0].owners == ("@first",)
    assert codeowners.owners_of("b/x")[0].owners == ("@second",)


def test_entries_before_the_first_header_form_an_unnamed_section() -> None:
    codeowners = parse_codeowners("/db/ @general\n[Database]\n/db/ @db\n")
    assert [(m.section, m.owners) for m in codeowners.owners_of("db/x")] == [
        (None, ("@general",)),
        ("Database", ("@db",)),
    ]


def test_an_exclusion_removes_the_file_from_its_section_only_whatever_the_order() -> None:
    codeowners = parse_codeowners(
        "* @default-owner\n!*.lock\n[Ruby]\n*.rb @ruby\n!/config/**/*.rb\n/config/routes.rb @ops\n"
    )
    assert [m.owners for m in codeowners.owners_of("Gemfile.lock")] == []
    assert [m.owners for m in codeowners.owners_of("config/routes.rb")] == [("@default-owner",)]
    assert [m.owners for m in codeowners.owners_of("app/a.rb")] == [
        ("@default-owner",),
        ("@ruby",),
    ]


# ----------------------------------------------------------------------- owners and lines


def test_owner_forms() -> None:
    codeowners = parse_codeowners(
        "/a @user @group @group/with-nested/subgroup janedoe@gitlab.com @@maintainer "
        "@@developers @@Owner first.last+tag@mail.example.org\n"
    )
    assert codeowners.problems == ()
    assert codeowners.owners_of("a")[0].owners == (
        "@user",
        "@group",
        "@group/with-nested/subgroup",
        "janedoe@gitlab.com",
        "@@maintainer",
        "@@developers",
        "@@Owner",
        "first.last+tag@mail.example.org",
    )


def test_repeated_owners_on_a_line_are_kept_once_with_their_first_spelling() -> None:
    codeowners = parse_codeowners("/a @Alice @alice @bob @ALICE\n")
    assert codeowners.owners_of("a")[0].owners == ("@Alice", "@bob")


def test_comments_blank_lines_and_line_endings() -> None:
    codeowners = parse_codeowners(
        "# a comment\r\n\r\n   # an indented comment @someone\r\n\t/db/ @db   \r\n#/lib/ @lib\n"
    )
    assert codeowners.problems == ()
    assert [(m.pattern, m.owners, m.line) for m in codeowners.owners_of("db/x")] == [
        ("/db/", ("@db",), 4)
    ]
    assert codeowners.owners_of("lib/x") == []


def test_an_empty_file_owns_nothing() -> None:
    assert parse_codeowners("") == CodeOwners()
    assert parse_codeowners("# only comments\n").owners_of("a") == []


# ------------------------------------------------------------------------------ problems


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "[Database\n/db/ @db\n",
            1,
            "section header without a closing `]`; the line is ignored",
            id="unclosed-section-header",
        ),
        pytest.param(
            "^[Database @db\n", 1, "section header without a closing `]`", id="unclosed-optional"
        ),
        pytest.param("[] @db\n/db/\n", 1, "section header without a name", id="nameless-section"),
        pytest.param(
            "^[Database][2]\n/db/ @db\n",
            1,
            "an optional section (`^[…]`) cannot require approvals",
            id="optional-with-approvals",
        ),
        pytest.param(
            "[Section name]{2} @group\n/a/ @a\n",
            1,
            "unexpected '{2}' after the section header",
            id="text-after-header",
        ),
        pytest.param(
            "[Database][two] @db\n/db/ @a\n",
            1,
            "unexpected '[two]' after the section header",
            id="approvals-not-a-number",
        ),
        pytest.param(
            "[Database] db-team\n/db/ @a\n",
            1,
            "malformed default owner(s) 'db-team'; expected @user, @group/subgroup, @@role or "
            "an email address",
            id="malformed-default-owner",
        ),
        pytest.param(
            "/db/ @db alice @@reporter @group/ @x@y\n",
            1,
            "malformed owner(s) 'alice', '@@reporter', '@group/', '@x@y'",
            id="malformed-owners",
        ),
        pytest.param(
            "/db/ @db # see @ops\n",
            1,
            "malformed owner(s) '#', 'see' (inline comments are not supported)",
            id="inline-comment",
        ),
        pytest.param(
            "# header\n/db/\n", 2, "no owners for '/db/', and the section has no default", id="none"
        ),
        pytest.param(
            "* @all\n!/db/ @db\n",
            2,
            "owners after an exclusion pattern (`!…`) are ignored",
            id="owners-on-exclusion",
        ),
        pytest.param(
            "/db/[ab @db\n",
            1,
            "'/db/[ab' has a `[` without its `]` and matches nothing",
            id="unclosed-bracket",
        ),
    ],
)
def test_malformed_lines_are_problems_with_their_line(text: str, line: int, message: str) -> None:
    codeowners = parse_codeowners(text, source="docs/CODEOWNERS")
    assert len(codeowners.problems) == 1, codeowners.problems
    (problem,) = codeowners.problems
    assert (problem.source, problem.line) == ("docs/CODEOWNERS", line)
    assert message in problem.message
    assert str(problem).startswith(f"docs/CODEOWNERS:{line}: ")


def test_parsing_goes_on_after_a_problem() -> None:
    codeowners = parse_codeowners("[Database\n/db/ @db\n[Ci]\n/ci/ @ci bad\n")
    assert [p.line for p in codeowners.problems] == [1, 4]
    # the unclosed header is ignored: `/db/` stays in the unnamed section
    assert [(m.section, m.owners) for m in codeowners.owners_of("db/x")] == [(None, ("@db",))]
    assert codeowners.owners_of("ci/x")[0].owners == ("@ci",)


def test_valid_owners_of_a_line_with_malformed_ones_still_count() -> None:
    # GitLab reads every reference on the line, a "comment" included.
    codeowners = parse_codeowners("/db/ @db # ask @ops\n")
    assert codeowners.owners_of("db/x")[0].owners == ("@db", "@ops")


def test_an_entry_without_owners_still_decides_its_section() -> None:
    codeowners = parse_codeowners("[Db]\n/db/ @db\n/db/tmp/\n")
    assert codeowners.owners_of("db/tmp/x") == [SectionMatch("Db", (), "/db/tmp/", 3)]
    assert [p.line for p in codeowners.problems] == [3]


def test_malformed_default_owners_leave_the_valid_ones() -> None:
    codeowners = parse_codeowners("[Db] @db nobody\n/db/\n")
    assert codeowners.owners_of("db/x")[0].owners == ("@db",)
    assert codeowners.problems == (
        Problem(
            "CODEOWNERS",
            1,
            "malformed default owner(s) 'nobody'; expected @user, @group/subgroup, @@role or "
            "an email address",
        ),
    )


# ------------------------------------------------------------------------ resolve_owners


OWNERS_YML = """\
owners:
  - tables: ["ci_*", "p_ci_*"]
    owners: ["@Acme/Verify"]
  - paths: ["db/migrate/*ci*"]
    owners: ["@alice"]
  - tables: ["audit.*"]
    paths: ["db/audit/**"]
    owners: ["@acme/compliance", "@alice"]
teams:
  continuous_integration: ["@acme/verify", "@acme/runner"]
  team_planning: ["@acme/plan"]
"""


@pytest.fixture(scope="module")
def owners_config() -> OwnersConfig:
    return parse_config(OWNERS_YML).owners


def test_all_three_sources_together(acme: CodeOwners, owners_config: OwnersConfig) -> None:
    touched = Touched(
        tables=("p_ci_builds", "issues"),
        paths=("db/migrate/20250101_add_ci_index.rb", "db/structure.sql"),
        dictionary_paths={"p_ci_builds": "db/docs/p_ci_builds.yml", "issues": "db/docs/issues.yml"},
    )
    owners = resolve_owners(
        touched,
        config=owners_config,
        codeowners=acme,
        feature_categories={
            "p_ci_builds": ["continuous_integration"],
            "issues": ["team_planning", "not_configured"],
        },
    )
    assert [owner.handle for owner in owners] == [
        "@Acme/Verify",  # owners rules first, then by handle; also in teams: first spelling
        "@alice",
        "@acme/plan",  # teams
        "@acme/runner",
        "@acme/backend",  # CODEOWNERS
        "@acme/cells",
        "@acme/database/reviewers",
        "@acme/maintainers",
    ]
    by_handle = {owner.handle: owner for owner in owners}
    assert by_handle["@Acme/Verify"].reasons == (
        Reason("owners", "p_ci_*", table="p_ci_builds", rule=1),
        Reason("teams", "continuous_integration", table="p_ci_builds"),
    )
    assert by_handle["@alice"].reasons == (
        Reason("owners", "db/migrate/*ci*", path="db/migrate/20250101_add_ci_index.rb", rule=2),
    )
    assert by_handle["@acme/plan"].reasons == (Reason("teams", "team_planning", table="issues"),)
    # the dictionary files are matched for the tables, the changed files for themselves
    assert by_handle["@acme/cells"].reasons == (
        Reason(
            "CODEOWNERS",
            "/db/docs/",
            table="p_ci_builds",
            path="db/docs/p_ci_builds.yml",
            section="Database",
            line=12,
        ),
        Reason(
            "CODEOWNERS",
            "/db/docs/",
            table="issues",
            path="db/docs/issues.yml",
            section="Database",
            line=12,
        ),
    )
    assert by_handle["@acme/backend"].reasons == (
        Reason(
            "CODEOWNERS",
            "*.rb",
            path="db/migrate/20250101_add_ci_index.rb",
            section="Backend",
            line=18,
        ),
    )
    assert [r.path for r in by_handle["@acme/database/reviewers"].reasons] == [
        "db/docs/p_ci_builds.yml",
        "db/docs/issues.yml",
        "db/migrate/20250101_add_ci_index.rb",
        "db/structure.sql",
    ]
    assert [r.path for r in by_handle["@acme/maintainers"].reasons][-1] == "db/structure.sql"


def test_owners_rank_by_their_first_source_then_by_handle() -> None:
    config = OwnersConfig(
        rules=(OwnerRule(owners=("@zed", "@Bob"), tables=("t",)),),
        teams={"cat": ("@amy", "@bob")},
    )
    codeowners = parse_codeowners("* @aaron @ZED\n")
    owners = resolve_owners(
        Touched(tables=("t",), paths=("x",)),
        config=config,
        codeowners=codeowners,
        feature_categories={"t": ["cat"]},
    )
    assert [(o.handle, o.source) for o in owners] == [
        ("@Bob", "owners"),
        ("@zed", "owners"),
        ("@amy", "teams"),
        ("@aaron", "CODEOWNERS"),
    ]
    assert [r.source for r in owners[0].reasons] == ["owners", "teams"]
    assert [r.source for r in owners[1].reasons] == ["owners", "CODEOWNERS"]


def test_without_dictionary_paths_tables_are_not_looked_up_in_codeowners(
    acme: CodeOwners,
) -> None:
    owners = resolve_owners(
        Touched(tables=("ci_builds",)),
        config=OwnersConfig(),
        codeowners=acme,
        feature_categories={},
    )
    assert owners == []


def test_without_codeowners_or_config_there_are_no_owners() -> None:
    touched = Touched(tables=("ci_builds",), paths=("db/structure.sql",))
    assert (
        resolve_owners(touched, config=OwnersConfig(), codeowners=None, feature_categories={}) == []
    )


def test_a_reason_is_kept_once_however_often_it_is_found() -> None:
    config = OwnersConfig(rules=(OwnerRule(owners=("@a", "@A"), tables=("t*", "t")),))
    (owner,) = resolve_owners(
        Touched(tables=("t",)), config=config, codeowners=None, feature_categories={}
    )
    assert owner == Owner("@a", (Reason("owners", "t*", table="t", rule=1),))


def test_a_rule_with_tables_and_paths_gives_a_reason_for_each(
    owners_config: OwnersConfig,
) -> None:
    owners = resolve_owners(
        Touched(tables=("audit.events", "events"), paths=("db/audit/2025/events.sql",)),
        config=owners_config,
        codeowners=None,
        feature_categories={},
    )
    assert [(o.handle, o.reasons) for o in owners] == [
        (
            "@acme/compliance",
            (
                Reason("owners", "audit.*", table="audit.events", rule=3),
                Reason("owners", "db/audit/**", path="db/audit/2025/events.sql", rule=3),
            ),
        ),
        (
            "@alice",
            (
                Reason("owners", "audit.*", table="audit.events", rule=3),
                Reason("owners", "db/audit/**", path="db/audit/2025/events.sql", rule=3),
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("table", "glob", "expected"),
    [
        ("ci_builds", "ci_*", True),
        ("ci_builds", "ci_build", False),
        ("ci_builds", "CI_*", False),  # case-sensitive
        ("ci_builds", "ci_?uilds", True),
        # an unqualified glob matches the name in any schema
        ("gitlab_partitions_dynamic.ci_builds_101", "ci_*", True),
        ("audit.events", "events", True),
        # a qualified glob matches schema.name; a table without a schema is in public
        ("ci_builds", "public.ci_*", True),
        ("public.ci_builds", "public.ci_*", True),
        ("audit.events", "public.*", False),
        ("audit.events", "audit.*", True),
        ("audit.events", "*.events", True),
        ("events", "audit.events", False),
        ("gitlab_partitions_dynamic.ci_builds_101", "gitlab_partitions_*.ci_builds_*", True),
    ],
)
def test_table_globs(table: str, glob: str, expected: bool) -> None:
    assert table_matches(table, glob) is expected


def test_dictionary_path_drops_the_schema() -> None:
    assert dictionary_path("ci_builds") == "db/docs/ci_builds.yml"
    assert dictionary_path("gitlab_partitions_static.issue_search_data") == (
        "db/docs/issue_search_data.yml"
    )


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (
            Reason("owners", "ci_*", table="ci_builds", rule=1),
            "table `ci_builds`: `ci_*` (owners[1] in .cellsbot.yml)",
        ),
        (
            Reason("owners", "db/migrate/*ci*", path="db/migrate/1_ci.rb", rule=2),
            "`db/migrate/1_ci.rb`: `db/migrate/*ci*` (owners[2] in .cellsbot.yml)",
        ),
        (
            Reason("teams", "continuous_integration", table="ci_builds"),
            "table `ci_builds`: feature category `continuous_integration` (teams)",
        ),
        (
            Reason("CODEOWNERS", "/db/", path="db/structure.sql", section="Database", line=11),
            "`db/structure.sql`: CODEOWNERS [Database] `/db/` (line 11)",
        ),
        (
            Reason("CODEOWNERS", "*", path="db/structure.sql", line=4),
            "`db/structure.sql`: CODEOWNERS `*` (line 4)",
        ),
        (
            Reason(
                "CODEOWNERS",
                "/db/docs/",
                table="ci_builds",
                path="db/docs/ci_builds.yml",
                section="Database",
                line=12,
            ),
            "table `ci_builds`: CODEOWNERS [Database] `/db/docs/` (line 12, via "
            "`db/docs/ci_builds.yml`)",
        ),
    ],
)
def test_reason_describe(reason: Reason, text: str) -> None:
    assert reason.describe() == text


# ------------------------------------------------------------------------ outside_author


_OWNERS = [
    Owner("@Alice", ()),
    Owner("@acme/verify", ()),
    Owner("@acme", ()),
    Owner("@acme/verify/runner", ()),
    Owner("alice@acme.example", ()),
    Owner("@@maintainer", ()),
    Owner("@bob", ()),
]


@pytest.mark.parametrize(
    ("author", "kept"),
    [
        pytest.param(
            ["alice", "@ACME/Verify"],
            ["@acme", "@acme/verify/runner", "alice@acme.example", "@@maintainer", "@bob"],
            id="username-without-at-and-a-group-any-case",
        ),
        pytest.param(
            ["@alice", "Alice@Acme.example"],
            ["@acme/verify", "@acme", "@acme/verify/runner", "@@maintainer", "@bob"],
            id="handle-and-email",
        ),
        pytest.param(
            ["@acme/verify/runner"],
            ["@Alice", "@acme/verify", "@acme", "alice@acme.example", "@@maintainer", "@bob"],
            id="a-subgroup-is-not-its-parents",
        ),
        pytest.param([], [owner.handle for owner in _OWNERS], id="no-author"),
    ],
)
def test_outside_author(author: list[str], kept: list[str]) -> None:
    assert [owner.handle for owner in outside_author(_OWNERS, author)] == kept


def test_outside_author_keeps_reasons_and_order(acme: CodeOwners) -> None:
    owners = resolve_owners(
        Touched(paths=("db/structure.sql",)),
        config=OwnersConfig(),
        codeowners=acme,
        feature_categories={},
    )
    outside = outside_author(owners, ["@acme/maintainers"])
    assert outside == [owners[0]]
    assert outside[0].handle == "@acme/database/reviewers"


def test_doctests() -> None:
    assert doctest.testmod(analyzers.owners).failed == 0
