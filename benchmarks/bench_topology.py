"""Benchmark: the Topology Service's claims and classify throughput against same-run baselines.

Run `make bench-topology` (or `.venv/bin/python benchmarks/bench_topology.py`; `--quick` for a
one-second smoke check). It needs PostgreSQL: the server at `--postgres` (default
postgresql://postgres@127.0.0.1:5432/postgres), or, when that is unreachable, an embedded one in
a temporary directory. Each run creates a fresh database and drops it at the end.

What it measures, each figure the best of 3 rounds, ours and the baseline interleaved:

- **Claims**: BeginUpdate + CommitUpdate pairs per second over HTTP, `--clients` concurrent
  clients each claiming fresh usernames, against the same two transactions issued directly
  with psycopg (the repository functions through `in_transaction`, a pool of the server's
  size): the floor the API adds to. Target: HTTP >= 0.5 x direct.
- **Classify**: requests per second and p50/p99 latency of POST /v1/classify (a session prefix,
  then a claim that needs a database read), `--connections` keep-alive connections for
  `--seconds`, against a bare FastAPI endpoint returning a constant JSON from a second uvicorn
  process with the same settings. Target: classify >= 0.6 x bare, with p99 < 10 ms.

Each server is a uvicorn process of its own (uvloop, httptools, one worker); the load
generator (raw HTTP/1.1 over asyncio streams, not httpx, which would be the bottleneck) and the
direct psycopg baseline run in this process, on uvloop too. The machine is shared and noisy:
compare the ratios, not the absolute rates. The output is a Markdown table for
docs/performance.md. Exit status: 0 when every request succeeded (whether or not a target is
met), 1 when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import harness
import psycopg
import uvloop
from fastapi import FastAPI
from harness import Failed, HttpConnection, Sample, Server, start_server, verdict, wait_ready
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from topology.api.app import create_app
from topology.client import Claim
from topology.cluster import parse_cluster
from topology.domain.claims import ClaimKey
from topology.settings import TopologySettings
from topology.storage import repository
from topology.storage.database import embedded_url, in_transaction

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLUSTER = """
[[cells]]
id = 1
address = "cell-1.example.com:443"
session_prefix = "cell1:"
[[cells.sequence_ranges]]
minval = 1
maxval = 999999999999

[[cells]]
id = 2
address = "cell-2.example.com:443"
session_prefix = "cell2:"
ring = 1
[[cells.sequence_ranges]]
minval = 1000000000000
maxval = 1099999999999

[[cells]]
id = 3
address = "cell-3.example.com:443"
session_prefix = "cell3:"
ring = 2
[[cells.sequence_ranges]]
minval = 1100000000000
maxval = 1199999999999

[[callers]]
role = "cell"
cell_id = 1
token_env = "BENCH_CELL_TOKEN"

