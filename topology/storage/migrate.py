"""Apply numbered SQL migrations, once, even when replicas start together.

The Topology Service's are in topology/storage/migrations; the review bot's coordination
ledger uses the same mechanism for its own (worker/migrations, in the `ledger` schema).
"""

from __future__ import annotations

import logging
import zlib
from importlib import resources

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)
LOCK_KEY = 0x63656C6C73  # "cells": one advisory lock for all replicas of the service


def migrations(package: str = "topology.storage") -> list[tuple[int, str]]:
    """(version, SQL) of every file in `package`'s migrations folder, in order."""
    folder = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def apply_migrations(
    url: str, *, package: str = "topology.storage", schema: str | None = None
) -> list[int]:
    """Apply `package`'s pending migrations under an advisory lock; return the versions
    applied now. With `schema`, the schema is created first and holds the list of applied
    versions, so that two packages can share a database."""
    table = (
        sql.Identifier(schema, "schema_migrations")
        if schema
        else sql.Identifier("schema_migrations")
    )
    lock = LOCK_KEY if schema is None else zlib.crc32(package.encode())
    applied_now: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
        try:
            if schema:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(table)
            )
            done = {row[0] for row in conn.execute(sql.SQL("SELECT version FROM {}").format(table))}
            for version, text in migrations(package):
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table), (version,)
                    )
                logger.info("applied %s migration %s", package, version)
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))
    return applied_now


async def pending(conn: psycopg.AsyncConnection) -> list[int]:
    """Versions not applied yet (for readiness)."""
    cursor = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not (await cursor.fetchone())[0]:
        return [version for version, _ in migrations()]
    cursor = await conn.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cursor.fetchall()}
    return [version for version, _ in migrations() if version not in done]
