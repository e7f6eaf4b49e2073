"""The Celery application: Redis as broker in production (CELLSBOT_BROKER_URL), a broker on
local files when none is configured, so that one machine needs no server at all.

Start a worker with `celery -A worker.celery_app worker` (cellsbot serve does it for you).
A worker logs as `CELLSBOT_LOG_FORMAT` says (JSON by default) at `CELLSBOT_LOG_LEVEL` (else
its `--loglevel`), serves its metrics on `CELLSBOT_WORKER_METRICS_PORT` and traces to
`CELLSBOT_OTLP_ENDPOINT` when they are set (docs/observability.md).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from bot.settings import BotSettings
from topology.observability.logs import configure_logging
from topology.observability.tracing import configure_tracing
from worker import metrics
from worker.observed import ObservedTask, forget_context

logger = logging.getLogger(__name__)


def create_celery(settings: BotSettings | None = None) -> Celery:
    settings = settings or BotSettings()
    broker, options = settings.broker()
    app = Celery("cellsbot", broker=broker, include=["worker.tasks"], task_cls=ObservedTask)
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


@signals.setup_logging.connect
def _setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """A worker's logging and tracing, first thing at its start: ours instead of Celery's (a
    receiver of this signal replaces it). An error here (a bad setting, tracing without the
    SDK) stops the worker."""
    settings = BotSettings()
    settings.register_secrets()
    configure_logging(
        format=settings.log_format, level=settings.log_level or loglevel or logging.INFO
    )
    configure_tracing(settings.otlp_endpoint, service_name="cellsbot-worker")


@signals.celeryd_after_setup.connect
def _serve_metrics(**_: Any) -> None:
    """The metrics server, once the worker is set up (its logging included) and before its
    pool starts. The children of a prefork pool would count in their own memory, unserved:
    use `--pool=threads`, as `cellsbot serve` does."""
    settings = BotSettings()
    if settings.worker_metrics_port is not None:
        broker, options = settings.broker()
        metrics.serve(
            settings.worker_metrics_port, queue=settings.queue, broker=broker, options=options
        )


@signals.task_postrun.connect
def _task_done(**_: Any) -> None:
    forget_context()
