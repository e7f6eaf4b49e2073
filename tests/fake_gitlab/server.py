"""FakeGitLab: a GitLab REST API v4 subset served over real HTTP, for integration tests.

State lives in memory behind one lock; repositories are real git repositories on disk (file
contents, trees and diffs come from running git). Tests set state up and read what a client wrote
through the methods of `FakeGitLab`; clients talk to `FakeGitLab.url` as they would to GitLab.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from tests.fake_gitlab.api import create_app
from tests.fake_gitlab.git import DiffFile, GitError, Repository
from tests.fake_gitlab.state import (
    LINE_CODE_ERROR,
    AccessLevel,
    ApiError,
    Discussion,
    Fault,
    LoggedRequest,
    Member,
    MergeRequest,
    Note,
    Project,
    Status,
    User,
    Version,
    bad_request,
    deep,
    invalid_param,
    now,
)


class FakeGitLab:
    """A fake GitLab (API v4) on 127.0.0.1, in memory, over real git repositories.

    Every user can see every project with Developer rights; tokens go in PRIVATE-TOKEN,
    `Authorization: Bearer` or `?private_token=`. Memberships (the members API) are separate
    from that: a project has no members until add_member/add_group_member adds some (not even
    a creator). Inline positions are checked as GitLab checks them (see _check_position).
    With `strict_positions` (the default) a position's base, start and head SHAs must be the
    MR's latest version's; with False any version of the MR is accepted (real GitLab also
    accepts an older version's SHAs and makes an outdated thread).
    Setup methods raise KeyError for unknown users, projects, MRs or discussions.
    """

    def __init__(
        self,
        *,
        strict_positions: bool = True,
        rate_limit: int | None = None,
        rate_limit_period: float = 1.0,
    ) -> None:
        self.strict_positions = strict_positions
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._users: dict[int, User] = {}
        self._projects: dict[int, Project] = {}
        self._mrs: dict[tuple[int, int], MergeRequest] = {}
        self._project_members: dict[int, dict[int, Member]] = {}  # project id -> user id -> …
        self._group_members: dict[str, dict[int, Member]] = {}  # group full path (lower) -> …
        self._statuses: list[Status] = []
        self._pipelines: dict[tuple[int, str, str | None], int] = {}
        self._faults: list[Fault] = []
        self._log: list[LoggedRequest] = []
        self._rate_limit: tuple[int, float] | None = None
        self._rate_window: tuple[float, int] = (0.0, 0)
        self.errors: list[str] = []  # tracebacks of unexpected exceptions (fake bugs): assert empty
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._url: str | None = None
        if rate_limit is not None:
            self.set_rate_limit(rate_limit, period=rate_limit_period)
        self.app = create_app(self)

    # lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeGitLab:
        """Serve on a free port of 127.0.0.1 in a background thread; return self."""
        if self._server is not None:
            return self
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-gitlab"
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("FakeGitLab did not start")
            time.sleep(0.01)
        self._server, self._thread, self._socket = server, thread, sock
        self._url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    def stop(self) -> None:
        """Stop serving (waits for the server thread)."""
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeGitLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give python-gitlab (`gitlab.Gitlab(fake.url, ...)`)."""
        if self._url is None:
            raise RuntimeError("FakeGitLab is not started")
        return self._url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v4"

    def _base_url(self) -> str:
        return self._url or "http://fake-gitlab.invalid"

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    # setup: users, projects, merge requests ------------------------------------------------------

    def add_user(
        self, username: str, token: str, *, name: str | None = None, bot: bool = False
    ) -> int:
        """A user authenticating with `token` (PRIVATE-TOKEN or Bearer); returns its id."""
        with self._lock:
            if any(u.token == token for u in self._users.values()):
                raise ValueError("another user has this token")
            user_id = self._next_id("user")
            self._users[user_id] = User(user_id, username, token, name or username, bot)
            return user_id

    def add_project(
        self, path_with_namespace: str, repo_dir: Path | str, *, default_branch: str | None = None
    ) -> int:
        """A project backed by the git repository at `repo_dir`; returns its id."""
        repo = Repository(repo_dir)
        with self._lock:
            project_id = self._next_id("project")
            self._projects[project_id] = Project(
                project_id, path_with_namespace, repo, default_branch or repo.default_branch()
            )
            return project_id

    def open_mr(
        self,
        project_id: int,
        *,
        author_id: int,
        source_branch: str,
        target_branch: str | None = None,
        head_sha: str | None = None,
        base_sha: str | None = None,
        start_sha: str | None = None,
        title: str = "Change the schema",
        description: str = "",
        labels: Iterable[str] = (),
    ) -> int:
        """Open an MR; returns its iid. Its first diff version is (base_sha, start_sha, head_sha).

        head_sha defaults to the tip of `source_branch`, start_sha to the tip of `target_branch`
        (the project's default branch unless given) and base_sha to merge-base(start, head).
        """
        with self._lock:
            project = self._project(project_id)
            target_branch = target_branch or project.default_branch
            head = self._commit(project, head_sha or source_branch)
            start = self._commit(project, start_sha or base_sha or target_branch)
            base = self._commit(project, base_sha) if base_sha else None
            base = base or project.repo.merge_base(start, head) or start
            self._user(author_id)
            iid = project.next_iid
            project.next_iid += 1
            mr = MergeRequest(
                id=self._next_id("mr"),
                iid=iid,
                project_id=project_id,
                title=title,
                description=description,
                author_id=author_id,
                source_branch=source_branch,
                target_branch=target_branch,
                versions=[Version(self._next_id("version"), head, base, start)],
                labels=set(labels),
            )
            self._mrs[(project_id, iid)] = mr
            return iid

    def push(
        self,
        project_id: int,
        iid: int,
        new_head_sha: str,
        *,
        start_sha: str | None = None,
        base_sha: str | None = None,
        system_note: bool = True,
    ) -> int:
        """New commits on the source branch: add a diff version; returns the version id.

        start_sha stays the latest version's unless given; base_sha defaults to
        merge-base(start, head). Like GitLab, adds an "added N commits" system note.
        """
        with self._lock:
            project = self._project(project_id)
            mr = self._mr(project_id, iid)
            previous = mr.latest
            head = self._commit(project, new_head_sha)
            start = self._commit(project, start_sha) if start_sha else previous.start_sha
            base = self._commit(project, base_sha) if base_sha else None
            base = base or project.repo.merge_base(start, head) or start
            version = Version(self._next_id("version"), head, base, start)
            mr.versions.append(version)
            mr.updated_at = now()
            if system_note:
                commits = project.repo.commits_between(previous.head_sha, head)
                if commits:
                    items = "".join(f"<li>{c['short_id']} - {c['title']}</li>" for c in commits)
                    count = f"{len(commits)} commit{'s' if len(commits) != 1 else ''}"
                    self._new_note(
                        mr, mr.author_id, f"added {count}\n\n<ul>{items}</ul>", system=True
                    )
            return version.id

    def update_mr(
        self,
        project_id: int,
        iid: int,
        *,
        title: str | None = None,
        description: str | None = None,
        state: str | None = None,
        draft: bool | None = None,
        labels: Iterable[str] | None = None,
        reviewer_ids: Iterable[int] | None = None,
        assignee_ids: Iterable[int] | None = None,
    ) -> None:
        """Change an MR as a human would.

        state: "closed" and "opened" (a reopen) work as close_mr/reopen_mr do, by the MR's
        author; "merged" only records the merge (merged_by: the author, no merge commit, the
        target branch untouched: use merge_mr for a real merge); "locked" just sets it.
        reviewer_ids/assignee_ids replace the lists (unknown user ids are dropped, as on GitLab).
        """
        with self._lock:
            mr = self._mr(project_id, iid)
            if title is not None:
                mr.title = title
            if description is not None:
                mr.description = description
            if state == "closed" and mr.state != "closed":
                self._close(mr, mr.author_id)
            elif state == "opened" and mr.state == "closed":
                self._reopen(mr)
            elif state == "merged" and mr.state != "merged":
                self._record_merge(mr, mr.author_id)
            elif state is not None:
                mr.state = state
            if draft is not None:
                mr.draft = draft
            if labels is not None:
                mr.labels = set(labels)
            if reviewer_ids is not None:
                mr.reviewer_ids = self._known_users(reviewer_ids)
            if assignee_ids is not None:
                mr.assignee_ids = self._known_users(assignee_ids)
            mr.updated_at = now()

    def close_mr(self, project_id: int, iid: int, *, closed_by: int | None = None) -> None:
        """Close an open MR (state "closed", closed_at, closed_by: `closed_by`, else the
        author), as `PUT …/merge_requests/:iid` with state_event=close does. ValueError if the
        MR is not open."""
        with self._lock:
            mr = self._mr(project_id, iid)
            user_id = mr.author_id if closed_by is None else self._user(closed_by).id
            if mr.state != "opened":
                raise ValueError(f"!{iid} is {mr.state}, not opened")
            self._close(mr, user_id)

    def reopen_mr(self, project_id: int, iid: int) -> None:
        """Reopen a closed MR (closed_at and closed_by go back to null, as on GitLab)."""
        with self._lock:
            mr = self._mr(project_id, iid)
            if mr.state != "closed":
                raise ValueError(f"!{iid} is {mr.state}, not closed")
            self._reopen(mr)

    def merge_mr(
        self,
        project_id: int,
        iid: int,
        *,
        merged_by: int | None = None,
        squash: bool = False,
        fast_forward: bool = False,
        commit_message: str | None = None,
        squash_commit_message: str | None = None,
    ) -> str:
        """Merge an open, non-draft MR for real in the backing git repository, as GitLab's merge
        strategies do, and return the target branch's new tip.

        - default (merge commit): a merge commit of the target tip and the MR's head (or the
          squash commit) on the target branch; merge_commit_sha is that commit.
        - squash: first a single commit with the MR's changes on top of the target tip (author:
          the MR's author; message: `squash_commit_message`, else the title); squash_commit_sha.
        - fast_forward: the target branch moves to the head (or the squash commit);
          merge_commit_sha stays null (GitLab's fast-forward merge has no merge commit), and the
          target tip must be an ancestor (else ValueError, as GitLab refuses).

        The merge commit is by `merged_by` (default: the author), who also becomes `merged_by`;
        merged_at is now. If the target branch is checked out in the repository, its working
        tree is fast-forwarded too. ValueError on conflicts, or if the MR is not open or is a
        draft; no state changes then.
        """
        with self._lock:
            project = self._project(project_id)
            mr = self._mr(project_id, iid)
            user = self._user(mr.author_id if merged_by is None else merged_by)
            if mr.state != "opened":
                raise ValueError(f"!{iid} is {mr.state}, not opened")
            if mr.is_draft:
                raise ValueError(f"!{iid} is a draft")
            repo = project.repo
            head = mr.latest.head_sha
            tip = repo.resolve(f"refs/heads/{mr.target_branch}")
            if tip is None:
                raise ValueError(f"no target branch {mr.target_branch!r}")
            merger = (user.name, user.email)
            source, squash_sha, merge_sha = head, None, None
            if squash:
                tree = repo.merge_tree(tip, head)
                if tree is None:
                    raise ValueError(f"!{iid} conflicts with {mr.target_branch}")
                author = self._users.get(mr.author_id, user)
                source = squash_sha = repo.commit_tree(
                    tree,
                    [tip],
                    squash_commit_message or mr.title,
                    author=(author.name, author.email),
                    committer=merger,
                )
            if fast_forward:
                if not repo.is_ancestor(tip, source) or source == tip:
                    raise ValueError(
                        "Only fast-forward merge is allowed for your project. "
                        "Please update your source branch"
                    )
                new_tip = source
            else:
                tree = repo.merge_tree(tip, source)
                if tree is None:
                    raise ValueError(f"!{iid} conflicts with {mr.target_branch}")
                message = commit_message or (
                    f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n"
                    f"{mr.title}\n\nSee merge request {project.path_with_namespace}!{mr.iid}\n"
                )
                new_tip = merge_sha = repo.commit_tree(
                    tree, [tip, source], message, author=merger, committer=merger
                )
            repo.advance_branch(mr.target_branch, tip, new_tip)
            self._record_merge(
                mr, user.id, merge_commit_sha=merge_sha, squash_commit_sha=squash_sha, tip=new_tip
            )
            return new_tip

    def set_overflow(self, project_id: int, iid: int, overflow: bool = True) -> None:
        """Mark the MR's diff as cut by GitLab's limits (`overflow` in MR JSON, "1+" counts)."""
        with self._lock:
            self._mr(project_id, iid).overflow = overflow

    def set_diff_flags(
        self,
        project_id: int,
        iid: int,
        path: str,
        *,
        collapsed: bool = False,
        too_large: bool = False,
        generated_file: bool = False,
    ) -> None:
        """Flag one file (its new or old path) of the MR's diffs; collapsed/too_large empty its
        `diff` and make inline positions on it fail, as on GitLab."""
        with self._lock:
            self._mr(project_id, iid).diff_flags[path] = {
                "collapsed": collapsed,
                "too_large": too_large,
                "generated_file": generated_file,
            }

    def set_diff_refs_pending(self, project_id: int, iid: int, pending: bool = True) -> None:
        """Simulate an MR whose diff GitLab is still preparing: diff_refs all null, no versions,
        no diffs (what a client sees right after MR creation)."""
        with self._lock:
            self._mr(project_id, iid).diff_refs_pending = pending

    # setup: members -----------------------------------------------------------------------------

    def add_member(
        self,
        project_id: int,
        user_id: int,
        access_level: int,
        *,
        expires_at: str | None = None,
    ) -> None:
        """Make `user_id` a direct member of the project with `access_level` (10 guest,
        15 planner, 20 reporter, 30 developer, 40 maintainer, 50 owner; see AccessLevel), or
        change the level of an existing membership. expires_at: "YYYY-MM-DD" (shown only)."""
        with self._lock:
            self._project(project_id)
            self._user(user_id)
            members = self._project_members.setdefault(project_id, {})
            self._upsert_member(members, user_id, access_level, expires_at, project_id=project_id)

    def add_group_member(
        self,
        group_path: str,
        user_id: int,
        access_level: int,
        *,
        expires_at: str | None = None,
    ) -> None:
        """Make `user_id` a member of the group `group_path` (e.g. "group" or "group/sub"):
        an inherited member of every project under it (its path starts with "group_path/").
        Groups exist only as these paths; no group API is served."""
        path = group_path.strip("/").lower()
        if not path:
            raise ValueError("empty group path")
        with self._lock:
            self._user(user_id)
            members = self._group_members.setdefault(path, {})
            self._upsert_member(members, user_id, access_level, expires_at, group=path)

    def remove_member(self, project_id: int, user_id: int) -> None:
        """End a direct project membership (KeyError if there is none)."""
        with self._lock:
            members = self._project_members.get(project_id, {})
            if user_id not in members:
                raise KeyError(f"user {user_id} is not a direct member of project {project_id}")
            del members[user_id]

    def members(self, project_id: int, *, inherited: bool = True) -> list[dict[str, Any]]:
        """The project's members as `…/members/all` (inherited=True) or `…/members` list them."""
        with self._lock:
            project = self._project(project_id)
            base = self._base_url()
            if not inherited:
                return [self._member_json(m, None, base) for m in self._direct_members(project)]
            return [self._member_json(m, level, base) for m, level in self._all_members(project)]

    # setup: what humans write -------------------------------------------------------------------

    def add_note(
        self, project_id: int, iid: int, author_id: int, body: str, *, system: bool = False
    ) -> int:
        """A top-level comment (or a system note) by `author_id`; returns the note id."""
        with self._lock:
            self._user(author_id)
            return self._new_note(self._mr(project_id, iid), author_id, body, system=system).id

    def add_discussion(
        self,
        project_id: int,
        iid: int,
        author_id: int,
        body: str,
        *,
        position: dict[str, Any] | None = None,
    ) -> str:
        """A thread by `author_id` (inline if `position`, checked as the API checks it); returns
        the discussion id. Raises ApiError when GitLab would refuse the position."""
        with self._lock:
            self._user(author_id)
            project = self._project(project_id)
            mr = self._mr(project_id, iid)
            return self._new_discussion(project, mr, author_id, body, position).discussion_id

    def add_human_reply(
        self, project_id: int, iid: int, discussion_id: str, author_id: int, body: str
    ) -> int:
        """A reply by `author_id` in thread `discussion_id`; returns the note id."""
        with self._lock:
            self._user(author_id)
            mr = self._mr(project_id, iid)
            return self._reply(mr, self._discussion(mr, discussion_id), author_id, body).id

    def resolve_discussion(
        self, project_id: int, iid: int, discussion_id: str, user_id: int, resolved: bool = True
    ) -> None:
        """Resolve (or reopen) a thread as `user_id`."""
        with self._lock:
            mr = self._mr(project_id, iid)
            self._resolve(mr, self._discussion(mr, discussion_id), user_id, resolved)

    # inspection ---------------------------------------------------------------------------------

    def merge_request(self, project_id: int, iid: int) -> dict[str, Any]:
        """The MR as `GET /projects/:id/merge_requests/:iid` returns it."""
        with self._lock:
            project = self._project(project_id)
            return self._mr_json(project, self._mr(project_id, iid), self._base_url())

    def versions(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        """The MR's diff versions as `…/versions` returns them (newest first)."""
        with self._lock:
            mr = self._mr(project_id, iid)
            project = self._project(project_id)
            return [self._version_json(project, mr, v) for v in reversed(mr.versions)]

    def notes(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        """Every note on the MR (comments, thread notes, replies, system notes), oldest first,
        as the notes API renders them."""
        with self._lock:
            mr = self._mr(project_id, iid)
            base = self._base_url()
            return [self._note_json(mr, n, base) for n in mr.notes.values()]

    def discussions(self, project_id: int, iid: int) -> list[dict[str, Any]]:
        """The MR's discussions (threads and individual notes), oldest first, as the API renders
        them."""
        with self._lock:
            mr = self._mr(project_id, iid)
            base = self._base_url()
            return [self._discussion_json(mr, d, base) for d in mr.discussions.values()]

    def statuses(
        self, project_id: int, sha: str, *, include_retried: bool = True
    ) -> list[dict[str, Any]]:
        """Commit statuses posted for `sha` (a full SHA or any ref), oldest first. A status
        posted again after it finished is "retried" (superseded); include_retried=False keeps
        only the latest per name and ref, as the list endpoint does without `all=true`."""
        with self._lock:
            project = self._project(project_id)
            full = project.repo.resolve(sha) or sha
            return [
                self._status_json(s, self._base_url())
                for s in self._statuses
                if s.project_id == project_id
                and s.sha == full
                and (include_retried or not s.retried)
            ]

    def labels(self, project_id: int, iid: int) -> list[str]:
        """The MR's labels, sorted."""
        with self._lock:
            return sorted(self._mr(project_id, iid).labels)

    # faults, rate limit, request log ------------------------------------------------------------

    def inject_fault(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        process: bool = False,
    ) -> Fault:
        """Shape the answers to the next `times` requests (None: all, until clear_faults) whose
        method is `method` ("*" for any) and whose raw path (still URL-encoded, starting with
        /api/v4) matches the regex `path_pattern` (re.search). Faults apply before
        authentication, in the order injected; one fault per request.

        - status: answer this HTTP status instead (500/502/503: {"message": "..."}; 429: text
          "Retry later" with Retry-After: `retry_after` or 1). Without `process` the request is
          not applied to the state.
        - delay: sleep this many seconds before answering (to make clients time out).
        - process: apply the request first (state changes), then sleep `delay`, then answer
          `status` if given, else the real answer: a write that succeeded but whose answer was
          lost. Without `process`, a delay-only fault sleeps and then applies the request.
        """
        fault = Fault(
            method.upper(),
            re.compile(path_pattern),
            status,
            times,
            delay,
            retry_after,
            process,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_rate_limit(self, limit: int | None, *, period: float = 1.0) -> None:
        """At most `limit` requests per `period` seconds (all users together; a window opens with
        the first request after the previous one closed);
        more get 429 "Retry later" with Retry-After and RateLimit-* headers. None: no limit."""
        with self._lock:
            self._rate_limit = None if limit is None else (limit, period)
            self._rate_window = (0.0, 0)

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every request received so far, in arrival order of their answers."""
        with self._lock:
            return list(self._log)

    def requests(
        self, method: str | None = None, path_pattern: str | None = None
    ) -> list[LoggedRequest]:
        """Logged requests with this method and a raw path matching the regex (re.search)."""
        pattern = re.compile(path_pattern) if path_pattern else None
        return [
            r
            for r in self.request_log
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # lookups (callers hold the lock) -------------------------------------------------------------

    def _user(self, user_id: int) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise KeyError(f"no user {user_id}") from None

    def _known_users(self, user_ids: Iterable[int]) -> list[int]:
        """The ids of existing users, in order, without repeats (GitLab drops unknown ids)."""
        return [i for i in dict.fromkeys(user_ids) if i in self._users]

    def _user_by_token(self, token: str) -> User | None:
        return next((u for u in self._users.values() if u.token == token), None)

    def _project(self, project_id: int) -> Project:
        try:
            return self._projects[project_id]
        except KeyError:
            raise KeyError(f"no project {project_id}") from None

    def _mr(self, project_id: int, iid: int) -> MergeRequest:
        try:
            return self._mrs[(project_id, iid)]
        except KeyError:
            raise KeyError(f"no merge request !{iid} in project {project_id}") from None

    def _discussion(self, mr: MergeRequest, discussion_id: str) -> Discussion:
        try:
            return mr.discussions[discussion_id]
        except KeyError:
            raise KeyError(f"no discussion {discussion_id} on !{mr.iid}") from None

    @staticmethod
    def _commit(project: Project, ref: str) -> str:
        sha = project.repo.resolve(ref)
        if sha is None:
            raise ValueError(f"{ref!r} names no commit in {project.repo.path}")
        return sha

    # operations shared by the API and the setup methods ---------------------------------------

    def _new_note(
        self,
        mr: MergeRequest,
        author_id: int,
        body: str,
        *,
        system: bool = False,
        internal: bool = False,
    ) -> Note:
        """A top-level note: its own individual discussion."""
        discussion = Discussion(secrets.token_hex(20), individual_note=True)
        note = Note(
            id=self._next_id("note"),
            discussion_id=discussion.id,
            author_id=author_id,
            body=body,
            type=None,
            system=system,
            internal=internal,
        )
        discussion.note_ids.append(note.id)
        mr.discussions[discussion.id] = discussion
        mr.notes[note.id] = note
        return note

    def _new_discussion(
        self,
        project: Project,
        mr: MergeRequest,
        author_id: int,
        body: str,
        position: dict[str, Any] | None,
    ) -> Note:
        """A new resolvable thread (a DiffNote thread if `position`); returns its first note."""
        checked, line_code = (None, None)
        if position is not None:
            checked, line_code = self._check_position(project, mr, position)
        discussion = Discussion(secrets.token_hex(20), individual_note=False)
        note = Note(
            id=self._next_id("note"),
            discussion_id=discussion.id,
            author_id=author_id,
            body=body,
            type="DiffNote" if checked else "DiscussionNote",
            resolvable=True,
            position=checked,
            line_code=line_code,
        )
        discussion.note_ids.append(note.id)
        mr.discussions[discussion.id] = discussion
        mr.notes[note.id] = note
        return note

    def _reply(self, mr: MergeRequest, discussion: Discussion, author_id: int, body: str) -> Note:
        first = mr.notes[discussion.note_ids[0]]
        if first.system:
            raise bad_request('Note {:discussion=>["can\'t be replied to"]}')
        if discussion.individual_note:  # replying turns a comment into a thread
            discussion.individual_note = False
            first.type = "DiscussionNote"
            first.resolvable = True
        resolved = self._is_resolved(mr, discussion)
        note = Note(
            id=self._next_id("note"),
            discussion_id=discussion.id,
            author_id=author_id,
            body=body,
            type=first.type,
            resolvable=first.resolvable,
            resolved=resolved,
            resolved_by=first.resolved_by if resolved else None,
            resolved_at=first.resolved_at if resolved else None,
            position=deep(first.position),
            line_code=first.line_code,
        )
        discussion.note_ids.append(note.id)
        mr.notes[note.id] = note
        return note

    @staticmethod
    def _close(mr: MergeRequest, user_id: int) -> None:
        mr.state = "closed"
        mr.closed_by = user_id
        mr.closed_at = mr.updated_at = now()

    @staticmethod
    def _reopen(mr: MergeRequest) -> None:
        mr.state = "opened"
        mr.closed_by = mr.closed_at = None  # GitLab's metrics forget the latest close
        mr.updated_at = now()

    @staticmethod
    def _record_merge(
        mr: MergeRequest,
        user_id: int,
        *,
        merge_commit_sha: str | None = None,
        squash_commit_sha: str | None = None,
        tip: str | None = None,
    ) -> None:
        mr.state = "merged"
        mr.merged_by = user_id
        mr.merged_at = mr.updated_at = now()
        mr.merge_commit_sha = merge_commit_sha
        mr.squash_commit_sha = squash_commit_sha
        mr.merged_commit_sha = tip

    def _upsert_member(
        self,
        members: dict[int, Member],
        user_id: int,
        access_level: int,
        expires_at: str | None,
        **source: Any,
    ) -> None:
        if access_level not in set(AccessLevel):
            raise ValueError(
                f"access level {access_level} is not one of {list(map(int, AccessLevel))}"
            )
        found = members.get(user_id)
        if found is not None:
            found.access_level = int(access_level)
            found.expires_at = expires_at
            return
        members[user_id] = Member(
            id=self._next_id("member"),
            user_id=user_id,
            access_level=int(access_level),
            expires_at=expires_at,
            **source,
        )

    def _direct_members(self, project: Project) -> list[Member]:
        """A project's own members, in membership order (GitLab's default: members.id)."""
        return sorted(self._project_members.get(project.id, {}).values(), key=lambda m: m.id)

    def _all_members(self, project: Project) -> list[tuple[Member, int]]:
        """`members/all`: one row per user (the project membership if there is one, else the
        strongest ancestor-group one) with the user's highest access level, in members.id
        order."""
        namespace = project.path_with_namespace.lower().rpartition("/")[0]
        parts = namespace.split("/") if namespace else []
        groups = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # top-level first
        candidates: dict[int, list[Member]] = {}
        for group in reversed(groups):  # nearest group first
            for member in self._group_members.get(group, {}).values():
                candidates.setdefault(member.user_id, []).append(member)
        rows = []
        for user_id, group_rows in candidates.items():
            direct = self._project_members.get(project.id, {}).get(user_id)
            best = max(group_rows, key=lambda m: m.access_level)  # max() keeps the nearest tie
            level = max(
                [m.access_level for m in group_rows] + ([direct.access_level] if direct else [])
            )
            rows.append((direct or best, level))
        for member in self._direct_members(project):
            if member.user_id not in candidates:
                rows.append((member, member.access_level))
        return sorted(rows, key=lambda row: row[0].id)

    def _member_json(self, member: Member, level: int | None, base_url: str) -> dict[str, Any]:
        return member.to_json(self._author(member.user_id, base_url), level)

    def _is_resolved(self, mr: MergeRequest, discussion: Discussion) -> bool:
        notes = [mr.notes[i] for i in discussion.note_ids if mr.notes[i].resolvable]
        return bool(notes) and all(n.resolved for n in notes)

    def _resolve(
        self, mr: MergeRequest, discussion: Discussion, user_id: int, resolved: bool
    ) -> None:
        for note_id in discussion.note_ids:
            note = mr.notes[note_id]
            if note.resolvable:
                self._resolve_note(note, user_id, resolved)

    @staticmethod
    def _resolve_note(note: Note, user_id: int, resolved: bool) -> None:
        if note.resolved == resolved:
            return
        note.resolved = resolved
        note.resolved_by = user_id if resolved else None
        note.resolved_at = now() if resolved else None

    def _diff(self, project: Project, version: Version) -> list[DiffFile]:
        try:
            return project.repo.diff(version.base_sha, version.head_sha)
        except GitError as error:
            raise ApiError(500, {"message": f"500 Internal Server Error ({error})"}) from None

    def _flags(self, mr: MergeRequest, file: DiffFile) -> dict[str, bool]:
        return mr.diff_flags.get(file.new_path) or mr.diff_flags.get(file.old_path) or {}

    def _check_position(
        self, project: Project, mr: MergeRequest, raw: Any
    ) -> tuple[dict[str, Any], str | None]:
        """GitLab's checks on a new thread's `position`: (the stored position, its line_code)."""
        if not isinstance(raw, dict):
            raise invalid_param("position is invalid")
        required = ("base_sha", "start_sha", "head_sha", "position_type")
        missing = [k for k in required if raw.get(k) in (None, "")]
        if missing:
            raise invalid_param(", ".join(f"position[{k}] is missing" for k in missing))
        kind = raw["position_type"]
        if kind not in ("text", "image", "file"):
            raise invalid_param("position[position_type] does not have a valid value")
        lines = {}
        for key in ("old_line", "new_line"):
            value = raw.get(key)
            if value in (None, ""):
                lines[key] = None
                continue
            try:
                lines[key] = int(value)
            except (TypeError, ValueError):
                raise invalid_param(f"position[{key}] is invalid") from None
        refs = (raw["base_sha"], raw["start_sha"], raw["head_sha"])
        candidates = [mr.latest] if self.strict_positions else list(reversed(mr.versions))
        if mr.diff_refs_pending:
            candidates = []
        version = next(
            (v for v in candidates if (v.base_sha, v.start_sha, v.head_sha) == refs), None
        )
        refused = bad_request(LINE_CODE_ERROR)
        if version is None:
            raise refused
        old_path = raw.get("old_path") or raw.get("new_path")
        new_path = raw.get("new_path") or raw.get("old_path")
        file = next(
            (
                f
                for f in self._diff(project, version)
                if f.old_path == old_path and f.new_path == new_path
            ),
            None,
        )
        if file is None:
            raise refused
        flags = self._flags(mr, file)
        position = {
            "base_sha": version.base_sha,
            "start_sha": version.start_sha,
            "head_sha": version.head_sha,
            "old_path": file.old_path,
            "new_path": file.new_path,
            "position_type": kind,
            "old_line": lines["old_line"],
            "new_line": lines["new_line"],
            "line_range": None,
        }
        if kind != "text":
            for key in ("width", "height", "x", "y"):
                if key in raw:
                    position[key] = raw[key]
            return position, None
        if flags.get("collapsed") or flags.get("too_large") or file.binary:
            raise refused
        line = file.line(lines["old_line"], lines["new_line"])
        if line is None:
            raise refused
        path_hash = hashlib.sha1(file.new_path.encode()).hexdigest()

        def code(found: Any) -> str:
            return f"{path_hash}_{found.old_pos}_{found.new_pos}"

        line_range = raw.get("line_range")
        if line_range:
            checked_range = {}
            for end in ("start", "end"):
                part = line_range.get(end) if isinstance(line_range, dict) else None
                if not isinstance(part, dict):
                    raise refused
                found = None
                if part.get("line_code"):
                    found = next((x for x in file.lines if code(x) == part["line_code"]), None)
                else:
                    try:
                        old = int(part["old_line"]) if part.get("old_line") else None
                        new = int(part["new_line"]) if part.get("new_line") else None
                    except (TypeError, ValueError):
                        raise refused from None
                    found = file.line(old, new)
                if found is None:
                    raise refused
                checked_range[end] = {
                    "line_code": code(found),
                    "type": "old" if found.kind == "old" else "new",
                    "old_line": found.old_line,
                    "new_line": found.new_line,
                }
            position["line_range"] = checked_range
        return position, code(line)

    # JSON ----------------------------------------------------------------------------------------

    def _author(self, user_id: int, base_url: str) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            return {"id": user_id, "username": f"user{user_id}", "name": f"user{user_id}"}
        return user.brief(base_url)

    def _maybe_user(self, user_id: int | None, base_url: str) -> dict[str, Any] | None:
        return None if user_id is None else self._author(user_id, base_url)

    @staticmethod
    def _detailed_merge_status(mr: MergeRequest) -> str:
        if mr.state != "opened":
            return "not_open"
        return "draft_status" if mr.is_draft else "mergeable"

    def _diff_items(
        self, project: Project, mr: MergeRequest, version: Version, *, unidiff: bool = False
    ) -> list[dict[str, Any]]:
        items = []
        for file in self._diff(project, version):
            flags = self._flags(mr, file)
            hidden = bool(flags.get("collapsed") or flags.get("too_large"))
            text = "" if hidden else (file.header + file.diff if unidiff else file.diff)
            items.append(
                {
                    "old_path": file.old_path,
                    "new_path": file.new_path,
                    "a_mode": file.a_mode,
                    "b_mode": file.b_mode,
                    "new_file": file.new_file,
                    "renamed_file": file.renamed_file,
                    "deleted_file": file.deleted_file,
                    "generated_file": bool(flags.get("generated_file")),
                    "collapsed": bool(flags.get("collapsed")),
                    "too_large": bool(flags.get("too_large")),
                    "diff": text,
                }
            )
        return items

    def _version_json(self, project: Project, mr: MergeRequest, version: Version) -> dict[str, Any]:
        files = self._diff(project, version)
        return {
            "id": version.id,
            "head_commit_sha": version.head_sha,
            "base_commit_sha": version.base_sha,
            "start_commit_sha": version.start_sha,
            "created_at": version.created_at,
            "merge_request_id": mr.id,
            "state": "overflow" if mr.overflow else "collected",
            "real_size": f"{len(files)}+" if mr.overflow else str(len(files)),
            "patch_id_sha": hashlib.sha1("".join(f.diff for f in files).encode()).hexdigest(),
        }

    def _mr_json(self, project: Project, mr: MergeRequest, base_url: str) -> dict[str, Any]:
        latest = mr.latest
        if mr.diff_refs_pending:
            diff_refs: dict[str, Any] = {"base_sha": None, "head_sha": None, "start_sha": None}
            changes_count = None
        else:
            diff_refs = latest.refs()
            count = len(self._diff(project, latest))
            changes_count = f"{count}+" if mr.overflow else str(count)
        discussions = [d for d in mr.discussions.values() if not d.individual_note]
        web_url = f"{base_url}/{project.path_with_namespace}/-/merge_requests/{mr.iid}"
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_by": self._maybe_user(mr.merged_by, base_url),
            "merge_user": self._maybe_user(mr.merged_by, base_url),
            "merged_at": mr.merged_at,
            "closed_by": self._maybe_user(mr.closed_by, base_url),
            "closed_at": mr.closed_at,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": sum(1 for n in mr.notes.values() if not n.system),
            "upvotes": 0,
            "downvotes": 0,
            "author": self._author(mr.author_id, base_url),
            "assignees": [self._author(i, base_url) for i in mr.assignee_ids],
            "assignee": self._maybe_user(mr.assignee_ids[0] if mr.assignee_ids else None, base_url),
            "reviewers": [self._author(i, base_url) for i in mr.reviewer_ids],
            "source_project_id": project.id,
            "target_project_id": project.id,
            "labels": sorted(mr.labels),
            "draft": mr.is_draft,
            "work_in_progress": mr.is_draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": self._detailed_merge_status(mr),
            "merge_after": None,
            "sha": latest.head_sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": mr.squash_commit_sha,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "prepared_at": mr.created_at,
            "reference": f"!{mr.iid}",
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{project.path_with_namespace}!{mr.iid}",
            },
            "web_url": web_url,
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": mr.squash_commit_sha is not None,
            "squash_on_merge": mr.squash_commit_sha is not None,
            "imported": False,
            "imported_from": "none",
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": all(self._is_resolved(mr, d) for d in discussions),
            "subscribed": False,
            "changes_count": changes_count,
            "diff_refs": diff_refs,
            "overflow": mr.overflow,
            "pipeline": None,
            "head_pipeline": None,
            "merge_error": None,
            "user": {"can_merge": True},
        }

    def _note_json(self, mr: MergeRequest, note: Note, base_url: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": note.id,
            "type": note.type,
            "body": note.body,
            "attachment": None,
            "author": self._author(note.author_id, base_url),
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "system": note.system,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "project_id": mr.project_id,
            "noteable_iid": mr.iid,
            "commit_id": None,
            "resolvable": note.resolvable,
            "confidential": note.internal,
            "internal": note.internal,
            "imported": False,
            "imported_from": "none",
            "commands_changes": {},
        }
        if note.resolvable:
            data["resolved"] = note.resolved
            data["resolved_by"] = (
                self._author(note.resolved_by, base_url) if note.resolved_by else None
            )
            data["resolved_at"] = note.resolved_at
        if note.position is not None:
            data["position"] = deep(note.position)
        return data

    def _discussion_json(
        self, mr: MergeRequest, discussion: Discussion, base_url: str
    ) -> dict[str, Any]:
        return {
            "id": discussion.id,
            "individual_note": discussion.individual_note,
            "notes": [self._note_json(mr, mr.notes[i], base_url) for i in discussion.note_ids],
        }

    def _status_json(self, status: Status, base_url: str) -> dict[str, Any]:
        return status.to_json(self._author(status.author_id, base_url))

    # request pipeline (used by api.py) -----------------------------------------------------------

    def _admit(self, method: str, path: str) -> tuple[ApiError | None, Fault | None]:
        """Rate limit, then faults: (an answer that replaces the request, the matching fault)."""
        with self._lock:
            if self._rate_limit is not None:
                limit, period = self._rate_limit
                now_s = time.time()
                start, count = self._rate_window
                if now_s >= start + period:  # a window starts with its first request
                    start, count = now_s, 0
                count += 1
                self._rate_window = (start, count)
                if count > limit:
                    reset = start + period
                    return ApiError(
                        429,
                        {},
                        {
                            "Retry-After": str(max(1, round(reset - now_s + 0.499))),
                            "RateLimit-Name": "throttle_authenticated_api",
                            "RateLimit-Limit": str(limit),
                            "RateLimit-Observed": str(count),
                            "RateLimit-Remaining": "0",
                            "RateLimit-Reset": str(int(reset) + (reset % 1 > 0)),
                            "RateLimit-ResetTime": time.strftime(
                                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(reset)
                            ),
                        },
                    ), None
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return None, fault
        return None, None

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _iter_projects(self) -> Iterator[Project]:
        return iter(self._projects.values())
