"""The Celery application: Redis as broker in production (CELLSBOT_BROKER_URL), a broker on
local files when none is configured, so that one machine needs no server at all.

Start a worker with `celery -A worker.celery_app worker` (cellsbot serve does it for you).
"""

from __future__ import annotations

from celery import Celery

from bot.settings import BotSettings


def create_celery(settings: BotSettings | None = None) -> Celery:
    settings = settings or BotSettings()
    broker, options = settings.broker()
    app = Celery("cellsbot", broker=broker, include=["worker.tasks"])
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,  # a job is done when its review is published, not when received
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        task_default_queue=settings.queue,
    )
    return app


app = create_celery()
