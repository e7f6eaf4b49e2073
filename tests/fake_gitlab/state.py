"""FakeGitLab's in-memory records, and how GitLab's API renders them as JSON."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from tests.fake_gitlab.git import Repository

_clock = itertools.count()


def now() -> str:
    """An ISO 8601 UTC timestamp with milliseconds, as GitLab writes them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def tick() -> int:
    """A strictly increasing number, to order records whose timestamps tie."""
    return next(_clock)


@dataclass
class User:
    id: int
    username: str
    token: str
    name: str
    bot: bool = False

    def brief(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{base_url}/{self.username}",
        }

    @property
    def email(self) -> str:
        return f"{self.username}@example.invalid"

    def hook(self, base_url: str) -> dict[str, Any]:
        """`user.hook_attrs` in webhook payloads (the email is redacted: no public email)."""
        return {
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "avatar_url": None,
            "email": "[REDACTED]",
        }

    def full(self, base_url: str) -> dict[str, Any]:
        return {
            **self.brief(base_url),
            "bot": self.bot,
            "created_at": "2024-01-01T00:00:00.000Z",
            "email": self.email,
            "public_email": None,
            "is_admin": False,
            "can_create_project": True,
            "two_factor_enabled": False,
            "external": False,
        }


class AccessLevel(IntEnum):
    """GitLab's roles (`Gitlab::Access`) as `access_level` numbers."""

    GUEST = 10
    PLANNER = 15
    REPORTER = 20
    DEVELOPER = 30
    MAINTAINER = 40
    OWNER = 50


@dataclass
class Member:
    """A user's membership of a project or of a group (`group` is the group's full path)."""

    id: int
    user_id: int
    access_level: int
    project_id: int | None = None
    group: str | None = None
    expires_at: str | None = None  # "YYYY-MM-DD"
    created_at: str = field(default_factory=now)

    def to_json(self, user: dict[str, Any], access_level: int | None = None) -> dict[str, Any]:
        """`Entities::Member`: the user (UserBasic) merged with the membership's fields."""
        return {
            **user,
            "access_level": self.access_level if access_level is None else access_level,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "membership_state": "active",
        }


@dataclass
class Project:
    id: int
    path_with_namespace: str
    repo: Repository
    default_branch: str
    created_at: str = field(default_factory=now)
    next_iid: int = 1

    def to_json(self, base_url: str) -> dict[str, Any]:
        namespace, _, path = self.path_with_namespace.rpartition("/")
        web_url = f"{base_url}/{self.path_with_namespace}"
        return {
            "id": self.id,
            "description": None,
            "name": path,
            "name_with_namespace": " / ".join(self.path_with_namespace.split("/")),
            "path": path,
            "path_with_namespace": self.path_with_namespace,
            "created_at": self.created_at,
            "default_branch": self.default_branch,
            "visibility": "private",
            "web_url": web_url,
            "http_url_to_repo": f"{web_url}.git",
            "ssh_url_to_repo": f"git@fake-gitlab:{self.path_with_namespace}.git",
            "readme_url": None,
            "archived": False,
            "empty_repo": False,
            "namespace": {
                "id": self.id,
                "name": namespace.rsplit("/", 1)[-1] if namespace else path,
                "path": namespace.rsplit("/", 1)[-1] if namespace else path,
                "kind": "group",
                "full_path": namespace or path,
                "web_url": f"{base_url}/{namespace or path}",
            },
            "merge_requests_enabled": True,
            "issues_enabled": True,
            "permissions": {"project_access": {"access_level": 30}, "group_access": None},
        }


@dataclass
class Version:
    id: int
    head_sha: str
    base_sha: str
    start_sha: str
    created_at: str = field(default_factory=now)

    def refs(self) -> dict[str, str]:
        return {"base_sha": self.base_sha, "head_sha": self.head_sha, "start_sha": self.start_sha}


@dataclass
class Note:
    id: int
    discussion_id: str
    author_id: int
    body: str
    type: str | None  # None (a plain comment), "DiscussionNote" or "DiffNote"
    system: bool = False
    resolvable: bool = False
    resolved: bool = False
    resolved_by: int | None = None
    resolved_at: str | None = None
    position: dict[str, Any] | None = None
    line_code: str | None = None
    internal: bool = False
    created_at: str = field(default_factory=now)
    updated_at: str = ""
    created_seq: int = field(default_factory=tick)
    updated_seq: int = 0

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at
        self.updated_seq = self.updated_seq or self.created_seq

    def touch(self) -> None:
        self.updated_at = now()
        self.updated_seq = tick()


