"""Fault injection: the bot's promises hold while its parts fail.

Each test starts what it breaks (a Redis, a PostgreSQL, a Celery worker of its own) and
checks what a user sees afterwards: every accepted webhook becomes exactly one review on the
merge request (one summary note, one thread per finding, one commit status), and every
committed claim is in the Topology Service once. docs/reliability.md describes each fault.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bot.merge_request import BOT_TOKEN, MergeRequestSetup
from tests.fake_gitlab import FakeGitLab
from tests.fake_gitlab.webhooks import hook_headers, merge_request_hook
from tests.hardening.faults_support import (
    SECRET,
    MergeRequest,
    PostgresServer,
    Receiver,
    RedisServer,
    Worker,
    exactly_once_problems,
    failure_statuses,
    landed,
    open_merge_requests,
)
from tests.support import wait_for
from tests.topology.conftest import TOKENS, RunningServer
from topology.client import Claim, TopologyClient, TopologyError

#: kombu's Redis transport gives an unacknowledged message back after this many seconds
#: (default one hour); the sweep that does it runs every second here (default 100 s)
SHORT_VISIBILITY = {
    "visibility_timeout": 5,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


@dataclass
class Bot:
    """FakeGitLab with the example project, a Redis of the test's own, the receiver."""

    fake: FakeGitLab
    setup: MergeRequestSetup
    redis: RedisServer
    env: dict[str, str]
    folder: Path
    receiver: Receiver | None = None
    workers: list[Worker] = field(default_factory=list)

    def worker(self, name: str, *, transport: dict[str, Any] | None = None) -> Worker:
        started = Worker(
            self.env,
            self.folder / f"worker-{name}.log",
            name=f"{name}-{uuid.uuid4().hex[:6]}",
            transport=transport,
        )
        self.workers.append(started)
        return started.ready()

    def merge_requests(self, count: int) -> list[MergeRequest]:
        setup = self.setup
        return open_merge_requests(
            self.fake,
            setup.repo,
            project=setup.project,
            author=setup.human,
            parent=setup.head,
            count=count,
        )

    def deliver(self, mr: MergeRequest) -> httpx.Response:
        """GitLab's `open` delivery of the MR, with an event UUID of its own."""
        payload = merge_request_hook(self.fake, mr.project, mr.iid, action="open")
        headers = hook_headers("Merge Request Hook", token=SECRET)
        assert self.receiver is not None
        return httpx.post(f"{self.receiver.url}/webhooks/gitlab", json=payload, headers=headers)

    def problems(self, mrs: list[MergeRequest]) -> list[str]:
        return [p for mr in mrs for p in exactly_once_problems(self.fake, mr, self.setup.bot)]


@pytest.fixture
def bot(fake_gitlab: FakeGitLab, tmp_path: Path) -> Iterator[Bot]:
    redis_server = RedisServer(tmp_path / "redis", persistent=True).start()
    env = {
        "CELLSBOT_BROKER_URL": redis_server.url,
        "CELLSBOT_REDIS_URL": redis_server.url,
        "CELLSBOT_QUEUE": "cellsbot-faults",
        "CELLSBOT_DATA_DIR": str(tmp_path / "data"),
        "CELLSBOT_CACHE_DIR": str(tmp_path / "cache"),
        "CELLSBOT_GITLAB_URL": fake_gitlab.url,
        "CELLSBOT_GITLAB_TOKEN": BOT_TOKEN,
    }
    running = Bot(
        fake_gitlab, MergeRequestSetup(fake_gitlab, tmp_path), redis_server, env, tmp_path
    )
    try:
        running.receiver = Receiver(env)
        yield running
    finally:
        if running.receiver is not None:
            running.receiver.stop()
        for worker in running.workers:
            worker.stop()
        redis_server.kill()


