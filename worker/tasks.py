"""Celery tasks: thin wrappers that load inputs, call bot.reviewer, and decide retries.

Retries: GitLab 5xx, 429 (after its Retry-After) and timeouts, with exponential backoff and
jitter; never on other 4xx, which end the job in a logged, visible state (a failed commit
status saying why) rather than a silent drop.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import gitlab
import redis
import requests
from celery import Task

from bot.cache import SqliteParseCache, cache_dir
from bot.gitlab_api import BlobCache, NotReady, connect
from bot.publish import STATUS_NAME, Publisher
from bot.render import help_note
from bot.reviewer import review_merge_request
from bot.settings import MAX_RETRY_COUNTDOWN, BotSettings
from topology.client import TopologyClient, TopologyError
from worker import metrics
from worker.celery_app import app
from worker.coordinate import Coordinator
from worker.ledger import Ledger
from worker.locks import LockBusy, merge_request_lock
from worker.observed import message_kwargs

logger = logging.getLogger(__name__)
MAX_RETRIES = 8
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # lock: retry
LOCK_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a worker process builds once and shares between its tasks."""

    settings: BotSettings
    gl: gitlab.Gitlab
    publisher: Publisher
    blobs: BlobCache
    coordinator: Coordinator | None  # None without CELLSBOT_DATABASE_URL


@cache
def runtime() -> Runtime:
    settings = BotSettings()
    settings.register_secrets()
    if not settings.gitlab_token:
        raise RuntimeError("CELLSBOT_GITLAB_TOKEN is not set: reviews cannot be posted")
    gl = connect(
        settings.gitlab_url,
        settings.gitlab_token,
        timeout=settings.gitlab_timeout,
        metrics=metrics.GITLAB,
    )
    gl.auth()
    publisher = Publisher(
        gl, gl.user.id, labels=settings.label_config(), docs_url=settings.docs_url
    )
    coordinator = None
    if settings.database_url:
        topology = None
        if settings.topology_url and settings.topology_token:
            topology = TopologyClient(settings.topology_url, settings.topology_token)
        ledger = Ledger(settings.database_url)
        coordinator = Coordinator(
            ledger,
            gl,
            publisher,
            topology,
            send=lambda name, args: app.send_task(name, args=args, kwargs=message_kwargs()),
            bot_username=gl.user.username,
        )
        metrics.ROLLOUTS.watch(ledger.rollout_states)
    else:
        logger.warning("CELLSBOT_DATABASE_URL is unset: no coordination ledger")
    return Runtime(settings, gl, publisher, BlobCache(), coordinator)


@app.task(bind=True, name="cellsbot.review", max_retries=MAX_RETRIES)
def review(self: Task, project_id: int, iid: int, head_sha: str | None) -> dict[str, Any]:
    """Review one merge request at `head_sha` (None: its current head)."""
    rt = None
    try:
        rt = runtime()  # inside: GitLab down at a worker's first job is a retry too
        with merge_request_lock(
            key=f"{project_id}:{iid}",
            redis_url=rt.settings.redis_url,
            folder=rt.settings.data_dir / "locks",
            timeout=rt.settings.review_lock_timeout,
            wait=LOCK_WAIT,
        ):
            cache = SqliteParseCache(cache_dir())
            try:
                outcome = review_merge_request(
                    rt.gl,
                    rt.publisher,
                    project_id=project_id,
                    iid=iid,
                    head_sha=head_sha,
                    cache=cache,
                    blobs=rt.blobs,
                    coordinate=rt.coordinator.review if rt.coordinator else None,
                )
            finally:
                cache.close()
    except (LockBusy, NotReady, requests.ConnectionError, requests.Timeout, *REDIS_DOWN) as error:
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
    except gitlab.GitlabError as error:
        code = error.response_code or 0
        if code >= 500 or code == 429:
            raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
        logger.error("review of %s!%s failed: %s %s", project_id, iid, code, error.error_message)
        _report_failure(rt, project_id, head_sha, f"GitLab answered {code}")
        return {"status": "failed", "reason": f"{code} {error.error_message}"}
    except Exception as error:  # a bug or bad input: visible on the MR and in the log
        logger.exception("review of %s!%s failed", project_id, iid)
        _report_failure(rt, project_id, head_sha, type(error).__name__)
        raise
    return {"status": outcome.status, "head_sha": outcome.head_sha}


