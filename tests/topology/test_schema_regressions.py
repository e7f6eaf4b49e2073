"""What schemathesis found against the OpenAPI document, kept as plain regression tests.

(tests/hardening/test_topology_api_schema.py runs schemathesis.) Values PostgreSQL cannot
store are the caller's error (400, not 500), and answers holding int64 and bytes fields match
the document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis

from tests.topology.conftest import TOKENS
from topology.client import Claim


def _call(topology: Any, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    return httpx.request(method, f"{topology.url}{path}", headers=headers, timeout=10, **kwargs)


def _document(topology: Any) -> Any:
    return schemathesis.openapi.from_dict(httpx.get(f"{topology.url}/openapi.json").json())


@pytest.mark.parametrize(
    ("who", "path", "body"),
    [
        pytest.param(
            "admin",
            "/v1/rollouts",
            {"key": "k", "name": "n", "versions": ["\u0000"]},
            id="nul-in-a-rollout-version",
        ),
        pytest.param(
            "cell1",
            "/v1/claims:beginUpdate",
            {"cellId": 1, "createRecords": [{"bucket": {"type": "ROUTES", "value": "a\u0000b"}}]},
            id="nul-in-a-claim",
        ),
        pytest.param(
            "admin",
            "/v1/cells",
            {"id": str(2**70), "address": "cell-9.example.com:443", "sessionPrefix": "cell9:"},
            id="cell-id-beyond-int64",
        ),
    ],
)
def test_values_postgresql_cannot_store_are_400(
    topology: Any, who: str, path: str, body: dict[str, Any]
) -> None:
    response = _call(topology, who, "POST", path, json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["code"] == 3  # INVALID_ARGUMENT
    assert answer["details"][0]["reason"] == "INVALID_REQUEST"
    _document(topology)[path]["POST"].validate_response(response)


def test_records_with_int64_and_bytes_fields_match_the_document(topology: Any) -> None:
    """Subject ids, source ids and a claim's project id are int64 and bytes: strings in answers.
    The document used to declare them as request bodies have them (integers, `binary`)."""
    cell = topology.client("cell1")
    claim = Claim(
        "ROUTES",
        "gitlab-org/gitlab",
        subject_type="PROJECT",
        subject_id=278964,
        source_type="RAILS_TABLE_ROUTES",
        source_id=(7).to_bytes(8, "big"),
    )
    cell.commit_update(1, cell.begin_update(1, creates=[claim]))
    document = _document(topology)
    records = _call(topology, "cell1", "GET", "/v1/claims/records", params={"cellId": 1})
    assert records.status_code == 200, records.text
    assert records.json()["records"][0]["metadata"]["subject"]["id"] == "278964"
    document["/v1/claims/records"]["GET"].validate_response(records)
    params = {"bucket.type": "ROUTES", "bucket.value": "gitlab-org/gitlab"}
    record = _call(topology, "admin", "GET", "/v1/claims/record", params=params)
    assert record.status_code == 200, record.text
    document["/v1/claims/record"]["GET"].validate_response(record)


@pytest.mark.parametrize("name", ["sourceIdGt", "sourceIdLte"])
def test_a_source_id_bound_that_is_not_ascii_is_400(topology: Any, name: str) -> None:
    params = {"cellId": 1, name: "^\u0005,Ñè\u008do"}  # as schemathesis sent it
    response = _call(topology, "admin", "GET", "/v1/claims/records", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == f"{name} is not base64"
