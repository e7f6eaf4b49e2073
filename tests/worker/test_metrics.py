"""The worker's metrics and task context: queue depth on both brokers, the rollouts gauge, and
tasks that run in their message's correlation id and are counted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import Celery, Task
from prometheus_client import CollectorRegistry

from bot.settings import BotSettings
from tests.conftest import REDIS_URL
from topology.observability.context import (
    correlation_id,
    reset_correlation_id,
    set_correlation_id,
)
from worker import metrics
from worker.celery_app import create_celery
from worker.observed import ObservedTask, message_kwargs


def sample(registry: Any, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels or None)


def test_queue_depth_on_a_redis_broker(redis_client: Any) -> None:
    queue = f"cellsbot-test-{uuid.uuid4().hex[:8]}"
    registry = CollectorRegistry()
    registry.register(metrics.QueueDepth(queue, REDIS_URL, {}))
    try:
        assert sample(registry, "cellsbot_worker_queue_depth", queue=queue) == 0
        redis_client.lpush(queue, "a", "b", "c")
        assert sample(registry, "cellsbot_worker_queue_depth", queue=queue) == 3
    finally:
        redis_client.delete(queue)


def test_queue_depth_on_the_file_broker(tmp_path: Any) -> None:
    settings = BotSettings(data_dir=tmp_path, queue="jobs")
    celery = create_celery(settings)
    broker, options = settings.broker()
    registry = CollectorRegistry()
    registry.register(metrics.QueueDepth("jobs", broker, options))
    celery.send_task("cellsbot.help", args=[1, 2, "cellsbot"])
    celery.send_task("cellsbot.help", args=[1, 3, "cellsbot"])
    other = create_celery(BotSettings(data_dir=tmp_path, queue="others"))
    other.send_task("cellsbot.help", args=[1, 4, "cellsbot"])  # another queue, same folder
    assert sample(registry, "cellsbot_worker_queue_depth", queue="jobs") == 2


def test_an_unreachable_broker_gives_no_sample() -> None:
    registry = CollectorRegistry()
    registry.register(metrics.QueueDepth("q", "redis://127.0.0.1:9/0", {}))
    assert sample(registry, "cellsbot_worker_queue_depth", queue="q") is None


def test_rollouts_by_state_from_the_ledger() -> None:
    registry = CollectorRegistry()
    rollouts = metrics.Rollouts()
    registry.register(rollouts)
    assert sample(registry, "cellsbot_worker_rollouts", state="running") is None  # no ledger
    rollouts.watch(lambda: {"running": 2, "new": 1})
    assert sample(registry, "cellsbot_worker_rollouts", state="running") == 2
    assert sample(registry, "cellsbot_worker_rollouts", state="new") == 1
    assert sample(registry, "cellsbot_worker_rollouts", state="completed") == 0


def test_the_ledger_counts_its_rollouts(fresh_database: str) -> None:
    from analyzers.coordination import OPENED, Entry  # noqa: PLC0415
    from worker.ledger import Ledger  # noqa: PLC0415

    ledger = Ledger(fresh_database)
    try:
        for iid in (1, 2):
            ledger.record(Entry(1, iid, OPENED, title="x"))
            ledger.set_rollout(1, iid, 100 + iid)
        token = ledger.new_watch(1, 1)
        ledger.show_rollout(1, 1, token, state="running", shown="…")
        assert ledger.rollout_states() == {"running": 1, "new": 1}
    finally:
        ledger.close()


# --- tasks --------------------------------------------------------------------------------

probe_app = Celery("probe", task_cls=ObservedTask, set_as_current=False)
probe_app.conf.task_always_eager = False


@probe_app.task(bind=True, name="probe.context")
def probe(self: Task, value: int) -> dict[str, Any]:
    return {"status": "ok", "correlation_id": correlation_id(), "value": value}


@probe_app.task(name="probe.fails")
def fails() -> dict[str, Any]:
    return {"status": "failed", "reason": "GitLab answered 403"}


def test_a_task_runs_in_its_messages_correlation_id() -> None:
    result = probe.apply(args=[1], kwargs={"correlation_id": "delivery-9"}).get()
    assert result == {"status": "ok", "correlation_id": "delivery-9", "value": 1}
    assert correlation_id() is None  # forgotten after the task


def test_a_task_without_one_runs_in_its_task_id() -> None:
    outcome = probe.apply(args=[2], task_id="task-id-1")
    assert outcome.get()["correlation_id"] == "task-id-1"


def test_task_runs_are_counted_by_outcome() -> None:
    before = sample(
        metrics.REGISTRY, "cellsbot_worker_tasks_total", task="probe.fails", outcome="failed"
    )
    fails.apply().get()
    probe.apply(args=[3]).get()
    after = sample(
        metrics.REGISTRY, "cellsbot_worker_tasks_total", task="probe.fails", outcome="failed"
    )
    assert after == (before or 0) + 1
    assert sample(
        metrics.REGISTRY, "cellsbot_worker_tasks_total", task="probe.context", outcome="succeeded"
    )


@pytest.mark.parametrize(
    ("outcome", "result", "review"),
    [
        (metrics.SUCCEEDED, {"status": "published"}, "published"),
        (metrics.SUCCEEDED, {"status": "superseded"}, "superseded"),
        (metrics.SUCCEEDED, {"status": "not open"}, "not_open"),
        (metrics.SUCCEEDED, {"status": "failed"}, "failed"),
        (metrics.FAILED, None, "failed"),
        (metrics.RETRIED, None, "retried"),
    ],
)
def test_review_durations_by_outcome(outcome: str, result: Any, review: str) -> None:
    name = "cellsbot_worker_review_duration_seconds_count"
    before = sample(metrics.REGISTRY, name, outcome=review) or 0
    metrics.task_finished(metrics.REVIEW_TASK, outcome, 0.5, result)
    assert sample(metrics.REGISTRY, name, outcome=review) == before + 1


def test_tasks_sent_from_a_task_carry_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(
        Task, "apply_async", lambda self, args=None, kwargs=None, **_: sent.append(kwargs)
    )
    token = set_correlation_id("delivery-5")
    try:
        probe.apply_async(args=[1])
        probe.apply_async(args=[1], kwargs={"correlation_id": "explicit"})
    finally:
        reset_correlation_id(token)
    assert sent == [{"correlation_id": "delivery-5"}, {"correlation_id": "explicit"}]
    assert message_kwargs() == {"correlation_id": None}
