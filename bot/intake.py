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
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bot.dedupe import Deduplicator
from bot.events import ReviewJob

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DedupeIntake", "Intake", "RedisIntake"]


class Intake(Protocol):
    async def submit(self, key: str, ttl: int, job: ReviewJob) -> bool:
        """Record delivery `key` for `ttl` seconds and enqueue `job`; False when `key` is
        already recorded (nothing enqueued). Raises when the delivery was not recorded."""
        ...


class DedupeIntake:
    """A seen-set and a blocking enqueue, both off the event loop."""

    def __init__(self, dedupe: Deduplicator, enqueue: Callable[[ReviewJob], None]) -> None:
        self._dedupe = dedupe
        self._enqueue = enqueue

    async def submit(self, key: str, ttl: int, job: ReviewJob) -> bool:
        if not await asyncio.to_thread(self._dedupe.first_time, key, ttl):
            return False
        try:
            await asyncio.to_thread(self._enqueue, job)
        except BaseException:  # refused, or abandoned by the caller's timeout
            await asyncio.shield(asyncio.to_thread(self._dedupe.release, key))
            raise
        return True


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


class RedisIntake:
    """The seen-set and the queue in one Redis, written by one script per batch.

    `encode` turns a job into the message the workers read from the list `queue` (for
    Celery's Redis transport: the envelope kombu would push), or None for a job that only
    needs recording. Deliveries that arrive while a batch is in flight form the next batch,
    so a busy receiver makes one round trip for many deliveries and an idle one adds no
    delay. A delivery whose caller gave up (timeout) may
    still be recorded and queued: its redelivery is then a duplicate, never a second job."""

    def __init__(
        self,
        client: Redis,
        queue: str,
        encode: Callable[[ReviewJob], str | None],
        *,
        prefix: str = "cellsbot:webhook:",
        max_batch: int = 256,
    ) -> None:
        self._script = client.register_script(_RECORD_AND_PUSH)
        self._queue = queue
        self._encode = encode
        self._prefix = prefix
        self._max_batch = max_batch
        self._waiting: list[tuple[str, int, str, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, key: str, ttl: int, job: ReviewJob) -> bool:
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append((self._prefix + key, ttl, self._encode(job) or "", answer))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await answer

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    answers = await self._script(
                        keys=[self._queue, *(key for key, _, _, _ in batch)],
                        args=[item for _, ttl, message, _ in batch for item in (ttl, message)],
                    )
                except Exception as error:  # each waiting delivery gets it
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for (*_, future), first in zip(batch, answers.decode(), strict=True):
                        if not future.done():
                            future.set_result(first == "1")
        finally:
            self._flusher = None
