"""GitLab's sharding metadata: dictionary entries, schema files, loose foreign keys, partitions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from analyzers.gitlab import (
    DICTIONARY_ALLOWED_FIELDS,
    DICTIONARY_REQUIRED_FIELDS,
    UNKNOWN_DATABASE,
    DictionaryEntry,
    GitLabCatalogue,
    LooseForeignKey,
    database_of,
    dictionary_problems,
    is_dictionary_path,
    is_gitlab_repository,
    is_schema_path,
    parse_dictionary_entry,
    parse_loose_foreign_keys,
    parse_schema_info,
    partition_parent_name,
    relevant_path,
)

KNOWN = {"gitlab_main_org", "gitlab_ci", "gitlab_main_clusterwide"}
VALID = """\
table_name: things
feature_categories:
- code_review_workflow
milestone: '18.0'
gitlab_schema: gitlab_main_org
sharding_key:
  project_id: projects
"""


def _read(corpus: Path, path: str) -> str:
    return (corpus / "gitlab" / path).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def catalogue(corpus: Path) -> GitLabCatalogue:
    root = corpus / "gitlab"
    texts = {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in root.rglob("*")
        if path.is_file() and relevant_path(path.relative_to(root).as_posix())
    }
    return GitLabCatalogue.from_files(texts)


# ------------------------------------------------------------------ dictionary (real files)


@pytest.mark.corpus
def test_sharding_key_and_its_line(corpus: Path) -> None:
    entry = parse_dictionary_entry(
        "db/docs/ai_flow_schedules.yml", _read(corpus, "db/docs/ai_flow_schedules.yml")
    )
    assert entry.errors == ()
    assert entry.table_name == "ai_flow_schedules"
    assert entry.gitlab_schema == "gitlab_main_org"
    assert entry.sharding_key == {"project_id": "projects"}
    assert entry.desired_sharding_key is None
    assert entry.milestone == "19.4"
    assert entry.feature_categories == ("code_suggestions",)
    assert entry.lines["sharding_key"] == 11
    assert entry.line_of("sharding_key") == 11
    assert entry.lines["table_name"] == 2  # line 1 is `---`
    assert entry.fields["classes"] == ["Ai::FlowSchedule"]
    assert entry.fields["table_size"] == "small"


@pytest.mark.corpus
def test_desired_sharding_key_is_kept_as_written(corpus: Path) -> None:
    path = "db/docs/merge_request_diff_files.yml"
    entry = parse_dictionary_entry(path, _read(corpus, path))
    assert entry.sharding_key is None
    assert entry.desired_sharding_key == {
        "project_id": {
            "references": "projects",
            "backfill_via": {
                "parent": {
                    "foreign_key": "merge_request_diff_id",
                    "table": "merge_request_diffs",
                    "sharding_key": "project_id",
                    "belongs_to": "merge_request_diff",
                }
            },
        }
    }
    assert entry.lines["desired_sharding_key"] == 11


@pytest.mark.corpus
def test_clusterwide_table(corpus: Path) -> None:
    entry = parse_dictionary_entry("db/docs/plans.yml", _read(corpus, "db/docs/plans.yml"))
    assert entry.gitlab_schema == "gitlab_main_clusterwide"
    assert entry.milestone == "9.5"
    assert entry.sharding_key is None


@pytest.mark.corpus
def test_file_without_trailing_newline(corpus: Path) -> None:
    path = "db/docs/milestone_releases.yml"
    entry = parse_dictionary_entry(path, _read(corpus, path))
    assert entry.errors == ()
    assert entry.desired_sharding_key is not None
    plan = entry.desired_sharding_key["project_id"]
    assert plan["references"] == "projects"
    assert plan["backfill_via"]["parent"]["table"] == "releases"
    assert plan["backfill_via"]["parent"]["belongs_to"] == "release"


@pytest.mark.corpus
def test_issue_url_entry(corpus: Path) -> None:
    entry = parse_dictionary_entry(
        "db/docs/p_ci_builds.yml", _read(corpus, "db/docs/p_ci_builds.yml")
    )
    assert entry.sharding_key_issue_url == "https://gitlab.com/gitlab-org/gitlab/-/issues/458488"
    assert dictionary_problems(entry, KNOWN) == []


@pytest.mark.corpus
def test_real_entries_have_no_problems(catalogue: GitLabCatalogue) -> None:
    assert catalogue.errors == ()
    assert len(catalogue.entries) >= 10
    for entry in catalogue.entries.values():
        assert dictionary_problems(entry, catalogue.schemas) == [], entry.path


# ------------------------------------------------------------------ dictionary (edge cases)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("table_name: [unclosed\n", id="unclosed-flow"),
        pytest.param("a: b\n c: d\n  - e\n", id="bad-indent"),
        pytest.param("\tx: 1\n", id="tab"),
        pytest.param("milestone: !ruby/object:Gem::Version '1'\n", id="ruby-tag"),
    ],
)
def test_invalid_yaml_gives_errors(text: str) -> None:
    entry = parse_dictionary_entry("db/docs/x.yml", text)
    assert entry.path == "db/docs/x.yml"
    assert entry.fields == {}
    assert entry.errors
    assert entry.errors[0].startswith("not valid YAML")
    assert dictionary_problems(entry, KNOWN) == list(entry.errors)


@pytest.mark.parametrize("text", ["", "---\n", "- a\n- b\n", "just a string\n", "42\n"], ids=repr)
def test_not_a_mapping_gives_errors(text: str) -> None:
    entry = parse_dictionary_entry("db/docs/x.yml", text)
    assert entry.errors
    assert "expected a mapping" in entry.errors[0]


def test_wrongly_typed_fields_are_errors_not_exceptions() -> None:
    entry = parse_dictionary_entry(
        "db/docs/x.yml",
        "table_name: [x]\nsharding_key: projects\nfeature_categories: review\n"
        "exempt_from_sharding: yes please\ndesired_sharding_key: [1]\n",
    )
    assert entry.table_name is None
    assert entry.sharding_key is None
    assert entry.desired_sharding_key is None
    assert entry.feature_categories == ()
    assert entry.exempt_from_sharding is False
    assert entry.fields["sharding_key"] == "projects"  # kept as written
    assert len(entry.errors) == 5


def test_sharding_key_must_map_strings() -> None:
    entry = parse_dictionary_entry("db/docs/x.yml", "sharding_key:\n  project_id: [projects]\n")
    assert entry.sharding_key is None
    assert any("sharding_key" in error for error in entry.errors)


def test_view_name_and_exemption_and_cross_keys() -> None:
    entry = parse_dictionary_entry(
        "db/docs/views/v.yml",
        "view_name: v\nexempt_from_sharding: true\nallow_cross_foreign_keys:\n- gitlab_main\n",
    )
    assert entry.table_name == "v"
    assert entry.exempt_from_sharding is True
    assert entry.allow_cross_foreign_keys == ("gitlab_main",)


def test_milestone_becomes_a_string() -> None:
    assert parse_dictionary_entry("p", "milestone: 16.6\n").milestone == "16.6"
    assert parse_dictionary_entry("p", "milestone: '<6.0'\n").milestone == "<6.0"
    assert parse_dictionary_entry("p", "milestone: 16.10\n").milestone == "16.1"  # YAML float
    assert parse_dictionary_entry("p", "table_name: t\n").milestone is None


def test_duplicate_key_is_reported_and_last_wins() -> None:
    entry = parse_dictionary_entry("p", "gitlab_schema: a\ngitlab_schema: b\n")
    assert entry.gitlab_schema == "b"
    assert entry.lines["gitlab_schema"] == 2
    assert any("duplicate" in error for error in entry.errors)


def test_line_of_absent_key_is_the_top() -> None:
    assert parse_dictionary_entry("p", VALID).line_of("desired_sharding_key") == 1


def test_valid_entry_has_no_problems() -> None:
    assert dictionary_problems(parse_dictionary_entry("db/docs/things.yml", VALID), KNOWN) == []


@pytest.mark.parametrize("field", DICTIONARY_REQUIRED_FIELDS)
def test_missing_required_field(field: str) -> None:
    text = "".join(line + "\n" for line in VALID.splitlines() if not line.startswith(field))
    text = text.replace("- code_review_workflow\n", "") if field == "feature_categories" else text
    problems = dictionary_problems(parse_dictionary_entry("p", text), KNOWN)
    assert problems == [f"missing or blank required field(s): {field}"]


@pytest.mark.parametrize(
    ("replace", "by"),
    [
        ("milestone: '18.0'", "milestone: ''"),
        ("milestone: '18.0'", "milestone: '  '"),
        ("milestone: '18.0'", "milestone:"),
        ("feature_categories:\n- code_review_workflow", "feature_categories: []"),
    ],
)
def test_blank_required_field(replace: str, by: str) -> None:
    problems = dictionary_problems(parse_dictionary_entry("p", VALID.replace(replace, by)), KNOWN)
    assert len(problems) == 1
    assert problems[0].startswith("missing or blank required field(s)")


def test_unknown_schema() -> None:
    entry = parse_dictionary_entry("p", VALID.replace("gitlab_main_org", "gitlab_main_orgg"))
    problems = dictionary_problems(entry, KNOWN)
    assert len(problems) == 1
    assert "unknown gitlab_schema 'gitlab_main_orgg'" in problems[0]
    assert dictionary_problems(entry, ()) == []  # schemas not read: no check


def test_fields_not_allowed() -> None:
    entry = parse_dictionary_entry("p", VALID + "sharding_keys: {}\nowner: me\n")
    assert dictionary_problems(entry, KNOWN) == ["field(s) not allowed: owner, sharding_keys"]


def test_newer_fields_are_allowed() -> None:
    assert {"exempt_from_sharding", "finalized_by", "table_size"} <= DICTIONARY_ALLOWED_FIELDS
    entry = parse_dictionary_entry("p", VALID + "finalized_by: '20240101000000'\n")
    assert dictionary_problems(entry, KNOWN) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.com/gitlab-org/gitlab/-/issues/",
        "https://gitlab.com/gitlab-org/gitlab/-/issues/12x",
        "https://gitlab.com/gitlab-org/gitlab/issues/123",
        "https://gitlab.com/gitlab-org/gitlab-foss/-/issues/123",
        "http://gitlab.com/gitlab-org/gitlab/-/issues/123",
        "https://gitlab.com/gitlab-org/gitlab/-/issues/123/",
        "https://gitlab.com/gitlab-org/gitlab/-/issues/\u0661\u0662\u0663",  # Arabic-Indic digits
        "https://gitlab.com/gitlab-org/gitlab/-/issues/123\n",
    ],
)
def test_bad_issue_url(url: str) -> None:
    text = VALID.replace("sharding_key:\n  project_id: projects\n", "")
    entry = parse_dictionary_entry("p", text + f"sharding_key_issue_url: {json.dumps(url)}\n")
    assert entry.sharding_key_issue_url == url
    problems = dictionary_problems(entry, KNOWN)
    assert len(problems) == 1
    assert "is not a gitlab-org/gitlab issue URL" in problems[0]


def test_good_issue_url_without_key() -> None:
    text = VALID.replace("sharding_key:\n  project_id: projects\n", "")
    text += "sharding_key_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/458488\n"
    assert dictionary_problems(parse_dictionary_entry("p", text), KNOWN) == []


@pytest.mark.parametrize("key", ["sharding_key", "desired_sharding_key"])
def test_issue_url_with_a_key(key: str) -> None:
    text = VALID.replace("sharding_key:\n  project_id: projects\n", "")
    text += f"{key}:\n  project_id: projects\n"
    text += "sharding_key_issue_url: https://gitlab.com/gitlab-org/gitlab/-/issues/1\n"
    assert dictionary_problems(parse_dictionary_entry("p", text), KNOWN) == [
        f"sharding_key_issue_url must be removed once {key} is set"
    ]


def test_several_problems_at_once() -> None:
    entry = parse_dictionary_entry(
        "p", "table_name: t\ngitlab_schema: nope\nextra: 1\nsharding_key_issue_url: x\n"
    )
    problems = dictionary_problems(entry, KNOWN)
    assert len(problems) == 4
    assert problems[0] == "missing or blank required field(s): feature_categories, milestone"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("db/docs/plans.yml", True),
        ("ee/db/docs/geo_nodes.yml", True),
        ("db/docs/views/postgres_indexes.yml", False),
        ("db/docs/deleted_tables/old.yml", False),
        ("db/docs/deleted_views/old.yml", False),
        ("db/docs/plans.yaml", False),
        ("db/docs/README.md", False),
        ("vendor/db/docs/plans.yml", False),
        ("db/gitlab_schemas/gitlab_ci.yaml", False),
    ],
)
def test_is_dictionary_path(path: str, expected: bool) -> None:
    assert is_dictionary_path(path) is expected


# -------------------------------------------------------------------------------- schemas


@pytest.mark.corpus
def test_organization_schema(corpus: Path) -> None:
    path = "db/gitlab_schemas/gitlab_main_org.yaml"
    schema = parse_schema_info(path, _read(corpus, path))
    assert schema.errors == ()
    assert schema.name == "gitlab_main_org"
    assert schema.path == path
    assert schema.require_sharding_key is True
    assert schema.sharding_root_tables == ("projects", "organizations", "namespaces")
    assert schema.disallow_sequences is False
    assert schema.allow_cross_foreign_keys == ("gitlab_main", "gitlab_main_cell")
    assert "gitlab_main_clusterwide" in schema.allow_cross_joins
    assert schema.database == "main"


@pytest.mark.corpus
def test_clusterwide_schema(corpus: Path) -> None:
    path = "db/gitlab_schemas/gitlab_main_clusterwide.yaml"
    schema = parse_schema_info(path, _read(corpus, path))
    assert schema.disallow_sequences is True
    assert schema.require_sharding_key is False
    assert schema.sharding_root_tables == ()


@pytest.mark.corpus
def test_schema_without_flags_defaults(corpus: Path) -> None:
    path = "db/gitlab_schemas/gitlab_internal.yaml"
    schema = parse_schema_info(path, _read(corpus, path))
    assert schema.require_sharding_key is False
    assert schema.disallow_sequences is False
    assert schema.allow_cross_joins == ()
    assert schema.database == "shared"


@pytest.mark.corpus
def test_specific_tables(corpus: Path) -> None:
    path = "db/gitlab_schemas/gitlab_sec.yaml"
    schema = parse_schema_info(path, _read(corpus, path))
    assert schema.errors == ()
    assert schema.allow_cross_foreign_keys == ("gitlab_main", "gitlab_main_cell")
    assert schema.allow_cross_joins == ("gitlab_shared", "gitlab_main", "gitlab_main_cell")
    fks = schema.specific_tables["allow_cross_foreign_keys"]
    assert fks["gitlab_main"] == ("vulnerability_state_transitions",)
    assert "vulnerabilities" in fks["gitlab_main_cell"]
    assert "gitlab_shared" not in schema.specific_tables["allow_cross_joins"]
    joins = "allow_cross_joins"
    assert schema.allows_cross(joins, "gitlab_shared")
    assert schema.allows_cross(joins, "gitlab_sec")
    assert schema.allows_cross(joins, "gitlab_main_cell", "vulnerabilities")
    assert not schema.allows_cross(joins, "gitlab_main_cell", "projects")
    assert not schema.allows_cross(joins, "gitlab_main_cell")
    assert not schema.allows_cross(joins, "gitlab_ci")


@pytest.mark.corpus
def test_all_real_schemas(catalogue: GitLabCatalogue) -> None:
    assert len(catalogue.schemas) == 18
    for name, schema in catalogue.schemas.items():
        assert schema.name == name
        assert schema.path == f"db/gitlab_schemas/{name}.yaml"
        assert schema.description
        assert schema.database != UNKNOWN_DATABASE
    sharded = {name for name, schema in catalogue.schemas.items() if schema.require_sharding_key}
    assert sharded == {
        "gitlab_ci",
        "gitlab_main_cell",
        "gitlab_main_org",
        "gitlab_main_user",
        "gitlab_sec",
        "gitlab_shared_org",
    }
    assert catalogue.schemas["gitlab_main_user"].sharding_root_tables == ("organizations", "users")
    assert catalogue.schemas["gitlab_shared_org"].disallow_sequences is True


def test_schema_name_falls_back_to_the_file_name() -> None:
    schema = parse_schema_info("db/gitlab_schemas/gitlab_geo.yaml", "description: Geo\n")
    assert schema.name == "gitlab_geo"
    assert schema.database == "geo"


@pytest.mark.parametrize(
    "text",
    [
        "name: [unclosed\n",
        "- a\n",
        "name: x\nallow_cross_joins: gitlab_shared\n",
        "name: x\nallow_cross_joins:\n- 3\n",
        "name: x\nallow_cross_joins:\n- gitlab_main:\n",
        "name: x\nallow_cross_joins:\n- gitlab_main:\n    specific_tables: t\n",
        "name: x\nrequire_sharding_key: maybe\n",
        "name: x\nsharding_root_tables: projects\n",
    ],
)
def test_invalid_schema_gives_errors(text: str) -> None:
    schema = parse_schema_info("db/gitlab_schemas/x.yaml", text)
    assert schema.name == "x"
    assert schema.errors


@pytest.mark.parametrize(
    ("schema", "database"),
    [
        ("gitlab_main", "main"),
        ("gitlab_main_org", "main"),
        ("gitlab_main_cell_local", "main"),
        ("gitlab_main_clusterwide", "main"),
        ("gitlab_main_jh", "main"),
        ("gitlab_pm", "main"),
        ("gitlab_ci", "ci"),
        ("gitlab_ci_cell_local", "ci"),
        ("gitlab_sec", "sec"),
        ("gitlab_sec_cell_local", "sec"),
        ("gitlab_shared", "shared"),
        ("gitlab_shared_org", "shared"),
        ("gitlab_shared_cell_local", "shared"),
        ("gitlab_internal", "shared"),
        ("gitlab_geo", "geo"),
        ("gitlab_embedding", "embedding"),
        ("gitlab_cix", UNKNOWN_DATABASE),
        ("gitlab_jh", UNKNOWN_DATABASE),
        ("", UNKNOWN_DATABASE),
    ],
)
def test_database_of(schema: str, database: str) -> None:
    assert database_of(schema) == database


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("db/gitlab_schemas/gitlab_ci.yaml", True),
        ("ee/db/gitlab_schemas/gitlab_geo.yaml", True),
        ("db/gitlab_schemas/gitlab_ci.yml", False),
        ("db/gitlab_schemas/sub/gitlab_ci.yaml", False),
    ],
)
def test_is_schema_path(path: str, expected: bool) -> None:
    assert is_schema_path(path) is expected


# ---------------------------------------------------------------------- loose foreign keys


@pytest.mark.corpus
def test_real_loose_foreign_keys(corpus: Path) -> None:
    keys = parse_loose_foreign_keys(_read(corpus, "config/gitlab_loose_foreign_keys.yml"))
    assert keys["ci_build_report_results"] == [
        LooseForeignKey("ci_build_report_results", "project_id", "projects", "async_delete")
    ]
    assert (
        LooseForeignKey(
            "application_settings", "usage_stats_set_by_user_id", "users", "async_nullify"
        )
        in keys["application_settings"]
    )
    assert len(keys) == 65
    assert sum(len(items) for items in keys.values()) == 93
    assert {key.on_delete for items in keys.values() for key in items} == {
        "async_delete",
        "async_nullify",
    }


@pytest.mark.corpus
def test_loose_foreign_keys_to(catalogue: GitLabCatalogue) -> None:
    to_projects = catalogue.loose_foreign_keys_to("projects")
    assert (
        LooseForeignKey("ci_build_report_results", "project_id", "projects", "async_delete")
        in to_projects
    )
    assert all(key.to_table == "projects" for key in to_projects)
    assert catalogue.loose_foreign_keys_to("no_such_table") == []


def test_loose_foreign_key_options() -> None:
    text = """\
