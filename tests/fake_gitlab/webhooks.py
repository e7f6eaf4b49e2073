"""Webhook payloads for FakeGitLab's merge requests, as GitLab would deliver them.

    from tests.fake_gitlab.webhooks import hook_headers, merge_request_hook, note_hook

    payload = merge_request_hook(fake, project_id, iid, action="open")
    headers = hook_headers("Merge Request Hook", token="secret")
    httpx.post(receiver_url, json=payload, headers=headers)

Every value comes from the fake: the MR's real id, iid, branches, head commit (`last_commit`),
state, labels, reviewers, author, merge commit... The payload starts from GitLab's documented
sample (`../shared/corpus/gitlab-webhooks/*.gitlab_docs.json`, or CELLSBOT_CORPUS_DIR) when that
directory exists, else from a built-in minimal template; either way the fake's values overwrite
every documented key they cover, so both give the same keys and values except for sample-only
keys GitLab added later (kept from the sample as they are).

Fidelity notes: timestamps are written "YYYY-MM-DD HH:MM:SS UTC" (what GitLab's asynchronous
delivery sends; the docs also show ISO 8601: receivers should accept both). `assignees` and
`reviewers` are present only when non-empty, as in GitLab's builder. The fake does not deliver
webhooks itself: tests post these payloads.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import uuid
import zlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fake_gitlab.state import now

if TYPE_CHECKING:
    from tests.fake_gitlab.server import FakeGitLab
    from tests.fake_gitlab.state import MergeRequest, Note, Project, User

MERGE_REQUEST_HOOK = "Merge Request Hook"
NOTE_HOOK = "Note Hook"

_ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILES = {
    "merge_request": "merge_request_event.gitlab_docs.json",
    "note": "note_event_merge_request.gitlab_docs.json",
}
STATE_IDS = {"opened": 1, "closed": 2, "merged": 3, "locked": 4}

# The built-in minimal templates: the documented payloads' top-level shape.
BUILTIN_TEMPLATES: dict[str, dict[str, Any]] = {
    "merge_request": {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {},
        "project": {},
        "repository": {},
        "object_attributes": {},
        "labels": [],
        "changes": {},
    },
    "note": {
        "object_kind": "note",
        "event_type": "note",
        "user": {},
        "project_id": 0,
        "project": {},
        "repository": {},
        "object_attributes": {},
        "merge_request": {},
    },
}


def corpus_dir() -> Path:
    """Where GitLab's documented payloads are looked for (they may be missing)."""
    base = os.environ.get("CELLSBOT_CORPUS_DIR")
    return (Path(base) if base else _ROOT.parent / "shared" / "corpus") / "gitlab-webhooks"


def load_template(kind: str) -> dict[str, Any]:
    """A fresh copy of the documented sample for `kind` ("merge_request" or "note") if the
    corpus has it, else of the built-in minimal template."""
    path = corpus_dir() / CORPUS_FILES[kind]
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return copy.deepcopy(BUILTIN_TEMPLATES[kind])


def _start(kind: str, given: Mapping[str, Any] | Path | str | None) -> dict[str, Any]:
    if given is None:
        return load_template(kind)
    if isinstance(given, Mapping):
        return copy.deepcopy(dict(given))
    if given == "builtin":
        return copy.deepcopy(BUILTIN_TEMPLATES[kind])
    return json.loads(Path(given).read_text())


def hook_time(timestamp: str | None) -> str | None:
    """An API timestamp ("2024-05-01T12:00:00.123Z") as webhooks write it
    ("2024-05-01 12:00:00 UTC")."""
    if not timestamp:
        return None
    parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


# --- the payloads -------------------------------------------------------------------------------


