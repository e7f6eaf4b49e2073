"""Benchmark: the review bot's webhook ingest rate, and its webhook-to-summary-note latency.

Run `make bench-bot` (or `.venv/bin/python benchmarks/bench_bot.py`; `--quick` for a smoke
check of about 10 seconds). It needs Redis (`--redis`, default redis://127.0.0.1:6379/0) and
../shared/corpus (GitLab's dump, dictionary, schema catalogue and a documented webhook payload).

What it measures, in one run:

- **Ingest**: requests per second and p50/p99 latency of POST /webhooks/gitlab, `--senders`
  keep-alive connections for `--seconds`: GitLab's documented Merge Request Hook `open`
  payload with a valid token, each delivery with its own X-Gitlab-Event-UUID, iid and head
  SHA, so that each is a new job that really goes through the Redis seen-set and is enqueued
  on the Redis broker (the production path; no worker reads that queue meanwhile, and the
  benchmark checks that the queue holds one message per 202). Against a bare FastAPI endpoint
  returning a constant JSON, served the same way and sent the same requests. Best of
  `--rounds` rounds (5) of `--seconds` (4), interleaved: on this shared machine a round's
  rate moves by a fifth either way, and noise only ever slows a round down. Target: ingest
  >= 0.6 x bare. Any answer other than 202 is an error.
- **Review latency**: from sending the webhook to the bot's summary note on the merge request,
  for `--mrs` merge requests that each add one new table (CREATE TABLE, a unique index, its
  primary key, placed as pg_dump places them, and its db/docs entry) to GitLab's
  db/structure.sql, in a repository with GitLab's dictionary and schema catalogue (so the
  review runs in GitLab mode), served by FakeGitLab and reviewed by a real Celery worker
  process. The first merge request runs on an empty parse cache and a fresh worker and is
  reported on its own (cold); the others are warm. Target: warm p50 < 1 s. The time of the
  note is its `created_at` in FakeGitLab (milliseconds); FakeGitLab's request log splits each
  review into phases (webhook to the worker's first API call, reading the MR, files and
  analysis, publishing), and the worker's log gives the Celery task's own run time.

Processes: the receiver (worker.service, the production app) and the bare app each in a
uvicorn process of their own (uvloop, httptools, one worker, no access log); the Celery worker
(threads pool, concurrency 4, as `cellsbot serve` starts it); the load generator (raw
HTTP/1.1 over asyncio streams, on uvloop) and FakeGitLab (uvicorn in a thread) in this
process. The machine is shared and noisy: compare the ingest ratio, not the absolute rates.
Everything runs on a dedicated queue (`bench-<random>`) and temporary data and cache
directories; the queue and every Redis key of the run are deleted at the end. The output is a
Markdown table for docs/performance.md. Exit status: 0 when every request and review succeeded
(whether or not a target is met), 1 when any failed, 2 when Redis or the corpus is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import redis
import uvloop
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402
from harness import (  # noqa: E402
    START_TIMEOUT,
    Failed,
    HttpConnection,
    Sample,
    Server,
    percentile,
    start_server,
    verdict,
    wait_ready,
)

from bot import render  # noqa: E402
from tests.fake_gitlab import FakeGitLab, GitRepo, LoggedRequest  # noqa: E402
from worker.command import worker_command  # noqa: E402

CORPUS = Path(os.environ.get("CELLSBOT_CORPUS_DIR", ROOT.parent / "shared" / "corpus"))
REDIS_URL = os.environ.get("CELLSBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WEBHOOK = "/webhooks/gitlab"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BOT_TOKEN = "bench-bot-token-0123456789"
HUMAN_TOKEN = "bench-human-token-0123456789"
PROJECT_PATH = "gitlab-org/gitlab"
INGEST_TARGET = 0.6
REVIEW_TARGET = 1.0  # seconds, warm p50
REVIEW_TIMEOUT = 60.0
POLL = 0.01


# servers: each a uvicorn process of its own --------------------------------------------------

RECEIVER, BARE = "receiver", "bare"


def receiver_app() -> FastAPI:
    """The production receiver (`uvicorn --factory worker.service:create_app`), configured from
    the CELLSBOT_* environment the parent set."""
    # imported only here: worker.service imports worker.celery_app, which builds a Celery app
    # from the environment on import (in this process a file broker in the user's data dir)
    from worker.service import create_app  # noqa: PLC0415

    return create_app()


def bare_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(WEBHOOK, status_code=202)
    async def bare() -> dict[str, Any]:
        return {"status": "queued"}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "alive"}

    return app


def serve(kind: str, ports: Connection) -> None:
    """A child process: serve `kind` (RECEIVER or BARE)."""
    harness.serve(receiver_app() if kind == RECEIVER else bare_app(), ports)


# webhook deliveries ---------------------------------------------------------------------------


class Deliveries:
    """Merge Request Hook `open` deliveries of GitLab's documented payload, as raw requests.

    Every delivery gets its own X-Gitlab-Event-UUID (`<tag>-…`, so that the run's seen-set keys
    can be found and deleted); the caller gives the iid, head SHA and source branch."""

    def __init__(self, template: dict[str, Any], *, secret: str, tag: str, project_id: int):
        payload = json.loads(json.dumps(template))
        payload["project"] |= {"id": project_id, "path_with_namespace": PROJECT_PATH}
        attributes = payload["object_attributes"]
        attributes |= {
            "iid": "@@iid@@",
            "action": "open",
            "state": "opened",
            "draft": False,
            "work_in_progress": False,
            "source_branch": "@@branch@@",
            "target_branch": "main",
        }
        attributes["last_commit"]["id"] = "@@sha@@"
        self._body = json.dumps(payload).replace('"@@iid@@"', "@@iid@@")
        self._secret = secret
        self.tag = tag
        self._numbers = itertools.count(1)

    def request(self, iid: int, head_sha: str, branch: str) -> bytes:
        body = (
            self._body.replace("@@iid@@", str(iid))
            .replace("@@sha@@", head_sha)
            .replace("@@branch@@", branch)
            .encode()
        )
        event = f"{self.tag}-0000-4000-8000-{next(self._numbers):012x}"
        head = (
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: GitLab/17.6.0\r\n"
            f"Content-Type: application/json\r\nX-Gitlab-Event: Merge Request Hook\r\n"
            f"X-Gitlab-Token: {self._secret}\r\nX-Gitlab-Instance: https://gitlab.example.com\r\n"
            f"X-Gitlab-Event-UUID: {event}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def new_job(self) -> bytes:
        """A delivery for an MR no delivery named before (iid and head from a counter)."""
        number = next(self._numbers)
        head_sha = hashlib.sha1(f"{self.tag}:{number}".encode()).hexdigest()
        return self.request(number, head_sha, f"bench-{number}")


# (a) ingest: closed-loop load, each sender one request after another until the time is up ----


async def ingest(port: int, deliveries: Deliveries, senders: int, seconds: float) -> Sample:
    """New-job deliveries over `senders` keep-alive connections (opened before the clock).

    An unexpected status is counted and the sender goes on; any other exception (a broken
    connection) is counted and ends that sender."""
    opened = [await HttpConnection.open(port) for _ in range(senders)]
    sample = Sample()
    started = time.perf_counter()
    deadline = started + seconds

    async def sender(connection: HttpConnection) -> None:
        while (begun := time.perf_counter()) < deadline:
            try:
                await connection.expect(deliveries.new_job(), 202)
            except Failed as failure:
                sample.errors[str(failure)] += 1
            except Exception as error:
                sample.errors[repr(error)] += 1
                return
            else:
                sample.latencies.append(time.perf_counter() - begun)

    try:
        await asyncio.gather(*(sender(connection) for connection in opened))
    finally:
        for connection in opened:
            connection.close()
    sample.elapsed = time.perf_counter() - started
    return sample


async def measure_ingest(
    receiver: Server, bare: Server, deliveries: Deliveries, args: argparse.Namespace
) -> tuple[dict[str, list[Sample]], int]:
    """Both servers once per round, in alternating order; (samples, deliveries accepted)."""
    for server in (receiver, bare):
        await wait_ready(server, HEALTHZ)
    connection = await HttpConnection.open(receiver.port)
    try:  # one delivery through the whole path before the clock: connections, imports
        answer = json.loads(await connection.expect(deliveries.new_job(), 202))
        if answer.get("status") != "queued":
            raise RuntimeError(f"the receiver answered {answer}")
    finally:
        connection.close()
    servers = {RECEIVER: receiver, BARE: bare}
    samples: dict[str, list[Sample]] = {RECEIVER: [], BARE: []}
    for r in range(args.rounds):
        for name in (RECEIVER, BARE) if r % 2 == 0 else (BARE, RECEIVER):
            port = servers[name].port
            samples[name].append(await ingest(port, deliveries, args.senders, args.seconds))
    accepted = 1 + sum(len(sample.latencies) for sample in samples[RECEIVER])
    return samples, accepted


# (b) review latency: a repository with GitLab's dump, one new table per merge request --------

GITLAB_FILES = ("db/docs/*.yml", "db/gitlab_schemas/*.yaml", "config/gitlab_loose_foreign_keys.yml")


def table_name(number: int) -> str:
    """project_bench_notes_aa, …_ab, …: letters, since a name ending in _<digits> reads as a
    partition."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return f"project_bench_notes_{letters[number // 26 % 26]}{letters[number % 26]}"


def insert_sorted(text: str, pattern: str, name: str, block: str, window: int = 20) -> str:
    """`block` where pg_dump would put the statement named `name` in the section of those
    matching `pattern` (group 1: the name): between a predecessor and a successor by name,
    in the stretch most in name order around it (pg_dump sorts each section by name, apart
    from a few runs it orders by dependency)."""
    matches = list(re.finditer(pattern, text, re.MULTILINE))
    names = [match.group(1) for match in matches]

    def in_order(i: int) -> int:
        before, after = names[max(0, i - window) : i], names[i : i + window]
        return sum(n < name for n in before) + sum(n > name for n in after)

    places = [i for i, n in enumerate(names) if name < n and (i == 0 or names[i - 1] < name)]
    if not places:
        raise ValueError(f"no place for {name} in the dump")
    at = matches[max(places, key=in_order)].start()
    return text[:at] + block + text[at:]


def add_table(dump: str, name: str) -> str:
    """The dump with one new table, its unique index and its primary key, as pg_dump writes
    them: each in its section, in name order."""
    table = (
        f"CREATE TABLE {name} (\n"
        "    id bigint NOT NULL,\n"
        "    project_id bigint NOT NULL,\n"
        "    created_at timestamp with time zone NOT NULL,\n"
        "    updated_at timestamp with time zone NOT NULL,\n"
        "    name text NOT NULL,\n"
        "    CONSTRAINT check_6a1f3b2c9d CHECK ((char_length(name) <= 255))\n"
        ");\n\n"
    )
    primary_key = f"ALTER TABLE ONLY {name}\n    ADD CONSTRAINT {name}_pkey PRIMARY KEY (id);\n\n"
    index = f"index_{name}_on_project_id_and_name"
    unique = f"CREATE UNIQUE INDEX {index} ON {name} USING btree (project_id, name);\n\n"
    dump = insert_sorted(dump, r"^CREATE TABLE (\w+) \(", name, table)
    dump = insert_sorted(
        dump, r"^ALTER TABLE ONLY \w+\n    ADD CONSTRAINT (\w+) PRIMARY KEY", f"{name}_pkey",
        primary_key,
    )  # fmt: skip
    return insert_sorted(dump, r"^CREATE (?:UNIQUE )?INDEX (\w+) ON \w+ ", index, unique)


def dictionary_entry(name: str) -> str:
    return (
        f"---\ntable_name: {name}\nclasses:\n- Projects::BenchNote\nfeature_categories:\n"
        f"- code_review_workflow\ndescription: Notes of the bot benchmark ({name})\n"
        "introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1\n"
        "milestone: '18.0'\ngitlab_schema: gitlab_main_org\nsharding_key:\n"
        "  project_id: projects\ntable_size: small\n"
    )


def build_repository(path: Path, mrs: int) -> tuple[GitRepo, list[tuple[str, str, str]]]:
    """The base commit on main (GitLab's dump and catalogue files from the corpus) and one
    branch per merge request; [(branch, head SHA, table)], the warm-up's first."""
    repo = GitRepo(path)
    gitlab = CORPUS / "gitlab"
    dump = (gitlab / "db/structure.sql").read_text()
    files: dict[str, str | bytes | None] = {"db/structure.sql": dump}
    for pattern in GITLAB_FILES:
        for found in sorted(gitlab.glob(pattern)):
            files[str(found.relative_to(gitlab))] = found.read_bytes()
    repo.commit(files, "GitLab's schema")
    heads = []
    for number in range(mrs + 1):
        name = table_name(number)
        branch = f"add-{name.replace('_', '-')}"
        repo.branch(branch, "main")
        head = repo.commit(
            {
                "db/structure.sql": add_table(dump, name),
                f"db/docs/{name}.yml": dictionary_entry(name),
            },
            f"Add the {name} table",
        )
        heads.append((branch, head, name))
    repo.checkout("main")
    return repo, heads


@dataclass
class Review:
    """One merge request's webhook-to-summary time and where it went (seconds)."""

    table: str
    latency: float
    phases: dict[str, float]
    requests: int  # API calls of the worker until the summary note
    threads: int
    task: float | None = None  # the Celery task's own run time, from the worker's log


PHASES = (
    "webhook to the worker's first API call",
    "read the MR (MR, versions, diffs)",
    "files and analysis (tree, files, blobs; the review)",
    "publish until the summary note",
)


def phases(log: list[LoggedRequest], sent: float, noted: float, iid: int) -> dict[str, float]:
    """Split sent → noted by the worker's requests (`log`, from `sent` on): its first one, its
    first read of the repository (tree, files, blobs), the MR read again after the analysis
    (the head-moved check), and the note's creation. A mark that is missing takes the next
    one's time, so its phase counts as zero."""
    mr_path = re.compile(rf"/merge_requests/{iid}$")
    first = log[0].time if log else noted
    files = next((r.time for r in log if "/repository/" in r.path), noted)
    check = next(
        (r.time for r in log if r.time > files and r.method == "GET" and mr_path.search(r.path)),
        noted,
    )
    marks = [sent, first, files, check, noted]
    return {name: end - start for name, start, end in zip(PHASES, marks, marks[1:], strict=False)}


def dump_download(fake: FakeGitLab, project: int, head: str) -> float:
    """Best of 3: one download of a head's db/structure.sql through the API, as the worker
    fetches a changed file (for reference: how much of "files and analysis" is moving 2 MB)."""
    url = f"{fake.api_url}/projects/{project}/repository/files/db%2Fstructure.sql/raw"
    times = []
    with httpx.Client(headers={"PRIVATE-TOKEN": BOT_TOKEN}) as client:
        for _ in range(3):
            started = time.perf_counter()
            client.get(url, params={"ref": head}).raise_for_status()
            times.append(time.perf_counter() - started)
    return min(times)


class Worker:
    """The Celery worker subprocess, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, queue: str, tag: str) -> None:
        self.log = log
        command = worker_command(queue, name=f"bench-{tag}@%h")
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def finished(self) -> list[tuple[float, str]]:
        """(run time, status) of each review task that ended, in order."""
        pattern = r"Task cellsbot\.review\[[\w-]+\] succeeded in ([\d.]+)s: \{'status': '(\w+)'"
        return [(float(s), status) for s, status in re.findall(pattern, self.text())]

    async def ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while " ready." not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _epoch(timestamp: str) -> float:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


async def until(condition: Callable[[], Any], what: str, seconds: float = REVIEW_TIMEOUT) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise Failed(f"{what} did not happen within {seconds:g} s")
        await asyncio.sleep(POLL)
    return found


async def review_one(
    fake: FakeGitLab,
    *,
    worker: Worker,
    connection: HttpConnection,
    deliveries: Deliveries,
    ids: dict[str, int],
    head: tuple[str, str, str],
) -> Review:
    """Open the MR, deliver its webhook, wait for the summary note and for the task's end."""
    branch, sha, table = head
    project, bot = ids["project"], ids["bot"]
    iid = fake.open_mr(project, author_id=ids["human"], source_branch=branch, title=f"Add {table}")
    done = len(worker.finished())
    fake.clear_log()
    request = deliveries.request(iid, sha, branch)
    sent = time.time()
    await connection.expect(request, 202)

    def summary() -> dict[str, Any] | None:
        return next(
            (
                note
                for note in fake.notes(project, iid)
                if note["author"]["id"] == bot and note["body"].startswith(render.SUMMARY_MARKER)
            ),
            None,
        )

    note = await until(summary, f"the summary note of !{iid}")
    noted = _epoch(note["created_at"])
    finished = await until(lambda: worker.finished()[done:], f"the end of the review of !{iid}")
    runtime, status = finished[0]
    if status != "published":
        raise Failed(f"the review of !{iid} ended {status!r}")
    log = [r for r in fake.request_log if r.time >= sent]
    requests = sum(1 for r in log if r.time <= noted + 0.001)  # up to the note (ms precision)
    threads = sum(1 for d in fake.discussions(project, iid) if d["notes"][0].get("position"))
    return Review(table, noted - sent, phases(log, sent, noted, iid), requests, threads, runtime)


async def measure_reviews(
    fake: FakeGitLab,
    *,
    worker: Worker,
    receiver: Server,
    deliveries: Deliveries,
    ids: dict[str, int],
    heads: list[tuple[str, str, str]],
    results: Results,
) -> None:
    """The cold first review, then the warm ones, one after another, into `results`."""
    await worker.ready()
    reviews: list[Review] = []
    connection = await HttpConnection.open(receiver.port)
    try:
        for head in heads:
            try:
                reviews.append(
                    await review_one(
                        fake,
                        worker=worker,
                        connection=connection,
                        deliveries=deliveries,
                        ids=ids,
                        head=head,
                    )
                )
            except Failed as failure:
                results.errors[str(failure)] += 1
                break  # the worker is stuck or the receiver refuses: later ones would too
    finally:
        connection.close()
    results.cold, results.warm = (reviews[0] if reviews else None), reviews[1:]


# Redis: the run's queue and keys -------------------------------------------------------------


def purge(client: redis.Redis, queue: str) -> None:
    """Delete the queue (and its priority lists) the ingest filled."""
    keys = list(client.scan_iter(match=f"{queue}*"))
    if keys:
        client.delete(*keys)


def clean_redis(client: redis.Redis, tag: str) -> int:
    """Delete every key of the run (queue, seen-set, the worker's mailbox: all carry `tag`)
    and the run's members of kombu's shared binding sets; the number of keys deleted."""
    keys = list(client.scan_iter(match=f"*{tag}*"))
    if keys:
        client.delete(*keys)
    for key in client.scan_iter(match="_kombu.binding*"):
        kind = client.type(key)
        if kind == b"set":
            members = [m for m in client.smembers(key) if tag.encode() in m]
            if members:
                client.srem(key, *members)
        elif kind == b"zset":
            members = [m for m in client.zrange(key, 0, -1) if tag.encode() in m]
            if members:
                client.zrem(key, *members)
    return len(keys)


# the report ----------------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    cold: Review | None = None
    warm: list[Review] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    blob: float | None = None  # one 2 MB blob download from FakeGitLab, for reference


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _cell(sample: Sample) -> str:
    p50, p99 = _ms(sample.percentile(0.5)), _ms(sample.percentile(0.99))
    return f"{sample.rate:,.0f} req/s (p50 {p50}, p99 {p99})"


def table(
    best: dict[str, Sample], cold: Review | None, warm: list[Review], args: argparse.Namespace
) -> list[str]:
    rows = [
        "| measurement | cellsbot | baseline | figure | target | result |",
        "|---|---|---|---|---|---|",
    ]
    if all(sample.latencies for sample in best.values()):
        ratio = best[RECEIVER].rate / best[BARE].rate
        rows.append(
            f"| webhook ingest: POST {WEBHOOK}, MR open, each a new job (Redis seen-set + "
            f"Celery enqueue on Redis), {args.senders} senders | {_cell(best[RECEIVER])} "
            f"| bare FastAPI: {_cell(best[BARE])} | **{ratio:.3f}** x bare "
            f"| ≥ {INGEST_TARGET} x bare | {verdict(ratio >= INGEST_TARGET)} |"
        )
    if warm:
        latencies = [review.latency for review in warm]
        p50 = percentile(latencies, 0.5)
        rows.append(
            f"| webhook → summary note, one new table on GitLab's dump (GitLab mode), "
            f"{len(warm)} MRs, warm | p50 {_ms(p50)}, p90 {_ms(percentile(latencies, 0.9))}, "
            f"max {_ms(max(latencies))} | | **p50 {_ms(p50)}** | p50 < {_ms(REVIEW_TARGET)} "
            f"| {verdict(p50 < REVIEW_TARGET)} |"
        )
    if cold:
        rows.append(
            "| webhook → summary note, the first MR (empty parse cache, fresh worker) "
            f"| {_ms(cold.latency)} | | {_ms(cold.latency)} | (none) | |"
        )
    return rows


def breakdown(results: Results) -> list[str]:
    """Where the review time went: the median of the warm reviews, and the cold one."""
    cold, warm = results.cold, results.warm
    if not warm:
        return []

    def median(values: list[float]) -> str:
        return _ms(percentile(values, 0.5))

    rows = ["| phase (from FakeGitLab's request log) | warm, median | cold |", "|---|---|---|"]
    for name in PHASES:
        cold_part = _ms(cold.phases[name]) if cold else ""
        rows.append(f"| {name} | {median([r.phases[name] for r in warm])} | {cold_part} |")
    rows.append(
        f"| total: webhook → summary note | {median([r.latency for r in warm])} "
        f"| {_ms(cold.latency) if cold else ''} |"
    )
    tasks = [r.task for r in warm if r.task is not None]
    if tasks:
        cold_task = _ms(cold.task) if cold and cold.task is not None else ""
        rows.append(
            "| Celery task run time (worker log; includes status and labels) "
            f"| {median(tasks)} | {cold_task} |"
        )
    rows.append(
        "| GitLab API calls until the summary note "
        f"| {percentile([r.requests for r in warm], 0.5)} | {cold.requests if cold else ''} |"
    )
    rows.append(
        f"| inline threads posted | {percentile([r.threads for r in warm], 0.5)} "
        f"| {cold.threads if cold else ''} |"
    )
    if results.blob is not None:
        rows.append(
            f"| for reference: one download of a head's 2 MB dump | {_ms(results.blob)} | |"
        )
    return rows


def environment(args: argparse.Namespace, redis_version: str) -> list[str]:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"Command: `{' '.join([os.path.relpath(sys.executable), *sys.argv])}`",
        f"Environment: Python {platform.python_version()}, {os.cpu_count()} cores (load average "
        f"{load} at the end), Redis {redis_version} at {args.redis} (broker, seen-set, locks), "
        f"FastAPI {version('fastapi')}, uvicorn {version('uvicorn')}, Celery {version('celery')}, "
        f"kombu {version('kombu')}, redis-py {version('redis')}, python-gitlab "
        f"{version('python-gitlab')}, sqlglot {version('sqlglot')}.",
        "Processes: the receiver (worker.service) and the bare FastAPI app each in a uvicorn "
        "process of its own (uvloop, httptools, one worker, no access log); the Celery worker "
        "(threads pool, concurrency 4); the load generator (raw HTTP/1.1, keep-alive, uvloop) "
        "and FakeGitLab (uvicorn in a thread) in the benchmark's process; no CPU pinning.",
        f"Ingest: best of {args.rounds} round(s) of {args.seconds:g} s each, interleaved. "
        f"Reviews: 1 cold + {args.mrs} warm merge requests, one at a time.",
        "",
    ]


def report(results: Results, args: argparse.Namespace, redis_version: str) -> int:
    """Print the environment, the tables and every round's rate; 1 when anything failed."""
    errors = results.errors
    for runs in results.samples.values():
        for sample in runs:
            errors.update(sample.errors)
    best = {name: max(runs, key=lambda s: s.rate) for name, runs in results.samples.items()}
    complete = len(best) == 2 and results.cold is not None and len(results.warm) == args.mrs
    lines = environment(args, redis_version)
    if errors or not complete:
        lines.append(f"ERRORS ({sum(errors.values())}): the figures below are not valid.")
        lines += [f"  {count} x {message}" for message, count in errors.most_common(10)]
        lines.append("")
    lines += [*table(best, results.cold, results.warm, args), ""]
    if results.warm:
        lines += ["Where a review's time goes:", "", *breakdown(results), ""]
    rounds = "; ".join(
        f"{name} {', '.join(f'{s.rate:,.0f}' for s in runs)}"
        for name, runs in results.samples.items()
    )
    lines.append(f"Every ingest round (req/s): {rounds}")
    paired = zip(results.samples[RECEIVER], results.samples[BARE], strict=True)
    ratios = ", ".join(f"{ours.rate / bare.rate:.2f}" for ours, bare in paired)
    lines.append(f"Each round's receiver / bare (the two run back to back): {ratios}")
    if results.warm:
        each = ", ".join(f"{review.latency * 1000:.0f}" for review in results.warm)
        lines.append(f"Every warm review (ms): {each}")
    print("\n".join(lines))
    return 1 if errors or not complete else 0


# the run -------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--senders", type=int, default=16, help="ingest connections (16)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of an ingest round (4)")
    parser.add_argument("--rounds", type=int, default=5, help="ingest rounds per server (5)")
    parser.add_argument("--mrs", type=int, default=10, help="warm merge requests reviewed (10)")
    parser.add_argument("--quick", action="store_true", help="1 s, 1 round, 2 MRs: a smoke check")
    parser.add_argument("--redis", default=REDIS_URL, help=f"Redis to use ({REDIS_URL})")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.mrs = 1.0, 1, 2
    return args


def main() -> int:
    args = arguments()
    template_path = CORPUS / "gitlab-webhooks" / "merge_request_event.gitlab_docs.json"
    if not (CORPUS / "gitlab" / "db" / "structure.sql").is_file() or not template_path.is_file():
        print(f"the corpus is missing at {CORPUS} (set CELLSBOT_CORPUS_DIR)", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(args.redis, socket_timeout=5)
    try:
        redis_version = client.info("server")["redis_version"]
    except redis.exceptions.ConnectionError as error:
        print(f"Redis at {args.redis} is unreachable: {error}", file=sys.stderr)
        return 2
    tag = secrets.token_hex(4)
    queue = f"bench-{tag}"
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="cellsbot-bench-bot-") as tmp:
        env = {
            "CELLSBOT_BROKER_URL": args.redis,
            "CELLSBOT_REDIS_URL": args.redis,
            "CELLSBOT_QUEUE": queue,
            "CELLSBOT_DATA_DIR": f"{tmp}/data",
            "CELLSBOT_CACHE_DIR": f"{tmp}/cache",
            "CELLSBOT_WEBHOOK_SECRET": secret,
        }
        os.environ.update(env)  # the servers' processes start with it
        fake = FakeGitLab().start()
        ids = {
            "bot": fake.add_user("cellsbot", BOT_TOKEN, bot=True),
            "human": fake.add_user("alice", HUMAN_TOKEN),
        }
        repo, heads = build_repository(Path(tmp) / "repo", args.mrs)
        ids["project"] = fake.add_project(PROJECT_PATH, repo.path)
        template = json.loads(template_path.read_text())
        deliveries = Deliveries(template, secret=secret, tag=tag, project_id=ids["project"])
        results = Results()
        receiver = start_server(RECEIVER, serve, RECEIVER)
        worker: Worker | None = None
        try:
            bare = start_server(BARE, serve, BARE)
            try:
                results.samples, accepted = uvloop.run(
                    measure_ingest(receiver, bare, deliveries, args)
                )
            finally:
                bare.stop()
            enqueued = client.llen(queue)
            if enqueued != accepted:
                results.errors[f"{accepted} deliveries accepted, {enqueued} jobs queued"] += 1
            purge(client, queue)  # the worker must not review the ingest's made-up MRs
            worker_env = {"CELLSBOT_GITLAB_URL": fake.url, "CELLSBOT_GITLAB_TOKEN": BOT_TOKEN}
            worker = Worker(worker_env, Path(tmp) / "worker.log", queue, tag)
            uvloop.run(
                measure_reviews(
                    fake,
                    worker=worker,
                    receiver=receiver,
                    deliveries=deliveries,
                    ids=ids,
                    heads=heads,
                    results=results,
                )
            )
            results.blob = dump_download(fake, ids["project"], heads[-1][1])
        finally:
            receiver.stop()
            if worker is not None:
                worker.stop()
            fake.stop()
            clean_redis(client, tag)
        results.errors.update(f"FakeGitLab: {e.splitlines()[-1]}" for e in fake.errors)
        code = report(results, args, redis_version)
        if code and worker is not None:
            print(f"\nThe worker's log (end):\n{worker.text()[-4000:]}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