packages:
  - table: projects
    column: project_id
    on_delete: update_column_to
    target_column: status
    target_value: 4
"""
    (key,) = parse_loose_foreign_keys(text)["packages"]
    assert key == LooseForeignKey(
        "packages",
        "project_id",
        "projects",
        "update_column_to",
        {"target_column": "status", "target_value": 4},
    )


@pytest.mark.parametrize(
    "text", ["", "[unclosed\n", "- a\n", "t: x\n", "t:\n- 1\n", "t:\n- table: p\n"]
)
def test_malformed_loose_foreign_keys_are_skipped(text: str) -> None:
    assert parse_loose_foreign_keys(text) == {}


def test_malformed_loose_foreign_keys_reach_the_catalogue_errors() -> None:
    text = "t:\n- table: p\n  column: c\n  on_delete: async_delete\n- table: q\n"
    catalogue = GitLabCatalogue.from_files({"config/gitlab_loose_foreign_keys.yml": text})
    assert catalogue.loose_foreign_keys == {"t": [LooseForeignKey("t", "c", "p", "async_delete")]}
    assert len(catalogue.errors) == 1
    assert catalogue.errors[0].startswith("config/gitlab_loose_foreign_keys.yml: t: needs")


# ---------------------------------------------------------------------------- partitions


@pytest.mark.parametrize(
    ("table", "parent"),
    [
        ("issue_search_data", "issue_search_data"),
        ("gitlab_partitions_static.issue_search_data_07", "issue_search_data"),
        ("gitlab_partitions_static.namespace_descendants_31", "namespace_descendants"),
        ("gitlab_partitions_dynamic.audit_events_202401", "audit_events"),
        ("loose_foreign_keys_deleted_records_1", "loose_foreign_keys_deleted_records"),
        ("public.projects", "projects"),
        ("web_hook_logs_1_2", "web_hook_logs_1"),  # one suffix only, as GitLab does
        ("uploads_9ba88c4165", "uploads_9ba88c4165"),  # hex, not digits
        ("ci_builds", "ci_builds"),
        ("p_ci_builds_101", "p_ci_builds"),
        ("table_", "table_"),
        ("_1", ""),
        ("a_\u0661", "a_\u0661"),  # non-ASCII digits are not stripped
    ],
)
def test_partition_parent_name(table: str, parent: str) -> None:
    assert partition_parent_name(table) == parent


@pytest.mark.corpus
def test_real_partitions_map_to_their_parent(corpus: Path) -> None:
    """Every hash partition in the real structure.sql maps to the table it is attached to."""
    structure = _read(corpus, "db/structure.sql")
    pairs = re.findall(
        r"^ALTER TABLE ONLY (\w+) ATTACH PARTITION (gitlab_partitions_static\.\w+) ",
        structure,
        flags=re.MULTILINE,
    )
    assert len(pairs) > 100
    for parent, partition in pairs:
        assert partition_parent_name(partition) == parent


# ------------------------------------------------------------------------------ catalogue


@pytest.mark.corpus
def test_catalogue_from_real_files(catalogue: GitLabCatalogue) -> None:
    assert catalogue.entries["plans"].gitlab_schema == "gitlab_main_clusterwide"
    assert catalogue.entries["ai_flow_schedules"].sharding_key == {"project_id": "projects"}
    assert "ci_build_report_results" in catalogue.loose_foreign_keys
    schema = catalogue.schema_of("ai_flow_schedules")
    assert schema is not None
    assert schema.name == "gitlab_main_org"
    assert catalogue.schema_of("no_such_table") is None


@pytest.mark.corpus
def test_entry_for_ci_partition(catalogue: GitLabCatalogue) -> None:
    builds = catalogue.entries["p_ci_builds"]
    assert catalogue.entry_for("ci_builds") is builds  # list partition named like the table
    assert catalogue.entry_for("gitlab_partitions_dynamic.ci_builds_101") is builds
    assert catalogue.entry_for("p_ci_builds") is builds
    assert catalogue.entry_for("gitlab_partitions_static.plans_3") is catalogue.entries["plans"]
    assert catalogue.entry_for("projects") is None


def test_catalogue_ignores_other_files_and_keeps_errors() -> None:
    catalogue = GitLabCatalogue.from_files(
        {
            "db/docs/things.yml": VALID,
            "db/docs/broken.yml": "table_name: [\n",
            "db/docs/views/v.yml": "view_name: v\ngitlab_schema: gitlab_main_org\n",
            "db/gitlab_schemas/gitlab_main_org.yaml": "name: gitlab_main_org\n",
            "README.md": "# GitLab\n",
        }
    )
    assert set(catalogue.entries) == {"things", "broken"}  # broken: keyed by file name
    assert catalogue.entries["broken"].errors
    assert set(catalogue.schemas) == {"gitlab_main_org"}
    assert len(catalogue.errors) == 1
    assert catalogue.errors[0].startswith("db/docs/broken.yml: not valid YAML")
    assert catalogue.loose_foreign_keys == {}


def test_catalogue_reports_a_table_described_twice() -> None:
    catalogue = GitLabCatalogue.from_files(
        {"db/docs/things.yml": VALID, "ee/db/docs/things.yml": VALID}
    )
    assert list(catalogue.entries) == ["things"]
    assert catalogue.errors == (
        "ee/db/docs/things.yml: things is also described in db/docs/things.yml",
    )


def test_empty_catalogue() -> None:
    catalogue = GitLabCatalogue.from_files({})
    assert catalogue == GitLabCatalogue()
    assert catalogue.entry_for("x") is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("db/docs/plans.yml", True),
        ("ee/db/docs/geo_nodes.yml", True),
        ("db/gitlab_schemas/gitlab_ci.yaml", True),
        ("config/gitlab_loose_foreign_keys.yml", True),
        ("db/docs/views/v.yml", False),
        ("db/structure.sql", False),
        ("ee/config/gitlab_loose_foreign_keys.yml", False),
    ],
)
def test_relevant_path(path: str, expected: bool) -> None:
    assert relevant_path(path) is expected


def test_is_gitlab_repository() -> None:
    assert is_gitlab_repository(["db/docs/plans.yml", "db/gitlab_schemas/gitlab_ci.yaml"])
    assert is_gitlab_repository(iter(["a", "db/gitlab_schemas/x.yaml", "b", "db/docs/y.yml"]))
    assert not is_gitlab_repository(["db/docs/plans.yml", "db/structure.sql"])
    assert not is_gitlab_repository(["db/gitlab_schemas/gitlab_ci.yaml"])
    assert not is_gitlab_repository(["vendor/db/docs/x.yml", "vendor/db/gitlab_schemas/y.yaml"])
    assert not is_gitlab_repository([])


def test_entry_is_frozen() -> None:
    entry = DictionaryEntry(path="p")
    with pytest.raises(AttributeError):
        entry.path = "q"  # type: ignore[misc]
