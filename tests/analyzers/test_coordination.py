"""Which merge requests collide, and what a merge changes under another."""

from __future__ import annotations

import pytest

from analyzers.coordination import (
    CLOSED,
    MERGED,
    OPENED,
    Entry,
    Touch,
    changed_under,
    conflicts,
    migration_versions,
    parse_claim,
    partners,
    touches,
)
from analyzers.diff import Change

COLUMN = Touch("ci_builds", "column", "token", "added")
INDEX = Touch("ci_builds", "index", "index_ci_builds_on_token", "added")
OTHER = Touch("issues", "column", "weight", "altered")


def entry(iid: int, *found: Touch, state: str = OPENED, versions=(), project: int = 1) -> Entry:
    return Entry(project, iid, state, title=f"MR {iid}", touches=found, versions=versions)


def test_touches_are_the_changed_objects_each_once() -> None:
    changes = [
        Change("column", "added", "token", "db/structure.sql", 10, table="ci_builds"),
        Change("column", "added", "token", "db/structure.sql", 12, table="ci_builds"),
        Change("table", "added", "ci_runs", "db/structure.sql", 40, table="ci_runs"),
        Change("schema", "added", "audit", "db/structure.sql", 1),
    ]
    assert touches(changes) == (
        Touch("", "schema", "audit", "added"),
        Touch("ci_builds", "column", "token", "added"),
        Touch("ci_runs", "table", "ci_runs", "added"),
    )


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("db/schema_migrations/20241105120000", "20241105120000"),
        ("db/migrate/20241105120000_add_token_to_ci_builds.rb", "20241105120000"),
        ("db/post_migrate/20241105120001_backfill_token.rb", "20241105120001"),
        ("ee/db/migrate/20241105120002_x.rb", "20241105120002"),
        ("migrations/0042_add_index.sql", "0042"),
        ("db/migrations/20240101010101_create.up.sql", "20240101010101"),
        ("migrations/2024-01-01-000000_create_posts/up.sql", "2024-01-01-000000"),
        ("db/migrate/001_init.sql", "001"),
    ],
)
def test_migration_versions_from_paths(path: str, version: str) -> None:
    assert migration_versions([path]) == (version,)


def test_paths_that_are_not_migrations_have_no_version() -> None:
    paths = ["db/structure.sql", "db/docs/ci_builds.yml", "app/models/ci/build.rb", "README.md"]
    assert migration_versions(paths) == ()
    both = ["db/schema_migrations/20241105120000", "db/migrate/20241105120000_add.rb"]
    assert migration_versions(both) == ("20241105120000",)


def test_open_merge_requests_of_the_project_collide_on_tables_or_versions() -> None:
    mine = entry(1, COLUMN, versions=("20241105120000",))
    same_table = entry(2, INDEX)
    same_version = entry(3, OTHER, versions=("20241105120000",))
    unrelated = entry(4, OTHER)
    merged = entry(5, INDEX, state=MERGED)
    elsewhere = entry(6, INDEX, project=2)
    found = conflicts(mine, [unrelated, same_version, same_table, merged, elsewhere, mine])
    assert [(c.other.iid, c.tables, c.versions) for c in found] == [
        (2, ("ci_builds",), ()),
        (3, (), ("20241105120000",)),
    ]
    assert found[0].their_touches == (INDEX,)


def test_a_merge_tells_what_changed_under_the_open_one() -> None:
    merged = entry(7, INDEX, OTHER, state=MERGED, versions=("20241105120000",))
    still_open = entry(8, COLUMN)
    conflict = changed_under(merged, still_open)
    assert conflict is not None
    assert (conflict.other.iid, conflict.tables, conflict.their_touches) == (
        7,
        ("ci_builds",),
        (INDEX,),
    )
    assert changed_under(entry(9, OTHER, state=CLOSED), still_open) is None


def test_partners_are_the_merge_requests_whose_view_changed() -> None:
    mine_before = entry(1, COLUMN)
    mine_after = entry(1, OTHER)  # moved from ci_builds to issues
    others = [entry(2, INDEX), entry(3, OTHER), entry(4, COLUMN, OTHER)]
    before, after = conflicts(mine_before, others), conflicts(mine_after, others)
    # 2 lost the conflict, 3 gained one, 4 now shares another table
    assert partners(before, after) == {2, 3, 4}
    assert partners(after, after) == set()


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [
        ("ci_builds.token as CI_BUILD_TOKEN", ("ci_builds", "token", "CI_BUILD_TOKEN")),
        (
            "  public.ci_builds.token  as  CI_BUILD_TOKEN ",
            ("public.ci_builds", "token", "CI_BUILD_TOKEN"),
        ),
        ("ci_builds.token as ci_build_token", None),  # bucket types are upper case
        ("ci_builds as CI_BUILD_TOKEN", None),
        ("ci_builds.token CI_BUILD_TOKEN", None),
        ("", None),
    ],
)
def test_claim_arguments(arguments: str, parsed: tuple[str, str, str] | None) -> None:
    assert parse_claim(arguments) == parsed
