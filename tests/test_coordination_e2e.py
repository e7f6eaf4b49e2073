"""End to end, coordination: webhooks → receiver → Redis → a real Celery worker → FakeGitLab,
with the ledger and a real Topology Service on PostgreSQL.

Two merge requests change the same table and see each other; a maintainer's claim goes
proposed → active when its merge request merges (and a closed one's is dropped); the merge
starts a rollout across six cells in three rings that advances wave by wave, halts on a
failure and continues after `retry`; a developer's commands are refused with a reply.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot import render
from bot.coordination import ROLLOUT_START
from bot.example import EXAMPLE, create_example
from bot.webhook import WebhookSettings
from tests.bot.merge_request import BOT_TOKEN, HUMAN_TOKEN
from tests.fake_gitlab import FakeGitLab, GitRepo
from tests.fake_gitlab.webhooks import (
    MERGE_REQUEST_HOOK,
    NOTE_HOOK,
    hook_headers,
    merge_request_hook,
    note_hook,
)
from tests.stack import coordinating_env, require_redis, running_bot
from tests.support import wait_for
from tests.topology.conftest import RunningServer, ring_cluster
from topology.client import TopologyClient

SECRET = "coordination-secret-0123456789"
ADMIN_TOKEN = "admin-token-0123456789-abcdef"
MAINTAINER, DEVELOPER = 40, 30
VERSION_1, VERSION_2 = "20241105120000", "20241106090000"
OWNERS_CONFIG = """\
owners:
  - tables: ["issues"]
    owners: ["@carol"]
  - tables: ["projects"]
    owners: ["@alice"]
teams:
  example: ["@app-team"]
request_reviews: true
"""
CODEOWNERS = "[Database]\n/db/docs/ @dba-team\n"
RINGS = {1: 0, 2: 0, 3: 1, 4: 1, 5: 2, 6: 2}  # cell -> ring
CELL_TOKENS = {cell: f"cell-{cell}-token-0123456789" for cell in RINGS}


def cluster_text() -> str:
    """Six cells, two per ring 0, 1 and 2."""
    return ring_cluster(RINGS, CELL_TOKENS.__getitem__)


@dataclass
class World:
    fake: FakeGitLab
    repo: GitRepo
    project: int
    bot: int
    alice: int  # a Maintainer
    bob: int  # a Developer
    receiver: str
    topology: TopologyClient
    notes: itertools.count

    def deliver(self, event: str, payload: dict[str, Any]) -> None:
        answer = httpx.post(
            f"{self.receiver}/webhooks/gitlab",
            json=payload,
            headers=hook_headers(event, token=SECRET, event_uuid=str(uuid.uuid4())),
            timeout=10,
        )
        assert answer.status_code == 202, answer.text

    def open(self, branch: str, files: dict[str, str], author: int) -> int:
        self.repo.git("checkout", "--quiet", "-b", branch, "main")
        head = self.repo.commit(files)
        iid = self.fake.open_mr(
            self.project, author_id=author, source_branch=branch, target_branch="main"
        )
        assert self.fake.merge_request(self.project, iid)["sha"] == head
        self.deliver(MERGE_REQUEST_HOOK, merge_request_hook(self.fake, self.project, iid))
        return iid

    def say(self, iid: int, text: str, author: int) -> None:
        note_id = 90_000 + next(self.notes)
        payload = note_hook(self.fake, self.project, iid, text, note_id=note_id, author_id=author)
        self.deliver(NOTE_HOOK, payload)

    def bot_notes(self, iid: int) -> list[dict[str, Any]]:
        notes = self.fake.notes(self.project, iid)
        return [n for n in notes if n["author"]["id"] == self.bot and not n["system"]]

    def summary(self, iid: int) -> str:
        found = [
            n["body"] for n in self.bot_notes(iid) if n["body"].startswith(render.SUMMARY_MARKER)
        ]
        assert len(found) <= 1
        return found[0] if found else ""

    def replies(self, iid: int) -> list[str]:
        return [n["body"] for n in self.bot_notes(iid) if "<!-- cellsbot:note:reply:" in n["body"]]

    def notes_with(self, iid: int, text: str) -> list[str]:
        """The bot's notes of its own (not the summary, not replies) that say `text`."""
        notes = [n["body"] for n in self.bot_notes(iid) if "<!-- cellsbot:note:" in n["body"]]
        return [b for b in notes if text in b and "cellsbot:note:reply:" not in b]

    def note_with(self, iid: int, text: str) -> str | None:
        return next(iter(self.notes_with(iid, text)), None)


