"""GitLab webhook payloads, and the decision the receiver takes on each: a `ReviewJob` or not.

Only the fields the decision needs are validated; GitLab adds fields every release, and its
documentation payloads are not exhaustive, so everything else is ignored rather than rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MERGE_REQUEST_HOOK = "Merge Request Hook"
NOTE_HOOK = "Note Hook"
HANDLED_EVENTS = frozenset({MERGE_REQUEST_HOOK, NOTE_HOOK})

JobKind = Literal["review", "command", "closed", "merged"]
Command = Literal["recheck", "help", "claim", "rollout"]
COMMANDS: tuple[Command, ...] = ("recheck", "help", "claim", "rollout")
MAX_ARGUMENTS = 200  # characters of a command's arguments kept in the job
MAX_REPORTED_PROBLEMS = 10
MAX_ECHOED = 100  # characters of a payload's value repeated in an answer (GitLab stores them)


@dataclass(frozen=True, slots=True)
class ReviewJob:
    """What the worker is asked to do about one merge request; the queue's message.

    It carries identifiers only, never the payload: the worker fetches the merge request
    itself, so a job enqueued before a force-push still reviews what is there when it runs
    (and can skip it when `head_sha` is no longer the head)."""

    __pydantic_config__ = ConfigDict(strict=True)

    kind: JobKind
    project_id: int
    project_path: str
    mr_iid: int
    #: the MR's head commit when the event fired (None only for closed/merged/help without one)
    head_sha: str | None
    target_branch: str
    #: GitLab's `object_attributes.action` (open, update, merge, …; create/update for notes)
    action: str
    #: X-Gitlab-Event-UUID, for correlating the job with GitLab's "Recent events" log
    event_uuid: str | None
    delivered_at: AwareDatetime
    command: Command | None = None
    note_id: int | None = None
    author_username: str | None = None
    author_id: int | None = None
    #: what follows the command on its line (`claim ci_builds.token as CI_BUILD_TOKEN`)
    arguments: str | None = None

    def to_json(self) -> bytes:
        return _JOB.dump_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> ReviewJob:
        """Parse and validate a job; unknown keys are ignored so that a newer receiver's jobs
        still load in an older worker during a rolling deploy."""
        return _JOB.validate_json(text)


_JOB: TypeAdapter[ReviewJob] = TypeAdapter(ReviewJob)


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed event the bot has nothing to do about; answered 200 so GitLab is happy."""

    reason: str


class PayloadError(ValueError):
    """The payload lacks a field the decision needs, or has one of the wrong type (422)."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['loc']}: {p['msg']}" for p in problems))
        self.problems = problems


# --- payload models (strict: GitLab sends real JSON types; "1" for an id is a bad payload) ---

PositiveId = Annotated[int, Field(gt=0)]
Sha = Annotated[str, Field(pattern=r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")]  # SHA-1 or SHA-256
NonEmpty = Annotated[str, Field(min_length=1)]


class _Payload(BaseModel):
    # only keys repeat from one payload to the next: caching values too costs more than it saves
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, cache_strings="keys")


class _Project(_Payload):
    id: PositiveId
    path_with_namespace: NonEmpty


class _Commit(_Payload):
    id: Sha


class _User(_Payload):
    username: NonEmpty
    id: PositiveId | None = None


class _MergeRequestAttributes(_Payload):
    iid: PositiveId
    action: NonEmpty
    target_branch: NonEmpty
    last_commit: _Commit | None = None
    #: present only when commits were pushed (or a suggestion applied)
    oldrev: str | None = None


class _Changes(_Payload):
    """The two changes the bot reads (`{"previous": …, "current": …}` each); the others are
    skipped while parsing, never built."""

    draft: Any = None
    work_in_progress: Any = None  # draft's name before GitLab 14


class _MergeRequestEvent(_Payload):
    object_kind: Literal["merge_request"]
    project: _Project
    object_attributes: _MergeRequestAttributes
    changes: _Changes | None = None


class _NoteAttributes(_Payload):
    id: PositiveId
    note: str
    noteable_type: NonEmpty
    system: bool | None = None
    #: create, or update for edits (GitLab 16.11+); absent before
    action: str | None = None


class _NoteMergeRequest(_Payload):
    iid: PositiveId
    target_branch: NonEmpty
    last_commit: _Commit | None = None


class _NoteEvent(_Payload):
    object_kind: Literal["note"]
    project: _Project
    user: _User
    object_attributes: _NoteAttributes
    merge_request: _NoteMergeRequest | None = None


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], payload: bytes) -> _M:
    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        raise PayloadError(_problems(error)) from None


def _problems(error: ValidationError) -> list[dict[str, str]]:
    """Location and message of each problem, without the offending input (it could be large,
    and GitLab stores our response body)."""
    return [
        {"loc": ".".join(str(part) for part in e["loc"]) or "body", "msg": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)[:MAX_REPORTED_PROBLEMS]
    ]


def _echo(value: str) -> str:
    """A sender's value as an answer may repeat it: at most MAX_ECHOED characters."""
    return value if len(value) <= MAX_ECHOED else value[:MAX_ECHOED] + "…"


