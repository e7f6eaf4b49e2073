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


def read_files(repo: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """Contents of `paths` at `commit`, read by one `git cat-file --batch`."""
    if not paths:
        return {}
    request = "".join(f"{commit}:{path}\n" for path in paths).encode()
    output = _git(repo, "cat-file", "--batch", stdin=request)
    files: dict[str, str] = {}
    position = 0
    for path in paths:
        header_end = output.index(b"\n", position)
        header = output[position:header_end].split()
        if header[-1] == b"missing":
            raise GitError(f"{path} is missing at {commit}")
        size = int(header[2])
        body = output[header_end + 1 : header_end + 1 + size]
        files[path] = body.decode("utf-8", errors="replace")
        position = header_end + 1 + size + 1
    return files


def read_file(repo: Path, commit: str, path: str) -> str | None:
    """One file at `commit`, or None when it does not exist there."""
    try:
        return read_files(repo, commit, [path])[path]
    except GitError:
        return None
