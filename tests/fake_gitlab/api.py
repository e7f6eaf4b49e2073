"""The HTTP side of FakeGitLab: routing on the raw (still URL-encoded) path, GitLab's
authentication, parameters, pagination and errors, and one handler per endpoint."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tests.fake_gitlab.state import (
    ApiError,
    Fault,
    LoggedRequest,
    MergeRequest,
    Note,
    Project,
    Status,
    Version,
    bad_request,
    forbidden,
    invalid_param,
    not_found,
    now,
)

if TYPE_CHECKING:
    from tests.fake_gitlab.server import FakeGitLab

PREFIX = "/api/v4"
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
UNAUTHORIZED = ApiError(401, {"message": "401 Unauthorized"})
MAX_NOTE_LENGTH = 1_000_000


@dataclass
class Ctx:
    """One request, as a handler sees it."""

    fake: FakeGitLab
    method: str
    raw_path: str  # without the /api/v4 prefix, still URL-encoded
    query_pairs: list[tuple[str, str]]
    params: dict[str, Any]  # query and body merged (body wins), brackets nested
    base_url: str
    user_id: int = 0
    args: dict[str, str] = field(default_factory=dict)  # URL-decoded path parameters

    def int_param(self, name: str, default: int | None = None) -> int | None:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid_param(f"{name} is invalid") from None

    def bool_param(self, name: str, default: bool | None = None) -> bool | None:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1", "t", "yes", "y", "on"):
            return True
        if text in ("false", "0", "f", "no", "n", "off"):
            return False
        raise invalid_param(f"{name} is invalid")

    def str_param(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None else str(value)


Handler = Callable[..., Response]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


P = r"/projects/(?P<project>[^/]+)"
MR = P + r"/merge_requests/(?P<iid>[^/]+)"


# parameters ------------------------------------------------------------------------------------


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form/query pairs with Rails-style brackets (`position[new_line]=3`) as nested dicts."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        target: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "" and isinstance(target, list):
                if last:
                    target.append(value)
                else:
                    target.append({})
                    target = target[-1]
                continue
            if last:
                target[part] = value
            else:
                following = parts[i + 1]
                container: Any = [] if following == "" else {}
                if not isinstance(target.get(part), (dict, list)):
                    target[part] = container
                target = target[part]
    return out


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            raise invalid_param("body is invalid JSON") from None
        return data if isinstance(data, dict) else {}
    if "x-www-form-urlencoded" in content_type or not content_type:
        return nest(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    return {}


# responses ---------------------------------------------------------------------------------------


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=headers)


def error_response(error: ApiError) -> Response:
    if error.status == 429 and not error.payload:
        return PlainTextResponse("Retry later\n", status_code=429, headers=error.headers)
    return JSONResponse(error.payload, status_code=error.status, headers=error.headers)


def paginate(ctx: Ctx, items: list[Any]) -> Response:
    """GitLab's offset pagination: page/per_page, x-* headers and an absolute Link header."""
    page = ctx.int_param("page", 1) or 1
    per_page = ctx.int_param("per_page", 20) or 20
    page = max(page, 1)
    per_page = 20 if per_page < 1 else min(per_page, 100)
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    kept = [(k, v) for k, v in ctx.query_pairs if k not in ("page", "per_page")]

    def link(number: int) -> str:
        query = urlencode([*kept, ("page", str(number)), ("per_page", str(per_page))])
        return f"{ctx.base_url}{PREFIX}{ctx.raw_path}?{query}"

    links = []
    if page > 1:
        links.append(f'<{link(min(page - 1, pages))}>; rel="prev"')
    if page < pages:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    links.append(f'<{link(pages)}>; rel="last"')
    headers = {
        "x-page": str(page),
        "x-per-page": str(per_page),
        "x-total": str(total),
        "x-total-pages": str(pages),
        "x-next-page": str(page + 1) if page < pages else "",
        "x-prev-page": str(page - 1) if page > 1 else "",
        "Link": ", ".join(links),
    }
    return ok(chunk, headers=headers)


# the ASGI app ------------------------------------------------------------------------------------


