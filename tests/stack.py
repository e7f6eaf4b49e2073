"""The bot as it runs in production, for end-to-end tests: a Celery worker process and the
webhook receiver on a real port, configured by one CELLSBOT_… environment."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn

from bot.settings import BotSettings
from bot.webhook import WebhookSettings
from tests.conftest import REDIS_URL, ROOT, _missing
from tests.support import wait_for
from worker.celery_app import create_celery
from worker.command import worker_command
from worker.service import create_service_app


def require_redis() -> None:
    """Skip (or fail, under CELLSBOT_REQUIRE_SERVICES=1) when the test Redis is away."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        _missing(f"Redis at {REDIS_URL} ({error})", "CELLSBOT_REQUIRE_SERVICES")


def coordinating_env(
    tmp_path: Path, *, gitlab_url: str, gitlab_token: str, database: str, topology: tuple[str, str]
) -> dict[str, str]:
    """Everything on: Redis as broker and seen-set, a queue of the test's own, GitLab, the
    ledger's database and the Topology Service (`topology`: its URL and admin token)."""
    topology_url, topology_token = topology
    return {
        "CELLSBOT_DATA_DIR": str(tmp_path / "data"),
        "CELLSBOT_CACHE_DIR": str(tmp_path / "cache"),
        "CELLSBOT_QUEUE": f"cellsbot-test-{uuid.uuid4().hex[:8]}",
        "CELLSBOT_BROKER_URL": REDIS_URL,
        "CELLSBOT_REDIS_URL": REDIS_URL,
        "CELLSBOT_GITLAB_URL": gitlab_url,
        "CELLSBOT_GITLAB_TOKEN": gitlab_token,
        "CELLSBOT_DATABASE_URL": database,
        "CELLSBOT_TOPOLOGY_URL": topology_url,
        "CELLSBOT_TOPOLOGY_TOKEN": topology_token,
        "CELLSBOT_ROLLOUT_POLL_INTERVAL": "0.2",
    }


class Served:
    """An ASGI app on a free port, in a thread."""

    def __init__(self, app: Any, *, log_level: str = "warning") -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        wait_for(lambda: self.server.started, "the server's start", seconds=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@dataclass
class RunningBot:
    url: str  # the receiver's
    worker_output: str = ""  # what the worker printed, once it stopped


@contextmanager
def running_bot(
    env: dict[str, str], webhook: WebhookSettings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningBot]:
    """A worker process on `env["CELLSBOT_QUEUE"]` and the receiver, in this process, both
    configured by `env` (also set here: the receiver's Celery app reads it). Afterwards both
    are stopped and, with a Redis broker, the queue's keys are deleted."""
    queue = env["CELLSBOT_QUEUE"]
    bot = RunningBot(url="")
    worker = subprocess.Popen(
        worker_command(queue),
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = BotSettings()
        receiver = Served(
            create_service_app(create_celery(settings), bot=settings, webhook=webhook)
        )
        bot.url = receiver.url
        try:
            yield bot
        finally:
            receiver.stop()
    finally:
        worker.terminate()
        bot.worker_output, _ = worker.communicate(timeout=30)
        if broker := env.get("CELLSBOT_BROKER_URL"):  # leave the shared Redis as we found it
            client = redis.Redis.from_url(broker)
            client.delete(queue, *client.keys(f"*{queue}*"))
        if os.environ.get("CELLSBOT_SHOW_WORKER_LOG"):
            print(bot.worker_output)
