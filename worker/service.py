"""The webhook receiver wired to the worker: each ReviewJob becomes a Celery task.

This is the shell that joins the two halves (bot/ never imports worker/): `cellsbot serve`
and the tests build the receiver here. Each task message carries the delivery's correlation
id and trace context as keyword arguments (worker.observed).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pydantic_core
import redis
import redis.asyncio
from celery import Celery
from celery.utils.nodenames import anon_nodename
from fastapi import FastAPI

from bot.dedupe import Deduplicator, MemoryDeduplicator, RedisDeduplicator
from bot.events import ReviewJob
from bot.intake import DedupeIntake, Intake, RedisIntake
from bot.settings import BotSettings
from bot.webhook import WebhookSettings, create_webhook_app
from topology.observability.logs import configure_logging
from topology.observability.tracing import configure_tracing
from worker.observed import message_kwargs


def task_for(job: ReviewJob, *, bot_username: str) -> tuple[str, list[Any]] | None:
    """(task name, args) that a job calls for; None for a command the bot does not run."""
    if job.kind == "review" or (job.kind == "command" and job.command == "recheck"):
        head = job.head_sha if job.kind == "review" else None  # recheck: whatever is current
        return "cellsbot.review", [job.project_id, job.mr_iid, head]
    if job.kind in ("merged", "closed"):
        return "cellsbot.merge_request_state", [job.project_id, job.mr_iid, job.kind]
    if job.command == "help":
        return "cellsbot.help", [job.project_id, job.mr_iid, bot_username, job.note_id]
    if job.command in ("claim", "rollout"):
        fields = ("project_id", "mr_iid", "command", "arguments", "note_id")
        command = {name: getattr(job, name) for name in fields}
        command |= {"author_id": job.author_id, "author_username": job.author_username}
        return "cellsbot.command", [command]
    return None


def dispatch(celery: Celery, job: ReviewJob, *, bot_username: str) -> None:
    """Send the task a job calls for, in the current context (correlation id, trace); raise
    when the broker does not take it."""
    if task := task_for(job, bot_username=bot_username):
        name, args = task
        celery.send_task(name, args=args, kwargs=message_kwargs())


def redis_message(
    name: str, args: list[Any], queue: str, kwargs: dict[str, Any] | None = None
) -> str:
    """What `send_task(name, args=args, kwargs=kwargs)` pushes onto `queue` through kombu's
    Redis transport: a Celery protocol 2 message (headers, base64 JSON body) in kombu's
    envelope, addressed to the default exchange so that a restored unacked message goes back
    to `queue`. Built by hand because Celery's own builder costs more than the rest of a
    delivery; tests/worker/test_service.py checks it against Celery's and runs it on a real
    worker."""
    task_id = str(uuid.uuid4())
    kwargs = kwargs or {}
    body = pydantic_core.to_json([args, kwargs, _NO_WORKFLOW])
    return pydantic_core.to_json(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": name,
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": repr(args),
                "kwargsrepr": repr(kwargs),
                "origin": _ORIGIN,
                "ignore_result": False,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": task_id,  # unique per message, as kombu's own
            },
        }
    ).decode()


_NO_WORKFLOW = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = anon_nodename()


def intake_for(celery: Celery, bot: BotSettings, bot_username: str) -> Intake:
    """With a Redis broker, the seen-set and the queue in that Redis, written by one script
    per batch; otherwise a seen-set (Redis at `redis_url`, else in this process) and
    `send_task` in a thread."""
    broker = bot.broker()[0]
    if broker.startswith(("redis://", "rediss://")):
        queue = celery.conf.task_default_queue

        def encode(job: ReviewJob) -> str | None:  # in the delivery's context
            task = task_for(job, bot_username=bot_username)
            return redis_message(*task, queue, message_kwargs()) if task else None

        client = redis.asyncio.Redis.from_url(broker, socket_timeout=2)
        return RedisIntake(client, queue, encode)
    dedupe: Deduplicator
    if bot.redis_url:
        dedupe = RedisDeduplicator(redis.Redis.from_url(bot.redis_url, socket_timeout=2))
    else:
        dedupe = MemoryDeduplicator()
    return DedupeIntake(dedupe, lambda job: dispatch(celery, job, bot_username=bot_username))


def create_service_app(
    celery: Celery,
    *,
    bot: BotSettings | None = None,
    webhook: WebhookSettings | None = None,
) -> FastAPI:
    bot = bot or BotSettings()
    webhook = webhook or WebhookSettings()
    return create_webhook_app(webhook, intake_for(celery, bot, webhook.bot_username))


def create_app() -> FastAPI:
    """The receiver for production, configured from the environment:
    `uvicorn --factory worker.service:create_app --host 0.0.0.0 --port 8080`. It logs and
    traces as the settings say (its uvicorn's lines included)."""
    from worker.celery_app import create_celery  # noqa: PLC0415 (no broker set-up on import)

    settings = BotSettings()
    settings.register_secrets()
    configure_logging(format=settings.log_format, level=settings.log_level or "INFO")
    configure_tracing(settings.otlp_endpoint, service_name="cellsbot-webhook")
    return create_service_app(create_celery(settings), bot=settings)
