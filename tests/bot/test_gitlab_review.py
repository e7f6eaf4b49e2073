"""Reviewing a merge request on (fake) GitLab: what lands where, and what a re-run changes."""

from __future__ import annotations

import pytest

from bot import render
from bot.reviewer import NOT_OPEN, PUBLISHED, SUPERSEDED
from tests.bot.merge_request import MergeRequestSetup


@pytest.fixture
def setup(fake_gitlab, tmp_path):
    return MergeRequestSetup(fake_gitlab, tmp_path)


def test_a_review_lands_as_one_summary_threads_on_the_lines_a_status_and_labels(setup):
    outcome = setup.review(setup.head)
    assert outcome.status == PUBLISHED
    findings = outcome.result.findings.findings
    assert {f.rule for f in findings} == {
        "CELLS002",
        "CELLS003",
        "CELLS010",
        "CELLS011",
        "CELLS090",
    }

    summaries = [n for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER)]
    assert len(summaries) == 1
    assert "CELLS010" in summaries[0]["body"]

    threads = {
        render.parse_marker(d["notes"][0]["body"]): d["notes"][0] for d in setup.bot_threads()
    }
    cells010 = next(f for f in findings if f.rule == "CELLS010")
    note = threads[render.finding_key(cells010)]
    assert note["position"]["new_path"] == "db/structure.sql"
    assert note["position"]["new_line"] == 239 == cells010.line
    placed = set(threads)
    unplaced = {render.finding_key(f) for f in outcome.published.unplaced}
    assert placed | unplaced == {render.finding_key(f) for f in findings}
    assert not placed & unplaced

    statuses = setup.fake.statuses(setup.project, setup.head)
    assert [(s["name"], s["status"]) for s in statuses] == [("cellsbot", "failed")]
    assert "cells::sharding-key-missing" in setup.fake.labels(setup.project, setup.iid)


def test_a_second_run_changes_nothing_and_posts_nothing(setup):
    setup.review(setup.head)
    notes, threads = setup.bot_notes(), setup.bot_threads()
    setup.fake.clear_log()
    outcome = setup.review(setup.head)
    assert outcome.published.summary == "unchanged"
    assert outcome.published.created == []
    assert setup.bot_notes() == notes
    assert setup.bot_threads() == threads
    writes = [
        r
        for r in setup.fake.request_log
        if r.method in ("POST", "PUT", "DELETE") and "statuses" not in r.path
    ]
    assert writes == []


def test_a_new_push_edits_the_summary_and_resolves_fixed_findings(setup):
    setup.review(setup.head)
    summary_id = next(
        n["id"] for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER)
    )
    threads = setup.bot_threads()
    human_thread = threads[0]
    setup.fake.add_human_reply(setup.project, setup.iid, human_thread["id"], setup.human, "why?")

    structure = (setup.repo.path / "db/structure.sql").read_text()
    unique = "CREATE UNIQUE INDEX index_issue_user_mentions_on_note_id"
    fixed = structure.replace(unique, unique.replace("UNIQUE ", ""))
    assert fixed != structure
    new_head = setup.repo.commit({"db/structure.sql": fixed}, "make the note index non-unique")
    setup.fake.push(setup.project, setup.iid, new_head)

    assert setup.review(setup.head).status == SUPERSEDED  # the old job stops before posting
    outcome = setup.review(new_head)
    assert outcome.status == PUBLISHED
    assert "CELLS010" not in {f.rule for f in outcome.result.findings.findings}
    summaries = [n for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER)]
    assert [n["id"] for n in summaries] == [summary_id]
    assert "CELLS010" not in summaries[0]["body"]
    after = {d["id"]: d for d in setup.bot_threads()}
    assert human_thread["id"] in after  # never deleted
    cells010 = [d for d in after.values() if "CELLS010" in d["notes"][0]["body"]]
    assert cells010
    assert all(d["notes"][0]["resolved"] for d in cells010)
    assert setup.fake.statuses(setup.project, new_head)[-1]["status"] == "failed"  # others remain


