"""Classify over HTTP: by first cell, session prefix, cell id and claim, with cache headers."""

from __future__ import annotations

import time

import pytest

from tests.topology.conftest import TOKENS, RunningServer
from topology.client import Claim, TopologyClient, TopologyError


def classify(topology, body):
    return topology.client("router")._http.post("/v1/classify", json=body)


@pytest.mark.parametrize(
    ("body", "address"),
    [
        ({"type": "FIRST_CELL"}, "cell-1.example.com:443"),
        ({"type": "SESSION_PREFIX", "value": "cell2:df1f0a9c"}, "cell-2.example.com:443"),
        ({"type": "SESSION_PREFIX", "value": "cell3:"}, "cell-3.example.com:443"),
        ({"type": "CELL_ID", "value": "3"}, "cell-3.example.com:443"),
    ],
)
def test_classify_by_type(topology, body, address):
    response = classify(topology, body)
    assert response.status_code == 200
    assert response.json() == {"action": "PROXY", "proxy": {"address": address}}
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["cache-tag"] == f"cell-{address[5]}"


def test_classify_by_claim_finds_the_owner_as_soon_as_it_is_leased(topology):
    cell = topology.client("cell2")
    lease = cell.begin_update(
        2, creates=[Claim("ROUTES", "gitlab-org/gitlab"), Claim("USERNAMES", "root")]
    )
    assert (
        topology.client("router").classify(claim={"route": "gitlab-org/gitlab"})
        == "cell-2.example.com:443"
    )
    cell.commit_update(2, lease)
    assert topology.client("cell1").classify(claim={"username": "root"}) == "cell-2.example.com:443"
    cell.commit_update(2, cell.begin_update(2, destroys=[Claim("USERNAMES", "root")]))
    assert classify(topology, {"claim": {"username": "root"}}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"type": "SESSION_PREFIX", "value": "cell7:abc"},
        {"type": "SESSION_PREFIX", "value": ""},
        {"type": "CELL_ID", "value": "42"},
        {"claim": {"route": "no/such/route"}},
        {"claim": {"projectId": "12345"}},
    ],
)
def test_unknown_keys_are_404_and_cacheable(topology, body):
    response = classify(topology, body)
    assert response.status_code == 404
    assert response.json()["code"] == 5
    assert response.json()["details"][0]["reason"] == "NOT_CLASSIFIED"
    assert response.headers["cache-control"] == "public, max-age=10"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"type": "UNSPECIFIED"},
        {"type": "ROUTE", "value": "x"},
        {"claim": {}},
        {"claim": {"route": "a", "username": "b"}},
        {"type": "CELL_ID", "claim": {"route": "a"}},
        {"claim": {"noSuchField": "a"}},
        {"type": "CELL_ID", "value": "1", "extra": 1},
    ],
)
def test_bad_requests_are_400_with_a_reason(topology, body):
    response = classify(topology, body)
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert response.json()["message"]


def test_malformed_json_is_400(topology):
    response = topology.client("router")._http.post(
        "/v1/classify", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_first_cell_skips_offline_cells_and_sees_admin_changes(topology):
    admin = topology.client("admin")
    admin.update_cell(1, state="offline")
    assert topology.client("router").classify("FIRST_CELL") == "cell-2.example.com:443"
    admin.update_cell(1, state="active")
    assert topology.client("router").classify("FIRST_CELL") == "cell-1.example.com:443"


def test_another_replica_forgets_a_removed_claim_within_its_owner_ttl(topology):
    other = RunningServer(topology.database_url, settings={"claim_owner_ttl": 0.3})
    try:
        with TopologyClient(other.url, TOKENS["router"]) as router:
            cell = topology.client("cell1")
            cell.commit_update(1, cell.begin_update(1, creates=[Claim("ROUTES", "moving")]))
            assert router.classify(claim={"route": "moving"}) == "cell-1.example.com:443"
            cell.commit_update(1, cell.begin_update(1, destroys=[Claim("ROUTES", "moving")]))
            time.sleep(0.35)
            with pytest.raises(TopologyError) as gone:
                router.classify(claim={"route": "moving"})
            assert gone.value.status == 404
    finally:
        other.stop()
