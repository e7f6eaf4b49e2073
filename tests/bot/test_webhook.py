"""The GitLab webhook receiver, driven over HTTP (httpx's ASGI transport) as GitLab drives it:
authentication, body limits, bad input, the event rules, dedupe and enqueue failures."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from fastapi import FastAPI

from bot import webhook
from bot.dedupe import Deduplicator, MemoryDeduplicator, RedisDeduplicator, dedupe_key
from bot.events import ReviewJob, find_command
from bot.intake import DedupeIntake
from bot.webhook import WebhookSettings, create_webhook_app
from tests.conftest import REDIS_URL

URL = "/webhooks/gitlab"
MR, NOTE, PUSH = "Merge Request Hook", "Note Hook", "Push Hook"
SECRET, OLD_SECRET = "tok-new-5c1d9e", "tok-old-77ab20"
SIGNING_KEY = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(SIGNING_KEY).decode()
HEAD = "1f0e4bc1a7a3c9a2b1f3e5d7c9b0a1f2e3d4c5b6"
OLDREV = "0a9b8c7d6e5f40312233445566778899aabbccdd"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CELLSBOT_… variables must not change what these tests configure."""
    for name in list(os.environ):
        if name.startswith(("CELLSBOT_WEBHOOK_", "CELLSBOT_BOT_", "CELLSBOT_DEDUPE_")):
            monkeypatch.delenv(name)


# --- payloads (small inline ones; the corpus tests below use GitLab's documented ones) ---


def mr_payload(
    action: str = "open",
    *,
    project_id: int = 42,
    iid: int = 7,
    sha: str = HEAD,
    oldrev: str | None = None,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "id": 900,
        "iid": iid,
        "action": action,
        "state": "opened",
        "source_branch": "feature/x",
        "target_branch": "main",
        "draft": False,
        "last_commit": {"id": sha, "message": "add column"},
    }
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 3, "username": "alice"},
        "project": {"id": project_id, "path_with_namespace": "acme/shop"},
        "object_attributes": attributes,
        "changes": changes if changes is not None else {},
    }


def note_payload(
    note: str = "@cellsbot recheck",
    *,
    username: str = "alice",
    system: bool = False,
    noteable_type: str = "MergeRequest",
    action: str = "create",
    note_id: int = 501,
) -> dict[str, Any]:
    return {
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": 3, "username": username},
        "project_id": 42,
        "project": {"id": 42, "path_with_namespace": "acme/shop"},
        "object_attributes": {
            "id": note_id,
            "note": note,
            "noteable_type": noteable_type,
            "system": system,
            "action": action,
            "author_id": 3,
        },
        "merge_request": {
            "id": 900,
            "iid": 7,
            "target_branch": "main",
            "state": "opened",
            "last_commit": {"id": HEAD, "message": "add column"},
        },
    }


# --- a receiver and a client for it ---


