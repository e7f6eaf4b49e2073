"""`cellsbot review` and `cellsbot demo` on real git repositories, as a user runs them."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.example import create_example


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    done = subprocess.run(
        ["git", "-C", str(repo), *identity, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or delete, for None) files and commit them; return the new SHA."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "--quiet", "--initial-branch=main")
    for path, text in files.items():
        target = repo / path
        if text is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CELLSBOT_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "bot.cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=120
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("CELLSBOT_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def example(tmp_path: Path) -> tuple[Path, str, str]:
    return create_example(tmp_path / "example")


def review_json(capsys: pytest.CaptureFixture[str], *args: str, code: int | None = None) -> dict:
    """The JSON report; `code` is the expected exit code (1 when errors remain)."""
    returned = main(["review", *args, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert returned == (code if code is not None else int(bool(report["stats"]["errors"])))
    return report


def test_review_json_contract_on_the_example(example, cache, capsys):
    repo, base, head = example
    report = review_json(capsys, "--repo", str(repo), "--base", "main~1", "--head", "main")
    assert (report["version"], report["base"], report["head"]) == (1, base, head)
    changes = {(c["kind"], c["table"], c["name"]): c for c in report["changes"]}
    renamed = changes[("column_renamed", "projects", "visibility")]
    assert (renamed["old_name"], renamed["path"], renamed["line"]) == (
        "visibility_level",
        "db/structure.sql",
        82,
    )
    index = changes[("index_added", "projects", "index_projects_on_path")]
    assert (index["line"], index["details"]["unique"]) == (241, True)
    fk = changes[("foreign_key_added", "issue_user_mentions", "fk_issue_user_mentions_issue_id")]
    assert fk["details"]["ref_table"] == "issues"
    dropped = changes[("column_dropped", "users", "organization_id")]
    assert (dropped["side"], dropped["line"]) == ("base", 93)
    [item] = report["unanalyzable"]
    assert (item["path"], item["line"], item["new"]) == ("db/structure.sql", 24, True)
    assert "create_ci_builds_partition" in item["reason"]
    assert set(report["stats"]) == {
        "files",
        "statements",
        "modeled",
        "no_effect",
        "unanalyzable",
        "parsed",
        "rebuilt",
        "mode",
        "findings",
        "errors",
        "suppressed",
        "seconds",
    }
    assert report["cells_mode"] == "gitlab"
    by_rule = {(f["rule"], f["table"]): f for f in report["findings"]}
    missing = by_rule[("CELLS002", "issue_user_mentions")]
    assert (missing["path"], missing["line"], missing["severity"]) == (
        "db/docs/issue_user_mentions.yml",
        10,
        "error",
    )
    assert missing["fix"]["kind"] == "desired_sharding_key"
    assert missing["fix"]["data"] == {
        "project_id": {
            "references": "projects",
            "backfill_via": {
                "parent": {
                    "foreign_key": "issue_id",
                    "table": "issues",
                    "sharding_key": "project_id",
                    "belongs_to": "issue",
                }
            },
        }
    }
    unscoped = by_rule[("CELLS010", "issue_user_mentions")]
    assert (unscoped["path"], unscoped["line"]) == ("db/structure.sql", 239)
    assert "(project_id, note_id)" in unscoped["fix"]["text"]
    assert by_rule[("CELLS011", "projects")]["columns"] == ["path"]
    assert ("CELLS003", "users") in by_rule  # the key column users.organization_id was dropped
    assert report["stats"]["files"] == 1


def test_text_report_lists_changes_by_file_and_line(example, cache, capsys):
    repo, base, head = example
    assert main(["review", "--repo", str(repo), "--base", base, "--head", head]) == 1  # errors
    out = capsys.readouterr().out
    assert "     82  > column projects.visibility renamed from visibility_level\n" in out
    assert "db/structure.sql (base)\n" in out
    assert "db/structure.sql:24  [new] function create_ci_builds_partition runs DDL" in out


def test_second_run_is_served_by_the_cache_and_no_cache_bypasses_it(example, cache, capsys):
    repo, base, head = example
    first = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head)
    assert first["stats"]["parsed"] > 60
    assert list(cache.glob("extractions-*.sqlite"))
    assert first["stats"]["mode"] == "incremental"  # after one full build of the base
    warm = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head)
    assert warm["stats"]["parsed"] == 0
    assert warm["stats"]["mode"] == "incremental"
    assert warm["stats"]["rebuilt"] < first["stats"]["rebuilt"]  # the base is known clean now
    assert warm["changes"] == first["changes"]
    assert warm["unanalyzable"] == first["unanalyzable"]
    cold = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head, "--no-cache")
    assert cold["stats"]["parsed"] == first["stats"]["parsed"]


def test_no_cache_writes_nothing(example, cache, capsys):
    repo, base, head = example
    review_json(capsys, "--repo", str(repo), "--base", base, "--head", head, "--no-cache")
    assert not cache.exists()


def test_migration_repository_with_config_from_the_head_revision(tmp_path, cache, capsys):
    repo = tmp_path / "repo"
    config = "schema:\n  dumps: []\n  migrations: ['sql/*.sql']\n"
    base = commit(
        repo,
        {".cellsbot.yml": config, "sql/001_init.sql": "CREATE TABLE a (id serial PRIMARY KEY);\n"},
        "init",
    )
    head = commit(
        repo,
        {"sql/002_more.sql": "\nALTER TABLE a ADD COLUMN tenant_id bigint NOT NULL;\n"},
        "more",
    )
    report = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head)
    assert [(c["kind"], c["path"], c["line"]) for c in report["changes"]] == [
        ("column_added", "sql/002_more.sql", 2)
    ]
    assert report["stats"]["files"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "nope", "--head", "main"], "unknown revision 'nope'"),
        (["--base", "main", "--head", "main", "--config", "/nonexistent.yml"], "No such file"),
    ],
)
def test_input_errors_exit_2_with_a_clear_message(example, cache, capsys, args, message):
    repo, _, _ = example
    assert main(["review", "--repo", str(repo), *args]) == 2
    assert message in capsys.readouterr().err


def test_not_a_repository_and_bad_config_exit_2(tmp_path, cache, capsys):
    assert main(["review", "--repo", str(tmp_path), "--base", "a", "--head", "b"]) == 2
    assert "is not a git repository" in capsys.readouterr().err
    repo = tmp_path / "repo"
    sha = commit(repo, {".cellsbot.yml": "schema:\n  dumpz: []\n"}, "bad config")
    assert main(["review", "--repo", str(repo), "--base", sha, "--head", sha]) == 2
    assert "unknown key(s) dumpz" in capsys.readouterr().err


def test_usage_error_exits_2(cache):
    done = run_cli("review", "--repo", ".", cache=cache)
    assert done.returncode == 2
    assert "the following arguments are required: --base, --head" in done.stderr


def test_demo_command_runs_as_a_process(tmp_path, cache):
    done = run_cli("demo", "--into", str(tmp_path / "demo"), "--format", "json", cache=cache)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["changes"]) == 14
    assert done.stderr.startswith("example repository: ")


def test_progress_only_on_a_terminal(example, cache):
    repo, base, head = example
    quiet = run_cli("review", "--repo", str(repo), "--base", base, "--head", head, cache=cache)
    assert quiet.returncode == 1  # the example has error findings
    assert quiet.stderr == ""
    controller, terminal = pty.openpty()
    env = {**os.environ, "CELLSBOT_CACHE_DIR": str(cache)}
    command = [
        sys.executable,
        "-m",
        "bot.cli",
        "review",
        "--repo",
        str(repo),
        "--base",
        base,
        "--head",
        head,
    ]
    done = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=terminal, env=env, check=False, timeout=60
    )
    os.close(terminal)
    shown = os.read(controller, 65536).decode()
    os.close(controller)
    assert done.returncode == 1
    assert "base: file 1 of 1 (db/structure.sql)" in shown
    assert shown.endswith("\r\x1b[K")  # the status line is erased before the report


def _example_with(tmp_path: Path, edit) -> tuple[Path, str, str]:
    """The example repository with one more commit on top, made by `edit(repo)`."""
    repo, base, _ = create_example(tmp_path / "example")
    edit(repo)
    head = commit(repo, {}, "adjust")
    return repo, base, head


def test_code_quality_and_sarif_reports(example, cache, capsys):
    repo, base, head = example
    assert (
        main(
            [
                "review",
                "--repo",
                str(repo),
                "--base",
                base,
                "--head",
                head,
                "--format",
                "codequality",
            ]
        )
        == 1
    )
    issues = json.loads(capsys.readouterr().out)
    assert {i["check_name"] for i in issues} == {
        "CELLS002",
        "CELLS003",
        "CELLS010",
        "CELLS011",
        "CELLS090",
    }
    missing = next(i for i in issues if i["check_name"] == "CELLS002")
    assert (
        missing["severity"],
        missing["location"]["path"],
        missing["location"]["lines"]["begin"],
    ) == (
        "major",
        "db/docs/issue_user_mentions.yml",
        10,
    )
    assert (
        main(["review", "--repo", str(repo), "--base", base, "--head", head, "--format", "sarif"])
        == 1
    )
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    assert len(run["results"]) == 5
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    result = next(r for r in run["results"] if r["ruleId"] == "CELLS010")
    assert rules[result["ruleIndex"]] == "CELLS010"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 239


def test_a_suppression_comment_silences_a_finding_and_is_counted(tmp_path, cache, capsys):
    def suppress(repo: Path) -> None:
        dump = repo / "db" / "structure.sql"
        text = dump.read_text().replace(
            "CREATE UNIQUE INDEX index_issue_user_mentions_on_note_id",
            "-- cellsbot:ignore CELLS010 a note belongs to one issue, so to one project\n"
            "CREATE UNIQUE INDEX index_issue_user_mentions_on_note_id",
        )
        dump.write_text(text)

    repo, base, head = _example_with(tmp_path, suppress)
    report = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head, code=1)
    assert "CELLS010" not in {f["rule"] for f in report["findings"]}
    [silenced] = report["suppressed"]
    assert (silenced["rule"], silenced["line"]) == ("CELLS010", 240)
    assert silenced["suppressed_by"] == "a note belongs to one issue, so to one project"
    assert report["stats"]["suppressed"] == 1


def test_a_suppression_without_reason_is_a_warning(tmp_path, cache, capsys):
    def suppress(repo: Path) -> None:
        dump = repo / "db" / "structure.sql"
        dump.write_text(
            dump.read_text().replace(
                "CREATE FUNCTION create_ci_builds",
                "-- cellsbot:ignore CELLS090\nCREATE FUNCTION create_ci_builds",
            )
        )

    repo, base, head = _example_with(tmp_path, suppress)
    report = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head, code=1)
    [warning] = [f for f in report["findings"] if f["rule"] == "CELLS091"]
    assert (warning["severity"], warning["line"]) == ("warning", 24)
    assert [f["rule"] for f in report["suppressed"]] == ["CELLS090"]


def test_severities_from_the_config_decide_the_exit_code(tmp_path, cache, capsys):
    config = (
        "rules:\n  CELLS002: warning\n  CELLS003: 'off'\n  CELLS010:\n"
        "    - severity: info\n      tables: [issue_user_mentions]\n"
    )
    repo, base, head = _example_with(
        tmp_path, lambda repo: (repo / ".cellsbot.yml").write_text(config)
    )
    report = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head, code=0)
    severities = {f["rule"]: f["severity"] for f in report["findings"]}
    assert severities == {
        "CELLS002": "warning",
        "CELLS010": "info",
        "CELLS011": "warning",
        "CELLS090": "warning",
    }


def test_generic_mode_from_the_config(tmp_path, cache, capsys):
    repo = tmp_path / "repo"
    config = "cells:\n  roots:\n    accounts: account_id\n"
    schema = "CREATE TABLE accounts (id bigint PRIMARY KEY, name text);\n"
    base = commit(repo, {".cellsbot.yml": config, "db/structure.sql": schema}, "init")
    head = commit(
        repo,
        {
            "db/structure.sql": schema
            + "CREATE TABLE invoices (id serial PRIMARY KEY, number text NOT NULL);\n"
        },
        "invoices",
    )
    report = review_json(capsys, "--repo", str(repo), "--base", base, "--head", head, code=1)
    assert report["cells_mode"] == "generic"
    assert sorted((f["rule"], f["table"], f["line"]) for f in report["findings"]) == [
        ("CELLS002", "invoices", 2),
        ("CELLS031", "invoices", 2),
    ]


def test_rules_command_lists_and_writes_pages(tmp_path, capsys):
    assert main(["rules"]) == 0
    assert "CELLS010  unique-not-scoped-by-sharding-key" in capsys.readouterr().out
    assert main(["rules", "--write-docs", str(tmp_path / "rules")]) == 0
    assert (tmp_path / "rules" / "missing-sharding-key.md").read_text().startswith("<!-- generated")