def create_app(fake: FakeGitLab) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{anything:path}", methods=METHODS, include_in_schema=False)
    async def dispatch(request: Request) -> Response:
        return await handle(fake, request)

    return app


async def handle(fake: FakeGitLab, request: Request) -> Response:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    method = request.method.upper()
    query_pairs = parse_qsl(request.url.query, keep_blank_values=True)
    body = await request.body()
    try:
        body_params = parse_body(request.headers.get("content-type", ""), body)
    except ApiError:
        body_params = {}
    base_url = str(request.base_url).rstrip("/")
    started = time.time()

    def log(status: int, user_id: int | None, *, processed: bool, fault: bool) -> None:
        fake._record(
            LoggedRequest(
                method=method,
                path=path,
                query=dict(query_pairs),
                status=status,
                user_id=user_id,
                body=body_params,
                processed=processed,
                fault=fault,
                time=started,
            )
        )

    refused, fault = fake._admit(method, path)
    if refused is not None:
        log(refused.status, None, processed=False, fault=True)
        return error_response(refused)
    if fault is not None and fault.status is not None and not fault.process:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        log(fault.status, None, processed=False, fault=True)
        return fault_response(fault)
    if fault is not None and fault.delay and not fault.process:
        await asyncio.sleep(fault.delay)

    def run() -> tuple[Response, int | None]:
        return process(
            fake,
            request=request,
            method=method,
            path=path,
            query_pairs=query_pairs,
            base_url=base_url,
            body=body,
        )

    response, user_id = await run_in_threadpool(run)
    if fault is not None and fault.process:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            log(fault.status, user_id, processed=True, fault=True)
            return fault_response(fault)
    log(response.status_code, user_id, processed=True, fault=fault is not None)
    return response


def fault_response(fault: Fault) -> Response:
    if fault.status == 429:
        headers = {"Retry-After": str(fault.retry_after if fault.retry_after is not None else 1)}
        return PlainTextResponse("Retry later\n", status_code=429, headers=headers)
    reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    status = fault.status or 500
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    message = f"{status} {reasons.get(status, 'Error')}"
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def process(
    fake: FakeGitLab,
    *,
    request: Request,
    method: str,
    path: str,
    query_pairs: list[tuple[str, str]],
    base_url: str,
    body: bytes,
) -> tuple[Response, int | None]:
    """Authenticate, route and run a handler under the state lock."""
    user_id = None
    try:
        params = nest(query_pairs)
        params.update(parse_body(request.headers.get("content-type", ""), body))
        with fake._lock:
            user_id = authenticate(fake, request, params)
            if not path.startswith(PREFIX + "/"):
                raise ApiError(404, {"error": "404 Not Found"})
            local = path[len(PREFIX) :]
            ctx = Ctx(fake, method, local, query_pairs, params, base_url, user_id)
            verb = "GET" if method == "HEAD" else method
            for route_method, pattern, handler in ROUTES:
                match = pattern.match(local)
                if match and route_method == verb:
                    ctx.args = {k: unquote(v) for k, v in match.groupdict().items()}
                    return handler(ctx), user_id
            raise ApiError(404, {"error": "404 Not Found"})
    except ApiError as error:
        return error_response(error), user_id
    except Exception:
        fake.errors.append(traceback.format_exc())
        return JSONResponse({"message": "500 Internal Server Error"}, status_code=500), user_id


def authenticate(fake: FakeGitLab, request: Request, params: dict[str, Any]) -> int:
    token = request.headers.get("private-token")
    authorization = request.headers.get("authorization", "")
    if not token and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    if not token:
        token = params.get("private_token") or params.get("access_token")
    user = fake._user_by_token(str(token)) if token else None
    if user is None:
        raise UNAUTHORIZED
    return user.id


# lookups -----------------------------------------------------------------------------------------


def project_of(ctx: Ctx) -> Project:
    ref = ctx.args["project"]
    if ref.isdigit():
        project = ctx.fake._projects.get(int(ref))
    else:
        wanted = ref.lower()
        project = next(
            (p for p in ctx.fake._iter_projects() if p.path_with_namespace.lower() == wanted),
            None,
        )
    if project is None:
        raise not_found("Project")
    return project


