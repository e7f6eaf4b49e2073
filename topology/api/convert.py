"""Domain objects to API messages."""

from __future__ import annotations

from topology.api import schemas
from topology.cluster import Cell
from topology.storage.repository import ClaimRecord, LeaseRecord


def cell_info(cell: Cell) -> schemas.CellInfo:
    ranges = [schemas.SequenceRange(minval=r.minval, maxval=r.maxval) for r in cell.sequence_ranges]
    return schemas.CellInfo(
        id=cell.id,
        address=cell.address,
        session_prefix=cell.session_prefix,
        sequence_range=ranges[0] if ranges else None,
        sequence_ranges=ranges,
        ring=cell.ring,
        state=cell.state,
    )


def record(row: ClaimRecord) -> schemas.Record:
    metadata = schemas.Metadata(
        bucket=schemas.Bucket(type=row.bucket_type, value=row.bucket_value),
        subject=schemas.Subject(type=row.subject_type or "UNSPECIFIED", id=row.subject_id or 0),
        source=schemas.Source(
            type=row.source_type or "UNSPECIFIED", rails_primary_key_id=row.source_id or b""
        ),
        claim=schemas.Claim(**row.claim) if row.claim else None,
        user_data=row.user_data,
    )
    return schemas.Record(
        uuid=schemas.UUID(value=str(row.uuid)),
        metadata=metadata,
        cell_id=row.cell_id,
        status=row.status,
        lease_uuid=schemas.UUID(value=str(row.lease_uuid)) if row.lease_uuid else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def lease(row: LeaseRecord) -> schemas.LeaseRecord:
    return schemas.LeaseRecord(
        uuid=schemas.UUID(value=str(row.uuid)), created_at=row.created_at, updated_at=row.updated_at
    )
