"""Read a real git repository the way GitLab's API presents it: trees, blobs, MR diffs."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_CONFIG = (
    "-c",
    "core.quotepath=off",
    "-c",
    "diff.noprefix=false",
    "-c",
    "diff.mnemonicprefix=false",
    "-c",
    "color.ui=false",
)
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitError(RuntimeError):
    """A git command failed."""


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk: `kind` is "new" (added), "old" (removed) or "context".

    `old_pos`/`new_pos` are GitLab's line counters (the line_code numbers); `old_line`/`new_line`
    are what a position must carry: None on the side the line does not exist on.
    """

    kind: str
    old_pos: int
    new_pos: int

    @property
    def old_line(self) -> int | None:
        return None if self.kind == "new" else self.old_pos

    @property
    def new_line(self) -> int | None:
        return None if self.kind == "old" else self.new_pos


@dataclass(slots=True)
class DiffFile:
    """One changed file between two commits, as GitLab's `/diffs` lists it."""

    old_path: str
    new_path: str
    a_mode: str
    b_mode: str
    new_file: bool
    renamed_file: bool
    deleted_file: bool
    binary: bool
    diff: str  # the hunks, from the first "@@" ("" for binary files and pure renames)
    header: str  # "--- a/x\n+++ b/x\n" (what `unidiff=true` prepends), "" when git gave none
    lines: list[DiffLine] = field(default_factory=list)

    def line(self, old_line: int | None, new_line: int | None) -> DiffLine | None:
        """The hunk line a position's (old_line, new_line) names, if the diff shows it."""
        for line in self.lines:
            if line.old_line == old_line and line.new_line == new_line:
                return line
        return None


def parse_hunks(diff: str) -> list[DiffLine]:
    """The lines of unified-diff hunks, numbered the way GitLab's diff parser numbers them."""
    lines: list[DiffLine] = []
    old = new = 0
    in_hunk = False
    for text in diff.split("\n"):
        match = _HUNK.match(text)
        if match:
            old, new = int(match[1]), int(match[2])
            in_hunk = True
        elif not in_hunk or text.startswith("\\"):
            continue
        elif text.startswith("+"):
            lines.append(DiffLine("new", old, new))
            new += 1
        elif text.startswith("-"):
            lines.append(DiffLine("old", old, new))
            old += 1
        elif text.startswith(" "):
            lines.append(DiffLine("context", old, new))
            old += 1
            new += 1
    return lines


def _mode(raw: str) -> str:
    return format(int(raw, 8), "o")  # "000000" -> "0", as GitLab shows it


