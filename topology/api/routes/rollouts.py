"""Rollouts of merged schema migrations across the cells, ring by ring.

The review bot creates a rollout when a merge request with migrations merges; each cell's deploy
pipeline asks its gate whether it may apply now and reports each version's progress; admins
pause, resume and retry. The rules are in topology.domain.rollouts; every write locks the
rollout's row first, so concurrent reports apply one after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request, Response
from psycopg import AsyncConnection

from topology.api import schemas
from topology.api.app import state
from topology.api.auth import ADMIN, CallerDep, require, require_cell
from topology.api.errors import (
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    ApiError,
)
from topology.domain import rollouts as rules
from topology.storage import repository
from topology.storage.database import in_transaction

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/rollouts", tags=["rollouts"])
T = TypeVar("T")
_ERROR_STATUS = {  # any other reason: FAILED_PRECONDITION (the gate, or the rollout's state)
    rules.INVALID_ROLLOUT: INVALID_ARGUMENT,
    rules.UNKNOWN_VERSION: INVALID_ARGUMENT,
    rules.INVALID_REPORT: INVALID_ARGUMENT,
    rules.CELL_NOT_IN_ROLLOUT: NOT_FOUND,
    rules.KEY_IN_USE: ALREADY_EXISTS,
}


@router.post(
    "",
    response_model=schemas.Rollout,
    response_model_by_alias=True,
    status_code=201,
    responses={200: {"model": schemas.Rollout, "description": "the key names a rollout already"}},
)
async def create_rollout(
    body: schemas.NewRolloutRequest, request: Request, response: Response, caller: CallerDep
) -> schemas.Rollout:
    """Roll `versions` out to every cell that is not offline now, ring by ring (201). The same
    `key` again returns the existing rollout as it is (200), or 409 `ROLLOUT_KEY_IN_USE` when
    it asks for other versions. Admins only."""
    require(caller, ADMIN)

    async def work(conn: AsyncConnection) -> tuple[rules.Rollout, bool]:
        draft = rules.new_rollout(
            key=body.key,
            name=body.name,
            versions=body.versions,
            cells=await repository.get_cells(conn),
        )
        rollout, created = await repository.create_rollout(conn, draft)
        if not created:
            rules.check_same_versions(rollout, body.versions)
        return rollout, created

    rollout, created = await _run(request, work)
    if created:
        logger.info("%s created rollout %s (%s)", caller.name, rollout.id, rollout.name)
    response.status_code = 201 if created else 200
    return _rollout(rollout)


@router.get("", response_model=schemas.ListRolloutsResponse, response_model_by_alias=True)
async def list_rollouts(
    request: Request,
    caller: CallerDep,
    name: Annotated[str | None, Query(description="only rollouts with this name")] = None,
) -> schemas.ListRolloutsResponse:
    """The newest 100 rollouts, newest first; with `name`, only those (admins only)."""
    require(caller, ADMIN)
    async with state(request).pool.connection() as conn:
        rows = await repository.list_rollouts(conn, name)
    return schemas.ListRolloutsResponse(rollouts=[_rollout(r) for r in rows])


@router.get("/{rollout_id}", response_model=schemas.Rollout, response_model_by_alias=True)
async def get_rollout(rollout_id: int, request: Request, caller: CallerDep) -> schemas.Rollout:
    """A rollout with every cell's progress (any caller)."""
    async with state(request).pool.connection() as conn:
        rollout = await repository.get_rollout(conn, rollout_id)
    return _rollout(_found(rollout_id, rollout))


@router.get(
    "/{rollout_id}/cells/{cell_id}/gate",
    response_model=schemas.RolloutGate,
    response_model_by_alias=True,
)
async def gate(
    rollout_id: int, cell_id: int, request: Request, caller: CallerDep
) -> schemas.RolloutGate:
    """Whether the cell may apply now (`allowed`), why not (`reason`), and the versions it has
    left, in order. The cell itself or an admin."""
    require_cell(caller, cell_id)
    async with state(request).pool.connection() as conn:
        rollout = _found(rollout_id, await repository.get_rollout(conn, rollout_id))
    try:
        found = rules.gate(rollout, cell_id)
    except rules.RolloutError as error:
        raise _api_error(error) from None
    return schemas.RolloutGate(
        allowed=found.allowed,
        reason=found.reason,
        message=found.message,
        pending_versions=list(found.pending_versions),
        ring=found.ring,
        current_ring=found.current_ring,
        state=found.state,
    )


