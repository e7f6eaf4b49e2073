"""Build a schema model from SQL file texts: split, extract (cached by content), apply."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from analyzers.deps import Deps, statement_deps
from analyzers.model import ModelError, Schema, apply
from analyzers.split import Statement, split_statements
from analyzers.status import MODELED, NO_EFFECT, UNANALYZABLE

if TYPE_CHECKING:
    from analyzers.extract import Extraction

EXCERPT_CHARS = 160
_MIGRATE_DOWN = "-- migrate:down"

Ops = tuple[tuple[Any, ...], ...]


class StatementInfo(NamedTuple):
    """One statement of a file, without its operations (which are loaded only when applied)."""

    line: int
    end_line: int
    key: bytes  # digest of the statement's text; b"" for a split error
    status: str
    reason: str
    excerpt: str  # for unanalyzable statements
    deps: Deps | None  # see analyzers.deps


class ParseCache(Protocol):
    """Storage for extractions, keyed by content digests. Implemented outside `analyzers`.

    A statement's operations by the digest of its text, a file's statements (`StatementInfo`
    tuples) by the digest of the file's text, and small facts about whole builds.
    """

    def get_file(self, key: bytes) -> list[tuple[Any, ...]] | None: ...

    def put_file(self, key: bytes, statements: list[tuple[Any, ...]]) -> None: ...

    def get_ops(self, keys: list[bytes]) -> dict[bytes, Ops]: ...

    def put_ops(self, entries: dict[bytes, Ops]) -> None: ...

    def get_fact(self, key: bytes) -> Any: ...

    def put_fact(self, key: bytes, value: Any) -> None: ...


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
    complete: bool = True  # False: only the objects a change touches were built
    model_errors: int = 0  # operations that referred to missing objects


class Extractor:
    """Extracts each statement text once: memoized in-process and, if given, in a cache.

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
        self._infos: dict[bytes, tuple[str, str, str, Deps | None]] = {}
        self._ops: dict[bytes, Ops] = {}

    def scan(self, text: str) -> list[StatementInfo]:
        """The statements of `text`, extracting those no cache knows."""
        key = digest(text)
        cached = self.cache.get_file(key) if self.cache else None
        if cached is not None:
            infos = [StatementInfo(*info) for info in cached]
            for info in infos:
                self._infos.setdefault(info.key, info[3:])
            return infos
        infos = self._scan(text)
        if self.cache:
            self.cache.put_file(key, [tuple(info) for info in infos])
        return infos

    def ops(self, keys: Iterable[bytes], scanned: list[ScannedFile]) -> dict[bytes, Ops]:
        """Operations of the statements with these digests, found in `scanned`."""
        wanted = [k for k in dict.fromkeys(keys) if k and k not in self._ops]
        if wanted and self.cache:
            self._ops.update(self.cache.get_ops(wanted))
        missing = {k for k in wanted if k not in self._ops}
        if missing:  # gone from the cache since the file was scanned: parse them again
            for file in scanned:
                for statement in split_statements(file.text)[0]:
                    key = digest(statement.text)
                    if key in missing:
                        self._ops[key] = _extract(statement.text).ops
                        self.parsed += 1
        return self._ops

    def _scan(self, text: str) -> list[StatementInfo]:
        statements, error = split_statements(text)
        keys = [digest(s.text) for s in statements]
        infos: list[StatementInfo] = []
        fresh: dict[bytes, Ops] = {}
        for number, (statement, key) in enumerate(zip(statements, keys, strict=True)):
            if self.on_progress and number % 500 == 0:
                self.on_progress(number, len(statements))
            known = self._infos.get(key)
            if known is None:
                extraction = _extract(statement.text)
                excerpt = _excerpt(statement) if extraction.status == UNANALYZABLE else ""
                known = (
                    extraction.status,
                    extraction.reason,
                    excerpt,
                    statement_deps(extraction.ops),
                )
                self._infos[key] = known
                self._ops[key] = fresh[key] = extraction.ops
                self.parsed += 1
            infos.append(StatementInfo(statement.line, statement.end_line, key, *known))
        if self.cache and fresh:
            self.cache.put_ops(fresh)
        if error is not None:  # the text ends inside a quote or comment
            line, end, excerpt = error.line, error.line, ""
            if infos and error.in_statement:  # the unterminated statement itself
                last = infos.pop()
                line, end, excerpt = last.line, last.end_line, _excerpt(statements[-1])
            infos.append(
                StatementInfo(line, end, b"", UNANALYZABLE, str(error), excerpt, ((), (), ()))
            )
        return infos


def _extract(text: str) -> Extraction:
    # imported on first use: a review served from the cache compiles none of its patterns
    from analyzers.extract import extract  # noqa: PLC0415

    return extract(text)


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _excerpt(statement: Statement) -> str:
    text = " ".join(statement.text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _excerpt_of(text: str, line: int, end_line: int) -> str:
    lines = text.split("\n")[line - 1 : end_line]
    return _excerpt(Statement("\n".join(lines), line, end_line))


@dataclass(frozen=True, slots=True)
class ScannedFile:
    source: SourceFile
    text: str  # the part of the source that is applied (see `up_part`)
    statements: list[StatementInfo]


def scan_files(
    files: Iterable[SourceFile],
    extractor: Extractor,
    *,
    on_file: Callable[[str], None] | None = None,
) -> list[ScannedFile]:
    scanned = []
    for source in files:
        if on_file:
            on_file(source.path)
        text = up_part(source.text)
        scanned.append(ScannedFile(source, text, extractor.scan(text)))
    return scanned


def build_schema(
    files: Iterable[SourceFile],
    *,
    extractor: Extractor | None = None,
    on_file: Callable[[str], None] | None = None,
) -> BuildResult:
    """Apply the statements of `files`, in the given order, to an empty schema."""
    extractor = extractor or Extractor()
    return build_scanned(scan_files(files, extractor, on_file=on_file), extractor)


def build_scanned(
    scanned: list[ScannedFile],
    extractor: Extractor,
    *,
    only: Callable[[StatementInfo], bool] | None = None,
) -> BuildResult:
    """Apply scanned files' statements (those `only` accepts, when given) to an empty schema.

    Statistics and statement-level unanalyzable items always cover every statement.
    """
    result = BuildResult(Schema(), complete=only is None)
    keys = [info.key for file in scanned for info in file.statements if not only or only(info)]
    ops = extractor.ops(keys, scanned)
    for file in scanned:
        path = file.source.path
        result.stats.files += 1
        for info in file.statements:
            result.stats.count(info.status)
            if info.status == UNANALYZABLE:
                item = UnanalyzableItem(path, info.line, info.end_line, info.reason, info.excerpt)
                result.unanalyzable.append(item)
            if only and not only(info):
                continue
            for op in ops.get(info.key, ()):
                try:
                    apply(result.schema, op, path, info.line)
                except ModelError as error:
                    result.model_errors += 1
                    text = info.excerpt or _excerpt_of(file.source.text, info.line, info.end_line)
                    result.unanalyzable.append(
                        UnanalyzableItem(path, info.line, info.end_line, str(error), text)
                    )
    result.stats.parsed = extractor.parsed
    return result


def up_part(text: str) -> str:
    """dbmate files hold `-- migrate:up` and `-- migrate:down` sections: keep the up one."""
    down = text.find(_MIGRATE_DOWN)
    return text if down < 0 else text[:down]
