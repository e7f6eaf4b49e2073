"""The receiver's metrics and correlation ids, driven over HTTP as GitLab drives it, and the
GitLab session's: headers, endpoint templates and counts, against a real HTTP server."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bot.gitlab_session import ObservedSession, endpoint_template
from bot.metrics import GitLabMetrics
from tests.bot.test_webhook import (
    MR,
    NOTE,
    PUSH,
    _FlakyQueue,
    make_receiver,
    mr_payload,
    note_payload,
)
from topology.observability.context import reset_correlation_id, set_correlation_id


def get(app: Any, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as c:
            return await c.get(path)

    return asyncio.run(send())


def scrape(app: Any, path: str = "/metrics") -> dict[tuple[str, frozenset], float]:
    """The app's samples: (name, labels) -> value, read over HTTP, without a token."""
    answer = get(app, path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_deliveries_are_counted_by_event_and_outcome() -> None:
    receiver = make_receiver()
    uuid_ = str(uuid.uuid4())
    assert receiver.post(mr_payload(), headers={"X-Gitlab-Event-UUID": uuid_}).status_code == 202
    assert receiver.post(mr_payload(), headers={"X-Gitlab-Event-UUID": uuid_}).status_code == 200
    assert receiver.post({"object_kind": "push"}, event=PUSH).status_code == 200
    assert receiver.post(note_payload("thanks"), event=NOTE).status_code == 200
    assert receiver.post(mr_payload(), token="wrong-token-123").status_code == 401
    assert receiver.post(None, content=b"{not json").status_code == 400
    assert receiver.post({"object_kind": "merge_request"}).status_code == 422
    assert receiver.post(None, content=b"x" * (2 << 20)).status_code == 413
    assert receiver.post(mr_payload(), event=None).status_code == 400

    found = scrape(receiver.app)
    deliveries = "cellsbot_webhook_deliveries_total"
    assert value(found, deliveries, event="merge_request", outcome="queued") == 1
    assert value(found, deliveries, event="merge_request", outcome="duplicate") == 1
    assert value(found, deliveries, event="other", outcome="ignored") == 1
    assert value(found, deliveries, event="note", outcome="ignored") == 1
    assert value(found, deliveries, event="merge_request", outcome="rejected") == 4
    assert value(found, deliveries, event="none", outcome="rejected") == 1
    rejections = "cellsbot_webhook_rejections_total"
    for reason in (
        "unauthorized",
        "malformed_json",
        "invalid_payload",
        "payload_too_large",
        "missing_event",
    ):
        assert value(found, rejections, reason=reason) == 1, reason
    assert value(found, rejections, reason="not_an_object") == 0  # bound in advance, still 0
    duration = "cellsbot_webhook_delivery_duration_seconds_count"
    assert value(found, duration, outcome="rejected") == 5
    assert sum(value(found, duration, outcome=o) for o in ("queued", "duplicate", "ignored")) == 4


def test_an_enqueue_failure_is_counted_as_failed() -> None:
    receiver = make_receiver(enqueue=_FlakyQueue())
    assert receiver.post(mr_payload()).status_code == 503
    assert receiver.post(mr_payload()).status_code == 202
    found = scrape(receiver.app)
    assert value(
        found, "cellsbot_webhook_deliveries_total", event="merge_request", outcome="failed"
    )
    assert value(found, "cellsbot_webhook_rejections_total", reason="unavailable") == 1


def test_each_app_counts_its_own() -> None:
    """Tests and `cellsbot serve` make several receivers in one process: no name clashes."""
    first, second = make_receiver(), make_receiver()
    first.post(mr_payload())
    found = scrape(second.app)
    assert (
        value(found, "cellsbot_webhook_deliveries_total", event="merge_request", outcome="queued")
        == 0
    )
    assert any(name.startswith("process_") for name, _ in found)  # the process's own metrics


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"X-Gitlab-Event-UUID": "c0ffee00-1111-4222-8333-444455556666"},
            "c0ffee00-1111-4222-8333-444455556666",
        ),
        ({"Idempotency-Key": "key-7"}, "key-7"),
        ({"X-Gitlab-Event-UUID": "evt-1", "Idempotency-Key": "key-7"}, "evt-1"),
        ({"X-Gitlab-Event-UUID": "no spaces, no commas"}, None),
        ({"X-Gitlab-Event-UUID": "a" * 129}, None),
        ({}, None),
    ],
)
def test_answers_carry_the_correlation_id(headers: dict[str, str], expected: str | None) -> None:
    receiver = make_receiver()
    for answer in (
        receiver.post(mr_payload(), headers=headers),  # 202
        receiver.post(mr_payload(), headers=headers, token="wrong-token-123"),  # 401
        receiver.post({"object_kind": "push"}, headers=headers, event=PUSH),  # 200 ignored
    ):
        found = answer.headers["x-correlation-id"]
        if expected is not None:
            assert found == expected
        else:
            assert uuid.UUID(found)  # a new one


