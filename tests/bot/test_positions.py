"""Which head lines an inline comment may point at, from real `git diff` hunks."""

from __future__ import annotations

import subprocess

from bot.positions import DiffRefs, diff_files, parse_diff, text_position

BASE = "".join(f"line {n}\n" for n in range(1, 41))


def git_diff(tmp_path, old: str, new: str) -> str:
    (tmp_path / "a.sql").write_text(old)
    (tmp_path / "b.sql").write_text(new)
    result = subprocess.run(
        ["git", "diff", "--no-index", "--unified=3", "a.sql", "b.sql"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.split("\n", 4)[4]  # hunks only, as GitLab's API gives them


def test_added_context_and_unshown_lines(tmp_path):
    head = BASE.replace("line 10\n", "line 10\nnew a\nnew b\n").replace("line 30\n", "")
    diff = parse_diff("db/a.sql", "db/a.sql", git_diff(tmp_path, BASE, head))
    assert diff.added == {11, 12}
    assert diff.position(11) == {"new_line": 11}
    assert diff.position(9) == {"old_line": 9, "new_line": 9}  # context before the insertion
    assert diff.position(13) == {"old_line": 11, "new_line": 13}  # context after: numbers differ
    assert diff.position(1) is None  # outside every hunk
    assert diff.position(20) is None
    # around the removed "line 30": head line n shows base line n - 2 before it, n - 1 after
    assert diff.position(31) == {"old_line": 29, "new_line": 31}  # "line 29", just before
    assert diff.position(32) == {"old_line": 31, "new_line": 32}  # "line 31", just after
    assert diff.position(36) is None  # past the hunk's trailing context


def test_a_new_file_has_only_added_lines(tmp_path):
    diff = parse_diff("db/new.sql", "db/new.sql", git_diff(tmp_path, "", "a\nb\nc\n"))
    assert diff.added == {1, 2, 3}
    assert diff.context == {}


def test_positions_of_renamed_collapsed_and_deleted_files(tmp_path):
    refs = DiffRefs("b" * 40, "s" * 40, "h" * 40)
    hunks = git_diff(tmp_path, BASE, BASE.replace("line 5\n", "line five\n"))
    files = diff_files(
        [
            {
                "old_path": "db/old.sql",
                "new_path": "db/new.sql",
                "diff": hunks,
                "renamed_file": True,
            },
            {"old_path": "db/big.sql", "new_path": "db/big.sql", "diff": "", "too_large": True},
            {
                "old_path": "db/gone.sql",
                "new_path": "db/gone.sql",
                "diff": "",
                "deleted_file": True,
            },
        ]
    )
    assert set(files) == {"db/new.sql", "db/big.sql"}
    assert text_position(refs, files["db/new.sql"], 5) == {
        "position_type": "text",
        "base_sha": "b" * 40,
        "start_sha": "s" * 40,
        "head_sha": "h" * 40,
        "old_path": "db/old.sql",
        "new_path": "db/new.sql",
        "new_line": 5,
    }
    assert not files["db/big.sql"].readable
    assert text_position(refs, files["db/big.sql"], 1) is None
