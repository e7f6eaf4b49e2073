"""The coordination sections of the summary note, and the notes of merges and rollouts."""

from __future__ import annotations

from types import SimpleNamespace

from analyzers.coordination import MERGED, OPENED, PROPOSED, Claim, Conflict, Entry, Touch
from bot import coordination
from bot.coordination import ROLLOUT_END, ROLLOUT_START, Coordination

INDEX = Touch("ci_builds", "index", "index_ci_builds_on_token", "added")
COLUMN = Touch("ci_builds", "column", "token", "added")


def other(iid: int = 12, title: str = "Index ci_builds.token", state: str = OPENED) -> Entry:
    url = f"https://gitlab.example.com/acme/shop/-/merge_requests/{iid}"
    return Entry(1, iid, state, title=title, web_url=url, touches=(INDEX,))


def text(view: Coordination) -> str:
    return "\n\n".join("\n".join(section) for section in coordination.sections(view) if section)


def test_coordinate_with_links_the_other_merge_request_and_what_it_changes() -> None:
    conflict = Conflict(other(), ("ci_builds",), ("20241105120000",), (INDEX,))
    shown = text(Coordination(conflicts=[conflict]))
    assert "#### Coordinate with" in shown
    assert (
        "[!12 Index ci_builds.token](https://gitlab.example.com/acme/shop/-/merge_requests/12)"
        in shown
    )
    assert "`ci_builds`, migration `20241105120000`" in shown
    assert "index `index_ci_builds_on_token` added on `ci_builds`" in shown


def test_nothing_to_coordinate_adds_no_section() -> None:
    assert coordination.sections(None) == []
    assert text(Coordination()) == ""


def test_titles_from_the_merge_request_cannot_mention_or_reference() -> None:
    conflict = Conflict(other(title="ping @everyone about #42 </details>"), ("ci_builds",))
    shown = text(Coordination(conflicts=[conflict]))
    assert "@everyone" not in shown
    assert "#42" not in shown
    assert "</details>" not in shown


def test_owners_are_mentioned_only_when_they_look_like_handles() -> None:
    owners = [
        ("@gitlab-org/verify", "`ci_builds` (feature category continuous_integration)"),
        ("@@maintainer", "`db/docs/ci_builds.yml` (CODEOWNERS [Database])"),
        ("not a handle <b>", "x"),
    ]
    shown = text(Coordination(owners=owners))
    assert "- @gitlab-org/verify: `ci_builds` (feature category continuous_integration)" in shown
    assert "- @@maintainer:" in shown
    assert "<b>" not in shown


def test_claims_show_their_state() -> None:
    claim = Claim("CI_BUILD_TOKEN", "ci_builds", "token", "alice", PROPOSED)
    shown = text(Coordination(claims=[claim]))
    assert "| `CI_BUILD_TOKEN` | `ci_builds.token` | proposed:" in shown
    assert "@\u200balice" in shown  # named, not notified


def test_the_merge_note_lists_what_changed_under_the_open_merge_request() -> None:
    merged = other(state=MERGED)
    conflict = Conflict(merged, ("ci_builds",), (), (INDEX,))
    note = coordination.changed_under(merged, conflict)
    assert note.startswith("[!12 Index ci_builds.token](")
    assert "- index `index_ci_builds_on_token` added on `ci_builds`" in note
    assert "Rebase onto the target branch" in note


def rollout(state: str, *cells: tuple[int, int, str, int, str | None]) -> SimpleNamespace:
    return SimpleNamespace(
        id=5,
        state=state,
        current_ring=None if state == "completed" else 1,
        versions=["20241105120000", "20241105120001"],
        cells=[
            SimpleNamespace(
                cell_id=cell,
                ring=ring,
                state=cell_state,
                applied_versions=["v"] * applied,
                error=error,
            )
            for cell, ring, cell_state, applied, error in cells
        ],
    )


def test_the_rollout_section_is_replaced_in_place() -> None:
    halted = rollout(
        "halted", (2, 1, "failed", 1, "lock timeout | on ci_builds"), (1, 0, "applied", 2, None)
    )
    section = coordination.rollout_section(halted)
    assert section.startswith(ROLLOUT_START)
    assert section.endswith(ROLLOUT_END)
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert rows == [
        "| 0 | 1 | ✅ applied | 2/2 |  |",
        "| 1 | 2 | ❌ failed | 1/2 | lock timeout \\| on ci_builds |",
    ]
    summary = "<!-- cellsbot:summary -->\nfindings"
    once = coordination.with_rollout(summary, section)
    done = coordination.rollout_section(rollout("completed", (1, 0, "applied", 2, None)))
    twice = coordination.with_rollout(once, done)
    assert twice.count(ROLLOUT_START) == 1
    assert twice.startswith(summary)
    assert "completed" in twice
    assert "failed" not in twice


def test_rollout_notes_only_for_completion_and_halts() -> None:
    assert coordination.rollout_note(rollout("running"), "cellsbot") is None
    halted = coordination.rollout_note(rollout("halted", (3, 1, "failed", 0, "boom")), "cellsbot")
    assert "- cell 3 (ring 1): boom" in halted
    assert "`@cellsbot rollout retry <cell_id>`" in halted
    assert "completed" in coordination.rollout_note(rollout("completed"), "cellsbot")
