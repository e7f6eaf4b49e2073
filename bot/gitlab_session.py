"""The HTTP session python-gitlab talks through: every GitLab API request carries the work's
correlation id (`X-Correlation-Id`) and trace context, is traced as a client span, and is
counted by method, endpoint template and status (bot.metrics.GitLabMetrics).
"""

from __future__ import annotations

import re
from time import perf_counter
from typing import Any

import requests

from bot.metrics import GitLabMetrics
from topology.observability import tracing
from topology.observability.context import CORRELATION_HEADER, correlation_id

API_PREFIX = "/api/v4"
#: a collection -> the placeholder of the segment after it
_IDS = {
    "projects": ":id",
    "groups": ":id",
    "users": ":id",
    "namespaces": ":id",
    "members": ":id",
    "merge_requests": ":iid",
    "issues": ":iid",
    "notes": ":id",
    "discussions": ":id",
    "draft_notes": ":id",
    "versions": ":id",
    "award_emoji": ":id",
    "pipelines": ":id",
    "jobs": ":id",
    "hooks": ":id",
    "statuses": ":sha",
    "commits": ":sha",
    "blobs": ":sha",
    "files": ":path",
    "labels": ":name",
    "branches": ":name",
    "tags": ":name",
}
#: words that may sit between a collection and its id (`/members/all/:id`)
_BETWEEN = frozenset({"all"})
_WORD = re.compile(r"[a-z_]+")


def endpoint_template(path: str) -> str:
    """The API endpoint of a request path, its ids replaced, for a metric label:
    `/api/v4/projects/42/merge_requests/7/notes?page=2` becomes
    `/projects/:id/merge_requests/:iid/notes`.

    Only lowercase words are kept as they are; any other segment (a number, a SHA, an encoded
    path) becomes a placeholder, so the number of endpoints stays bounded."""
    path = path.split("?", 1)[0]
    _, found, rest = path.partition(API_PREFIX)
    template: list[str] = []
    expect: str | None = None
    for segment in (rest if found else path).strip("/").split("/"):
        if not segment:
            continue
        if expect is not None and segment not in _BETWEEN:
            template.append(expect)
            expect = None
        elif _WORD.fullmatch(segment):
            template.append(segment)
            expect = _IDS.get(segment, expect)
        else:
            template.append(":id")
    return "/" + "/".join(template)


class ObservedSession(requests.Session):
    """A requests session that adds the context's headers, traces, and counts each request."""

    def __init__(self, metrics: GitLabMetrics | None = None) -> None:
        super().__init__()
        self.metrics = metrics

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        found = correlation_id()
        if found:
            request.headers[CORRELATION_HEADER] = found
        method = request.method or "GET"
        endpoint = endpoint_template(request.path_url)
        status = "error"
        started = perf_counter()
        attributes = {"http.request.method": method, "url.template": endpoint}
        try:
            with tracing.span(
                f"GitLab {method} {endpoint}", kind=tracing.SpanKind.CLIENT, attributes=attributes
            ) as span:
                tracing.inject(request.headers)
                response = super().send(request, **kwargs)
                status = str(response.status_code)
                if span is not None:
                    span.set_attribute("http.response.status_code", response.status_code)
                    if response.status_code >= 500:
                        tracing.fail(span, status)
        finally:
            if self.metrics is not None:
                self.metrics.observe(method, endpoint, status, perf_counter() - started)
        return response
