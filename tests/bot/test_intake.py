"""RedisIntake on a real Redis: a delivery is recorded and its job queued in one atomic step,
many deliveries share one round trip, and a Redis that is away loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
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
                *(intake.submit(key, 60, job, timeout=5) for key, job in deliveries),
                return_exceptions=True,
            )
        finally:
            await intake.aclose()
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


def two_batches(url: str, prefix: str, between: Callable[[], None]) -> tuple[bool, bool]:
    """One delivery, `between()`, another: the answers (the intake's connection is named
    `prefix`, so that `between` can find it)."""

    async def run() -> tuple[bool, bool]:
        client = redis.asyncio.Redis.from_url(url, socket_timeout=2, client_name=prefix)
        intake = RedisIntake(client, prefix + "queue", encode, prefix=prefix)
        try:
            first = await intake.submit("one", 60, job(1), timeout=5)
            await asyncio.to_thread(between)
            return first, await intake.submit("two", 60, job(2), timeout=5)
        finally:
            await intake.aclose()
            await client.aclose()

    return asyncio.run(run())


def test_a_script_redis_forgot_is_loaded_again(redis_client: Any, redis_prefix: str) -> None:
    """SCRIPT FLUSH (or a restarted Redis): the next batch loads the script and goes on."""
    assert two_batches(REDIS_URL, redis_prefix, redis_client.script_flush) == (True, True)
    assert redis_client.llen(redis_prefix + "queue") == 2


def test_a_dropped_connection_is_replaced_without_losing_the_batch(
    redis_client: Any, redis_prefix: str
) -> None:
    def drop() -> None:
        ids = [c["id"] for c in redis_client.client_list() if c["name"] == redis_prefix]
        assert ids, "the intake's connection is not there"
        for client_id in ids:
            redis_client.client_kill_filter(_id=client_id)

    assert two_batches(REDIS_URL, redis_prefix, drop) == (True, True)
    assert redis_client.llen(redis_prefix + "queue") == 2


def test_a_delivery_whose_caller_gave_up_before_its_batch_left_is_not_recorded(
    redis_client: Any, redis_prefix: str
) -> None:
    """Nothing was recorded for it, so GitLab's redelivery goes through."""

    async def run() -> tuple[bool, bool]:
        client = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=2)
        intake = RedisIntake(client, redis_prefix + "queue", encode, prefix=redis_prefix)
        try:
            waiting = asyncio.ensure_future(intake.submit("late", 60, job(5), timeout=5))
            await asyncio.sleep(0)  # it waits for its batch, which has not left yet
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            while intake._flusher is not None:
                await asyncio.sleep(0.01)
            return waiting.cancelled(), await intake.submit("late", 60, job(5), timeout=5)
        finally:
            await intake.aclose()
            await client.aclose()

    assert asyncio.run(run()) == (True, True)
    assert redis_client.llen(redis_prefix + "queue") == 1


class _HungRedis:
    """A TCP server that speaks just enough RESP to let a client connect (HELLO, CLIENT) and
    then never answers a command: a hung Redis. `commands` lists what it was sent."""

    def __init__(self) -> None:
        self.commands: list[list[bytes]] = []

    async def __aenter__(self) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    count = int((await reader.readline())[1:])
                    command = []
                    for _ in range(count):
                        size = int((await reader.readline())[1:])
                        command.append((await reader.readexactly(size + 2))[:-2])
                    self.commands.append(command)
                    if command[0].upper() == b"HELLO":
                        writer.write(b"%2\r\n+server\r\n+redis\r\n+proto\r\n:3\r\n")
                    elif command[0].upper() == b"CLIENT":
                        writer.write(b"+OK\r\n")

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


def test_a_hung_redis_times_out_each_delivery_by_its_batch_deadline() -> None:
    """One timer per batch: the batch is abandoned at its earliest deadline (well before the
    client's 2 s socket timeout), and a delivery whose deadline passed while it waited for
    the next batch fails without a round trip of its own."""

    async def run() -> tuple[list[Any], list[float], list[list[bytes]]]:
        hung = _HungRedis()
        async with hung as url:
            client = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            intake = RedisIntake(client, "queue", encode)
            started = asyncio.get_running_loop().time()
            ended: list[float] = []

            async def deliver(key: str, timeout: float, after: float) -> bool:
                await asyncio.sleep(after)
                try:
                    return await intake.submit(key, 60, job(1), timeout=timeout)
                finally:
                    ended.append(asyncio.get_running_loop().time() - started)

            try:
                answers = await asyncio.gather(
                    deliver("a", 0.3, 0),
                    deliver("b", 0.6, 0),
                    deliver("c", 0.1, 0.05),  # waits behind the hung batch of a and b
                    return_exceptions=True,
                )
            finally:
                await intake.aclose()
                await client.aclose()
        return answers, ended, hung.commands

    answers, ended, commands = asyncio.run(run())
    assert all(isinstance(answer, TimeoutError) for answer in answers)
    assert max(ended) < 1.0  # a's deadline, not the client's socket timeout
    scripts = [command for command in commands if command[0] in (b"EVALSHA", b"EVAL")]
    assert len(scripts) == 1  # c made no round trip
    keys = [part for part in scripts[0] if part.startswith(b"cellsbot:webhook:")]
    assert keys == [b"cellsbot:webhook:a", b"cellsbot:webhook:b"]
