"""Property-based fuzzing of the GitLab webhook receiver, driven as GitLab and worse drive it.

The real app (`bot.webhook.create_webhook_app` with a `DedupeIntake` over a memory seen-set)
gets hypothesis-generated deliveries: random JSON (deep, wide, every JSON type), GitLab's
documented payloads (../shared/corpus/gitlab-webhooks) with wrong types, missing keys and odd
values at every key, random bytes, every X-Gitlab-Event value, right, wrong and missing
tokens and signatures, missing, wrong, duplicated and non-numeric Content-Length, bodies in
many chunks or cut off, huge and non-ASCII header values. Whatever arrives:

- never a 5xx (the intake here never fails, so not even the 503 GitLab retries on);
- the answer is a JSON object with `status` (2xx) or `error` (otherwise), with a status code
  the receiver documents, and small unless it carries a job (nothing a sender sends is echoed
  at length);
- a job is enqueued exactly when the answer is 202, and it is the job the answer shows, in a
  form the worker reads back (`ReviewJob.from_json`).

JSON bodies go through httpx's ASGI transport; framing and raw header bytes, which httpx
normalizes, are sent as ASGI messages directly.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from fastapi import FastAPI
from hypothesis import example, given
from hypothesis import strategies as st

from bot.dedupe import MemoryDeduplicator
from bot.events import COMMANDS, ReviewJob
from bot.intake import DedupeIntake
from bot.webhook import WEBHOOK_PATH, WebhookSettings, create_webhook_app
from tests.hardening.conftest import fuzz_settings

SECRET = "fuzz-secret-4c1b7e"
SIGNING_KEY = bytes(range(7, 39))
MAX_BODY = 16 * 1024  # small, so that oversized bodies are cheap to send
MAX_ANSWER = 4096  # bytes of an answer without a job: GitLab stores answers, and a sender's
# values repeated in them (the reason a delivery is ignored, say) must not inflate them
DOCUMENTED = {200, 202, 400, 401, 413, 422}  # see bot/webhook.py (503: the intake failed)
EVENTS = (
    "Merge Request Hook",
    "Note Hook",
    "Push Hook",
    "Tag Push Hook",
    "Issue Hook",
    "Pipeline Hook",
    "Job Hook",
    "Wiki Page Hook",
    "Deployment Hook",
    "Release Hook",
    "Emoji Hook",
    "Feature Flag Hook",
    "Member Hook",
    "Subgroup Hook",
    "Resource Access Token Hook",
    "Project Hook",
    "System Hook",
    "Confidential Note Hook",
    "Confidential Issue Hook",
    "Milestone Hook",
    "Vulnerability Hook",
    "merge request hook",
    " Merge Request Hook ",
    "Merge Request Hook\t",
    "",
)


# ------------------------------------------------------------------------- the receiver


@dataclass
class Receiver:
    """The real receiver app and the jobs its intake enqueued."""

    app: FastAPI
    jobs: list[ReviewJob] = field(default_factory=list)


def make_receiver(*, signed: bool = False) -> Receiver:
    settings = WebhookSettings(  # every field given: a developer's CELLSBOT_… changes nothing
        webhook_secret=SECRET,
        webhook_signing_key="whsec_" + base64.b64encode(SIGNING_KEY).decode() if signed else None,
        webhook_max_body=MAX_BODY,
        webhook_timestamp_tolerance=300,
        webhook_enqueue_timeout=5.0,
        bot_username="cellsbot",
        dedupe_ttl=3600,
    )
    receiver = Receiver(app=FastAPI())
    intake = DedupeIntake(MemoryDeduplicator(), receiver.jobs.append)
    receiver.app = create_webhook_app(settings, intake)
    return receiver


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def _post_json(app: FastAPI, headers: dict[str, bytes], body: bytes) -> Answer:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        response = await client.post(WEBHOOK_PATH, headers=headers, content=body)
    return Answer(response.status_code, dict(response.headers), response.content)


async def _asgi(
    app: FastAPI,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes],
    *,
    cut_off: bool = False,
    method: str = "POST",
    path: str = WEBHOOK_PATH,
) -> Answer:
    """One request as ASGI messages: `headers` as raw bytes, the body in `chunks`, and, when
    `cut_off`, a disconnect before the last chunk says it was the last."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if cut_off:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.7", 40000),
        "server": ("receiver.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return Answer(start["status"], answer_headers, body)


def check_answer(receiver: Receiver, answer: Answer, jobs_before: int) -> dict[str, Any]:
    """The receiver's promises for any delivery (see the module docstring)."""
    assert answer.status < 500, f"{answer.status}: {answer.body[:500]!r}"
    assert answer.status in DOCUMENTED, f"undocumented {answer.status}: {answer.body[:500]!r}"
    assert answer.headers.get("content-type", "").startswith("application/json"), answer
    if answer.status != 202:  # a job holds what the payload names (project path, branch)
        assert len(answer.body) <= MAX_ANSWER, f"{len(answer.body)} bytes: {answer.body[:300]!r}"
    payload = json.loads(answer.body)
    assert isinstance(payload, dict), payload
    if hypothesis.currently_in_test_context():  # what it reached: --hypothesis-show-statistics
        hypothesis.event(f"{answer.status} {payload.get('status') or payload.get('error')}")
    if answer.status < 300:
        assert payload.get("status") in ("queued", "ignored", "duplicate"), payload
    else:
        assert isinstance(payload.get("error"), str), payload
        assert "detail" in payload, payload
    enqueued = receiver.jobs[jobs_before:]
    if answer.status == 202:
        assert payload["status"] == "queued", payload
        assert len(enqueued) == 1, enqueued
        job = enqueued[0]
        assert payload["job"] == json.loads(job.to_json())
        assert ReviewJob.from_json(job.to_json()) == job  # what the worker reads
    else:
        assert enqueued == [], f"{answer.status} but a job was enqueued: {enqueued}"
    return payload


def deliver_json(
    receiver: Receiver, event: str | None, body: bytes, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    sent = {"X-Gitlab-Token": SECRET, "Content-Type": "application/json"}
    sent.update(headers or {})
    if event is not None:
        sent["X-Gitlab-Event"] = event
    raw = {name: value.encode() for name, value in sent.items()}  # UTF-8, as GitLab sends
    before = len(receiver.jobs)
    answer = asyncio.run(_post_json(receiver.app, raw, body))
    return check_answer(receiver, answer, before)


# ---------------------------------------------------------------------------- JSON values

DELIVERIES = itertools.count()  # unique delivery ids


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten, else `rare`."""
    return st.integers(0, 9).flatmap(lambda n: usual if n else rare)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from((0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30))
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(("", " ", "\x00", "🙂", "a" * 41, "f" * 40, "F" * 40, "g" * 40, "null"))
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Values GitLab's fields could be given instead of what they should be.
ODD_VALUES = (
    JSON
    | st.integers(90, 6000).map(lambda n: "é" * n)  # long enough to swell an answer
    | st.sampled_from(
        (
            "open",
            "update",
            "merge",
            "close",
            "reopen",
            "approved",
            "create",
            "MergeRequest",
            "Issue",
            "merge_request",
            "note",
            "@cellsbot recheck",
            "@CellsBot claim ci_builds.token as CI_BUILD_TOKEN",
            "> @cellsbot recheck",
            "`@cellsbot help`",
            "```\n@cellsbot recheck\n```",
            "@cellsbot rollout " + "x" * 500,
            "@cellsbot\trecheck\n@cellsbot help",
            "cellsbot",
            "x" * 5000,
            "1f0e4bc1a7a3c9a2b1f3e5d7c9b0a1f2e3d4c5b6",
            "1f0e4bc1a7a3c9a2b1f3e5d7c9b0a1f2e3d4c5b6" + "0" * 24,
            {"previous": True, "current": False},
            {"previous": "true", "current": "false"},
            {"id": "1f0e4bc1a7a3c9a2b1f3e5d7c9b0a1f2e3d4c5b6"},
        )
    )
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON value (dict keys and list indexes)."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return []
    found: list[tuple[Any, ...]] = []
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


# The fields the decision reads (bot/events.py): mutated more often than the hundreds of others.
DECIDING = (
    ("object_kind",),
    ("project",),
    ("project", "id"),
    ("project", "path_with_namespace"),
    ("user",),
    ("user", "username"),
    ("user", "id"),
    ("object_attributes",),
    ("object_attributes", "iid"),
    ("object_attributes", "id"),
    ("object_attributes", "action"),
    ("object_attributes", "target_branch"),
    ("object_attributes", "last_commit"),
    ("object_attributes", "last_commit", "id"),
    ("object_attributes", "oldrev"),
    ("object_attributes", "note"),
    ("object_attributes", "noteable_type"),
    ("object_attributes", "system"),
    ("changes",),
    ("changes", "draft"),
    ("changes", "work_in_progress"),
    ("merge_request",),
    ("merge_request", "iid"),
    ("merge_request", "target_branch"),
    ("merge_request", "last_commit"),
    ("merge_request", "last_commit", "id"),
)


@st.composite
def mutated_payloads(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with values replaced (by wrong types or odd values), keys removed, or keys
    added, at any depth."""
    result = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(result)
        if not paths:
            break
        *parents, key = draw(st.sampled_from(paths) | st.sampled_from(DECIDING))
        container = _container_at(result, parents)
        if container is None or (isinstance(container, list) and key not in _keys(container)):
            continue  # a deciding path that an earlier change took away
        change = draw(st.sampled_from(("replace", "replace", "replace", "remove", "add")))
        if change == "replace":  # a copy: sampled values are shared by every example
            container[key] = copy.deepcopy(draw(ODD_VALUES))
        elif change == "remove" and key in _keys(container):
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=10))] = draw(JSON)
        else:
            container.append(draw(JSON))
    return result


