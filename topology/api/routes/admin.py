"""Cluster administration (admin callers): cells, sequence ranges, and the claim-type registry.

GitLab configures cells only in its config file; these routes add what a running cluster needs:
a new cell with the next free sequence range, more ranges for a cell that runs out of ids, a
cell's state and ring, and custom claim types.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from psycopg import AsyncConnection, errors

from topology.api import schemas
from topology.api.app import state
from topology.api.auth import ADMIN, CallerDep, require
from topology.api.convert import cell_info
from topology.api.errors import (
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    ApiError,
)
from topology.cluster import STATES, Caller, Cell, ClusterError
from topology.storage import repository
from topology.storage.database import in_transaction

router = APIRouter(prefix="/v1", tags=["administration"])
T = TypeVar("T")
logger = logging.getLogger(__name__)


@router.post(
    "/cells", response_model=schemas.GetCellResponse, response_model_by_alias=True, status_code=201
)
async def add_cell(
    body: schemas.NewCellRequest, request: Request, caller: CallerDep
) -> schemas.GetCellResponse:
    """Register a cell; it gets the next free sequence range (at least 10^11 ids)."""
    require(caller, ADMIN)
    _check_state(body.state)
    cell = Cell(body.id, body.address, body.session_prefix, (), ring=body.ring, state=body.state)

    async def work(conn: AsyncConnection) -> Cell:
        if await _cell(conn, body.id) is not None:
            raise ApiError(ALREADY_EXISTS, f"cell {body.id} exists", reason="CELL_EXISTS")
        return await repository.add_cell(conn, cell, body.range_size)

    added = await _admin_write(request, caller, work)
    return schemas.GetCellResponse(cell_info=cell_info(added))


@router.post(
    "/cells/{cell_id}:extendRanges",
    response_model=schemas.GetCellResponse,
    response_model_by_alias=True,
)
async def extend_ranges(
    cell_id: int, body: schemas.ExtendRangesRequest, request: Request, caller: CallerDep
) -> schemas.GetCellResponse:
    """Give a cell one more sequence range after every existing range (at least 10^11 ids)."""
    require(caller, ADMIN)

    async def work(conn: AsyncConnection) -> Cell | None:
        return await repository.extend_ranges(conn, cell_id, body.size)

    return _found(cell_id, await _admin_write(request, caller, work))


@router.patch(
    "/cells/{cell_id}", response_model=schemas.GetCellResponse, response_model_by_alias=True
)
async def update_cell(
    cell_id: int, body: schemas.CellStateRequest, request: Request, caller: CallerDep
) -> schemas.GetCellResponse:
    """Change a cell's `state` (active, draining, offline) or rollout `ring`."""
    require(caller, ADMIN)
    if body.state is not None:
        _check_state(body.state)
    if body.ring is not None and body.ring < 0:
        raise ApiError(INVALID_ARGUMENT, "ring must be >= 0", reason="INVALID_REQUEST")

    async def work(conn: AsyncConnection) -> Cell | None:
        return await repository.update_cell(conn, cell_id, state=body.state, ring=body.ring)

    return _found(cell_id, await _admin_write(request, caller, work))


@router.get("/claimTypes", response_model=schemas.ClaimTypesResponse, response_model_by_alias=True)
async def claim_types(request: Request, caller: CallerDep) -> schemas.ClaimTypesResponse:
    """Every bucket type: GitLab's catalogue and the registered custom types (any caller)."""
    async with state(request).pool.connection() as conn:
        rows = await repository.claim_types(conn)
    return schemas.ClaimTypesResponse(claim_types=[_claim_type(r) for r in rows])


@router.post(
    "/claimTypes",
    response_model=schemas.ClaimType,
    response_model_by_alias=True,
    status_code=201,
    responses={200: {"model": schemas.ClaimType, "description": "the name was registered already"}},
)
async def register_claim_type(
    body: schemas.RegisterClaimTypeRequest, request: Request, response: Response, caller: CallerDep
) -> schemas.ClaimType:
    """Register a custom bucket type (201), `proposed` (not usable yet) or `active`. Registering
    an existing name returns it unchanged (200)."""
    require(caller, ADMIN)

    async def work(conn: AsyncConnection) -> tuple[repository.ClaimTypeRecord, bool]:
        return await repository.register_claim_type(conn, body.name, body.state)

    row, created = await in_transaction(state(request).pool, work)
    response.status_code = 201 if created else 200
    return _claim_type(row)


@router.post(
    "/claimTypes/{name}:activate", response_model=schemas.ClaimType, response_model_by_alias=True
)
async def activate_claim_type(name: str, request: Request, caller: CallerDep) -> schemas.ClaimType:
    """Make a proposed bucket type usable in BeginUpdate. Idempotent."""
    require(caller, ADMIN)

    async def work(conn: AsyncConnection) -> repository.ClaimTypeRecord | None:
        return await repository.activate_claim_type(conn, name)

    row = await in_transaction(state(request).pool, work)
    if row is None:
        raise ApiError(NOT_FOUND, f"no claim type {name}", reason="CLAIM_TYPE_NOT_FOUND")
    return _claim_type(row)


@router.delete("/claimTypes/{name}", response_model=schemas.Empty, response_model_by_alias=True)
async def drop_claim_type(name: str, request: Request, caller: CallerDep) -> schemas.Empty:
    """Drop a proposed bucket type (its MR closed). Active or built-in types stay: 400."""
    require(caller, ADMIN)

    async def work(conn: AsyncConnection) -> str:
        return await repository.drop_claim_type(conn, name)

    outcome = await in_transaction(state(request).pool, work)
    if outcome == "missing":
        raise ApiError(NOT_FOUND, f"no claim type {name}", reason="CLAIM_TYPE_NOT_FOUND")
    if outcome == "in use":
        raise ApiError(
            FAILED_PRECONDITION,
            f"claim type {name} is active or has claims",
            reason="CLAIM_TYPE_IN_USE",
        )
    return schemas.Empty()


# helpers -----------------------------------------------------------------------------------


async def _admin_write(
    request: Request, caller: Caller, work: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """Run a change to the cells; invalid clusters are 400s; the cell directory is refreshed."""
    try:
        result = await in_transaction(state(request).pool, work)
    except ClusterError as error:
        raise ApiError(INVALID_ARGUMENT, str(error), reason="INVALID_CLUSTER") from None
    except errors.UniqueViolation as error:
        raise ApiError(
            ALREADY_EXISTS, error.diag.message_detail or str(error), reason="CELL_EXISTS"
        ) from None
    state(request).directory.invalidate()
    logger.info("%s changed the cells: %s %s", caller.name, request.method, request.url.path)
    return result


async def _cell(conn: AsyncConnection, cell_id: int) -> Cell | None:
    return next((c for c in await repository.get_cells(conn) if c.id == cell_id), None)


def _found(cell_id: int, cell: Cell | None) -> schemas.GetCellResponse:
    if cell is None:
        raise ApiError(NOT_FOUND, f"no cell {cell_id}", reason="CELL_NOT_FOUND")
    return schemas.GetCellResponse(cell_info=cell_info(cell))


def _check_state(value: str) -> None:
    if value not in STATES:
        raise ApiError(
            INVALID_ARGUMENT, f"state must be one of {', '.join(STATES)}", reason="INVALID_REQUEST"
        )


def _claim_type(row: repository.ClaimTypeRecord) -> schemas.ClaimType:
    return schemas.ClaimType(name=row.name, number=row.number, builtin=row.builtin, state=row.state)