def test_copies_posted_twice_are_removed_and_a_replied_copy_is_kept_resolved(setup):
    """A create that timed out, was looked for by the retry, then applied by GitLab: the
    copies of the summary and of two threads that it leaves are removed on the next run; the
    oldest of each is the one kept and edited, and a copy a human replied to stays, resolved."""
    setup.review(setup.head)
    summary = next(n for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER))
    first, second = setup.bot_threads()[:2]
    late = {  # what the late creates posted: the same bodies, as the bot
        "summary": setup.fake.add_note(setup.project, setup.iid, setup.bot, summary["body"]),
        "plain": setup.fake.add_discussion(
            setup.project, setup.iid, setup.bot, first["notes"][0]["body"],
            position=first["notes"][0]["position"],
        ),
        "replied": setup.fake.add_discussion(
            setup.project, setup.iid, setup.bot, second["notes"][0]["body"],
            position=second["notes"][0]["position"],
        ),
    }  # fmt: skip
    setup.fake.add_human_reply(setup.project, setup.iid, late["replied"], setup.human, "hm?")
    count = len(setup.bot_threads())

    outcome = setup.review(setup.head)

    keys = [render.parse_marker(d["notes"][0]["body"]) for d in (first, second)]
    assert sorted(outcome.published.removed) == sorted(["summary", *keys])
    assert outcome.published.created == []
    summaries = [n for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER)]
    assert [n["id"] for n in summaries] == [summary["id"]]
    threads = {d["id"]: d for d in setup.bot_threads()}
    assert late["plain"] not in threads
    assert threads[late["replied"]]["notes"][0]["resolved"]  # kept: a human replied
    assert not threads[second["id"]]["notes"][0]["resolved"]  # the original stays open
    assert len(threads) == count - 1
    assert setup.review(setup.head).published.removed == []  # converged


def test_a_closed_merge_request_is_not_reviewed(setup):
    setup.fake.update_mr(setup.project, setup.iid, state="closed")
    assert setup.review(setup.head).status == NOT_OPEN
    assert setup.bot_notes() == []


def test_findings_in_a_diff_gitlab_does_not_show_go_into_the_summary(setup):
    setup.fake.set_diff_flags(setup.project, setup.iid, "db/structure.sql", too_large=True)
    outcome = setup.review(setup.head)
    in_structure = [f for f in outcome.result.findings.findings if f.path == "db/structure.sql"]
    assert in_structure
    assert {id(f) for f in in_structure} <= {id(f) for f in outcome.published.unplaced}
    assert not [
        d
        for d in setup.bot_threads()
        if d["notes"][0]["position"]["new_path"] == "db/structure.sql"
    ]
    summary = next(n for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER))[
        "body"
    ]
    assert "db/structure.sql" in summary
    assert f"/-/blob/{setup.head}/db/structure.sql#L239" in summary


def test_the_head_is_listed_as_the_base_plus_the_diff(setup):
    from bot.gitlab_api import GitLabSource, read_merge_request  # noqa: PLC0415

    mr = read_merge_request(setup.gl, setup.project, setup.iid)
    derived = GitLabSource(setup.gl, setup.project)
    derived.derive(mr.refs.head_sha, mr.refs.base_sha, mr.changes)
    listed = GitLabSource(setup.gl, setup.project)
    assert derived.list_files(mr.refs.head_sha) == listed.list_files(mr.refs.head_sha)

    setup.fake.clear_log()
    setup.review(setup.head)
    trees = setup.fake.requests("GET", r"/repository/tree")
    assert {r.query["ref"] for r in trees} == {mr.refs.base_sha}  # the head is not listed


def test_a_merge_request_without_schema_changes_gets_a_status_and_no_note(setup):
    setup.repo.git("checkout", "--quiet", "-b", "docs-only", "main")
    head = setup.repo.commit({"README.md": "# just words\n"}, "docs")
    iid = setup.fake.open_mr(setup.project, author_id=setup.human, source_branch="docs-only")
    setup.iid = iid
    outcome = setup.review(head)
    assert outcome.published.summary == "skipped"
    assert setup.bot_notes() == []
    assert setup.fake.statuses(setup.project, head)[-1]["status"] == "success"
