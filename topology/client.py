"""A typed client of the Topology Service's REST API (used by tests, benchmarks and the worker).

    client = TopologyClient("http://127.0.0.1:8070", token=os.environ["TOKEN"])
    lease = client.begin_update(1, creates=[Claim("USERNAMES", "alice", source_id=b"\\x01")])
    client.commit_update(1, lease)

Errors are TopologyError with the gRPC code, HTTP status and ErrorInfo reason of the answer;
ClaimConflict (a TopologyError) for BeginUpdate's ALREADY_TAKEN, LEASED, NOT_OWNER, … answers.

Each request carries the caller's correlation id (`X-Correlation-Id`) and, when tracing is on,
its span's context (`traceparent`), and is traced as a client span.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from topology.api import schemas
from topology.observability import tracing
from topology.observability.context import CORRELATION_HEADER, correlation_id

_ID = re.compile(r"/\d+(?=/|:|$)")


class TopologyError(Exception):
    """The service answered with an error."""

    def __init__(self, status: int, body: dict[str, Any], headers: httpx.Headers) -> None:
        self.status = status
        self.code = body.get("code")
        self.message = body.get("message", "")
        info = next(
            (d for d in body.get("details", []) if d.get("@type", "").endswith("ErrorInfo")), {}
        )
        self.reason: str | None = info.get("reason")
        self.metadata: dict[str, str] = info.get("metadata", {})
        retry = headers.get("retry-after")
        self.retry_after = float(retry) if retry else None
        super().__init__(f"{status} {self.reason or ''}: {self.message}".strip())


class ClaimConflict(TopologyError):
    """BeginUpdate was refused; `reason` says why and `retryable` whether to try again later."""

    @property
    def retryable(self) -> bool:
        return self.reason == "LEASED"

    @property
    def claims(self) -> list[str]:
        """The claims at fault, as "BUCKET_TYPE:value"."""
        return json.loads(self.metadata.get("claims", "[]"))


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim to create or destroy, with GitLab's metadata."""

    bucket_type: str
    value: str
    subject_type: str = "UNSPECIFIED"
    subject_id: int = 0
    source_type: str = "UNSPECIFIED"
    source_id: bytes = b""

    def metadata(self) -> dict[str, Any]:
        return {
            "bucket": {"type": self.bucket_type, "value": self.value},
            "subject": {"type": self.subject_type, "id": str(self.subject_id)},
            "source": {
                "type": self.source_type,
                "railsPrimaryKeyId": base64.b64encode(self.source_id).decode(),
            },
        }


class TopologyClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TopologyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # cells ------------------------------------------------------------------------------------

    def get_cells(self) -> list[schemas.CellInfo]:
        return schemas.GetCellsResponse.model_validate(self._call("GET", "/v1/cells")).cells

    def get_cell(self, cell_id: int) -> schemas.CellInfo:
        return schemas.GetCellResponse.model_validate(
            self._call("GET", f"/v1/cells/{cell_id}")
        ).cell_info

    def add_cell(
        self,
        cell_id: int,
        address: str,
        session_prefix: str,
        *,
        ring: int = 0,
        state: str = "active",
        range_size: int | None = None,
    ) -> schemas.CellInfo:
        body = {
            "id": str(cell_id),
            "address": address,
            "sessionPrefix": session_prefix,
            "ring": ring,
            "state": state,
        }
        if range_size is not None:
            body["rangeSize"] = str(range_size)
        return schemas.GetCellResponse.model_validate(
            self._call("POST", "/v1/cells", json=body)
        ).cell_info

    def extend_ranges(self, cell_id: int, size: int | None = None) -> schemas.CellInfo:
        body = {} if size is None else {"size": str(size)}
        answer = self._call("POST", f"/v1/cells/{cell_id}:extendRanges", json=body)
        return schemas.GetCellResponse.model_validate(answer).cell_info

    def update_cell(
        self, cell_id: int, *, state: str | None = None, ring: int | None = None
    ) -> schemas.CellInfo:
        body = {k: v for k, v in (("state", state), ("ring", ring)) if v is not None}
        answer = self._call("PATCH", f"/v1/cells/{cell_id}", json=body)
        return schemas.GetCellResponse.model_validate(answer).cell_info

    # classify ---------------------------------------------------------------------------------

    def classify(
        self, type: str = "UNSPECIFIED", value: str = "", *, claim: dict[str, Any] | None = None
    ) -> str:
        """The address of the cell that serves the key (TopologyError 404 when none does)."""
        body: dict[str, Any] = {"type": type, "value": value}
        if claim is not None:
            body = {"claim": claim}
        return schemas.ClassifyResponse.model_validate(
            self._call("POST", "/v1/classify", json=body)
        ).proxy.address

    # claims -----------------------------------------------------------------------------------

    def begin_update(
        self, cell_id: int, *, creates: Sequence[Claim] = (), destroys: Sequence[Claim] = ()
    ) -> str:
        """Lease the batch; the lease UUID. ClaimConflict when the batch cannot apply."""
        body = {
            "cellId": str(cell_id),
            "createRecords": [c.metadata() for c in creates],
            "destroyRecords": [c.metadata() for c in destroys],
        }
        answer = self._call("POST", "/v1/claims:beginUpdate", json=body, conflicts=True)
        return schemas.BeginUpdateResponse.model_validate(answer).lease_uuid.value

    def commit_update(self, cell_id: int, lease_uuid: str) -> None:
        self._call("POST", "/v1/claims:commitUpdate", json=_lease(cell_id, lease_uuid))

    def rollback_update(self, cell_id: int, lease_uuid: str) -> None:
        self._call("POST", "/v1/claims:rollbackUpdate", json=_lease(cell_id, lease_uuid))

    def list_leases(
        self, cell_id: int, *, created_after: datetime | None = None, limit: int = 100
    ) -> Iterator[schemas.LeaseRecord]:
        """Every lease of the cell, following the `next` cursor page by page."""
        params: dict[str, Any] = {"cellId": cell_id, "limit": limit}
        if created_after is not None:
            params["createdAfter"] = created_after.isoformat()
        while True:
            page = schemas.ListLeasesResponse.model_validate(
                self._call("GET", "/v1/claims/leases", params=params)
            )
            yield from page.leases
            if page.next is None:
                return
            params["next"] = page.next.value

    def list_records(
        self,
        cell_id: int,
        *,
        source_type: str | None = None,
        bucket_types: Sequence[str] = (),
        source_id_gt: bytes | None = None,
        source_id_lte: bytes | None = None,
        limit: int | None = None,
    ) -> schemas.ListRecordsResponse:
        """One page of the cell's claims in a source-id range (see `truncated`)."""
        params: dict[str, Any] = {"cellId": cell_id, "bucketTypes": list(bucket_types)}
        if source_type:
            params["sourceType"] = source_type
        if source_id_gt is not None:
            params["sourceIdGt"] = base64.b64encode(source_id_gt).decode()
        if source_id_lte is not None:
            params["sourceIdLte"] = base64.b64encode(source_id_lte).decode()
        if limit is not None:
            params["limit"] = limit
        return schemas.ListRecordsResponse.model_validate(
            self._call("GET", "/v1/claims/records", params=params)
        )

    def all_records(self, cell_id: int, **filters: Any) -> Iterator[schemas.Record]:
        """Every claim of the cell in source-id order, continuing while a page is truncated."""
        after = filters.pop("source_id_gt", None)
        while True:
            page = self.list_records(cell_id, source_id_gt=after, **filters)
            yield from page.records
            if not page.truncated:
                return
            after = page.records[-1].metadata.source.rails_primary_key_id

    def get_record(self, bucket_type: str, value: str) -> schemas.GetRecordResponse:
        params = {"bucket.type": bucket_type, "bucket.value": value}
        return schemas.GetRecordResponse.model_validate(
            self._call("GET", "/v1/claims/record", params=params)
        )

    # claim types ------------------------------------------------------------------------------

    def claim_types(self) -> list[schemas.ClaimType]:
        return schemas.ClaimTypesResponse.model_validate(
            self._call("GET", "/v1/claimTypes")
        ).claim_types

    def register_claim_type(self, name: str, *, state: str = "proposed") -> schemas.ClaimType:
        return schemas.ClaimType.model_validate(
            self._call("POST", "/v1/claimTypes", json={"name": name, "state": state})
        )

    def activate_claim_type(self, name: str) -> schemas.ClaimType:
        return schemas.ClaimType.model_validate(
            self._call("POST", f"/v1/claimTypes/{name}:activate")
        )

    def drop_claim_type(self, name: str) -> None:
        self._call("DELETE", f"/v1/claimTypes/{name}")

    # rollouts ---------------------------------------------------------------------------------

    def create_rollout(self, key: str, name: str, versions: Sequence[str]) -> schemas.Rollout:
        """Roll `versions` out, ring by ring; the same `key` again returns the existing rollout
        (TopologyError 409 `ROLLOUT_KEY_IN_USE` when it has other versions)."""
        body = {"key": key, "name": name, "versions": list(versions)}
        return schemas.Rollout.model_validate(self._call("POST", "/v1/rollouts", json=body))

    def get_rollout(self, rollout_id: int) -> schemas.Rollout:
        return schemas.Rollout.model_validate(self._call("GET", f"/v1/rollouts/{rollout_id}"))

    def list_rollouts(self, name: str | None = None) -> list[schemas.Rollout]:
        """The newest 100 rollouts (with `name`: only those), newest first."""
        params = {} if name is None else {"name": name}
        answer = self._call("GET", "/v1/rollouts", params=params)
        return schemas.ListRolloutsResponse.model_validate(answer).rollouts

    def rollout_gate(self, rollout_id: int, cell_id: int) -> schemas.RolloutGate:
        """Whether the cell may apply now, and the versions it has left."""
        answer = self._call("GET", f"/v1/rollouts/{rollout_id}/cells/{cell_id}/gate")
        return schemas.RolloutGate.model_validate(answer)

    def report_rollout_status(
        self,
        rollout_id: int,
        cell_id: int,
        version: str,
        state: str,
        error: str | None = None,
    ) -> schemas.RolloutStatusResponse:
        """Report `version` running, applied or failed (with `error`) on the cell."""
        body = {"version": version, "state": state}
        if error is not None:
            body["error"] = error
        answer = self._call("POST", f"/v1/rollouts/{rollout_id}/cells/{cell_id}/status", json=body)
        return schemas.RolloutStatusResponse.model_validate(answer)

    def pause_rollout(self, rollout_id: int) -> schemas.Rollout:
        return schemas.Rollout.model_validate(
            self._call("POST", f"/v1/rollouts/{rollout_id}:pause")
        )

    def resume_rollout(self, rollout_id: int) -> schemas.Rollout:
        return schemas.Rollout.model_validate(
            self._call("POST", f"/v1/rollouts/{rollout_id}:resume")
        )

    def retry_rollout_cell(self, rollout_id: int, cell_id: int) -> schemas.Rollout:
        """A failed cell is pending again; a halted rollout without other failures runs again."""
        answer = self._call("POST", f"/v1/rollouts/{rollout_id}/cells/{cell_id}:retry")
        return schemas.Rollout.model_validate(answer)

    # transport --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, conflicts: bool = False, **kwargs: Any) -> Any:
        route = _ID.sub("/:id", path)
        attributes = {"http.request.method": method, "url.template": route}
        with tracing.span(
            f"Topology {method} {route}", kind=tracing.SpanKind.CLIENT, attributes=attributes
        ) as span:
            try:
                response = self._http.request(method, path, headers=_context_headers(), **kwargs)
            except httpx.TransportError as error:  # no answer: as retryable as a 503
                message = f"could not reach the Topology Service: {error!r}"
                raise TopologyError(
                    503, {"code": 14, "message": message}, httpx.Headers()
                ) from error
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500:
                    tracing.fail(span, str(response.status_code))
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:200]}
        error = (
            ClaimConflict
            if conflicts and response.status_code in (400, 404, 409)
            else TopologyError
        )
        raise error(response.status_code, body if isinstance(body, dict) else {}, response.headers)


def _context_headers() -> dict[str, str] | None:
    """The correlation id and trace context of the work this call is part of."""
    headers: dict[str, str] = {}
    found = correlation_id()
    if found:
        headers[CORRELATION_HEADER] = found
    tracing.inject(headers)
    return headers or None


def _lease(cell_id: int, lease_uuid: str) -> dict[str, Any]:
    return {"cellId": str(cell_id), "leaseUuid": {"value": lease_uuid}}
