"""What the benchmark scripts share: servers in processes of their own, a minimal keep-alive
HTTP/1.1 client (httpx would be the bottleneck), latency samples and their percentiles.

Imported by the scripts as `harness` (their folder is on sys.path when they run).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import uvicorn
from fastapi import FastAPI

START_TIMEOUT = 60.0


# servers: each a uvicorn process of its own --------------------------------------------------


def serve(app: FastAPI, ports: Connection) -> None:
    """In a child process: bind a free port, report it through `ports`, serve `app` as the
    benchmarks serve everything (uvloop, httptools, one worker, no access log)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    ports.send(listener.getsockname()[1])
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )
    uvicorn.Server(config).run(sockets=[listener])


@dataclass
class Server:
    name: str
    process: multiprocessing.process.BaseProcess
    port: int

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start_server(name: str, target: Callable[..., None], *args: Any) -> Server:
    """Run `target(*args, ports)` in a spawned process (it inherits os.environ as it is now);
    `target` calls `serve`, which reports the port."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=target, args=(*args, sender), name=f"bench-{name}", daemon=True
    )
    process.start()
    if receiver not in wait([receiver, process.sentinel], START_TIMEOUT):  # or it died
        process.kill()
        raise RuntimeError(f"the {name} server did not start")
    return Server(name, process, receiver.recv())


# a minimal HTTP/1.1 client over one keep-alive connection -----------------------------------


class Failed(Exception):
    """A failed operation that leaves the connection usable (an unexpected status): counted
    as an error, and the sender goes on."""


class HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Write one request; (status, body) of the answer."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        return int(head[9:12]), await self._reader.readexactly(_content_length(head))

    async def expect(self, request: bytes, status: int, what: str = "") -> bytes:
        """The body of an answer with `status`; Failed for any other status."""
        got, body = await self.send(request)
        if got != status:
            raise Failed(f"{what + ': ' if what else ''}HTTP {got} {body[:160]!r}")
        return body

    def close(self) -> None:
        self._writer.close()


def _content_length(head: bytes) -> int:
    start = head.lower().find(b"\r\ncontent-length:")
    if start < 0:
        raise ValueError(f"an answer without Content-Length: {head[:200]!r}")
    start += len(b"\r\ncontent-length:")
    return int(head[start : head.index(b"\r\n", start)])


async def wait_ready(server: Server, request: bytes) -> None:
    """Until the server answers `request` with 200 (uvicorn listens once its lifespan started)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            connection = await HttpConnection.open(server.port)
        except ConnectionRefusedError:
            if time.monotonic() > deadline or not server.process.is_alive():
                raise RuntimeError(f"the {server.name} server did not start") from None
            await asyncio.sleep(0.05)
            continue
        try:
            await connection.expect(request, 200, f"{server.name} readiness")
            return
        finally:
            connection.close()


# samples ------------------------------------------------------------------------------------


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, fraction: float) -> float:
        return percentile(self.latencies, fraction)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def verdict(passed: bool) -> str:
    return "**PASS**" if passed else "**FAIL**"
