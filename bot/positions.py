"""Where an inline comment can go: GitLab accepts a position only on a line of the MR's diff.

Pure: it reads the `diff` texts of `GET …/merge_requests/:iid/diffs` (unified diff hunks). A
finding points at a line of the head revision; that line is commentable when the diff shows it,
either added (`new_line` only) or as unchanged context (`old_line` and `new_line`, which may
differ). A renamed file needs its old path. Anything else GitLab refuses with
`line_code can't be blank`, so such a finding goes into the summary note instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file of an MR diff: its paths and the head lines the diff shows."""

    old_path: str
    new_path: str
    added: frozenset[int] = frozenset()  # head line numbers of added lines
    context: Mapping[int, int] = field(default_factory=dict)  # head line -> base line
    readable: bool = True  # False: GitLab collapsed it, or it is too large to show

    def position(self, line: int) -> dict[str, Any] | None:
        """GitLab's line fields for head line `line`, or None when the diff does not show it."""
        if line in self.added:
            return {"new_line": line}
        if line in self.context:
            return {"old_line": self.context[line], "new_line": line}
        return None


def parse_diff(old_path: str, new_path: str, diff: str, *, readable: bool = True) -> FileDiff:
    """The lines a unified diff (hunks only, as GitLab returns them) shows."""
    added: set[int] = set()
    context: dict[int, int] = {}
    old = new = 0
    for line in diff.splitlines():
        hunk = _HUNK.match(line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(3))
            continue
        if not line or line.startswith("\\"):  # "\ No newline at end of file"
            continue
        marker = line[0]
        if marker == "+":
            added.add(new)
            new += 1
        elif marker == "-":
            old += 1
        elif marker == " ":
            context[new] = old
            old += 1
            new += 1
    return FileDiff(old_path, new_path, frozenset(added), context, readable)


@dataclass(frozen=True, slots=True)
class DiffRefs:
    base_sha: str
    start_sha: str
    head_sha: str


def diff_files(entries: Iterable[Mapping[str, Any]]) -> dict[str, FileDiff]:
    """Head path -> FileDiff, from the items of GitLab's MR diffs API (deleted files left out:
    a finding never points into a file the head does not have)."""
    files = {}
    for entry in entries:
        if entry.get("deleted_file"):
            continue
        readable = not (entry.get("collapsed") or entry.get("too_large"))
        files[entry["new_path"]] = parse_diff(
            entry["old_path"], entry["new_path"], entry.get("diff") or "", readable=readable
        )
    return files


def text_position(refs: DiffRefs, file: FileDiff, line: int) -> dict[str, Any] | None:
    """The `position` of a discussion on head line `line` of `file`, or None."""
    lines = file.position(line)
    if lines is None:
        return None
    return {
        "position_type": "text",
        "base_sha": refs.base_sha,
        "start_sha": refs.start_sha,
        "head_sha": refs.head_sha,
        "old_path": file.old_path,
        "new_path": file.new_path,
        **lines,
    }