def mr_of(ctx: Ctx) -> tuple[Project, MergeRequest]:
    project = project_of(ctx)
    iid = ctx.args["iid"]
    mr = ctx.fake._mrs.get((project.id, int(iid))) if iid.isdigit() else None
    if mr is None:
        raise not_found()
    return project, mr


def note_of(mr: MergeRequest, note_id: str) -> Note:
    note = mr.notes.get(int(note_id)) if note_id.isdigit() else None
    if note is None:
        raise not_found("Note")
    return note


def discussion_of(mr: MergeRequest, discussion_id: str) -> Any:
    discussion = mr.discussions.get(discussion_id)
    if discussion is None:
        raise not_found("Discussion")
    return discussion


def commit_of(project: Project, ref: str | None, what: str = "Commit") -> str:
    sha = project.repo.resolve(ref or project.default_branch)
    if sha is None:
        raise not_found(what)
    return sha


def required_body(ctx: Ctx) -> str:
    body = ctx.params.get("body")
    if body is None:
        raise invalid_param("body is missing")
    body = str(body)
    if not body.strip():
        raise bad_request('Note {:note=>["can\'t be blank"]}')
    if len(body) > MAX_NOTE_LENGTH:
        raise bad_request('Note {:note=>["is too long (maximum is 1000000 characters)"]}')
    return body


def ids_param(ctx: Ctx, name: str) -> list[int] | None:
    """An `Array[Integer]` parameter that also takes a comma list (GitLab's
    CommaSeparatedToIntegerArray): None when absent; "" or [] give []."""
    if name not in ctx.params:
        return None
    value = ctx.params[name]
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    ids = []
    for item in items:
        text = str(item).strip()
        if text == "":
            continue
        if isinstance(item, bool) or not re.fullmatch(r"-?\d+", text):
            raise invalid_param(f"{name} is invalid")
        ids.append(int(text))
    return ids


def user_id_arg(ctx: Ctx) -> int:
    """The `:user_id` path parameter (`requires :user_id, type: Integer`)."""
    value = ctx.args["user_id"]
    if not re.fullmatch(r"-?\d+", value):
        raise invalid_param("user_id is invalid")
    return int(value)