def _container_at(value: Any, path: list[Any]) -> Any:
    """The dict or list at `path` in `value`, or None when there is none."""
    for part in path:
        if not isinstance(value, dict | list) or part not in _keys(value):
            return None
        value = value[part]
    return value if isinstance(value, dict | list) else None


def _keys(container: dict[str, Any] | list[Any]) -> Any:
    return container.keys() if isinstance(container, dict) else range(len(container))


LONG_ACTION = json.dumps(
    {
        "object_kind": "merge_request",
        "project": {"id": 1, "path_with_namespace": "a/b"},
        "object_attributes": {"iid": 1, "action": "x" * 5000, "target_branch": "main"},
    }
).encode()
LONG_NOTEABLE_TYPE = json.dumps(
    {
        "object_kind": "note",
        "project": {"id": 1, "path_with_namespace": "a/b"},
        "user": {"username": "alice"},
        "object_attributes": {"id": 1, "note": "hi", "noteable_type": "Issue" * 1000},
    }
).encode()
DEEP = b"[" * 100_000 + b"]" * 100_000
WIDE = json.dumps({f"k{i}": i for i in range(1500)}).encode()


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    """JSON text: any value, one nested very deep, a wide object, or text near JSON."""
    kind = draw(st.sampled_from(("value", "value", "value", "deep", "wide", "near")))
    if kind == "deep":
        depth = draw(st.integers(1, 5000))
        opener, closer = draw(st.sampled_from(((b"[", b"]"), (b'{"a":', b"}"))))
        return opener * depth + b"1" + closer * depth
    if kind == "wide":
        width = draw(st.integers(0, 2000))
        return json.dumps(
            {"object_kind": "merge_request", **{str(i): i for i in range(width)}}
        ).encode()
    if kind == "near":
        return draw(
            st.sampled_from(
                (
                    b"",
                    b"{",
                    b"}",
                    b"NaN",
                    b'{"a": NaN}',
                    b'{"a": Infinity}',
                    b'{"a": 1e999}',
                    b'{"a": 123456789012345678901234567890}',
                    b'{"a": "\\ud800"}',
                    b'{"a": "\xff"}',
                    b"\xef\xbb\xbf{}",
                    b'{"a": 1,}',
                    b'{"a": 1} {"b": 2}',
                    b'{"object_kind": "merge_request", "object_kind": "note"}',
                    b"[]",
                    b"null",
                    b'"string"',
                    b"\x00",
                )
            )
        )
    return json.dumps(draw(JSON)).encode()


