"""Benchmark: schema model building vs pglast's parse, and `cellsbot review` wall times.

Run `make bench` (or `.venv/bin/python benchmarks/bench_schema.py`). Needs ../shared/corpus and
the dev dependencies (pglast). Each figure is the best of a few runs, ours and the baseline
interleaved in the same process, because the machine is shared and noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pglast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyzers.build import SourceFile, build_schema  # noqa: E402
from analyzers.cells import CellsContext  # noqa: E402
from analyzers.cells_config import CellsConfig  # noqa: E402
from analyzers.diff import diff_schemas  # noqa: E402
from analyzers.engine import run_rules  # noqa: E402
from analyzers.gitlab import lazy_catalogue  # noqa: E402
from analyzers.rules import RuleContext  # noqa: E402
from analyzers.split import split_statements  # noqa: E402

CORPUS = Path(os.environ.get("CELLSBOT_CORPUS_DIR", ROOT.parent / "shared" / "corpus"))
NEW_TABLE = """CREATE TABLE abuse_event_notes (
    id bigint NOT NULL,
    abuse_event_id bigint NOT NULL,
    note text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

"""


def best(runs: int, function: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def pglast_parse(texts: list[str]) -> None:
    for text in texts:
        # the six non-PostgreSQL Synapse files: PostgreSQL's parser rejects them too
        with contextlib.suppress(pglast.parser.ParseError):
            pglast.parse_sql(text)


def bench_dump(name: str, path: Path, runs: int) -> None:
    text = path.read_text()
    statements = split_statements(text)[0]
    ours = pglast_whole = pglast_each = float("inf")
    for _ in range(runs):  # interleaved, so that load on the machine hits both alike
        ours = min(ours, best(1, lambda: build_schema([SourceFile(path.name, text)])))
        pglast_whole = min(pglast_whole, best(1, lambda: pglast.parse_sql(text)))
        pglast_each = min(pglast_each, best(1, lambda: pglast_parse([s.text for s in statements])))
    count = len(statements)
    print(f"\n{name}: {len(text) / 1e6:.2f} MB, {count} statements")
    rate = f"{count / ours:,.0f} statements/s"
    whole, each = _ratio(ours, pglast_whole), _ratio(ours, pglast_each)
    print(f"  cellsbot model (split, sqlglot, model): {ours:.3f} s  {rate}")
    print(f"  pglast parse, whole file:               {pglast_whole:.3f} s  {whole}")
    print(f"  pglast parse, statement by statement:   {pglast_each:.3f} s  {each}")


def _ratio(ours: float, theirs: float) -> str:
    return f"ours/pglast = {ours / theirs:.2f}"


def bench_corpus(runs: int) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".sql", ".postgres"))
    files = [p for p in files if "gitlab" not in p.parts]
    texts = [p.read_text() for p in files]
    sources = [SourceFile(str(p), t) for p, t in zip(files, texts, strict=True)]
    count = sum(len(split_statements(t)[0]) for t in texts)
    ours = theirs = float("inf")
    for _ in range(runs):
        ours = min(ours, best(1, lambda: [build_schema([s]) for s in sources]))
        theirs = min(theirs, best(1, lambda: pglast_parse(texts)))
    print(f"\nrest of the corpus, file by file: {len(files)} files, {count} statements")
    print(f"  cellsbot model: {ours:.3f} s  {count / ours:,.0f} statements/s")
    print(f"  pglast parse:   {theirs:.3f} s  {_ratio(ours, theirs)}")


def gitlab_catalogue_files() -> dict[str, str]:
    """GitLab's dictionary, schema catalogue and loose foreign keys from the corpus."""
    root = CORPUS / "gitlab"
    paths = [*root.glob("db/docs/*.yml"), *root.glob("db/gitlab_schemas/*.yaml")]
    paths.append(root / "config" / "gitlab_loose_foreign_keys.yml")
    return {str(p.relative_to(root)): p.read_text() for p in paths}


def rules_on_whole_dump(text: str, files: dict[str, str]) -> int:
    """GitLab's dump reviewed as if every table were new, with the real catalogue."""
    base = build_schema([])
    head = build_schema([SourceFile("db/structure.sql", text)])
    cells = CellsContext.gitlab(lazy_catalogue(files), CellsConfig())
    docs = frozenset(Path(p).stem for p in files if p.startswith("db/docs/"))
    changes = diff_schemas(base.schema, head.schema)
    ctx = RuleContext(head.schema, base.schema, changes, cells, dictionary_changed=docs)
    return len(run_rules(ctx).findings)


def bench_rules(runs: int) -> None:
    text = (CORPUS / "gitlab" / "db" / "structure.sql").read_text()
    files = gitlab_catalogue_files()
    ours = theirs = float("inf")
    found = 0
    for _ in range(runs):
        started = time.perf_counter()
        found = rules_on_whole_dump(text, files)
        ours = min(ours, time.perf_counter() - started)
        theirs = min(theirs, best(1, lambda: pglast.parse_sql(text)))
    print("\nCells rules on GitLab's whole dump as new (model, diff, all rules, real catalogue)")
    print(f"  cellsbot: {ours:.3f} s  {found} findings")
    print(f"  pglast parse, whole file: {theirs:.3f} s  {_ratio(ours, theirs)}")


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


def commit_dump(repo: Path, text: str, message: str) -> None:
    (repo / "db").mkdir(exist_ok=True)
    (repo / "db" / "structure.sql").write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)


