"""On-disk cache of statement extractions (SQLite), keyed by content digests."""

from __future__ import annotations

import hashlib
import marshal
import os
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

import analyzers

CACHE_DIR_ENV = "CELLSBOT_CACHE_DIR"
_ANALYZER_SOURCES = ("split.py", "names.py", "extract.py", "sqlglot_ops.py", "build.py")
_CHUNK = 900  # SQLite's default limit on host parameters is 999


def cache_dir() -> Path:
    """`$CELLSBOT_CACHE_DIR`, else the user's cache directory."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_cache_dir  # noqa: PLC0415 (only when no directory is set)

    return Path(user_cache_dir("cellsbot"))


def analyzer_version() -> str:
    """Digest of what decides an extraction: our extraction code and sqlglot's version.

    A change to either starts a new cache file, so stale entries are never served.
    """
    digest = hashlib.blake2b(digest_size=8)
    digest.update(metadata.version("sqlglot").encode())
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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (key BLOB PRIMARY KEY, data BLOB) WITHOUT ROWID"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS statements (key BLOB PRIMARY KEY, data BLOB) WITHOUT ROWID"
        )

    def close(self) -> None:
        self._db.close()

    def get_file(self, key: bytes) -> Any:
        row = self._db.execute("SELECT data FROM files WHERE key = ?", (key,)).fetchone()
        return marshal.loads(row[0]) if row else None

    def put_file(self, key: bytes, data: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?)", (key, marshal.dumps(data)))

    def get_statements(self, keys: list[bytes]) -> dict[bytes, Any]:
        found: dict[bytes, Any] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, data FROM statements WHERE key IN ({marks})"
            for key, data in self._db.execute(query, chunk):
                found[key] = marshal.loads(data)
        return found

    def put_statements(self, entries: dict[bytes, Any]) -> None:
        rows = [(key, marshal.dumps(value)) for key, value in entries.items()]
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO statements VALUES (?, ?)", rows)
        self._db.execute("COMMIT")
