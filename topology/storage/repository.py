"""All SQL of the Topology Service. Functions take a connection; the caller owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from topology.cluster import (
    MIN_NEW_RANGE,
    Cell,
    Cluster,
    ClusterError,
    SequenceRange,
    next_range,
    validate_cells,
)
from topology.domain import rollouts as rules
from topology.domain.catalogue import BUCKET_TYPES, CUSTOM_TYPE_START
from topology.domain.claims import (
    ALREADY_TAKEN,
    LEASED,
    NOT_FOUND,
    NOT_OWNER,
    ClaimKey,
    Conflict,
    batch_problems,
    cell_problem,
    conflict_error,
)


@dataclass(frozen=True, slots=True)
class ClaimInput:
    """A claim to create: its bucket and GitLab's metadata about it."""

    key: ClaimKey
    subject_type: str | None = None
    subject_id: int | None = None
    source_type: str | None = None
    source_id: bytes | None = None
    claim: dict[str, Any] | None = None
    user_data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    uuid: uuid.UUID
    bucket_type: str
    bucket_value: str
    subject_type: str | None
    subject_id: int | None
    source_type: str | None
    source_id: bytes | None
    claim: dict[str, Any] | None
    user_data: dict[str, Any] | None
    cell_id: int
    status: str
    lease_uuid: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    uuid: uuid.UUID
    cell_id: int
    created_at: datetime
    updated_at: datetime


_CLAIM_TYPES_LOCK = 0x636C61696D  # "claim": serializes the numbering of custom claim types
_CELLS_LOCK = 0x72616E6765  # "range": serializes the allocation of sequence ranges
_CLAIM_COLUMNS = (
    "uuid, bucket_type, bucket_value, subject_type, subject_id, source_type, source_id, claim, "
    "user_data, cell_id, status, lease_uuid, created_at, updated_at"
)

# cells -------------------------------------------------------------------------------------


async def get_cells(conn: AsyncConnection) -> list[Cell]:
    cursor = await conn.execute(
        "SELECT c.id, c.address, c.session_prefix, c.ring, c.state, "
        "COALESCE(array_agg(r.minval ORDER BY r.minval) FILTER (WHERE r.cell_id IS NOT NULL), "
        "'{}'), COALESCE(array_agg(r.maxval ORDER BY r.minval) FILTER (WHERE r.cell_id IS NOT "
        "NULL), '{}') "
        "FROM cells c LEFT JOIN sequence_ranges r ON r.cell_id = c.id GROUP BY c.id ORDER BY c.id"
    )
    return [
        Cell(
            id=row[0],
            address=row[1],
            session_prefix=row[2],
            ring=row[3],
            state=row[4],
            sequence_ranges=tuple(SequenceRange(a, b) for a, b in zip(row[5], row[6], strict=True)),
        )
        for row in await cursor.fetchall()
    ]


async def upsert_cell(conn: AsyncConnection, cell: Cell) -> None:
    """Create or update a cell and add its ranges (ranges are never removed)."""
    await conn.execute(
        "INSERT INTO cells (id, address, session_prefix, ring, state) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, "
        "session_prefix = EXCLUDED.session_prefix, ring = EXCLUDED.ring, state = EXCLUDED.state, "
        "updated_at = now()",
        (cell.id, cell.address, cell.session_prefix, cell.ring, cell.state),
    )
    for sequence in cell.sequence_ranges:
        await add_range(conn, cell.id, sequence)


def _merge_ranges(stored: Cell | None, cell: Cell) -> tuple[SequenceRange, ...]:
    ranges = {r.minval: r for r in stored.sequence_ranges} if stored else {}
    for sequence in cell.sequence_ranges:
        old = ranges.get(sequence.minval)
        if old and sequence.maxval < old.maxval:
            raise ClusterError(
                f"cell {cell.id}: range {old.minval}..{old.maxval} cannot shrink to "
                f"..{sequence.maxval}: its ids may be in use"
            )
        ranges[sequence.minval] = sequence
    return tuple(sorted(ranges.values(), key=lambda r: r.minval))


