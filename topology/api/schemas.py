"""JSON bodies of the REST API, mapped from GitLab's gRPC messages as a gRPC gateway maps them.

As protojson does: field names in lowerCamelCase (snake_case is accepted on input), int64
values as strings (numbers accepted on input), enums by name, bytes in base64, timestamps in
RFC 3339, `types.v1.UUID` as `{"value": "…"}`.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from topology.domain.rollouts import MAX_ERROR_LENGTH


def _int64_in(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value


def _bytes_in(value: Any) -> Any:
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    return value


# Request schemas that also fit the answers: app._openapi puts the request models' schemas
# beside FastAPI's answer schemas under the same names (Metadata, Subject, …), so the request
# side must allow what answers hold (int64 as a string, bytes as base64).
Int64 = Annotated[
    int,
    BeforeValidator(_int64_in),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^-?[0-9]+$"}]},
        mode="validation",
    ),
]
Bytes = Annotated[
    bytes,
    BeforeValidator(_bytes_in),
    PlainSerializer(lambda v: base64.b64encode(v).decode(), return_type=str),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}, mode="validation"),
]
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat().replace("+00:00", "Z"), return_type=str),
]


class Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class UUID(Message):
    value: str


class SequenceRange(Message):
    minval: Int64
    maxval: Int64


class CellInfo(Message):
    id: Int64
    address: str
    session_prefix: str
    sequence_range: SequenceRange | None = None  # deprecated single range, as GitLab keeps it
    sequence_ranges: list[SequenceRange] = []
    ring: int = 0  # extension: rollout order
    state: str = "active"  # extension: active, draining, offline


class GetCellsResponse(Message):
    cells: list[CellInfo]


class GetCellResponse(Message):
    cell_info: CellInfo


class Bucket(Message):
    type: str
    value: str


class Subject(Message):
    type: str = "UNSPECIFIED"
    id: Int64 = 0


class Source(Message):
    type: str = "UNSPECIFIED"
    rails_primary_key_id: Bytes = b""


class Claim(Message):
    """`types.v1.Claim`: exactly one of the fields is set."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    route: str | None = None
    organization_path: str | None = None
    redirect_route: str | None = None
    username: str | None = None
    email: str | None = None
    project_id: Int64 | None = None
    namespace_id: Int64 | None = None
    gpg_key: str | None = None
    ssh_key: str | None = None
    user_id: Int64 | None = None
    organization_id: Int64 | None = None
    service_desk_custom_email: str | None = None
    gpg_key_fingerprint: str | None = None
    ssh_key_fingerprint: str | None = None
    snippet_id: Int64 | None = None
    pages_domain: str | None = None
    pages_unique_domain: str | None = None

    def only(self) -> tuple[str, str] | None:
        """(field, value) of the one field set; None when none or several are."""
        set_fields = [(k, v) for k, v in self.model_dump(exclude_none=True).items()]
        if len(set_fields) != 1:
            return None
        field, value = set_fields[0]
        return field, str(value)


class Metadata(Message):
    bucket: Bucket
    subject: Subject = Subject()
    source: Source = Source()
    user_data: dict[str, Any] | None = None  # google.protobuf.Any as JSON, kept as given
    claim: Claim | None = None


class Record(Message):
    uuid: UUID
    metadata: Metadata
    cell_id: Int64
    status: str
    lease_uuid: UUID | None = None
    created_at: Timestamp
    updated_at: Timestamp


class LeaseRecord(Message):
    uuid: UUID
    created_at: Timestamp
    updated_at: Timestamp


class BeginUpdateRequest(Message):
    create_records: list[Metadata] = []
    destroy_records: list[Metadata] = []
    cell_id: Int64


class BeginUpdateResponse(Message):
    cell_id: Int64
    lease_uuid: UUID


class LeaseRequest(Message):
    """CommitUpdateRequest and RollbackUpdateRequest."""

    cell_id: Int64
    lease_uuid: UUID


class Empty(Message):
    pass


