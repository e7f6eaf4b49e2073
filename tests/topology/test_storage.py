"""Migrations, readiness, and the embedded PostgreSQL default."""

from __future__ import annotations

import asyncio
import threading

import httpx
import psycopg

from tests.topology.conftest import TOKENS, RunningServer
from topology.client import Claim, TopologyClient
from topology.storage.migrate import apply_migrations, migrations, pending


def test_replicas_starting_together_apply_each_migration_once(fresh_database):
    applied: list[list[int]] = []
    barrier = threading.Barrier(6)

    def start():
        barrier.wait()
        applied.append(apply_migrations(fresh_database))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = [version for version, _ in migrations()]
    assert sorted(applied) == [[]] * 5 + [versions]
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [row[0] for row in rows] == versions
    assert apply_migrations(fresh_database) == []


def test_pending_lists_what_readiness_waits_for(fresh_database):
    async def check():
        async with await psycopg.AsyncConnection.connect(fresh_database) as conn:
            return await pending(conn)

    assert asyncio.run(check()) == [version for version, _ in migrations()]
    apply_migrations(fresh_database)
    assert asyncio.run(check()) == []


def test_readyz_fails_when_the_database_is_gone(topology):
    assert httpx.get(topology.url + "/readyz").status_code == 200
    with psycopg.connect(topology.database_url) as conn:
        conn.execute("DELETE FROM schema_migrations")
    response = httpx.get(topology.url + "/readyz")
    assert response.status_code == 503
    assert "migrations pending" in response.json()["reason"]


def test_the_embedded_postgresql_default_keeps_claims_across_restarts(tmp_path):
    settings = {"data_dir": tmp_path / "data"}
    server = RunningServer(None, settings=settings)
    try:
        with TopologyClient(server.url, TOKENS["cell1"]) as cell:
            cell.commit_update(1, cell.begin_update(1, creates=[Claim("USERNAMES", "embedded")]))
    finally:
        server.stop()
    server = RunningServer(None, settings=settings)
    try:
        with TopologyClient(server.url, TOKENS["router"]) as router:
            assert router.classify(claim={"username": "embedded"}) == "cell-1.example.com:443"
    finally:
        server.stop()
