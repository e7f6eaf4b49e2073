"""ClassifyService.Classify: which cell serves a request, for the HTTP router."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from topology.api import schemas
from topology.api.app import state
from topology.api.auth import ADMIN, CELL, ROUTER, CallerDep, require
from topology.api.errors import INVALID_ARGUMENT, NOT_FOUND, ApiError
from topology.domain import classify as rules
from topology.domain.catalogue import CLAIM_FIELDS
from topology.domain.claims import ClaimKey
from topology.storage import repository

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post("/classify", response_model=schemas.ClassifyResponse, response_model_by_alias=True)
async def classify(
    body: schemas.ClassifyRequest, request: Request, response: Response, caller: CallerDep
) -> schemas.ClassifyResponse:
    """Classify by `type` (FIRST_CELL, SESSION_PREFIX, CELL_ID) and `value`, or by one `claim`
    field (route, username, …: the cell that owns the claim). Answers carry `Cache-Control`
    so that routers can cache them; an unknown key is a 404 that may be cached too."""
    require(caller, CELL, ROUTER, ADMIN)
    topology = state(request)
    cells = await topology.directory.cells(topology.pool)
    if body.claim is not None:
        key = _claim_key(body)
        async with topology.pool.connection() as conn:
            owner = await repository.claim_owner(conn, key)
        cell = next((c for c in cells if c.id == owner), None)
        what = f"claim {key}"
    elif body.type in rules.TYPES:
        cell = rules.classify(cells, body.type, body.value)
        what = f"{body.type} {body.value!r}"
    else:
        raise ApiError(
            INVALID_ARGUMENT,
            f"type must be one of {', '.join(rules.TYPES)} (or give a claim), not {body.type!r}",
            reason="INVALID_REQUEST",
        )
    settings = topology.settings
    if cell is None:
        raise ApiError(
            NOT_FOUND,
            f"no cell for {what}",
            reason="NOT_CLASSIFIED",
            headers={"Cache-Control": f"public, max-age={settings.classify_negative_max_age}"},
        )
    response.headers["Cache-Control"] = f"public, max-age={settings.classify_max_age}"
    response.headers["Cache-Tag"] = f"cell-{cell.id}"
    return schemas.ClassifyResponse(action="PROXY", proxy=schemas.ProxyInfo(address=cell.address))


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