def _backoff(retries: int) -> float:
    """Exponential, capped at five minutes, with full jitter."""
    return random.uniform(0, min(MAX_RETRY_COUNTDOWN, 2.0 * 2**retries))


def _report_failure(rt: Runtime | None, project_id: int, head_sha: str | None, why: str) -> None:
    if rt is None or not head_sha:
        return
    try:
        commit = rt.gl.projects.get(project_id, lazy=True).commits.get(head_sha, lazy=True)
        commit.statuses.create(
            {
                "state": "failed",
                "name": STATUS_NAME,
                "description": f"cellsbot could not review: {why}",
            }
        )
    except gitlab.GitlabError as error:  # the failure is logged already; this is a courtesy
        logger.warning("could not set the failed status: %s", error)


def _run(task: Task, what: str, work: Callable[[], Any]) -> Any:
    """Run a task's work: retried (backoff and jitter) when GitLab or the Topology Service
    is unreachable or answers 5xx or 429; logged and ended on any other refusal."""
    try:
        return work()
    except (requests.ConnectionError, requests.Timeout) as error:
        raise task.retry(exc=error, countdown=_backoff(task.request.retries)) from error
    except (gitlab.GitlabError, TopologyError) as error:
        code = (error.response_code if isinstance(error, gitlab.GitlabError) else error.status) or 0
        if code >= 500 or code == 429:
            raise task.retry(exc=error, countdown=_backoff(task.request.retries)) from error
        logger.error("%s failed: %s", what, error)
        return {"status": "failed", "reason": str(error)}


def _coordinator() -> Coordinator:
    coordinator = runtime().coordinator
    if coordinator is None:
        raise RuntimeError("CELLSBOT_DATABASE_URL is unset: no coordination ledger")
    return coordinator


@app.task(bind=True, name="cellsbot.help", max_retries=MAX_RETRIES)
def help_reply(
    self: Task, project_id: int, iid: int, bot_username: str, note_id: int | None = None
) -> dict[str, Any]:
    """Answer `@cellsbot help` with a note listing the commands, once per comment."""

    def work() -> dict[str, Any]:
        key = f"help:{note_id}" if note_id else f"help:{self.request.id}"
        runtime().publisher.post_note(project_id, iid, key, help_note(bot_username))
        return {"status": "answered"}

    return _run(self, f"help on {project_id}!{iid}", work)


@app.task(bind=True, name="cellsbot.merge_request_state", max_retries=MAX_RETRIES)
def merge_request_state(self: Task, project_id: int, iid: int, kind: str) -> dict[str, Any]:
    """A merge request merged or closed (`kind`): coordinate (claims, colliding merge
    requests, the rollout of a merge)."""

    def work() -> dict[str, Any]:
        return {"status": _coordinator().state_changed(project_id, iid, kind)}

    return _run(self, f"{kind} of {project_id}!{iid}", work)


@app.task(bind=True, name="cellsbot.command", max_retries=MAX_RETRIES)
def command(self: Task, job: dict[str, Any]) -> dict[str, Any]:
    """`@cellsbot claim …` or `@cellsbot rollout …`: run it and reply (once per note)."""

    def work() -> dict[str, Any]:
        return {"status": "answered", "reply": _coordinator().command(job)}

    return _run(self, f"{job.get('command')} on {job.get('project_id')}!{job.get('mr_iid')}", work)


@app.task(bind=True, name="cellsbot.rollout_watch", max_retries=MAX_RETRIES)
def rollout_watch(self: Task, project_id: int, iid: int, token: str) -> dict[str, Any]:
    """Look at a merge request's rollout, show it, and look again later until it completes
    (or a newer watcher takes over)."""

    def work() -> dict[str, Any]:
        state = _coordinator().look_at_rollout(project_id, iid, token)
        if state not in (None, "completed"):
            rollout_watch.apply_async(
                args=[project_id, iid, token], countdown=runtime().settings.rollout_poll_interval
            )
        return {"status": state or "stopped"}

    return _run(self, f"rollout watch of {project_id}!{iid}", work)