async def _request(
    app: FastAPI, headers: dict[str, str], content: bytes | AsyncIterator[bytes]
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        return await client.post(URL, headers=headers, content=content)


@dataclass
class Receiver:
    app: FastAPI
    jobs: list[ReviewJob] = field(default_factory=list)

    def post(
        self,
        payload: Any = None,
        *,
        event: str | None = MR,
        token: str | None = SECRET,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One delivery, in a fresh event loop (so threads can deliver concurrently)."""
        sent = {"X-Gitlab-Event": event} if event is not None else {}
        if token is not None:
            sent["X-Gitlab-Token"] = token
        sent.update(headers or {})
        body = content if content is not None else json.dumps(payload).encode()
        return asyncio.run(_request(self.app, sent, body))

    def queued(self, payload: Any, **kwargs: Any) -> ReviewJob:
        """Deliver, expect 202, and return the one job enqueued (checked against the answer)."""
        before = len(self.jobs)
        response = self.post(payload, **kwargs)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        assert len(self.jobs) == before + 1
        job = self.jobs[-1]
        assert response.json()["job"] == json.loads(job.to_json())
        return job

    def ignored(self, payload: Any, **kwargs: Any) -> str:
        before = len(self.jobs)
        response = self.post(payload, **kwargs)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ignored"
        assert len(self.jobs) == before
        return response.json()["reason"]


def make_settings(**overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "webhook_secret": f"{SECRET},{OLD_SECRET}",
        "bot_username": "cellsbot",
    }
    return WebhookSettings(**(values | overrides))


def make_receiver(
    *,
    enqueue: Callable[[ReviewJob], None] | None = None,
    dedupe: Deduplicator | None = None,
    routed: bool = False,
    **settings: Any,
) -> Receiver:
    """A receiver whose deliveries go straight to it, or (`routed`) through FastAPI's
    middleware and router, as they do when tracing is on."""
    receiver = Receiver(app=FastAPI())
    intake = DedupeIntake(dedupe or MemoryDeduplicator(), enqueue or receiver.jobs.append)
    with pytest.MonkeyPatch.context() as patch:
        if routed:
            patch.setattr(webhook.tracing, "enabled", lambda: True)
        receiver.app = create_webhook_app(make_settings(**settings), intake)
    return receiver


@pytest.fixture(params=["direct", "routed"])
def receiver(request: pytest.FixtureRequest) -> Receiver:
    """Each test of a delivery runs both ways: the answers must not depend on the way."""
    return make_receiver(routed=request.param == "routed")


def sign(
    body: bytes,
    *,
    webhook_id: str = "msg_2b1",
    timestamp: int | None = None,
    key: bytes = SIGNING_KEY,
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, as GitLab 19 sends them."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


# --- settings and startup ---


def test_refuses_to_run_open() -> None:
    with pytest.raises(ValueError, match="refusing to run open"):
        create_webhook_app(WebhookSettings(), DedupeIntake(MemoryDeduplicator(), print))
    with pytest.raises(ValueError, match="refusing to run open"):  # blanks are no secret
        create_webhook_app(
            WebhookSettings(webhook_secret=" , "), DedupeIntake(MemoryDeduplicator(), print)
        )


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELLSBOT_WEBHOOK_SECRET", f" {OLD_SECRET} , {SECRET} ,")
    monkeypatch.setenv("CELLSBOT_WEBHOOK_SIGNING_KEY", WHSEC)
    monkeypatch.setenv("CELLSBOT_BOT_USERNAME", "@Review-Bot")
    settings = WebhookSettings()
    assert [s.get_secret_value() for s in settings.webhook_secret] == [OLD_SECRET, SECRET]
    assert settings.signing_key_bytes() == SIGNING_KEY
    assert settings.bot_username == "Review-Bot"
    assert (settings.webhook_max_body, settings.webhook_timestamp_tolerance) == (1 << 20, 300)
    assert settings.dedupe_ttl == 24 * 3600
    shown = f"{settings!r} {settings}"
    assert SECRET not in shown
    assert OLD_SECRET not in shown
    assert WHSEC.removeprefix("whsec_") not in shown


@pytest.mark.parametrize(
    "overrides",
    [
        {"webhook_signing_key": "whsec_not*base64"},
        {"webhook_signing_key": "whsec_"},
        {"bot_username": "two words"},
        {"webhook_max_body": 0},
        {"dedupe_ttl": 60, "webhook_timestamp_tolerance": 300},
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        make_settings(**overrides)


def test_healthz_needs_no_token(receiver: Receiver) -> None:
    response = asyncio.run(_get(receiver.app, "/healthz"))
    assert (response.status_code, response.json()) == (200, {"status": "alive"})


def test_other_routes_and_methods_answer_json(receiver: Receiver) -> None:
    missing = asyncio.run(_get(receiver.app, "/nowhere"))
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = asyncio.run(_get(receiver.app, URL))
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        return await client.get(path)


# --- the secret token ---


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing X-Gitlab-Token"),
        ("", "missing X-Gitlab-Token"),
        ("tok-new-5c1d9", "invalid X-Gitlab-Token"),  # a prefix of the secret
        (SECRET + "x", "invalid X-Gitlab-Token"),
        (SECRET.upper(), "invalid X-Gitlab-Token"),
    ],
)
def test_missing_or_wrong_token_is_401(receiver: Receiver, token: str | None, reason: str) -> None:
    response = receiver.post(mr_payload(), token=token)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": reason}
    assert receiver.jobs == []


@pytest.mark.parametrize("token", [SECRET, OLD_SECRET])
def test_each_secret_of_a_rotation_is_accepted(receiver: Receiver, token: str) -> None:
    job = receiver.queued(mr_payload(), token=token)
    assert (job.project_id, job.mr_iid, job.head_sha) == (42, 7, HEAD)


def test_the_token_is_checked_before_the_body_is_read(receiver: Receiver) -> None:
    """An unauthenticated sender learns nothing, not even the size limit."""
    response = receiver.post(None, token="guess", content=b"x" * (2 << 20))
    assert response.status_code == 401


# --- the Standard Webhooks signature ---


@pytest.fixture
def signed_receiver() -> Receiver:
    """Signature only (no secret token), as a hook with just a signing token configured."""
    return make_receiver(webhook_secret="", webhook_signing_key=WHSEC)


def test_a_valid_signature_is_accepted(signed_receiver: Receiver) -> None:
    body = json.dumps(mr_payload()).encode()
    job = signed_receiver.queued(None, token=None, content=body, headers=sign(body))
    assert (job.project_id, job.mr_iid, job.head_sha) == (42, 7, HEAD)


def test_timestamps_within_the_tolerance_are_accepted(signed_receiver: Receiver) -> None:
    for offset in (-290, 290):
        body = json.dumps(mr_payload(sha=f"{offset + 1000:040x}")).encode()
        headers = sign(body, timestamp=int(time.time()) + offset, webhook_id=f"msg_{offset}")
        signed_receiver.queued(None, token=None, content=body, headers=headers)


def _signature_failure(receiver: Receiver, body: bytes, headers: dict[str, str]) -> str:
    response = receiver.post(None, token=None, content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert receiver.jobs == []
    return response.json()["detail"]


def test_a_signature_by_another_key_is_401(signed_receiver: Receiver) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body, key=b"another key of thirty-two bytes!")
    assert _signature_failure(signed_receiver, body, headers) == "invalid webhook-signature"


def test_a_tampered_body_or_id_is_401(signed_receiver: Receiver) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body)
    tampered = body.replace(b'"iid": 7', b'"iid": 8')
    assert _signature_failure(signed_receiver, tampered, headers) == "invalid webhook-signature"
    other_id = headers | {"webhook-id": "msg_other"}
    assert _signature_failure(signed_receiver, body, other_id) == "invalid webhook-signature"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (-301, "webhook-timestamp is too old"),
        (-86400, "webhook-timestamp is too old"),
        (301, "webhook-timestamp is in the future"),
        (3600, "webhook-timestamp is in the future"),
    ],
)
def test_stale_or_future_timestamps_are_401(
    signed_receiver: Receiver, offset: int, reason: str
) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body, timestamp=int(time.time()) + offset)  # correctly signed, but replayed
    assert _signature_failure(signed_receiver, body, headers) == reason


@pytest.mark.parametrize("timestamp", ["", "12.5", "-1", "1e9", "now", "9" * 20])
def test_malformed_timestamps_are_401(signed_receiver: Receiver, timestamp: str) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body) | {"webhook-timestamp": timestamp}
    assert "webhook-timestamp" in _signature_failure(signed_receiver, body, headers)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_signature_headers_are_401(signed_receiver: Receiver, header: str) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body)
    del headers[header]
    assert "missing" in _signature_failure(signed_receiver, body, headers)


def test_one_valid_signature_among_several_is_enough(signed_receiver: Receiver) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body)
    wrong = sign(body, key=b"the sender's previous signing key")["webhook-signature"]
    asymmetric = "v1a,c2lnbmVkIGJ5IGFuIGFzeW1tZXRyaWMga2V5"
    entries = [asymmetric, "v1,not*base64", wrong, headers["webhook-signature"], "v2,AAAA"]
    headers["webhook-signature"] = " ".join(entries)
    signed_receiver.queued(None, token=None, content=body, headers=headers)


def test_several_signatures_none_valid_are_401(signed_receiver: Receiver) -> None:
    body = json.dumps(mr_payload()).encode()
    headers = sign(body)
    valid = headers["webhook-signature"].removeprefix("v1,")
    wrong = sign(body, key=b"the sender's previous signing key")["webhook-signature"]
    headers["webhook-signature"] = f"{wrong} v1a,{valid} v2,{valid} {valid}"  # right MAC, wrong tag
    assert _signature_failure(signed_receiver, body, headers) == "invalid webhook-signature"


def test_token_and_signature_are_both_required_when_both_are_configured() -> None:
    receiver = make_receiver(webhook_signing_key=WHSEC)
    body = json.dumps(mr_payload()).encode()
    assert receiver.post(None, token=None, content=body, headers=sign(body)).status_code == 401
    assert receiver.post(None, content=body).status_code == 401
    assert receiver.post(None, token="wrong", content=body, headers=sign(body)).status_code == 401
    receiver.queued(None, content=body, headers=sign(body))


# --- body size ---


def test_a_declared_oversized_body_is_413(receiver: Receiver) -> None:
    response = receiver.post(None, content=b"{" + b" " * (1 << 20) + b"}")
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "detail": {"limit": 1 << 20}}


def test_an_oversized_body_without_content_length_is_413(receiver: Receiver) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    async def deliver() -> httpx.Response:
        transport = httpx.ASGITransport(app=receiver.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r.test") as client:
            request = client.build_request(
                "POST", URL, headers={"X-Gitlab-Token": SECRET}, content=chunks()
            )
            assert "content-length" not in request.headers  # chunked
            return await client.send(request)

    response = asyncio.run(deliver())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_a_body_of_exactly_the_limit_is_read() -> None:
    receiver = make_receiver(webhook_max_body=4096)
    body = json.dumps(mr_payload()).encode()
    receiver.queued(None, content=body + b" " * (4096 - len(body)))
    assert receiver.post(None, content=body + b" " * (4097 - len(body))).status_code == 413


async def _raw_post(
    app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: Iterable[bytes]
) -> tuple[int, dict[str, Any], int]:
    """Status, JSON answer, and how many body bytes the app pulled from the connection."""
    source, pulled, sent = iter(chunks), 0, []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(source, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-gitlab-token", SECRET.encode()), *headers],
        "client": ("203.0.113.7", 40000),
        "server": ("receiver.test", 80),
    }
    await app(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body), pulled


def test_an_endless_body_is_not_read_past_the_limit(receiver: Receiver) -> None:
    chunk = b" " * 65536
    status, answer, pulled = asyncio.run(_raw_post(receiver.app, [], itertools.repeat(chunk)))
    assert (status, answer["error"]) == (413, "payload_too_large")
    assert pulled <= (1 << 20) + len(chunk)


def test_a_declared_oversized_body_is_not_read_at_all(receiver: Receiver) -> None:
    headers = [(b"content-length", b"1048577")]
    status, _, pulled = asyncio.run(_raw_post(receiver.app, headers, itertools.repeat(b" ")))
    assert (status, pulled) == (413, 0)


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1_000", b"+5", b"1e3", b"99999999999999999999"])
def test_an_invalid_content_length_is_400(receiver: Receiver, value: bytes) -> None:
    status, answer, _ = asyncio.run(_raw_post(receiver.app, [(b"content-length", value)], [b"{}"]))
    assert (status, answer["error"]) == (400, "bad_content_length")


def test_conflicting_content_lengths_are_400(receiver: Receiver) -> None:
    headers = [(b"content-length", b"2"), (b"content-length", b"3")]
    status, _, _ = asyncio.run(_raw_post(receiver.app, headers, [b"{}"]))
    assert status == 400


# --- bad input: 400 / 422, never 5xx ---


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "malformed_json"),
        (b"{", "malformed_json"),
        (b"not json", "malformed_json"),
        (b"{'single': 'quotes'}", "malformed_json"),
        (b'{"a": NaN}', "malformed_json"),
        (b'{"a": Infinity}', "malformed_json"),
        (b"[" * 50_000, "malformed_json"),
        (b'{"a":' * 50_000, "malformed_json"),
        (b"1" * 5000, "malformed_json"),
        (b"\xff\xfe\x00", "malformed_json"),
        (b'{"a": 1} trailing', "malformed_json"),
        (b"[]", "not_an_object"),
        (b"null", "not_an_object"),
        (b"42", "not_an_object"),
        (b'"a string"', "not_an_object"),
        (b"true", "not_an_object"),
    ],
)
def test_malformed_bodies_are_400(receiver: Receiver, body: bytes, error: str) -> None:
    response = receiver.post(None, content=body)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert receiver.jobs == []


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def _with(payload: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("event", "payload", "location"),
    [
        (MR, {}, "object_kind"),
        (MR, _without(mr_payload(), "project"), "project"),
        (MR, _without(mr_payload(), "object_attributes"), "object_attributes"),
        (MR, _without(mr_payload(), "object_attributes", "iid"), "object_attributes.iid"),
        (MR, _without(mr_payload(), "object_attributes", "action"), "object_attributes.action"),
        (MR, _with(mr_payload(), "7", "object_attributes", "iid"), "object_attributes.iid"),
        (MR, _with(mr_payload(), -7, "object_attributes", "iid"), "object_attributes.iid"),
        (MR, _with(mr_payload(), True, "object_attributes", "iid"), "object_attributes.iid"),
        (MR, _with(mr_payload(), None, "project", "id"), "project.id"),
        (MR, _with(mr_payload(), 42.5, "project", "id"), "project.id"),
        (MR, _with(mr_payload(), "", "project", "path_with_namespace"), "project"),
        (
            MR,
            _with(mr_payload(), "HEAD", "object_attributes", "last_commit", "id"),
            "object_attributes.last_commit.id",
        ),
        (MR, _with(mr_payload(), [], "changes"), "changes"),
        (MR, _with(mr_payload(), "note", "object_kind"), "object_kind"),
        (MR, note_payload(), "object_kind"),
        (NOTE, mr_payload(), "object_kind"),
        (NOTE, _without(note_payload(), "user"), "user"),
        (NOTE, _with(note_payload(), 5, "object_attributes", "note"), "object_attributes.note"),
        (
            NOTE,
            _with(note_payload(), "yes", "object_attributes", "system"),
            "object_attributes.system",
        ),
        (NOTE, _without(note_payload(), "merge_request"), "merge_request"),
        (NOTE, _with(note_payload(), {"iid": 7}, "merge_request"), "merge_request.target_branch"),
    ],
)
def test_payloads_without_needed_fields_are_422(
    receiver: Receiver, event: str, payload: dict[str, Any], location: str
) -> None:
    response = receiver.post(payload, event=event)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "invalid_payload"
    assert any(problem["loc"].startswith(location) for problem in answer["detail"]), answer
    assert receiver.jobs == []


def test_a_missing_event_header_is_400(receiver: Receiver) -> None:
    response = receiver.post(mr_payload(), event=None)
    assert (response.status_code, response.json()["error"]) == (400, "missing_event")


def _junk(rng: random.Random) -> Any:
    return rng.choice(
        [None, True, 0, -1, 2**70, 1.5, "", "x" * 300, "7", [], [1, "a"], {}, {"id": "z"}, "\x00"]
    )


def _mutations(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Valid payloads with one field replaced by junk, cut short, or with bytes flipped."""
    for _ in range(30):
        event, payload = rng.choice(
            [(MR, mr_payload(rng.choice(["open", "update"]))), (NOTE, note_payload())]
        )
        paths: list[tuple[str, ...]] = []
        _collect_paths(payload, (), paths)
        path = rng.choice(paths)
        yield event, json.dumps(_with(payload, _junk(rng), *path)).encode()
    for _ in range(15):
        body = json.dumps(rng.choice([mr_payload(), note_payload()])).encode()
        yield rng.choice([MR, NOTE]), body[: rng.randrange(len(body))]
    for _ in range(15):
        body = bytearray(json.dumps(mr_payload(oldrev=OLDREV, action="update")).encode())
        for _ in range(rng.randrange(1, 6)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        yield rng.choice([MR, NOTE]), bytes(body)


def _collect_paths(value: Any, prefix: tuple[str, ...], paths: list[tuple[str, ...]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            paths.append((*prefix, key))
            _collect_paths(child, (*prefix, key), paths)


def test_fuzzed_bodies_never_get_a_5xx(receiver: Receiver) -> None:
    rng = random.Random(20240611)
    seen = set()
    for event, body in _mutations(rng):
        response = receiver.post(None, event=event, content=body)
        assert response.status_code < 500, (event, body[:200], response.text)
        assert response.status_code in (200, 202, 400, 422), response.text
        answer = response.json()
        assert "status" in answer or {"error", "detail"} <= answer.keys()
        seen.add(response.status_code)
    assert {400, 422} <= seen  # the fuzzing reached both the parser and the validation


# --- the event rules ---


@pytest.mark.parametrize(
    ("action", "extra", "kind"),
    [
        ("open", {}, "review"),
        ("reopen", {}, "review"),
        ("update", {"oldrev": OLDREV}, "review"),
        ("update", {"changes": {"draft": {"previous": True, "current": False}}}, "review"),
        (
            "update",
            {"changes": {"work_in_progress": {"previous": True, "current": False}}},
            "review",
        ),
        ("merge", {}, "merged"),
        ("close", {}, "closed"),
    ],
)
def test_merge_request_events_that_make_a_job(
    receiver: Receiver, action: str, extra: dict[str, Any], kind: str
) -> None:
    uuid_header = {"X-Gitlab-Event-UUID": f"evt-{action}-{kind}"}
    job = receiver.queued(mr_payload(action, **extra), headers=uuid_header)
    assert job.kind == kind
    assert (job.project_id, job.project_path, job.mr_iid) == (42, "acme/shop", 7)
    assert (job.head_sha, job.target_branch, job.action) == (HEAD, "main", action)
    assert job.event_uuid == f"evt-{action}-{kind}"
    assert (job.command, job.note_id, job.author_username) == (None, None, None)
    assert job.delivered_at.tzinfo is not None
    assert abs((datetime.now(UTC) - job.delivered_at).total_seconds()) < 60


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("update", {}),  # title, labels, reviewers, …
        ("update", {"changes": {"labels": {"previous": [], "current": [{"title": "db"}]}}}),
        ("update", {"changes": {"title": {"previous": "a", "current": "b"}}}),
        ("update", {"changes": {"draft": {"previous": False, "current": True}}}),
        ("update", {"changes": {"draft": {"previous": "true", "current": "false"}}}),
        ("update", {"oldrev": ""}),
        ("approved", {}),
        ("unapproved", {}),
        ("approval", {}),
        ("unapproval", {}),
        ("some_future_action", {}),
    ],
)
def test_merge_request_events_that_are_ignored(
    receiver: Receiver, action: str, extra: dict[str, Any]
) -> None:
    assert receiver.ignored(mr_payload(action, **extra))


def test_update_with_new_commits_reviews_the_new_head(receiver: Receiver) -> None:
    new_head = "f" * 40
    job = receiver.queued(mr_payload("update", sha=new_head, oldrev=HEAD))
    assert job.head_sha == new_head


def test_a_merge_request_without_commits_is_not_reviewed(receiver: Receiver) -> None:
    payload = _with(mr_payload(), None, "object_attributes", "last_commit")
    assert receiver.ignored(payload) == "merge request has no commits"
    closed = receiver.queued(_with(payload, "close", "object_attributes", "action"))
    assert (closed.kind, closed.head_sha) == ("closed", None)


@pytest.mark.parametrize(
    ("note", "command"),
    [
        ("@cellsbot recheck", "recheck"),
        ("@cellsbot help", "help"),
        ("Fixed the column type. @cellsbot recheck please", "recheck"),
        ("@CellsBot  ReCheck", "recheck"),
        ("thanks!\n\n@cellsbot help\n", "help"),
        ("@cellsbot recheck, then @cellsbot help", "recheck"),
    ],
)
def test_note_commands(receiver: Receiver, note: str, command: str) -> None:
    job = receiver.queued(note_payload(note), event=NOTE, headers={"X-Gitlab-Event-UUID": "n-1"})
    assert (job.kind, job.command, job.note_id, job.author_username) == (
        "command",
        command,
        501,
        "alice",
    )
    assert (job.project_id, job.mr_iid, job.head_sha) == (42, 7, HEAD)
    assert (job.target_branch, job.action, job.event_uuid) == ("main", "create", "n-1")


@pytest.mark.parametrize(
    ("note", "command", "arguments"),
    [
        (
            "@cellsbot claim ci_builds.token as CI_BUILD_TOKEN",
            "claim",
            "ci_builds.token as CI_BUILD_TOKEN",
        ),
        ("ok\n@cellsbot rollout retry 3  \nthanks", "rollout", "retry 3"),
        ("@cellsbot rollout", "rollout", None),
        ("@cellsbot claim " + "x" * 500, "claim", "x" * 200),
    ],
)
def test_command_arguments_and_author(
    receiver: Receiver, note: str, command: str, arguments: str | None
) -> None:
    job = receiver.queued(note_payload(note), event=NOTE)
    assert (job.command, job.arguments) == (command, arguments)
    assert (job.author_username, job.author_id) == ("alice", 3)


def test_a_command_and_its_arguments_share_a_line(receiver: Receiver) -> None:
    assert receiver.ignored(note_payload("@cellsbot\nrecheck"), event=NOTE) == (
        "note without a command for the bot"
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (note_payload(username="cellsbot"), "note by the bot itself"),
        (note_payload(username="CellsBot"), "note by the bot itself"),
        (note_payload(system=True), "system note"),
        (note_payload(noteable_type="Issue"), "note on a Issue, not a merge request"),
        (note_payload(noteable_type="Commit"), "note on a Commit, not a merge request"),
        (note_payload("This MR needs work."), "note without a command for the bot"),
        (note_payload("@cellsbot-dev recheck"), "note without a command for the bot"),
        (note_payload("mail me@cellsbot recheck"), "note without a command for the bot"),
        (note_payload("@cellsbot rechecking"), "note without a command for the bot"),
        (note_payload("@cellsbot review"), "note without a command for the bot"),
        (note_payload("> @cellsbot recheck\n\nno."), "note without a command for the bot"),
        (note_payload("use `@cellsbot recheck`"), "note without a command for the bot"),
        (note_payload("```\n@cellsbot recheck\n```"), "note without a command for the bot"),
        (note_payload(action="update"), "note 'update': only new notes carry commands"),
    ],
)
def test_notes_that_are_ignored(receiver: Receiver, payload: dict[str, Any], reason: str) -> None:
    assert receiver.ignored(payload, event=NOTE) == reason


def test_a_system_note_needs_no_merge_request(receiver: Receiver) -> None:
    payload = _without(note_payload(system=True), "merge_request")
    assert receiver.ignored(payload, event=NOTE) == "system note"


@pytest.mark.parametrize(
    "event", [PUSH, "Pipeline Hook", "Tag Push Hook", "System Hook", "Issue Hook"]
)
def test_other_events_are_ignored(receiver: Receiver, event: str) -> None:
    response = receiver.post({"object_kind": "push", "commits": []}, event=event)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": f"{event!r} events are not handled"}
    assert receiver.jobs == []


def test_find_command_uses_the_configured_username() -> None:
    assert find_command("@review.bot help", "review.bot") == ("help", "")
    assert find_command("@reviewXbot help", "review.bot") is None
    assert find_command("@cellsbot recheck", "review.bot") is None


# --- the corpus: GitLab's documented payloads and headers ---


def _corpus_payload(corpus: Path, name: str) -> dict[str, Any]:
    return json.loads((corpus / "gitlab-webhooks" / name).read_text())


def _corpus_headers(corpus: Path, event: str) -> dict[str, str]:
    headers = _corpus_payload(corpus, "delivery_headers.gitlab_docs_examples.json")
    return headers | {"X-Gitlab-Event": event}  # the docs' example is a Push Hook


@pytest.mark.corpus
def test_corpus_merge_request_open(receiver: Receiver, corpus: Path) -> None:
    payload = _corpus_payload(corpus, "merge_request_event.gitlab_docs.json")
    headers = _corpus_headers(corpus, MR)
    job = receiver.queued(payload, headers=headers)
    assert (job.kind, job.action) == ("review", "open")
    assert (job.project_id, job.project_path) == (1, "gitlabhq/gitlab-test")
    assert (job.mr_iid, job.head_sha) == (1, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    assert (job.target_branch, job.event_uuid) == ("master", headers["X-Gitlab-Event-UUID"])
    assert receiver.post(payload, headers=headers).json() == {"status": "duplicate"}


@pytest.mark.corpus
def test_corpus_merge_request_updates(receiver: Receiver, corpus: Path) -> None:
    """The documented payload has no `oldrev` but a draft → ready change."""
    payload = _with(
        _corpus_payload(corpus, "merge_request_event.gitlab_docs.json"),
        "update",
        "object_attributes",
        "action",
    )
    assert receiver.queued(payload).kind == "review"  # draft → ready
    labels_only = _without(payload, "changes", "draft")
    assert (
        receiver.ignored(labels_only) == "merge request update without new commits or draft→ready"
    )
    pushed = _with(labels_only, OLDREV, "object_attributes", "oldrev")
    pushed = _with(pushed, HEAD, "object_attributes", "last_commit", "id")  # the pushed head
    assert (receiver.queued(pushed).head_sha, receiver.jobs[-1].mr_iid) == (HEAD, 1)


@pytest.mark.corpus
@pytest.mark.parametrize(("action", "kind"), [("merge", "merged"), ("close", "closed")])
def test_corpus_merge_request_merge_and_close(
    receiver: Receiver, corpus: Path, action: str, kind: str
) -> None:
    payload = _corpus_payload(corpus, "merge_request_event.gitlab_docs.json")
    job = receiver.queued(_with(payload, action, "object_attributes", "action"))
    assert (job.kind, job.project_id, job.mr_iid) == (kind, 1, 1)


@pytest.mark.corpus
def test_corpus_note_on_a_merge_request(receiver: Receiver, corpus: Path) -> None:
    payload = _corpus_payload(corpus, "note_event_merge_request.gitlab_docs.json")
    assert receiver.ignored(payload, event=NOTE) == "note without a command for the bot"
    command = _with(payload, "Please @cellsbot recheck", "object_attributes", "note")
    job = receiver.queued(command, event=NOTE, headers=_corpus_headers(corpus, NOTE))
    assert (job.kind, job.command, job.note_id, job.author_username) == (
        "command",
        "recheck",
        1244,
        "root",
    )
    assert (job.project_id, job.project_path, job.mr_iid) == (5, "gitlab-org/gitlab-test", 1)
    assert (job.head_sha, job.target_branch) == (
        "562e173be03b8ff2efb05345d12df18815438a4b",
        "markdown",
    )
    by_bot = _with(command, "cellsbot", "user", "username")
    assert receiver.ignored(by_bot, event=NOTE) == "note by the bot itself"
    system = _with(command, True, "object_attributes", "system")
    assert receiver.ignored(system, event=NOTE) == "system note"


# --- dedupe ---


def test_twenty_redeliveries_enqueue_one_job(receiver: Receiver) -> None:
    headers = {"X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e"}
    answers = [receiver.post(mr_payload(), headers=headers) for _ in range(20)]
    assert [a.status_code for a in answers] == [202] + [200] * 19
    assert all(a.json() == {"status": "duplicate"} for a in answers[1:])
    assert len(receiver.jobs) == 1
    assert (receiver.jobs[0].project_id, receiver.jobs[0].head_sha) == (42, HEAD)


def _deliver_concurrently(
    receivers: list[Receiver], payload: dict[str, Any], headers: dict[str, str], count: int = 20
) -> list[int]:
    """`count` deliveries released at once from as many threads, round-robin over receivers."""
    start = threading.Barrier(count)

    def deliver(n: int) -> int:
        start.wait()
        return receivers[n % len(receivers)].post(payload, headers=headers).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(deliver, range(count)))


def test_twenty_concurrent_redeliveries_enqueue_one_job(receiver: Receiver) -> None:
    headers = {"X-Gitlab-Event-UUID": "c0ffee00-0000-4000-8000-000000000001"}
    statuses = _deliver_concurrently([receiver], mr_payload(), headers)
    assert sorted(statuses) == [200] * 19 + [202]
    assert len(receiver.jobs) == 1


def test_the_idempotency_key_wins_over_the_event_uuid(receiver: Receiver) -> None:
    receiver.queued(mr_payload(), headers={"Idempotency-Key": "k-1", "X-Gitlab-Event-UUID": "a"})
    retry = receiver.post(
        mr_payload(), headers={"Idempotency-Key": "k-1", "X-Gitlab-Event-UUID": "b"}
    )
    assert retry.json() == {"status": "duplicate"}
    receiver.queued(mr_payload(), headers={"Idempotency-Key": "k-2", "X-Gitlab-Event-UUID": "a"})


def test_without_delivery_headers_the_content_is_the_key(receiver: Receiver) -> None:
    receiver.queued(mr_payload("update", oldrev=OLDREV))
    assert receiver.post(mr_payload("update", oldrev=OLDREV)).json() == {"status": "duplicate"}
    receiver.queued(mr_payload("update", oldrev=HEAD, sha="e" * 40))  # the next push
    receiver.queued(note_payload(), event=NOTE)
    receiver.queued(note_payload(note_id=502), event=NOTE)  # a second recheck note
    assert len(receiver.jobs) == 4


def test_events_sharing_an_event_uuid_are_not_collapsed(receiver: Receiver) -> None:
    """Webhooks triggered by an earlier webhook carry its X-Gitlab-Event-UUID."""
    headers = {"X-Gitlab-Event-UUID": "shared-by-recursion"}
    receiver.queued(mr_payload("close"), headers=headers)
    receiver.queued(note_payload("@cellsbot help"), event=NOTE, headers=headers)


def test_ignored_events_claim_nothing(receiver: Receiver) -> None:
    headers = {"X-Gitlab-Event-UUID": "evt-approved"}
    receiver.ignored(mr_payload("approved"), headers=headers)
    receiver.ignored(mr_payload("approved"), headers=headers)  # still "ignored", no "duplicate"


def test_long_header_values_give_bounded_keys() -> None:
    job = ReviewJob("review", 1, "a/b", 1, HEAD, "main", "open", None, datetime.now(UTC))
    key = dedupe_key(job, MR, idempotency_key="k" * 10_000, event_uuid=None)
    assert len(key) < 100
    assert key != dedupe_key(job, MR, idempotency_key="k" * 9_999, event_uuid=None)
    assert (
        dedupe_key(job, MR, idempotency_key="f5e5f430-f57b", event_uuid="x") == "idem:f5e5f430-f57b"
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_deduplicator_expires_and_releases() -> None:
    clock = _Clock()
    dedupe = MemoryDeduplicator(clock)
    assert dedupe.first_time("a", 10)
    assert not dedupe.first_time("a", 10)
    clock.now += 9.9
    assert not dedupe.first_time("a", 10)
    clock.now += 0.2
    assert dedupe.first_time("a", 10)  # expired, claimed again
    dedupe.release("a")
    assert dedupe.first_time("a", 10)
    dedupe.first_time("b", 1)
    clock.now += 120  # past the sweep interval: both expired entries are dropped
    assert dedupe.first_time("c", 10)
    assert len(dedupe) == 1


def test_memory_deduplicator_is_thread_safe() -> None:
    dedupe = MemoryDeduplicator()
    start = threading.Barrier(32)

    def claim(_: int) -> bool:
        start.wait()
        return dedupe.first_time("same", 60)

    with ThreadPoolExecutor(32) as pool:
        assert sorted(pool.map(claim, range(32))) == [False] * 31 + [True]


# --- enqueue and seen-set failures ---


class _FlakyQueue:
    """Refuses the first `failures` jobs, as a broker that is briefly away."""

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures
        self.jobs: list[ReviewJob] = []

    def __call__(self, job: ReviewJob) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.jobs.append(job)


def test_an_enqueue_failure_is_503_and_the_retry_succeeds() -> None:
    queue = _FlakyQueue()
    receiver = make_receiver(enqueue=queue)
    headers = {"X-Gitlab-Event-UUID": "retry-me", "Idempotency-Key": "idem-retry-me"}
    failed = receiver.post(mr_payload(), headers=headers)
    assert failed.status_code == 503
    assert failed.json()["error"] == "unavailable"
    retried = receiver.post(mr_payload(), headers=headers)
    assert retried.status_code == 202, retried.text
    assert [(j.project_id, j.mr_iid, j.head_sha) for j in queue.jobs] == [(42, 7, HEAD)]
    assert receiver.post(mr_payload(), headers=headers).json() == {"status": "duplicate"}


def test_a_hung_enqueue_is_503_within_the_timeout() -> None:
    release = threading.Event()
    calls: list[ReviewJob] = []

    def enqueue(job: ReviewJob) -> None:
        calls.append(job)
        if len(calls) == 1:
            release.wait(10)

    receiver = make_receiver(enqueue=enqueue, webhook_enqueue_timeout=0.3)
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": MR, "X-Gitlab-Event-UUID": "slow"}
    body = json.dumps(mr_payload()).encode()

    async def deliver_twice() -> tuple[int, float, int]:
        """In one loop: the loop's end waits for the abandoned enqueue thread."""
        started = time.monotonic()
        hung = await _request(receiver.app, headers, body)
        elapsed = time.monotonic() - started
        release.set()
        retried = await _request(receiver.app, headers, body)
        return hung.status_code, elapsed, retried.status_code

    try:
        hung, elapsed, retried = asyncio.run(deliver_twice())
    finally:
        release.set()
    assert (hung, retried) == (503, 202)
    assert elapsed < 5
    assert len(calls) == 2


class _BrokenSeenSet:
    def first_time(self, key: str, ttl: int) -> bool:
        raise ConnectionError("redis unreachable")

    def release(self, key: str) -> None:
        raise ConnectionError("redis unreachable")


def test_an_unavailable_seen_set_is_503_and_nothing_is_enqueued() -> None:
    receiver = make_receiver(dedupe=_BrokenSeenSet())
    response = receiver.post(mr_payload())
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert receiver.jobs == []


# --- the receiver's own failures, and the way deliveries take ---


def test_an_unexpected_failure_is_a_logged_500_with_the_correlation_id(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("decide broke")

    monkeypatch.setattr(webhook, "decide", broken)
    with caplog.at_level(logging.ERROR, logger="bot.webhook"):
        response = receiver.post(mr_payload(), headers={"X-Gitlab-Event-UUID": "uuid-500"})
    assert (response.status_code, response.json()) == (500, {"error": "internal", "detail": None})
    assert response.headers["X-Correlation-Id"] == "uuid-500"
    assert "decide broke" in caplog.text  # the traceback is logged
    assert receiver.jobs == []
    registry = receiver.app.state.metrics.registry
    labels = {"event": "merge_request", "outcome": "failed"}
    assert registry.get_sample_value("cellsbot_webhook_deliveries_total", labels) == 1


@pytest.mark.parametrize("routed", [False, True], ids=["direct", "routed"])
def test_deliveries_skip_fastapi_middleware_unless_routed(routed: bool) -> None:
    """Without tracing, a delivery goes straight to the receiver (FastAPI's middleware and
    router cost a fifth of its time); with tracing, through FastAPI, for its server span."""
    receiver = make_receiver(routed=routed)
    seen: list[str] = []

    @receiver.app.middleware("http")
    async def record(request: Any, call_next: Any) -> Any:
        seen.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    receiver.queued(mr_payload())
    assert asyncio.run(_get(receiver.app, URL)).status_code == 405  # FastAPI's, both ways
    assert seen == ([f"POST {URL}"] if routed else []) + [f"GET {URL}"]


def test_the_intake_is_closed_when_the_receiver_shuts_down() -> None:
    closed: list[bool] = []

    class ClosingIntake(DedupeIntake):
        async def aclose(self) -> None:
            closed.append(True)

    app = create_webhook_app(make_settings(), ClosingIntake(MemoryDeduplicator(), print))

    async def serve_and_stop() -> None:
        async with app.router.lifespan_context(app):  # what the server runs at start and stop
            assert (await _get(app, "/healthz")).status_code == 200
            assert closed == []

    asyncio.run(serve_and_stop())
    assert closed == [True]


# --- secrets stay secret ---


def test_secrets_are_never_logged_or_echoed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = make_receiver(webhook_signing_key=WHSEC, enqueue=_FlakyQueue())
    body = json.dumps(mr_payload()).encode()
    guessed = "guessed-token-3141"
    answers = [
        receiver.post(None, token=guessed, content=body),
        receiver.post(None, content=body),
        receiver.post(None, content=body, headers=sign(body, key=b"x" * 32)),
        receiver.post(None, content=body, headers=sign(body)),  # enqueue fails: 503, logged
        receiver.post(None, content=body, headers=sign(body)),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 503, 202]
    seen = caplog.text + " ".join(a.text for a in answers)
    for secret in (SECRET, OLD_SECRET, WHSEC.removeprefix("whsec_"), guessed):
        assert secret not in seen
    assert "rejected a webhook delivery" in caplog.text


# --- the job as a message ---


def test_review_job_json_round_trip(receiver: Receiver) -> None:
    job = receiver.queued(note_payload(), event=NOTE, headers={"X-Gitlab-Event-UUID": "u-1"})
    text = job.to_json()
    assert ReviewJob.from_json(text) == job
    assert json.loads(text)["delivered_at"].endswith("Z")
    newer = json.loads(text) | {"field_of_a_newer_receiver": 1}
    assert ReviewJob.from_json(json.dumps(newer)) == job
    with pytest.raises(AttributeError):
        job.kind = "merged"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "deploy"},
        {"project_id": "42"},
        {"command": "rm -rf"},
        {"delivered_at": "2026-01-01T00:00:00"},  # no timezone
        {"mr_iid": None},
    ],
)
def test_review_job_from_json_validates(change: dict[str, Any]) -> None:
    job = ReviewJob("review", 1, "a/b", 2, HEAD, "main", "open", "u", datetime.now(UTC))
    with pytest.raises(pydantic.ValidationError):
        ReviewJob.from_json(json.dumps(json.loads(job.to_json()) | change))


# --- Redis: the seen-set shared by replicas ---


def test_redis_deduplicator_claims_with_nx_and_ex(redis_client: Any, redis_prefix: str) -> None:
    dedupe = RedisDeduplicator(redis_client, prefix=redis_prefix)
    assert dedupe.first_time("delivery", 120)
    assert not dedupe.first_time("delivery", 120)
    assert 0 < redis_client.ttl(redis_prefix + "delivery") <= 120
    dedupe.release("delivery")
    assert redis_client.exists(redis_prefix + "delivery") == 0
    assert dedupe.first_time("delivery", 120)


def test_two_app_instances_share_the_redis_seen_set(redis_client: Any, redis_prefix: str) -> None:
    import redis  # noqa: PLC0415

    replicas = []
    for _ in range(2):  # each replica with its own connection, as two processes would have
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        replicas.append(make_receiver(dedupe=RedisDeduplicator(client, prefix=redis_prefix)))
    first, second = replicas
    headers = {"X-Gitlab-Event-UUID": "shared-7f1e"}
    first.queued(mr_payload(), headers=headers)
    assert second.post(mr_payload(), headers=headers).json() == {"status": "duplicate"}

    other = {"X-Gitlab-Event-UUID": "shared-concurrent"}
    statuses = _deliver_concurrently(replicas, mr_payload("update", oldrev=OLDREV), other)
    assert sorted(statuses) == [200] * 19 + [202]
    assert len(first.jobs) + len(second.jobs) == 2


def test_an_enqueue_failure_releases_the_redis_key(redis_client: Any, redis_prefix: str) -> None:
    queue = _FlakyQueue()
    receiver = make_receiver(enqueue=queue, dedupe=RedisDeduplicator(redis_client, redis_prefix))
    headers = {"Idempotency-Key": "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"}
    assert receiver.post(mr_payload(), headers=headers).status_code == 503
    assert list(redis_client.scan_iter(match=redis_prefix + "*")) == []
    assert receiver.post(mr_payload(), headers=headers).status_code == 202
    assert redis_client.exists(redis_prefix + "idem:" + headers["Idempotency-Key"]) == 1
    assert len(queue.jobs) == 1