# ----------------------------------------------------------------------------- the tests

RECEIVER = make_receiver()  # one for all examples: its seen-set turns repeats into duplicates


@fuzz_settings(ci=150, long=5000)
@given(event=st.sampled_from(EVENTS) | st.text(max_size=40), body=json_bodies())
@example(event="Merge Request Hook", body=DEEP)
@example(event="Note Hook", body=DEEP)
@example(event="Merge Request Hook", body=WIDE)
@example(event="Merge Request Hook", body=LONG_ACTION)  # found: echoed whole in the answer
@example(event="Note Hook", body=LONG_NOTEABLE_TYPE)  # found: echoed whole in the answer
def test_random_json_bodies(event: str, body: bytes) -> None:
    deliver_json(RECEIVER, event, body)


def _payload(corpus: Path, name: str) -> dict[str, Any]:
    return json.loads((corpus / "gitlab-webhooks" / name).read_text())


@pytest.fixture(scope="module")
def documented(corpus: Path) -> dict[str, dict[str, Any]]:
    """GitLab's documented payloads by event, and the documented delivery headers."""
    return {
        "Merge Request Hook": _payload(corpus, "merge_request_event.gitlab_docs.json"),
        "Note Hook": _payload(corpus, "note_event_merge_request.gitlab_docs.json"),
        "headers": _payload(corpus, "delivery_headers.gitlab_docs_examples.json"),
    }


