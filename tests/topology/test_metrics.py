"""The Topology Service's operations, on a real server and PostgreSQL: `GET /metrics` without a
token, request and conflict counts, classify latency, rollouts by state at scrape time, and
the correlation id of each request (taken from the caller, answered back, in the logs)."""

from __future__ import annotations

import io
import json
import logging
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.topology.conftest import TOKENS, RunningServer
from topology.client import Claim, ClaimConflict, TopologyError
from topology.observability.context import reset_correlation_id, set_correlation_id
from topology.observability.logs import configure_logging


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    answer = httpx.get(f"{url}/metrics")  # no token
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_claim_conflicts_are_counted_by_kind(topology):
    one, two = topology.client("cell1"), topology.client("cell2")
    one.commit_update(1, one.begin_update(1, creates=[Claim("USERNAMES", "alice")]))
    with pytest.raises(ClaimConflict, match="ALREADY_TAKEN"):
        two.begin_update(2, creates=[Claim("USERNAMES", "alice")])
    one.begin_update(1, creates=[Claim("USERNAMES", "bob")])  # leased, not committed
    with pytest.raises(ClaimConflict, match="LEASED"):
        two.begin_update(2, creates=[Claim("USERNAMES", "bob")])
    with pytest.raises(ClaimConflict, match="NOT_OWNER"):
        two.begin_update(2, destroys=[Claim("USERNAMES", "alice")])
    lease = one.begin_update(1, creates=[Claim("USERNAMES", "carol")])
    with pytest.raises(TopologyError, match="LEASE_NOT_FOUND"):
        two.commit_update(2, lease)

    found = scrape(topology.url)
    conflicts = "cellsbot_topology_claim_conflicts_total"
    assert value(found, conflicts, kind="ALREADY_TAKEN") == 1
    assert value(found, conflicts, kind="LEASED") == 1
    assert value(found, conflicts, kind="NOT_OWNER") == 1
    assert value(found, conflicts, kind="LEASE_NOT_FOUND") == 1
    requests = "cellsbot_topology_http_requests_total"
    begin = "/v1/claims:beginUpdate"
    assert value(found, requests, method="POST", route=begin, status="200") == 3
    assert value(found, requests, method="POST", route=begin, status="409") == 1
    assert value(found, requests, method="POST", route=begin, status="400") == 2
    assert (
        value(
            found,
            "cellsbot_topology_http_request_duration_seconds_count",
            method="POST",
            route=begin,
        )
        == 6
    )


def test_requests_are_counted_by_route_template(topology):
    admin = topology.client("admin")
    admin.get_cell(1)
    admin.get_cell(2)
    with pytest.raises(TopologyError):
        admin.get_cell(99)
    assert httpx.get(f"{topology.url}/no/such/route").status_code == 404
    assert httpx.get(f"{topology.url}/v1/cells").status_code == 401  # no token
    httpx.request("PROPFIND", f"{topology.url}/v1/cells")  # WebDAV: not ours
    found = scrape(topology.url)
    requests = "cellsbot_topology_http_requests_total"
    one = "/v1/cells/{cell_id}"
    assert value(found, requests, method="GET", route=one, status="200") == 2
    assert value(found, requests, method="GET", route=one, status="404") == 1
    assert value(found, requests, method="GET", route="unmatched", status="404") == 1
    assert value(found, requests, method="GET", route="/v1/cells", status="401") == 1
    assert not any("99" in dict(labels).get("route", "") for _, labels in found)
    methods = {dict(labels).get("method") for name, labels in found if name == requests}
    assert methods == {"GET", "OTHER"}


def test_classify_latency_by_key_and_result(topology):
    router = topology.client("router")
    assert router.classify("SESSION_PREFIX", "cell2:abc") == "cell-2.example.com:443"
    assert router.classify("CELL_ID", "3") == "cell-3.example.com:443"
    with pytest.raises(TopologyError):
        router.classify(claim={"username": "nobody"})
    found = scrape(topology.url)
    name = "cellsbot_topology_classify_duration_seconds_count"
    assert value(found, name, by="SESSION_PREFIX", result="proxy") == 1
    assert value(found, name, by="CELL_ID", result="proxy") == 1
    assert value(found, name, by="claim", result="not_found") == 1


def test_rollouts_by_state_are_read_at_scrape_time(topology):
    admin = topology.client("admin")
    found = scrape(topology.url)
    assert value(found, "cellsbot_topology_rollouts", state="running") == 0
    first = admin.create_rollout("mr-1", "acme/app!1", ["20240101000000"])
    admin.create_rollout("mr-2", "acme/app!2", ["20240102000000"])
    admin.pause_rollout(first.id)
    found = scrape(topology.url)
    assert value(found, "cellsbot_topology_rollouts", state="running") == 1
    assert value(found, "cellsbot_topology_rollouts", state="paused") == 1
    assert value(found, "cellsbot_topology_rollouts", state="completed") == 0


def test_metrics_are_not_in_the_openapi_document(topology):
    assert "/metrics" not in httpx.get(f"{topology.url}/openapi.json").json()["paths"]


def test_each_request_has_a_correlation_id(topology):
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    mine = httpx.get(f"{topology.url}/v1/cells", headers={**headers, "X-Correlation-Id": "mine-1"})
    assert mine.headers["x-correlation-id"] == "mine-1"
    new = httpx.get(f"{topology.url}/v1/cells", headers=headers)
    assert uuid.UUID(new.headers["x-correlation-id"])
    odd = httpx.get(f"{topology.url}/v1/cells", headers={**headers, "X-Correlation-Id": "a b"})
    assert odd.headers["x-correlation-id"] != "a b"
    refused = httpx.get(f"{topology.url}/v1/cells", headers={"X-Correlation-Id": "mine-2"})
    assert (refused.status_code, refused.headers["x-correlation-id"]) == (401, "mine-2")


@pytest.fixture
def log_lines():
    """The JSON lines logged in this process during the test."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging(format="json", level="DEBUG", stream=stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_the_client_sends_the_correlation_id_and_the_service_logs_it(fresh_database, log_lines):
    server = RunningServer(fresh_database)
    try:
        admin_token = TOKENS["admin"]
        from topology.client import TopologyClient  # noqa: PLC0415

        with TopologyClient(server.url, admin_token) as admin:
            token = set_correlation_id("delivery-77")
            try:
                admin.create_rollout("mr-7", "acme/app!7", ["20240101000000"])
            finally:
                reset_correlation_id(token)
    finally:
        server.stop()
    created = [line for line in log_lines() if "created rollout" in line["message"]]
    assert [line["correlation_id"] for line in created] == ["delivery-77"]
    assert created[0]["logger"] == "topology.api.routes.rollouts"
    assert admin_token not in json.dumps(log_lines())
