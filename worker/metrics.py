"""The worker's Prometheus metrics, served on `CELLSBOT_WORKER_METRICS_PORT` (unset: not served).

One registry per worker process (a worker runs one Celery app): its tasks, its reviews, its
GitLab API calls, and two gauges computed when Prometheus scrapes: the depth of the queue the
workers read, and the rollouts the bot watches.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.metrics import GitLabMetrics
from topology.observability.metrics import REVIEW_BUCKETS, new_registry

logger = logging.getLogger(__name__)

REVIEW_TASK = "cellsbot.review"
SUCCEEDED, FAILED, RETRIED = "succeeded", "failed", "retried"
#: a review's `status` -> the review histogram's `outcome`
_REVIEW_OUTCOMES = {"published": "published", "superseded": "superseded", "not open": "not_open"}
#: the states a Topology Service rollout can be in (the gauge shows each, 0 included)
ROLLOUT_STATES = ("running", "paused", "halted", "completed")

REGISTRY = new_registry()
GITLAB = GitLabMetrics(REGISTRY)
_tasks = Counter(
    "cellsbot_worker_tasks",
    "Task runs, by task name and outcome (succeeded; failed: raised, or returned a failed "
    "status; retried: will run again).",
    ["task", "outcome"],
    registry=REGISTRY,
)
_task_seconds = Histogram(
    "cellsbot_worker_task_duration_seconds",
    "Seconds a task run took, by task name.",
    ["task"],
    buckets=REVIEW_BUCKETS,
    registry=REGISTRY,
)
_review_seconds = Histogram(
    "cellsbot_worker_review_duration_seconds",
    "Seconds a review task run took, by outcome (published, superseded, not_open, failed, "
    "retried).",
    ["outcome"],
    buckets=REVIEW_BUCKETS,
    registry=REGISTRY,
)


def task_finished(task: str, outcome: str, seconds: float, result: Any = None) -> None:
    """Count a task run; `outcome` SUCCEEDED is made FAILED by a returned failed status."""
    status = result.get("status") if isinstance(result, Mapping) else None
    if outcome == SUCCEEDED and status == "failed":
        outcome = FAILED
    _tasks.labels(task, outcome).inc()
    _task_seconds.labels(task).observe(seconds)
    if task == REVIEW_TASK:
        review = _REVIEW_OUTCOMES.get(status, FAILED) if outcome == SUCCEEDED else outcome
        _review_seconds.labels(review).observe(seconds)


class QueueDepth(Collector):
    """cellsbot_worker_queue_depth: the jobs waiting in the queue, counted at scrape time:
    LLEN of the queue's list on a Redis broker, the message files on the file broker."""

    def __init__(self, queue: str, broker: str, options: Mapping[str, Any]) -> None:
        self.queue = queue
        self._count: Callable[[], int]
        if broker.startswith(("redis://", "rediss://")):
            import redis  # noqa: PLC0415

            client = redis.Redis.from_url(broker, socket_timeout=2, socket_connect_timeout=2)
            self._count = lambda: int(client.llen(queue))  # type: ignore[arg-type]
        elif broker.startswith("filesystem://"):
            folder = Path(options["data_folder_in"])
            suffix = f"{queue}.msg"
            self._count = lambda: sum(
                1 for name in os.listdir(folder) if name.partition(".")[2] == suffix
            )
        else:
            raise ValueError(f"no queue depth for the broker {broker.split(':', 1)[0]}")

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        try:
            family.add_metric([self.queue], self._count())
        except Exception as error:  # the broker is down: no sample rather than a failed scrape
            logger.warning("cannot count the jobs in queue %s: %s", self.queue, error)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "cellsbot_worker_queue_depth",
            "Jobs waiting in the Celery queue the workers read, counted at scrape time.",
            labels=["queue"],
        )


class Rollouts(Collector):
    """cellsbot_worker_rollouts: the rollouts of merged merge requests that the bot watches,
    by the state it last saw, from the coordination ledger at scrape time."""

    def __init__(self) -> None:
        self._source: Callable[[], Mapping[str, int]] | None = None
        self._lock = threading.Lock()

    def watch(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Count from `source` (the ledger's rollout states) from now on."""
        with self._lock:
            self._source = source

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        source = self._source
        if source is not None:
            try:
                counts = dict(source())
            except Exception as error:  # the ledger is down: no samples
                logger.warning("cannot count the watched rollouts: %s", error)
            else:
                for state in (*ROLLOUT_STATES, *sorted(set(counts) - set(ROLLOUT_STATES))):
                    family.add_metric([state], counts.get(state, 0))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "cellsbot_worker_rollouts",
            "Rollouts of merged merge requests that the bot watches, by the state it last saw "
            "(new: not looked at yet); the same in every worker process.",
            labels=["state"],
        )


ROLLOUTS = Rollouts()
REGISTRY.register(ROLLOUTS)
_served = threading.Lock()
_server: list[Any] = []


def serve(
    port: int,
    *,
    queue: str,
    broker: str,
    options: Mapping[str, Any],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """Serve the registry on `port` (all interfaces), with the queue's depth; once per process."""
    with _served:
        if _server:
            return
        try:
            registry.register(QueueDepth(queue, broker, options))
        except ValueError as error:
            logger.warning("%s", error)
        _server.append(start_http_server(port, registry=registry))
    logger.info("serving metrics on port %s", port)
