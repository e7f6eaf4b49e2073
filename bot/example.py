"""Build the bundled example repository: a base commit and a head commit of a GitLab-style dump."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).parent / "example_repo"
_IDENTITY = ("-c", "user.name=cellsbot example", "-c", "user.email=example@cellsbot.invalid")


def create_example(into: Path | None = None) -> tuple[Path, str, str]:
    """Create the example repository; return (path, base SHA, head SHA).

    `into` must be absent or empty; by default a new temporary directory is used.
    """
    repo = Path(tempfile.mkdtemp(prefix="cellsbot-example-")) if into is None else into
    repo.mkdir(parents=True, exist_ok=True)
    if any(repo.iterdir()):
        raise FileExistsError(f"{repo} is not empty")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    shas = []
    for revision, message in (
        ("base", "Initial schema"),
        ("head", "Add issue_user_mentions and more"),
    ):
        _replace_tree(EXAMPLE / revision, repo)
        _git(repo, "add", "--all")
        _git(repo, *_IDENTITY, "commit", "--quiet", "--message", message)
        shas.append(_git(repo, "rev-parse", "HEAD"))
    return repo, shas[0], shas[1]


def _replace_tree(source: Path, repo: Path) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(source, repo, dirs_exist_ok=True)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()
