"""A small helper to build real git repositories for FakeGitLab projects in tests."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitRepo:
    """A git repository at `path` (created with branch `main` if missing)."""

    def __init__(self, path: Path | str, *, initial_branch: str = "main") -> None:
        self.path = Path(path)
        if not (self.path / ".git").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self.git("init", "--quiet", f"--initial-branch={initial_branch}")

    def git(self, *args: str) -> str:
        identity = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
        env_free = ["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"]
        done = subprocess.run(
            ["git", "-C", str(self.path), *identity, *env_free, *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str | bytes | None], message: str = "change") -> str:
        """Write (str/bytes) or delete (None) files, commit them all; return the new SHA."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def move(self, old: str, new: str) -> None:
        """`git mv old new` (commit it with `commit`)."""
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def branch(self, name: str, start: str = "HEAD") -> None:
        """Create branch `name` at `start` and check it out."""
        self.git("checkout", "--quiet", "-B", name, start)

    def checkout(self, ref: str) -> None:
        self.git("checkout", "--quiet", ref)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def rev(self, ref: str) -> str:
        return self.git("rev-parse", f"{ref}^{{commit}}")