async def add_range(conn: AsyncConnection, cell_id: int, sequence: SequenceRange) -> None:
    await conn.execute(
        "INSERT INTO sequence_ranges (cell_id, minval, maxval) VALUES (%s, %s, %s) "
        "ON CONFLICT (cell_id, minval) DO UPDATE SET maxval = GREATEST("
        "sequence_ranges.maxval, EXCLUDED.maxval)",
        (cell_id, sequence.minval, sequence.maxval),
    )


async def add_cell(conn: AsyncConnection, cell: Cell, range_size: int | None) -> Cell:
    """Register a new cell with the next free sequence range (ClusterError when it clashes)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CELLS_LOCK,))
    cells = await get_cells(conn)
    sequence = next_range(cells, size=range_size or MIN_NEW_RANGE)
    new = replace(cell, sequence_ranges=(sequence,))
    validate_cells([*cells, new], source="the cluster")
    await upsert_cell(conn, new)
    return new


async def extend_ranges(conn: AsyncConnection, cell_id: int, size: int | None) -> Cell | None:
    """Give a cell one more sequence range, after every range of every cell."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CELLS_LOCK,))
    cells = await get_cells(conn)
    if not any(c.id == cell_id for c in cells):
        return None
    await add_range(conn, cell_id, next_range(cells, size=size or MIN_NEW_RANGE))
    return next(c for c in await get_cells(conn) if c.id == cell_id)


async def update_cell(
    conn: AsyncConnection, cell_id: int, *, state: str | None, ring: int | None
) -> Cell | None:
    await conn.execute(
        "UPDATE cells SET state = COALESCE(%s, state), ring = COALESCE(%s, ring), "
        "updated_at = now() WHERE id = %s",
        (state, ring, cell_id),
    )
    return next((c for c in await get_cells(conn) if c.id == cell_id), None)


async def sync_cluster(conn: AsyncConnection, cluster: Cluster) -> None:
    """Bring the stored cells in line with the cluster file; seed the claim-type catalogue.

    The file wins for the cells it lists (address, prefix, ring, state; a range's maxval may
    grow). Ranges are never removed or shrunk, since their ids may be in use, and cells added
    through the API stay; the whole is validated as one cluster (ClusterError)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CELLS_LOCK,))
    stored = {cell.id: cell for cell in await get_cells(conn)}
    merged = {**stored}
    for cell in cluster.cells:
        merged[cell.id] = replace(cell, sequence_ranges=_merge_ranges(stored.get(cell.id), cell))
    validate_cells(list(merged.values()), source="the cluster file and the stored cells")
    for cell in cluster.cells:
        await upsert_cell(conn, merged[cell.id])
    for name, number in BUCKET_TYPES.items():
        await conn.execute(
            "INSERT INTO claim_types (name, number, builtin) VALUES (%s, %s, true) "
            "ON CONFLICT (name) DO NOTHING",
            (name, number),
        )


# claim types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimTypeRecord:
    name: str
    number: int
    builtin: bool
    state: str


async def claim_types(conn: AsyncConnection) -> list[ClaimTypeRecord]:
    cursor = conn.cursor(row_factory=class_row(ClaimTypeRecord))
    await cursor.execute("SELECT name, number, builtin, state FROM claim_types ORDER BY number")
    return await cursor.fetchall()


async def register_claim_type(
    conn: AsyncConnection, name: str, state: str
) -> tuple[ClaimTypeRecord, bool]:
    """(the type, created now): a custom bucket type gets the next number from CUSTOM_TYPE_START.

    Registering a name again returns the existing type unchanged."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CLAIM_TYPES_LOCK,))
    cursor = await conn.execute(
        "INSERT INTO claim_types (name, number, state) SELECT %s, "
        "GREATEST(%s, COALESCE(MAX(number) + 1, 0)), %s FROM claim_types "
        "ON CONFLICT (name) DO NOTHING RETURNING name",
        (name, CUSTOM_TYPE_START, state),
    )
    created = await cursor.fetchone() is not None
    return await claim_type(conn, name), created


async def claim_type(conn: AsyncConnection, name: str) -> ClaimTypeRecord | None:
    cursor = conn.cursor(row_factory=class_row(ClaimTypeRecord))
    await cursor.execute(
        "SELECT name, number, builtin, state FROM claim_types WHERE name = %s", (name,)
    )
    return await cursor.fetchone()