[[callers]]
role = "router"
token_env = "BENCH_ROUTER_TOKEN"
"""
CELL_ID = 1
BUCKET = "USERNAMES"
CLAIMED_USER = "bench-user"
PREFIX_BODY = {"type": "SESSION_PREFIX", "value": "cell2:abcdef"}
CLAIM_BODY = {"claim": {"username": CLAIMED_USER}}
BARE_ANSWER = {"action": "PROXY", "proxy": {"address": "x"}}
CLAIMS_TARGET = 0.5
CLASSIFY_TARGET = 0.6
P99_TARGET = 0.010


# servers: each a uvicorn process of its own --------------------------------------------------


def topology_app(database_url: str, tokens: dict[str, str]) -> FastAPI:
    cluster = parse_cluster(CLUSTER, source="bench-cluster.toml", environ=tokens)
    return create_app(TopologySettings(database_url=database_url), cluster=cluster)


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/bare")
    async def bare() -> dict[str, Any]:
        return BARE_ANSWER

    return app


def serve(kind: str, database_url: str, tokens: dict[str, str], ports: Connection) -> None:
    """A child process: serve `kind` ("topology" or "bare")."""
    harness.serve(topology_app(database_url, tokens) if kind == "topology" else bare_app(), ports)


def http_request(path: str, body: dict[str, Any], token: str) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


# closed-loop load: each worker issues one operation after another until the time is up ------


Step = Callable[[int, int], Awaitable[None]]


async def closed_loop(workers: int, seconds: float, step: Step) -> Sample:
    """Run `step(worker, i)` in `workers` concurrent loops for `seconds`, timing each call.

    A Failed step is counted and the loop goes on; any other exception (a broken connection, a
    database error) is counted and ends that worker."""
    sample = Sample()
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(number: int) -> None:
        i = 0
        while (begun := time.perf_counter()) < deadline:
            try:
                await step(number, i)
            except Failed as failure:
                sample.errors[str(failure)] += 1
            except Exception as error:  # the worker cannot go on: count it and stop
                sample.errors[repr(error)] += 1
                return
            else:
                sample.latencies.append(time.perf_counter() - begun)
            i += 1

    await asyncio.gather(*(worker(n) for n in range(workers)))
    sample.elapsed = time.perf_counter() - started
    return sample


async def http_load(port: int, request: bytes, connections: int, seconds: float) -> Sample:
    """The same request over `connections` keep-alive connections (opened before the clock)."""
    opened = [await HttpConnection.open(port) for _ in range(connections)]
    path = request.split(b" ", 2)[1].decode()

    async def step(worker: int, _: int) -> None:
        await opened[worker].expect(request, 200, path)

    try:
        return await closed_loop(connections, seconds, step)
    finally:
        for connection in opened:
            connection.close()


# claims: a BeginUpdate + CommitUpdate pair claims one fresh username -----------------------


def begin_request(value: str, token: str) -> bytes:
    claim = Claim(BUCKET, value, source_id=value.encode())
    body = {"cellId": str(CELL_ID), "createRecords": [claim.metadata()], "destroyRecords": []}
    return http_request("/v1/claims:beginUpdate", body, token)


def commit_request(lease_uuid: str, token: str) -> bytes:
    body = {"cellId": str(CELL_ID), "leaseUuid": {"value": lease_uuid}}
    return http_request("/v1/claims:commitUpdate", body, token)


async def http_claim(connection: HttpConnection, value: str, token: str) -> None:
    answer = await connection.expect(begin_request(value, token), 200, "beginUpdate")
    lease_uuid = json.loads(answer)["leaseUuid"]["value"]
    await connection.expect(commit_request(lease_uuid, token), 200, "commitUpdate")


async def http_claims(port: int, token: str, clients: int, seconds: float, tag: str) -> Sample:
    opened = [await HttpConnection.open(port) for _ in range(clients)]

    async def step(worker: int, i: int) -> None:
        await http_claim(opened[worker], f"user-{tag}-{worker}-{i}", token)

    try:
        return await closed_loop(clients, seconds, step)
    finally:
        for connection in opened:
            connection.close()


async def direct_claim(pool: AsyncConnectionPool, value: str) -> None:
    """What the two routes do in the database, without HTTP, FastAPI or pydantic."""
    claim = repository.ClaimInput(ClaimKey(BUCKET, value), source_id=value.encode())

    async def begin(conn: AsyncConnection) -> repository.LeaseRecord:
        return await repository.begin_update(conn, CELL_ID, [claim], [])

    lease = await in_transaction(pool, begin)

    async def commit(conn: AsyncConnection) -> None:
        if await repository.lease_cell(conn, lease.uuid) != CELL_ID:
            raise Failed(f"commit: lease {lease.uuid} is not cell {CELL_ID}'s")
        await repository.commit_update(conn, lease.uuid)

    await in_transaction(pool, commit)


async def direct_claims(
    pool: AsyncConnectionPool, clients: int, seconds: float, tag: str
) -> Sample:
    async def step(worker: int, i: int) -> None:
        await direct_claim(pool, f"user-{tag}-{worker}-{i}")

    return await closed_loop(clients, seconds, step)


# the run -------------------------------------------------------------------------------------

CLAIMS_HTTP, CLAIMS_DIRECT = "claims over HTTP", "claims direct"
BARE, PREFIX, CLAIM = "bare FastAPI", "classify SESSION_PREFIX", "classify claim"


@dataclass(frozen=True)
class Setup:
    topology: Server
    bare: Server
    tokens: dict[str, str]
    clients: int
    connections: int
    seconds: float
    rounds: int

    @property
    def cell_token(self) -> str:
        return self.tokens["BENCH_CELL_TOKEN"]

    @property
    def router_token(self) -> str:
        return self.tokens["BENCH_ROUTER_TOKEN"]


async def check_answers(setup: Setup) -> None:
    """Claim the user that claim classify looks up; check each classify answers as it should."""
    connection = await HttpConnection.open(setup.topology.port)
    try:
        await http_claim(connection, CLAIMED_USER, setup.cell_token)
        for body, address in ((PREFIX_BODY, "cell-2"), (CLAIM_BODY, f"cell-{CELL_ID}")):
            request = http_request("/v1/classify", body, setup.router_token)
            answer = json.loads(await connection.expect(request, 200, "classify check"))
            if not answer["proxy"]["address"].startswith(address):
                raise RuntimeError(f"classify {body} answered {answer}, not {address}")
    finally:
        connection.close()


def phases(
    setup: Setup, pool: AsyncConnectionPool
) -> dict[str, Callable[[int], Awaitable[Sample]]]:
    """Each measurement, by name, as a function of the round (which keeps claims unique)."""
    clients, connections, seconds = setup.clients, setup.connections, setup.seconds
    port = setup.topology.port
    prefix = http_request("/v1/classify", PREFIX_BODY, setup.router_token)
    claim = http_request("/v1/classify", CLAIM_BODY, setup.router_token)
    bare = http_request("/bare", PREFIX_BODY, setup.router_token)
    return {
        CLAIMS_HTTP: lambda r: http_claims(port, setup.cell_token, clients, seconds, f"h{r}"),
        CLAIMS_DIRECT: lambda r: direct_claims(pool, clients, seconds, f"d{r}"),
        BARE: lambda r: http_load(setup.bare.port, bare, connections, seconds),
        PREFIX: lambda r: http_load(port, prefix, connections, seconds),
        CLAIM: lambda r: http_load(port, claim, connections, seconds),
    }


async def measure(setup: Setup, database_url: str) -> dict[str, list[Sample]]:
    """Every phase once per round; odd rounds in reverse order, so that drift hits both sides."""
    await wait_ready(setup.topology, http_request("/v1/classify", PREFIX_BODY, setup.router_token))
    await wait_ready(setup.bare, http_request("/bare", PREFIX_BODY, setup.router_token))
    await check_answers(setup)
    settings = TopologySettings()
    pool = AsyncConnectionPool(
        database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size, open=False
    )
    await pool.open(wait=True)
    try:
        run = phases(setup, pool)
        samples: dict[str, list[Sample]] = {name: [] for name in run}
        for r in range(setup.rounds):
            for name in list(run) if r % 2 == 0 else list(reversed(run)):
                samples[name].append(await run[name](r))
        return samples
    finally:
        await pool.close()


# the report ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _cell(sample: Sample, unit: str) -> str:
    p50, p99 = _ms(sample.percentile(0.5)), _ms(sample.percentile(0.99))
    return f"{sample.rate:,.0f} {unit}/s (p50 {p50}, p99 {p99})"


def table(best: dict[str, Sample], setup: Setup) -> list[str]:
    claims = best[CLAIMS_HTTP].rate / best[CLAIMS_DIRECT].rate
    rows = [
        "| measurement | Topology Service | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|",
        f"| claims: BeginUpdate + CommitUpdate, {setup.clients} clients "
        f"| {_cell(best[CLAIMS_HTTP], 'pairs')} "
        f"| direct psycopg: {_cell(best[CLAIMS_DIRECT], 'pairs')} "
        f"| **{claims:.3f}** | ≥ {CLAIMS_TARGET} | {verdict(claims >= CLAIMS_TARGET)} |",
    ]
    for name in (PREFIX, CLAIM):
        ratio = best[name].rate / best[BARE].rate
        fast = best[name].percentile(0.99) < P99_TARGET
        rows.append(
            f"| {name}, {setup.connections} connections | {_cell(best[name], 'req')} "
            f"| bare FastAPI: {_cell(best[BARE], 'req')} | **{ratio:.3f}** "
            f"| ≥ {CLASSIFY_TARGET}, p99 < {_ms(P99_TARGET)} "
            f"| {verdict(ratio >= CLASSIFY_TARGET and fast)} |"
        )
    return rows


def environment(setup: Setup, postgres: str) -> list[str]:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"Command: `{' '.join([os.path.relpath(sys.executable), *sys.argv])}`",
        f"Environment: Python {platform.python_version()}, {os.cpu_count()} cores (load average "
        f"{load} at the end), {postgres}, FastAPI {version('fastapi')}, uvicorn "
        f"{version('uvicorn')} (uvloop, httptools, one worker), psycopg {version('psycopg')}.",
        "Processes: the Topology Service and the bare FastAPI app each in a uvicorn process of "
        "its own; the load generator (raw HTTP/1.1, keep-alive) and the direct psycopg baseline "
        "in the benchmark's process (uvloop); PostgreSQL in its own; no CPU pinning.",
        f"Best of {setup.rounds} round(s) of {setup.seconds:g} s per measurement, interleaved.",
        "",
    ]


def report(samples: dict[str, list[Sample]], setup: Setup, postgres: str) -> int:
    """Print the environment, the table and every round's rate; 1 when a request failed."""
    best = {name: max(runs, key=lambda s: s.rate) for name, runs in samples.items()}
    complete = all(sample.latencies for sample in best.values())
    errors = Counter[str]()
    for runs in samples.values():
        for sample in runs:
            errors.update(sample.errors)
    lines = environment(setup, postgres)
    if errors or not complete:
        lines.append(f"ERRORS ({sum(errors.values())}): the figures below are not valid.")
        lines += [f"  {count} x {message}" for message, count in errors.most_common(10)]
        lines.append("")
    if complete:
        lines += [*table(best, setup), ""]
    rounds = "; ".join(
        f"{name} {', '.join(f'{s.rate:,.0f}' for s in runs)}" for name, runs in samples.items()
    )
    lines.append(f"Every round (per second): {rounds}")
    print("\n".join(lines))
    return 1 if errors or not complete else 0