def test_a_review_killed_with_its_worker_lands_once_after_redelivery(bot: Bot) -> None:
    """kill -9 of the worker while it publishes: the summary note is created but its answer
    never arrives. The message stays unacknowledged, comes back after the visibility timeout,
    and a new worker completes the review without posting anything twice."""
    (mr,) = bot.merge_requests(1)
    # the summary's creation is applied, then its answer hangs: the worker dies waiting
    hang = bot.fake.inject_fault("POST", r"/notes$", delay=60, process=True)
    # the dead worker's lock on the MR must expire before its message comes back (a lock
    # that outlives the visibility timeout makes the message come back again and again)
    bot.env["CELLSBOT_REVIEW_LOCK_TIMEOUT"] = "4"
    doomed = bot.worker("doomed", transport=SHORT_VISIBILITY)
    assert bot.deliver(mr).status_code == 202
    wait_for(lambda: hang.hits, seconds=30, what="the summary's creation")
    doomed.kill()
    assert not landed(bot.fake, mr)  # the status, the publication's last step, is missing
    heir = bot.worker("heir", transport=SHORT_VISIBILITY)
    wait_for(lambda: landed(bot.fake, mr), seconds=30, what="the redelivered review")
    time.sleep(1.0)  # anything posted twice would be posted by now
    assert bot.problems([mr]) == []
    # the dead worker created the summary; the heir found it by its marker and created none
    assert hang.hits == 1
    assert bot.fake.requests("POST", rf"/merge_requests/{mr.iid}/notes$") == []
    assert heir.succeeded() == ["published"]


@dataclass
class Sent:
    """One delivery and GitLab's view of it: the answers to its attempts, in order."""

    mr: MergeRequest
    payload: dict[str, Any]
    headers: dict[str, str]
    answers: list[int] = field(default_factory=list)


def send_steadily(bot: Bot, mrs: list[MergeRequest], rate: float) -> list[Sent]:
    """One delivery per MR, `rate` a second, each answered before the next (as one GitLab
    hook sends); the answers to the first attempts."""
    sent = []
    started = time.monotonic()
    with httpx.Client(timeout=15) as client:
        for number, mr in enumerate(mrs):
            time.sleep(max(0.0, started + number / rate - time.monotonic()))
            delivery = Sent(
                mr,
                merge_request_hook(bot.fake, mr.project, mr.iid, action="open"),
                hook_headers("Merge Request Hook", token=SECRET),
            )
            delivery.answers.append(post(client, bot, delivery))
            sent.append(delivery)
    return sent


def post(client: httpx.Client, bot: Bot, delivery: Sent) -> int:
    assert bot.receiver is not None
    url = f"{bot.receiver.url}/webhooks/gitlab"
    return client.post(url, json=delivery.payload, headers=delivery.headers).status_code


def test_deliveries_during_a_redis_crash_are_refused_or_reviewed_once(bot: Bot) -> None:
    """Redis (append-only, fsync at every write) is killed under 20 deliveries a second and
    started again 2 s later: each delivery is answered 202, or 503 and then 202 when GitLab
    sends it again; every accepted one is reviewed exactly once."""
    mrs = bot.merge_requests(70)
    worker = bot.worker("steady")
    outage = threading.Timer(0.8, bot.redis.kill)
    outage.start()
    back = threading.Timer(2.8, bot.redis.start)
    back.start()
    try:
        sent = send_steadily(bot, mrs, rate=20)
    finally:
        outage.join()
        back.join()
    first = Counter(delivery.answers[0] for delivery in sent)
    assert set(first) <= {202, 503}, first
    assert first[503] >= 20, first  # the outage happened while deliveries came in
    with httpx.Client(timeout=15) as client:  # GitLab sends a failed delivery again
        for delivery in sent:
            if delivery.answers[-1] == 503:
                delivery.answers.append(post(client, bot, delivery))
    again = Counter(d.answers[-1] for d in sent if len(d.answers) > 1)
    assert set(again) <= {202, 200}, again  # 200: a duplicate of one recorded in the outage
    wait_for(lambda: all(landed(bot.fake, mr) for mr in mrs), seconds=60, what="every review")
    time.sleep(1.0)
    # every review landed once, and none was reported failed (a lock that could not be
    # released while Redis was down expires by itself)
    assert bot.problems(mrs) == []
    assert worker.process.poll() is None


