"""One review per merge request at a time, on Redis and on files."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.conftest import REDIS_URL, _missing
from worker.locks import LockBusy, merge_request_lock


@pytest.fixture(params=["redis", "files"])
def lock_settings(request, tmp_path):
    url = None
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        except redis.exceptions.ConnectionError as error:
            _missing(f"Redis at {REDIS_URL} ({error})", "CELLSBOT_REQUIRE_SERVICES")
        url = REDIS_URL
    key = f"test-{time.monotonic_ns()}:1"
    return {"key": key, "redis_url": url, "folder": tmp_path / "locks", "timeout": 30}


def test_a_second_review_waits_for_the_first(lock_settings):
    inside, order = threading.Event(), []

    def first():
        with merge_request_lock(**lock_settings, wait=5):
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with merge_request_lock(**lock_settings, wait=5):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_a_lock_held_too_long_makes_the_other_give_up(lock_settings):
    with merge_request_lock(**lock_settings, wait=5):
        holder_done = threading.Event()
        outcome = []

        def other():
            try:
                with merge_request_lock(**lock_settings, wait=0.2):
                    outcome.append("got it")
            except LockBusy:
                outcome.append("busy")
            holder_done.set()

        threading.Thread(target=other).start()
        holder_done.wait(5)
    assert outcome == ["busy"]
    with merge_request_lock(**lock_settings, wait=1):  # released
        pass