def merge_request_hook(
    fake: FakeGitLab,
    project_id: int,
    iid: int,
    *,
    action: str = "open",
    user_id: int | None = None,
    oldrev: str | None = None,
    changes: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | Path | str | None = None,
) -> dict[str, Any]:
    """A "Merge Request Hook" payload for MR !iid of the fake, as it is now.

    action: open, close, reopen, update, merge, approved, … (object_attributes.action).
    user_id: the actor (`user`); default: merged_by for "merge", closed_by for "close", else
    the MR's author. oldrev: the previous head, which GitLab sends only for pushes
    (action "update"). changes: the `changes` block (default {}).
    template: a payload dict or JSON file to start from, "builtin" for the built-in minimal
    template; default: the documented sample when the corpus exists, else built-in.
    """
    with fake._lock:
        project = fake._project(project_id)
        mr = fake._mr(project_id, iid)
        base = fake._base_url()
        if user_id is None:
            if action == "merge" and mr.merged_by is not None:
                user_id = mr.merged_by
            elif action == "close" and mr.closed_by is not None:
                user_id = mr.closed_by
            else:
                user_id = mr.author_id
        payload = _start("merge_request", template)
        project_attrs = _project_hook(project, base)
        attributes = _merge_request_attrs(fake, project, mr, base)
        payload["object_kind"] = "merge_request"
        payload["event_type"] = "merge_request"
        payload["user"] = _update(payload.get("user"), _user_hook(fake, user_id, base))
        payload["project"] = _update(payload.get("project"), project_attrs)
        payload["repository"] = _update(payload.get("repository"), _repository_hook(project, base))
        attributes = _update(_without(payload.get("object_attributes"), "oldrev"), attributes)
        attributes["action"] = action
        if oldrev is not None:
            attributes["oldrev"] = oldrev
        payload["object_attributes"] = attributes
        payload["labels"] = copy.deepcopy(attributes["labels"])
        payload["changes"] = dict(changes) if changes is not None else {}
        for key, ids in (("assignees", mr.assignee_ids), ("reviewers", mr.reviewer_ids)):
            payload.pop(key, None)
            if ids:
                payload[key] = [_user_hook(fake, i, base) for i in ids]
        return payload


def note_hook(
    fake: FakeGitLab,
    project_id: int,
    iid: int,
    note: str | None = None,
    *,
    note_id: int | None = None,
    author_id: int | None = None,
    action: str = "create",
    system: bool | None = None,
    template: Mapping[str, Any] | Path | str | None = None,
) -> dict[str, Any]:
    """A "Note Hook" payload for a comment on MR !iid of the fake.

    With `note_id` of a note on this MR (e.g. from fake.add_note or add_human_reply), its body,
    author, type, discussion, position and system flag are used (`note` and `author_id`, when
    given, override body and author). Otherwise the payload describes a comment `note` by
    `author_id` (default: the MR's author) that the fake does not hold; it gets `note_id`, or
    a fresh id from the fake's note counter. `user` is the note's author.
    action: "create", or "update" for an edit (GitLab 16.11+). template: as merge_request_hook.
    """
    with fake._lock:
        project = fake._project(project_id)
        mr = fake._mr(project_id, iid)
        base = fake._base_url()
        stored = mr.notes.get(note_id) if note_id is not None else None
        if stored is None and note is None:
            raise KeyError(f"no note {note_id} on !{iid}, and no text given")
        if stored is None:
            note_id = note_id if note_id is not None else fake._next_id("note")
        author = author_id if author_id is not None else (stored or mr).author_id
        payload = _start("note", template)
        attributes = _note_attrs(mr, project, stored, base, note_id=note_id or 0)
        attributes["note"] = attributes["description"] = (
            note if note is not None else (stored.body if stored else "")
        )
        attributes["author_id"] = author
        if system is not None:
            attributes["system"] = system
        attributes["action"] = action
        internal = bool(stored and stored.internal)
        payload["object_kind"] = "note"
        payload["event_type"] = "confidential_note" if internal else "note"
        payload["user"] = _update(payload.get("user"), _user_hook(fake, author, base))
        payload["project_id"] = project.id
        payload["project"] = _update(payload.get("project"), _project_hook(project, base))
        payload["repository"] = _update(payload.get("repository"), _repository_hook(project, base))
        payload["object_attributes"] = _update(payload.get("object_attributes"), attributes)
        merge_request = _update(
            _without(payload.get("merge_request"), "assignee"),
            _merge_request_attrs(fake, project, mr, base),
        )
        if mr.assignee_ids:
            merge_request["assignee"] = _user_hook(fake, mr.assignee_ids[0], base)
        payload["merge_request"] = merge_request
        return payload


