"""Prometheus helpers: a registry per app, and the `GET /metrics` answer.

Each app (a receiver, a Topology Service) registers its metrics in a registry of its own, so
that a process may create many apps (the tests do) without registering a name twice, and a
process that serves two apps (`cellsbot serve`) keeps their numbers apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

#: seconds; from a fraction of a millisecond (a webhook delivery) to GitLab's slow answers
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: seconds a review takes: from a superseded job's one request to a cold parse of a large dump
REVIEW_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def new_registry() -> CollectorRegistry:
    """A registry with the process's own metrics (`process_*`, `python_*`)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The registry's metrics in the format the scraper accepts (Prometheus text or
    OpenMetrics), and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def metrics_endpoint(
    registry: CollectorRegistry, *, before: Callable[[Request], Awaitable[None]] | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering `GET /metrics`; `before` runs first on each scrape
    (to update gauges computed at scrape time)."""

    async def metrics(request: Request) -> Response:
        if before is not None:
            await before(request)
        body, content_type = exposition(registry, request.headers.get("accept"))
        return Response(body, media_type=content_type)

    return metrics
