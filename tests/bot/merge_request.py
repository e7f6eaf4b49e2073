"""An open merge request on FakeGitLab with the bundled example's schema change."""

from __future__ import annotations

from bot import render
from bot.example import create_example
from bot.gitlab_api import BlobCache, connect
from bot.publish import Publisher
from bot.reviewer import review_merge_request
from tests.fake_gitlab import FakeGitLab, GitRepo

BOT_TOKEN = "bot-token-0123456789"
HUMAN_TOKEN = "human-token-0123456789"


class MergeRequestSetup:
    """The bundled example's schema change as an open MR on a FakeGitLab, and the bot."""

    def __init__(self, fake: FakeGitLab, tmp_path) -> None:
        repo_dir, base, head = create_example(tmp_path / "example")
        self.repo = GitRepo(repo_dir)
        self.repo.git("checkout", "--quiet", "-b", "schema-change", head)
        self.repo.git("branch", "--force", "main", base)
        self.fake = fake
        self.bot = fake.add_user("cellsbot", BOT_TOKEN, bot=True)
        self.human = fake.add_user("alice", HUMAN_TOKEN)
        self.project = fake.add_project("acme/app", repo_dir)
        self.iid = fake.open_mr(
            self.project, author_id=self.human, source_branch="schema-change", target_branch="main"
        )
        self.head = head
        self.gl = connect(fake.url, BOT_TOKEN)
        self.gl.auth()
        self.publisher = Publisher(self.gl, self.gl.user.id, labels=render.LabelConfig())
        self.blobs = BlobCache()

    def review(self, head_sha: str | None = None):
        return review_merge_request(
            self.gl,
            self.publisher,
            project_id=self.project,
            iid=self.iid,
            head_sha=head_sha,
            blobs=self.blobs,
        )

    def bot_notes(self):
        return [
            n
            for n in self.fake.notes(self.project, self.iid)
            if n["author"]["id"] == self.bot and not n["system"]
        ]

    def bot_threads(self):
        return [
            d
            for d in self.fake.discussions(self.project, self.iid)
            if d["notes"][0]["author"]["id"] == self.bot and d["notes"][0].get("position")
        ]