# --- decisions ---


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the receiver knows about a delivery besides its payload."""

    event: str
    event_uuid: str | None
    delivered_at: datetime
    bot_username: str


def decide(payload: bytes, delivery: Delivery) -> ReviewJob | Ignored:
    """The job for a handled event (`delivery.event` in HANDLED_EVENTS), or why there is none.

    `payload` is the JSON body, validated as it is parsed (fields the bot does not read are
    skipped, never built). Raises PayloadError when it is not JSON or cannot be an event of
    its kind."""
    if delivery.event == MERGE_REQUEST_HOOK:
        return _merge_request(_validate(_MergeRequestEvent, payload), delivery)
    if delivery.event == NOTE_HOOK:
        return _note(_validate(_NoteEvent, payload), delivery)
    return Ignored(f"{_echo(delivery.event)!r} events are not handled")


_MR_KINDS: dict[str, JobKind] = {
    "open": "review",
    "reopen": "review",
    "update": "review",
    "merge": "merged",
    "close": "closed",
}


def _merge_request(event: _MergeRequestEvent, delivery: Delivery) -> ReviewJob | Ignored:
    attributes = event.object_attributes
    kind = _MR_KINDS.get(attributes.action)
    if kind is None:
        return Ignored(f"merge request action {_echo(attributes.action)!r} needs no review")
    if attributes.action == "update" and not _has_new_commits(event) and not _became_ready(event):
        return Ignored("merge request update without new commits or draft→ready")
    head_sha = attributes.last_commit.id if attributes.last_commit else None
    if kind == "review" and head_sha is None:
        return Ignored("merge request has no commits")
    return ReviewJob(
        kind=kind,
        project_id=event.project.id,
        project_path=event.project.path_with_namespace,
        mr_iid=attributes.iid,
        head_sha=head_sha,
        target_branch=attributes.target_branch,
        action=attributes.action,
        event_uuid=delivery.event_uuid,
        delivered_at=delivery.delivered_at,
    )


def _has_new_commits(event: _MergeRequestEvent) -> bool:
    """GitLab sets `oldrev` only when code changed; title, label, reviewer edits also fire
    `update` and must not re-review the same commit."""
    return bool(event.object_attributes.oldrev)


def _became_ready(event: _MergeRequestEvent) -> bool:
    """Draft → ready: `changes.draft` (or `work_in_progress`, its name before GitLab 14) went
    from true to false."""
    changes = event.changes or _Changes()
    for change in (changes.draft, changes.work_in_progress):
        if (
            isinstance(change, dict)
            and change.get("previous") is True
            and change.get("current") is False
        ):
            return True
    return False


def _note(event: _NoteEvent, delivery: Delivery) -> ReviewJob | Ignored:
    attributes = event.object_attributes
    if attributes.system:
        return Ignored("system note")
    if attributes.noteable_type != "MergeRequest":
        return Ignored(f"note on a {_echo(attributes.noteable_type)}, not a merge request")
    if event.user.username.casefold() == delivery.bot_username.casefold():
        return Ignored("note by the bot itself")
    if attributes.action not in (None, "create"):
        return Ignored(f"note {_echo(attributes.action)!r}: only new notes carry commands")
    found = find_command(attributes.note, delivery.bot_username)
    if found is None:
        return Ignored("note without a command for the bot")
    command, arguments = found
    merge_request = event.merge_request
    if merge_request is None:
        raise PayloadError([{"loc": "merge_request", "msg": "Field required"}])
    head_sha = merge_request.last_commit.id if merge_request.last_commit else None
    if command == "recheck" and head_sha is None:
        return Ignored("merge request has no commits")
    return ReviewJob(
        kind="command",
        project_id=event.project.id,
        project_path=event.project.path_with_namespace,
        mr_iid=merge_request.iid,
        head_sha=head_sha,
        target_branch=merge_request.target_branch,
        action=attributes.action or "create",
        event_uuid=delivery.event_uuid,
        delivered_at=delivery.delivered_at,
        command=command,
        note_id=attributes.id,
        author_username=event.user.username,
        author_id=event.user.id,
        arguments=arguments or None,
    )


_FENCED = re.compile(r"^ {0,3}(```|~~~).*?(?:^ {0,3}\1[^\n]*$|\Z)", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_QUOTE = re.compile(r"^ {0,3}>.*$", re.MULTILINE)


def find_command(note: str, bot_username: str) -> tuple[Command, str] | None:
    """The first `@<bot> <command>` in the note, wherever it stands, with what follows it on
    its line (its arguments, stripped, at most MAX_ARGUMENTS characters).

    Quotes and code are skipped: replying to a note that quoted a command, or documenting
    one in backticks, must not run it again. The username is matched case-insensitively
    (as GitLab does) and must end there (`@bot-dev recheck` is someone else)."""
    text = _QUOTE.sub("", _INLINE_CODE.sub("", _FENCED.sub("", note)))
    pattern = re.compile(
        rf"(?<![\w.@-])@{re.escape(bot_username)}[ \t]+({'|'.join(COMMANDS)})\b([^\n]*)",
        re.IGNORECASE,
    )
    found = pattern.search(text)
    if found is None:
        return None
    name = found.group(1).lower()
    command = next(command for command in COMMANDS if command == name)
    return command, found.group(2).strip()[:MAX_ARGUMENTS]