@pytest.fixture
def world(fake_gitlab: FakeGitLab, tmp_path, fresh_database: str, monkeypatch) -> Iterator[World]:
    require_redis()
    repo_dir, base, _ = create_example(tmp_path / "example")
    repo = GitRepo(repo_dir)
    repo.git("checkout", "--quiet", "-B", "main", base)
    repo.commit({".cellsbot.yml": OWNERS_CONFIG, "CODEOWNERS": CODEOWNERS}, "owners")
    bot = fake_gitlab.add_user("cellsbot", BOT_TOKEN, bot=True)
    alice = fake_gitlab.add_user("alice", HUMAN_TOKEN)
    bob = fake_gitlab.add_user("bob", "bob-token-0123456789")
    fake_gitlab.add_user("carol", "carol-token-0123456789")
    project = fake_gitlab.add_project("acme/app", repo_dir)
    fake_gitlab.add_member(project, alice, MAINTAINER)
    fake_gitlab.add_member(project, bob, DEVELOPER)

    monkeypatch.setenv("TEST_TOPOLOGY_ADMIN_TOKEN", ADMIN_TOKEN)
    topology_server = RunningServer(fresh_database, cluster_text=cluster_text())
    env = coordinating_env(
        tmp_path,
        gitlab_url=fake_gitlab.url,
        gitlab_token=BOT_TOKEN,
        database=fresh_database,
        topology=(topology_server.url, ADMIN_TOKEN),
    )
    admin = TopologyClient(topology_server.url, ADMIN_TOKEN)
    try:
        with running_bot(env, WebhookSettings(webhook_secret=[SECRET]), monkeypatch) as running:
            yield World(
                fake_gitlab, repo, project, bot, alice, bob, running.url, admin, itertools.count()
            )
    finally:
        admin.close()
        topology_server.stop()


def structure_with(world: World, old: str, new: str) -> dict[str, str]:
    """`db/structure.sql` of `main` with `old` replaced by `new`."""
    text = world.repo.git("show", "main:db/structure.sql") + "\n"
    assert old in text
    return {"db/structure.sql": text.replace(old, new, 1)}


def issues_title_change(world: World) -> dict[str, str]:
    """An MR that changes `issues` (a new index), with its migration version."""
    files = structure_with(
        world,
        "CREATE INDEX index_issues_on_title_trigram",
        "CREATE INDEX index_issues_on_author_id ON issues USING btree (author_id);\n\n"
        "CREATE INDEX index_issues_on_title_trigram",
    )
    return files | {f"db/schema_migrations/{VERSION_2}": "done\n"}


def claim_types(world: World) -> dict[str, str]:
    return {claim.name: claim.state for claim in world.topology.claim_types()}


def test_colliding_merge_requests_claims_and_a_merge(world: World) -> None:
    first = world.open("schema-change", _example_change(world), world.alice)
    second = world.open("issues-index", issues_title_change(world), world.bob)

    # each summary links the other, whichever was reviewed first
    wait_for(lambda: f"!{second}" in world.summary(first), "the first MR learning of the second")
    wait_for(lambda: f"!{first}" in world.summary(second), "the second MR learning of the first")
    assert "#### Coordinate with" in world.summary(first)
    assert "`issues`" in world.summary(second)

    # the owners of what each touches, outside its author's team, are mentioned
    owners = world.summary(second).split("#### Owners outside the author's team")[1]
    assert "- @carol: table `issues`" in owners
    assert "- @app-team: table `issues`: feature category `example`" in owners
    assert "- @dba-team: table `issues`: CODEOWNERS [Database]" in owners
    assert "@alice" not in world.summary(first).split("#### Owners")[1]  # her own table
    reviewers = world.fake.merge_request(world.project, second)["reviewers"]
    assert [user["username"] for user in reviewers] == ["carol"]  # users only

    # a Developer may not register a claim type: refused, with a reply, and nothing registered
    world.say(first, "@cellsbot claim projects.path as PROJECT_PATH", world.bob)
    refusal = wait_for(lambda: world.replies(first), "the refusal")[0]
    assert "@bob only Maintainers and Owners" in refusal
    assert "PROJECT_PATH" not in claim_types(world)

    # a Maintainer may: proposed now, listed in the summary
    world.say(first, "@cellsbot claim projects.path as PROJECT_PATH", world.alice)
    wait_for(lambda: len(world.replies(first)) == 2, "the claim reply")
    assert claim_types(world)["PROJECT_PATH"] == "proposed"
    wait_for(lambda: "`PROJECT_PATH`" in world.summary(first), "the claim in the summary")

    # the second MR proposes one too, then is closed: its claim type is dropped
    world.say(second, "@cellsbot claim issues.author_id as ISSUE_AUTHOR", world.alice)
    wait_for(lambda: "ISSUE_AUTHOR" in claim_types(world), "the second claim")

    # the first merges: its claim type becomes active, the second MR is told what changed
    world.fake.merge_mr(world.project, first, merged_by=world.alice)
    world.deliver(
        MERGE_REQUEST_HOOK, merge_request_hook(world.fake, world.project, first, action="merge")
    )
    wait_for(lambda: claim_types(world).get("PROJECT_PATH") == "active", "the claim activation")
    told = wait_for(lambda: world.note_with(second, "was merged"), "the note on the second MR")
    assert f"!{first}" in told
    assert "`issues`" in told
    wait_for(lambda: f"!{first}" not in world.summary(second), "the second MR's summary update")
    assert world.notes_with(second, "was merged") == [told]  # posted once

    world.fake.close_mr(world.project, second)
    world.deliver(
        MERGE_REQUEST_HOOK, merge_request_hook(world.fake, world.project, second, action="close")
    )
    wait_for(lambda: "ISSUE_AUTHOR" not in claim_types(world), "the dropped claim type")


