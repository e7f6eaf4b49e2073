"""Coordination across merge requests, for the worker's tasks: record each review in the
ledger, tell colliding merge requests about each other, carry claim types from proposed to
active (or dropped), and start and follow the rollout of a merged merge request.

The thin part between the tasks (worker/tasks.py) and the pure parts: analyzers.coordination
decides what collides, bot.coordination says it, the ledger keeps it, the Topology Service
holds claim types and rollouts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gitlab

from analyzers.coordination import (
    ACTIVE,
    CLOSED,
    DROPPED,
    MERGED,
    OPENED,
    PROPOSED,
    Claim,
    Entry,
    changed_under,
    conflicts,
    migration_versions,
    parse_claim,
    partners,
    touches,
)
from analyzers.names import DEFAULT_SCHEMA
from analyzers.owners import Owner, Touched, dictionary_path, outside_author, resolve_owners
from bot import coordination
from bot.coordination import Coordination
from bot.gitlab_api import MergeRequestSnapshot
from bot.publish import Publisher
from bot.review import ReviewResult
from topology.client import TopologyClient, TopologyError
from worker.ledger import Ledger

logger = logging.getLogger(__name__)
MAINTAINER = 40  # GitLab's access level of Maintainers (Owners are 50)
ROLLOUT_ACTIONS = ("status", "pause", "resume", "retry")

#: sends a Celery task by name with its args (the tasks module gives Celery's send_task)
Send = Callable[[str, list[Any]], None]


class CommandRefused(Exception):
    """A command the bot will not run; the message is the reply."""


@dataclass(slots=True)
class Coordinator:
    ledger: Ledger
    gl: gitlab.Gitlab
    publisher: Publisher
    topology: TopologyClient | None
    send: Send
    bot_username: str = "cellsbot"

    # reviews ----------------------------------------------------------------------------------

    def review(self, mr: MergeRequestSnapshot, result: ReviewResult) -> Coordination:
        """Record the review of an open merge request; ask the merge requests whose view of
        it changed to update their summaries; say what this one's summary should show."""
        found = touches(result.changes)
        owners = _owners(mr, result, {touch.table for touch in found if touch.table})
        entry = Entry(
            mr.project_id,
            mr.iid,
            OPENED,
            title=mr.title,
            web_url=mr.web_url,
            author=mr.author,
            head_sha=mr.refs.head_sha,
            touches=found,
            versions=migration_versions(mr.paths),
            owners=tuple(owner.handle for owner in owners),
        )
        before, colliding = self.ledger.record(entry, project_path=_project_path(mr.web_url))
        now = conflicts(entry, colliding)
        then = conflicts(before, self.ledger.colliding(before)) if before else []
        for iid in sorted(partners(then, now)):
            self._recheck(mr.project_id, iid)
        outside = outside_author(owners, self._author_handles(mr, owners))
        if result.config.owners.request_reviews:
            known = set(before.owners) if before else set()
            self._request_reviews(mr, [o.handle for o in outside if o.handle not in known])
        return Coordination(
            conflicts=now,
            owners=[(o.handle, "; ".join(r.describe() for r in o.reasons)) for o in outside],
            claims=self.ledger.claims(mr.project_id, mr.iid),
        )

    def _author_handles(self, mr: MergeRequestSnapshot, owners: list[Owner]) -> list[str]:
        """The author and the owner groups they belong to (asked of GitLab, one call per
        group; a group GitLab does not show counts as not theirs)."""
        handles = [f"@{mr.author}"]
        if not mr.author_id:
            return handles
        for owner in owners:
            group = owner.handle[1:]
            if not owner.handle.startswith("@") or "@" in group or group == mr.author:
                continue  # an email, a role (`@@maintainer`), or the author
            try:
                self.gl.groups.get(group, lazy=True).members_all.get(mr.author_id)
            except gitlab.GitlabGetError as error:
                if error.response_code not in (403, 404):
                    raise
                continue
            handles.append(owner.handle)
        return handles

    def _request_reviews(self, mr: MergeRequestSnapshot, handles: list[str]) -> None:
        """Ask the owners who are users, newly found since the last review (someone removed
        as a reviewer is not asked again), to review; groups and roles cannot be."""
        ids = []
        for handle in handles:
            if not re.fullmatch(r"@[A-Za-z0-9_.][A-Za-z0-9_.-]*", handle):
                continue
            users = self.gl.users.list(username=handle[1:], get_all=False)
            ids += [user.id for user in users]
        if not ids:
            return
        merge_request = self.gl.projects.get(mr.project_id, lazy=True).mergerequests.get(mr.iid)
        current = [user["id"] for user in merge_request.attributes.get("reviewers") or []]
        wanted = current + [user_id for user_id in ids if user_id not in current]
        if wanted != current:
            merge_request.manager.update(mr.iid, {"reviewer_ids": wanted})

    def _recheck(self, project_id: int, iid: int) -> None:
        logger.info("asking %s!%s to update its coordination", project_id, iid)
        self.send("cellsbot.review", [project_id, iid, None])

    # merge and close --------------------------------------------------------------------------

    def state_changed(self, project_id: int, iid: int, kind: str) -> str:
        """A merge request merged or closed: update the ledger and its claim types, tell the
        open merge requests that collide with it, and start the rollout of a merge."""
        merge_request = self.gl.projects.get(project_id, lazy=True).mergerequests.get(iid)
        state = MERGED if kind == "merged" else CLOSED
        if merge_request.attributes.get("state") != state:
            return f"not {state} (GitLab says {merge_request.attributes.get('state')})"
        merge_sha = merge_request.attributes.get(
            "merge_commit_sha"
        ) or merge_request.attributes.get("squash_commit_sha")
        entry = self.ledger.set_state(project_id, iid, state, merge_sha=merge_sha)
        if entry is None:
            return "not in the ledger (no schema change was reviewed)"
        self._settle_claims(entry)
        for other in self.ledger.colliding(entry):
            conflict = changed_under(entry, other) if state == MERGED else None
            if conflict is not None:
                body = coordination.changed_under(entry, conflict)
                self.publisher.post_note(project_id, other.iid, f"merged:{iid}", body)
            self._recheck(project_id, other.iid)
        if state == MERGED:
            self._start_rollout(entry, merge_request, merge_sha or entry.head_sha)
        return state

    def _settle_claims(self, entry: Entry) -> None:
        for claim in self.ledger.claims(entry.project_id, entry.iid):
            if claim.state != PROPOSED:
                continue
            if self.topology is None:
                logger.warning(
                    "claim type %s stays proposed: no Topology Service configured",
                    claim.bucket_type,
                )
                continue
            if entry.state == MERGED:
                self.topology.activate_claim_type(claim.bucket_type)
                new_state = ACTIVE
            else:
                if not self.ledger.claimed_elsewhere(
                    entry.project_id, entry.iid, claim.bucket_type
                ):
                    _drop(self.topology, claim.bucket_type)
                new_state = DROPPED
            self.ledger.set_claim_state(entry.project_id, entry.iid, claim.bucket_type, new_state)

    def _start_rollout(self, entry: Entry, merge_request: Any, merge_sha: str) -> None:
        if not entry.versions:
            return  # no migration: nothing for the cells to apply
        if self.topology is None:
            logger.warning("no rollout for %s: no Topology Service configured", entry.ref)
            return
        path = merge_request.attributes.get("references", {}).get("full") or entry.ref
        rollout = self.topology.create_rollout(
            key=f"{entry.project_id}{entry.ref}@{merge_sha}",
            name=path,
            versions=list(entry.versions),
        )
        self.ledger.set_rollout(entry.project_id, entry.iid, rollout.id)
        self.watch(entry.project_id, entry.iid)

    # rollouts ---------------------------------------------------------------------------------

    def watch(self, project_id: int, iid: int) -> None:
        """Start a watcher of the merge request's rollout (and stop any older one)."""
        token = self.ledger.new_watch(project_id, iid)
        self.send("cellsbot.rollout_watch", [project_id, iid, str(token)])

    def look_at_rollout(self, project_id: int, iid: int, token: str) -> str | None:
        """One look of watcher `token`: update the summary's rollout section when the rollout
        changed, post a note when it completed or halted. The rollout's state, or None when
        this watcher should stop (a newer one took over, or there is no rollout)."""
        known = self.ledger.rollout(project_id, iid)
        if known is None or str(known.watch) != token or self.topology is None:
            return None
        rollout = self.topology.get_rollout(known.rollout_id)
        section = coordination.rollout_section(rollout)
        if section != known.shown:
            self.publisher.show_rollout(project_id, iid, section)
        if rollout.state != known.state and (
            note := coordination.rollout_note(rollout, self.bot_username)
        ):
            failed = ",".join(str(c.cell_id) for c in rollout.cells if c.state == "failed")
            self.publisher.post_note(
                project_id, iid, f"rollout:{rollout.id}:{rollout.state}:{failed}", note
            )
        if not self.ledger.show_rollout(
            project_id, iid, known.watch, state=rollout.state, shown=section
        ):
            return None
        return rollout.state

    # commands ---------------------------------------------------------------------------------

    def command(self, job: dict[str, Any]) -> str:
        """Run `claim` or `rollout` for a note; the reply is posted once per note."""
        project_id, iid = job["project_id"], job["mr_iid"]
        try:
            reply = self._claim(job) if job["command"] == "claim" else self._rollout_command(job)
        except CommandRefused as refusal:
            reply = str(refusal)
        except TopologyError as error:
            reply = f"The Topology Service refused: {error.message or error}"
        author = job.get("author_username") or "?"
        body = f"@{author} {reply}"
        self.publisher.post_note(project_id, iid, f"reply:{job['note_id']}", body)
        return reply

    def _claim(self, job: dict[str, Any]) -> str:
        self._require_maintainer(job)
        usage = f"Use `@{self.bot_username} claim <table>.<column> as <BUCKET_TYPE>`."
        parsed = parse_claim(job.get("arguments") or "")
        if parsed is None:
            raise CommandRefused(f"I could not read that claim. {usage}")
        table, column, bucket_type = parsed
        table = table.removeprefix(f"{DEFAULT_SCHEMA}.")
        entry = self.ledger.get(job["project_id"], job["mr_iid"])
        if entry is None or entry.state != OPENED or table not in entry.tables:
            raise CommandRefused(
                f"`{table}` is not a table this open merge request changes, as of its last "
                "review: a claim type is registered from the merge request that adds the column."
            )
        if self.topology is None:
            raise CommandRefused("No Topology Service is configured for this bot.")
        registered = self.topology.register_claim_type(bucket_type, state=PROPOSED)
        if registered.state == ACTIVE:
            return f"`{bucket_type}` is already an active claim type: nothing to register."
        claim = Claim(bucket_type, table, column, job.get("author_username") or "", PROPOSED)
        self.ledger.propose_claim(job["project_id"], job["mr_iid"], claim)
        self._recheck(job["project_id"], job["mr_iid"])  # the summary lists the claim
        return (
            f"Registered `{bucket_type}` for `{table}.{column}` in the Topology Service as "
            "proposed. It becomes active when this merge request merges, and is dropped if it "
            "is closed."
        )

    def _rollout_command(self, job: dict[str, Any]) -> str:
        project_id, iid = job["project_id"], job["mr_iid"]
        words = (job.get("arguments") or "status").split()
        action, rest = words[0].lower(), words[1:]
        usage = f"Use `@{self.bot_username} rollout status|pause|resume|retry <cell_id>`."
        if action not in ROLLOUT_ACTIONS:
            raise CommandRefused(f"I do not know `rollout {action}`. {usage}")
        if action != "status":
            self._require_maintainer(job)
        known = self.ledger.rollout(project_id, iid)
        if known is None or self.topology is None:
            raise CommandRefused("This merge request has no rollout across cells.")
        rollout_id = known.rollout_id
        if action == "retry":
            if len(rest) != 1 or not rest[0].isdigit():
                raise CommandRefused(f"Say which cell to retry. {usage}")
            self.topology.retry_rollout_cell(rollout_id, int(rest[0]))
        elif action == "pause":
            self.topology.pause_rollout(rollout_id)
        elif action == "resume":
            self.topology.resume_rollout(rollout_id)
        rollout = self.topology.get_rollout(rollout_id)
        if action != "status":
            self.watch(project_id, iid)  # the summary follows the change
        done = {"status": "", "pause": "paused. ", "resume": "resumed. "}
        done["retry"] = f"cell {rest[0]} goes again. " if rest else ""
        return f"{done[action]}{coordination.rollout_section(rollout)}"

    def _require_maintainer(self, job: dict[str, Any]) -> None:
        author_id = job.get("author_id")
        level = 0
        if author_id:
            project = self.gl.projects.get(job["project_id"], lazy=True)
            try:
                level = project.members_all.get(author_id).attributes.get("access_level", 0)
            except gitlab.GitlabGetError as error:
                if error.response_code != 404:
                    raise
        if level < MAINTAINER:
            raise CommandRefused(
                f"only Maintainers and Owners of this project may run `{job['command']}` "
                "(your access level here is lower)."
            )


