"""The review bot's GitLab webhook receiver: authenticate, decide, enqueue, answer.

GitLab waits at most 10 s and counts slow or failed answers against the hook (4 in a row
disable it for a while), so the receiver never analyses anything: it turns a delivery into a
`ReviewJob`, hands it to the intake (bot.intake) and answers. Answers:

- 202 `{"status": "queued", "job": …}`: a job was enqueued;
- 200 `{"status": "ignored", "reason": …}` / `{"status": "duplicate"}`: nothing to do;
- 400 / 422 / 413 / 401 `{"error": …, "detail": …}`: bad input, oversized, not GitLab;
- 503: the job could not be enqueued (the only 5xx, so that GitLab delivers again).

Every answer to a delivery carries its correlation id in `X-Correlation-Id`: the delivery's
`X-Gitlab-Event-UUID`, else its `Idempotency-Key`, else a new UUID. The receiver's log lines
carry it, and so does the job's task message (worker.service). `GET /metrics` serves the
receiver's Prometheus metrics (bot.metrics), without authentication, like `GET /healthz`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Annotated, Any

import pydantic_core
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.dedupe import dedupe_key
from bot.events import HANDLED_EVENTS, Delivery, Ignored, PayloadError, ReviewJob, decide
from bot.intake import Intake
from bot.metrics import DUPLICATE, IGNORED, QUEUED, ReceiverMetrics, event_label
from bot.webhook_auth import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOKEN_HEADER,
    AuthError,
    WebhookAuth,
    decode_signing_key,
)
from topology.observability import tracing
from topology.observability.context import (
    CORRELATION_HEADER,
    accepted,
    correlation_id,
    new_correlation_id,
    set_correlation_id,
)
from topology.observability.logs import register_secrets
from topology.observability.metrics import metrics_endpoint

__all__ = [
    "ReviewJob",
    "WebhookError",
    "WebhookSettings",
    "create_webhook_app",
]

_log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/gitlab"
METRICS_PATH = "/metrics"
_CORRELATION_HEADER = CORRELATION_HEADER.lower().encode()
MIB = 1 << 20
_USERNAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")
_CONTENT_LENGTH = re.compile(r"\d{1,19}")
_MAX_ECHOED = 100  # characters of a sender's header value we repeat in an answer


class WebhookSettings(BaseSettings):
    """The receiver's settings, from the environment (CELLSBOT_…)."""

    model_config = SettingsConfigDict(env_prefix="CELLSBOT_", env_ignore_empty=True, extra="ignore")

    #: GitLab's secret token; comma-separated to accept the old and the new one while rotating
    webhook_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    #: Standard Webhooks signing token (`whsec_<base64>`); when set, signatures are required
    webhook_signing_key: SecretStr | None = None
    #: bytes; GitLab's merge request and note payloads are a few KiB
    webhook_max_body: PositiveInt = MIB
    #: seconds a signature's timestamp may be off (either way)
    webhook_timestamp_tolerance: PositiveInt = 300
    #: seconds `enqueue` may take before the delivery is answered 503 (GitLab waits 10 s)
    webhook_enqueue_timeout: PositiveFloat = 5.0
    #: the GitLab account the bot posts as: `@<bot_username> recheck`, and its notes are ignored
    bot_username: str = "cellsbot"
    #: seconds a delivery is remembered, so its redeliveries are dropped
    dedupe_ttl: PositiveInt = 24 * 3600

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        """Comma-separated, "old,new" → ["old", "new"]; blanks are dropped later (a trailing
        comma must not add an empty secret)."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [item.strip() if isinstance(item, str) else item for item in value]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _drop_blank_secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        return [secret for secret in value if secret.get_secret_value().strip()]

    @field_validator("webhook_signing_key")
    @classmethod
    def _check_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        """A key that cannot be decoded must stop the start, not fail every delivery."""
        if value is not None:
            decode_signing_key(value.get_secret_value())
        return value

    @field_validator("bot_username", mode="before")
    @classmethod
    def _normalize_username(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().removeprefix("@")
            if not _USERNAME.fullmatch(value):
                raise ValueError("bot_username is not a GitLab username")
        return value

    @model_validator(mode="after")
    def _replays_stay_deduped(self) -> WebhookSettings:
        """A signed delivery replayed within the timestamp tolerance is only caught by the
        seen-set, so the seen-set must remember it at least that long."""
        if self.dedupe_ttl < self.webhook_timestamp_tolerance:
            raise ValueError("dedupe_ttl must be at least webhook_timestamp_tolerance")
        return self

    def signing_key_bytes(self) -> bytes | None:
        key = self.webhook_signing_key
        return decode_signing_key(key.get_secret_value()) if key is not None else None


class WebhookError(Exception):
    """An answer other than 2xx: `{"error": error, "detail": detail}` with `status`."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail

    def body(self) -> bytes:
        return pydantic_core.to_json({"error": self.error, "detail": self.detail})


