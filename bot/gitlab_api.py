"""The bot's GitLab side, through python-gitlab: read a merge request and its files.

Only what the analyzer needs is fetched: the MR's latest diff version (its SHAs and hunks, to
place inline comments), the file list of both revisions (repository tree), and the blobs the
review reads, each blob once per process (blob ids are content hashes, so a blob never changes).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote

import gitlab

from bot.gitlab_session import ObservedSession
from bot.metrics import GitLabMetrics
from bot.positions import DiffRefs, FileDiff, diff_files
from topology.observability.context import carry_context
from topology.observability.logs import register_secrets

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Change:
    """A file the MR's diff changes."""

    old_path: str
    new_path: str
    deleted: bool


class NotReady(Exception):
    """GitLab has not computed the MR's diff yet (right after creation): try again shortly."""


def connect(
    url: str, token: str, *, timeout: float = 10.0, metrics: GitLabMetrics | None = None
) -> gitlab.Gitlab:
    """A client that retries GitLab's transient errors and honours its rate limits. Its
    requests carry the correlation id and trace context, and are counted in `metrics`
    (bot.gitlab_session); the token is never logged."""
    register_secrets(token)
    return gitlab.Gitlab(
        url,
        private_token=token,
        timeout=timeout,
        retry_transient_errors=True,
        per_page=PER_PAGE,
        user_agent="cellsbot",
        session=ObservedSession(metrics),
    )


class BlobCache:
    """Blob id -> text, bounded by total size, shared by the reviews of one process."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, blob: str) -> str | None:
        with self._lock:
            text = self._texts.get(blob)
            if text is not None:
                self._texts.move_to_end(blob)
            return text

    def put(self, blob: str, text: str) -> None:
        with self._lock:
            if blob in self._texts:
                return
            self._texts[blob] = text
            self._size += len(text)
            while self._size > self.max_bytes and len(self._texts) > 1:
                _, dropped = self._texts.popitem(last=False)
                self._size -= len(dropped)


class GitLabSource:
    """A GitLab project as a review's source of files (bot.review.Source)."""

    def __init__(
        self,
        gl: gitlab.Gitlab,
        project_id: int,
        *,
        blobs: BlobCache | None = None,
        workers: int = 8,
    ) -> None:
        self.gl = gl
        self.project_id = project_id
        self.blobs = blobs or BlobCache()
        self.workers = workers
        self._trees: dict[str, dict[str, str]] = {}
        self._derived: dict[str, tuple[str, list[Change]]] = {}

    def resolve(self, revisions: list[str]) -> list[str]:
        return list(revisions)  # the MR's diff refs are commit SHAs already

    def derive(self, head: str, base: str, changes: list[Change]) -> None:
        """Know the head's files as the base's plus the MR's changes, so that a new push costs
        the changed files' contents rather than a listing of the whole repository. Only for a
        complete diff: GitLab leaves files out of a cut one."""
        self._derived[head] = (base, changes)

    def list_files(self, commit: str) -> dict[str, str]:
        if commit in self._derived and commit not in self._trees:
            base, changes = self._derived[commit]
            self._trees[commit] = self._apply(dict(self.list_files(base)), commit, changes)
        if commit not in self._trees:
            entries = self.gl.http_list(
                f"/projects/{self.project_id}/repository/tree",
                ref=commit,
                recursive=True,
                iterator=True,
                per_page=PER_PAGE,
            )
            self._trees[commit] = {e["path"]: e["id"] for e in entries if e["type"] == "blob"}
        return self._trees[commit]

    def _apply(self, files: dict[str, str], commit: str, changes: list[Change]) -> dict[str, str]:
        for change in changes:
            files.pop(change.old_path, None)
        added = [c.new_path for c in changes if not c.deleted]
        if added:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(added))) as pool:
                read = carry_context(lambda path: self._raw_file(path, commit))
                contents = pool.map(read, added)
                for path, content in zip(added, contents, strict=True):
                    if content is None:
                        continue
                    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
                    self.blobs.put(blob, content.decode("utf-8", errors="replace"))
                    files[path] = blob
        return files

    def _raw_file(self, path: str, commit: str) -> bytes | None:
        """The file's bytes; None for what is no file (a submodule): GitLab answers 404."""
        encoded = quote(path, safe="")
        try:
            return self.gl.http_get(
                f"/projects/{self.project_id}/repository/files/{encoded}/raw", ref=commit, raw=True
            ).content
        except gitlab.GitlabHttpError as error:
            if error.response_code == 404:
                return None
            raise

    def read_blobs(self, blobs: list[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(blobs))
        texts = {blob: self.blobs.get(blob) for blob in wanted}
        missing = [blob for blob, text in texts.items() if text is None]
        if missing:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(missing))) as pool:
                fetched = pool.map(carry_context(self._fetch), missing)
                for blob, text in zip(missing, fetched, strict=True):
                    self.blobs.put(blob, text)
                    texts[blob] = text
        return texts  # type: ignore[return-value]

    def _fetch(self, blob: str) -> str:
        response = self.gl.http_get(
            f"/projects/{self.project_id}/repository/blobs/{blob}/raw", raw=True
        )
        return response.content.decode("utf-8", errors="replace")