def test_reviews_land_once_after_a_window_of_gitlab_faults(bot: Bot) -> None:
    """For 6 s GitLab answers 502 to everything, then 429 (Retry-After: 1), then answers
    slower than the worker's 1 s timeout (writes are applied, their answers lost), while
    four merge requests wait for their review: each lands exactly once afterwards."""
    mrs = bot.merge_requests(4)
    bot.env["CELLSBOT_GITLAB_TIMEOUT"] = "1"
    bot.worker("patient")
    fake = bot.fake
    window = [fake.inject_fault("*", r".", status=502, times=None)]
    for mr in mrs:
        assert bot.deliver(mr).status_code == 202
    time.sleep(2.0)
    fake.clear_faults()
    window.append(fake.inject_fault("*", r".", status=429, retry_after=1, times=None))
    time.sleep(2.0)
    fake.clear_faults()
    window.append(fake.inject_fault("GET", r".", delay=1.5, times=None))
    window += [
        fake.inject_fault(method, r".", delay=1.5, process=True, times=None)
        for method in ("POST", "PUT")
    ]
    time.sleep(2.0)
    fake.clear_faults()
    assert all(fault.hits for fault in window[:3]), [fault.hits for fault in window]
    assert not any(landed(fake, mr) for mr in mrs)  # nothing got through the window
    wait_for(lambda: all(landed(fake, mr) for mr in mrs), seconds=60, what="the reviews")
    time.sleep(1.0)
    assert bot.problems(mrs) == []