def hook_headers(
    event: str,
    *,
    token: str | None = None,
    event_uuid: str | None = None,
    idempotency_key: str | None = None,
    webhook_uuid: str | None = None,
    instance: str = "https://gitlab.example.com",
    user_agent: str = "GitLab/17.11.0",
) -> dict[str, str]:
    """GitLab's delivery headers for `event` ("Merge Request Hook", "Note Hook", …):
    X-Gitlab-Event, X-Gitlab-Token (when `token`), X-Gitlab-Event-UUID and Idempotency-Key
    (fresh UUIDs unless given: pass the same ones again to model a redelivery),
    X-Gitlab-Webhook-UUID, X-Gitlab-Instance, User-Agent and Content-Type."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "X-Gitlab-Event": event,
        "X-Gitlab-Instance": instance,
        "X-Gitlab-Webhook-UUID": webhook_uuid or str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": event_uuid or str(uuid.uuid4()),
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return headers


# --- parts (callers hold fake._lock) -------------------------------------------------------------


def _update(start: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The template's object (keys only it has are kept) with `values` written over it."""
    merged = dict(start) if isinstance(start, Mapping) else {}
    merged.update(values)
    return merged


def _without(start: Any, *keys: str) -> dict[str, Any]:
    kept = dict(start) if isinstance(start, Mapping) else {}
    for key in keys:
        kept.pop(key, None)
    return kept


def _user_hook(fake: FakeGitLab, user_id: int, base: str) -> dict[str, Any]:
    user: User | None = fake._users.get(user_id)
    if user is None:
        name = f"user{user_id}"
        return {"id": user_id, "name": name, "username": name, "avatar_url": None}
    return user.hook(base)


def _project_hook(project: Project, base: str) -> dict[str, Any]:
    """`project.hook_attrs`."""
    namespace, _, path = project.path_with_namespace.rpartition("/")
    web_url = f"{base}/{project.path_with_namespace}"
    ssh_url = f"git@fake-gitlab:{project.path_with_namespace}.git"
    return {
        "id": project.id,
        "name": path,
        "description": None,
        "web_url": web_url,
        "avatar_url": None,
        "git_ssh_url": ssh_url,
        "git_http_url": f"{web_url}.git",
        "namespace": (namespace or path).rsplit("/", 1)[-1],
        "visibility_level": 0,  # private
        "path_with_namespace": project.path_with_namespace,
        "default_branch": project.default_branch,
        "ci_config_path": None,
        "homepage": web_url,
        "url": ssh_url,
        "ssh_url": ssh_url,
        "http_url": f"{web_url}.git",
    }


def _repository_hook(project: Project, base: str) -> dict[str, Any]:
    """The deprecated top-level `repository`: a slice of the project's hook attributes."""
    attrs = _project_hook(project, base)
    return {key: attrs[key] for key in ("name", "url", "description", "homepage")}


def _label_hook(project: Project, title: str) -> dict[str, Any]:
    return {
        "id": zlib.crc32(f"{project.id}:{title}".encode()) & 0x7FFFFFFF,  # stable per title
        "title": title,
        "color": "#6699cc",
        "project_id": project.id,
        "created_at": "2024-01-01 00:00:00 UTC",
        "updated_at": "2024-01-01 00:00:00 UTC",
        "template": False,
        "description": None,
        "type": "ProjectLabel",
        "group_id": None,
    }


def _commit_hook(project: Project, sha: str, base: str) -> dict[str, Any] | None:
    """`commit.hook_attrs` of the MR's head commit (from the git repository)."""
    info = project.repo.commit_info(sha)
    if info is None:
        return None
    return {
        "id": info["id"],
        "message": info["message"],
        "title": info["title"],
        "timestamp": info["committed_date"],
        "url": f"{base}/{project.path_with_namespace}/-/commit/{info['id']}",
        "author": {"name": info["author_name"], "email": info["author_email"]},
    }