class Repository:
    """git, run in one repository directory. Results for immutable inputs (SHAs) are cached."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._diffs: dict[tuple[str, str], list[DiffFile]] = {}
        if not self.is_repository():
            raise GitError(f"{self.path} is not a git repository")

    def run(self, *args: str) -> bytes:
        result = subprocess.run(
            ["git", "-C", str(self.path), *_CONFIG, *args],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise GitError(result.stderr.decode(errors="replace").strip() or f"git {args[0]}")
        return result.stdout

    def is_repository(self) -> bool:
        try:
            self.run("rev-parse", "--git-dir")
        except (GitError, FileNotFoundError):
            return False
        return True

    def default_branch(self) -> str:
        """The branch named main or master if there is one, else the checked-out branch."""
        for name in ("main", "master"):
            if self.resolve(f"refs/heads/{name}"):
                return name
        try:
            return self.run("symbolic-ref", "--short", "HEAD").decode().strip()
        except GitError:
            return "main"

    def resolve(self, ref: str) -> str | None:
        """The commit SHA `ref` (SHA, branch, tag) names, or None."""
        if not ref or ref.startswith("-"):
            return None
        try:
            out = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            return None
        sha = out.decode().strip()
        return sha if _SHA.match(sha) else None

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return self.run("merge-base", a, b).decode().strip() or None
        except GitError:
            return None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        result = subprocess.run(
            ["git", "-C", str(self.path), "merge-base", "--is-ancestor", ancestor, descendant],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def branches_containing(self, sha: str) -> list[str]:
        try:
            out = self.run("branch", "--format=%(refname:short)", "--contains", sha)
        except GitError:
            return []
        return [line for line in out.decode().splitlines() if line]

    # writing: what a merge does (objects and refs only; a checked-out target is fast-forwarded) --

    def merge_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of merging `theirs` into `ours` (git merge-tree --write-tree), None on
        conflicts. Needs git 2.38 or later."""
        result = subprocess.run(
            ["git", "-C", str(self.path), *_CONFIG, "merge-tree", "--write-tree",
             "--no-messages", ours, theirs],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if result.returncode == 1:
            return None
        if result.returncode != 0:
            raise GitError(result.stderr.decode(errors="replace").strip() or "git merge-tree")
        return result.stdout.decode().split()[0]

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        *,
        author: tuple[str, str],
        committer: tuple[str, str],
    ) -> str:
        """A new commit object (no ref moves); `author`/`committer` are (name, email)."""
        env = os.environ | {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
        }
        args = ["commit-tree", tree, "-F", "-"]
        for parent in parents:
            args += ["-p", parent]
        result = subprocess.run(
            ["git", "-C", str(self.path), *_CONFIG, "-c", "commit.gpgsign=false", *args],
            input=message.encode(),
            capture_output=True,
            check=False,
            env=env,
        )
        if result.returncode != 0:
            raise GitError(result.stderr.decode(errors="replace").strip() or "git commit-tree")
        return result.stdout.decode().strip()

    def advance_branch(self, branch: str, old: str, new: str) -> None:
        """Move branch `branch` from `old` to `new` (a descendant of `old`). When it is checked
        out here, the working tree follows (`git merge --ff-only`, which refuses to overwrite
        local changes); otherwise only the ref moves (`git update-ref`, checking `old`)."""
        head = (
            subprocess.run(
                ["git", "-C", str(self.path), "symbolic-ref", "--quiet", "HEAD"],
                capture_output=True,
                check=False,
            )
            .stdout.decode()
            .strip()
        )
        bare = self.run("rev-parse", "--is-bare-repository").decode().strip() == "true"
        if head == f"refs/heads/{branch}" and not bare:
            self.run("merge", "--ff-only", "--quiet", "--no-edit", new)
        else:
            self.run("update-ref", f"refs/heads/{branch}", new, old)

    # trees and blobs ---------------------------------------------------------------------------

    def object_type(self, spec: str) -> str | None:
        try:
            return self.run("cat-file", "-t", spec).decode().strip()
        except GitError:
            return None

    def blob(self, sha: str) -> bytes | None:
        if not _SHA.match(sha) or self.object_type(sha) != "blob":
            return None
        return self.run("cat-file", "blob", sha)

    def blob_at(self, commit: str, path: str) -> tuple[str, bytes] | None:
        """(blob SHA, content) of `path` at `commit`, or None if it is not a file there."""
        spec = f"{commit}:{path}"
        if not path or self.object_type(spec) != "blob":
            return None
        sha = self.run("rev-parse", spec).decode().strip()
        return sha, self.run("cat-file", "blob", sha)

    def mode_at(self, commit: str, path: str) -> str | None:
        out = self.run("ls-tree", "-z", commit, "--", path).decode()
        return out.split(" ", 1)[0] if out else None

    def tree(self, commit: str, path: str, *, recursive: bool) -> list[dict] | None:
        """Entries under `path` at `commit` (trees first, then blobs), or None if no such tree."""
        path = path.strip("/")
        if path and self.object_type(f"{commit}:{path}") != "tree":
            return None
        args = ["ls-tree", "-z"]
        if recursive:
            args += ["-r", "-t"]
        args += [commit if not path else f"{commit}:{path}"]
        entries = []
        for record in self.run(*args).decode(errors="surrogateescape").split("\0"):
            if not record:
                continue
            info, name = record.split("\t", 1)
            mode, kind, sha = info.split()
            full = f"{path}/{name}" if path else name
            entries.append(
                {
                    "id": sha,
                    "name": full.rsplit("/", 1)[-1],
                    "type": kind,
                    "path": full,
                    "mode": mode,
                }
            )
        order = {"tree": 0, "blob": 1, "commit": 2}
        entries.sort(key=lambda e: order.get(e["type"], 3))  # stable: git order within a kind
        return entries

    # commits -----------------------------------------------------------------------------------

    def commit_info(self, sha: str) -> dict | None:
        fmt = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%B"
        try:
            out = self.run("show", "-s", f"--format={fmt}", f"{sha}^{{commit}}")
        except GitError:
            return None
        (full, parents, an, ae, ad, cn, ce, cd, subject, body) = out.decode().split("\0", 9)
        return {
            "id": full,
            "short_id": full[:8],
            "title": subject,
            "message": body.rstrip("\n") + "\n",
            "parent_ids": parents.split(),
            "author_name": an,
            "author_email": ae,
            "authored_date": ad,
            "committer_name": cn,
            "committer_email": ce,
            "committed_date": cd,
            "created_at": cd,
        }

    def commits_between(self, base: str, head: str) -> list[dict]:
        """Commits in base..head, newest first (as GitLab lists an MR version's commits)."""
        out = self.run("rev-list", f"{base}..{head}").decode().split()
        return [info for sha in out if (info := self.commit_info(sha))]

    # diffs ---------------------------------------------------------------------------------------

    def diff(self, base: str, head: str) -> list[DiffFile]:
        """The changed files of `base...head`, with renames found (git diff -M)."""
        key = (base, head)
        if key not in self._diffs:
            self._diffs[key] = self._diff(base, head)
        return self._diffs[key]

    def _diff(self, base: str, head: str) -> list[DiffFile]:
        merge_base = self.merge_base(base, head) or base
        common = ["diff", "-M", "--no-ext-diff", "--no-textconv", "--no-color"]
        raw = self.run(*common, "--raw", "-z", "--no-abbrev", merge_base, head)
        patch = self.run(
            *common, "--patch", "--full-index", "--src-prefix=a/", "--dst-prefix=b/",
            merge_base, head,
        ).decode("utf-8", errors="replace")  # fmt: skip
        records = raw.decode("utf-8", errors="surrogateescape").split("\0")
        entries = []
        i = 0
        while i < len(records) and records[i]:
            old_mode, new_mode, _old_sha, _new_sha, status = records[i].lstrip(":").split()
            if status[0] in "RC":
                old_path, new_path = records[i + 1], records[i + 2]
                i += 3
            else:
                old_path = new_path = records[i + 1]
                i += 2
            entries.append((old_mode, new_mode, status[0], old_path, new_path))
        chunks = re.split(r"^(?=diff --git )", patch, flags=re.MULTILINE)
        chunks = [chunk for chunk in chunks if chunk.startswith("diff --git ")]
        if len(chunks) != len(entries):
            raise GitError(f"could not pair {len(entries)} changed files with their patches")
        files = []
        for (old_mode, new_mode, status, old_path, new_path), chunk in zip(
            entries, chunks, strict=True
        ):
            at = chunk.find("\n@@")
            head_part = chunk if at < 0 else chunk[: at + 1]
            hunks = "" if at < 0 else chunk[at + 1 :]
            binary = "\nBinary files " in head_part or "\nGIT binary patch" in head_part
            header = "".join(
                line + "\n" for line in head_part.split("\n") if line.startswith(("--- ", "+++ "))
            )
            files.append(
                DiffFile(
                    old_path=old_path,
                    new_path=new_path,
                    a_mode=_mode(old_mode),
                    b_mode=_mode(new_mode),
                    new_file=status == "A",
                    renamed_file=status == "R",
                    deleted_file=status == "D",
                    binary=binary,
                    diff="" if binary else hunks,
                    header="" if binary else header,
                    lines=[] if binary else parse_hunks(hunks),
                )
            )
        return files
