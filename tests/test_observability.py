"""Operations end to end: JSON logs that follow one delivery by its correlation id through the
receiver, a real Celery worker process and the Topology Service, with DEBUG logging on
everywhere and no secret in any line; the worker's metrics server; and tracing (one trace from
the webhook to the GitLab calls) with the SDK's in-memory exporter.

Also the pieces: redaction, the formatters and `configure_logging`.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.example import EXAMPLE, create_example
from bot.settings import BotSettings
from bot.webhook import WebhookSettings
from tests.bot.merge_request import BOT_TOKEN, HUMAN_TOKEN, MergeRequestSetup
from tests.bot.test_webhook import SIGNING_KEY, WHSEC, sign
from tests.conftest import ROOT
from tests.fake_gitlab import FakeGitLab, GitRepo
from tests.fake_gitlab.webhooks import MERGE_REQUEST_HOOK, hook_headers, merge_request_hook
from tests.stack import coordinating_env, require_redis, running_bot
from tests.support import free_port, wait_for
from tests.test_coordination_e2e import ADMIN_TOKEN, CELL_TOKENS, MAINTAINER, cluster_text
from tests.topology.conftest import RunningServer
from topology.observability import tracing
from topology.observability.context import reset_correlation_id, set_correlation_id
from topology.observability.logs import (
    JsonFormatter,
    RedactingFilter,
    TextFormatter,
    configure_logging,
    redact,
    register_secrets,
    register_url,
)
from worker.celery_app import create_celery
from worker.service import create_service_app

SECRET = "observability-secret-0123456789"
DB_PASSWORD = "db-password-0123456789"
VERSION = "20241105120000"

# --- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("send: {'PRIVATE-TOKEN': 'tok-abc-123456', 'User-Agent': 'x'}", "tok-abc-123456"),
        ('headers {"private-token": "tok-abc-123456"}', "tok-abc-123456"),
        ("PRIVATE-TOKEN: tok-abc-123456\r\nAccept: */*", "tok-abc-123456"),
        ("Authorization: Bearer abc.def-123456", "abc.def-123456"),
        ("{'Authorization': 'Bearer abc.def-123456'}", "abc.def-123456"),
        ("calling with bearer abc.def-123456 now", "abc.def-123456"),
        ("X-Gitlab-Token: hunter2hunter2", "hunter2hunter2"),
        ("connect postgresql://app:s3cr3t-pw@db:5432/topology failed", "s3cr3t-pw"),
        ("redis://:r3dis-pw@redis:6379/0", "r3dis-pw"),
        ("host=db user=app password=s3cr3t-pw dbname=x", "s3cr3t-pw"),
        ("GET /api/v4/projects?private_token=tok-abc-123456&page=2", "tok-abc-123456"),
        ("key whsec_MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=", "MDEyMzQ1Njc4OTAx"),
        ("token glpat-AbCdEfGhIjKlMnOpQrSt leaked", "AbCdEfGhIjKlMnOpQrSt"),
        ("webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", "K5oZfzN95Z9U"),
    ],
)
def test_credentials_are_redacted_whatever_their_value(text: str, hidden: str) -> None:
    redacted = redact(text)
    assert hidden not in redacted
    assert "***" in redacted


def test_registered_secrets_are_redacted_anywhere() -> None:
    register_secrets("plain-secret-value-42", None, "", "short")
    register_url("postgresql://user:p%40ss-word-99@db/x")
    text = "a plain-secret-value-42 b p@ss-word-99 c plain-secret-value-42%21 short"
    assert redact(text) == "a *** b *** c ***%21 short"  # too short to register: kept
    assert redact("url ?q=plain-secret-value-42") == "url ?q=***"


def test_the_filter_redacts_arguments_exceptions_and_extras() -> None:
    register_secrets("filter-secret-0123456789")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("boom with filter-secret-0123456789")
        except RuntimeError:
            logger.exception(
                "headers %s",
                {"PRIVATE-TOKEN": "filter-secret-0123456789"},
                extra={"settings": {"token": "filter-secret-0123456789"}, "count": 3},
            )
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert "filter-secret-0123456789" not in stream.getvalue()
    assert line["message"] == "headers {'PRIVATE-TOKEN': ***}"
    assert "RuntimeError: boom with ***" in line["exception"]
    assert line["settings"] == {"token": "***"}
    assert line["count"] == 3


# --- formats --------------------------------------------------------------------------------


@pytest.fixture
def logged() -> Iterator[Callable[[], str]]:
    """configure_logging at DEBUG into a buffer for the test; the root logger restored after."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    uvicorn = {name: logging.getLogger(name) for name in ("uvicorn", "uvicorn.access")}
    kept = {name: (list(lg.handlers), lg.propagate) for name, lg in uvicorn.items()}
    stream = io.StringIO()
    handler = configure_logging(format="json", level="DEBUG", stream=stream)
    try:
        yield stream.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, (handlers, propagate) in kept.items():
            uvicorn[name].handlers[:] = handlers
            uvicorn[name].propagate = propagate


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_lines_carry_the_correlation_id_and_extras(logged: Callable[[], str]) -> None:
    logger = logging.getLogger("tests.json")
    logger.info("outside")
    token = set_correlation_id("delivery-1")
    try:
        logger.warning("inside %s", "a delivery", extra={"project_id": 42})
    finally:
        reset_correlation_id(token)
    outside, inside = json_lines(logged())[-2:]
    assert "correlation_id" not in outside
    assert inside["correlation_id"] == "delivery-1"
    assert (inside["level"], inside["logger"], inside["message"]) == (
        "WARNING",
        "tests.json",
        "inside a delivery",
    )
    assert inside["project_id"] == 42
    assert inside["timestamp"].endswith("Z")
    assert time.time() - _epoch(inside["timestamp"]) < 60


