"""Load test: a steady rate of webhook deliveries through the whole bot, and what became of each.

Run `make load` (or `.venv/bin/python benchmarks/load_webhooks.py [--rate 50] [--seconds 60]`).
It needs Redis (`--redis`, default redis://127.0.0.1:6379/0, the machine's: the run uses a
queue of its own, `load-<random>`, and deletes every key it made at the end).

For `--seconds` it sends `--rate` deliveries a second, open loop (each at its scheduled time,
whether or not earlier ones were answered), to the production receiver (worker.service in a
uvicorn process of its own), which puts them on the Redis broker; `--workers` Celery worker
processes (threads pool, concurrency 4, as in production) review them against FakeGitLab (in
this process). Each delivery is either a new merge request (`open`) or a new head pushed to
a merge request this run opened before (`update` with `oldrev`, a `--push-share` of them), and
each head adds a table of its own to the bundled example's db/structure.sql, so every review
is a real one that posts a summary note, threads and a commit status.

Then it waits for every review to land (at most `--drain` seconds) and reports:

- deliveries sent, answered 202, answered otherwise (by status);
- reviews landed: heads whose review published its commit status;
- superseded: heads whose merge request got a newer head before their review ran (the bot
  reviews only the current head: not a loss);
- drops: deliveries answered 202 whose head was neither reviewed nor superseded (must be 0);
- duplicates: a second summary note on a merge request, a second thread for one finding, a
  second commit status for one head, or a "could not review" status (must be 0);
- the webhook's answer latency, and the webhook-to-summary latency (to the first write of a
  summary note naming the head, in FakeGitLab's request log), p50/p95/p99, both from the
  moment the delivery was sent (on schedule, or after its push when FakeGitLab was slow).

Exit status: 0 when nothing was dropped or duplicated, 1 otherwise, 2 when Redis is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import os
import platform
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_bot import RECEIVER, clean_redis, serve  # noqa: E402
from harness import percentile, start_server, wait_ready  # noqa: E402

from bot import render  # noqa: E402
from bot.example import create_example  # noqa: E402
from tests.fake_gitlab import FakeGitLab, GitRepo, LoggedRequest  # noqa: E402
from tests.fake_gitlab.webhooks import hook_headers, merge_request_hook  # noqa: E402
from tests.hardening.faults_support import make_heads  # noqa: E402
from worker.command import worker_command  # noqa: E402

REDIS_URL = os.environ.get("CELLSBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BOT_TOKEN = "load-bot-token-0123456789"
HUMAN_TOKEN = "load-human-token-0123456789"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
COULD_NOT_REVIEW = "cellsbot could not review"


@dataclass
class Delivery:
    number: int
    head: str
    iid: int | None = None  # set when sent (a push picks its MR then)
    oldrev: str | None = None
    scheduled: float = 0.0  # epoch seconds
    sent: float = 0.0  # epoch seconds (after its push, for a push)
    status: int | None = None
    answered: float | None = None  # seconds after `sent`
    error: str | None = None


@dataclass
class Run:
    """The run's merge requests as the sender left them, and what FakeGitLab saw."""

    fake: FakeGitLab
    project: int
    author: int
    base: str
    deliveries: list[Delivery] = field(default_factory=list)
    heads_of: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)  # head -> statuses posted
    failures: Counter[str] = field(default_factory=Counter)  # head -> "could not review"
    summary_at: dict[str, float] = field(default_factory=dict)  # head -> first summary write
    summaries_created: Counter[int] = field(default_factory=Counter)  # iid -> creations
    seen: int = 0  # request log entries read

    def read_log(self) -> None:
        log = self.fake.request_log
        for entry in log[self.seen :]:
            self._note(entry)
        self.seen = len(log)

    def _note(self, entry: LoggedRequest) -> None:
        if entry.status >= 300 or not entry.processed:
            return
        if entry.method == "POST" and (found := re.search(r"/statuses/(\w+)$", entry.path)):
            description = str(entry.body.get("description") or "")
            target = self.failures if description.startswith(COULD_NOT_REVIEW) else self.statuses
            target[found.group(1)] += 1
            return
        body = str(entry.body.get("body") or "")
        found = re.search(r"/merge_requests/(\d+)/notes(?:/\d+)?$", entry.path)
        if not found or not body.startswith(render.SUMMARY_MARKER):
            return
        if entry.method == "POST":
            self.summaries_created[int(found.group(1))] += 1
        for head in self.heads_of[int(found.group(1))]:
            if head in body:
                self.summary_at.setdefault(head, entry.time)


# sending ------------------------------------------------------------------------------------


def plan(run: Run, heads: list[str], push_share: float, seed: int) -> None:
    """Before the clock: one delivery per head, a push to an MR opened earlier in the plan
    (`push_share` of them) or a new MR, which is opened in FakeGitLab now (harmless: the
    worker reads an MR only when its job comes). Pushes happen when their delivery is due."""
    chooser = random.Random(seed)
    for number, head in enumerate(heads):
        delivery = Delivery(number, head)
        if number and chooser.random() < push_share:
            delivery.iid = chooser.choice(list(run.heads_of))
            delivery.oldrev = run.heads_of[delivery.iid][-1]
        else:
            delivery.iid = run.fake.open_mr(
                run.project,
                author_id=run.author,
                source_branch=f"load-{number}",
                target_branch="main",
                head_sha=head,
                base_sha=run.base,
                start_sha=run.base,
            )
        run.heads_of[delivery.iid].append(head)
        run.deliveries.append(delivery)