def create_webhook_app(
    settings: WebhookSettings, intake: Intake, *, metrics: ReceiverMetrics | None = None
) -> FastAPI:
    """The receiver: `POST /webhooks/gitlab`, `GET /healthz` and `GET /metrics`.

    `intake` records each delivery and enqueues its job. Raises ValueError when neither a
    webhook secret nor a signing key is configured: the receiver never runs open."""
    secrets = [secret.get_secret_value() for secret in settings.webhook_secret]
    signing_key = settings.webhook_signing_key
    register_secrets(*secrets, signing_key.get_secret_value() if signing_key else None)
    auth = WebhookAuth(
        secrets, settings.signing_key_bytes(), tolerance=settings.webhook_timestamp_tolerance
    )
    metrics = metrics if metrics is not None else ReceiverMetrics()
    traced = tracing.enabled()
    receiver = _Receiver(settings, auth, intake, metrics, traced=traced)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await intake.aclose()

    app = _WebhookApp(
        # with tracing on, deliveries go through FastAPI, whose server span is their parent
        direct=None if traced else receiver,
        lifespan=lifespan,
        title="cellsbot GitLab webhook receiver",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=tracing.fastapi_telemetry(),
    )
    _install_errors(app)
    # the receiver is an ASGI app of its own (it reads the request and answers every error
    # itself), routed here for the other methods' 405 and for the traced path
    app.router.routes.append(Route(WEBHOOK_PATH, receiver, methods=["POST"]))
    app.add_api_route("/healthz", _healthz, methods=["GET"])
    app.router.routes.append(
        Route(METRICS_PATH, metrics_endpoint(metrics.registry), methods=["GET"])
    )
    app.state.metrics = metrics
    return app


