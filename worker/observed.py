"""Task messages that carry the delivery's correlation id and trace context, and the base class
of our tasks, which takes them out of the message, runs the task in them, and counts it.

The receiver (worker.service) and the tasks that send further tasks add two keyword arguments
to each message: `correlation_id` and, when tracing is on, `trace_context` (W3C
`traceparent`, …). Keyword arguments rather than message headers: Celery keeps them through
retries (`Task.retry` sends the request's own kwargs again) and shows them in its logs, and
the receiver's hand-built Redis message (worker.service.redis_message) only has to fill in
Celery's body. The task functions never see them.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from celery import Task
from celery.exceptions import Retry

from topology.observability import tracing
from topology.observability.context import (
    accepted,
    correlation_id,
    new_correlation_id,
    set_correlation_id,
)
from topology.observability.logs import set_log_fields
from worker import metrics

CORRELATION_KWARG = "correlation_id"
TRACE_KWARG = "trace_context"


def message_kwargs() -> dict[str, Any]:
    """The keyword arguments that carry the current context into a task message."""
    kwargs: dict[str, Any] = {CORRELATION_KWARG: correlation_id()}
    carrier = tracing.trace_context()
    if carrier:
        kwargs[TRACE_KWARG] = carrier
    return kwargs


class ObservedTask(Task):
    """Runs in the message's context: its correlation id (else the task id) in the logs and in
    every call the task makes, a span whose parent is the message's trace context, and
    `cellsbot_worker_*` metrics for the run. Tasks it sends inherit that context."""

    #: no check of the arguments against the function's signature when sending: the message's
    #: context kwargs are not the function's (they are taken out in `__call__`)
    typing = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        found = accepted(kwargs.pop(CORRELATION_KWARG, None))
        parent = kwargs.pop(TRACE_KWARG, None)
        request = self.request
        set_correlation_id(found or request.id or new_correlation_id())
        set_log_fields(task=self.name, task_id=request.id)
        started = perf_counter()
        attributes = {"celery.task": self.name, "celery.task_id": request.id or ""}
        try:
            with tracing.span(
                f"task {self.name}",
                kind=tracing.SpanKind.CONSUMER,
                attributes=attributes,
                parent=parent if isinstance(parent, dict) else None,
            ):
                result = super().__call__(*args, **kwargs)
        except Retry:
            metrics.task_finished(self.name, metrics.RETRIED, perf_counter() - started)
            raise
        except Exception:
            metrics.task_finished(self.name, metrics.FAILED, perf_counter() - started)
            raise
        finally:
            if request.called_directly:  # no task_postrun will clear the context
                forget_context()
        metrics.task_finished(self.name, metrics.SUCCEEDED, perf_counter() - started, result)
        return result

    def apply_async(
        self, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Any:
        """Send with the current context (a retry or a follow-up sent from inside a task)."""
        return super().apply_async(args, {**message_kwargs(), **(kwargs or {})}, **options)


def forget_context() -> None:
    """After a task: the next lines of this thread belong to no task."""
    set_correlation_id(None)
    set_log_fields()
