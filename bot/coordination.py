"""What the bot says about coordination: the summary note's "Coordinate with", owners, claims
and rollout sections, and the notes and replies of merges, rollouts and commands.

Pure, like bot.render: values in, Markdown out. Names that come from the repository (tables,
columns, titles) are neutralized; owner handles are the one thing written as real mentions,
because telling the owners is the point, and only when they look like GitLab handles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analyzers.coordination import ACTIVE, DROPPED, PROPOSED, Claim, Conflict, Entry, Touch
from bot.render import _cell, _code_span, _escape, _inline, _link

ROLLOUT_START = "<!-- cellsbot:rollout -->"
ROLLOUT_END = "<!-- /cellsbot:rollout -->"
MAX_CONFLICT_TOUCHES = 8  # of the other MR's changes listed per row
_HANDLE = re.compile(r"@@?[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_CLAIM_STATES = {
    PROPOSED: "proposed: registered in the Topology Service, activated when this MR merges",
    ACTIVE: "active: cells may claim values of this type",
    DROPPED: "dropped: the merge request was closed",
}
_CELL_ICONS = {"pending": "⏳", "running": "🔄", "applied": "✅", "failed": "❌"}


@dataclass(frozen=True, slots=True)
class Coordination:
    """What the summary note says about other merge requests, owners and claims."""

    conflicts: Sequence[Conflict] = ()
    #: (handle, why) of owners outside the author's team, e.g. ("@org/verify", "`ci_builds`")
    owners: Sequence[tuple[str, str]] = ()
    claims: Sequence[Claim] = ()


def sections(view: Coordination | None) -> list[list[str]]:
    """The summary note's coordination sections (each a list of lines; empty ones left out)."""
    if view is None:
        return []
    return [_conflicts(view.conflicts), _owners(view.owners), _claims(view.claims)]


def _conflicts(conflicts: Sequence[Conflict]) -> list[str]:
    if not conflicts:
        return []
    lines = [
        "#### Coordinate with",
        "",
        "These open merge requests change the same tables or migration versions:",
        "",
        "| Merge request | Shared | Their changes there |",
        "|---|---|---|",
    ]
    for conflict in conflicts:
        shared = [_code_span(table) for table in conflict.tables]
        shared += [f"migration {_code_span(version)}" for version in conflict.versions]
        lines.append(
            f"| {_mr_link(conflict.other)} | {_cell(', '.join(shared))} "
            f"| {_cell(_touch_list(conflict.their_touches))} |"
        )
    return lines


def _owners(owners: Sequence[tuple[str, str]]) -> list[str]:
    mentions = [(handle, why) for handle, why in owners if _HANDLE.fullmatch(handle)]
    if not mentions:
        return []
    lines = ["#### Owners outside the author's team", ""]
    lines += [f"- {handle}: {_inline(why)}" for handle, why in mentions]
    return lines


def _claims(claims: Sequence[Claim]) -> list[str]:
    if not claims:
        return []
    lines = ["#### Claims", "", "| Bucket type | Column | State | Asked by |", "|---|---|---|---|"]
    for claim in claims:
        lines.append(
            f"| {_code_span(claim.bucket_type)} "
            f"| {_code_span(f'{claim.table}.{claim.column}')} "
            f"| {_cell(_CLAIM_STATES.get(claim.state, _escape(claim.state)))} "
            f"| {_cell(_escape('@' + claim.requested_by))} |"
        )
    return lines


def changed_under(merged: Entry, conflict: Conflict) -> str:
    """The note for a still-open merge request when `merged` merged under it."""
    what = [_code_span(table) for table in conflict.tables]
    what += [f"migration {_code_span(version)}" for version in conflict.versions]
    lines = [
        f"{_mr_link(merged)} was merged. It changed {', '.join(what)}, which this merge request "
        "changes too:",
        "",
    ]
    lines += [f"- {_touch(touch)}" for touch in conflict.their_touches]
    if conflict.versions:
        lines.append(f"- the migration versions {', '.join(map(_code_span, conflict.versions))}")
    lines += [
        "",
        "Rebase onto the target branch and check that this merge request's migrations still "
        "apply on top of it; the review runs again on the next push.",
    ]
    return "\n".join(lines) + "\n"


def _mr_link(entry: Entry) -> str:
    text = f"!{entry.iid}" + (f" {_escape(entry.title)}" if entry.title else "")
    return _link(text, entry.web_url or None)


def _touch(touch: Touch) -> str:
    where = f" on {_code_span(touch.table)}" if touch.table and touch.table != touch.name else ""
    kind = touch.object.replace("_", " ")
    return f"{kind} {_code_span(touch.name)} {_escape(touch.action)}{where}"


def _touch_list(touches: Sequence[Touch]) -> str:
    shown = [_touch(touch) for touch in touches[:MAX_CONFLICT_TOUCHES]]
    if len(touches) > MAX_CONFLICT_TOUCHES:
        shown.append(f"and {len(touches) - MAX_CONFLICT_TOUCHES} more")
    return "; ".join(shown)


# rollouts ------------------------------------------------------------------------------------


def rollout_section(rollout: Any) -> str:
    """The summary note's rollout section (between ROLLOUT_START and ROLLOUT_END) for a
    Topology Service rollout: its state and a row per cell, ring by ring."""
    ring = rollout.current_ring
    state = rollout.state + (f", ring {ring}" if ring is not None else "")
    lines = [
        ROLLOUT_START,
        f"#### Rollout {rollout.id} across cells: {_escape(state)}",
        "",
        f"Migrations: {', '.join(_code_span(v) for v in rollout.versions)}",
        "",
        "| Ring | Cell | State | Applied | Error |",
        "|---|---|---|---|---|",
    ]
    total = len(rollout.versions)
    for cell in sorted(rollout.cells, key=lambda c: (c.ring, c.cell_id)):
        icon = _CELL_ICONS.get(cell.state, "•")
        error = _cell(_inline(cell.error)) if cell.error else ""
        lines.append(
            f"| {cell.ring} | {cell.cell_id} | {icon} {_escape(cell.state)} "
            f"| {len(cell.applied_versions)}/{total} | {error} |"
        )
    lines.append(ROLLOUT_END)
    return "\n".join(lines)


def with_rollout(body: str, section: str) -> str:
    """`body` with its rollout section replaced by `section`, or `section` appended."""
    start, end = body.find(ROLLOUT_START), body.find(ROLLOUT_END)
    if start != -1 and end > start:
        return body[:start] + section + body[end + len(ROLLOUT_END) :]
    return body.rstrip("\n") + "\n\n" + section + "\n"


def rollout_note(rollout: Any, bot_username: str) -> str | None:
    """The note posted when a rollout completes or halts; None in any other state."""
    if rollout.state == "completed":
        return (
            f"✅ Rollout {rollout.id} completed: every cell applied "
            f"{', '.join(_code_span(v) for v in rollout.versions)}.\n"
        )
    if rollout.state == "halted":
        failed = [cell for cell in rollout.cells if cell.state == "failed"]
        lines = [f"❌ Rollout {rollout.id} halted: later rings wait until this is fixed.", ""]
        lines += [
            f"- cell {cell.cell_id} (ring {cell.ring}): {_inline(cell.error or 'failed')}"
            for cell in failed
        ]
        lines += [
            "",
            f"Fix the cell, then `@{bot_username} rollout retry <cell_id>` (Maintainers); "
            "see the runbook for a halted rollout in cellsbot's docs/rollouts.md.",
        ]
        return "\n".join(lines) + "\n"
    return None
