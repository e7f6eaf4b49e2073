"""RedisIntake on a real Redis: a delivery is recorded and its job queued in one atomic step,
many deliveries share one round trip, and a Redis that is away loses nothing."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio

from bot.events import ReviewJob
from bot.intake import RedisIntake
from tests.conftest import REDIS_URL

HEAD = "a" * 40


def job(iid: int, kind: str = "review") -> ReviewJob:
    return ReviewJob(kind, 42, "acme/shop", iid, HEAD, "main", "open", None, datetime.now(UTC))  # type: ignore[arg-type]


def encode(job: ReviewJob) -> str | None:
    """A message per review job; merged/closed jobs are only recorded."""
    return json.dumps({"iid": job.mr_iid}) if job.kind == "review" else None


def submit_all(url: str, prefix: str, deliveries: list[tuple[str, ReviewJob]]) -> list[Any]:
    """Submit every delivery at once, in one event loop; answers or exceptions, in order."""

    async def run() -> list[Any]:
        client = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        intake = RedisIntake(client, prefix + "queue", encode, prefix=prefix)
        try:
            return await asyncio.gather(
                *(intake.submit(key, 60, job) for key, job in deliveries),
                return_exceptions=True,
            )
        finally:
            await client.aclose()

    return asyncio.run(run())


def evalsha_calls(client: Any) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def test_each_new_delivery_is_recorded_and_queued_once_in_order(
    redis_client: Any, redis_prefix: str
) -> None:
    deliveries = [(f"d-{i}", job(i)) for i in range(64)]
    before = evalsha_calls(redis_client)
    assert submit_all(REDIS_URL, redis_prefix, deliveries) == [True] * 64
    # every delivery waited at once: one script run for all (plus one load on NOSCRIPT)
    assert evalsha_calls(redis_client) - before <= 2
    queued = [json.loads(m)["iid"] for m in redis_client.lrange(redis_prefix + "queue", 0, -1)]
    assert list(reversed(queued)) == list(range(64))  # LPUSH + the worker's BRPOP: FIFO
    for i in (0, 63):
        assert 0 < redis_client.ttl(f"{redis_prefix}d-{i}") <= 60


def test_duplicates_in_one_batch_and_across_batches_queue_nothing(
    redis_client: Any, redis_prefix: str
) -> None:
    same = [("same", job(1)) for _ in range(20)]
    answers = submit_all(REDIS_URL, redis_prefix, same)
    assert sorted(answers) == [False] * 19 + [True]
    again = submit_all(REDIS_URL, redis_prefix, [("same", job(1)), ("other", job(2))])
    assert again == [False, True]
    assert redis_client.llen(redis_prefix + "queue") == 2


def test_a_job_without_a_message_is_recorded_only(redis_client: Any, redis_prefix: str) -> None:
    answers = submit_all(REDIS_URL, redis_prefix, [("merged", job(3, "merged"))] * 2)
    assert answers == [True, False]
    assert redis_client.exists(redis_prefix + "merged") == 1
    assert redis_client.llen(redis_prefix + "queue") == 0


def test_redis_away_fails_every_waiting_delivery_and_records_nothing(
    redis_client: Any, redis_prefix: str
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    answers = submit_all(
        f"redis://127.0.0.1:{port}/0", redis_prefix, [("a", job(1)), ("b", job(2))]
    )
    assert all(isinstance(answer, redis.ConnectionError) for answer in answers)
    assert list(redis_client.scan_iter(match=redis_prefix + "*")) == []


def test_a_delivery_whose_caller_gave_up_still_counts_once(
    redis_client: Any, redis_prefix: str
) -> None:
    """The caller's timeout cancels its wait, not the batch: the job is queued, and the
    redelivery GitLab sends after the 503 is a duplicate."""

    async def run() -> tuple[bool, bool]:
        client = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=2)
        intake = RedisIntake(client, redis_prefix + "queue", encode, prefix=redis_prefix)
        try:
            waiting = asyncio.ensure_future(intake.submit("late", 60, job(5)))
            await asyncio.sleep(0)  # the batch is on its way
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            while intake._flusher is not None:  # the batch finishes on its own
                await asyncio.sleep(0.01)
            return waiting.cancelled(), await intake.submit("late", 60, job(5))
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (True, False)
    assert redis_client.llen(redis_prefix + "queue") == 1