@pytest.mark.corpus
@fuzz_settings(ci=250, long=10000)
@given(data=st.data())
def test_mutated_documented_payloads(data: st.DataObject, documented: dict[str, Any]) -> None:
    kind = data.draw(st.sampled_from(("Merge Request Hook", "Note Hook")), label="payload of")
    payload = data.draw(mutated_payloads(documented[kind]), label="payload")
    sent_as = data.draw(mostly(st.just(kind), st.sampled_from(EVENTS)), label="X-Gitlab-Event")
    headers = dict(documented["headers"])
    headers.pop("X-Gitlab-Event")
    delivery = next(DELIVERIES)  # a new delivery, unless its identity is taken away
    headers["Idempotency-Key"] = headers["X-Gitlab-Event-UUID"] = f"{delivery}"
    for name in data.draw(st.sets(st.sampled_from(sorted(headers))), label="headers removed"):
        del headers[name]
    deliver_json(RECEIVER, sent_as, json.dumps(payload).encode(), headers)


HEADER_VALUES = st.sampled_from(
    (
        b"",
        b" ",
        b"x" * 8000,
        "ünïcödé".encode(),
        "ünïcödé".encode("latin-1"),
        b"\xff\xfe\x00",
        b"\x00",
        b"Merge Request Hook",
        b"Note Hook",
        SECRET.encode(),
        b"v1,AAAA",
        b"1700000000",
        b"-1",
        b"99999999999999999999999",
    )
) | st.binary(max_size=40)
HEADER_NAMES = (
    b"x-gitlab-event",
    b"x-gitlab-token",
    b"x-gitlab-event-uuid",
    b"x-gitlab-webhook-uuid",
    b"x-gitlab-instance",
    b"idempotency-key",
    b"content-type",
    b"content-length",
    b"content-encoding",
    b"transfer-encoding",
    b"user-agent",
    b"webhook-id",
    b"webhook-timestamp",
    b"webhook-signature",
)


@st.composite
def raw_headers(draw: st.DrawFn, body_length: int) -> list[tuple[bytes, bytes]]:
    """Mostly GitLab's headers, with any of them wrong, missing, repeated or strange."""
    event = draw(mostly(st.sampled_from(EVENTS[:3]).map(str.encode), HEADER_VALUES))
    token = draw(mostly(st.just(SECRET.encode()), HEADER_VALUES))
    length = draw(
        mostly(
            st.just(str(body_length).encode()),
            st.sampled_from((None, b"0", b"-5", b"1e3", b" 12 ", b"+1", b"0x10", b"\xd9\xa3"))
            | st.integers(0, 10**25).map(lambda n: str(n).encode())
            | HEADER_VALUES,
        )
    )
    headers = [(b"x-gitlab-event", event), (b"x-gitlab-token", token)]
    headers += [(b"content-length", length)] if length is not None else []
    headers += draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=4))
    return draw(st.permutations(headers))


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