def test_a_review_whose_lock_cannot_be_released_is_not_reported_failed(
    fake_gitlab: FakeGitLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis goes away while a review runs: the review publishes, its lock cannot be
    released (it expires by itself), and the MR must show the review's status only."""
    redis_server = RedisServer(tmp_path / "redis", persistent=False).start()
    setup = MergeRequestSetup(fake_gitlab, tmp_path)
    env = {
        "CELLSBOT_REDIS_URL": redis_server.url,
        "CELLSBOT_DATA_DIR": str(tmp_path / "data"),
        "CELLSBOT_CACHE_DIR": str(tmp_path / "cache"),
        "CELLSBOT_GITLAB_URL": fake_gitlab.url,
        "CELLSBOT_GITLAB_TOKEN": BOT_TOKEN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from worker.tasks import review, runtime  # noqa: PLC0415 (reads the environment)

    runtime.cache_clear()
    slow = fake_gitlab.inject_fault("GET", r"/repository/tree", delay=1.0)

    def crash() -> None:
        wait_for(lambda: slow.hits, seconds=30, what="the review")
        redis_server.kill()

    crasher = threading.Thread(target=crash)
    crasher.start()
    try:
        result = review.apply(args=[setup.project, setup.iid, setup.head])
    finally:
        crasher.join()
        runtime.cache_clear()
    mr = MergeRequest(setup.project, setup.iid, setup.head)
    assert failure_statuses(fake_gitlab, mr) == []
    assert result.state == "SUCCESS"


# the Topology Service while its PostgreSQL restarts ------------------------------------------


@dataclass
class ClaimLoop:
    """BeginUpdate + CommitUpdate of a new claim after another, as a cell would, until
    stopped; a failed commit is sent again (CommitUpdate is idempotent) until it succeeds."""

    client: TopologyClient
    committed: list[str] = field(default_factory=list)
    begun: list[str] = field(default_factory=list)  # leased, outcome of the commit pending
    errors: list[tuple[float, str, int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        for number in itertools.count():
            if self.stop.is_set():
                return
            claim = Claim(
                "USERNAMES",
                f"fault-{number}",
                source_type="RAILS_TABLE_USERS",
                source_id=number.to_bytes(8, "big"),
            )
            try:
                lease = self.client.begin_update(1, creates=[claim])
            except (TopologyError, httpx.HTTPError) as error:
                self._failed("BeginUpdate", error)
                continue
            self.begun.append(claim.value)
            while True:
                try:
                    self.client.commit_update(1, lease)
                except (TopologyError, httpx.HTTPError) as error:
                    self._failed("CommitUpdate", error)
                    continue
                self.committed.append(claim.value)
                break

    def _failed(self, call: str, error: TopologyError | httpx.HTTPError) -> None:
        """Record (when, call, HTTP status, gRPC code); a client timeout is status 0."""
        if isinstance(error, TopologyError):
            self.errors.append((time.monotonic(), call, error.status, str(error.code)))
        else:
            self.errors.append((time.monotonic(), call, 0, type(error).__name__))
        time.sleep(0.05)


@pytest.fixture
def topology_on_own_postgres() -> Iterator[tuple[PostgresServer, RunningServer]]:
    postgres = PostgresServer().start()
    service = RunningServer(postgres.url)
    try:
        yield postgres, service
    finally:
        service.stop()
        postgres.remove()


def test_committed_claims_survive_a_postgres_restart(
    topology_on_own_postgres: tuple[PostgresServer, RunningServer],
) -> None:
    """PostgreSQL stops (immediate mode: a crash to its clients) for 2 s under a loop of
    claims and starts again: a request either waits for it (up to CELLSBOT_POOL_TIMEOUT) or
    is answered 503 meanwhile, the service recovers without a restart of its own, and every
    committed claim is there, once."""
    postgres, service = topology_on_own_postgres
    claims = ClaimLoop(TopologyClient(service.url, TOKENS["cell1"], timeout=5))
    loop = threading.Thread(target=claims.run)
    loop.start()
    try:
        wait_for(lambda: len(claims.committed) >= 20, seconds=30, what="20 claims")
        postgres.stop("immediate")
        time.sleep(2.0)
        postgres.start()
        up = time.monotonic()
        before = len(claims.committed)
        wait_for(lambda: len(claims.committed) >= before + 20, seconds=30, what="recovery")
    finally:
        claims.stop.set()
        loop.join(timeout=30)
        claims.client.close()
    with TopologyClient(service.url, TOKENS["cell1"]) as cell:
        records = list(cell.all_records(1))
    values = [record.metadata.bucket.value for record in records]
    assert len(values) == len(set(values))  # no claim twice
    active = {r.metadata.bucket.value for r in records if r.status == "ACTIVE"}
    assert active == set(claims.committed)  # every committed claim, and no other
    assert all(status == 503 for _, _, status, _ in claims.errors), claims.errors
    # the pool checks a connection before handing it out: none PostgreSQL closed reaches a request
    assert [error for error in claims.errors if error[0] >= up] == []


def _claim(client: TopologyClient, value: str) -> None:
    client.commit_update(1, client.begin_update(1, creates=[Claim("USERNAMES", value)]))


def test_a_database_outage_is_answered_503_on_a_kept_connection(
    topology_on_own_postgres: tuple[PostgresServer, RunningServer],
) -> None:
    postgres, service = topology_on_own_postgres
    with TopologyClient(service.url, TOKENS["cell1"], timeout=10) as client:
        _claim(client, "before")
        postgres.stop("immediate")
        answers = []
        for value in ("during-1", "during-2"):
            try:
                _claim(client, value)
            except TopologyError as error:
                answers.append((error.status, error.code, error.retry_after is not None))
        assert answers == [(503, 14, True), (503, 14, True)]


def test_the_first_claims_after_a_quiet_database_restart_succeed(
    topology_on_own_postgres: tuple[PostgresServer, RunningServer],
) -> None:
    postgres, service = topology_on_own_postgres
    with TopologyClient(service.url, TOKENS["cell1"], timeout=10) as client:
        _claim(client, "before")
        postgres.stop("immediate")
        postgres.start()  # no request meanwhile: the pool's connections are all stale
        for number in range(3):
            _claim(client, f"after-{number}")