class AnyCursor(Message):
    """`google.protobuf.Any` holding an opaque page cursor."""

    type_url: str = Field(
        default="type.googleapis.com/cellsbot.topology.v1.LeaseCursor", alias="@type"
    )
    value: str


class ListLeasesResponse(Message):
    leases: list[LeaseRecord]
    next: AnyCursor | None = None


class ListRecordsResponse(Message):
    records: list[Record]
    truncated: bool


class GetRecordResponse(Message):
    record: Record
    cell_info: CellInfo | None = None


class ClassifyRequest(Message):
    type: str = "UNSPECIFIED"  # FIRST_CELL, SESSION_PREFIX, CELL_ID
    value: str = ""
    claim: Claim | None = None


class ProxyInfo(Message):
    address: str


class ClassifyResponse(Message):
    action: str = "PROXY"
    proxy: ProxyInfo


class NewCellRequest(Message):
    """Administration: register a cell; its first sequence range is allocated."""

    id: Int64
    address: str
    session_prefix: str
    ring: int = 0
    state: str = "active"
    range_size: Int64 | None = None


class ExtendRangesRequest(Message):
    size: Int64 | None = None


class CellStateRequest(Message):
    state: str | None = None
    ring: int | None = None


class ClaimType(Message):
    name: str
    number: int
    builtin: bool = False
    state: str = "active"  # proposed: registered, not usable in BeginUpdate yet


class ClaimTypesResponse(Message):
    claim_types: list[ClaimType]


class RegisterClaimTypeRequest(Message):
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,62}$")
    state: Literal["proposed", "active"] = "proposed"


class NewRolloutRequest(Message):
    """Administration: roll out merged migration `versions`, in this order, to every cell that is
    not offline. `key` makes the create idempotent (e.g. `gitlab-org/gitlab!42@<merge sha>`)."""

    key: str = Field(min_length=1, max_length=500)
    name: str = Field(min_length=1, max_length=500)
    versions: list[str] = Field(min_length=1, max_length=1000)


class RolloutCell(Message):
    """One cell's part in a rollout: `ring` as it was when the rollout was created; `state`
    pending, running, applied or failed; `error` (failed only) is `<version>: <message>`."""

    cell_id: Int64
    ring: int
    state: str
    applied_versions: list[str]
    error: str | None = None
    updated_at: Timestamp


class Rollout(Message):
    """A rollout: `state` running, paused, halted or completed; `currentRing` is the wave that
    may apply now (the lowest ring with a cell not applied), null once every cell applied."""

    id: Int64
    key: str
    name: str
    versions: list[str]
    state: str
    current_ring: int | None
    cells: list[RolloutCell]
    created_at: Timestamp
    updated_at: Timestamp


class ListRolloutsResponse(Message):
    rollouts: list[Rollout]


class RolloutGate(Message):
    """Whether a cell may apply now. `reason` is `OPEN`, or why not: `NOT_YOUR_WAVE`,
    `ROLLOUT_PAUSED`, `ROLLOUT_HALTED`, `ROLLOUT_COMPLETED`, `CELL_FAILED`, `CELL_APPLIED`;
    `state` is the rollout's."""

    allowed: bool
    reason: str
    message: str
    pending_versions: list[str]
    ring: int
    current_ring: int | None
    state: str


class RolloutStatusRequest(Message):
    """A cell's report on one version: `running` (started), `applied` or `failed` (with the
    `error`, at most 2000 characters)."""

    version: str
    state: Literal["running", "applied", "failed"]
    error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)


class RolloutStatusResponse(Message):
    """The reporting cell's entry after the report, and the rollout's state."""

    rollout_id: Int64
    rollout_state: str
    current_ring: int | None
    cell: RolloutCell


class Status(Message):
    """`google.rpc.Status`: every error answer. `details` holds a `google.rpc.ErrorInfo` whose
    `reason` clients can switch on (ALREADY_TAKEN, LEASED, WRONG_CELL, …)."""

    code: int
    message: str
    details: list[dict[str, Any]] = []
