"""What the bot posts: summary note, inline threads, markers, labels, commit status, help."""

from __future__ import annotations

import dataclasses
import re

import pytest

from analyzers.build import UnanalyzableItem
from analyzers.findings import ERROR, INFO, WARNING, Finding, FindingSet, Fix
from bot import render
from bot.example import create_example
from bot.render import (
    NOTE_LIMIT,
    SUMMARY_MARKER,
    LabelConfig,
    commit_status,
    finding_key,
    finding_keys,
    finding_thread,
    help_note,
    label_changes,
    labels_for,
    parse_marker,
    rule_docs_url,
    summary_note,
)
from bot.review import ReviewResult, review_range

PROJECT = "https://gitlab.example.com/group/app"
DOCS = "https://gitlab.example.com/tools/cellsbot/-/blob/main/docs/rules/"
ZWSP = "\u200b"
HOSTILE = "a | b\n/label ~x\nping @alice about #12 and !7 <!-- hidden"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> ReviewResult:
    repo, base, head = create_example(tmp_path_factory.mktemp("render") / "example")
    return review_range(repo, base, head)


def finding(**changes: object) -> Finding:
    base = Finding(
        rule="CELLS010",
        name="unique-not-scoped-by-sharding-key",
        severity=ERROR,
        path="db/structure.sql",
        line=239,
        message="index idx makes (note_id) unique within one cell only",
        table="issue_user_mentions",
        columns=("note_id",),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def with_findings(
    result: ReviewResult,
    findings: list[Finding],
    suppressed: list[Finding] | None = None,
    unanalyzable: list[tuple[UnanalyzableItem, bool]] | None = None,
) -> ReviewResult:
    return dataclasses.replace(
        result,
        findings=FindingSet(findings, suppressed or []),
        unanalyzable=unanalyzable if unanalyzable is not None else [],
    )


def quick_action_lines(body: str) -> list[str]:
    """Lines GitLab's quick-action extractor would run: `/word` at a line start, outside
    blocks fenced with exactly three backticks (`Gitlab::QuickActions::Extractor`)."""
    outside = re.sub(r"^```.+?\n```$", "", body, flags=re.MULTILINE | re.DOTALL)
    return [line for line in outside.split("\n") if re.match(r"/\w", line)]


def live_text(body: str) -> str:
    """The body without fenced blocks and code spans: where mentions and references work."""
    body = re.sub(r"^```.*?^```$", "", body, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"(`+).+?\1", "", body)


def table_rows(body: str) -> list[str]:
    """The body rows of the tables in `body` (not their header rows)."""
    lines = body.split("\n")
    return [
        line
        for line, below in zip(lines, [*lines[1:], ""], strict=True)
        if line.startswith("| ") and not below.startswith("|---")
    ]


def cells(row: str) -> list[str]:
    """A table row's cells, split on pipes that are not escaped."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


# ---------------------------------------------------------------------------- markers


def test_summary_marker_round_trips_and_comes_first(example):
    body = summary_note(example, project_url=PROJECT, head_sha=example.head.sha)
    assert body.split("\n")[0] == SUMMARY_MARKER
    assert parse_marker(body) == "summary"


def test_every_real_finding_thread_carries_its_own_key(example):
    keys = []
    for item in example.findings.findings:
        body = finding_thread(item, docs_url=DOCS)
        assert body.startswith(f"<!-- cellsbot:finding:{finding_key(item)} -->\n")
        assert parse_marker(body) == finding_key(item)
        keys.append(parse_marker(body))
    assert len(keys) == 5
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    "path", ["db/with space.sql", "db/ünïcode.sql", "db/odd-->name|x.sql", "db/a:b,c~d.sql"]
)
def test_keys_of_odd_paths_survive_the_marker(path):
    item = finding(path=path, columns=("a,b", "c:d"))
    assert parse_marker(finding_thread(item)) == finding_key(item)


@pytest.mark.parametrize(
    "body",
    [
        "thanks, fixed",
        f"> {SUMMARY_MARKER}\nquoted by a human",
        f"see below\n{SUMMARY_MARKER}",
        "<!-- othertool:summary -->",
        "<!-- cellsbot:finding: -->",
        "",
    ],
)
def test_parse_marker_ignores_bodies_the_bot_did_not_start(body):
    assert parse_marker(body) is None


# ------------------------------------------------------------------------------- keys


def test_key_is_stable_when_the_line_moves():
    moved = finding(line=250, end_line=252)
    assert finding_key(moved) == finding_key(finding())
    text = finding(message="statement at line 42 (db/structure.sql:42) is unsafe")
    later = finding(message="statement at line 57 (db/structure.sql:57) is unsafe", line=57)
    assert finding_key(text) == finding_key(later)


@pytest.mark.parametrize(
    "other",
    [
        finding(rule="CELLS011", name="global-unique-needs-claim"),
        finding(message="index other makes (note_id) unique within one cell only"),
        finding(columns=("project_id",)),
        finding(table="issues"),
        finding(path="db/other.sql"),
        finding(columns=("note", "id")),  # not the same as ("note,id",)
    ],
)
def test_different_findings_get_different_keys(other):
    assert finding_key(other) != finding_key(finding(columns=("note,id",)))
    assert finding_key(other) != finding_key(finding())


def test_finding_keys_separates_the_same_finding_at_two_places():
    first, second, other = finding(line=30), finding(line=10), finding(rule="CELLS011")
    keys = finding_keys([first, second, other])
    assert keys == [f"{finding_key(first)}~2", finding_key(first), finding_key(other)]
    assert parse_marker(finding_thread(first, key=keys[0])) == keys[0]


# --------------------------------------------------------------------------- summary


def test_summary_of_the_example(example):
    head = example.head.sha
    body = summary_note(example, project_url=PROJECT, head_sha=head, docs_url=DOCS)
    assert body.split("\n")[1] == "❌ **3 errors**, 2 warnings — this change breaks Cells rules."
    rows = table_rows(body)
    assert [cells(row)[0] for row in rows] == ["❌ error"] * 3 + ["⚠️ warning"] * 2
    unique = next(row for row in rows if "CELLS010" in row)
    assert cells(unique)[1] == f"[CELLS010]({DOCS}unique-not-scoped-by-sharding-key.md)"
    assert cells(unique)[2] == (
        f"[db/structure.sql:239]({PROJECT}/-/blob/{head}/db/structure.sql#L239)"
    )
    assert "**new** [db/structure.sql:24-30](" in body
    assert f"{PROJECT}/-/blob/{head}/db/structure.sql#L24-30" in body


def test_summary_without_urls_has_no_links(example):
    body = summary_note(example, project_url=None, head_sha=example.head.sha)
    assert "](" not in body
    assert "| db/structure.sql:239 |" in body


def test_clean_review_says_so(example):
    body = summary_note(with_findings(example, []), project_url=PROJECT, head_sha="abc")
    assert body.split("\n")[1] == "✅ **No Cells problems** found."
    assert table_rows(body) == []


def test_warnings_only_verdict(example):
    result = with_findings(example, [finding(severity=WARNING), finding(severity=INFO, line=3)])
    body = summary_note(result, project_url=None, head_sha="abc")
    assert (
        body.split("\n")[1] == "⚠️ **1 warning, 1 note**, no errors — worth a look before merging."
    )


def test_table_cells_are_escaped_and_neutralized(example):
    hostile = finding(message=HOSTILE, path="db/a|b @bob.sql")
    body = summary_note(with_findings(example, [hostile]), project_url=None, head_sha="abc")
    [row] = table_rows(body)
    assert len(cells(row)) == 4
    assert cells(row)[3] == (
        f"a \\| b<br>\\/label ~x<br>ping @{ZWSP}alice about #{ZWSP}12 and !{ZWSP}7 &lt;!-- hidden"
    )
    assert cells(row)[2] == f"db/a\\|b @{ZWSP}bob.sql:239"
    assert quick_action_lines(body) == []
    assert not re.search(r"@\w|#\d|!\d|<!-- hidden", live_text(body))


def test_thread_neutralizes_the_message():
    body = finding_thread(finding(message="/label ~x\n@alice see #12"))
    assert quick_action_lines(body) == []
    assert not re.search(r"@\w|#\d", live_text(body))
    assert f"\\/label ~x<br>@{ZWSP}alice see #{ZWSP}12" in body


def test_table_is_capped_and_says_how_many_are_left_out(example):
    many = [finding(line=n, message=f"problem {n}") for n in range(1, 251)]
    body = summary_note(with_findings(example, many), project_url=PROJECT, head_sha="abc")
    assert len(table_rows(body)) == render.MAX_TABLE_ROWS == 200
    assert "_… and 50 more findings not shown here._" in body


def test_a_huge_review_stays_under_the_note_limit(example):
    message = "<@x|" * 5000
    many = [finding(line=n, message=message, path="p" * 5000) for n in range(1000)]
    fix = Fix("sql", "SELECT 1;\n" * 5000)
    unplaced = [dataclasses.replace(item, fix=fix) for item in many]
    body = summary_note(
        with_findings(example, many),
        project_url=PROJECT,
        head_sha="abc",
        unplaced=unplaced,
        unreadable=["q" * 5000] * 1000,
    )
    assert len(body) <= NOTE_LIMIT
    assert body.startswith(SUMMARY_MARKER)


def test_suppressed_counts_by_rule(example):
    suppressed = [
        finding(suppressed_by="random tokens"),
        finding(line=5, suppressed_by="ok"),
        finding(rule="CELLS091", name="suppression-without-reason", severity=WARNING),
    ]
    result = with_findings(example, [], suppressed)
    body = summary_note(result, project_url=None, head_sha="abc", docs_url=DOCS)
    assert f"- [CELLS010]({DOCS}unique-not-scoped-by-sharding-key.md) " in body
    assert "unique-not-scoped-by-sharding-key: 2\n" in body
    assert f"- [CELLS091]({DOCS}README.md) suppression-without-reason: 1" in body
    assert "(3):" in body


def test_unanalyzable_new_first(example):
    old = UnanalyzableItem("db/structure.sql", 5, 6, "old reason", "DO $$ old $$")
    new = UnanalyzableItem("db/structure.sql", 90, 90, "new reason", "DO $$ @x $$")
    result = with_findings(example, [], unanalyzable=[(old, False), (new, True)])
    body = summary_note(result, project_url=None, head_sha="abc")
    assert body.index("**new** db/structure.sql:90: new reason `DO $$ @x $$`") < body.index(
        "existing db/structure.sql:5-6: old reason"
    )


def test_unplaced_findings_get_links_and_their_fix(example):
    fix = Fix("replace", "  id bigint NOT NULL,\n", explanation="make it bigint")
    lost = finding(rule="CELLS031", name="non-bigint-primary-key", line=12, fix=fix)
    body = summary_note(
        with_findings(example, [lost]),
        project_url=PROJECT,
        head_sha="f00",
        unplaced=[lost],
        docs_url=DOCS,
    )
    section = body[body.index("**Findings without an inline thread**") :]
    assert f"[CELLS031]({DOCS}non-bigint-primary-key.md)" in section
    assert f"[db/structure.sql:12]({PROJECT}/-/blob/f00/db/structure.sql#L12)" in section
    assert "```\n  id bigint NOT NULL,\n```" in section
    assert "suggestion" not in body  # a suggestion only works in a thread on the line


def test_unreadable_files_are_listed_and_capped(example):
    paths = [f"db/migrate/{n:03}_x.sql" for n in range(150)]
    body = summary_note(example, project_url=None, head_sha="abc", unreadable=paths)
    assert "- `db/migrate/000_x.sql`" in body
    assert "- `db/migrate/099_x.sql`" in body
    assert "db/migrate/100_x.sql" not in body
    assert "- _… and 50 more._" in body


# --------------------------------------------------------------------------- threads


def test_one_line_replacement_is_a_suggestion():
    fix = Fix("replace", "  id bigint NOT NULL,\n", explanation="make it bigint")
    body = finding_thread(finding(line=12, fix=fix))
    assert "\n```suggestion:-0+0\n  id bigint NOT NULL,\n```\n" in body


def test_multi_line_replacement_counts_lines_from_the_anchor():
    text = "sharding_key:\n  project_id: projects\n"
    item = finding(path="db/docs/t.yml", line=10, end_line=11, fix=Fix("replace", text))
    assert "\n```suggestion:-0+1\nsharding_key:\n  project_id: projects\n```\n" in (
        finding_thread(item)
    )
    assert "\n```suggestion:-1+0\n" in finding_thread(item, anchor=11)
    outside = finding_thread(item, anchor=9)
    assert "suggestion" not in outside
    assert "```\nsharding_key:\n  project_id: projects\n```" in outside


def test_other_fix_kinds_are_code_blocks(example):
    unique = next(f for f in example.findings.findings if f.rule == "CELLS010")
    body = finding_thread(unique, docs_url=DOCS)
    assert "suggestion" not in body
    assert f"```sql\n{unique.fix.text.rstrip()}\n```" in body
    claim = next(f for f in example.findings.findings if f.rule == "CELLS011")
    assert f"```yaml\n{claim.fix.text.rstrip()}\n```" in finding_thread(claim)


def test_fix_with_a_fence_line_is_indented_not_fenced():
    fix = Fix("replace", "x\n```\n/label ~y\n")
    body = finding_thread(finding(fix=fix))
    assert "suggestion" not in body
    assert "\n    x\n    ```\n    /label ~y\n" in body
    assert quick_action_lines(body) == []


def test_thread_links_the_rule_docs_and_says_how_to_suppress():
    body = finding_thread(finding(), docs_url=DOCS.rstrip("/"))
    assert f"[unique-not-scoped-by-sharding-key]({DOCS}unique-not-scoped-by-sharding-key.md)" in (
        body
    )
    assert "`-- cellsbot:ignore CELLS010 <reason>`" in body
    assert "](" not in finding_thread(finding())


def test_rule_docs_url():
    assert rule_docs_url("CELLS002", "missing-sharding-key", "https://d/rules") == (
        "https://d/rules/missing-sharding-key.md"
    )
    assert rule_docs_url("CELLS091", "suppression-without-reason", "https://d/rules/") == (
        "https://d/rules/README.md"
    )
    assert rule_docs_url("CELLS002", "missing-sharding-key", None) is None


def test_location_links_encode_the_path(example):
    item = finding(path="db/my dir/(x).sql", line=3, end_line=5)
    body = summary_note(with_findings(example, [item]), project_url=PROJECT + "/", head_sha="c0")
    assert f"]({PROJECT}/-/blob/c0/db/my%20dir/%28x%29.sql#L3-5)" in body


# ---------------------------------------------------------------------------- labels


def test_labels_of_the_example(example):
    assert labels_for(example, LabelConfig()) == {
        "cells::sharding-key-missing",
        "database::review pending",
    }


@pytest.mark.parametrize(
    ("rules", "wanted"),
    [
        (["CELLS011"], {"cells::needs-claim"}),
        (["CELLS010", "CELLS011"], {"cells::unique-not-scoped", "database::review pending"}),
        (["CELLS021", "CELLS010"], {"cells::cross-database", "database::review pending"}),
        (["CELLS090"], set()),
    ],
)
def test_labels_keep_one_per_scope_by_priority(example, rules, wanted):
    severities = {"CELLS011": WARNING, "CELLS090": WARNING}
    findings = [finding(rule=rule, severity=severities.get(rule, ERROR)) for rule in rules]
    assert labels_for(with_findings(example, findings), LabelConfig()) == wanted


def test_unscoped_labels_all_apply(example):
    config = LabelConfig(rules={"CELLS01": "cells-unique", "CELLS0": "cells"}, error_label=None)
    result = with_findings(example, [finding(severity=WARNING)])
    assert labels_for(result, config) == {"cells-unique", "cells"}
    assert config.managed == {"cells-unique", "cells"}


def test_managed_labels_leave_the_review_label_alone_by_default():
    assert "database::review pending" not in LabelConfig().managed
    assert "cells::needs-claim" in LabelConfig().managed
    assert "database::review pending" in LabelConfig(manage_error_label=True).managed


def test_label_changes_never_remove_unmanaged_labels():
    current = {"bug", "cells::needs-claim", "database::review pending", "cells-other"}
    add, remove = label_changes(current, set(), LabelConfig().managed)
    assert (add, remove) == (set(), {"cells::needs-claim"})
    add, remove = label_changes(
        current, {"cells::sharding-key-missing", "feature"}, LabelConfig().managed
    )
    assert add == {"cells::sharding-key-missing", "feature"}
    assert remove == {"cells::needs-claim"}


def test_label_changes_do_not_displace_a_humans_scoped_label():
    current = {"database::approved"}
    add, remove = label_changes(current, {"database::review pending"}, LabelConfig().managed)
    assert (add, remove) == (set(), set())
    add, _ = label_changes(
        {"cells::needs-claim"}, {"cells::cross-database"}, {"cells::needs-claim"}
    )
    assert add == {"cells::cross-database"}


# ---------------------------------------------------------------------------- status


def test_status_of_the_example(example):
    assert commit_status(example) == ("failed", "3 errors, 2 warnings (Cells)")


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ([], ("success", "No Cells problems")),
        ([WARNING], ("success", "1 warning (Cells)")),
        ([INFO, WARNING, WARNING], ("success", "2 warnings, 1 note (Cells)")),
        ([ERROR], ("failed", "1 error (Cells)")),
        ([ERROR, ERROR, WARNING], ("failed", "2 errors, 1 warning (Cells)")),
    ],
)
def test_status_thresholds(example, severities, expected):
    findings = [finding(severity=severity, line=n) for n, severity in enumerate(severities, 1)]
    suppressed = [finding(suppressed_by="checked")]  # never counts
    state, description = commit_status(with_findings(example, findings, suppressed))
    assert (state, description) == expected
    assert len(description) <= 140


# ------------------------------------------------------------------------------ help


def test_help_note_names_the_commands_without_pinging_anyone():
    body = help_note("@cellsbot")
    assert "| `@cellsbot recheck` |" in body
    assert "| `@cellsbot help` |" in body
    assert not re.search(r"@\w", live_text(body))
    assert parse_marker(body) is None
    assert quick_action_lines(body) == []


def test_review_fixture_is_real(example: ReviewResult):
    """Guard for the tests above: the example still produces the findings they rely on."""
    assert [f.rule for f in example.findings.findings] == [
        "CELLS002",
        "CELLS003",
        "CELLS090",
        "CELLS010",
        "CELLS011",
    ]
