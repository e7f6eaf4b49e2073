"""The `cellsbot` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from analyzers.config import ConfigError
from bot.git import GitError

EXIT_OK = 0
EXIT_FINDINGS = 1  # an error-severity finding of the Cells rules remains
EXIT_USAGE = 2
FORMATS = ("text", "json", "codequality", "sarif")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits with 2 too; keep its wording
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"cellsbot: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cellsbot", description="Schema-change review for PostgreSQL cell architectures."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    review = commands.add_parser("review", help="review the schema changes of a local git range")
    review.add_argument("--repo", type=Path, default=Path("."), help="git repository (default: .)")
    review.add_argument("--base", required=True, help="base revision (e.g. main)")
    review.add_argument("--head", required=True, help="head revision (e.g. HEAD)")
    review.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text for people (default); json (docs/review-json.md); codequality (GitLab's "
        "Code Quality report, for a CI job's artifacts); sarif (SARIF 2.1.0)",
    )
    review.add_argument("--config", type=Path, help="config file (default: .cellsbot.yml at head)")
    review.add_argument(
        "--no-cache", action="store_true", help="parse everything; read and write no cache"
    )
    rules = commands.add_parser("rules", help="list the Cells rules, or write their documentation")
    rules.add_argument(
        "--write-docs", type=Path, metavar="DIR", help="write one page per rule into DIR"
    )
    demo = commands.add_parser("demo", help="build the bundled example repository and review it")
    demo.add_argument(
        "--into", type=Path, help="where to create the example repository (default: a temp dir)"
    )
    demo.add_argument("--format", choices=FORMATS, default="text", help="as for review")
    demo.add_argument(
        "--no-cache", action="store_true", help="parse everything; read and write no cache"
    )
    serve = commands.add_parser(
        "serve", help="the webhook receiver, the Topology Service and a worker, in one command"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    serve.add_argument(
        "--cluster",
        type=Path,
        help="the Topology Service's cluster file (default: a generated one-cell cluster)",
    )
    commands.add_parser(
        "settings-reference", help="print docs/settings.md: every CELLSBOT_* setting (Markdown)"
    )
    topology = commands.add_parser("topology", help="the bundled Topology Service")
    topology_commands = topology.add_subparsers(dest="topology_command", required=True)
    topology_serve = topology_commands.add_parser(
        "serve",
        help="serve the Topology Service (PostgreSQL: CELLSBOT_DATABASE_URL, else embedded)",
    )
    topology_serve.add_argument(
        "--cluster", type=Path, required=True, help="the cluster file (TOML)"
    )
    topology_serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    topology_serve.add_argument("--port", type=int, default=8070, help="port (default: 8070)")
    api_docs = topology_commands.add_parser(
        "api-docs", help="print the API reference (Markdown, from the OpenAPI document)"
    )
    api_docs.add_argument("--openapi", action="store_true", help="print the OpenAPI JSON instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "rules":
            return _rules(args.write_docs)
        if args.command == "topology":
            return _topology(args)
        if args.command == "settings-reference":
            from bot.settings_reference import reference  # noqa: PLC0415

            sys.stdout.write(reference())
            return EXIT_OK
        if args.command == "serve":
            from topology.cluster import ClusterError  # noqa: PLC0415
            from worker.serve import serve  # noqa: PLC0415 (the service stack loads only here)

            try:
                serve(host=args.host, port=args.port, cluster_file=args.cluster)
            except ClusterError as error:
                print(f"cellsbot: error: {error}", file=sys.stderr)
                return EXIT_USAGE
            return EXIT_OK
        if args.command == "demo":
            from bot.example import create_example  # noqa: PLC0415 (demo only)

            repo, base, head = create_example(args.into)
            print(f"example repository: {repo} ({base[:12]}..{head[:12]})", file=sys.stderr)
            _review(repo, base, head, args)
            return EXIT_OK  # the demo shows findings; finding them is not a failure
        if not args.repo.is_dir():
            raise GitError(f"{args.repo} is not a directory")
        return _review(args.repo, args.base, args.head, args)
    except (GitError, ConfigError, OSError) as error:
        print(f"cellsbot: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _topology(args: argparse.Namespace) -> int:
    from topology import server  # noqa: PLC0415 (FastAPI and psycopg load only here)
    from topology.cluster import ClusterError  # noqa: PLC0415

    if args.topology_command == "api-docs":
        sys.stdout.write(server.openapi_json() if args.openapi else server.api_reference())
        return EXIT_OK
    try:
        server.serve(args.cluster, host=args.host, port=args.port)
    except ClusterError as error:
        print(f"cellsbot: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _rules(folder: Path | None) -> int:
    from analyzers.rules import ALL_RULES  # noqa: PLC0415
    from analyzers.rules.docs import pages  # noqa: PLC0415

    if folder is None:
        for rule in ALL_RULES:
            print(f"{rule.code}  {rule.name:<36} {rule.severity:<8} {rule.summary}")
        return EXIT_OK
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (folder / name).write_text(text)
    print(f"wrote {len(pages())} pages to {folder}", file=sys.stderr)
    return EXIT_OK


def _review(repo: Path, base: str, head: str, args: argparse.Namespace) -> int:
    from bot.report import render  # noqa: PLC0415 (keeps `--help` fast)
    from bot.review import exit_code, review_range  # noqa: PLC0415

    cache = None
    if not args.no_cache:
        from bot.cache import SqliteParseCache, cache_dir  # noqa: PLC0415

        cache = SqliteParseCache(cache_dir())
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        result = review_range(
            repo,
            base,
            head,
            config_path=getattr(args, "config", None),
            cache=cache,
            progress=progress,
        )
    finally:
        if progress:
            progress.clear()
        if cache:
            cache.close()
    sys.stdout.write(render(result, args.format))
    return exit_code(result)


class _Progress:
    """One status line on a terminal, rewritten in place at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self.last = 0.0

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        self.stream.write(f"\r\033[K{message[:100]}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