def _example_change(world: World) -> dict[str, str]:
    """The bundled example's schema change (it touches issues, projects and more), with a
    migration version."""
    files = {
        path: (EXAMPLE / "head" / path).read_text()
        for path in ("db/structure.sql", "db/docs/issue_user_mentions.yml")
    }
    return files | {f"db/schema_migrations/{VERSION_1}": "done\n"}


def cell_client(world: World, cell: int) -> TopologyClient:
    return TopologyClient(str(world.topology._http.base_url), CELL_TOKENS[cell])


def apply(world: World, rollout_id: int, cell: int, *, fail: str | None = None) -> None:
    """What a cell's deploy pipeline does: ask the gate, run the migrations, report."""
    with cell_client(world, cell) as client:
        gate = client.rollout_gate(rollout_id, cell)
        assert gate.allowed, (cell, gate.reason)
        for version in gate.pending_versions:
            client.report_rollout_status(rollout_id, cell, version, "running")
            if fail:
                client.report_rollout_status(rollout_id, cell, version, "failed", error=fail)
                return
            client.report_rollout_status(rollout_id, cell, version, "applied")


def gate_open(world: World, rollout_id: int, cell: int) -> bool:
    with cell_client(world, cell) as client:
        return client.rollout_gate(rollout_id, cell).allowed


def applied_rows(world: World, iid: int) -> int:
    return world.summary(iid).count("✅ applied")


def test_a_merged_migration_rolls_out_ring_by_ring(world: World) -> None:
    iid = world.open("issues-index", issues_title_change(world), world.alice)
    wait_for(lambda: world.summary(iid), "the review")
    world.fake.merge_mr(world.project, iid, merged_by=world.alice)
    world.deliver(
        MERGE_REQUEST_HOOK, merge_request_hook(world.fake, world.project, iid, action="merge")
    )

    rollouts = wait_for(world.topology.list_rollouts, "the rollout")
    assert len(rollouts) == 1
    rollout = rollouts[0]
    assert (rollout.versions, rollout.state, rollout.current_ring) == ([VERSION_2], "running", 0)
    wait_for(lambda: ROLLOUT_START in world.summary(iid), "the rollout table")
    assert world.summary(iid).count("⏳ pending") == 6

    # wave 1: ring 0; ring 1 waits
    assert not gate_open(world, rollout.id, 3)
    apply(world, rollout.id, 1)
    assert not gate_open(world, rollout.id, 3)
    apply(world, rollout.id, 2)
    wait_for(lambda: applied_rows(world, iid) == 2, "ring 0 in the summary")

    # wave 2: one cell fails; the rollout halts and ring 2 stays closed
    apply(world, rollout.id, 3)
    apply(world, rollout.id, 4, fail="lock timeout on issues")
    halted = wait_for(lambda: world.note_with(iid, "halted"), "the halt note")
    assert "cell 4 (ring 1)" in halted
    assert "lock timeout on issues" in halted
    assert not gate_open(world, rollout.id, 5)
    assert "❌ failed" in world.summary(iid)

    # only a Maintainer may retry; anyone may ask for the status
    world.say(iid, "@cellsbot rollout retry 4", world.bob)
    world.say(iid, "@cellsbot rollout status", world.bob)
    wait_for(lambda: len(world.replies(iid)) == 2, "the replies to bob")
    refused, status = sorted(world.replies(iid), key=lambda body: "only" not in body)
    assert "only Maintainers and Owners" in refused
    assert f"Rollout {rollout.id} across cells: halted" in status
    assert world.topology.get_rollout(rollout.id).state == "halted"
    world.say(iid, "@cellsbot rollout retry 4", world.alice)
    wait_for(lambda: len(world.replies(iid)) == 3, "the retry reply")
    assert world.topology.get_rollout(rollout.id).state == "running"

    apply(world, rollout.id, 4)
    apply(world, rollout.id, 5)
    apply(world, rollout.id, 6)
    done = wait_for(lambda: world.note_with(iid, "completed"), "the completion note")
    assert VERSION_2 in done
    wait_for(lambda: applied_rows(world, iid) == 6, "every cell applied in the summary")
    assert world.topology.get_rollout(rollout.id).state == "completed"
    assert world.notes_with(iid, "halted") == [halted]  # posted once