def _epoch(timestamp: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_text_lines() -> None:
    record = logging.LogRecord("bot.webhook", logging.INFO, __file__, 1, "queued %s", ("x",), None)
    record.correlation_id = "delivery-2"
    line = TextFormatter().format(record)
    assert line.endswith(" INFO bot.webhook [delivery-2] queued x")


def test_configure_logging_replaces_only_its_own_handler(logged: Callable[[], str]) -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        ours = [h for h in root.handlers if getattr(h, "_cellsbot", False)]
        assert len(ours) == 1
        again = configure_logging(format="text", level="INFO", stream=io.StringIO())
        assert [h for h in root.handlers if getattr(h, "_cellsbot", False)] == [again]
        assert other in root.handlers
        root.removeHandler(again)
    finally:
        root.removeHandler(other)
    with pytest.raises(ValueError, match="json or text"):
        configure_logging(format="xml")


# --- one delivery, end to end ---------------------------------------------------------------


def with_password(url: str) -> str:
    """The test database's connection string with a password (the test server trusts local
    connections, so it checks none, but every process gets it in its settings)."""
    return psycopg.conninfo.make_conninfo(url, password=DB_PASSWORD)


def deliver(receiver: str, payload: dict[str, Any], event_uuid: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = hook_headers(MERGE_REQUEST_HOOK, token=SECRET, event_uuid=event_uuid)
    headers |= sign(body, webhook_id=f"msg_{event_uuid}")
    return httpx.post(f"{receiver}/webhooks/gitlab", content=body, headers=headers, timeout=10)


def _repository(fake: FakeGitLab, tmp_path: Path) -> tuple[int, int, int]:
    """The example's schema change with a migration version, as an open MR by a Maintainer:
    (project, iid, the MR's author)."""
    repo_dir, base, _ = create_example(tmp_path / "example")
    repo = GitRepo(repo_dir)
    repo.git("checkout", "--quiet", "-B", "main", base)
    fake.add_user("cellsbot", BOT_TOKEN, bot=True)
    alice = fake.add_user("alice", HUMAN_TOKEN)
    project = fake.add_project("acme/app", repo_dir)
    fake.add_member(project, alice, MAINTAINER)
    repo.git("checkout", "--quiet", "-b", "schema-change", "main")
    files = {
        path: (EXAMPLE / "head" / path).read_text()
        for path in ("db/structure.sql", "db/docs/issue_user_mentions.yml")
    }
    repo.commit(files | {f"db/schema_migrations/{VERSION}": "done\n"})
    iid = fake.open_mr(
        project, author_id=alice, source_branch="schema-change", target_branch="main"
    )
    return project, iid, alice


def test_one_delivery_is_followed_by_its_id_and_no_secret_is_ever_logged(
    fake_gitlab: FakeGitLab, tmp_path: Path, fresh_database: str, logged, monkeypatch
) -> None:
    require_redis()
    monkeypatch.setattr(logging.getLogger("psycopg"), "level", logging.DEBUG)  # else WARNING
    for logger in ("urllib3", "gitlab", "httpx", "httpcore", "celery", "psycopg"):
        assert logging.getLogger(logger).getEffectiveLevel() == logging.DEBUG
    project, iid, alice = _repository(fake_gitlab, tmp_path)
    database = with_password(fresh_database)
    with psycopg.connect(database) as conn:  # the password is really in use, and harmless
        conn.execute("SELECT 1")
    monkeypatch.setenv("TEST_TOPOLOGY_ADMIN_TOKEN", ADMIN_TOKEN)
    topology = RunningServer(database, cluster_text=cluster_text())
    metrics_port = free_port()
    env = coordinating_env(
        tmp_path,
        gitlab_url=fake_gitlab.url,
        gitlab_token=BOT_TOKEN,
        database=database,
        topology=(topology.url, ADMIN_TOKEN),
    ) | {
        "CELLSBOT_LOG_LEVEL": "DEBUG",
        "CELLSBOT_LOG_FORMAT": "json",
        "CELLSBOT_WORKER_METRICS_PORT": str(metrics_port),
    }
    webhook = WebhookSettings(webhook_secret=[SECRET], webhook_signing_key=WHSEC)
    review_id, merge_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        with running_bot(env, webhook, monkeypatch) as running:
            answer = deliver(running.url, merge_request_hook(fake_gitlab, project, iid), review_id)
            assert answer.status_code == 202, answer.text
            assert answer.headers["x-correlation-id"] == review_id
            wait_for(
                lambda: fake_gitlab.statuses(
                    project, fake_gitlab.merge_request(project, iid)["sha"]
                ),
                "the review",
            )
            fake_gitlab.merge_mr(project, iid, merged_by=alice)
            merged = merge_request_hook(fake_gitlab, project, iid, action="merge")
            assert deliver(running.url, merged, merge_id).status_code == 202
            wait_for(lambda: "created rollout" in logged(), "the rollout")
            scraped = wait_for(
                lambda: _scrape_worker(metrics_port, "cellsbot.merge_request_state"), "the metrics"
            )
    finally:
        topology.stop()
    output = running.worker_output

    here, there = json_lines(logged()), json_lines(output)
    assert there, output[-3000:]
    # the receiver (this process) logged the delivery under its id
    assert any(
        line["logger"] == "bot.webhook" and line.get("correlation_id") == review_id for line in here
    )
    # the worker: the task's own lines, GitLab's HTTP lines (urllib3) and Celery's
    mine = [line for line in there if line.get("correlation_id") == review_id]
    loggers = {line["logger"] for line in mine}
    assert {"urllib3.connectionpool", "celery.app.trace"} <= loggers, loggers
    assert all(
        line.get("task") == "cellsbot.review"
        for line in mine
        if line["logger"] != "celery.app.trace"
    )
    # the Topology Service (this process) logged the merge's coordination call under its id
    created = [line for line in here if "created rollout" in line["message"]]
    assert [line.get("correlation_id") for line in created] == [merge_id]
    # and nothing anywhere shows a secret
    secrets = {
        "GitLab token": BOT_TOKEN,
        "webhook secret": SECRET,
        "signing key": WHSEC.removeprefix("whsec_"),
        "signing key bytes": base64.b64encode(SIGNING_KEY).decode(),
        "Topology admin token": ADMIN_TOKEN,
        **{f"cell {cell} token": token for cell, token in CELL_TOKENS.items()},
        "database password": DB_PASSWORD,
    }
    for what, secret in secrets.items():
        assert secret not in logged(), f"the {what} is in this process's log"
        assert secret not in output, f"the {what} is in the worker's log"
    # the worker's metrics, from its own server
    tasks = "cellsbot_worker_tasks_total"
    assert scraped[tasks, _labels(task="cellsbot.review", outcome="succeeded")] >= 1
    assert scraped[tasks, _labels(task="cellsbot.merge_request_state", outcome="succeeded")] == 1
    reviews = "cellsbot_worker_review_duration_seconds_count"
    assert scraped[reviews, _labels(outcome="published")] >= 1
    calls = "cellsbot_gitlab_requests_total"
    notes = "/projects/:id/merge_requests/:iid/notes"
    assert scraped[calls, _labels(method="POST", endpoint=notes, status="201")] >= 1


def _labels(**labels: str) -> frozenset:
    return frozenset(labels.items())


def _scrape_worker(port: int, task: str) -> dict[tuple[str, frozenset], float] | None:
    """The worker's samples, once `task` has run: (name, labels) -> value."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return None
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    if not found.get(("cellsbot_worker_tasks_total", _labels(task=task, outcome="succeeded"))):
        return None
    assert any(name == "cellsbot_gitlab_requests_total" for name, _ in found)
    assert any(name == "cellsbot_worker_queue_depth" for name, _ in found)
    return found


# --- tracing --------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[Any]:
    """Tracing on, into the SDK's in-memory exporter, for the apps this test creates."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_tracer_provider(None)
        provider.shutdown()


def _message(folder: Path) -> dict[str, Any]:
    """The one task message on the file broker: headers and body (args, kwargs, embed)."""
    (path,) = folder.glob("*.msg")
    envelope = json.loads(path.read_text())
    args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
    return {"task": envelope["headers"]["task"], "args": args, "kwargs": kwargs}


def test_one_delivery_is_one_trace_from_the_webhook_to_gitlab(
    fake_gitlab: FakeGitLab, tmp_path: Path, spans, monkeypatch
) -> None:
    setup = MergeRequestSetup(fake_gitlab, tmp_path)
    env = {
        "CELLSBOT_DATA_DIR": str(tmp_path / "data"),
        "CELLSBOT_CACHE_DIR": str(tmp_path / "cache"),
        "CELLSBOT_QUEUE": "traced",
        "CELLSBOT_GITLAB_URL": fake_gitlab.url,
        "CELLSBOT_GITLAB_TOKEN": BOT_TOKEN,
    }
    for name in ("CELLSBOT_BROKER_URL", "CELLSBOT_REDIS_URL", "CELLSBOT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = BotSettings()
    app = create_service_app(
        create_celery(settings), bot=settings, webhook=WebhookSettings(webhook_secret=[SECRET])
    )
    delivery = str(uuid.uuid4())
    payload = merge_request_hook(fake_gitlab, setup.project, setup.iid)
    headers = hook_headers(MERGE_REQUEST_HOOK, token=SECRET, event_uuid=delivery)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            return await client.post("/webhooks/gitlab", json=payload, headers=headers)

    import asyncio  # noqa: PLC0415

    spans.clear()  # the setup's own GitLab calls
    assert asyncio.run(post()).status_code == 202
    message = _message(tmp_path / "data" / "broker" / "queue")
    assert message["task"] == "cellsbot.review"
    assert message["kwargs"]["correlation_id"] == delivery
    assert message["kwargs"]["trace_context"]["traceparent"].startswith("00-")

    # the worker's part, in this process: the task as a worker runs it, from that message
    from worker import tasks  # noqa: PLC0415

    tasks.runtime.cache_clear()
    try:
        result = tasks.review.apply(args=message["args"], kwargs=message["kwargs"]).get()
    finally:
        tasks.runtime.cache_clear()
    assert result["status"] == "published"

    finished = spans.get_finished_spans()
    assert len({span.context.trace_id for span in finished}) == 1  # one trace
    by_name = {span.name: span for span in finished}
    server = by_name["POST /webhooks/gitlab"]  # FastAPI's own server span
    received = by_name["webhook delivery"]
    task = by_name["task cellsbot.review"]
    assert received.parent.span_id == server.context.span_id
    assert task.parent.span_id == received.context.span_id  # through the message
    assert received.attributes["cellsbot.correlation_id"] == delivery
    gitlab_calls = [span for span in finished if span.name.startswith("GitLab ")]
    assert "GitLab GET /projects/:id/merge_requests/:iid" in by_name
    assert "GitLab POST /projects/:id/merge_requests/:iid/notes" in by_name
    ids = {span.context.span_id: span for span in finished}

    def under_task(span: Any) -> bool:
        while span.parent is not None:
            if span.parent.span_id == task.context.span_id:
                return True
            span = ids[span.parent.span_id]
        return False

    assert gitlab_calls
    assert all(under_task(span) for span in gitlab_calls)  # blob reads in threads included
    assert all(span.attributes["http.response.status_code"] < 500 for span in gitlab_calls)


def test_topology_calls_are_traced_on_both_sides(fresh_database: str, spans) -> None:
    from topology.client import TopologyClient  # noqa: PLC0415

    server = RunningServer(fresh_database)  # created with tracing on
    try:
        with (
            TopologyClient(server.url, "admin-token-0123456789-abcdef") as admin,
            tracing.span("a task"),
        ):
            admin.get_cell(1)
    finally:
        server.stop()
    by_name = {span.name: span for span in spans.get_finished_spans()}
    client = by_name["Topology GET /v1/cells/:id"]
    served = by_name["GET /v1/cells/{cell_id}"]
    assert served.parent.span_id == client.context.span_id
    assert served.context.trace_id == by_name["a task"].context.trace_id


def test_tracing_needs_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # not installed
    with pytest.raises(tracing.TracingUnavailable, match=r"cellsbot\[tracing\]"):
        tracing.configure_tracing("http://collector:4318", service_name="test")
    assert not tracing.enabled()
    assert tracing.configure_tracing(None, service_name="test") is False


def test_without_an_endpoint_nothing_of_the_sdk_is_loaded() -> None:
    """Not our tracer, not the exporter (redis-py loads the SDK's metrics for itself when the
    SDK is installed: not ours to avoid)."""
    code = (
        "import sys\n"
        "from worker.service import create_service_app\n"
        "from worker.celery_app import create_celery\n"
        "from topology.api.app import create_app\n"
        "from topology.cluster import Cluster\n"
        "from topology.settings import TopologySettings\n"
        "from bot.settings import BotSettings\n"
        "from bot.webhook import WebhookSettings\n"
        "import tempfile\n"
        "settings = BotSettings(data_dir=tempfile.mkdtemp())\n"
        "create_service_app(create_celery(settings), bot=settings,"
        " webhook=WebhookSettings(webhook_secret=['s' * 20]))\n"
        "create_app(TopologySettings(), cluster=Cluster((), ()))\n"
        "import worker.tasks\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk.trace',"
        " 'opentelemetry.exporter'))]\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLSBOT_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
