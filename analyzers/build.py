"""Build a schema model from SQL file texts: split, extract (cached by content), apply."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from analyzers.extract import MODELED, NO_EFFECT, UNANALYZABLE, extract
from analyzers.model import ModelError, Schema, apply
from analyzers.split import Statement, split_statements

EXCERPT_CHARS = 160
_MIGRATE_DOWN = "-- migrate:down"

# A statement's cached form: (first line offset from the statement, last line, status,
# operations, reason, excerpt). A file's cached form is the list of its statements'.
FileData = list[tuple[int, int, str, tuple[Any, ...], str, str]]


class ParseCache(Protocol):
    """Storage for extractions, keyed by content digests. Implemented outside `analyzers`."""

    def get_file(self, key: bytes) -> FileData | None: ...

    def put_file(self, key: bytes, data: FileData) -> None: ...

    def get_statements(
        self, keys: list[bytes]
    ) -> dict[bytes, tuple[str, tuple[Any, ...], str]]: ...

    def put_statements(self, entries: dict[bytes, tuple[str, tuple[Any, ...], str]]) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One schema file's text at one revision."""

    path: str
    text: str


@dataclass(frozen=True, slots=True)
class UnanalyzableItem:
    """A statement whose effect on the schema we could not model, and why."""

    path: str
    line: int
    end_line: int
    reason: str
    excerpt: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "reason": self.reason,
            "excerpt": self.excerpt,
        }


@dataclass(slots=True)
class BuildStats:
    files: int = 0
    statements: int = 0
    modeled: int = 0
    no_effect: int = 0
    unanalyzable: int = 0
    parsed: int = 0  # statements extracted in this run (not served by a cache)

    def count(self, status: str) -> None:
        self.statements += 1
        if status == MODELED:
            self.modeled += 1
        elif status == NO_EFFECT:
            self.no_effect += 1
        else:
            self.unanalyzable += 1


@dataclass(slots=True)
class BuildResult:
    schema: Schema
    unanalyzable: list[UnanalyzableItem] = field(default_factory=list)
    stats: BuildStats = field(default_factory=BuildStats)


class Extractor:
    """Extracts statements once per content: memoized in-process and, if given, in a cache.

    One `Extractor` shared by the base and head builds parses each statement text once,
    however many revisions contain it.
    """

    def __init__(
        self,
        cache: ParseCache | None = None,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.cache = cache
        self.on_progress = on_progress  # (statements done, statements in the file)
        self.parsed = 0
        self._memo: dict[bytes, tuple[str, tuple[Any, ...], str]] = {}

    def file_data(self, text: str) -> FileData:
        key = digest(text)
        cached = self.cache.get_file(key) if self.cache else None
        if cached is not None:
            return cached
        data = self._extract_file(text)
        if self.cache:
            self.cache.put_file(key, data)
        return data

    def _extract_file(self, text: str) -> FileData:
        statements, error = split_statements(text)
        keys = [digest(s.text) for s in statements]
        self._load([k for k in keys if k not in self._memo])
        fresh: dict[bytes, tuple[str, tuple[Any, ...], str]] = {}
        data: FileData = []
        for number, (statement, key) in enumerate(zip(statements, keys, strict=True)):
            if self.on_progress and number % 500 == 0:
                self.on_progress(number, len(statements))
            result = self._memo.get(key)
            if result is None:
                result = extract(statement.text).to_data()
                self.parsed += 1
                self._memo[key] = fresh[key] = result
            status, ops, reason = result
            excerpt = _excerpt(statement) if status == UNANALYZABLE else ""
            data.append((statement.line, statement.end_line, status, ops, reason, excerpt))
        if error is not None:  # the text ends inside a quote or comment
            if data and statements[-1].line <= error.line:
                line, end_line = data[-1][0], data[-1][1]
                excerpt = _excerpt(statements[-1])
                data[-1] = (line, end_line, UNANALYZABLE, (), str(error), excerpt)
            else:
                data.append((error.line, error.line, UNANALYZABLE, (), str(error), ""))
        if self.cache and fresh:
            self.cache.put_statements(fresh)
        return data

    def _load(self, keys: list[bytes]) -> None:
        if self.cache and keys:
            self._memo.update(self.cache.get_statements(keys))


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _excerpt(statement: Statement) -> str:
    text = " ".join(statement.text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _excerpt_of(text: str, line: int, end_line: int) -> str:
    lines = text.split("\n")[line - 1 : end_line]
    return _excerpt(Statement("\n".join(lines), line, end_line))


def build_schema(
    files: Iterable[SourceFile],
    *,
    extractor: Extractor | None = None,
    on_file: Callable[[str], None] | None = None,
) -> BuildResult:
    """Apply the statements of `files`, in the given order, to an empty schema."""
    extractor = extractor or Extractor()
    result = BuildResult(Schema())
    for source in files:
        if on_file:
            on_file(source.path)
        result.stats.files += 1
        for line, end_line, status, ops, reason, excerpt in extractor.file_data(
            _up_part(source.text)
        ):
            result.stats.count(status)
            if status == UNANALYZABLE:
                result.unanalyzable.append(
                    UnanalyzableItem(source.path, line, end_line, reason, excerpt)
                )
            for op in ops:
                try:
                    apply(result.schema, op, source.path, line)
                except ModelError as error:
                    text = excerpt or _excerpt_of(source.text, line, end_line)
                    result.unanalyzable.append(
                        UnanalyzableItem(source.path, line, end_line, str(error), text)
                    )
    result.stats.parsed = extractor.parsed
    return result


def _up_part(text: str) -> str:
    """dbmate files hold `-- migrate:up` and `-- migrate:down` sections: keep the up one."""
    down = text.find(_MIGRATE_DOWN)
    return text if down < 0 else text[:down]
