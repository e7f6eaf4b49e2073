"""Review a git range: build the schema model at both revisions and diff them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzers.build import (
    BuildResult,
    Extractor,
    ParseCache,
    ScannedFile,
    SourceFile,
    UnanalyzableItem,
    scan_files,
)
from analyzers.config import CONFIG_FILE, Config, parse_config, select_files
from analyzers.diff import Change
from analyzers.incremental import Comparison, compare, fileset_key
from bot import git

JSON_VERSION = 1
Progress = Callable[[str], None]  # receives a short status message


@dataclass(slots=True)
class Revision:
    label: str  # "base" or "head"
    sha: str
    build: BuildResult


@dataclass(slots=True)
class ReviewResult:
    base: Revision
    head: Revision
    changes: list[Change]
    unanalyzable: list[tuple[UnanalyzableItem, bool]]  # (item, new in this range)
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "base": self.base.sha,
            "head": self.head.sha,
            "changes": [change.to_json() for change in self.changes],
            "unanalyzable": [{**item.to_json(), "new": new} for item, new in self.unanalyzable],
            "stats": self.stats,
        }


def load_config(repo: Path, head_sha: str, config_path: Path | None) -> Config:
    """`--config FILE` if given, else `.cellsbot.yml` as the head revision has it, else defaults."""
    if config_path is not None:
        return parse_config(config_path.read_text(), source=str(config_path))
    text = git.read_file(repo, head_sha, CONFIG_FILE)
    return parse_config(text or "", source=f"{CONFIG_FILE} at {head_sha[:12]}")


def review_range(
    repo: Path,
    base: str,
    head: str,
    *,
    config_path: Path | None = None,
    cache: ParseCache | None = None,
    progress: Progress | None = None,
) -> ReviewResult:
    """Build both revisions' schema models (each statement text parsed once) and diff them."""
    started = time.perf_counter()
    base_sha, head_sha = git.resolve(repo, base), git.resolve(repo, head)
    config = load_config(repo, head_sha, config_path)
    extractor = Extractor(cache)
    scanned = {}
    for label, sha in (("base", base_sha), ("head", head_sha)):
        if progress:
            extractor.on_progress = lambda done, total, label=label: progress(
                f"{label}: parsing statement {done} of {total}"
            )
        scanned[label] = _scan(
            repo, sha, config=config, extractor=extractor, label=label, progress=progress
        )
    comparison = _compare(scanned["base"], scanned["head"], extractor, cache)
    base_rev = Revision("base", base_sha, comparison.base)
    head_rev = Revision("head", head_sha, comparison.head)
    seconds = time.perf_counter() - started
    result = ReviewResult(
        base_rev, head_rev, comparison.changes, _unanalyzable(base_rev, head_rev), seconds
    )
    stats = head_rev.build.stats
    result.stats = {
        "files": stats.files,
        "statements": stats.statements,
        "modeled": stats.modeled,
        "no_effect": stats.no_effect,
        "unanalyzable": len(result.unanalyzable),
        "parsed": extractor.parsed,
        "rebuilt": comparison.rebuilt,
        "mode": comparison.mode,
        "seconds": round(seconds, 3),
    }
    return result


def _compare(
    base: list[ScannedFile], head: list[ScannedFile], extractor: Extractor, cache: ParseCache | None
) -> Comparison:
    """Diff the revisions, remembering whether each builds cleanly (for incremental runs)."""
    base_key, head_key = fileset_key(base), fileset_key(head)
    known = cache.get_fact(base_key) if cache else None
    comparison = compare(base, head, extractor, base_error_free=known)
    if cache:
        cache.put_fact(base_key, comparison.base_error_free)
        cache.put_fact(head_key, comparison.head_error_free)
    return comparison


def _scan(
    repo: Path,
    sha: str,
    *,
    config: Config,
    extractor: Extractor,
    label: str,
    progress: Progress | None,
) -> list[ScannedFile]:
    selection = select_files(git.list_files(repo, sha), config.schema)
    texts = git.read_files(repo, sha, selection.paths)
    files = [SourceFile(path, texts[path]) for path in selection.paths]
    numbers = {source.path: number for number, source in enumerate(files, 1)}

    def on_file(path: str) -> None:
        if progress:
            progress(f"{label}: file {numbers[path]} of {len(files)} ({path})")

    return scan_files(files, extractor, on_file=on_file)


def _unanalyzable(base: Revision, head: Revision) -> list[tuple[UnanalyzableItem, bool]]:
    """Head's unanalyzable statements, each marked new unless the base has the same one."""
    known = {(item.path, item.excerpt, item.reason) for item in base.build.unanalyzable}
    return [
        (item, (item.path, item.excerpt, item.reason) not in known)
        for item in head.build.unanalyzable
    ]
