"""Seen-sets for webhook deliveries: GitLab delivers at least once, the bot reviews once.

A delivery is claimed with `first_time` before its job is enqueued; a claim whose enqueue
failed is `release`d so that GitLab's retry of that delivery is not taken for a duplicate.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bot.events import ReviewJob

if TYPE_CHECKING:
    from redis import Redis

_SAFE_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Deduplicator(Protocol):
    """A seen-set with expiry, shared by every receiver replica that must agree."""

    def first_time(self, key: str, ttl: int) -> bool:
        """Atomically record `key` for `ttl` seconds; True when it was not recorded yet."""
        ...

    def release(self, key: str) -> None:
        """Forget `key` (its job could not be enqueued, so a redelivery must go through)."""
        ...


class RedisDeduplicator:
    """The seen-set in Redis (`SET key 1 NX EX ttl`): one answer across replicas and restarts.

    Give the client a `socket_timeout` well under GitLab's 10 s: a hung Redis must turn into
    a 503 GitLab retries, not into a timeout that counts against the hook."""

    def __init__(self, client: Redis, prefix: str = "cellsbot:webhook:") -> None:
        self._client = client
        self._prefix = prefix

    def first_time(self, key: str, ttl: int) -> bool:
        return bool(self._client.set(self._prefix + key, 1, nx=True, ex=ttl))

    def release(self, key: str) -> None:
        self._client.delete(self._prefix + key)


class MemoryDeduplicator:
    """The seen-set in this process (embedded mode, tests): thread-safe, entries expire.

    Expired entries are swept at most once a minute, so memory stays proportional to the
    deliveries of the last `ttl` seconds."""

    SWEEP_INTERVAL = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + self.SWEEP_INTERVAL

    def first_time(self, key: str, ttl: int) -> bool:
        now = self._clock()
        with self._lock:
            self._sweep(now)
            expires = self._expiry.get(key)
            if expires is not None and expires > now:
                return False
            self._expiry[key] = now + ttl
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for expires in self._expiry.values() if expires > self._clock())

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._expiry = {key: exp for key, exp in self._expiry.items() if exp > now}
        self._next_sweep = now + self.SWEEP_INTERVAL


def dedupe_key(
    job: ReviewJob, event: str, *, idempotency_key: str | None, event_uuid: str | None
) -> str:
    """The delivery's identity: `Idempotency-Key` (kept across GitLab's retries and "Resend"),
    else `X-Gitlab-Event-UUID`, else the event's content.

    The event UUID is combined with the content because GitLab gives webhooks triggered by an
    earlier webhook the same UUID: two different events must not collapse into one."""
    content = _content_digest(job, event)
    if idempotency_key:
        return "idem:" + _bounded(idempotency_key)
    if event_uuid:
        return f"uuid:{_bounded(event_uuid)}:{content[:16]}"
    return "content:" + content


def _content_digest(job: ReviewJob, event: str) -> str:
    parts = (event, job.project_id, job.mr_iid, job.action, job.head_sha, job.note_id)
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()


def _bounded(value: str) -> str:
    """Header values as they are when they look like ids (readable in Redis), else hashed:
    a key never grows with what a sender puts in a header."""
    if _SAFE_KEY.fullmatch(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