@router.post(
    "/{rollout_id}/cells/{cell_id}/status",
    response_model=schemas.RolloutStatusResponse,
    response_model_by_alias=True,
)
async def report_status(
    rollout_id: int,
    cell_id: int,
    body: schemas.RolloutStatusRequest,
    request: Request,
    caller: CallerDep,
) -> schemas.RolloutStatusResponse:
    """The cell reports a version `running`, `applied` or `failed`. Reporting an applied version
    again changes nothing (200, the current state). `running`, and `applied` from a cell that has
    not started, need the gate open: otherwise 400 `FAILED_PRECONDITION` with the gate's reason.
    `failed` halts the rollout. The cell itself or an admin."""
    require_cell(caller, cell_id)

    def change(rollout: rules.Rollout) -> rules.Rollout:
        return rules.report(
            rollout, cell_id, version=body.version, state=body.state, error=body.error
        )

    rollout = await _change(request, rollout_id, change)
    if body.state == rules.FAILED:
        logger.info(
            "%s: cell %s failed %s of rollout %s, which is %s now",
            caller.name,
            cell_id,
            body.version,
            rollout_id,
            rollout.state,
        )
    return schemas.RolloutStatusResponse(
        rollout_id=rollout.id,
        rollout_state=rollout.state,
        current_ring=rollout.current_ring,
        cell=_cell(rollout.cell(cell_id)),
    )


@router.post("/{rollout_id}:pause", response_model=schemas.Rollout, response_model_by_alias=True)
async def pause(rollout_id: int, request: Request, caller: CallerDep) -> schemas.Rollout:
    """No gate opens until resumed; cells already running may still report how their version
    ended. A running or halted rollout can be paused (a paused one: no change). Admins only."""
    require(caller, ADMIN)
    rollout = await _change(request, rollout_id, rules.pause)
    logger.info("%s paused rollout %s", caller.name, rollout_id)
    return _rollout(rollout)


@router.post("/{rollout_id}:resume", response_model=schemas.Rollout, response_model_by_alias=True)
async def resume(rollout_id: int, request: Request, caller: CallerDep) -> schemas.Rollout:
    """A paused rollout runs again, or is `halted` when a cell failed meanwhile (a running one:
    no change). A halted rollout needs `:retry` of its failed cells instead. Admins only."""
    require(caller, ADMIN)
    rollout = await _change(request, rollout_id, rules.resume)
    logger.info("%s resumed rollout %s: %s", caller.name, rollout_id, rollout.state)
    return _rollout(rollout)


@router.post(
    "/{rollout_id}/cells/{cell_id}:retry",
    response_model=schemas.Rollout,
    response_model_by_alias=True,
)
async def retry(
    rollout_id: int, cell_id: int, request: Request, caller: CallerDep
) -> schemas.Rollout:
    """A failed cell is pending again, its error cleared and its applied versions kept; a halted
    rollout without other failed cells runs again (a paused one stays paused). Admins only."""
    require(caller, ADMIN)
    rollout = await _change(request, rollout_id, lambda r: rules.retry(r, cell_id))
    logger.info("%s retried cell %s of rollout %s", caller.name, cell_id, rollout_id)
    return _rollout(rollout)


# helpers -----------------------------------------------------------------------------------


async def _change(
    request: Request, rollout_id: int, change: Callable[[rules.Rollout], rules.Rollout]
) -> rules.Rollout:
    async def work(conn: AsyncConnection) -> rules.Rollout | None:
        return await repository.change_rollout(conn, rollout_id, change)

    return _found(rollout_id, await _run(request, work))


async def _run(request: Request, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`work` in one transaction; a rule's refusal rolls it back and becomes the error answer."""
    try:
        return await in_transaction(state(request).pool, work)
    except rules.RolloutError as error:
        raise _api_error(error) from None


def _api_error(error: rules.RolloutError) -> ApiError:
    code = _ERROR_STATUS.get(error.reason, FAILED_PRECONDITION)
    return ApiError(code, error.message, reason=error.reason)


def _found(rollout_id: int, rollout: rules.Rollout | None) -> rules.Rollout:
    if rollout is None:
        raise ApiError(NOT_FOUND, f"no rollout {rollout_id}", reason="ROLLOUT_NOT_FOUND")
    return rollout


def _rollout(rollout: rules.Rollout) -> schemas.Rollout:
    return schemas.Rollout(
        id=rollout.id,
        key=rollout.key,
        name=rollout.name,
        versions=list(rollout.versions),
        state=rollout.state,
        current_ring=rollout.current_ring,
        cells=[_cell(c) for c in rollout.cells],
        created_at=rollout.created_at,
        updated_at=rollout.updated_at,
    )


def _cell(cell: rules.CellProgress) -> schemas.RolloutCell:
    return schemas.RolloutCell(
        cell_id=cell.cell_id,
        ring=cell.ring,
        state=cell.state,
        applied_versions=list(cell.applied_versions),
        error=cell.error,
        updated_at=cell.updated_at,
    )
