"""The bot's Prometheus metrics: the webhook receiver's deliveries, and GitLab API calls.

The receiver counts on its hot path, so every label combination it can use is bound once,
when the app is created: a delivery then costs two increments and one observation, with no
label lookup. Label values never come from a sender as they are (an unknown event is
"other"), so no request can add series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from topology.observability.metrics import LATENCY_BUCKETS, new_registry

#: X-Gitlab-Event -> the `event` label; any other event is "other", none is "none"
EVENTS = {"Merge Request Hook": "merge_request", "Note Hook": "note"}
OTHER_EVENT, NO_EVENT = "other", "none"
QUEUED, DUPLICATE, IGNORED = "queued", "duplicate", "ignored"
REJECTED, FAILED = "rejected", "failed"  # answered 4xx, 5xx
OUTCOMES = (QUEUED, DUPLICATE, IGNORED, REJECTED, FAILED)
#: the `error` names of the receiver's answers (bot.webhook), bound in advance
REASONS = (
    "unauthorized",
    "bad_content_length",
    "payload_too_large",
    "client_disconnected",
    "missing_event",
    "malformed_json",
    "not_an_object",
    "invalid_payload",
    "unavailable",
    "internal",
)


def event_label(header: str | None) -> str:
    if not header:
        return NO_EVENT
    return EVENTS.get(header.strip(), OTHER_EVENT)


class ReceiverMetrics:
    """cellsbot_webhook_*: deliveries by event and outcome, non-2xx answers by reason, and
    the time the receiver took, by outcome. One per app, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        deliveries = Counter(
            "cellsbot_webhook_deliveries",
            "Webhook deliveries, by event (merge_request, note, other, none) and outcome "
            "(queued, duplicate, ignored, rejected: a 4xx answer, failed: a 5xx answer).",
            ["event", "outcome"],
            registry=self.registry,
        )
        self._rejections = Counter(
            "cellsbot_webhook_rejections",
            "Deliveries answered with an error, by the answer's `error` name.",
            ["reason"],
            registry=self.registry,
        )
        duration = Histogram(
            "cellsbot_webhook_delivery_duration_seconds",
            "Seconds from the start of a delivery's handling to its answer, by outcome.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        events = (*EVENTS.values(), OTHER_EVENT, NO_EVENT)
        self._deliveries = {(e, o): deliveries.labels(e, o) for e in events for o in OUTCOMES}
        self._durations = {outcome: duration.labels(outcome) for outcome in OUTCOMES}
        self._reasons = {reason: self._rejections.labels(reason) for reason in REASONS}

    def delivered(self, event: str, outcome: str, seconds: float) -> None:
        """A delivery answered with 2xx (`outcome` queued, duplicate or ignored)."""
        self._deliveries[event, outcome].inc()
        self._durations[outcome].observe(seconds)

    def refused(self, event: str, reason: str, status: int, seconds: float) -> None:
        """A delivery answered with an error: `reason` is the answer's `error` name."""
        outcome = REJECTED if status < 500 else FAILED
        self._deliveries[event, outcome].inc()
        self._durations[outcome].observe(seconds)
        counter = self._reasons.get(reason)
        if counter is None:  # a name added to bot.webhook but not to REASONS
            counter = self._reasons[reason] = self._rejections.labels(reason)
        counter.inc()


class GitLabMetrics:
    """cellsbot_gitlab_*: GitLab API calls by method, endpoint (ids replaced, e.g.
    `/projects/:id/merge_requests/:iid/notes`) and status, and their latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "cellsbot_gitlab_requests",
            "GitLab API requests, by method, endpoint template and HTTP status "
            "(`error` when no answer came: a connection error or a timeout).",
            ["method", "endpoint", "status"],
            registry=registry,
        )
        self._duration = Histogram(
            "cellsbot_gitlab_request_duration_seconds",
            "Seconds a GitLab API request took until its answer's headers, by method and "
            "endpoint template.",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, endpoint: str, status: str, seconds: float) -> None:
        self._requests.labels(method, endpoint, status).inc()
        self._duration.labels(method, endpoint).observe(seconds)
