"""`cellsbot serve` on embedded defaults: no PostgreSQL, Redis or GitLab token configured."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from tests.support import free_port
from worker.serve import _combined


def test_serve_starts_everything_and_says_what_to_point_gitlab_at(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CELLSBOT_")},
        "CELLSBOT_DATA_DIR": str(tmp_path / "data"),
        "CELLSBOT_CACHE_DIR": str(tmp_path / "cache"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/topology/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "cellsbot serve did not become ready"
            time.sleep(0.2)
        secret = (tmp_path / "data" / "webhook-secret").read_text().strip()
        refused = httpx.post(f"{url}/webhooks/gitlab", json={}, headers={"X-Gitlab-Token": "no"})
        assert refused.status_code == 401
        ignored = httpx.post(
            f"{url}/webhooks/gitlab",
            json={"object_kind": "push"},
            headers={"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook"},
        )
        assert ignored.status_code == 200
        cluster = (tmp_path / "data" / "cluster.toml").read_text()
        token = re.search(r'token = "([^"]+)"', cluster).group(1)
        cells = httpx.get(f"{url}/topology/v1/cells", headers={"Authorization": f"Bearer {token}"})
        assert [c["id"] for c in cells.json()["cells"]] == ["1"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert f"{url}/webhooks/gitlab" in output
    assert secret in output
    assert "CELLSBOT_GITLAB_TOKEN is not set" in output
    assert process.returncode == 143


def test_the_combined_app_starts_and_stops_both_apps() -> None:
    """Starlette runs no lifespan of a mounted app, so the combined one runs both: the
    Topology Service's pool, and the receiver's intake (closed at shutdown)."""
    events: list[str] = []

    def app(name: str) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            events.append(f"{name} up")
            yield
            events.append(f"{name} down")

        return FastAPI(lifespan=lifespan)

    combined = _combined(app("receiver"), app("topology"))

    async def run() -> None:
        async with combined.router.lifespan_context(combined):
            events.append("serving")

    asyncio.run(run())
    assert events == ["topology up", "receiver up", "serving", "receiver down", "topology down"]
