"""ClaimService: BeginUpdate, CommitUpdate, RollbackUpdate, ListLeases, ListRecords, GetRecord.

Paths and bodies as a gRPC gateway maps GitLab's `claims.v1.ClaimService` (custom methods as
`:verb`, GET query parameters as the request message's fields in lowerCamelCase).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from psycopg import AsyncConnection

from topology.api import schemas
from topology.api.app import state
from topology.api.auth import ADMIN, CallerDep, authenticated, require, require_cell
from topology.api.bodies import answer, body_of, parse
from topology.api.convert import cell_info, lease, record
from topology.api.errors import (
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    ApiError,
)
from topology.api.metrics import metrics
from topology.domain import claims as rules
from topology.domain.catalogue import CLAIM_FIELDS
from topology.storage import repository
from topology.storage.database import in_transaction

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/claims", tags=["claims"])
MAX_PAGE = 1000
RETRY_AFTER_SECONDS = 1
_CONFLICT_STATUS = {
    rules.CELL_NOT_FOUND: NOT_FOUND,
    rules.CELL_UNAVAILABLE: FAILED_PRECONDITION,
    rules.INVALID_BATCH: INVALID_ARGUMENT,
    rules.ALREADY_TAKEN: ALREADY_EXISTS,
    rules.LEASED: FAILED_PRECONDITION,
    rules.NOT_OWNER: FAILED_PRECONDITION,
    rules.NOT_FOUND: NOT_FOUND,
}


@router.post(
    ":beginUpdate",
    response_model=schemas.BeginUpdateResponse,
    openapi_extra=body_of(schemas.BeginUpdateRequest),
)
async def begin_update(request: Request) -> Response:
    """Lease a batch of creates and destroys for one cell, all or nothing.

    Conflicts (the ErrorInfo `reason`; `metadata.claims` is a JSON list of the claims at fault):
    409 `ALREADY_TAKEN` (permanent), 400 `LEASED` with `Retry-After` (another update holds the
    claim: try again later), 400 `INVALID_BATCH`, 400 `NOT_OWNER` (a destroy of another cell's
    claim), 404 `CLAIM_NOT_FOUND` (a destroy of nothing), 404 `CELL_NOT_FOUND`, 400
    `CELL_UNAVAILABLE` (the cell is offline, or draining and the batch creates).
    """
    caller = await authenticated(request)  # the hot path: no dependency injection (bodies.py)
    body = await parse(request, schemas.BeginUpdateRequest)
    require_cell(caller, body.cell_id)
    creates = [_claim_input(m) for m in body.create_records]
    destroys = [rules.ClaimKey(m.bucket.type, m.bucket.value) for m in body.destroy_records]

    async def work(conn: AsyncConnection) -> repository.LeaseRecord:
        return await repository.begin_update(conn, body.cell_id, creates, destroys)

    try:
        leased = await in_transaction(state(request).pool, work)
    except rules.ClaimConflict as conflict:
        logger.info("%s: BeginUpdate for cell %s refused: %s", caller.name, body.cell_id, conflict)
        refusal = _conflict(conflict)
        metrics(request).conflict(refusal.reason or conflict.reason)
        raise refusal from None
    lease_uuid = schemas.UUID(value=str(leased.uuid))
    return answer(schemas.BeginUpdateResponse(cell_id=body.cell_id, lease_uuid=lease_uuid))


@router.post(
    ":commitUpdate", response_model=schemas.Empty, openapi_extra=body_of(schemas.LeaseRequest)
)
async def commit_update(request: Request) -> Response:
    """Make a lease final: its creates become ACTIVE, its destroys are deleted. Idempotent: a
    lease that is already committed or rolled back is a success."""
    return await _finish(request, repository.commit_update)


@router.post(
    ":rollbackUpdate", response_model=schemas.Empty, openapi_extra=body_of(schemas.LeaseRequest)
)
async def rollback_update(request: Request) -> Response:
    """Undo a lease: its creates are deleted, its destroys are ACTIVE again. Idempotent."""
    return await _finish(request, repository.rollback_update)


async def _finish(
    request: Request,
    apply: Callable[[AsyncConnection, uuid.UUID], Awaitable[list[rules.ClaimKey]]],
) -> Response:
    caller = await authenticated(request)
    body = await parse(request, schemas.LeaseRequest)
    require_cell(caller, body.cell_id)
    lease_uuid = _uuid(body.lease_uuid.value, "leaseUuid")

    async def work(conn: AsyncConnection) -> list[rules.ClaimKey]:
        holder = await repository.lease_cell(conn, lease_uuid)
        if holder is None:
            return []  # already committed or rolled back
        if holder != body.cell_id:
            metrics(request).conflict("LEASE_NOT_FOUND")
            raise ApiError(
                NOT_FOUND,
                f"cell {body.cell_id} holds no lease {lease_uuid}",
                reason="LEASE_NOT_FOUND",
            )
        return await apply(conn, lease_uuid)

    gone = await in_transaction(state(request).pool, work)
    state(request).owners.forget(gone)
    return answer(schemas.Empty())


@router.get("/leases", response_model=schemas.ListLeasesResponse, response_model_by_alias=True)
async def list_leases(
    request: Request,
    caller: CallerDep,
    *,
    cell_id: Annotated[int, Query(alias="cellId")],
    next_: Annotated[
        str | None, Query(alias="next", description="`next.value` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    created_after: Annotated[datetime | None, Query(alias="createdAfter")] = None,
) -> schemas.ListLeasesResponse:
    """A cell's outstanding leases, oldest first, a page at a time (cursor in `next`)."""
    require_cell(caller, cell_id)
    after = _decode_cursor(next_) if next_ else None
    async with state(request).pool.connection() as conn:
        rows = await repository.list_leases(
            conn, cell_id, after=after, created_after=created_after, limit=limit + 1
        )
    page = rows[:limit]
    cursor = None
    if len(rows) > limit:
        last = page[-1]
        token = json.dumps([last.created_at.isoformat(), str(last.uuid)]).encode()
        cursor = schemas.AnyCursor(value=base64.urlsafe_b64encode(token).decode())
    return schemas.ListLeasesResponse(leases=[lease(r) for r in page], next=cursor)


