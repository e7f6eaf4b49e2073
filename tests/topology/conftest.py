"""A real Topology Service (uvicorn on a free port, in a thread) on a fresh PostgreSQL database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field

import pytest
import uvicorn

from topology.api.app import create_app
from topology.client import TopologyClient
from topology.cluster import Cluster, parse_cluster
from topology.settings import TopologySettings

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
token = "cell-one-token-0123456789"

[[callers]]
role = "cell"
cell_id = 2
token = "cell-two-token-0123456789"

[[callers]]
role = "cell"
cell_id = 3
token = "cell-three-token-012345678"

[[callers]]
role = "router"
token = "router-token-0123456789"

[[callers]]
role = "admin"
token_env = "TEST_TOPOLOGY_ADMIN_TOKEN"
"""
ADMIN_TOKEN = "admin-token-0123456789-abcdef"
TOKENS = {
    "cell1": "cell-one-token-0123456789",
    "cell2": "cell-two-token-0123456789",
    "cell3": "cell-three-token-012345678",
    "router": "router-token-0123456789",
    "admin": ADMIN_TOKEN,
}


def ring_cluster(
    rings: Mapping[int, int], token: Callable[[int], str], *, offline: Collection[int] = ()
) -> str:
    """A cluster file of cells by ring (cell id -> ring), each with a cell caller whose token
    is `token(cell id)`, plus the router and the admin callers of TOKENS."""
    tables = []
    for cell_id, ring in rings.items():
        low = cell_id * 10**12
        tables.append(
            f'[[cells]]\nid = {cell_id}\naddress = "cell-{cell_id}.example.com:443"\n'
            f'session_prefix = "cell{cell_id}:"\nring = {ring}\n'
            f'state = "{"offline" if cell_id in offline else "active"}"\n'
            f"[[cells.sequence_ranges]]\nminval = {low}\nmaxval = {low + 10**11 - 1}\n"
        )
        tables.append(
            f'[[callers]]\nrole = "cell"\ncell_id = {cell_id}\ntoken = "{token(cell_id)}"\n'
        )
    tables.append(f'[[callers]]\nrole = "router"\ntoken = "{TOKENS["router"]}"\n')
    tables.append('[[callers]]\nrole = "admin"\ntoken_env = "TEST_TOPOLOGY_ADMIN_TOKEN"\n')
    return "\n".join(tables)


def cluster(text: str = CLUSTER) -> Cluster:
    return parse_cluster(
        text, source="test-cluster.toml", environ={"TEST_TOPOLOGY_ADMIN_TOKEN": ADMIN_TOKEN}
    )


class RunningServer:
    """uvicorn serving the app in a background thread, until stop()."""

    def __init__(
        self, database_url: str | None, *, settings: dict | None = None, cluster_text: str = CLUSTER
    ) -> None:
        app = create_app(
            TopologySettings(database_url=database_url, **(settings or {})),
            cluster=cluster(cluster_text),
        )
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.socket.close()
                raise RuntimeError(f"the Topology Service did not start (exit {self.exit_code})")
            time.sleep(0.02)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except SystemExit as exit:  # uvicorn exits when the app's start-up fails
            self.exit_code = exit.code

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


@dataclass
class Topology:
    database_url: str
    server: RunningServer
    clients: list[TopologyClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, who: str = "admin", token: str | None = None) -> TopologyClient:
        client = TopologyClient(self.url, token if token is not None else TOKENS[who])
        self.clients.append(client)
        return client

    def restart(self) -> None:
        """Stop the service and start a new one on the same database."""
        self.server.stop()
        self.server = RunningServer(self.database_url)


@pytest.fixture
def topology(fresh_database: str) -> Iterator[Topology]:
    running = Topology(fresh_database, RunningServer(fresh_database))
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        running.server.stop()
