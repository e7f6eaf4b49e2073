"""End to end: GitLab webhook → receiver (real HTTP) → broker → a real Celery worker process →
FakeGitLab. Runs on Redis (required in CI) and on the file broker a fresh machine uses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from bot import render
from bot.webhook import WebhookSettings
from tests.bot.merge_request import BOT_TOKEN, MergeRequestSetup
from tests.conftest import REDIS_URL
from tests.stack import require_redis, running_bot
from tests.support import wait_for

SECRET = "webhook-secret-0123456789"


@pytest.fixture(params=["redis", "files"])
def broker(request, tmp_path) -> dict[str, str]:
    """Environment for the bot's settings: a Redis broker (and dedupe, locks) or none."""
    env = {
        "CELLSBOT_DATA_DIR": str(tmp_path / "data"),
        "CELLSBOT_CACHE_DIR": str(tmp_path / "cache"),
        "CELLSBOT_QUEUE": f"cellsbot-test-{uuid.uuid4().hex[:8]}",
    }
    if request.param == "redis":
        require_redis()
        env |= {"CELLSBOT_BROKER_URL": REDIS_URL, "CELLSBOT_REDIS_URL": REDIS_URL}
    return env


@pytest.fixture
def bot(fake_gitlab, tmp_path, broker, monkeypatch) -> Iterator[tuple[MergeRequestSetup, str]]:
    """The example MR on FakeGitLab, a worker process, and the receiver's URL."""
    setup = MergeRequestSetup(fake_gitlab, tmp_path)
    env = {**broker, "CELLSBOT_GITLAB_URL": fake_gitlab.url, "CELLSBOT_GITLAB_TOKEN": BOT_TOKEN}
    with running_bot(env, WebhookSettings(webhook_secret=[SECRET]), monkeypatch) as running:
        yield setup, running.url


def deliver(
    url: str,
    setup: MergeRequestSetup,
    *,
    head: str,
    action: str = "open",
    uuid_: str | None = None,
    oldrev: str | None = None,
) -> httpx.Response:
    attributes = {
        "id": 900 + setup.iid,
        "iid": setup.iid,
        "action": action,
        "state": "opened",
        "source_branch": "schema-change",
        "target_branch": "main",
        "draft": False,
        "last_commit": {"id": head, "message": "schema change"},
    }
    if oldrev:
        attributes["oldrev"] = oldrev
    payload = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": setup.human, "username": "alice"},
        "project": {"id": setup.project, "path_with_namespace": "acme/app"},
        "object_attributes": attributes,
        "changes": {},
    }
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Merge Request Hook"}
    if uuid_:
        headers["X-Gitlab-Event-UUID"] = uuid_
    return httpx.post(f"{url}/webhooks/gitlab", json=payload, headers=headers, timeout=10)


def summaries(setup: MergeRequestSetup) -> list[dict]:
    return [n for n in setup.bot_notes() if n["body"].startswith(render.SUMMARY_MARKER)]


def test_a_webhook_becomes_one_review_on_gitlab(bot):
    setup, url = bot
    answer = deliver(url, setup, head=setup.head, uuid_=str(uuid.uuid4()))
    assert answer.status_code == 202, answer.text
    wait_for(lambda: setup.fake.statuses(setup.project, setup.head), "the review")
    assert len(summaries(setup)) == 1
    lines = {d["notes"][0]["position"]["new_line"] for d in setup.bot_threads()}
    assert 239 in lines  # CELLS010 on the unique index
    assert setup.fake.statuses(setup.project, setup.head)[-1]["status"] == "failed"
    assert "cells::sharding-key-missing" in setup.fake.labels(setup.project, setup.iid)


def test_twenty_redeliveries_make_one_review(bot):
    setup, url = bot
    event = str(uuid.uuid4())
    answers = [deliver(url, setup, head=setup.head, uuid_=event) for _ in range(20)]
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 19 + ["queued"]
    wait_for(lambda: setup.fake.statuses(setup.project, setup.head), "the review")
    time.sleep(1.0)  # anything else queued would have run by now
    posts = setup.fake.requests("POST", r"/notes$")
    assert len(posts) == 1
    assert len(summaries(setup)) == 1


def test_a_review_lands_exactly_once_despite_gitlab_faults(bot):
    setup, url = bot
    fake = setup.fake
    fake.inject_fault("GET", r"/merge_requests/\d+/diffs", status=502, times=2)
    fake.inject_fault("POST", r"/discussions$", status=500, times=1)
    fake.inject_fault("POST", r"/notes$", status=503, times=1, process=True)  # done, answer lost
    fake.inject_fault("GET", r"/repository/tree", status=429, times=1, retry_after=1)
    assert deliver(url, setup, head=setup.head, uuid_=str(uuid.uuid4())).status_code == 202
    wait_for(lambda: fake.statuses(setup.project, setup.head), "the review", seconds=120)
    assert len(summaries(setup)) == 1
    keys = [render.parse_marker(d["notes"][0]["body"]) for d in setup.bot_threads()]
    assert len(keys) == len(set(keys))


def test_a_new_push_updates_the_same_note(bot):
    setup, url = bot
    deliver(url, setup, head=setup.head, uuid_=str(uuid.uuid4()))
    wait_for(lambda: setup.fake.statuses(setup.project, setup.head), "the review")
    first = summaries(setup)
    structure = (setup.repo.path / "db/structure.sql").read_text()
    unique = "CREATE UNIQUE INDEX index_issue_user_mentions_on_note_id"
    new_head = setup.repo.commit(
        {"db/structure.sql": structure.replace(unique, unique.replace("UNIQUE ", ""))}
    )
    setup.fake.push(setup.project, setup.iid, new_head)
    answer = deliver(
        url, setup, head=new_head, action="update", oldrev=setup.head, uuid_=str(uuid.uuid4())
    )
    assert answer.status_code == 202, answer.text
    wait_for(lambda: setup.fake.statuses(setup.project, new_head), "the review")
    second = summaries(setup)
    assert [n["id"] for n in second] == [n["id"] for n in first]
    assert "CELLS010" not in second[0]["body"]
    resolved = [d for d in setup.bot_threads() if "CELLS010" in d["notes"][0]["body"]]
    assert resolved
    assert all(d["notes"][0]["resolved"] for d in resolved)


def comment(url: str, setup: MergeRequestSetup, text: str, note_id: int) -> httpx.Response:
    payload = {
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": setup.human, "username": "alice"},
        "project_id": setup.project,
        "project": {"id": setup.project, "path_with_namespace": "acme/app"},
        "object_attributes": {
            "id": note_id,
            "note": text,
            "noteable_type": "MergeRequest",
            "system": False,
            "action": "create",
            "author_id": setup.human,
        },
        "merge_request": {
            "id": 900 + setup.iid,
            "iid": setup.iid,
            "target_branch": "main",
            "state": "opened",
            "last_commit": {"id": setup.head, "message": "schema change"},
        },
    }
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Note Hook"}
    return httpx.post(f"{url}/webhooks/gitlab", json=payload, headers=headers, timeout=10)


def test_recheck_and_help_commands(bot):
    setup, url = bot
    assert comment(url, setup, "@cellsbot recheck please", 7001).status_code == 202
    wait_for(lambda: setup.fake.statuses(setup.project, setup.head), "the review")
    assert len(summaries(setup)) == 1
    assert comment(url, setup, "@cellsbot help", 7002).status_code == 202
    wait_for(
        lambda: any("recheck" in n["body"] for n in setup.bot_notes() if n not in summaries(setup)),
        what="the help note",
    )