@dataclass(slots=True)
class MergeRequestSnapshot:
    """What a review needs to know of an MR, as of its latest diff version."""

    project_id: int
    iid: int
    web_url: str
    project_url: str
    state: str
    draft: bool
    labels: list[str]
    refs: DiffRefs
    files: dict[str, FileDiff] = field(default_factory=dict)
    incomplete: bool = False  # GitLab cut the diff: some files are not shown inline
    changes: list[Change] = field(default_factory=list)
    title: str = ""
    author: str = ""  # the author's username
    author_id: int | None = None

    @property
    def paths(self) -> list[str]:
        """The paths the merge request adds or changes (deleted files left out)."""
        return [change.new_path for change in self.changes if not change.deleted]

    @property
    def unreadable(self) -> list[str]:
        """Changed files whose diff GitLab did not show (collapsed, too large)."""
        return sorted(path for path, diff in self.files.items() if not diff.readable)


def read_merge_request(gl: gitlab.Gitlab, project_id: int, iid: int) -> MergeRequestSnapshot:
    project = gl.projects.get(project_id, lazy=True)
    mr = project.mergerequests.get(iid)
    versions = mr.diffs.list(per_page=1, page=1)  # newest first
    if versions:
        latest = versions[0]
        refs = DiffRefs(latest.base_commit_sha, latest.start_commit_sha, latest.head_commit_sha)
    else:
        found = mr.attributes.get("diff_refs") or {}
        if not found.get("head_sha"):
            raise NotReady(f"merge request !{iid} has no diff yet")
        refs = DiffRefs(found["base_sha"], found["start_sha"], found["head_sha"])
    entries = list(
        gl.http_list(
            f"/projects/{project_id}/merge_requests/{iid}/diffs", iterator=True, per_page=PER_PAGE
        )
    )
    changes = str(mr.attributes.get("changes_count") or "")
    web_url = mr.attributes.get("web_url", "")
    return MergeRequestSnapshot(
        project_id=project_id,
        iid=iid,
        web_url=web_url,
        project_url=web_url.split("/-/merge_requests/")[0],
        state=mr.attributes.get("state", "opened"),
        draft=bool(mr.attributes.get("draft") or mr.attributes.get("work_in_progress")),
        labels=list(mr.attributes.get("labels") or []),
        refs=refs,
        files=diff_files(entries),
        incomplete=bool(mr.attributes.get("overflow")) or changes.endswith("+"),
        changes=[
            Change(e["old_path"], e["new_path"], bool(e.get("deleted_file"))) for e in entries
        ],
        title=mr.attributes.get("title") or "",
        author=(mr.attributes.get("author") or {}).get("username") or "",
        author_id=(mr.attributes.get("author") or {}).get("id"),
    )
