"""Read files of a local git repository at a given revision."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(RuntimeError):
    """A git command failed; `message` is git's own explanation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed or not on PATH") from error
    if result.returncode != 0:
        raise GitError(result.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
    return result.stdout


def resolve(repo: Path, revision: str) -> str:
    """The commit SHA that `revision` names in `repo`."""
    if not (repo / ".git").exists() and not _is_repository(repo):
        raise GitError(f"{repo} is not a git repository")
    try:
        return (
            _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
            .decode()
            .strip()
        )
    except GitError:
        raise GitError(f"unknown revision {revision!r} in {repo}") from None


def resolve_all(repo: Path, revisions: list[str]) -> list[str]:
    """The commit SHAs of several revisions, in one git call (one per revision on error)."""
    try:
        output = _git(repo, "rev-parse", *(f"{revision}^{{commit}}" for revision in revisions))
    except GitError:
        return [resolve(repo, revision) for revision in revisions]  # says which one is unknown
    return output.decode().split()


def _is_repository(repo: Path) -> bool:
    try:
        _git(repo, "rev-parse", "--git-dir")
    except GitError:
        return False
    return True


def list_files(repo: Path, commit: str) -> dict[str, str]:
    """All files in `commit`: path -> blob id (equal ids, equal contents)."""
    output = _git(repo, "ls-tree", "-r", "-z", commit)
    files: dict[str, str] = {}
    for entry in output.decode().split("\0"):
        if entry:
            meta, _, path = entry.partition("\t")
            files[path] = meta.split()[2]
    return files


def read_blobs(repo: Path, blobs: list[str]) -> dict[str, str]:
    """Contents of blobs (ids from `list_files`), read by one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(blobs))
    if not wanted:
        return {}
    output = _git(repo, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in wanted).encode())
    texts: dict[str, str] = {}
    position = 0
    for blob in wanted:
        header_end = output.index(b"\n", position)
        size = int(output[position:header_end].split()[2])
        texts[blob] = output[header_end + 1 : header_end + 1 + size].decode(
            "utf-8", errors="replace"
        )
        position = header_end + 1 + size + 1
    return texts


class GitSource:
    """A local repository as a review's source of files (see bot.review.Source)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def resolve(self, revisions: list[str]) -> list[str]:
        return resolve_all(self.repo, revisions)

    def list_files(self, commit: str) -> dict[str, str]:
        return list_files(self.repo, commit)

    def read_blobs(self, blobs: list[str]) -> dict[str, str]:
        return read_blobs(self.repo, blobs)
