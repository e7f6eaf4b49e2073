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
    subprocess.run(command, check=True, capture_output=True, env=env)
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
    print("\ncellsbot review, one new table on GitLab's dump (wall time of the command)")
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
    bench_review(args.runs)
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
