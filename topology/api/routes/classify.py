"""ClassifyService.Classify: which cell serves a request, for the HTTP router."""

from __future__ import annotations

import functools
from time import perf_counter

from fastapi import APIRouter, Request, Response

from topology.api import schemas
from topology.api.app import state
from topology.api.auth import ADMIN, CELL, ROUTER, authenticated, require
from topology.api.bodies import body_of, parse
from topology.api.errors import INVALID_ARGUMENT, NOT_FOUND, ApiError
from topology.api.metrics import metrics
from topology.domain import classify as rules
from topology.domain.catalogue import CLAIM_FIELDS
from topology.domain.claims import ClaimKey
from topology.storage import repository

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post(
    "/classify",
    response_model=schemas.ClassifyResponse,
    response_model_by_alias=True,
    openapi_extra=body_of(schemas.ClassifyRequest),
)
async def classify(request: Request) -> Response:
    """Classify by `type` (FIRST_CELL, SESSION_PREFIX, CELL_ID) and `value`, or by one `claim`
    field (route, username, …: the cell that owns the claim). Answers carry `Cache-Control`
    so that routers can cache them; an unknown key is a 404 that may be cached too."""
    # the routers' hot path: the body and the token are read here rather than through
    # FastAPI's dependency injection, which costs more than the rest of the request
    require(await authenticated(request), CELL, ROUTER, ADMIN)
    started = perf_counter()
    body = await parse(request, schemas.ClassifyRequest)
    topology = state(request)
    if body.claim is not None:
        key = _claim_key(body)

        async def lookup() -> int | None:
            async with topology.pool.connection() as conn:
                return await repository.claim_owner(conn, key)

        owner = await topology.owners.owner(key, lookup)
        cell = None if owner is None else await topology.directory.cell(topology.pool, owner)
        what, by = f"claim {key}", "claim"
    elif body.type in rules.TYPES:
        cell = rules.classify(await topology.directory.cells(topology.pool), body.type, body.value)
        what, by = f"{body.type} {body.value!r}", body.type
    else:
        raise ApiError(
            INVALID_ARGUMENT,
            f"type must be one of {', '.join(rules.TYPES)} (or give a claim), not {body.type!r}",
            reason="INVALID_REQUEST",
        )
    settings = topology.settings
    metrics(request).classified(by, cell is not None, perf_counter() - started)
    if cell is None:
        raise ApiError(
            NOT_FOUND,
            f"no cell for {what}",
            reason="NOT_CLASSIFIED",
            headers={"Cache-Control": f"public, max-age={settings.classify_negative_max_age}"},
        )
    headers = {
        "Cache-Control": f"public, max-age={settings.classify_max_age}",
        "Cache-Tag": f"cell-{cell.id}",
    }
    return Response(_answer(cell.address), media_type="application/json", headers=headers)


@functools.lru_cache(maxsize=1024)
def _answer(address: str) -> bytes:
    """The encoded answer for a cell's address (a hot path: encoded once, not per request)."""
    proxy = schemas.ClassifyResponse(action="PROXY", proxy=schemas.ProxyInfo(address=address))
    return proxy.model_dump_json(by_alias=True).encode()


def _claim_key(body: schemas.ClassifyRequest) -> ClaimKey:
    only = body.claim.only() if body.claim else None
    if only is None or body.type not in ("", "UNSPECIFIED"):
        raise ApiError(
            INVALID_ARGUMENT,
            "a claim classification sets exactly one claim field and no type",
            reason="INVALID_REQUEST",
        )
    field, value = only
    return ClaimKey(CLAIM_FIELDS[field], value)