def labels_param(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


# users and projects ------------------------------------------------------------------------------


@route("GET", r"/user")
def get_current_user(ctx: Ctx) -> Response:
    return ok(ctx.fake._users[ctx.user_id].full(ctx.base_url))


@route("GET", r"/users")
def list_users(ctx: Ctx) -> Response:
    """`GET /users` as a non-admin sees it: UserBasic entries, newest id first; `username` is
    an exact, case-insensitive match (0 or 1 user); `search` matches name or username
    (substring) or the email (exact), case-insensitively."""
    username = ctx.str_param("username")
    search = ctx.str_param("search")
    users = sorted(ctx.fake._users.values(), key=lambda u: -u.id)
    if username is not None:
        users = [u for u in users if u.username.lower() == username.lower()]
    if search:
        users = [u for u in users if matches_user(u, search)]
    if ctx.bool_param("humans", False):
        users = [u for u in users if not u.bot]
    if ctx.bool_param("exclude_humans", False):
        users = [u for u in users if u.bot]
    return paginate(ctx, [u.brief(ctx.base_url) for u in users])


def matches_user(user: Any, query: str) -> bool:
    """GitLab's User.search: name or username containing the query, or the exact email."""
    wanted = query.strip().lower()
    return (
        wanted in user.username.lower()
        or wanted in user.name.lower()
        or wanted == user.email.lower()
    )


@route("GET", r"/users/(?P<user>\d+)")
def get_user(ctx: Ctx) -> Response:
    user = ctx.fake._users.get(int(ctx.args["user"]))
    if user is None:
        raise not_found("User")
    return ok(user.brief(ctx.base_url))


@route("GET", P)
def get_project(ctx: Ctx) -> Response:
    return ok(project_of(ctx).to_json(ctx.base_url))


# members -----------------------------------------------------------------------------------------


def filter_members(ctx: Ctx, rows: list[tuple[Any, int | None]]) -> list[dict[str, Any]]:
    """`query` (User.search) and `user_ids` (an empty list filters nothing), as
    retrieve_members applies them."""
    query = ctx.str_param("query")
    user_ids = ids_param(ctx, "user_ids")
    items = []
    for member, level in rows:
        user = ctx.fake._users.get(member.user_id)
        if query and (user is None or not matches_user(user, query)):
            continue
        if user_ids and member.user_id not in user_ids:
            continue
        items.append(ctx.fake._member_json(member, level, ctx.base_url))
    return items


@route("GET", P + r"/members/all")
def list_all_members(ctx: Ctx) -> Response:
    """Direct and inherited (ancestor group) members, one per user at its highest level."""
    project = project_of(ctx)
    rows: list[tuple[Any, int | None]] = list(ctx.fake._all_members(project))
    return paginate(ctx, filter_members(ctx, rows))


@route("GET", P + r"/members/all/(?P<user_id>[^/]+)")
def get_any_member(ctx: Ctx) -> Response:
    project = project_of(ctx)
    user_id = user_id_arg(ctx)
    found = next((row for row in ctx.fake._all_members(project) if row[0].user_id == user_id), None)
    if found is None:
        raise not_found()
    return ok(ctx.fake._member_json(found[0], found[1], ctx.base_url))


@route("GET", P + r"/members")
def list_direct_members(ctx: Ctx) -> Response:
    project = project_of(ctx)
    rows: list[tuple[Any, int | None]] = [(m, None) for m in ctx.fake._direct_members(project)]
    return paginate(ctx, filter_members(ctx, rows))


@route("GET", P + r"/members/(?P<user_id>[^/]+)")
def get_direct_member(ctx: Ctx) -> Response:
    project = project_of(ctx)
    user_id = user_id_arg(ctx)
    member = ctx.fake._project_members.get(project.id, {}).get(user_id)
    if member is None:
        raise not_found()
    return ok(ctx.fake._member_json(member, None, ctx.base_url))


# merge requests ----------------------------------------------------------------------------------


@route("GET", P + r"/merge_requests")
def list_mrs(ctx: Ctx) -> Response:
    project = project_of(ctx)
    state = ctx.str_param("state") or "all"
    wanted_labels = set(labels_param(ctx.params.get("labels")))
    items = []
    for (project_id, _), mr in sorted(ctx.fake._mrs.items(), key=lambda kv: -kv[1].id):
        if project_id != project.id or state not in ("all", mr.state):
            continue
        if ctx.params.get("source_branch") not in (None, mr.source_branch):
            continue
        if ctx.params.get("target_branch") not in (None, mr.target_branch):
            continue
        if wanted_labels and not wanted_labels <= mr.labels:
            continue
        items.append(ctx.fake._mr_json(project, mr, ctx.base_url))
    return paginate(ctx, items)


@route("GET", MR)
def get_mr(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    return ok(ctx.fake._mr_json(project, mr, ctx.base_url))


@route("PUT", MR)
def update_mr(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    known = ("labels", "add_labels", "remove_labels", "title", "description", "state_event")
    known += ("target_branch", "assignee_id", "assignee_ids", "reviewer_ids", "milestone_id")
    known += ("discussion_locked", "squash", "remove_source_branch", "allow_collaboration")
    if not any(key in ctx.params for key in known):
        raise invalid_param(
            "assignee_id, assignee_ids, description, discussion_locked, labels, add_labels, "
            "remove_labels, milestone_id, remove_source_branch, state_event, target_branch, "
            "title, squash are missing, at least one parameter must be provided"
        )
    if "labels" in ctx.params:
        mr.labels = set(labels_param(ctx.params["labels"]))
    mr.labels |= set(labels_param(ctx.params.get("add_labels")))
    mr.labels -= set(labels_param(ctx.params.get("remove_labels")))
    if ctx.params.get("title") is not None:
        mr.title = str(ctx.params["title"])
        mr.draft = None
    if ctx.params.get("description") is not None:
        mr.description = str(ctx.params["description"])
    event = ctx.params.get("state_event")
    if event not in (None, "close", "reopen"):
        raise invalid_param("state_event does not have a valid value")
    reviewer_ids = ids_param(ctx, "reviewer_ids")
    assignee_ids = ids_param(ctx, "assignee_ids")
    if assignee_ids is None and "assignee_id" in ctx.params:
        assignee_ids = ids_param(ctx, "assignee_id")
    if event == "close" and mr.state == "opened":
        ctx.fake._close(mr, ctx.user_id)
    elif event == "reopen" and mr.state == "closed":
        ctx.fake._reopen(mr)
    if reviewer_ids is not None:  # 0 (or nothing) unassigns all; unknown ids are dropped
        mr.reviewer_ids = ctx.fake._known_users(reviewer_ids)
    if assignee_ids is not None:
        mr.assignee_ids = ctx.fake._known_users(assignee_ids)
    mr.updated_at = now()
    return ok(ctx.fake._mr_json(project, mr, ctx.base_url))


def versions_of(mr: MergeRequest) -> list[Version]:
    return [] if mr.diff_refs_pending else list(reversed(mr.versions))


@route("GET", MR + r"/versions")
def list_versions(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    return paginate(ctx, [ctx.fake._version_json(project, mr, v) for v in versions_of(mr)])


@route("GET", MR + r"/versions/(?P<version>[^/]+)")
def get_version(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    version = next((v for v in versions_of(mr) if str(v.id) == ctx.args["version"]), None)
    if version is None:
        raise not_found("MergeRequestDiff")
    data = ctx.fake._version_json(project, mr, version)
    data["commits"] = project.repo.commits_between(version.base_sha, version.head_sha)
    unidiff = bool(ctx.bool_param("unidiff", False))
    data["diffs"] = ctx.fake._diff_items(project, mr, version, unidiff=unidiff)
    return ok(data)


@route("GET", MR + r"/diffs")
def list_diffs(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    if mr.diff_refs_pending:
        return paginate(ctx, [])
    unidiff = bool(ctx.bool_param("unidiff", False))
    return paginate(ctx, ctx.fake._diff_items(project, mr, mr.latest, unidiff=unidiff))


@route("GET", MR + r"/changes")
def get_changes(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    data = ctx.fake._mr_json(project, mr, ctx.base_url)
    unidiff = bool(ctx.bool_param("unidiff", False))
    pending = mr.diff_refs_pending
    data["changes"] = (
        [] if pending else ctx.fake._diff_items(project, mr, mr.latest, unidiff=unidiff)
    )
    return ok(data)


@route("GET", MR + r"/raw_diffs")
def get_raw_diffs(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    if mr.diff_refs_pending:
        return PlainTextResponse("")
    version = mr.latest
    text = project.repo.run(
        "diff", "-M", "--no-ext-diff", "--no-color", "--full-index",
        "--src-prefix=a/", "--dst-prefix=b/", f"{version.base_sha}...{version.head_sha}",
    )  # fmt: skip
    return Response(text, media_type="text/plain; charset=utf-8")


@route("GET", MR + r"/commits")
def list_mr_commits(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    version = mr.latest
    return paginate(ctx, project.repo.commits_between(version.base_sha, version.head_sha))


# notes -------------------------------------------------------------------------------------------


def sorted_notes(ctx: Ctx, mr: MergeRequest) -> list[Note]:
    order_by = ctx.str_param("order_by") or "created_at"
    sort = ctx.str_param("sort") or "desc"
    if order_by not in ("created_at", "updated_at"):
        raise invalid_param("order_by does not have a valid value")
    if sort not in ("asc", "desc"):
        raise invalid_param("sort does not have a valid value")
    notes = list(mr.notes.values())
    if order_by == "created_at":
        notes.sort(key=lambda n: n.created_seq)
    else:
        notes.sort(key=lambda n: (n.updated_seq, n.created_seq))
    return list(reversed(notes)) if sort == "desc" else notes


@route("GET", MR + r"/notes")
def list_notes(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    notes = sorted_notes(ctx, mr)
    return paginate(ctx, [ctx.fake._note_json(mr, n, ctx.base_url) for n in notes])


@route("GET", MR + r"/notes/(?P<note>[^/]+)")
def get_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return ok(ctx.fake._note_json(mr, note_of(mr, ctx.args["note"]), ctx.base_url))


@route("POST", MR + r"/notes")
def create_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    body = required_body(ctx)
    internal = bool(ctx.bool_param("internal", False) or ctx.bool_param("confidential", False))
    note = ctx.fake._new_note(mr, ctx.user_id, body, internal=internal)
    return ok(ctx.fake._note_json(mr, note, ctx.base_url), status=201)


def edit_body(ctx: Ctx, mr: MergeRequest, note: Note) -> Response:
    if note.author_id != ctx.user_id or note.system:
        raise forbidden()
    note.body = required_body(ctx)
    note.touch()
    return ok(ctx.fake._note_json(mr, note, ctx.base_url))


@route("PUT", MR + r"/notes/(?P<note>[^/]+)")
def update_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return edit_body(ctx, mr, note_of(mr, ctx.args["note"]))


def remove_note(ctx: Ctx, mr: MergeRequest, note: Note) -> Response:
    if note.author_id != ctx.user_id or note.system:
        raise forbidden()
    del mr.notes[note.id]
    discussion = mr.discussions[note.discussion_id]
    discussion.note_ids.remove(note.id)
    if not discussion.note_ids:
        del mr.discussions[discussion.id]
    return Response(status_code=204)


@route("DELETE", MR + r"/notes/(?P<note>[^/]+)")
def delete_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return remove_note(ctx, mr, note_of(mr, ctx.args["note"]))


# discussions -------------------------------------------------------------------------------------


def discussion_json(ctx: Ctx, mr: MergeRequest, discussion: Any) -> dict[str, Any]:
    return ctx.fake._discussion_json(mr, discussion, ctx.base_url)


@route("GET", MR + r"/discussions")
def list_discussions(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return paginate(ctx, [discussion_json(ctx, mr, d) for d in mr.discussions.values()])


@route("GET", MR + r"/discussions/(?P<discussion>[^/]+)")
def get_discussion(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return ok(discussion_json(ctx, mr, discussion_of(mr, ctx.args["discussion"])))


@route("POST", MR + r"/discussions")
def create_discussion(ctx: Ctx) -> Response:
    project, mr = mr_of(ctx)
    body = required_body(ctx)
    position = ctx.params.get("position")
    note = ctx.fake._new_discussion(project, mr, ctx.user_id, body, position)
    return ok(discussion_json(ctx, mr, mr.discussions[note.discussion_id]), status=201)


@route("PUT", MR + r"/discussions/(?P<discussion>[^/]+)")
def resolve_discussion(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    discussion = discussion_of(mr, ctx.args["discussion"])
    resolved = ctx.bool_param("resolved")
    if resolved is None:
        raise invalid_param("resolved is missing")
    if not any(mr.notes[i].resolvable for i in discussion.note_ids):
        raise forbidden()
    ctx.fake._resolve(mr, discussion, ctx.user_id, resolved)
    return ok(discussion_json(ctx, mr, discussion))


@route("POST", MR + r"/discussions/(?P<discussion>[^/]+)/notes")
def reply(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    discussion = discussion_of(mr, ctx.args["discussion"])
    note = ctx.fake._reply(mr, discussion, ctx.user_id, required_body(ctx))
    return ok(ctx.fake._note_json(mr, note, ctx.base_url), status=201)


def discussion_note_of(ctx: Ctx, mr: MergeRequest) -> Note:
    discussion = discussion_of(mr, ctx.args["discussion"])
    note = note_of(mr, ctx.args["note"])
    if note.discussion_id != discussion.id:
        raise not_found("Note")
    return note


@route("GET", MR + r"/discussions/(?P<discussion>[^/]+)/notes/(?P<note>[^/]+)")
def get_discussion_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return ok(ctx.fake._note_json(mr, discussion_note_of(ctx, mr), ctx.base_url))


@route("PUT", MR + r"/discussions/(?P<discussion>[^/]+)/notes/(?P<note>[^/]+)")
def update_discussion_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    note = discussion_note_of(ctx, mr)
    has_body, has_resolved = "body" in ctx.params, "resolved" in ctx.params
    if has_body and has_resolved:
        raise invalid_param("body, resolved are mutually exclusive")
    if not has_body and not has_resolved:
        raise invalid_param("body, resolved are missing, exactly one parameter must be provided")
    if has_body:
        return edit_body(ctx, mr, note)
    if not note.resolvable:
        raise forbidden()
    ctx.fake._resolve_note(note, ctx.user_id, bool(ctx.bool_param("resolved")))
    return ok(ctx.fake._note_json(mr, note, ctx.base_url))


@route("DELETE", MR + r"/discussions/(?P<discussion>[^/]+)/notes/(?P<note>[^/]+)")
def delete_discussion_note(ctx: Ctx) -> Response:
    _, mr = mr_of(ctx)
    return remove_note(ctx, mr, discussion_note_of(ctx, mr))


# repository --------------------------------------------------------------------------------------


@route("GET", P + r"/repository/tree")
def list_tree(ctx: Ctx) -> Response:
    project = project_of(ctx)
    sha = commit_of(project, ctx.str_param("ref"), "Tree")
    recursive = bool(ctx.bool_param("recursive", False))
    entries = project.repo.tree(sha, ctx.str_param("path") or "", recursive=recursive)
    if entries is None:
        raise not_found("Tree")
    return paginate(ctx, entries)


def file_at(ctx: Ctx) -> tuple[Project, str, str, str, bytes]:
    project = project_of(ctx)
    path = ctx.args["path"]
    sha = commit_of(project, ctx.str_param("ref"))
    found = project.repo.blob_at(sha, path)
    if found is None:
        raise not_found("File")
    blob_sha, content = found
    return project, path, sha, blob_sha, content


@route("GET", P + r"/repository/files/(?P<path>[^/]+)/raw")
def get_raw_file(ctx: Ctx) -> Response:
    _, path, sha, blob_sha, content = file_at(ctx)
    headers = {
        "X-Gitlab-Blob-Id": blob_sha,
        "X-Gitlab-Commit-Id": sha,
        "X-Gitlab-File-Name": path.rsplit("/", 1)[-1],
        "X-Gitlab-File-Path": quote(path),
        "X-Gitlab-Size": str(len(content)),
    }
    return Response(content, media_type="text/plain; charset=utf-8", headers=headers)


@route("GET", P + r"/repository/files/(?P<path>[^/]+)")
def get_file(ctx: Ctx) -> Response:
    project, path, sha, blob_sha, content = file_at(ctx)
    last = project.repo.run("log", "-1", "--format=%H", sha, "--", path).decode().strip()
    return ok(
        {
            "file_name": path.rsplit("/", 1)[-1],
            "file_path": path,
            "size": len(content),
            "encoding": "base64",
            "content": base64.b64encode(content).decode(),
            "content_sha256": hashlib.sha256(content).hexdigest(),
            "ref": ctx.str_param("ref") or project.default_branch,
            "blob_id": blob_sha,
            "commit_id": sha,
            "last_commit_id": last or sha,
            "execute_filemode": project.repo.mode_at(sha, path) == "100755",
        }
    )


@route("GET", P + r"/repository/blobs/(?P<sha>[^/]+)/raw")
def get_raw_blob(ctx: Ctx) -> Response:
    content = project_of(ctx).repo.blob(ctx.args["sha"])
    if content is None:
        raise not_found("Blob")
    return Response(content, media_type="text/plain; charset=utf-8")


@route("GET", P + r"/repository/blobs/(?P<sha>[^/]+)")
def get_blob(ctx: Ctx) -> Response:
    content = project_of(ctx).repo.blob(ctx.args["sha"])
    if content is None:
        raise not_found("Blob")
    return ok(
        {
            "size": len(content),
            "encoding": "base64",
            "content": base64.b64encode(content).decode(),
            "sha": ctx.args["sha"],
        }
    )


@route("GET", P + r"/repository/commits/(?P<sha>[^/]+)")
def get_commit(ctx: Ctx) -> Response:
    project = project_of(ctx)
    info = project.repo.commit_info(commit_of(project, ctx.args["sha"]))
    if info is None:
        raise not_found("Commit")
    info["web_url"] = f"{ctx.base_url}/{project.path_with_namespace}/-/commit/{info['id']}"
    return ok(info)


# commit statuses ---------------------------------------------------------------------------------

TRANSITIONS = {  # state asked -> (event name, states it may start from)
    "pending": ("enqueue", {"created", "skipped"}),
    "running": ("run", {"created", "pending"}),
    "success": ("success", {"created", "pending", "running"}),
    "failed": ("drop", {"created", "pending", "running"}),
    "canceled": ("cancel", {"created", "pending", "running"}),
    "skipped": ("skip", {"created"}),
}


@route("POST", P + r"/statuses/(?P<sha>[^/]+)")
def create_status(ctx: Ctx) -> Response:
    fake = ctx.fake
    project = project_of(ctx)
    state = ctx.str_param("state")
    if state is None:
        raise invalid_param("state is missing")
    if state not in STATUS_STATES:
        raise invalid_param("state does not have a valid value")
    sha = project.repo.resolve(ctx.args["sha"])
    if sha is None:
        raise not_found("Commit")
    ref = ctx.str_param("ref") or default_status_ref(fake, project, sha)
    if ref is None:
        raise not_found("References for commit")
    name = ctx.str_param("name") or ctx.str_param("context") or "default"
    pipeline_key = (project.id, sha, ref)
    if pipeline_key not in fake._pipelines:
        fake._pipelines[pipeline_key] = fake._next_id("pipeline")
    status = next(
        (
            s
            for s in reversed(fake._statuses)
            if (s.project_id, s.sha, s.ref, s.name) == (project.id, sha, ref, name)
            and s.status in ("pending", "running")
        ),
        None,
    )
    fresh = status is None
    if status is None:
        status = Status(
            id=fake._next_id("status"),
            project_id=project.id,
            sha=sha,
            ref=ref,
            name=name,
            status="created",
            author_id=ctx.user_id,
            pipeline_id=fake._pipelines[pipeline_key],
        )
    for key in ("description", "target_url"):
        if ctx.params.get(key) is not None:
            setattr(status, key, str(ctx.params[key]))
    if ctx.params.get("coverage") is not None:
        try:
            status.coverage = float(ctx.params["coverage"])
        except (TypeError, ValueError):
            raise invalid_param("coverage is invalid") from None
    event, sources = TRANSITIONS[state]
    current = status.status
    if state == "running" and current in ("created", "skipped"):
        current = "pending"  # `enqueue` (silently) first, as GitLab's API does
    if current not in sources:
        raise bad_request_transition(event, status.status)
    status.status = state
    if state == "running":
        status.started_at = now()
    elif state in ("success", "failed", "canceled", "skipped"):
        status.finished_at = now()
    if fresh:
        for older in fake._statuses:
            if (older.project_id, older.sha, older.ref, older.name) == (
                project.id,
                sha,
                ref,
                name,
            ):
                older.retried = True
        fake._statuses.append(status)
    return ok(fake._status_json(status, ctx.base_url), status=201)


def bad_request_transition(event: str, state: str) -> ApiError:
    reason = f'Status cannot transition via "{event}"'
    return ApiError(
        400,
        {"message": f"Cannot transition status via :{event} from :{state} (Reason(s): {reason})"},
    )


def default_status_ref(fake: FakeGitLab, project: Project, sha: str) -> str | None:
    """GitLab's fallback ref: the pipeline's, else the first branch containing the commit."""
    for (project_id, _), mr in fake._mrs.items():
        if project_id == project.id and any(v.head_sha == sha for v in mr.versions):
            return mr.source_branch
    branches = project.repo.branches_containing(sha)
    return branches[0] if branches else None


@route("GET", P + r"/repository/commits/(?P<sha>[^/]+)/statuses")
def list_statuses(ctx: Ctx) -> Response:
    project = project_of(ctx)
    sha = commit_of(project, ctx.args["sha"])
    everything = bool(ctx.bool_param("all", False))
    items = [
        ctx.fake._status_json(s, ctx.base_url)
        for s in ctx.fake._statuses
        if s.project_id == project.id
        and s.sha == sha
        and (everything or not s.retried)
        and ctx.params.get("ref") in (None, s.ref)
        and ctx.params.get("name") in (None, s.name)
    ]
    return paginate(ctx, items)