@dataclass
class Discussion:
    id: str
    individual_note: bool
    note_ids: list[int] = field(default_factory=list)


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    author_id: int
    source_branch: str
    target_branch: str
    versions: list[Version]  # oldest first
    labels: set[str] = field(default_factory=set)
    state: str = "opened"
    draft: bool | None = None  # None: from the title ("Draft:" …), as GitLab does
    overflow: bool = False
    diff_refs_pending: bool = False
    diff_flags: dict[str, dict[str, bool]] = field(default_factory=dict)
    notes: dict[int, Note] = field(default_factory=dict)  # by id, creation order
    discussions: dict[str, Discussion] = field(default_factory=dict)  # creation order
    created_at: str = field(default_factory=now)
    updated_at: str = ""
    assignee_ids: list[int] = field(default_factory=list)
    reviewer_ids: list[int] = field(default_factory=list)
    merged_by: int | None = None
    merged_at: str | None = None
    merge_commit_sha: str | None = None  # the merge commit (None after a fast-forward merge)
    squash_commit_sha: str | None = None
    merged_commit_sha: str | None = None  # the target branch's tip right after the merge
    closed_by: int | None = None
    closed_at: str | None = None

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def is_draft(self) -> bool:
        if self.draft is not None:
            return self.draft
        title = self.title.lower()
        return title.startswith(("draft:", "[draft]", "(draft)", "draft "))


@dataclass
class Status:
    id: int
    project_id: int
    sha: str
    ref: str | None
    name: str
    status: str
    author_id: int
    pipeline_id: int
    description: str | None = None
    target_url: str | None = None
    coverage: float | None = None
    retried: bool = False
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None

    def to_json(self, author: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha": self.sha,
            "ref": self.ref,
            "status": self.status,
            "name": self.name,
            "target_url": self.target_url,
            "description": self.description,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "allow_failure": False,
            "coverage": self.coverage,
            "pipeline_id": self.pipeline_id,
            "author": author,
        }


def deep(value: Any) -> Any:
    return copy.deepcopy(value)


class ApiError(Exception):
    """An API error answer: HTTP `status` with GitLab's JSON `payload`."""

    def __init__(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {payload}")
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def not_found(what: str | None = None) -> ApiError:
    """GitLab's `not_found!(what)`: 404 {"message": "404 <what> Not Found"}."""
    return ApiError(404, {"message": f"404 {what} Not Found" if what else "404 Not found"})


def bad_request(reason: str) -> ApiError:
    """GitLab's `bad_request!(reason)`."""
    return ApiError(400, {"message": f"400 Bad request - {reason}"})


def invalid_param(message: str) -> ApiError:
    """A Grape parameter validation error (note: `error`, not `message`)."""
    return ApiError(400, {"error": message})


def forbidden() -> ApiError:
    return ApiError(403, {"message": "403 Forbidden"})


LINE_CODE_ERROR = 'Note {:line_code=>["can\'t be blank", "must be a valid line code"]}'


@dataclass
class Fault:
    """An injected failure for requests matching `method` and `path_pattern` (see inject_fault)."""

    method: str
    path_pattern: re.Pattern[str]
    status: int | None
    times: int | None
    delay: float
    retry_after: int | None
    process: bool
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.path_pattern.search(path) is not None


@dataclass(frozen=True)
class LoggedRequest:
    """One request the fake received, and what it answered."""

    method: str
    path: str  # as sent, still URL-encoded (e.g. /api/v4/projects/group%2Fproj/...)
    query: dict[str, str]  # the query string (last value of a repeated name wins)
    status: int
    user_id: int | None  # the authenticated user, None when authentication failed or was skipped
    body: dict[str, Any] = field(default_factory=dict)  # form or JSON body
    processed: bool = False  # the request reached a handler (state may have changed)
    fault: bool = False  # an injected fault or the rate limit shaped the answer
    time: float = 0.0