def payload_for(template: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """GitLab's delivery for `delivery`: the template (an MR of the run, as the fake builds
    it) with this delivery's merge request, head and action."""
    payload = copy.deepcopy(template)
    attributes = payload["object_attributes"]
    attributes |= {"iid": delivery.iid, "source_branch": f"load-{delivery.iid}"}
    attributes["last_commit"] = {**(attributes.get("last_commit") or {}), "id": delivery.head}
    attributes.pop("oldrev", None)
    attributes["action"] = "open"
    if delivery.oldrev is not None:
        attributes |= {"action": "update", "oldrev": delivery.oldrev}
    return payload


async def send_all(run: Run, port: int, secret: str, rate: float) -> None:
    """Open loop: delivery n is due at start + n / rate and sent then, whatever the earlier
    ones are waiting for. A push is made in FakeGitLab first, in plan order, by one thread."""
    first = run.deliveries[0]
    template = merge_request_hook(run.fake, run.project, first.iid or 0, action="open")
    url = f"http://127.0.0.1:{port}/webhooks/gitlab"
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    pusher = ThreadPoolExecutor(1, thread_name_prefix="push")
    loop = asyncio.get_running_loop()

    async def deliver(delivery: Delivery) -> None:
        if delivery.oldrev is not None:
            push = functools.partial(
                run.fake.push,
                run.project,
                delivery.iid or 0,
                delivery.head,
                base_sha=run.base,
                system_note=False,
            )
            await loop.run_in_executor(pusher, push)
        headers = hook_headers("Merge Request Hook", token=secret)
        delivery.sent = time.time()
        try:
            answer = await client.post(url, json=payload_for(template, delivery), headers=headers)
        except httpx.HTTPError as error:
            delivery.error = type(error).__name__
            return
        delivery.status = answer.status_code
        delivery.answered = time.time() - delivery.sent

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        tasks = []
        started = time.time() + 0.5
        for delivery in run.deliveries:
            delivery.scheduled = started + delivery.number / rate
            await asyncio.sleep(max(0.0, delivery.scheduled - time.time()))
            tasks.append(asyncio.create_task(deliver(delivery)))
        await asyncio.gather(*tasks)
    pusher.shutdown()


# what became of each delivery ------------------------------------------------------------------


@dataclass
class Outcome:
    landed: list[Delivery] = field(default_factory=list)
    superseded: list[Delivery] = field(default_factory=list)
    dropped: list[Delivery] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def outcome(run: Run) -> Outcome:
    result = Outcome()
    accepted = [d for d in run.deliveries if d.status == 202]
    latest: dict[int, int] = {}  # iid -> number of its last accepted delivery
    for delivery in accepted:
        assert delivery.iid is not None
        latest[delivery.iid] = delivery.number
    for delivery in accepted:
        if run.statuses[delivery.head]:
            result.landed.append(delivery)
        elif latest[delivery.iid or 0] != delivery.number:
            result.superseded.append(delivery)
        else:
            result.dropped.append(delivery)
    result.duplicates += [f"{n} statuses on {h[:12]}" for h, n in run.statuses.items() if n > 1]
    result.duplicates += [f"'could not review' on {h[:12]}" for h in run.failures]
    result.duplicates += [
        f"{n} summary notes on !{iid}" for iid, n in run.summaries_created.items() if n > 1
    ]
    for iid in latest:
        keys = [
            render.parse_marker(d["notes"][0]["body"])
            for d in run.fake.discussions(run.project, iid)
            if d["notes"][0].get("position")
        ]
        if len(keys) != len(set(keys)):
            result.duplicates.append(f"a finding with two threads on !{iid}")
    return result


def drained(run: Run) -> bool:
    """Every accepted delivery landed or was superseded."""
    run.read_log()
    return not outcome_without_threads(run)


def outcome_without_threads(run: Run) -> list[Delivery]:
    accepted = [d for d in run.deliveries if d.status == 202]
    last = {d.iid: d.number for d in accepted}
    return [d for d in accepted if not run.statuses[d.head] and last[d.iid] == d.number]


# the report ------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _percentiles(values: list[float]) -> str:
    if not values:
        return "(none)"
    return ", ".join(f"p{p} {_ms(percentile(values, p / 100))}" for p in (50, 95, 99))


def report(run: Run, result: Outcome, args: argparse.Namespace, timing: dict[str, float]) -> int:
    answers = Counter(d.status if d.status is not None else d.error for d in run.deliveries)
    other = {k: v for k, v in answers.items() if k != 202}
    to_summary = [
        run.summary_at[d.head] - d.sent for d in result.landed if d.head in run.summary_at
    ]
    opened = sum(1 for d in run.deliveries if d.oldrev is None)
    lag = [d.sent - d.scheduled for d in run.deliveries if d.sent]
    passed = not result.dropped and not result.duplicates
    rows = [
        "| measure | figure |",
        "|---|---|",
        f"| deliveries sent | {len(run.deliveries)} at {args.rate:g}/s ({opened} new MRs, "
        f"{len(run.deliveries) - opened} pushes); the last answered {timing['send']:.1f} s "
        f"after the first was due; sent behind schedule: {_percentiles(lag)} |",
        f"| answered 202 | {answers[202]} |",
        f"| answered otherwise | {sum(other.values())} {dict(other) if other else ''} |",
        f"| reviews landed | {len(result.landed)} |",
        f"| superseded by a newer head before their review | {len(result.superseded)} |",
        f"| drops (accepted, never reviewed nor superseded) | **{len(result.dropped)}** |",
        f"| duplicates | **{len(result.duplicates)}** |",
        "| webhook answer latency | "
        + _percentiles([d.answered for d in run.deliveries if d.answered is not None])
        + " |",
        f"| webhook → summary note | {_percentiles(to_summary)} |",
        f"| queue drained | {timing['drain']:.1f} s after the last delivery |",
        f"| result | {'**PASS**' if passed else '**FAIL**'} |",
    ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"Command: `{' '.join([os.path.relpath(sys.executable), *sys.argv])}`",
        f"Environment: Python {platform.python_version()}, {os.cpu_count()} cores (load average "
        f"{load} at the end), Redis at {args.redis}, Celery {version('celery')}, kombu "
        f"{version('kombu')}; receiver: one uvicorn process; {args.workers} worker "
        "process(es), threads pool, concurrency 4; FakeGitLab and the sender in this process.",
        "",
        *rows,
    ]
    for title, items in (("dropped", result.dropped), ("duplicates", result.duplicates)):
        if items:
            lines.append(f"\n{title} (first 10): {items[:10]}")
    print("\n".join(lines))
    return 0 if passed else 1


# the run -----------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries a second (50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (60)")
    parser.add_argument("--push-share", type=float, default=0.5, help="share of pushes (0.5)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--drain", type=float, default=900.0, help="seconds to wait (900)")
    parser.add_argument("--redis", default=REDIS_URL, help=f"Redis to use ({REDIS_URL})")
    return parser.parse_args()


def start_workers(env: dict[str, str], folder: Path, count: int, tag: str) -> list[Any]:
    workers = []
    for number in range(count):
        command = worker_command(
            env["CELLSBOT_QUEUE"], loglevel="WARNING", name=f"load-{tag}-{number}@%h"
        )
        with (folder / f"worker-{number}.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log
                )
            )
    return workers


