"""Review a git range: build both schema models, diff them, and run the Cells rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from analyzers.build import (
    BuildResult,
    Extractor,
    ParseCache,
    ScannedFile,
    SourceFile,
    UnanalyzableItem,
    scan_files,
)
from analyzers.cells import CellsContext
from analyzers.config import CONFIG_FILE, Config, parse_config, select_files
from analyzers.diff import Change
from analyzers.engine import check, suppress
from analyzers.findings import ERROR, Finding, FindingSet
from analyzers.gitlab import is_dictionary_path, is_gitlab_repository, lazy_catalogue, relevant_path
from analyzers.incremental import Comparison, compare, fileset_key
from analyzers.owners import CodeOwners, find_codeowners, parse_codeowners
from analyzers.rules import RuleContext
from bot import git

if TYPE_CHECKING:
    from analyzers.suppressions import Suppression

JSON_VERSION = 1
Progress = Callable[[str], None]  # receives a short status message
Files = dict[str, str]  # path -> blob id


class Source(Protocol):
    """Where a review reads its files: a local git repository (bot.git.GitSource) or a GitLab
    project through its API. Blob ids are git's, so equal ids mean equal contents."""

    def resolve(self, revisions: list[str]) -> list[str]:
        """The commit SHAs the revisions name."""
        ...

    def list_files(self, commit: str) -> Files:
        """The files of a commit the review may read: path -> blob id."""
        ...

    def read_blobs(self, blobs: list[str]) -> dict[str, str]:
        """Blob id -> text, for blob ids `list_files` gave."""
        ...


@dataclass(slots=True)
class Revision:
    sha: str
    files: Files
    build: BuildResult


@dataclass(slots=True)
class ReviewResult:
    base: Revision
    head: Revision
    changes: list[Change]
    unanalyzable: list[tuple[UnanalyzableItem, bool]]  # (item, new in this range)
    findings: FindingSet
    cells_mode: str  # gitlab or generic
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    #: what the coordination needs besides the findings: the head's configuration, its
    #: sharding model (the GitLab dictionary in GitLab mode) and its CODEOWNERS file
    config: Config = field(default_factory=Config)
    cells: CellsContext | None = None
    codeowners: CodeOwners | None = None

    @property
    def has_errors(self) -> bool:
        return bool(self.findings.errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "base": self.base.sha,
            "head": self.head.sha,
            "cells_mode": self.cells_mode,
            "findings": [finding.to_json() for finding in self.findings.findings],
            "suppressed": [finding.to_json() for finding in self.findings.suppressed],
            "changes": [change.to_json() for change in self.changes],
            "unanalyzable": [{**item.to_json(), "new": new} for item, new in self.unanalyzable],
            "stats": self.stats,
        }


def load_config(source: Source, head: Files, config_path: Path | None) -> Config:
    """`--config FILE` if given, else `.cellsbot.yml` as the head revision has it, else defaults."""
    if config_path is not None:
        return parse_config(config_path.read_text(), source=str(config_path))
    blob = head.get(CONFIG_FILE)
    text = source.read_blobs([blob])[blob] if blob else ""
    return parse_config(text, source=f"{CONFIG_FILE} at the head revision")


def review_range(
    repo: Path,
    base: str,
    head: str,
    *,
    config_path: Path | None = None,
    cache: ParseCache | None = None,
    progress: Progress | None = None,
) -> ReviewResult:
    """Review a range of a local git repository (`cellsbot review`)."""
    return review(
        git.GitSource(repo), base, head, config_path=config_path, cache=cache, progress=progress
    )


def review(
    source: Source,
    base: str,
    head: str,
    *,
    config_path: Path | None = None,
    cache: ParseCache | None = None,
    progress: Progress | None = None,
) -> ReviewResult:
    """Build both revisions' schema models (each statement text parsed once), diff them and
    run the Cells rules on the difference."""
    started = time.perf_counter()
    base_sha, head_sha = source.resolve([base, head])
    files = {"base": source.list_files(base_sha), "head": source.list_files(head_sha)}
    config = load_config(source, files["head"], config_path)
    selections = {label: select_files(files[label], config.schema).paths for label in files}
    gitlab_paths = [p for p in files["head"] if relevant_path(p)]
    codeowners_path = find_codeowners(files["head"])
    extra = [codeowners_path] if codeowners_path else []
    texts = source.read_blobs(  # everything the review reads, in one call
        [files[label][path] for label, paths in selections.items() for path in paths]
        + [files["head"][path] for path in [*gitlab_paths, *extra]],
    )
    extractor = Extractor(cache)
    scanned = {}
    for label in ("base", "head"):
        if progress:
            extractor.on_progress = lambda done, total, label=label: progress(
                f"{label}: parsing statement {done} of {total}"
            )
        sources = [SourceFile(path, texts[files[label][path]]) for path in selections[label]]
        scanned[label] = _scan(sources, extractor=extractor, label=label, progress=progress)
    changed_docs = _changed_dictionary(files["base"], files["head"])
    seeds = frozenset(f"t:{table}" for table in changed_docs)
    comparison = _compare(scanned["base"], scanned["head"], extractor, cache, seeds)
    base_rev = Revision(base_sha, files["base"], comparison.base)
    head_rev = Revision(head_sha, files["head"], comparison.head)
    unanalyzable = _unanalyzable(base_rev, head_rev)
    # an incremental head model holds what changed and what the rules read about it: the
    # tables its foreign keys lead to, and the tables whose dictionary entry changed
    ctx = RuleContext(
        head=comparison.head.schema,
        base=comparison.base.schema,
        changes=comparison.changes,
        cells=_cells_context(config, {p: texts[files["head"][p]] for p in gitlab_paths}),
        unanalyzable=unanalyzable,
        dictionary_changed=changed_docs,
    )
    findings = _findings(source, ctx, config, scanned["head"], base=base_rev, head=head_rev)
    seconds = time.perf_counter() - started
    result = ReviewResult(
        base_rev, head_rev, comparison.changes, unanalyzable, findings, ctx.cells.mode, seconds
    )
    result.config, result.cells = config, ctx.cells
    if codeowners_path:
        text = texts[files["head"][codeowners_path]]
        result.codeowners = parse_codeowners(text, source=codeowners_path)
    result.stats = _stats(result, comparison, extractor)
    return result