@router.get("/records", response_model=schemas.ListRecordsResponse, response_model_by_alias=True)
async def list_records(
    request: Request,
    caller: CallerDep,
    *,
    cell_id: Annotated[int, Query(alias="cellId")],
    source_type: Annotated[str | None, Query(alias="sourceType")] = None,
    bucket_types: Annotated[list[str], Query(alias="bucketTypes")] = [],  # noqa: B006
    claim_types: Annotated[list[str], Query(alias="claimTypes")] = [],  # noqa: B006
    source_id_gt: Annotated[str | None, Query(alias="sourceIdGt", description="base64")] = None,
    source_id_lte: Annotated[str | None, Query(alias="sourceIdLte", description="base64")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> schemas.ListRecordsResponse:
    """A cell's claims in a source-id range, in source-id order. `truncated` means the range
    holds more: continue with `sourceIdGt` = the last record's source id (a page never splits
    one source row's claims)."""
    require_cell(caller, cell_id)
    types = list(bucket_types) + [_claim_type_bucket(t) for t in claim_types]
    async with state(request).pool.connection() as conn:
        rows, truncated = await repository.list_records(
            conn,
            cell_id,
            source_type=None if source_type in (None, "", "UNSPECIFIED") else source_type,
            bucket_types=types,
            source_id_gt=_base64(source_id_gt, "sourceIdGt"),
            source_id_lte=_base64(source_id_lte, "sourceIdLte"),
            limit=limit,
        )
    return schemas.ListRecordsResponse(records=[record(r) for r in rows], truncated=truncated)


@router.get("/record", response_model=schemas.GetRecordResponse, response_model_by_alias=True)
async def get_record(
    request: Request,
    caller: CallerDep,
    *,
    bucket_type: Annotated[str | None, Query(alias="bucket.type")] = None,
    bucket_value: Annotated[str | None, Query(alias="bucket.value")] = None,
) -> schemas.GetRecordResponse:
    """One claim, by `bucket.type` and `bucket.value`, or by exactly one `claim.<field>` query
    parameter instead (`claim.route=gitlab-org/gitlab`, `claim.username=root`, …), with the
    owning cell (admin only)."""
    require(caller, ADMIN)
    key = _record_key(bucket_type, bucket_value, request.query_params)
    async with state(request).pool.connection() as conn:
        row = await repository.get_record(conn, key)
    if row is None:
        raise ApiError(NOT_FOUND, f"no claim {key}", reason="CLAIM_NOT_FOUND")
    owner = await state(request).directory.cell(state(request).pool, row.cell_id)
    return schemas.GetRecordResponse(
        record=record(row), cell_info=cell_info(owner) if owner else None
    )


# helpers -----------------------------------------------------------------------------------


def _claim_input(metadata: schemas.Metadata) -> repository.ClaimInput:
    claim = metadata.claim.model_dump(exclude_none=True) if metadata.claim else None
    return repository.ClaimInput(
        key=rules.ClaimKey(metadata.bucket.type, metadata.bucket.value),
        subject_type=_enum(metadata.subject.type),
        subject_id=metadata.subject.id or None,
        source_type=_enum(metadata.source.type),
        source_id=metadata.source.rails_primary_key_id or None,
        claim=claim or None,
        user_data=metadata.user_data,
    )


def _enum(name: str) -> str | None:
    return None if name in ("", "UNSPECIFIED") else name


def _conflict(conflict: rules.ClaimConflict) -> ApiError:
    keys = [
        str(c.key) for c in conflict.conflicts if c.reason == conflict.reason and c.key.bucket_type
    ]
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if conflict.retryable else {}
    reason = "CLAIM_NOT_FOUND" if conflict.reason == rules.NOT_FOUND else conflict.reason
    return ApiError(
        _CONFLICT_STATUS[conflict.reason],
        conflict.message,
        reason=reason,
        metadata={"claims": json.dumps(keys)} if keys else {},
        headers=headers,
    )


def _record_key(
    bucket_type: str | None, bucket_value: str | None, query: Mapping[str, str]
) -> rules.ClaimKey:
    claims = {k.removeprefix("claim."): v for k, v in query.items() if k.startswith("claim.")}
    if bucket_type and bucket_value and not claims:
        return rules.ClaimKey(bucket_type, bucket_value)
    if len(claims) == 1 and bucket_type is None and bucket_value is None:
        ((field, value),) = claims.items()
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in field)
        if snake in CLAIM_FIELDS:
            return rules.ClaimKey(CLAIM_FIELDS[snake], value)
        raise ApiError(INVALID_ARGUMENT, f"unknown claim field {field!r}", reason="INVALID_REQUEST")
    raise ApiError(
        INVALID_ARGUMENT,
        "give bucket.type and bucket.value, or exactly one claim.<field>",
        reason="INVALID_REQUEST",
    )


def _claim_type_bucket(name: str) -> str:
    """`types.v1.ClaimType` (CLAIM_TYPE_ROUTE) -> the bucket type it is stored in (ROUTES)."""
    field = name.removeprefix("CLAIM_TYPE_").lower()
    if field not in CLAIM_FIELDS:
        raise ApiError(INVALID_ARGUMENT, f"unknown claim type {name!r}", reason="INVALID_REQUEST")
    return CLAIM_FIELDS[field]


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(
            INVALID_ARGUMENT, f"{name} is not a UUID: {value!r}", reason="INVALID_REQUEST"
        ) from None


def _base64(value: str | None, name: str) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or a character that is not ASCII
        raise ApiError(
            INVALID_ARGUMENT, f"{name} is not base64", reason="INVALID_REQUEST"
        ) from None


def _decode_cursor(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, lease_uuid = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created_at), uuid.UUID(lease_uuid)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(
            INVALID_ARGUMENT, "next is not a cursor this service gave", reason="INVALID_CURSOR"
        ) from None
