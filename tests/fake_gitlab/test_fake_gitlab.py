"""FakeGitLab, exercised through python-gitlab over HTTP as the review bot uses GitLab."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gitlab
import httpx
import pytest
import requests

from tests.fake_gitlab import AccessLevel, FakeGitLab, GitRepo
from tests.fake_gitlab.fixtures import fake_gitlab, gitlab_repo  # noqa: F401 (fixtures)
from tests.fake_gitlab.webhooks import (
    CORPUS_FILES,
    MERGE_REQUEST_HOOK,
    NOTE_HOOK,
    hook_headers,
    merge_request_hook,
    note_hook,
)

BOT_TOKEN = "bot-token-0123456789"
DEV_TOKEN = "dev-token-0123456789"
LINE_CODE = '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"]}'
STRUCTURE = "".join(f"line {n}\n" for n in range(1, 41))
HEAD_STRUCTURE = STRUCTURE.replace("line 10\n", "line 10\nnew a\nnew b\n").replace("line 30\n", "")
OLD_NAME = "".join(f"old {n}\n" for n in range(1, 11))
DOCS = 21  # + structure.sql, new_table.sql (added), obsolete.sql (deleted), a rename: 25 files


@dataclass(frozen=True)
class Repo:
    path: Path
    base: str
    head: str
    second: str  # a later commit on the feature branch, for push()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """main: the base commit; feature: a schema change, an added, a deleted and a renamed file,
    and 21 edited docs; then one more commit (`second`)."""
    git = GitRepo(tmp_path_factory.mktemp("fake-gitlab") / "repo")
    files: dict[str, str | bytes | None] = {
        "db/structure.sql": STRUCTURE,
        "db/old_name.sql": OLD_NAME,
        "db/obsolete.sql": "DROP TABLE old;\n",
        "README.md": "# app\n",
    }
    files |= {f"docs/page_{n:02}.md": f"page {n}\n" for n in range(DOCS)}
    base = git.commit(files, "base")
    git.branch("feature")
    git.move("db/old_name.sql", "db/new_name.sql")
    changed: dict[str, str | bytes | None] = {
        "db/structure.sql": HEAD_STRUCTURE,
        "db/obsolete.sql": None,
        "db/new_name.sql": OLD_NAME.replace("old 5\n", "new 5\n"),
        "db/new_table.sql": "CREATE TABLE t (id bigint);\n",
    }
    changed |= {f"docs/page_{n:02}.md": f"page {n}, edited\n" for n in range(DOCS)}
    head = git.commit(changed, "change the schema")
    second = git.commit({"db/new_table.sql": "CREATE TABLE t (id bigint, x int);\n"}, "more")
    git.checkout("main")
    return Repo(git.path, base, head, second)


@dataclass
class World:
    fake: FakeGitLab
    repo: Repo
    bot_id: int
    dev_id: int
    project_id: int
    iid: int
    gl: gitlab.Gitlab  # the bot's client

    def client(self, token: str = BOT_TOKEN, **options: object) -> gitlab.Gitlab:
        return gitlab.Gitlab(self.fake.url, private_token=token, **options)

    def mr(self, gl: gitlab.Gitlab | None = None):
        gl = gl or self.gl
        return gl.projects.get(self.project_id, lazy=True).mergerequests.get(self.iid)

    def position(self, path: str, old_path: str | None = None, **lines: int) -> dict:
        refs = self.mr().diff_refs
        return {
            "position_type": "text",
            **refs,
            "old_path": old_path or path,
            "new_path": path,
            **lines,
        }


@pytest.fixture
def world(fake_gitlab: FakeGitLab, repo: Repo) -> World:  # noqa: F811 (the imported fixture)
    fake = fake_gitlab
    bot_id = fake.add_user("review-bot", BOT_TOKEN, bot=True)
    dev_id = fake.add_user("dev", DEV_TOKEN)
    project_id = fake.add_project("group/app", repo.path)
    iid = fake.open_mr(
        project_id,
        author_id=dev_id,
        source_branch="feature",
        head_sha=repo.head,
        title="Add table t",
    )
    gl = gitlab.Gitlab(fake.url, private_token=BOT_TOKEN)
    return World(fake, repo, bot_id, dev_id, project_id, iid, gl)


# merge request, versions, diffs, pagination ------------------------------------------------------


def test_diff_refs_may_be_pending_right_after_creation(world: World) -> None:
    world.fake.set_diff_refs_pending(world.project_id, world.iid)
    mr = world.mr()
    assert mr.diff_refs == {"base_sha": None, "head_sha": None, "start_sha": None}
    assert mr.diffs.list(get_all=True) == []
    world.fake.set_diff_refs_pending(world.project_id, world.iid, pending=False)
    assert world.mr().diff_refs["head_sha"] == world.repo.head


def test_merge_request_and_its_versions(world: World) -> None:
    world.gl.auth()
    assert world.gl.user.id == world.bot_id
    mr = world.gl.projects.get("group/app").mergerequests.get(world.iid)  # URL-encoded path id
    assert mr.sha == world.repo.head
    assert mr.diff_refs == {
        "base_sha": world.repo.base,
        "start_sha": world.repo.base,
        "head_sha": world.repo.head,
    }
    assert (mr.state, mr.draft, mr.labels, mr.changes_count) == ("opened", False, [], "25")
    assert mr.author["id"] == world.dev_id
    assert mr.overflow is False

    world.fake.push(world.project_id, world.iid, world.repo.second)
    versions = mr.diffs.list(get_all=True)  # python-gitlab's "diffs" are versions
    assert [v.head_commit_sha for v in versions] == [world.repo.second, world.repo.head]
    latest = mr.diffs.list(per_page=1, page=1)[0]
    assert latest.base_commit_sha == world.repo.base
    one = mr.diffs.get(versions[1].id)
    assert len(one.diffs) == 25
    assert [c["id"] for c in one.commits] == [world.repo.head]
    assert world.mr().diff_refs["head_sha"] == world.repo.second
    system = [n for n in world.fake.notes(world.project_id, world.iid) if n["system"]]
    assert [n["body"].split("\n")[0] for n in system] == ["added 1 commit"]


def test_diffs_paginate_once_over_several_pages(world: World) -> None:
    path = f"/projects/{world.project_id}/merge_requests/{world.iid}/diffs"
    items = world.gl.http_list(path, get_all=True, per_page=10)
    assert len(items) == 25
    assert len({(d["old_path"], d["new_path"]) for d in items}) == 25
    pages = world.fake.requests("GET", r"/diffs$")
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]  # followed Link rel="next"

    listing = world.gl.http_list(path, iterator=True, per_page=10)
    assert (listing.total, listing.total_pages, listing.next_page) == (25, 3, 2)
    assert len(list(listing)) == 25

    response = httpx.get(
        f"{world.fake.api_url}{path}?per_page=10&page=2", headers={"PRIVATE-TOKEN": BOT_TOKEN}
    )
    headers = response.headers
    assert (headers["x-page"], headers["x-prev-page"], headers["x-next-page"]) == ("2", "1", "3")
    assert headers["x-per-page"] == "10"
    assert 'rel="first"' in headers["link"]
    assert f'<{world.fake.api_url}{path}?page=3&per_page=10>; rel="next"' in headers["link"]


def test_diff_items(world: World) -> None:
    items = world.gl.http_list(
        f"/projects/{world.project_id}/merge_requests/{world.iid}/diffs", get_all=True
    )
    by_path = {d["new_path"]: d for d in items}
    structure = by_path["db/structure.sql"]
    assert structure["diff"].startswith("@@ -8,6 +8,8 @@ line 7\n line 8\n")
    assert "+new a\n+new b\n" in structure["diff"]
    assert "-line 30\n" in structure["diff"]
    new_table = by_path["db/new_table.sql"]
    assert (new_table["new_file"], new_table["old_path"], new_table["a_mode"]) == (
        True,
        "db/new_table.sql",
        "0",
    )
    renamed = by_path["db/new_name.sql"]
    assert (renamed["renamed_file"], renamed["old_path"]) == (True, "db/old_name.sql")
    assert (
        renamed["diff"]
        == "@@ -2,7 +2,7 @@ old 1\n old 2\n old 3\n old 4\n-old 5\n+new 5\n old 6\n old 7\n old 8\n"
    )
    deleted = by_path["db/obsolete.sql"]
    assert (deleted["deleted_file"], deleted["b_mode"], deleted["diff"]) == (
        True,
        "0",
        "@@ -1 +0,0 @@\n-DROP TABLE old;\n",
    )
    unified = world.gl.http_list(
        f"/projects/{world.project_id}/merge_requests/{world.iid}/diffs", get_all=True, unidiff=True
    )
    assert next(d for d in unified if d["new_path"] == "db/new_name.sql")["diff"].startswith(
        "--- a/db/old_name.sql\n+++ b/db/new_name.sql\n@@ -2,7"
    )
    for flag in ("deleted_file", "generated_file", "collapsed", "too_large"):
        assert structure[flag] is False

    world.fake.set_diff_flags(world.project_id, world.iid, "db/structure.sql", too_large=True)
    world.fake.set_overflow(world.project_id, world.iid)
    items = world.gl.http_list(
        f"/projects/{world.project_id}/merge_requests/{world.iid}/diffs", get_all=True
    )
    structure = next(d for d in items if d["new_path"] == "db/structure.sql")
    assert (structure["too_large"], structure["diff"]) == (True, "")
    mr = world.mr()
    assert (mr.overflow, mr.changes_count) == (True, "25+")
    with pytest.raises(gitlab.GitlabCreateError) as refused:
        mr.discussions.create(
            {"body": "x", "position": world.position("db/structure.sql", new_line=11)}
        )
    assert refused.value.error_message == LINE_CODE


# inline discussions ------------------------------------------------------------------------------


def test_inline_positions_follow_gitlabs_rules(world: World) -> None:
    mr = world.mr()
    added = mr.discussions.create(
        {"body": "added", "position": world.position("db/structure.sql", new_line=11)}
    )
    note = added.attributes["notes"][0]
    assert (note["type"], note["resolvable"], note["resolved"]) == ("DiffNote", True, False)
    assert (note["position"]["old_line"], note["position"]["new_line"]) == (None, 11)

    def refused(position: dict) -> str:
        with pytest.raises(gitlab.GitlabCreateError) as error:
            mr.discussions.create({"body": "x", "position": position})
        assert error.value.response_code == 400
        return error.value.error_message

    assert refused(world.position("db/structure.sql", new_line=20)) == LINE_CODE  # no hunk
    # a context line needs both numbers (they differ after the insertion)
    assert refused(world.position("db/structure.sql", new_line=13)) == LINE_CODE
    mr.discussions.create(
        {"body": "ctx", "position": world.position("db/structure.sql", old_line=11, new_line=13)}
    )
    # a removed line: old_line only
    assert refused(world.position("db/structure.sql", new_line=30, old_line=30)) == LINE_CODE
    mr.discussions.create(
        {"body": "removed", "position": world.position("db/structure.sql", old_line=30)}
    )
    # an added line given an old_line too, and a new file given an old_line
    assert refused(world.position("db/structure.sql", old_line=11, new_line=11)) == LINE_CODE
    assert refused(world.position("db/new_table.sql", old_line=1)) == LINE_CODE
    mr.discussions.create(
        {"body": "new file", "position": world.position("db/new_table.sql", new_line=1)}
    )
    # a rename needs old_path = the old name
    assert refused(world.position("db/new_name.sql", new_line=5)) == LINE_CODE
    mr.discussions.create(
        {
            "body": "rename",
            "position": world.position("db/new_name.sql", "db/old_name.sql", new_line=5),
        }
    )
    # a file outside the diff, and stale SHAs (not the latest version's)
    assert refused(world.position("README.md", old_line=1, new_line=1)) == LINE_CODE
    stale = world.position("db/structure.sql", new_line=11)
    world.fake.push(world.project_id, world.iid, world.repo.second)
    assert refused(stale) == LINE_CODE
    assert refused({**world.position("db/structure.sql", new_line=11), "head_sha": "f" * 40}) == (
        LINE_CODE
    )
    with pytest.raises(gitlab.GitlabCreateError) as missing:
        mr.discussions.create({"body": "x", "position": {"position_type": "text"}})
    assert missing.value.error_message.startswith("position[base_sha] is missing")

    threads = world.fake.discussions(world.project_id, world.iid)
    bodies = [d["notes"][0]["body"] for d in threads if not d["notes"][0]["system"]]
    assert bodies == ["added", "ctx", "removed", "new file", "rename"]


def test_form_encoded_position_as_curl_sends_it(world: World) -> None:
    refs = world.mr().diff_refs
    form = {f"position[{k}]": v for k, v in refs.items()}
    form |= {
        "body": "from curl",
        "position[position_type]": "text",
        "position[old_path]": "db/structure.sql",
        "position[new_path]": "db/structure.sql",
        "position[new_line]": "12",
    }
    url = f"{world.fake.api_url}/projects/group%2Fapp/merge_requests/{world.iid}/discussions"
    response = httpx.post(url, data=form, headers={"Authorization": f"Bearer {DEV_TOKEN}"})
    assert response.status_code == 201, response.text
    assert response.json()["notes"][0]["position"]["new_line"] == 12


def test_threads_replies_edits_and_resolution(world: World) -> None:
    mr = world.mr()
    thread = mr.discussions.create(
        {"body": "finding", "position": world.position("db/structure.sql", new_line=12)}
    )
    bot_note_id = thread.attributes["notes"][0]["id"]
    world.fake.add_human_reply(world.project_id, world.iid, thread.id, world.dev_id, "why?")

    found = mr.discussions.get(thread.id)
    assert [n["body"] for n in found.attributes["notes"]] == ["finding", "why?"]
    assert found.attributes["notes"][1]["author"]["username"] == "dev"

    note = found.notes.get(bot_note_id, lazy=True)
    note.body = "finding, reworded"
    note.save()
    found.resolved = True
    found.save()
    (stored,) = [
        d for d in world.fake.discussions(world.project_id, world.iid) if d["id"] == thread.id
    ]
    assert stored["notes"][0]["body"] == "finding, reworded"
    assert all(n["resolved"] for n in stored["notes"])
    assert stored["notes"][0]["resolved_by"]["id"] == world.bot_id

    reply = found.notes.create({"body": "because"})  # a reply in a resolved thread
    assert (reply.type, reply.resolved, reply.position["new_line"]) == ("DiffNote", True, 12)
    assert [n["body"] for n in mr.discussions.get(thread.id).attributes["notes"]] == [
        "finding, reworded",
        "why?",
        "because",
    ]
    found.resolved = False
    found.save()
    assert not any(n["resolved"] for n in mr.discussions.get(thread.id).attributes["notes"])

    human = found.notes.get(stored["notes"][1]["id"], lazy=True)
    human.body = "the bot rewrites you"
    with pytest.raises(gitlab.GitlabUpdateError) as forbidden:
        human.save()
    assert forbidden.value.response_code == 403


# notes -------------------------------------------------------------------------------------------


def test_notes_create_edit_list_and_author_only_edits(world: World) -> None:
    mr = world.mr()
    summary = mr.notes.create({"body": "<!-- summary --> all good"})
    assert (summary.author["id"], summary.system, summary.resolvable) == (
        world.bot_id,
        False,
        False,
    )
    summary.body = "<!-- summary --> updated"
    summary.save()
    human_id = world.fake.add_note(world.project_id, world.iid, world.dev_id, "thanks")
    for n in range(43):
        mr.notes.create({"body": f"note {n}"})

    listed = mr.notes.list(get_all=True, sort="asc", order_by="created_at")
    assert len({n.id for n in listed}) == len(listed) == 45
    assert [n.body for n in listed[:2]] == ["<!-- summary --> updated", "thanks"]
    assert mr.notes.list(get_all=True)[0].body == "note 42"  # newest first by default
    assert len(world.fake.requests("GET", r"/notes$")) == 6  # 3 pages, twice

    human = mr.notes.get(human_id)
    human.body = "edited by the bot"
    with pytest.raises(gitlab.GitlabUpdateError) as forbidden:
        human.save()
    assert forbidden.value.response_code == 403
    assert forbidden.value.error_message == "403 Forbidden"
    with pytest.raises(gitlab.GitlabDeleteError):
        mr.notes.delete(human_id)
    mr.notes.delete(summary.id)
    assert len(world.fake.notes(world.project_id, world.iid)) == 44

    with pytest.raises(gitlab.GitlabCreateError) as missing:
        mr.notes.create({"body": ""})
    assert missing.value.response_code == 400


def test_replying_to_a_comment_makes_it_a_thread(world: World) -> None:
    note_id = world.fake.add_note(world.project_id, world.iid, world.dev_id, "question")
    (single,) = world.mr().discussions.list(get_all=True)
    assert single.individual_note is True
    assert single.attributes["notes"][0]["id"] == note_id
    single.notes.create({"body": "answer"})
    thread = world.mr().discussions.get(single.id)
    assert thread.individual_note is False
    assert [(n["type"], n["resolvable"]) for n in thread.attributes["notes"]] == [
        ("DiscussionNote", True),
        ("DiscussionNote", True),
    ]


def test_a_bad_token_gets_401(world: World) -> None:
    with pytest.raises(gitlab.GitlabAuthenticationError) as error:
        world.client("not-a-token").auth()
    assert error.value.response_code == 401
    assert error.value.error_message == "401 Unauthorized"
    response = httpx.get(f"{world.fake.api_url}/projects/{world.project_id}")
    assert (response.status_code, response.json()) == (401, {"message": "401 Unauthorized"})


# labels, statuses --------------------------------------------------------------------------------


def test_labels(world: World) -> None:
    mr = world.mr()
    mr.labels = ["database", "needs-review"]
    mr.save()
    assert world.fake.labels(world.project_id, world.iid) == ["database", "needs-review"]
    manager = world.gl.projects.get(world.project_id, lazy=True).mergerequests
    manager.update(world.iid, {"add_labels": "cells::safe,zebra", "remove_labels": "needs-review"})
    assert world.fake.labels(world.project_id, world.iid) == ["cells::safe", "database", "zebra"]
    assert world.mr().labels == ["cells::safe", "database", "zebra"]


def test_commit_statuses(world: World) -> None:
    commit = world.gl.projects.get(world.project_id, lazy=True).commits.get(
        world.repo.head, lazy=True
    )
    commit.statuses.create({"state": "running", "name": "cellsbot"})
    with pytest.raises(gitlab.GitlabCreateError) as twice:
        commit.statuses.create({"state": "running", "name": "cellsbot"})
    assert twice.value.error_message.startswith("Cannot transition status via :run from :running")
    done = commit.statuses.create(
        {"state": "success", "name": "cellsbot", "description": "ok", "target_url": "http://x"}
    )
    assert (done.status, done.ref) == ("success", "feature")
    commit.statuses.create({"state": "failed", "name": "cellsbot"})  # a finished one: a new one

    stored = world.fake.statuses(world.project_id, world.repo.head)
    assert [(s["status"], s["description"]) for s in stored] == [
        ("success", "ok"),
        ("failed", None),
    ]
    assert [s.status for s in commit.statuses.list(get_all=True)] == ["failed"]
    assert len(commit.statuses.list(get_all=True, all=True)) == 2

    with pytest.raises(gitlab.GitlabCreateError) as bad:
        commit.statuses.create({"state": "great", "name": "cellsbot"})
    assert (bad.value.response_code, bad.value.error_message) == (
        400,
        "state does not have a valid value",
    )


# repository --------------------------------------------------------------------------------------


def test_tree_files_and_blobs(world: World) -> None:
    project = world.gl.projects.get(world.project_id)
    assert project.path_with_namespace == "group/app"
    assert project.default_branch == "main"
    tree = project.repository_tree(ref=world.repo.head, recursive=True, get_all=True, per_page=7)
    blobs = {e["path"]: e for e in tree if e["type"] == "blob"}
    assert ("db/new_name.sql" in blobs, "db/old_name.sql" in blobs) == (True, False)
    assert len(blobs) == 3 + 1 + DOCS
    assert {"db", "docs"} <= {e["path"] for e in tree if e["type"] == "tree"}
    top = project.repository_tree(ref=world.repo.head, path="db", get_all=True)
    assert sorted(e["name"] for e in top) == ["new_name.sql", "new_table.sql", "structure.sql"]

    raw = project.files.raw(file_path="db/structure.sql", ref=world.repo.head)
    assert raw == HEAD_STRUCTURE.encode()
    assert project.files.get("db/structure.sql", ref=world.repo.base).decode().decode() == (
        STRUCTURE
    )
    blob = world.gl.http_get(
        f"/projects/{world.project_id}/repository/blobs/{blobs['db/new_table.sql']['id']}/raw",
        raw=True,
    )
    assert blob.content == b"CREATE TABLE t (id bigint);\n"
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.files.raw(file_path="db/new_table.sql", ref=world.repo.base)
    assert (missing.value.response_code, missing.value.error_message) == (
        404,
        "404 File Not Found",
    )


# faults, retries, rate limits, the request log ---------------------------------------------------


def test_429_is_retried_by_python_gitlab(world: World) -> None:
    world.fake.inject_fault("GET", r"/merge_requests/\d+$", status=429)
    started = time.monotonic()
    assert world.mr().iid == world.iid
    assert time.monotonic() - started >= 1  # slept Retry-After: 1
    assert [r.status for r in world.fake.requests("GET", r"/merge_requests/\d+$")] == [429, 200]


def test_injected_500_is_visible_and_retried_on_request(world: World) -> None:
    world.fake.inject_fault("POST", r"/notes$", status=500)
    mr = world.mr()
    with pytest.raises(gitlab.GitlabCreateError) as error:
        mr.notes.create({"body": "hello"})
    assert error.value.response_code == 500
    assert world.fake.notes(world.project_id, world.iid) == []  # not applied

    world.fake.inject_fault("POST", r"/notes$", status=502, times=2)
    retrying = world.client(retry_transient_errors=True)
    world.mr(retrying).notes.create({"body": "hello"})
    posts = world.fake.requests("POST", r"/notes$")
    assert [(r.status, r.processed) for r in posts] == [
        (500, False),
        (502, False),
        (502, False),
        (201, True),
    ]
    assert [n["body"] for n in world.fake.notes(world.project_id, world.iid)] == ["hello"]


def test_a_lost_answer_after_a_timeout_shows_duplicates(world: World) -> None:
    world.fake.inject_fault("POST", r"/notes$", delay=0.6, process=True)
    slow = world.client(timeout=0.2)
    with pytest.raises(requests.exceptions.Timeout):
        world.mr(slow).notes.create({"body": "once"})
    deadline = time.monotonic() + 5
    while not world.fake.notes(world.project_id, world.iid) and time.monotonic() < deadline:
        time.sleep(0.02)  # the server applied it (before its delay), whatever the client saw
    assert [n["body"] for n in world.fake.notes(world.project_id, world.iid)] == ["once"]


def test_rate_limit(world: World) -> None:
    world.fake.set_rate_limit(3, period=60)
    url = f"{world.fake.api_url}/projects/{world.project_id}"
    answers = [httpx.get(url, headers={"PRIVATE-TOKEN": BOT_TOKEN}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.text == "Retry later\n"
    assert int(limited.headers["Retry-After"]) >= 1
    assert (limited.headers["RateLimit-Limit"], limited.headers["RateLimit-Remaining"]) == (
        "3",
        "0",
    )
    assert int(limited.headers["RateLimit-Reset"]) > time.time()
    world.fake.set_rate_limit(None)
    assert httpx.get(url, headers={"PRIVATE-TOKEN": BOT_TOKEN}).status_code == 200


def test_unknown_things_are_404(world: World) -> None:
    headers = {"PRIVATE-TOKEN": BOT_TOKEN}
    api = world.fake.api_url
    assert httpx.get(f"{api}/projects/999", headers=headers).json() == {
        "message": "404 Project Not Found"
    }
    assert httpx.get(f"{api}/projects/1/merge_requests/99", headers=headers).status_code == 404
    assert httpx.get(f"{api}/nothing/here", headers=headers).json() == {"error": "404 Not Found"}


# members and users -------------------------------------------------------------------------------


def test_members_all_includes_inherited_members_and_404s_others(world: World) -> None:
    fake = world.fake
    reviewer = fake.add_user("Reviewer", "reviewer-token-0123", name="Rita Viewer")
    outsider = fake.add_user("outsider", "outsider-token-0123")
    fake.add_member(world.project_id, world.dev_id, AccessLevel.DEVELOPER)
    fake.add_group_member("group", world.dev_id, AccessLevel.MAINTAINER)  # the highest counts
    fake.add_group_member("Group", reviewer, AccessLevel.REPORTER, expires_at="2030-01-31")
    fake.add_group_member("other", outsider, AccessLevel.OWNER)  # not an ancestor of group/app
    project = world.gl.projects.get(world.project_id, lazy=True)

    dev = project.members_all.get(world.dev_id)
    assert (dev.username, dev.access_level, dev.state, dev.expires_at) == (
        "dev",
        40,
        "active",
        None,
    )
    assert dev.web_url == f"{fake.url}/dev"
    assert {"avatar_url", "created_at", "name"} <= set(dev.attributes)
    inherited = project.members_all.get(reviewer)
    assert (inherited.name, inherited.access_level, inherited.expires_at) == (
        "Rita Viewer",
        AccessLevel.REPORTER,
        "2030-01-31",
    )
    assert project.members.get(world.dev_id).access_level == 30  # direct: the project's own
    assert [m.id for m in project.members_all.list(get_all=True)] == [world.dev_id, reviewer]
    assert [m.id for m in project.members.list(get_all=True)] == [world.dev_id]

    for manager, user_id in (
        (project.members_all, outsider),
        (project.members_all, world.bot_id),
        (project.members, reviewer),  # inherited only: not a direct member
        (project.members_all, 999),
    ):
        with pytest.raises(gitlab.GitlabGetError) as missing:
            manager.get(user_id)
        assert (missing.value.response_code, missing.value.error_message) == (404, "404 Not found")
    headers = {"PRIVATE-TOKEN": BOT_TOKEN}
    api = fake.api_url
    assert httpx.get(f"{api}/projects/group%2Fapp/members/all/x", headers=headers).json() == {
        "error": "user_id is invalid"
    }
    assert httpx.get(f"{api}/projects/999/members/all/1", headers=headers).json() == {
        "message": "404 Project Not Found"
    }

    fake.remove_member(world.project_id, world.dev_id)
    assert project.members_all.get(world.dev_id).access_level == 40  # still the group's
    assert fake.members(world.project_id, inherited=False) == []
    with pytest.raises(ValueError, match="access level 35"):
        fake.add_member(world.project_id, world.dev_id, 35)


def test_members_paginate_and_filter(world: World) -> None:
    fake = world.fake
    ids = [fake.add_user(f"member{n:02}", f"member-token-{n:02}") for n in range(25)]
    for n, user_id in enumerate(ids):
        fake.add_member(world.project_id, user_id, [10, 15, 20, 30, 40, 50][n % 6])
    project = world.gl.projects.get(world.project_id, lazy=True)

    listed = project.members_all.list(get_all=True, per_page=10)
    assert [m.id for m in listed] == ids
    pages = fake.requests("GET", r"/members/all$")
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]
    assert listed[1].access_level == AccessLevel.PLANNER
    path = f"/projects/{world.project_id}/members/all"
    last = httpx.get(
        f"{world.fake.api_url}{path}?per_page=10&page=3", headers={"PRIVATE-TOKEN": BOT_TOKEN}
    )
    assert (last.headers["x-total"], last.headers["x-total-pages"], last.headers["x-page"]) == (
        "25",
        "3",
        "3",
    )
    assert [m["id"] for m in last.json()] == ids[20:]

    found = project.members_all.list(get_all=True, query="MEMBER1")
    assert [m.username for m in found] == [f"member1{n}" for n in range(10)]
    assert project.members_all.list(get_all=True, query="member07@example.invalid")[0].id == ids[7]
    wanted = f"{ids[3]},{ids[20]},999"
    assert [m.id for m in project.members_all.list(get_all=True, user_ids=wanted)] == [
        ids[3],
        ids[20],
    ]
    as_array = world.gl.http_list(path, get_all=True, query_data={"user_ids[]": [ids[4], ids[5]]})
    assert [m["id"] for m in as_array] == [ids[4], ids[5]]
    assert len(project.members.list(get_all=True, user_ids="")) == 25  # empty: no filter


def test_users_lookup_by_username(world: World) -> None:
    world.fake.add_user("Carol.Smith", "carol-token-0123", name="Carol")
    (carol,) = world.gl.users.list(username="carol.smith")  # case-insensitive, as GitLab
    assert (carol.username, carol.name, carol.state) == ("Carol.Smith", "Carol", "active")
    assert set(carol.attributes) == {
        "id",
        "username",
        "name",
        "state",
        "locked",
        "avatar_url",
        "web_url",
    }
    assert world.gl.users.list(username="carol") == []
    assert world.gl.users.list(username="nobody") == []
    assert [u.username for u in world.gl.users.list(get_all=True)] == [
        "Carol.Smith",
        "dev",
        "review-bot",
    ]
    assert [u.username for u in world.gl.users.list(search="REVIEW")] == ["review-bot"]


# reviewers, merge, close -------------------------------------------------------------------------


def test_reviewer_ids_round_trip(world: World) -> None:
    mr = world.mr()
    assert (mr.reviewers, mr.assignees, mr.assignee) == ([], [], None)
    mr.reviewer_ids = [world.bot_id, 999]  # unknown ids are dropped silently
    mr.save()
    reviewers = world.mr().reviewers
    assert [r["id"] for r in reviewers] == [world.bot_id]
    assert reviewers[0] == {
        "id": world.bot_id,
        "username": "review-bot",
        "name": "review-bot",
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{world.fake.url}/review-bot",
    }
    manager = world.gl.projects.get(world.project_id, lazy=True).mergerequests
    manager.update(world.iid, {"reviewer_ids": f"{world.dev_id},{world.bot_id}"})  # a comma list
    assert [r["username"] for r in world.mr().reviewers] == ["dev", "review-bot"]
    world.fake.update_mr(world.project_id, world.iid, assignee_ids=[world.dev_id])
    assert world.mr().assignee["username"] == "dev"

    manager.update(world.iid, {"reviewer_ids": 0})
    assert world.mr().reviewers == []
    url = f"{world.fake.api_url}/projects/{world.project_id}/merge_requests/{world.iid}"
    form = httpx.put(
        url, data={"reviewer_ids[]": str(world.bot_id)}, headers={"PRIVATE-TOKEN": DEV_TOKEN}
    )
    assert [r["id"] for r in form.json()["reviewers"]] == [world.bot_id]
    cleared = httpx.put(url, data={"reviewer_ids": ""}, headers={"PRIVATE-TOKEN": DEV_TOKEN})
    assert cleared.json()["reviewers"] == []
    bad = httpx.put(url, json={"reviewer_ids": ["x"]}, headers={"PRIVATE-TOKEN": DEV_TOKEN})
    assert (bad.status_code, bad.json()) == (400, {"error": "reviewer_ids is invalid"})


@dataclass
class Mergeable:
    fake: FakeGitLab
    git: GitRepo
    project_id: int
    dev_id: int
    bot_id: int
    base: str
    head: str
    gl: gitlab.Gitlab

    def open(self, branch: str = "feature", **kwargs: Any) -> int:
        return self.fake.open_mr(
            self.project_id, author_id=self.dev_id, source_branch=branch, title="Add b", **kwargs
        )

    def mr(self, iid: int):
        return self.gl.projects.get(self.project_id, lazy=True).mergerequests.get(iid)


@pytest.fixture
def mergeable(fake_gitlab: FakeGitLab, gitlab_repo: GitRepo) -> Mergeable:  # noqa: F811
    """Its own repository (merges move main): main at `base`, branch feature one commit ahead,
    main checked out."""
    git = gitlab_repo
    base = git.commit({"a.txt": "a\n"}, "base")
    git.branch("feature")
    head = git.commit({"b.txt": "b\n"}, "add b")
    git.checkout("main")
    dev = fake_gitlab.add_user("dev", DEV_TOKEN, name="Dev Eloper")
    bot = fake_gitlab.add_user("review-bot", BOT_TOKEN, bot=True)
    project_id = fake_gitlab.add_project("group/app", git.path)
    gl = gitlab.Gitlab(fake_gitlab.url, private_token=BOT_TOKEN)
    return Mergeable(fake_gitlab, git, project_id, dev, bot, base, head, gl)


def test_merge_mr_makes_a_merge_commit(mergeable: Mergeable) -> None:
    m = mergeable
    iid = m.open()
    before = m.mr(iid)
    assert (before.merged_by, before.merge_user, before.merged_at) == (None, None, None)
    assert (before.merge_commit_sha, before.squash_commit_sha, before.closed_at) == (None,) * 3

    tip = m.fake.merge_mr(m.project_id, iid, merged_by=m.bot_id)
    mr = m.mr(iid)
    assert (mr.state, mr.merged_by["id"], mr.merge_user["id"]) == ("merged", m.bot_id, m.bot_id)
    assert (mr.merge_commit_sha, mr.squash_commit_sha, mr.sha) == (tip, None, m.head)
    assert mr.merged_at
    assert (mr.closed_at, mr.closed_by) == (None, None)
    assert mr.detailed_merge_status == "not_open"
    assert m.gl.projects.get(m.project_id, lazy=True).commits.get("main").id == tip
    assert (m.git.rev(f"{tip}^1"), m.git.rev(f"{tip}^2")) == (m.base, m.head)
    assert m.git.git("log", "-1", "--format=%an|%s", tip) == (
        "review-bot|Merge branch 'feature' into 'main'"
    )
    assert (m.git.path / "b.txt").read_text() == "b\n"  # the checked-out main followed
    assert m.git.git("status", "--porcelain") == ""
    assert [
        r.iid for r in m.gl.projects.get(m.project_id, lazy=True).mergerequests.list(state="merged")
    ] == [iid]
    with pytest.raises(ValueError, match="merged, not opened"):
        m.fake.merge_mr(m.project_id, iid)


def test_squash_and_fast_forward_merges(mergeable: Mergeable) -> None:
    m = mergeable
    iid = m.open()
    tip = m.fake.merge_mr(m.project_id, iid, squash=True, fast_forward=True)
    mr = m.mr(iid)
    assert (mr.merge_commit_sha, mr.squash_commit_sha, mr.merged_by["id"]) == (None, tip, m.dev_id)
    assert m.git.rev(f"{tip}^") == m.base
    assert tip != m.head
    assert m.git.git("log", "-1", "--format=%s", tip) == "Add b"

    m.git.branch("second", m.head)
    later = m.git.commit({"c.txt": "c\n"}, "add c")
    m.git.checkout("main")
    refused = m.open("second")  # main moved on (the squash): no fast-forward
    with pytest.raises(ValueError, match="Only fast-forward merge is allowed"):
        m.fake.merge_mr(m.project_id, refused, fast_forward=True)
    assert m.mr(refused).state == "opened"
    assert m.fake.merge_mr(m.project_id, refused) == m.git.rev("main")  # a merge commit works
    assert m.git.rev("main^2") == later

    m.git.branch("third")
    ahead = m.git.commit({"d.txt": "d\n"}, "add d")
    m.git.checkout("main")
    assert m.fake.merge_mr(m.project_id, m.open("third"), fast_forward=True) == ahead
    assert m.mr(iid + 2).merge_commit_sha is None


def test_conflicts_and_drafts_are_not_merged(mergeable: Mergeable) -> None:
    m = mergeable
    m.git.commit({"b.txt": "main's b\n"}, "b on main")
    iid = m.open()
    with pytest.raises(ValueError, match="conflicts"):
        m.fake.merge_mr(m.project_id, iid)
    assert m.mr(iid).state == "opened"
    draft = m.fake.open_mr(
        m.project_id, author_id=m.dev_id, source_branch="feature", title="Draft: x"
    )
    with pytest.raises(ValueError, match="draft"):
        m.fake.merge_mr(m.project_id, draft)


def test_close_and_reopen(mergeable: Mergeable) -> None:
    m = mergeable
    iid = m.open()
    m.fake.close_mr(m.project_id, iid, closed_by=m.bot_id)
    mr = m.mr(iid)
    assert (mr.state, mr.closed_by["id"], mr.merged_at) == ("closed", m.bot_id, None)
    assert mr.closed_at
    assert mr.detailed_merge_status == "not_open"
    with pytest.raises(ValueError, match="closed, not opened"):
        m.fake.merge_mr(m.project_id, iid)
    mr.state_event = "reopen"
    mr.save()
    assert (m.mr(iid).state, m.mr(iid).closed_at, m.mr(iid).closed_by) == ("opened", None, None)
    mr = m.mr(iid)
    mr.state_event = "close"
    mr.save()
    assert (m.mr(iid).state, m.mr(iid).closed_by["id"]) == ("closed", m.bot_id)  # the caller
    m.fake.update_mr(m.project_id, iid, state="opened")
    m.fake.update_mr(m.project_id, iid, state="closed")
    assert m.fake.merge_request(m.project_id, iid)["closed_by"]["id"] == m.dev_id  # the author


# webhook payloads --------------------------------------------------------------------------------


def key_paths(value: Any, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    paths = set()
    for key, item in value.items():
        paths.add(prefix + key)
        paths |= key_paths(item, f"{prefix}{key}.")
    return paths


# what tests/test_review_e2e.py and tests/bot/test_webhook.py send today (shapes only)
INLINE_MR = {
    "object_kind": 1,
    "event_type": 1,
    "user": {"id": 1, "username": 1},
    "project": {"id": 1, "path_with_namespace": 1},
    "object_attributes": {
        **dict.fromkeys(["id", "iid", "action", "state", "source_branch", "target_branch"], 1),
        "draft": 1,
        "oldrev": 1,
        "last_commit": {"id": 1, "message": 1},
    },
    "changes": {},
}
INLINE_NOTE = {
    "object_kind": 1,
    "event_type": 1,
    "user": {"id": 1, "username": 1},
    "project_id": 1,
    "project": {"id": 1, "path_with_namespace": 1},
    "object_attributes": dict.fromkeys(
        ["id", "note", "noteable_type", "system", "action", "author_id"], 1
    ),
    "merge_request": {
        **dict.fromkeys(["id", "iid", "target_branch", "state"], 1),
        "last_commit": {"id": 1, "message": 1},
    },
}


def test_merge_request_hook_describes_the_fake_mr(world: World) -> None:
    fake, pid, iid = world.fake, world.project_id, world.iid
    fake.update_mr(pid, iid, labels=["database"], reviewer_ids=[world.bot_id])
    payload = merge_request_hook(fake, pid, iid, template="builtin")
    assert json.loads(json.dumps(payload)) == payload  # plain JSON
    attributes = payload["object_attributes"]
    assert (payload["object_kind"], payload["event_type"]) == ("merge_request", "merge_request")
    assert (attributes["iid"], attributes["action"], attributes["state"]) == (iid, "open", "opened")
    assert attributes["last_commit"]["id"] == world.repo.head
    assert attributes["last_commit"]["title"] == "change the schema"
    assert (attributes["source_branch"], attributes["target_branch"]) == ("feature", "main")
    assert attributes["id"] == fake.merge_request(pid, iid)["id"]
    assert "oldrev" not in attributes
    assert payload["changes"] == {}
    assert payload["project"]["path_with_namespace"] == "group/app"
    assert payload["project"]["web_url"] == f"{fake.url}/group/app"
    assert (payload["user"]["id"], payload["user"]["username"]) == (world.dev_id, "dev")
    assert [label["title"] for label in payload["labels"]] == ["database"]
    assert attributes["reviewer_ids"] == [world.bot_id]
    assert [r["username"] for r in payload["reviewers"]] == ["review-bot"]
    assert "assignees" not in payload
    assert key_paths(INLINE_MR) <= key_paths(
        payload | {"object_attributes": attributes | {"oldrev": 1}}
    )

    fake.push(pid, iid, world.repo.second)
    pushed = merge_request_hook(fake, pid, iid, action="update", oldrev=world.repo.head)
    assert pushed["object_attributes"]["last_commit"]["id"] == world.repo.second
    assert pushed["object_attributes"]["oldrev"] == world.repo.head

    fake.close_mr(pid, iid, closed_by=world.bot_id)
    closed = merge_request_hook(fake, pid, iid, action="close")
    assert (closed["object_attributes"]["state"], closed["object_attributes"]["state_id"]) == (
        "closed",
        2,
    )
    assert closed["user"]["username"] == "review-bot"


def test_merge_hook_carries_the_merge_commit(mergeable: Mergeable) -> None:
    m = mergeable
    iid = m.open()
    tip = m.fake.merge_mr(m.project_id, iid, merged_by=m.bot_id)
    payload = merge_request_hook(m.fake, m.project_id, iid, action="merge")
    attributes = payload["object_attributes"]
    assert (attributes["state"], attributes["merge_commit_sha"]) == ("merged", tip)
    assert (attributes["last_commit"]["id"], attributes["merge_user_id"]) == (m.head, m.bot_id)
    assert payload["user"]["id"] == m.bot_id


def test_note_hook_for_a_stored_or_a_new_comment(world: World) -> None:
    fake, pid, iid = world.fake, world.project_id, world.iid
    mr = world.mr()
    thread = mr.discussions.create(
        {"body": "finding", "position": world.position("db/structure.sql", new_line=12)}
    )
    reply_id = fake.add_human_reply(pid, iid, thread.id, world.dev_id, "@review-bot recheck")
    payload = note_hook(fake, pid, iid, note_id=reply_id, template="builtin")
    attributes = payload["object_attributes"]
    assert (payload["object_kind"], payload["event_type"], payload["project_id"]) == (
        "note",
        "note",
        pid,
    )
    assert (attributes["id"], attributes["note"], attributes["type"]) == (
        reply_id,
        "@review-bot recheck",
        "DiffNote",
    )
    assert (attributes["discussion_id"], attributes["position"]["new_line"]) == (thread.id, 12)
    assert (attributes["noteable_type"], attributes["system"], attributes["action"]) == (
        "MergeRequest",
        False,
        "create",
    )
    assert (payload["user"]["id"], attributes["author_id"]) == (world.dev_id, world.dev_id)
    merge_request = payload["merge_request"]
    assert (merge_request["iid"], merge_request["last_commit"]["id"]) == (iid, world.repo.head)
    assert (merge_request["state"], merge_request["target_branch"]) == ("opened", "main")
    assert attributes["url"].endswith(f"/group/app/-/merge_requests/{iid}#note_{reply_id}")
    assert key_paths(INLINE_NOTE) <= key_paths(payload)

    new = note_hook(fake, pid, iid, "@review-bot help", note_id=7001, author_id=world.bot_id)
    assert (new["object_attributes"]["id"], new["object_attributes"]["note"]) == (
        7001,
        "@review-bot help",
    )
    assert new["user"]["username"] == "review-bot"
    fresh = note_hook(fake, pid, iid, "hello")
    assert fresh["object_attributes"]["id"] not in {n["id"] for n in fake.notes(pid, iid)}
    with pytest.raises(KeyError):
        note_hook(fake, pid, iid, note_id=424242)


def test_payloads_from_gitlabs_documented_samples(world: World, corpus: Path) -> None:
    """With the corpus, the documented samples are the starting point: every documented key is
    there, but the values are the fake's (no sample reviewers, labels or `changes`)."""
    samples = corpus / "gitlab-webhooks"
    documented_mr = json.loads((samples / CORPUS_FILES["merge_request"]).read_text())
    documented_note = json.loads((samples / CORPUS_FILES["note"]).read_text())
    pid, iid = world.project_id, world.iid

    payload = merge_request_hook(world.fake, pid, iid)
    replaced = ("changes.", "assignees", "reviewers")  # the fake's: {}, none, none
    assert {p for p in key_paths(documented_mr) if not p.startswith(replaced)} <= key_paths(payload)
    assert payload["object_attributes"]["last_commit"]["id"] == world.repo.head
    assert payload["object_attributes"]["iid"] == iid
    assert (payload["changes"], payload["labels"]) == ({}, [])
    assert "reviewers" not in payload
    assert payload["object_attributes"]["reviewer_ids"] == []
    assert payload == merge_request_hook(
        world.fake, pid, iid, template=samples / CORPUS_FILES["merge_request"]
    )

    note = note_hook(world.fake, pid, iid, "@review-bot recheck", note_id=1244)
    documented = key_paths(documented_note)
    assert {p for p in documented if not p.startswith("merge_request.assignee")} <= key_paths(note)
    assert "assignee" not in note["merge_request"]  # the sample's; the MR has no assignee
    assert (note["merge_request"]["iid"], note["merge_request"]["last_commit"]["id"]) == (
        iid,
        world.repo.head,
    )
    assert note["project"]["id"] == note["project_id"] == pid


def test_hook_headers() -> None:
    first = hook_headers(MERGE_REQUEST_HOOK, token="s3cret")
    again = hook_headers(NOTE_HOOK, event_uuid=first["X-Gitlab-Event-UUID"], idempotency_key="k-1")
    assert (first["X-Gitlab-Event"], first["X-Gitlab-Token"]) == ("Merge Request Hook", "s3cret")
    assert first["Idempotency-Key"] != hook_headers(MERGE_REQUEST_HOOK)["Idempotency-Key"]
    assert (again["X-Gitlab-Event"], again["Idempotency-Key"]) == ("Note Hook", "k-1")
    assert again["X-Gitlab-Event-UUID"] == first["X-Gitlab-Event-UUID"]
    assert "X-Gitlab-Token" not in again