async def activate_claim_type(conn: AsyncConnection, name: str) -> ClaimTypeRecord | None:
    await conn.execute("UPDATE claim_types SET state = 'active' WHERE name = %s", (name,))
    return await claim_type(conn, name)


async def drop_claim_type(conn: AsyncConnection, name: str) -> str:
    """Drop a proposed type: "dropped", "missing", or "in use" (active, or has claims)."""
    cursor = await conn.execute(
        "DELETE FROM claim_types t WHERE name = %s AND state = 'proposed' AND NOT builtin "
        "AND NOT EXISTS (SELECT FROM claims c WHERE c.bucket_type = t.name) RETURNING name",
        (name,),
    )
    if await cursor.fetchone() is not None:
        return "dropped"
    return "missing" if await claim_type(conn, name) is None else "in use"


# claims: the lease protocol ----------------------------------------------------------------


async def begin_update(
    conn: AsyncConnection, cell_id: int, creates: list[ClaimInput], destroys: list[ClaimKey]
) -> LeaseRecord:
    """Lease the batch: insert the creates as LEASE_CREATING, mark the destroys
    LEASE_DESTROYING. Raises ClaimConflict (the caller rolls the transaction back)."""
    keys = [c.key for c in creates]
    cursor = await conn.execute(
        "SELECT (SELECT state FROM cells WHERE id = %s), "
        "array(SELECT name FROM claim_types WHERE state = 'active' AND name = ANY(%s))",
        (cell_id, sorted({k.bucket_type for k in keys + destroys})),
    )
    cell_state, known = await cursor.fetchone()
    problem = cell_problem(cell_id, cell_state, bool(creates))
    if problem:
        raise conflict_error([problem])
    problems = batch_problems(keys, destroys, set(known))
    if problems:
        raise conflict_error(problems)
    cursor = await conn.execute(
        "INSERT INTO claim_leases (uuid, cell_id) VALUES (gen_random_uuid(), %s) "
        "RETURNING uuid, cell_id, created_at, updated_at",
        (cell_id,),
    )
    lease = LeaseRecord(*(await cursor.fetchone()))
    conflicts = await _create(conn, lease, creates) + await _destroy(conn, lease, destroys)
    if conflicts:
        raise conflict_error(conflicts)
    return lease


async def _create(
    conn: AsyncConnection, lease: LeaseRecord, creates: list[ClaimInput]
) -> list[Conflict]:
    if not creates:
        return []
    ordered = sorted(creates, key=lambda c: (c.key.bucket_type, c.key.value))  # no deadlocks
    cursor = await conn.execute(
        "INSERT INTO claims (uuid, bucket_type, bucket_value, subject_type, subject_id, "
        "source_type, source_id, claim, user_data, cell_id, status, lease_uuid) "
        "SELECT gen_random_uuid(), t, v, st, sid, so, soid, cl, ud, %s, 'LEASE_CREATING', %s "
        "FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::bytea[], "
        "%s::jsonb[], %s::jsonb[]) WITH ORDINALITY AS batch (t, v, st, sid, so, soid, cl, ud, n) "
        "ORDER BY n "
        "ON CONFLICT (bucket_type, bucket_value) DO NOTHING RETURNING bucket_type, bucket_value",
        (
            lease.cell_id,
            lease.uuid,
            [c.key.bucket_type for c in ordered],
            [c.key.value for c in ordered],
            [c.subject_type for c in ordered],
            [c.subject_id for c in ordered],
            [c.source_type for c in ordered],
            [c.source_id for c in ordered],
            [_jsonb(c.claim) for c in ordered],
            [_jsonb(c.user_data) for c in ordered],
        ),
    )
    inserted = {ClaimKey(*row) for row in await cursor.fetchall()}
    taken = [c.key for c in ordered if c.key not in inserted]
    if not taken:
        return []
    existing = await _existing(conn, taken)
    conflicts = []
    for key in taken:
        row = existing.get(key)
        leased = row is not None and row[1] is not None
        reason = LEASED if leased else ALREADY_TAKEN
        owner = f" (cell {row[0]})" if row is not None else ""
        conflicts.append(
            Conflict(key, reason, f"{key} is {'leased' if leased else 'taken'}{owner}")
        )
    return conflicts