def _stats(result: ReviewResult, comparison: Comparison, extractor: Extractor) -> dict[str, Any]:
    stats = result.head.build.stats
    return {
        "files": stats.files,
        "statements": stats.statements,
        "modeled": stats.modeled,
        "no_effect": stats.no_effect,
        "unanalyzable": len(result.unanalyzable),
        "parsed": extractor.parsed,
        "rebuilt": comparison.rebuilt,
        "mode": comparison.mode,
        "findings": len(result.findings.findings),
        "errors": len(result.findings.errors),
        "suppressed": len(result.findings.suppressed),
        "seconds": round(result.seconds, 3),
    }


def _compare(
    base: list[ScannedFile],
    head: list[ScannedFile],
    extractor: Extractor,
    cache: ParseCache | None,
    seeds: frozenset[str],
) -> Comparison:
    """Diff the revisions, remembering whether each builds cleanly (for incremental runs)."""
    base_key, head_key = fileset_key(base), fileset_key(head)
    known = cache.get_fact(base_key) if cache else None
    comparison = compare(base, head, extractor, base_error_free=known, seeds=seeds)
    if cache:
        cache.put_fact(base_key, comparison.base_error_free)
        cache.put_fact(head_key, comparison.head_error_free)
    return comparison


def _scan(
    sources: list[SourceFile], *, extractor: Extractor, label: str, progress: Progress | None
) -> list[ScannedFile]:
    numbers = {source.path: number for number, source in enumerate(sources, 1)}

    def on_file(path: str) -> None:
        if progress:
            progress(f"{label}: file {numbers[path]} of {len(sources)} ({path})")

    return scan_files(sources, extractor, on_file=on_file)


def _unanalyzable(base: Revision, head: Revision) -> list[tuple[UnanalyzableItem, bool]]:
    """Head's unanalyzable statements, each marked new unless the base has the same one."""
    known = {(item.path, item.excerpt, item.reason) for item in base.build.unanalyzable}
    return [
        (item, (item.path, item.excerpt, item.reason) not in known)
        for item in head.build.unanalyzable
    ]


def _cells_context(config: Config, gitlab_files: dict[str, str]) -> CellsContext:
    """GitLab mode reads the head's dictionary and schema catalogue; generic mode the config."""
    mode = config.cells.mode
    if mode == "auto":
        mode = "gitlab" if is_gitlab_repository(gitlab_files) else "generic"
    if mode == "generic":
        return CellsContext.generic(config.cells)
    return CellsContext.gitlab(lazy_catalogue(gitlab_files), config.cells)


def _changed_dictionary(base: Files, head: Files) -> frozenset[str]:
    """Tables whose dictionary file is new or different in the head."""
    return frozenset(
        PurePosixPath(path).stem
        for path, blob in head.items()
        if is_dictionary_path(path) and base.get(path) != blob
    )


def _findings(
    source: Source,
    ctx: RuleContext,
    config: Config,
    head_files: list[ScannedFile],
    *,
    base: Revision,
    head: Revision,
) -> FindingSet:
    """Run the rules, then honour `cellsbot:ignore` comments in the files that matter: those
    with findings and those the change touches (where a new suppression can be)."""
    found = check(ctx, settings=config.cells.rules)
    paths = {f.path for f in found} | {
        p for p, blob in head.files.items() if base.files.get(p) != blob
    }
    sql = {  # most files have no suppression comment: skip them without scanning
        file.source.path: file.source.text
        for file in head_files
        if file.source.path in paths and "cellsbot:" in file.source.text
    }
    yaml_paths = [p for p in paths if is_dictionary_path(p) and p in head.files]
    if not sql and not yaml_paths:
        return suppress(found, settings=config.cells.rules)
    from analyzers.suppressions import parse_sql_suppressions, parse_yaml_suppressions  # noqa: PLC0415

    suppressions: list[Suppression] = []
    warnings: list[Finding] = []
    for path, text in sql.items():
        parsed, problems = parse_sql_suppressions(path, text)
        suppressions += parsed
        warnings += problems
    blobs = source.read_blobs([head.files[path] for path in yaml_paths])
    for path in yaml_paths:
        parsed, problems = parse_yaml_suppressions(path, blobs[head.files[path]])
        suppressions += parsed
        warnings += problems
    return suppress(found, suppressions=suppressions, extra=warnings, settings=config.cells.rules)


def exit_code(result: ReviewResult) -> int:
    """1 when an error-severity finding remains, else 0."""
    return 1 if any(f.severity == ERROR for f in result.findings.findings) else 0