# the database: a fresh one on the shared server, or on an embedded one ----------------------


def server_url(url: str) -> str:
    """`url` when it answers, else an embedded PostgreSQL in a temporary directory."""
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
        return url
    except psycopg.OperationalError:
        print(f"PostgreSQL at {url} is unreachable: starting an embedded one", file=sys.stderr)
    directory = tempfile.mkdtemp(prefix="cellsbot-bench-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)  # after the server stops
    return embedded_url(Path(directory) / "data")


@contextmanager
def fresh_database(url: str) -> Iterator[tuple[str, str]]:
    """(URL of a new database, a description of the server); dropped afterwards."""
    server = server_url(url)
    name = f"cellsbot_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        server_version = connection.execute("SHOW server_version").fetchone()[0]
        connection.execute(f'CREATE DATABASE "{name}"')
    where = "shared" if server == url else "embedded"
    try:
        yield (
            psycopg.conninfo.make_conninfo(server, dbname=name),
            f"PostgreSQL {server_version} ({where}, fresh database)",
        )
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent claim clients (8)")
    parser.add_argument("--connections", type=int, default=16, help="classify connections (16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase (5)")
    parser.add_argument("--quick", action="store_true", help="1 s phases, 1 round: a smoke check")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="a server to create databases on")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    tokens = {name: secrets.token_hex(16) for name in ("BENCH_CELL_TOKEN", "BENCH_ROUTER_TOKEN")}
    with fresh_database(args.postgres) as (database_url, postgres):
        topology = start_server("topology", serve, "topology", database_url, tokens)
        bare = start_server("bare", serve, "bare", database_url, tokens)
        try:
            setup = Setup(
                topology,
                bare,
                tokens=tokens,
                clients=args.clients,
                connections=args.connections,
                seconds=1.0 if args.quick else args.seconds,
                rounds=1 if args.quick else 3,
            )
            samples = uvloop.run(measure(setup, database_url))
        finally:
            topology.stop()
            bare.stop()
    return report(samples, setup, postgres)


if __name__ == "__main__":
    sys.exit(main())
