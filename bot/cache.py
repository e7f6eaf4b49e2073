"""On-disk cache of statement extractions (SQLite), keyed by content digests."""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sqlite3
from pathlib import Path
from typing import Any

import analyzers

CACHE_DIR_ENV = "CELLSBOT_CACHE_DIR"
_ANALYZER_SOURCES = ("split.py", "names.py", "extract.py", "sqlglot_ops.py", "deps.py", "build.py")
_CHUNK = 900  # SQLite's default limit on host parameters is 999
_TABLES = ("files", "ops", "facts")


def cache_dir() -> Path:
    """`$CELLSBOT_CACHE_DIR`, else the user's cache directory."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_cache_dir  # noqa: PLC0415 (only when no directory is set)

    return Path(user_cache_dir("cellsbot"))


def analyzer_version() -> str:
    """Digest of what decides an extraction: our extraction code and sqlglot's code.

    A change to either starts a new cache file, so stale entries are never served.
    Reading files is cheaper than importing sqlglot or `importlib.metadata`.
    """
    digest = hashlib.blake2b(digest_size=8)
    spec = importlib.util.find_spec("sqlglot")
    if spec and spec.origin:
        digest.update(Path(spec.origin).with_name("_version.py").read_bytes())
    package = Path(analyzers.__file__).parent
    for name in _ANALYZER_SOURCES:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()


class SqliteParseCache:
    """`analyzers.build.ParseCache` in one SQLite file; safe for concurrent processes."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"extractions-{analyzer_version()}.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for table in _TABLES:
            columns = "(key BLOB PRIMARY KEY, data BLOB)"
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} {columns} WITHOUT ROWID")

    def close(self) -> None:
        self._db.close()

    def get_file(self, key: bytes) -> Any:
        return self._get("files", key)

    def put_file(self, key: bytes, statements: Any) -> None:
        self._put("files", {key: statements})

    def get_ops(self, keys: list[bytes]) -> dict[bytes, Any]:
        found: dict[bytes, Any] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            query = f"SELECT key, data FROM ops WHERE key IN ({','.join('?' * len(chunk))})"
            found.update((key, marshal.loads(data)) for key, data in self._db.execute(query, chunk))
        return found

    def put_ops(self, entries: dict[bytes, Any]) -> None:
        self._put("ops", entries)

    def get_fact(self, key: bytes) -> Any:
        return self._get("facts", key)

    def put_fact(self, key: bytes, value: Any) -> None:
        self._put("facts", {key: value})

    def _get(self, table: str, key: bytes) -> Any:
        row = self._db.execute(f"SELECT data FROM {table} WHERE key = ?", (key,)).fetchone()
        return marshal.loads(row[0]) if row else None

    def _put(self, table: str, entries: dict[bytes, Any]) -> None:
        rows = [(key, marshal.dumps(value)) for key, value in entries.items()]
        self._db.execute("BEGIN")
        self._db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", rows)
        self._db.execute("COMMIT")