def _jsonb(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


async def _destroy(
    conn: AsyncConnection, lease: LeaseRecord, destroys: list[ClaimKey]
) -> list[Conflict]:
    if not destroys:
        return []
    ordered = sorted(destroys, key=lambda k: (k.bucket_type, k.value))
    cursor = await conn.execute(
        "UPDATE claims SET lease_uuid = %s, status = 'LEASE_DESTROYING', "
        "updated_at = clock_timestamp() "
        "WHERE (bucket_type, bucket_value) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
        "AND cell_id = %s AND lease_uuid IS NULL RETURNING bucket_type, bucket_value",
        (lease.uuid, [k.bucket_type for k in ordered], [k.value for k in ordered], lease.cell_id),
    )
    marked = {ClaimKey(*row) for row in await cursor.fetchall()}
    missing = [key for key in ordered if key not in marked]
    if not missing:
        return []
    existing = await _existing(conn, missing)
    conflicts = []
    for key in missing:
        row = existing.get(key)
        if row is None:
            conflicts.append(Conflict(key, NOT_FOUND, f"{key} is not claimed"))
        elif row[0] != lease.cell_id:
            conflicts.append(Conflict(key, NOT_OWNER, f"{key} belongs to cell {row[0]}"))
        else:
            conflicts.append(Conflict(key, LEASED, f"{key} is leased by another update"))
    return conflicts


async def _existing(conn: AsyncConnection, keys: list[ClaimKey]) -> dict[ClaimKey, tuple[int, Any]]:
    cursor = await conn.execute(
        "SELECT bucket_type, bucket_value, cell_id, lease_uuid FROM claims "
        "WHERE (bucket_type, bucket_value) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([k.bucket_type for k in keys], [k.value for k in keys]),
    )
    return {ClaimKey(row[0], row[1]): (row[2], row[3]) for row in await cursor.fetchall()}


async def lease_cell(conn: AsyncConnection, lease_uuid: uuid.UUID) -> int | None:
    """The cell that holds a lease, or None when there is no such lease (any more). Locks the
    lease until the transaction ends, so a concurrent commit and rollback apply one after the
    other and the second finds nothing to do."""
    cursor = await conn.execute(
        "SELECT cell_id FROM claim_leases WHERE uuid = %s FOR UPDATE", (lease_uuid,)
    )
    row = await cursor.fetchone()
    return row[0] if row else None


async def commit_update(conn: AsyncConnection, lease_uuid: uuid.UUID) -> list[ClaimKey]:
    """Make a lease's creates active and its destroys final; a no-op for an unknown lease.
    Returns the claims that are gone now."""
    cursor = await conn.execute(
        "DELETE FROM claims WHERE lease_uuid = %s AND status = 'LEASE_DESTROYING' "
        "RETURNING bucket_type, bucket_value",
        (lease_uuid,),
    )
    gone = [ClaimKey(*row) for row in await cursor.fetchall()]
    await conn.execute(
        "UPDATE claims SET lease_uuid = NULL, status = 'ACTIVE', updated_at = clock_timestamp() "
        "WHERE lease_uuid = %s AND status = 'LEASE_CREATING'",
        (lease_uuid,),
    )
    await conn.execute("DELETE FROM claim_leases WHERE uuid = %s", (lease_uuid,))
    return gone


async def rollback_update(conn: AsyncConnection, lease_uuid: uuid.UUID) -> list[ClaimKey]:
    """Undo a lease: drop its creates, re-activate its destroys; a no-op for an unknown lease.
    Returns the claims that are gone now."""
    cursor = await conn.execute(
        "DELETE FROM claims WHERE lease_uuid = %s AND status = 'LEASE_CREATING' "
        "RETURNING bucket_type, bucket_value",
        (lease_uuid,),
    )
    gone = [ClaimKey(*row) for row in await cursor.fetchall()]
    await conn.execute(
        "UPDATE claims SET lease_uuid = NULL, status = 'ACTIVE', updated_at = clock_timestamp() "
        "WHERE lease_uuid = %s AND status = 'LEASE_DESTROYING'",
        (lease_uuid,),
    )
    await conn.execute("DELETE FROM claim_leases WHERE uuid = %s", (lease_uuid,))
    return gone


# claims: reads -----------------------------------------------------------------------------


async def list_leases(
    conn: AsyncConnection,
    cell_id: int,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    created_after: datetime | None,
    limit: int,
) -> list[LeaseRecord]:
    """A page of a cell's leases in (created_at, uuid) order, after a cursor."""
    sql = "SELECT uuid, cell_id, created_at, updated_at FROM claim_leases WHERE cell_id = %s"
    params: list[Any] = [cell_id]
    if created_after is not None:
        sql += " AND created_at > %s"
        params.append(created_after)
    if after is not None:
        sql += " AND (created_at, uuid) > (%s, %s)"
        params += list(after)
    sql += " ORDER BY created_at, uuid LIMIT %s"
    params.append(limit)
    cursor = conn.cursor(row_factory=class_row(LeaseRecord))
    await cursor.execute(sql, params)
    return await cursor.fetchall()


async def list_records(
    conn: AsyncConnection,
    cell_id: int,
    *,
    source_type: str | None,
    bucket_types: list[str],
    source_id_gt: bytes | None,
    source_id_lte: bytes | None,
    limit: int,
) -> tuple[list[ClaimRecord], bool]:
    """A cell's claims in source-id order within (source_id_gt, source_id_lte]; True when the
    range holds more than this page.

    A page never splits the claims of one source row (a user's username and email), so a
    client that continues with `source_id_gt` = the last source id it saw reads every claim
    exactly once. Claims without a source id come first, all in the first page.
    """
    where = "cell_id = %s"
    params: list[Any] = [cell_id]
    if source_type:
        where += " AND source_type = %s"
        params.append(source_type)
    if bucket_types:
        where += " AND bucket_type = ANY(%s)"
        params.append(bucket_types)
    if source_id_gt is not None:
        where += " AND source_id > %s"
        params.append(source_id_gt)
    if source_id_lte is not None:
        where += " AND source_id <= %s"
        params.append(source_id_lte)
    order = " ORDER BY source_id NULLS FIRST, uuid"
    cursor = conn.cursor(row_factory=class_row(ClaimRecord))
    await cursor.execute(
        f"SELECT {_CLAIM_COLUMNS} FROM claims WHERE {where}{order} LIMIT %s",
        [*params, limit + 1],
    )
    rows = await cursor.fetchall()
    if len(rows) <= limit:
        return rows, False
    boundary = rows[limit].source_id
    page = [row for row in rows[:limit] if row.source_id != boundary]
    if not page:  # one source row holds more than `limit` claims: return all of them
        same = "source_id IS NULL" if boundary is None else "source_id = %s"
        await cursor.execute(
            f"SELECT {_CLAIM_COLUMNS} FROM claims WHERE {where} AND {same}{order}",
            params if boundary is None else [*params, boundary],
        )
        page = await cursor.fetchall()
    return page, True


async def get_record(conn: AsyncConnection, key: ClaimKey) -> ClaimRecord | None:
    cursor = conn.cursor(row_factory=class_row(ClaimRecord))
    await cursor.execute(
        f"SELECT {_CLAIM_COLUMNS} FROM claims WHERE bucket_type = %s AND bucket_value = %s",
        (key.bucket_type, key.value),
    )
    return await cursor.fetchone()


async def claim_owner(conn: AsyncConnection, key: ClaimKey) -> int | None:
    """The cell a claim routes to (a claim being created is routable at once)."""
    cursor = await conn.execute(
        "SELECT cell_id FROM claims WHERE bucket_type = %s AND bucket_value = %s",
        (key.bucket_type, key.value),
    )
    row = await cursor.fetchone()
    return row[0] if row else None


# rollouts ----------------------------------------------------------------------------------

_ROLLOUT_ROWS = (
    "SELECT r.id, r.key, r.name, r.versions, r.state, r.created_at, r.updated_at, c.cell_id, "
    "c.ring, c.state, c.applied_versions, c.error, c.updated_at "
    "FROM rollouts r LEFT JOIN rollout_cells c ON c.rollout_id = r.id "
)
MAX_ROLLOUTS = 100  # one page of list_rollouts


async def create_rollout(conn: AsyncConnection, draft: rules.Rollout) -> tuple[rules.Rollout, bool]:
    """(the rollout, created now). A key in use returns the rollout it names, as it is; a
    concurrent create with the same key waits for the first and then finds it."""
    cursor = await conn.execute(
        "INSERT INTO rollouts (key, name, versions, state) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        (draft.key, draft.name, list(draft.versions), draft.state),
    )
    row = await cursor.fetchone()
    if row is None:
        (existing,) = await _select_rollouts(conn, "WHERE r.key = %s", (draft.key,))
        return existing, False
    await conn.execute(
        "INSERT INTO rollout_cells (rollout_id, cell_id, ring) "
        "SELECT %s, cell_id, ring FROM unnest(%s::bigint[], %s::integer[]) AS m (cell_id, ring)",
        (row[0], [c.cell_id for c in draft.cells], [c.ring for c in draft.cells]),
    )
    return await get_rollout(conn, row[0]), True


async def get_rollout(conn: AsyncConnection, rollout_id: int) -> rules.Rollout | None:
    """A rollout and its cells, read in one statement (so from one snapshot)."""
    found = await _select_rollouts(conn, "WHERE r.id = %s", (rollout_id,))
    return found[0] if found else None


async def list_rollouts(conn: AsyncConnection, name: str | None) -> list[rules.Rollout]:
    """The newest MAX_ROLLOUTS rollouts, all or those with this name, newest first."""
    return await _select_rollouts(
        conn,
        "WHERE r.id IN (SELECT id FROM rollouts WHERE %s::text IS NULL OR name = %s "
        "ORDER BY id DESC LIMIT %s)",
        (name, name, MAX_ROLLOUTS),
    )


async def rollout_states(conn: AsyncConnection) -> dict[str, int]:
    """How many rollouts are in each state (for the metrics)."""
    cursor = await conn.execute("SELECT state, count(*) FROM rollouts GROUP BY state")
    return dict(await cursor.fetchall())


async def change_rollout(
    conn: AsyncConnection, rollout_id: int, change: Callable[[rules.Rollout], rules.Rollout]
) -> rules.Rollout | None:
    """Lock the rollout's row, apply `change` (a rule of topology.domain.rollouts) and store
    what it changed; None for an unknown rollout. Changes of one rollout (any of its cells)
    apply one after the other, each on the state the previous one left."""
    cursor = await conn.execute("SELECT id FROM rollouts WHERE id = %s FOR UPDATE", (rollout_id,))
    if await cursor.fetchone() is None:
        return None
    before = await get_rollout(conn, rollout_id)  # a new statement: sees the last commit
    after = change(before)
    if after == before:
        return before
    changed = [cell for cell in after.cells if cell not in before.cells]
    await conn.execute(
        "UPDATE rollouts SET state = %s, updated_at = now() WHERE id = %s", (after.state, after.id)
    )
    await _update_cells(conn, after.id, changed)
    return await get_rollout(conn, rollout_id)


async def _update_cells(
    conn: AsyncConnection, rollout_id: int, cells: Iterable[rules.CellProgress]
) -> None:
    for cell in cells:
        await conn.execute(
            "UPDATE rollout_cells SET state = %s, applied_versions = %s, error = %s, "
            "updated_at = now() WHERE rollout_id = %s AND cell_id = %s",
            (cell.state, list(cell.applied_versions), cell.error, rollout_id, cell.cell_id),
        )


async def _select_rollouts(
    conn: AsyncConnection, where: str, params: tuple[Any, ...]
) -> list[rules.Rollout]:
    cursor = await conn.execute(
        f"{_ROLLOUT_ROWS}{where} ORDER BY r.id DESC, c.ring, c.cell_id", params
    )
    rollouts: dict[int, rules.Rollout] = {}
    cells: dict[int, list[rules.CellProgress]] = {}
    for row in await cursor.fetchall():
        if row[0] not in rollouts:
            rollouts[row[0]] = rules.Rollout(
                id=row[0],
                key=row[1],
                name=row[2],
                versions=tuple(row[3]),
                state=row[4],
                cells=(),
                created_at=row[5],
                updated_at=row[6],
            )
            cells[row[0]] = []
        if row[7] is not None:
            cells[row[0]].append(
                rules.CellProgress(row[7], row[8], row[9], tuple(row[10]), row[11], row[12])
            )
    return [replace(r, cells=tuple(cells[r.id])) for r in rollouts.values()]
