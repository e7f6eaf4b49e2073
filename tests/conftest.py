"""Shared fixtures: the corpus in ../shared, and real services (PostgreSQL, Redis).

A test that needs something missing is skipped on a developer's clone. CI sets
CELLSBOT_REQUIRE_SERVICES=1 and CELLSBOT_REQUIRE_CORPUS=1, and then such a test fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_gitlab.fixtures import fake_gitlab, gitlab_repo  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("CELLSBOT_CORPUS_DIR", ROOT.parent / "shared" / "corpus"))
POSTGRES_URL = os.environ.get(
    "CELLSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CELLSBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _missing(what: str, flag: str) -> None:
    if os.environ.get(flag) == "1":
        pytest.fail(f"{what} is required here ({flag}=1) but missing")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real schema files (../shared/corpus)."""
    if not CORPUS.is_dir():
        _missing(f"the corpus at {CORPUS}", "CELLSBOT_REQUIRE_CORPUS")
    return CORPUS


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL server we may create databases on: the one at POSTGRES_URL, or, on a
    machine without one (and outside CI), an embedded server for this test session."""
    import psycopg  # noqa: PLC0415

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
        return POSTGRES_URL
    except psycopg.OperationalError as error:
        if os.environ.get("CELLSBOT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required here but missing ({error})")
    from topology.storage.database import embedded_url  # noqa: PLC0415

    return embedded_url(tmp_path_factory.mktemp("embedded-postgres") / "data")


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    import psycopg  # noqa: PLC0415 (optional dependency, checked by postgres_url)

    name = f"cellsbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(postgres_url, dbname=name)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the Redis at REDIS_URL; skipped without one (failed in CI)."""
    try:
        import redis  # noqa: PLC0415 (optional dependency)
    except ImportError:
        _missing("the redis package", "CELLSBOT_REQUIRE_SERVICES")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        _missing(f"Redis at {REDIS_URL} ({error})", "CELLSBOT_REQUIRE_SERVICES")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix of this test's own, its keys deleted afterwards."""
    prefix = f"cellsbot:test:{uuid.uuid4().hex}:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*"):
        redis_client.delete(key)
