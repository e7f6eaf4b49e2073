"""Apply the service's numbered SQL migrations, once, even when replicas start together."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

logger = logging.getLogger(__name__)
LOCK_KEY = 0x63656C6C73  # "cells": one advisory lock for all replicas of the service


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every file in storage/migrations, in order."""
    folder = resources.files("topology.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def apply_migrations(url: str) -> list[int]:
    """Apply pending migrations under an advisory lock; return the versions applied now."""
    applied_now: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migrations():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                logger.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


async def pending(conn: psycopg.AsyncConnection) -> list[int]:
    """Versions not applied yet (for readiness)."""
    cursor = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not (await cursor.fetchone())[0]:
        return [version for version, _ in migrations()]
    cursor = await conn.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cursor.fetchall()}
    return [version for version, _ in migrations() if version not in done]