def main() -> int:
    args = arguments()
    client = redis.Redis.from_url(args.redis, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        print(f"Redis at {args.redis} is unreachable: {error}", file=sys.stderr)
        return 2
    tag = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    total = max(1, round(args.rate * args.seconds))
    with tempfile.TemporaryDirectory(prefix="cellsbot-load-") as tmp:
        env = {
            "CELLSBOT_BROKER_URL": args.redis,
            "CELLSBOT_REDIS_URL": args.redis,
            "CELLSBOT_QUEUE": f"load-{tag}",
            "CELLSBOT_DATA_DIR": f"{tmp}/data",
            "CELLSBOT_CACHE_DIR": f"{tmp}/cache",
            "CELLSBOT_WEBHOOK_SECRET": secret,
            "CELLSBOT_LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)  # the receiver's process starts with it
        repo_dir, base, head = create_example(Path(tmp) / "repo")
        repo = GitRepo(repo_dir)
        heads = make_heads(repo, head, f"load{tag}", total)
        fake = FakeGitLab().start()
        fake.add_user("cellsbot", BOT_TOKEN, bot=True)
        author = fake.add_user("alice", HUMAN_TOKEN)
        run = Run(fake, fake.add_project("acme/app", repo_dir), author, base)
        worker_env = {"CELLSBOT_GITLAB_URL": fake.url, "CELLSBOT_GITLAB_TOKEN": BOT_TOKEN}
        receiver = start_server(RECEIVER, serve, RECEIVER)
        workers = start_workers({**env, **worker_env}, Path(tmp), args.workers, tag)
        timing = {}
        try:
            asyncio.run(wait_ready(receiver, HEALTHZ))
            plan(run, heads, args.push_share, seed=1)
            started = time.monotonic()
            asyncio.run(send_all(run, receiver.port, secret, args.rate))
            timing["send"] = time.monotonic() - started
            sent = time.monotonic()
            while not drained(run) and time.monotonic() - sent < args.drain:
                if any(worker.poll() is not None for worker in workers):
                    break
                time.sleep(0.5)
            time.sleep(2.0)  # a duplicate would show by now
            run.read_log()
            timing["drain"] = time.monotonic() - sent
            result = outcome(run)
        finally:
            receiver.stop()
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            fake.stop()
            clean_redis(client, tag)
        return report(run, result, args, timing)


if __name__ == "__main__":
    sys.exit(main())
