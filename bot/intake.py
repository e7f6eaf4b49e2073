"""Intakes: how the receiver records a delivery and enqueues its job, as one step.

GitLab delivers at least once; the bot must review once, and must answer within 10 s and
only after the job is safely queued. An `Intake` takes the delivery's key and its job, and
answers True (recorded and queued), False (a duplicate: nothing queued), or raises (nothing
recorded: answer 503 so that GitLab delivers again).

- `RedisIntake`, production: the seen-set and the queue in one Redis, and one Lua script
  that does `SET key NX EX ttl` and, only when that succeeded, `LPUSH queue message`, for
  every delivery waiting at that moment (group commit). Atomic, so a delivery is never
  recorded without its job or queued twice; one round trip however many senders wait.
- `DedupeIntake`, any other broker (files in embedded mode): a `Deduplicator` and a blocking
  `enqueue`, each in a worker thread; a claim whose enqueue failed is released.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from redis import exceptions as redis_errors

from bot.dedupe import Deduplicator
from bot.events import ReviewJob

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DedupeIntake", "Intake", "RedisIntake"]


class _Waiting(NamedTuple):
    """A delivery waiting for its batch."""

    key: str
    ttl: int
    message: str  # '' for none
    deadline: float  # the event loop's time
    answer: asyncio.Future[bool]


class Intake(Protocol):
    async def submit(self, key: str, ttl: int, job: ReviewJob, *, timeout: float) -> bool:
        """Record delivery `key` for `ttl` seconds and enqueue `job`; False when `key` is
        already recorded (nothing enqueued). Raises when the delivery was not recorded, and
        TimeoutError after `timeout` seconds (the delivery may then have been recorded and
        queued: its redelivery is a duplicate, never a second job)."""
        ...

    async def aclose(self) -> None:
        """Release connections (the receiver's shutdown)."""
        ...


class DedupeIntake:
    """A seen-set and a blocking enqueue, both off the event loop."""

    def __init__(self, dedupe: Deduplicator, enqueue: Callable[[ReviewJob], None]) -> None:
        self._dedupe = dedupe
        self._enqueue = enqueue

    async def submit(self, key: str, ttl: int, job: ReviewJob, *, timeout: float) -> bool:
        async with asyncio.timeout(timeout):
            if not await asyncio.to_thread(self._dedupe.first_time, key, ttl):
                return False
            try:
                await asyncio.to_thread(self._enqueue, job)
            except BaseException:  # refused, or timed out
                await asyncio.shield(asyncio.to_thread(self._dedupe.release, key))
                raise
            return True

    async def aclose(self) -> None:
        pass


# KEYS[1] the queue, KEYS[2..] the deliveries' keys; ARGV a TTL and a message ('' for none)
# per delivery. Answers one character per delivery, "1" new and "0" seen: one string is
# cheaper to read than an array.
_RECORD_AND_PUSH = """
local answers = {}
for i = 1, #KEYS - 1 do
  if redis.call('SET', KEYS[i + 1], '1', 'NX', 'EX', ARGV[2 * i - 1]) then
    local message = ARGV[2 * i]
    if message ~= '' then redis.call('LPUSH', KEYS[1], message) end
    answers[i] = '1'
  else
    answers[i] = '0'
  end
end
return table.concat(answers)
"""
_SCRIPT_SHA = hashlib.sha1(_RECORD_AND_PUSH.encode(), usedforsecurity=False).hexdigest().encode()


class RedisIntake:
    """The seen-set and the queue in one Redis, written by one script per batch.

    `encode` turns a job into the message the workers read from the list `queue` (for
    Celery's Redis transport: the envelope kombu would push), or None for a job that only
    needs recording. Deliveries that arrive while a batch is in flight form the next batch,
    so a busy receiver makes one round trip for many deliveries and an idle one adds no
    delay. A batch's round trip is abandoned at the earliest deadline among its deliveries
    (one timer per batch, not one per delivery), and each of them then gets TimeoutError;
    a delivery still waiting after its deadline gets it without a round trip."""

    def __init__(
        self,
        client: Redis,
        queue: str,
        encode: Callable[[ReviewJob], str | None],
        *,
        prefix: str = "cellsbot:webhook:",
        max_batch: int = 256,
    ) -> None:
        self._client = client
        # one batch at a time, so one connection of its own; commands are packed here, since
        # redis-py's general packing and dispatch cost a third of the intake's time
        self._connection = client.connection_pool.make_connection()
        self._queue = queue.encode()
        self._encode = encode
        self._prefix = prefix
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, key: str, ttl: int, job: ReviewJob, *, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        deadline = loop.time() + timeout
        self._waiting.append(
            _Waiting(self._prefix + key, ttl, self._encode(job) or "", deadline, answer)
        )
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await answer

    async def _flush(self) -> None:
        try:
            # one turn of the event loop first: the deliveries whose requests arrived in the
            # same turn join this batch (under load, half again as many per round trip)
            await asyncio.sleep(0)
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                now = asyncio.get_running_loop().time()
                for late in (item for item in batch if item.deadline <= now):
                    _settle(late.answer, error=TimeoutError())
                batch = [item for item in batch if not item.answer.done()]  # nor cancelled
                if batch:
                    await self._run(batch)
        finally:
            self._flusher = None

    async def _run(self, batch: list[_Waiting]) -> None:
        """One script run for `batch`, abandoned at its earliest deadline."""
        arguments = [b"EVALSHA", _SCRIPT_SHA, b"%d" % (len(batch) + 1), self._queue]
        arguments += [item.key.encode() for item in batch]
        for item in batch:
            arguments += (b"%d" % item.ttl, item.message.encode())
        try:
            async with asyncio.timeout_at(min(item.deadline for item in batch)):
                answers = await self._send(_pack(arguments))
        except Exception as error:  # each delivery of the batch gets it
            for item in batch:
                _settle(item.answer, error=error)
        else:
            for item, first in zip(batch, answers.decode(), strict=True):
                _settle(item.answer, first == "1")

    async def _send(self, command: bytes) -> Any:
        """The reply to `command`; sent again once after loading the script when Redis does
        not know it, and once on a new connection when the connection failed (a restarted
        Redis: running the script twice is harmless, its second run finds the keys of the
        first recorded and queues nothing)."""
        try:
            return await self._round_trip(command)
        except redis_errors.NoScriptError:
            await self._client.script_load(_RECORD_AND_PUSH)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            pass
        return await self._round_trip(command)

    async def _round_trip(self, command: bytes) -> Any:
        connection = self._connection
        try:
            await connection.send_packed_command(command)
            return await connection.read_response()
        except redis_errors.ResponseError:  # Redis answered: the connection is fine
            raise
        except BaseException:  # failed or cancelled: no later command may read this reply
            await connection.disconnect()
            raise

    async def aclose(self) -> None:
        await self._connection.disconnect()


def _pack(arguments: list[bytes]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        parts += (b"$%d\r\n" % len(argument), argument, b"\r\n")
    return b"".join(parts)


def _settle(
    answer: asyncio.Future[bool], value: bool = False, *, error: BaseException | None = None
) -> None:
    """Give a waiting delivery its answer, unless its caller stopped waiting."""
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(value)
