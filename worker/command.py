"""How cellsbot starts a Celery worker process: `cellsbot serve`, the tests and the benchmarks
all start theirs this way. No import of Celery or the app here, so that a process can build
the command without building a Celery app."""

from __future__ import annotations

import sys

CELERY_WORKER = (sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker")


def worker_options(queue: str, *, loglevel: str = "INFO", name: str | None = None) -> list[str]:
    """Threads (a review mostly waits on GitLab), and no gossip, mingle or heartbeat (the
    workers coordinate through Redis and PostgreSQL, not through Celery's events)."""
    options = ["--pool=threads", "--concurrency=4", f"--loglevel={loglevel}"]
    options += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-Q", queue]
    return options + (["-n", name] if name else [])


def worker_command(queue: str, *, loglevel: str = "INFO", name: str | None = None) -> list[str]:
    return [*CELERY_WORKER, *worker_options(queue, loglevel=loglevel, name=name)]
