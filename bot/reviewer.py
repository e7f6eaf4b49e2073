"""Review one merge request on GitLab: read it, analyze its schema changes, publish.

The worker's task calls `review_merge_request` under the MR's lock; everything here is safe
to run again (a retry, a redelivery): the publication finds and edits what an earlier run
posted, and a job for a head that is no longer the MR's stops before posting anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import gitlab

from analyzers.build import ParseCache
from bot.coordination import Coordination
from bot.gitlab_api import BlobCache, GitLabSource, MergeRequestSnapshot, read_merge_request
from bot.publish import Published, Publisher
from bot.review import ReviewResult, review

logger = logging.getLogger(__name__)
SUPERSEDED, NOT_OPEN, PUBLISHED = "superseded", "not open", "published"


@dataclass(slots=True)
class Outcome:
    status: str  # PUBLISHED, SUPERSEDED or NOT_OPEN
    head_sha: str
    result: ReviewResult | None = None
    published: Published | None = None


def review_merge_request(
    gl: gitlab.Gitlab,
    publisher: Publisher,
    *,
    project_id: int,
    iid: int,
    head_sha: str | None,
    cache: ParseCache | None = None,
    blobs: BlobCache | None = None,
    coordinate: Callable[[MergeRequestSnapshot, ReviewResult], Coordination | None] | None = None,
) -> Outcome:
    """Review the MR as of its latest diff version. `head_sha` is the head the job was made
    for; None (a `recheck` command) means whatever the head is now. `coordinate` records the
    review in the coordination ledger and says what the summary should tell about other
    merge requests, owners and claims."""
    mr = read_merge_request(gl, project_id, iid)
    if mr.state != "opened":
        return Outcome(NOT_OPEN, mr.refs.head_sha)
    if head_sha and mr.refs.head_sha != head_sha:
        return Outcome(SUPERSEDED, mr.refs.head_sha)
    source = GitLabSource(gl, project_id, blobs=blobs)
    if not mr.incomplete:
        source.derive(mr.refs.head_sha, mr.refs.base_sha, mr.changes)
    result = review(source, mr.refs.base_sha, mr.refs.head_sha, cache=cache)
    if _head_moved(gl, mr):  # a push during the analysis: its own job will publish
        return Outcome(SUPERSEDED, mr.refs.head_sha, result)
    view = coordinate(mr, result) if coordinate else None
    published = publisher.publish(mr, result, view)
    logger.info(
        "published the review of %s!%s at %s: %d findings, %d new threads, %d resolved",
        project_id,
        iid,
        mr.refs.head_sha[:12],
        len(result.findings.findings),
        len(published.created),
        len(published.resolved),
    )
    return Outcome(PUBLISHED, mr.refs.head_sha, result, published)


def _head_moved(gl: gitlab.Gitlab, mr: MergeRequestSnapshot) -> bool:
    current = gl.projects.get(mr.project_id, lazy=True).mergerequests.get(mr.iid)
    return current.attributes.get("sha") not in (None, mr.refs.head_sha)
