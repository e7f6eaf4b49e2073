"""Publish a review on a merge request: one summary note, one thread per finding, a commit
status and labels — each found again and edited on the next run, never posted twice.

Identity comes from hidden markers in the bodies (bot.render) and the bot's user id, not from
local state, so a retried or concurrent run finds what an earlier one posted. Threads a human
replied to are never deleted; a thread whose finding is gone is resolved.

A create that timed out is not re-sent (GitLab may have applied it); the task's retry looks
for it instead. GitLab can still apply it after that look, and the retry then posts a second
copy. So each run keeps the oldest copy of each thread and of the summary, and removes the
later ones: deleted when nobody replied to them, else resolved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import gitlab
from gitlab.exceptions import GitlabCreateError

from analyzers.findings import Finding
from bot import coordination, render
from bot.gitlab_api import MergeRequestSnapshot
from bot.positions import text_position
from bot.review import ReviewResult

logger = logging.getLogger(__name__)
STATUS_NAME = "cellsbot"
SUMMARY = "summary"  # the summary note's marker key (render.SUMMARY_MARKER)
# a create that timed out may have happened: python-gitlab must not re-send it blindly; the
# task's retry runs the whole publication again, which finds what was created by its marker
NO_BLIND_RETRY = {"retry_transient_errors": False}


@dataclass(slots=True)
class Published:
    """What a run did, for logs and tests."""

    summary: str = ""  # created, updated or unchanged
    created: list[str] = field(default_factory=list)  # finding keys of new threads
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # keys of later copies deleted or resolved
    unplaced: list[Finding] = field(default_factory=list)
    labels_added: set[str] = field(default_factory=set)
    labels_removed: set[str] = field(default_factory=set)
    status: str = ""


class Publisher:
    def __init__(
        self,
        gl: gitlab.Gitlab,
        bot_user_id: int,
        *,
        labels: render.LabelConfig,
        docs_url: str | None = None,
    ) -> None:
        self.gl = gl
        self.bot_user_id = bot_user_id
        self.labels = labels
        self.docs_url = docs_url

    def publish(
        self,
        mr: MergeRequestSnapshot,
        result: ReviewResult,
        view: coordination.Coordination | None = None,
    ) -> Published:
        project = self.gl.projects.get(mr.project_id, lazy=True)
        merge_request = project.mergerequests.get(mr.iid, lazy=True)
        done = Published()
        ours = self._ours(merge_request, done)
        self._threads(merge_request, mr, result, ours, done)
        self._summary(merge_request, mr, result, view, found=ours.get(SUMMARY), done=done)
        self._labels(merge_request, mr, result, done)
        self._status(project, mr, result, done)  # last: the status says the review is complete
        return done

    # threads ----------------------------------------------------------------------------------

    def _threads(
        self,
        merge_request: Any,
        mr: MergeRequestSnapshot,
        result: ReviewResult,
        ours: dict[str, tuple[dict, dict]],
        done: Published,
    ) -> None:
        existing = {
            key: found
            for key, found in ours.items()
            if key != SUMMARY and not key.startswith("note:")
        }
        findings = result.findings.findings
        current = dict(zip(render.finding_keys(findings), findings, strict=True))
        for key, finding in current.items():
            body = render.finding_thread(finding, docs_url=self.docs_url, key=key)
            if key in existing:
                discussion, note = existing[key]
                if note["body"] != body:
                    self._edit(merge_request, discussion["id"], note["id"], body)
                    done.updated.append(key)
                if note.get("resolved"):
                    self._resolve(merge_request, discussion["id"], resolved=False)
                    done.reopened.append(key)
                continue
            file = mr.files.get(finding.path)
            position = text_position(mr.refs, file, finding.line) if file else None
            if position is None:
                done.unplaced.append(finding)
                continue
            try:
                merge_request.discussions.create(
                    {"body": body, "position": position}, **NO_BLIND_RETRY
                )
            except GitlabCreateError as error:
                if error.response_code != 400:
                    raise
                logger.info("GitLab refused a position for %s: %s", key, error.error_message)
                done.unplaced.append(finding)
                continue
            done.created.append(key)
        for key, (discussion, note) in existing.items():
            if key not in current and not note.get("resolved"):
                self._resolve(merge_request, discussion["id"], resolved=True)
                done.resolved.append(key)

    def _ours(self, merge_request: Any, done: Published) -> dict[str, tuple[dict, dict]]:
        """Marker key -> (discussion, its first note) of the bot's oldest thread or note with
        that key. Later copies are removed (see the module's docstring)."""
        copies: dict[str, list[dict]] = {}
        for discussion in merge_request.discussions.list(iterator=True):
            notes = discussion.attributes.get("notes") or []
            if not notes or notes[0]["author"]["id"] != self.bot_user_id or notes[0].get("system"):
                continue
            key = render.parse_marker(notes[0]["body"])
            if key:
                copies.setdefault(key, []).append(discussion.attributes)
        for key, found in copies.items():
            for copy in found[1:]:
                if self._remove_copy(merge_request, copy):
                    logger.warning("%s was posted twice; removed the later copy", key)
                    done.removed.append(key)
        return {key: (found[0], found[0]["notes"][0]) for key, found in copies.items()}

    def _remove_copy(self, merge_request: Any, discussion: dict) -> bool:
        """Delete a later copy of the bot's, unless someone replied: then resolve it (once).
        True when it did either."""
        first, *replies = discussion["notes"]
        if not replies:
            merge_request.notes.delete(first["id"])
            return True
        if first.get("resolvable") and not first.get("resolved"):
            self._resolve(merge_request, discussion["id"], resolved=True)
            return True
        return False

    def _edit(self, merge_request: Any, discussion_id: str, note_id: int, body: str) -> None:
        discussion = merge_request.discussions.get(discussion_id, lazy=True)
        note = discussion.notes.get(note_id, lazy=True)
        note.body = body
        note.save()

    def _resolve(self, merge_request: Any, discussion_id: str, *, resolved: bool) -> None:
        discussion = merge_request.discussions.get(discussion_id, lazy=True)
        discussion.resolved = resolved
        discussion.save()

    # summary, status, labels --------------------------------------------------------------------

    def _summary(
        self,
        merge_request: Any,
        mr: MergeRequestSnapshot,
        result: ReviewResult,
        view: coordination.Coordination | None,
        *,
        found: tuple[dict, dict] | None,
        done: Published,
    ) -> None:
        """Edit the summary `found` (the bot's oldest), or create it."""
        body = render.summary_note(
            result,
            project_url=mr.project_url or None,
            head_sha=mr.refs.head_sha,
            unplaced=done.unplaced,
            unreadable=mr.unreadable,
            docs_url=self.docs_url,
            coordination=coordination.sections(view),
        )
        if found is not None:
            _, note = found
            if note["body"] == body:
                done.summary = "unchanged"
            else:
                merge_request.notes.update(note["id"], {"body": body})
                done.summary = "updated"
            return
        if not (result.changes or result.findings.findings or result.findings.suppressed):
            done.summary = "skipped"  # an MR that does not touch the schema gets no note
            return
        merge_request.notes.create({"body": body}, **NO_BLIND_RETRY)
        done.summary = "created"

    def _find_summary(self, merge_request: Any) -> Any | None:
        for note in merge_request.notes.list(iterator=True, sort="asc", order_by="created_at"):
            if note.author["id"] == self.bot_user_id and render.parse_marker(note.body) == SUMMARY:
                return note
        return None

    # coordination -------------------------------------------------------------------------------

    def show_rollout(self, project_id: int, iid: int, section: str) -> None:
        """Put `section` (bot.coordination.rollout_section) in the MR's summary note, in
        place of the one shown before; a merge request without a summary gets one."""
        merge_request = self._merge_request(project_id, iid)
        note = self._find_summary(merge_request)
        if note is None:
            body = coordination.with_rollout(render.SUMMARY_MARKER + "\n", section)
            merge_request.notes.create({"body": body}, **NO_BLIND_RETRY)
            return
        body = coordination.with_rollout(note.body, section)
        if body != note.body:
            note.body = body
            note.save()

    def post_note(self, project_id: int, iid: int, key: str, body: str) -> bool:
        """A note of its own on the merge request (a reply to a command, a merge or rollout
        event), posted once: a note of the bot's with the same key (`[A-Za-z0-9._:-]`) means
        an earlier run posted it, and nothing is posted. True when it posted."""
        merge_request = self._merge_request(project_id, iid)
        marker = render.NOTE_MARKER.format(key=key)
        for note in merge_request.notes.list(iterator=True, sort="desc", order_by="created_at"):
            if note.author["id"] == self.bot_user_id and note.body.startswith(marker):
                return False
        merge_request.notes.create({"body": f"{marker}\n{body}"}, **NO_BLIND_RETRY)
        return True

    def _merge_request(self, project_id: int, iid: int) -> Any:
        return self.gl.projects.get(project_id, lazy=True).mergerequests.get(iid, lazy=True)

    def _status(
        self, project: Any, mr: MergeRequestSnapshot, result: ReviewResult, done: Published
    ) -> None:
        state, description = render.commit_status(result)
        done.status = state
        commit = project.commits.get(mr.refs.head_sha, lazy=True)
        latest = next(iter(commit.statuses.list(name=STATUS_NAME, iterator=True)), None)
        if latest is not None and (latest.status, latest.description) == (state, description):
            return  # posting it again would only add a "retried" copy
        status = {"state": state, "name": STATUS_NAME, "description": description}
        if mr.web_url:
            status["target_url"] = mr.web_url
        try:
            commit.statuses.create(status)
        except GitlabCreateError as error:  # GitLab refuses a transition to the same state
            if error.response_code != 400:
                raise
            logger.info("status %s on %s kept: %s", state, mr.refs.head_sha, error.error_message)

    def _labels(
        self, merge_request: Any, mr: MergeRequestSnapshot, result: ReviewResult, done: Published
    ) -> None:
        wanted = render.labels_for(result, self.labels)
        add, remove = render.label_changes(set(mr.labels), wanted, self.labels.managed)
        if add or remove:
            update = {}
            if add:
                update["add_labels"] = ",".join(sorted(add))
            if remove:
                update["remove_labels"] = ",".join(sorted(remove))
            merge_request.manager.update(merge_request.get_id(), update)
        done.labels_added, done.labels_removed = set(add), set(remove)
