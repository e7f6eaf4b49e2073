"""One review per merge request at a time, across worker processes (and machines, on Redis)."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

logger = logging.getLogger(__name__)


class LockBusy(Exception):
    """Another review of the same merge request holds the lock."""


@contextmanager
def merge_request_lock(
    *,
    key: str,
    redis_url: str | None,
    folder: Path,
    timeout: float,
    wait: float,
) -> Iterator[None]:
    """Hold the lock of `key` (e.g. "12:34", project and MR iid) for the block; LockBusy when
    it stays taken for `wait` seconds. On Redis the lock expires after `timeout` seconds, so a
    crashed worker cannot keep it; the file lock ends with its process."""
    if redis_url:
        client = redis.Redis.from_url(redis_url)
        lock = client.lock(f"cellsbot:review:{key}", timeout=timeout, blocking_timeout=wait)
        if not lock.acquire():
            raise LockBusy(key)
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockNotOwnedError:
                pass  # expired already: the review took longer than `timeout`
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
                # the review is done and published; the lock expires after `timeout`
                logger.warning("could not release the lock of %s: %s", key, error)
        return
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / f"{key.replace(':', '-')}.lock", os.O_CREAT | os.O_RDWR)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockBusy(key) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(descriptor)  # releases the lock