def test_other_routes_have_no_correlation_id() -> None:
    assert "x-correlation-id" not in get(make_receiver().app, "/healthz").headers


# --- the GitLab session -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (
            "/api/v4/projects/42/merge_requests/7/notes?page=2",
            "/projects/:id/merge_requests/:iid/notes",
        ),
        ("/api/v4/projects/acme%2Fapp", "/projects/:id"),
        (
            "/api/v4/projects/1/merge_requests/2/discussions/6a9c17/notes/9",
            "/projects/:id/merge_requests/:iid/discussions/:id/notes/:id",
        ),
        (
            "/api/v4/projects/1/repository/files/db%2Fstructure.sql/raw?ref=main",
            "/projects/:id/repository/files/:path/raw",
        ),
        (
            "/api/v4/projects/1/repository/blobs/0123abcd/raw",
            "/projects/:id/repository/blobs/:sha/raw",
        ),
        ("/api/v4/projects/1/repository/tree?recursive=true", "/projects/:id/repository/tree"),
        ("/api/v4/projects/1/statuses/5c6149ec58fa4fd005d6", "/projects/:id/statuses/:sha"),
        ("/api/v4/groups/acme/members/all/5", "/groups/:id/members/all/:id"),
        ("/api/v4/projects/1/labels/bug", "/projects/:id/labels/:name"),
        ("/api/v4/user", "/user"),
        ("/api/v4/users?username=alice", "/users"),
        ("/gitlab/api/v4/projects/3", "/projects/:id"),  # GitLab under a path
        ("/api/v4/unknown/Weird%20Thing/7", "/unknown/:id/:id"),
    ],
)
def test_endpoint_templates_replace_ids(path: str, template: str) -> None:
    assert endpoint_template(path) == template


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        status = 404 if "missing" in self.path else 200
        body = json.dumps({"ok": True}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_session_sends_the_correlation_id_and_counts_each_call(http_server: str) -> None:
    registry = CollectorRegistry()
    session = ObservedSession(GitLabMetrics(registry))
    token = set_correlation_id("delivery-42")
    try:
        session.get(f"{http_server}/api/v4/projects/12/merge_requests/3/notes")
        session.get(f"{http_server}/api/v4/projects/12/merge_requests/4/notes")
        session.get(f"{http_server}/api/v4/projects/12/missing")
    finally:
        reset_correlation_id(token)
    session.get(f"{http_server}/api/v4/user")
    with pytest.raises(requests.ConnectionError):
        session.get("http://127.0.0.1:9/api/v4/projects/1", timeout=2)
    assert [h.get("X-Correlation-Id") for h in _Recorder.seen] == [
        "delivery-42",
        "delivery-42",
        "delivery-42",
        None,  # outside any work
    ]
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
    }
    requests_ = "cellsbot_gitlab_requests_total"
    notes = "/projects/:id/merge_requests/:iid/notes"
    assert value(found, requests_, method="GET", endpoint=notes, status="200") == 2
    assert (
        value(found, requests_, method="GET", endpoint="/projects/:id/missing", status="404") == 1
    )
    assert value(found, requests_, method="GET", endpoint="/projects/:id", status="error") == 1
    count = "cellsbot_gitlab_request_duration_seconds_count"
    assert value(found, count, method="GET", endpoint=notes) == 2


def test_connect_uses_the_observed_session() -> None:
    from bot.gitlab_api import connect  # noqa: PLC0415

    registry = CollectorRegistry()
    gl = connect(
        "http://gitlab.invalid", "glpat-abcdefghijklmnopqrst", metrics=GitLabMetrics(registry)
    )
    assert isinstance(gl.session, ObservedSession)
    assert gl.session.metrics is not None


def test_the_event_label_is_bounded() -> None:
    receiver = make_receiver()
    for event in ("Pipeline Hook", "Job Hook", "x" * 500, MR.upper()):
        receiver.post({"object_kind": "push"}, event=event)
    found = scrape(receiver.app)
    events = {
        dict(labels).get("event")
        for name, labels in found
        if name.startswith("cellsbot_webhook_deliveries")
    }
    assert events <= {"merge_request", "note", "other", "none"}