BODIES = (
    json_bodies()
    | st.binary(max_size=200)
    | st.integers(MAX_BODY - 2, MAX_BODY + 2).map(lambda n: b" " * n)
)


@fuzz_settings(ci=200, long=10000)
@given(data=st.data())
def test_raw_deliveries(data: st.DataObject) -> None:
    body = data.draw(BODIES, label="body")
    headers = data.draw(raw_headers(len(body)), label="headers")
    chunks = data.draw(chunked(body), label="chunks")
    cut_off = data.draw(st.booleans(), label="cut off")
    before = len(RECEIVER.jobs)
    answer = asyncio.run(_asgi(RECEIVER.app, headers, chunks, cut_off=cut_off))
    check_answer(RECEIVER, answer, before)


SIGNED = make_receiver(signed=True)


def _signature(webhook_id: bytes, timestamp: bytes, body: bytes) -> bytes:
    mac = hmac.new(SIGNING_KEY, webhook_id + b"." + timestamp + b"." + body, hashlib.sha256)
    return b"v1," + base64.b64encode(mac.digest())


@fuzz_settings(ci=100, long=5000)
@given(data=st.data())
def test_signed_deliveries(data: st.DataObject) -> None:
    """With a signing key: right and wrong signatures, timestamps and ids, over any body."""
    event = data.draw(st.sampled_from(EVENTS[:3]), label="event").encode()
    body = data.draw(json_bodies() | st.binary(max_size=100), label="body")
    webhook_id = data.draw(mostly(st.just(b"msg_2b1"), HEADER_VALUES), label="webhook-id")
    skew = data.draw(
        mostly(st.integers(-290, 290), st.integers(-(10**6), 10**6)).map(str) | HEADER_VALUES,
        label="timestamp (seconds from now, or a raw value)",
    )  # relative: a strategy must not read the clock, or replays draw differently
    timestamp = skew if isinstance(skew, bytes) else str(int(time.time()) + int(skew)).encode()
    signature = _signature(webhook_id, timestamp, body)
    signatures = data.draw(
        mostly(
            st.sampled_from((signature, b"v1a,xyz " + signature, signature + b" v1,!!!")),
            st.sampled_from(
                (
                    b"v1," + base64.b64encode(b"\x00" * 32),
                    signature.replace(b"v1,", b"v2,"),
                    signature[:-4],
                    signature + b"=",
                )
            )
            | HEADER_VALUES,
        ),
        label="signatures",
    )
    headers = [
        (b"x-gitlab-event", event),
        (b"x-gitlab-token", SECRET.encode()),
        (b"webhook-id", webhook_id),
        (b"webhook-timestamp", timestamp),
        (b"webhook-signature", signatures),
    ]
    before = len(SIGNED.jobs)
    answer = asyncio.run(_asgi(SIGNED.app, headers, [body]))
    check_answer(SIGNED, answer, before)


def test_other_paths_and_methods_answer_json() -> None:
    """Not a delivery at all: other methods and paths get a JSON error too, never a 5xx."""
    for method, path in (
        ("GET", WEBHOOK_PATH),
        ("PUT", WEBHOOK_PATH),
        ("POST", "/"),
        ("GET", "/x"),
    ):
        answer = asyncio.run(_asgi(RECEIVER.app, [], [b"{}"], method=method, path=path))
        assert answer.status in (404, 405), answer
        assert json.loads(answer.body)["error"] in ("not_found", "method_not_allowed"), answer


def test_every_command_can_be_queued() -> None:
    """The fuzzing can reach 202: each command in a note gets a job (a sanity check of the
    strategies above rather than of the receiver)."""
    receiver = make_receiver()
    for number, command in enumerate(COMMANDS, 1):
        note = {
            "object_kind": "note",
            "project": {"id": 1, "path_with_namespace": "a/b"},
            "user": {"username": "alice", "id": 2},
            "object_attributes": {
                "id": number,
                "note": f"@cellsbot {command}",
                "noteable_type": "MergeRequest",
            },
            "merge_request": {
                "iid": 3,
                "target_branch": "main",
                "last_commit": {"id": "f" * 40},
            },
        }
        assert deliver_json(receiver, "Note Hook", json.dumps(note).encode())["status"] == "queued"
    assert [job.command for job in receiver.jobs] == list(COMMANDS)
