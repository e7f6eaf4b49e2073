"""The Topology Service's Prometheus metrics, its `GET /metrics`, and the middleware that counts
requests and gives each one a correlation id.

`GET /metrics` needs no token, like `/healthz`, and is not in the OpenAPI document. The
rollouts gauge is read from PostgreSQL at scrape time (one `GROUP BY` over the rollouts).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from topology.observability.context import (
    CORRELATION_HEADER,
    accepted,
    new_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)
from topology.observability.metrics import LATENCY_BUCKETS, metrics_endpoint, new_registry
from topology.storage import repository

logger = logging.getLogger(__name__)
UNMATCHED = "unmatched"  # the route label of a request no route took (a 404)
#: methods counted by name; any other (a client may send any token) is OTHER
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ROLLOUT_STATES = ("running", "paused", "halted", "completed")
_HEADER = CORRELATION_HEADER.lower().encode()


class TopologyMetrics:
    """cellsbot_topology_*: requests by route template and status and their latency, claim
    conflicts by kind, classify latency, rollouts by state. One per app, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        self._requests = Counter(
            "cellsbot_topology_http_requests",
            "HTTP requests, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "cellsbot_topology_http_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer, by method and route "
            "template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._conflicts = Counter(
            "cellsbot_topology_claim_conflicts",
            "Claim updates refused, by the answer's reason (ALREADY_TAKEN, LEASED, "
            "INVALID_BATCH, NOT_OWNER, CELL_UNAVAILABLE, CELL_NOT_FOUND, CLAIM_NOT_FOUND, "
            "LEASE_NOT_FOUND).",
            ["kind"],
            registry=self.registry,
        )
        classify = Histogram(
            "cellsbot_topology_classify_duration_seconds",
            "Seconds a classification took in the handler, by what it classified by (claim, "
            "FIRST_CELL, SESSION_PREFIX, CELL_ID) and result (proxy, not_found).",
            ["by", "result"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._rollouts = Gauge(
            "cellsbot_topology_rollouts",
            "Rollouts by state, read from the database at scrape time.",
            ["state"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._classify = {
            (by, result): classify.labels(by, result)
            for by in ("claim", "FIRST_CELL", "SESSION_PREFIX", "CELL_ID")
            for result in ("proxy", "not_found")
        }

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # one per route, method and status this service answered
            children = self._children[key] = (
                self._requests.labels(method, route, str(status)),
                self._duration.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def conflict(self, kind: str) -> None:
        self._conflicts.labels(kind).inc()

    def classified(self, by: str, found: bool, seconds: float) -> None:
        self._classify[by, "proxy" if found else "not_found"].observe(seconds)

    async def refresh(self, request: Request) -> None:
        """The gauges read at scrape time: rollouts by state (none before start-up ends)."""
        topology = getattr(request.app.state, "topology", None)
        if topology is None:
            return
        try:
            async with topology.pool.connection(timeout=2) as conn:
                counts = await repository.rollout_states(conn)
        except Exception as error:  # no database: the scrape still answers, without them
            logger.warning("cannot count the rollouts: %s", error)
            return
        for state in (*ROLLOUT_STATES, *sorted(set(counts) - set(ROLLOUT_STATES))):
            self._rollouts.labels(state).set(counts.get(state, 0))

    def endpoint(self) -> Callable[[Request], Awaitable[Response]]:
        """`GET /metrics`."""
        return metrics_endpoint(self.registry, before=self.refresh)


def metrics(request: Request) -> TopologyMetrics:
    return request.app.state.metrics


class ObservedRequests:
    """ASGI middleware: each HTTP request runs under its correlation id (the caller's
    `X-Correlation-Id`, else a new one), which its answer carries back, and is counted by
    route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: TopologyMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        given = next((v for k, v in scope["headers"] if k == _HEADER), None)
        found = accepted(given.decode("latin-1") if given else None) or new_correlation_id()
        encoded = found.encode()
        status = 500  # unless an answer starts

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER, encoded)]
            await send(message)

        token = set_correlation_id(found)
        try:
            await self.app(scope, receive, answer)
        finally:
            reset_correlation_id(token)
            route = scope.get("route")
            method = scope["method"]
            self.metrics.request(
                method if method in _METHODS else "OTHER",
                getattr(route, "path", None) or UNMATCHED,
                status,
                perf_counter() - started,
            )
