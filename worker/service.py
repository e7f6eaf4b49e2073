"""The webhook receiver wired to the worker: each ReviewJob becomes a Celery task.

This is the shell that joins the two halves (bot/ never imports worker/): `cellsbot serve`
and the tests build the receiver here.
"""

from __future__ import annotations

import logging

import redis
from celery import Celery
from fastapi import FastAPI

from bot.dedupe import Deduplicator, MemoryDeduplicator, RedisDeduplicator
from bot.events import ReviewJob
from bot.settings import BotSettings
from bot.webhook import WebhookSettings, create_webhook_app

logger = logging.getLogger(__name__)


def dispatch(celery: Celery, job: ReviewJob, *, bot_username: str) -> None:
    """Send the task a job calls for; raise when the broker does not take it."""
    if job.kind == "review" or (job.kind == "command" and job.command == "recheck"):
        head = job.head_sha if job.kind == "review" else None  # recheck: whatever is current
        celery.send_task("cellsbot.review", args=[job.project_id, job.mr_iid, head])
    elif job.kind == "command" and job.command == "help":
        celery.send_task("cellsbot.help", args=[job.project_id, job.mr_iid, bot_username])
    else:  # merged, closed: recorded for coordination once the ledger exists
        logger.info("merge request %s!%s %s", job.project_id, job.mr_iid, job.kind)


def create_service_app(
    celery: Celery,
    *,
    bot: BotSettings | None = None,
    webhook: WebhookSettings | None = None,
) -> FastAPI:
    bot = bot or BotSettings()
    webhook = webhook or WebhookSettings()
    dedupe: Deduplicator
    if bot.redis_url:
        dedupe = RedisDeduplicator(redis.Redis.from_url(bot.redis_url, socket_timeout=2))
    else:
        dedupe = MemoryDeduplicator()
    return create_webhook_app(
        webhook,
        lambda job: dispatch(celery, job, bot_username=webhook.bot_username),
        dedupe,
    )


def create_app() -> FastAPI:
    """The receiver for production, configured from the environment:
    `uvicorn --factory worker.service:create_app --host 0.0.0.0 --port 8080`."""
    from worker.celery_app import create_celery  # noqa: PLC0415 (no broker set-up on import)

    settings = BotSettings()
    return create_service_app(create_celery(settings), bot=settings)