def _owners(mr: MergeRequestSnapshot, result: ReviewResult, tables: set[str]) -> list[Owner]:
    """Who owns what the merge request touches: `.cellsbot.yml` owners rules, the teams of
    the tables' feature categories (GitLab mode) and CODEOWNERS."""
    catalogue = result.cells.catalogue if result.cells else None
    categories: dict[str, tuple[str, ...]] = {}
    dictionary_paths: dict[str, str] = {}
    if catalogue is not None:
        for table in tables:
            found = catalogue.entry_for(table)
            categories[table] = found.feature_categories if found else ()
            dictionary_paths[table] = found.path if found else dictionary_path(table)
    touched = Touched(tuple(sorted(tables)), tuple(mr.paths), dictionary_paths)
    return resolve_owners(
        touched,
        config=result.config.owners,
        codeowners=result.codeowners,
        feature_categories=categories,
    )


def _drop(topology: TopologyClient, bucket_type: str) -> None:
    try:
        topology.drop_claim_type(bucket_type)
    except TopologyError as error:
        if error.status != 404:  # already gone
            raise


def _project_path(web_url: str) -> str:
    """`group/project` from an MR's web URL (`…/group/project/-/merge_requests/7`)."""
    path = web_url.split("/-/merge_requests/", maxsplit=1)[0]
    return "/".join(path.split("/")[3:]) if "://" in path else path
