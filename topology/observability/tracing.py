"""Tracing with OpenTelemetry, off unless `CELLSBOT_OTLP_ENDPOINT` is set.

Off, nothing of the SDK is imported and every helper here returns at once (the spans are not
even the API's no-op spans). On, spans go to an OTLP/HTTP collector: the webhook delivery, the
Celery task (its parent carried in the task message), each GitLab and Topology Service call,
and the Topology Service's requests (FastAPI's own server spans). The W3C `traceparent`
travels in HTTP headers and in the task message's `trace_context`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode

__all__ = [
    "SpanKind",
    "TracingUnavailable",
    "configure_tracing",
    "enabled",
    "fail",
    "fastapi_telemetry",
    "inject",
    "span",
    "trace_context",
    "use_tracer_provider",
]

#: paths that get no server span (probes and scrapes)
_QUIET_PATHS = ("/metrics", "/healthz", "/readyz")


class TracingUnavailable(RuntimeError):
    """CELLSBOT_OTLP_ENDPOINT is set, but the SDK (the `tracing` extra) is not installed."""


@dataclass
class _Tracing:
    provider: trace.TracerProvider | None = None
    tracer: trace.Tracer | None = None


_state = _Tracing()


def configure_tracing(endpoint: str | None, *, service_name: str) -> bool:
    """Send spans to the OTLP/HTTP collector at `endpoint` (e.g. http://otel-collector:4318;
    `/v1/traces` is added unless given). Without an endpoint, nothing happens: False. The
    first call of a process sets its global tracer provider; later calls keep it."""
    if not endpoint:
        return False
    if _state.provider is not None:
        return True
    try:  # the tracing extra
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    except ImportError as error:
        raise TracingUnavailable(
            "CELLSBOT_OTLP_ENDPOINT is set, but the OpenTelemetry SDK is not installed: "
            "install cellsbot[tracing] (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http)"
            " or unset CELLSBOT_OTLP_ENDPOINT"
        ) from error
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_traces(endpoint))))
    trace.set_tracer_provider(provider)
    use_tracer_provider(provider)
    return True


def _traces(endpoint: str) -> str:
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def use_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Trace with `provider` (a test's in-memory one), or stop tracing (None). Apps take the
    setting when they are created."""
    _state.provider = provider
    _state.tracer = provider.get_tracer("cellsbot") if provider is not None else None


def enabled() -> bool:
    return _state.tracer is not None


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    parent: Mapping[str, str] | None = None,
) -> Iterator[Span | None]:
    """A span around the block, current inside it; its parent is the current span, or the
    one in `parent` (a `trace_context` carried in a message). An exception marks the span as
    failed. None (and no span) when tracing is off."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    context = propagate.extract(parent) if parent else None
    with tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def fail(current: Span | None, reason: str) -> None:
    """Mark the span as failed without an exception (an HTTP answer of 5xx)."""
    if current is not None:
        current.set_status(StatusCode.ERROR, reason)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's context to outgoing HTTP `headers` (`traceparent`, …)."""
    if _state.tracer is not None:
        propagate.inject(headers)


def trace_context() -> dict[str, str] | None:
    """The current span's context as W3C headers, for a task message; None when tracing is
    off or no span is current."""
    if _state.tracer is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def fastapi_telemetry() -> dict[str, Any]:
    """FastAPI's `telemetry=` for our apps: server spans on our tracer provider when tracing
    is on (not for probes and scrapes), and nothing at all otherwise (not even the check of
    the global providers that FastAPI makes on each request by default)."""
    if _state.provider is None:
        return {"tracing": False, "metrics": False, "logs": False}
    return {
        "tracer_provider": _state.provider,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "exclude": lambda scope: scope.get("path", "").endswith(_QUIET_PATHS),
    }