def _merge_request_attrs(
    fake: FakeGitLab, project: Project, mr: MergeRequest, base: str
) -> dict[str, Any]:
    """MergeRequestBuilder#build: `object_attributes` of a Merge Request Hook, and the
    `merge_request` of a Note Hook."""
    discussions = [d for d in mr.discussions.values() if not d.individual_note]
    project_attrs = _project_hook(project, base)
    return {
        "id": mr.id,
        "iid": mr.iid,
        "target_branch": mr.target_branch,
        "source_branch": mr.source_branch,
        "source_project_id": project.id,
        "target_project_id": project.id,
        "author_id": mr.author_id,
        "assignee_id": mr.assignee_ids[0] if mr.assignee_ids else None,
        "assignee_ids": list(mr.assignee_ids),
        "reviewer_ids": list(mr.reviewer_ids),
        "title": mr.title,
        "description": mr.description,
        "created_at": hook_time(mr.created_at),
        "updated_at": hook_time(mr.updated_at),
        "last_edited_at": None,
        "last_edited_by_id": None,
        "updated_by_id": None,
        "milestone_id": None,
        "head_pipeline_id": None,
        "state_id": STATE_IDS.get(mr.state, 1),
        "state": mr.state,
        "blocking_discussions_resolved": all(fake._is_resolved(mr, d) for d in discussions),
        "work_in_progress": mr.is_draft,
        "draft": mr.is_draft,
        "first_contribution": False,
        "merge_status": "can_be_merged",
        "detailed_merge_status": fake._detailed_merge_status(mr),
        "merge_commit_sha": mr.merge_commit_sha,
        "merge_error": None,
        "merge_params": {"force_remove_source_branch": "0"},
        "merge_user_id": mr.merged_by,
        "merge_when_pipeline_succeeds": False,
        "prepared_at": hook_time(mr.created_at),
        "time_estimate": 0,
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": None,
        "human_time_change": None,
        "human_time_estimate": None,
        "url": f"{base}/{project.path_with_namespace}/-/merge_requests/{mr.iid}",
        "source": dict(project_attrs),
        "target": dict(project_attrs),
        "last_commit": _commit_hook(project, mr.latest.head_sha, base),
        "labels": [_label_hook(project, title) for title in sorted(mr.labels)],
    }


def _note_attrs(
    mr: MergeRequest, project: Project, stored: Note | None, base: str, *, note_id: int
) -> dict[str, Any]:
    """NoteBuilder#build (`object_attributes` of a Note Hook), for a stored note or not."""
    created = hook_time(stored.created_at if stored else now())
    web_url = f"{base}/{project.path_with_namespace}/-/merge_requests/{mr.iid}"
    resolved_by = stored.resolved_by if stored and stored.resolved else None
    return {
        "id": note_id,
        "note": "",
        "noteable_type": "MergeRequest",
        "noteable_id": mr.id,
        "author_id": mr.author_id,
        "created_at": created,
        "updated_at": hook_time(stored.updated_at) if stored else created,
        "updated_by_id": None,
        "project_id": project.id,
        "attachment": None,
        "line_code": stored.line_code if stored else None,
        "commit_id": None,
        "discussion_id": stored.discussion_id if stored else secrets.token_hex(20),
        "type": stored.type if stored else None,
        "position": copy.deepcopy(stored.position) if stored else None,
        "original_position": copy.deepcopy(stored.position) if stored else None,
        "change_position": None,
        "resolved_at": hook_time(stored.resolved_at) if resolved_by else None,
        "resolved_by_id": resolved_by,
        "resolved_by_push": None,
        "system": bool(stored and stored.system),
        "st_diff": None,
        "internal": bool(stored and stored.internal),
        "confidential": bool(stored and stored.internal),
        "description": "",
        "url": f"{web_url}#note_{note_id}",
    }
