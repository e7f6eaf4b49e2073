"""`cellsbot topology serve` and `cellsbot topology api-docs` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.support import free_port
from tests.topology.conftest import ADMIN_TOKEN, CLUSTER, TOKENS


def cellsbot(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.1)


def test_serve_starts_the_service_from_a_cluster_file(tmp_path, fresh_database):
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(CLUSTER)
    port = free_port()
    env = {"CELLSBOT_DATABASE_URL": fresh_database, "TEST_TOPOLOGY_ADMIN_TOKEN": ADMIN_TOKEN}
    process = cellsbot("topology", "serve", "--cluster", str(cluster), "--port", str(port), env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        cells = httpx.get(
            f"{url}/v1/cells", headers={"Authorization": f"Bearer {TOKENS['router']}"}
        )
        assert [c["address"] for c in cells.json()["cells"]][:1] == ["cell-1.example.com:443"]
        assert httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/classify"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert TOKENS["router"] not in stderr


def test_serve_refuses_a_bad_cluster_file(tmp_path):
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(CLUSTER.replace('session_prefix = "cell2:"', 'session_prefix = "cell1:"'))
    process = cellsbot(
        "topology",
        "serve",
        "--cluster",
        str(cluster),
        env={"TEST_TOPOLOGY_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "cellsbot: error:" in stderr
    assert "session_prefix 'cell1:'" in stderr
    missing = cellsbot("topology", "serve", "--cluster", str(tmp_path / "nope.toml"))
    _, stderr = missing.communicate(timeout=60)
    assert missing.returncode == 2
    assert "cannot read the cluster file" in stderr


def test_api_docs_prints_the_openapi_document():
    process = cellsbot("topology", "api-docs", "--openapi")
    stdout, _ = process.communicate(timeout=60)
    spec = json.loads(stdout)
    assert set(spec["paths"]) >= {
        "/v1/classify",
        "/v1/cells",
        "/v1/cells/{cell_id}",
        "/v1/claims:beginUpdate",
        "/v1/claims:commitUpdate",
        "/v1/claims:rollbackUpdate",
        "/v1/claims/leases",
        "/v1/claims/records",
        "/v1/claims/record",
    }
    assert "422" not in json.dumps(spec["paths"])  # errors are google.rpc.Status 4XX answers


def test_serve_on_embedded_postgresql_stops_it_on_sigterm(tmp_path):
    cluster = tmp_path / "cluster.toml"
    cluster.write_text(CLUSTER)
    data = tmp_path / "pg"
    port = free_port()
    env = {
        "CELLSBOT_DATABASE_URL": "",  # unset: the embedded default
        "CELLSBOT_DATA_DIR": str(data),
        "TEST_TOPOLOGY_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    process = cellsbot("topology", "serve", "--cluster", str(cluster), "--port", str(port), env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        postmaster = int((data / "topology-postgres" / "postmaster.pid").read_text().split()[0])
        assert process_alive(postmaster)
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert process.returncode == 143
    deadline = time.monotonic() + 30
    while process_alive(postmaster):
        assert time.monotonic() < deadline, "the embedded PostgreSQL is still running"
        time.sleep(0.1)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