class _WebhookApp(FastAPI):
    """FastAPI, but `POST /webhooks/gitlab` goes straight to the receiver when `direct` is
    set: FastAPI's middleware stack and router cost about a fifth of a delivery's time, and
    the receiver needs none of them (it answers its errors itself)."""

    def __init__(self, *, direct: ASGIApp | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._direct is not None
            and scope["type"] == "http"
            and scope["path"] == WEBHOOK_PATH
            and scope["method"] == "POST"
        ):
            await self._direct(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _healthz() -> dict[str, str]:
    """The process is alive (the queue's health is the worker's business)."""
    return {"status": "alive"}


#: the request headers the receiver reads (ASGI servers give names in lower case)
_READ_HEADERS = {
    name.encode(): name
    for name in (
        "x-gitlab-event",
        "x-gitlab-event-uuid",
        "idempotency-key",
        TOKEN_HEADER,
        ID_HEADER,
        TIMESTAMP_HEADER,
        SIGNATURE_HEADER,
    )
}
_CONTENT_LENGTH_HEADER = b"content-length"
_JSON_HEADER = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class _Request:
    """What the receiver reads of a delivery's request: the first value of each header it
    reads (decoded as latin-1, as Starlette does), every Content-Length, the client."""

    headers: dict[str, str]
    content_lengths: list[str]
    client: str
    receive: Receive

    @classmethod
    def of(cls, scope: Scope, receive: Receive) -> _Request:
        headers: dict[str, str] = {}
        lengths: list[str] = []
        for raw_name, raw_value in scope["headers"]:
            if raw_name == _CONTENT_LENGTH_HEADER:
                lengths.append(raw_value.decode("latin-1"))
            elif (name := _READ_HEADERS.get(raw_name)) is not None and name not in headers:
                headers[name] = raw_value.decode("latin-1")
        client = scope.get("client")
        return cls(headers, lengths, client[0] if client else "?", receive)


@dataclass
class _Receiver:
    """`POST /webhooks/gitlab`, a plain ASGI app: a delivery's answer, errors included, is
    written here, so that it is the same whichever way the request came."""

    settings: WebhookSettings
    auth: WebhookAuth
    intake: Intake
    metrics: ReceiverMetrics
    traced: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Take the delivery's correlation id, handle it, count it, and answer with the id."""
        started = perf_counter()
        request = _Request.of(scope, receive)
        headers = request.headers
        event_uuid = headers.get("x-gitlab-event-uuid") or None
        idempotency_key = headers.get("idempotency-key")
        found = accepted(event_uuid) or accepted(idempotency_key) or new_correlation_id()
        # not reset afterwards: each request runs in a context of its own, and the server's
        # access log line, written while the answer is sent, should carry the id too
        set_correlation_id(found)
        event_header = headers.get("x-gitlab-event")
        event = event_label(event_header)
        handle = self._handle_traced if self.traced else self._handle
        try:
            outcome, status, body = await handle(request, event_header, event_uuid, idempotency_key)
        except WebhookError as error:
            self.metrics.refused(event, error.error, error.status, perf_counter() - started)
            status, body = error.status, error.body()
        except Exception:
            _log.exception("the webhook delivery failed")
            self.metrics.refused(event, "internal", 500, perf_counter() - started)
            status, body = 500, _INTERNAL_ERROR
        else:
            self.metrics.delivered(event, outcome, perf_counter() - started)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    _JSON_HEADER,
                    (b"content-length", str(len(body)).encode()),
                    (_CORRELATION_HEADER, found.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self,
        request: _Request,
        event_header: str | None,
        event_uuid: str | None,
        idempotency_key: str | None,
    ) -> tuple[str, int, bytes]:
        """Authenticate (the token before reading anything), read at most the limit, verify
        the signature, then decide and enqueue: (outcome, status, answer)."""
        headers = request.headers
        self._authenticate(lambda: self.auth.check_token(headers.get(TOKEN_HEADER)), request)
        body = await read_limited_body(request, self.settings.webhook_max_body)
        self._authenticate(lambda: self.auth.check_signature(headers, body), request)
        event = (event_header or "").strip()
        if not event:
            raise WebhookError(400, "missing_event", "the X-Gitlab-Event header is missing")
        if event not in HANDLED_EVENTS:
            return _ignored(f"{event[:_MAX_ECHOED]!r} events are not handled")
        delivery = Delivery(
            event=event,
            event_uuid=event_uuid,
            delivered_at=datetime.now(UTC),
            bot_username=self.settings.bot_username,
        )
        try:
            decision = decide(body, delivery)
        except PayloadError as error:
            parse_json_object(body)  # 400 when the body is not JSON or not an object
            raise WebhookError(422, "invalid_payload", error.problems) from None
        if isinstance(decision, Ignored):
            _log.debug("ignored %s: %s", event, decision.reason)
            return _ignored(decision.reason)
        key = dedupe_key(
            decision, event, idempotency_key=idempotency_key, event_uuid=delivery.event_uuid
        )
        return await self._enqueue_once(key, decision)

    async def _handle_traced(
        self,
        request: _Request,
        event_header: str | None,
        event_uuid: str | None,
        idempotency_key: str | None,
    ) -> tuple[str, int, bytes]:
        """`_handle` in a span; a refusal (4xx) is an answer, not a failure of the span."""
        attributes = {
            "gitlab.event": event_header or "",
            "cellsbot.correlation_id": correlation_id() or "",
        }
        with tracing.span("webhook delivery", attributes=attributes) as span:
            try:
                answer = await self._handle(request, event_header, event_uuid, idempotency_key)
            except WebhookError as error:
                if span is not None:
                    span.set_attribute("cellsbot.outcome", error.error)
                    span.set_attribute("http.response.status_code", error.status)
                    if error.status >= 500:
                        tracing.fail(span, error.error)
                refused = error
            else:
                if span is not None:
                    span.set_attribute("cellsbot.outcome", answer[0])
                return answer
        raise refused

    def _authenticate(self, check: Callable[[], None], request: _Request) -> None:
        try:
            check()
        except AuthError as error:
            _log.warning("rejected a webhook delivery from %s: %s", request.client, error.reason)
            raise WebhookError(401, "unauthorized", error.reason) from None

    async def _enqueue_once(self, key: str, job: ReviewJob) -> tuple[str, int, bytes]:
        """Record the delivery and enqueue its job (one step: see bot.intake); 503 when that
        fails or hangs, so that GitLab delivers again."""
        try:
            first = await self.intake.submit(
                key, self.settings.dedupe_ttl, job, timeout=self.settings.webhook_enqueue_timeout
            )
        except Exception:  # the seen-set or the queue is down or hung: nothing was accepted
            _log.exception(
                "could not enqueue %s job for %s !%s", job.kind, job.project_path, job.mr_iid
            )
            raise WebhookError(503, "unavailable", "cannot enqueue the job; retry") from None
        if not first:
            _log.debug("duplicate delivery of %s !%s (%s)", job.project_path, job.mr_iid, key)
            return DUPLICATE, 200, _DUPLICATE
        # debug: one line per delivery would cost the hot path more than the rest of it; the
        # metrics count deliveries, and the server's access log (with the id) lists them
        _log.debug(
            "queued %s job for %s !%s at %s",
            job.kind,
            job.project_path,
            job.mr_iid,
            (job.head_sha or "-")[:12],
        )
        return QUEUED, 202, b'{"status":"queued","job":' + job.to_json() + b"}"


_DUPLICATE = b'{"status":"duplicate"}'
_INTERNAL_ERROR = b'{"error":"internal","detail":null}'


def _ignored(reason: str) -> tuple[str, int, bytes]:
    return IGNORED, 200, pydantic_core.to_json({"status": "ignored", "reason": reason})


async def read_limited_body(request: _Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes: from
    Content-Length before reading anything, else while counting the streamed chunks."""
    lengths = set(request.content_lengths)
    if len(lengths) > 1 or any(not _CONTENT_LENGTH.fullmatch(v.strip()) for v in lengths):
        raise WebhookError(400, "bad_content_length", "invalid Content-Length header")
    if lengths and int(lengths.pop()) > limit:
        raise WebhookError(413, "payload_too_large", {"limit": limit})
    body = bytearray()
    while True:
        message = await request.receive()
        if message["type"] != "http.request":  # http.disconnect
            raise WebhookError(400, "client_disconnected", "the body ended early")
        body += message.get("body", b"")
        if len(body) > limit:
            raise WebhookError(413, "payload_too_large", {"limit": limit})
        if not message.get("more_body", False):
            return bytes(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object, or 400: not JSON (NaN, nesting deeper than 200, numbers out of range
    included), or JSON that is not an object."""
    try:
        payload = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise WebhookError(400, "malformed_json", str(error)[:200]) from None
    if not isinstance(payload, dict):
        raise WebhookError(400, "not_an_object", f"the body is a JSON {type(payload).__name__}")
    return payload


def _install_errors(app: FastAPI) -> None:
    """Every answer that is not 2xx is `{"error": …, "detail": …}`, FastAPI's own included
    (the receiver writes its own)."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in error.errors()]
        return JSONResponse({"error": "invalid_request", "detail": detail}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        names = {404: "not_found", 405: "method_not_allowed"}
        name = names.get(error.status_code, "http_error")
        body = {"error": name, "detail": error.detail}
        return JSONResponse(body, error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal", "detail": None}, 500)