def review(repo: Path, cache: Path, *extra: str) -> float:
    command = [
        str(ROOT / ".venv" / "bin" / "cellsbot"),
        "review",
        "--repo",
        str(repo),
        "--base",
        "main~1",
        "--head",
        "main",
        "--format",
        "json",
        *extra,
    ]
    env = {**os.environ, "CELLSBOT_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, env=env)
    if done.returncode not in (0, 1):  # 1: error findings (the new table has no dictionary file)
        raise RuntimeError(done.stderr.decode())
    return time.perf_counter() - started


def bench_review(runs: int) -> None:
    dump = (CORPUS / "gitlab" / "db" / "structure.sql").read_text()
    at = dump.index("CREATE TABLE abuse_events (")
    head = dump[:at] + NEW_TABLE + dump[at:]
    second = head.replace(
        NEW_TABLE, NEW_TABLE + NEW_TABLE.replace("abuse_event_notes", "abuse_event_tags")
    )
    with tempfile.TemporaryDirectory(prefix="cellsbot-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        for path, text in gitlab_catalogue_files().items():  # GitLab mode: the rules run
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
        commit_dump(repo, dump, "base")
        commit_dump(repo, head, "one new table")
        cold = warm = float("inf")
        for run in range(runs):
            cache = Path(tmp) / f"cache-{run}"
            cold = min(cold, review(repo, cache))
            warm = min(warm, *(review(repo, cache) for _ in range(3)))
        no_cache = best(runs, lambda: review(repo, Path(tmp) / "unused", "--no-cache"))
        commit_dump(repo, second, "another new table")  # a new push: head changes, base is cached
        pushed = review(repo, cache)
    print("\ncellsbot review, one new table on GitLab's dump and catalogue (GitLab mode)")
    print(f"  cold (empty cache):             {cold:.3f} s")
    print(f"  warm (same range again):        {warm:.3f} s")
    print(f"  warm (a new push to the range): {pushed:.3f} s")
    print(f"  --no-cache:                     {no_cache:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"the corpus is not at {CORPUS} (set CELLSBOT_CORPUS_DIR)")
    started = time.perf_counter()
    print(f"python {sys.version.split()[0]}, pglast {pglast.__version__}, {os.cpu_count()} cores")
    bench_dump("GitLab db/structure.sql", CORPUS / "gitlab" / "db" / "structure.sql", args.runs)
    bench_dump("Lago db/structure.sql", CORPUS / "lago" / "db" / "structure.sql", args.runs)
    bench_corpus(args.runs)
    bench_rules(args.runs)
    bench_review(args.runs)
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
