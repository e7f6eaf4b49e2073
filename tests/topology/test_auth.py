"""Who may call what: the full matrix of routes and callers, and what a bad token gets."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.topology.conftest import TOKENS

CELL_BODY = {"cellId": "1", "leaseUuid": {"value": "00000000-0000-4000-8000-000000000000"}}
BEGIN = {"cellId": "1", "createRecords": [{"bucket": {"type": "USERNAMES", "value": "auth-user"}}]}
# (method, path, body or query, callers allowed); every other caller gets 403
ROUTES = [
    ("GET", "/v1/cells", None, {"cell1", "cell2", "router", "admin"}),
    ("GET", "/v1/cells/1", None, {"cell1", "cell2", "router", "admin"}),
    ("GET", "/v1/claimTypes", None, {"cell1", "cell2", "router", "admin"}),
    ("POST", "/v1/classify", {"type": "FIRST_CELL"}, {"cell1", "cell2", "router", "admin"}),
    ("POST", "/v1/claims:beginUpdate", BEGIN, {"cell1", "admin"}),
    ("POST", "/v1/claims:commitUpdate", CELL_BODY, {"cell1", "admin"}),
    ("POST", "/v1/claims:rollbackUpdate", CELL_BODY, {"cell1", "admin"}),
    ("GET", "/v1/claims/leases?cellId=1", None, {"cell1", "admin"}),
    ("GET", "/v1/claims/records?cellId=1", None, {"cell1", "admin"}),
    ("GET", "/v1/claims/record?bucket.type=USERNAMES&bucket.value=auth-user", None, {"admin"}),
    ("POST", "/v1/cells", {"id": "9", "address": "c9:443", "sessionPrefix": "cell9:"}, {"admin"}),
    ("POST", "/v1/cells/3:extendRanges", {}, {"admin"}),
    ("PATCH", "/v1/cells/3", {"ring": 5}, {"admin"}),
    ("POST", "/v1/claimTypes", {"name": "AUTH_TYPE"}, {"admin"}),
    ("POST", "/v1/claimTypes/USERNAMES:activate", None, {"admin"}),
    ("DELETE", "/v1/claimTypes/NOT_REGISTERED", None, {"admin"}),
]
CALLERS = ("cell1", "cell2", "router", "admin")


def call(topology, method, path, body, headers):
    return httpx.request(method, topology.url + path, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_the_auth_matrix(topology, method, path, body, allowed):
    for caller in CALLERS:
        response = call(topology, method, path, body, {"Authorization": f"Bearer {TOKENS[caller]}"})
        if caller in allowed:
            assert response.status_code not in (401, 403), (caller, response.text)
        else:
            assert response.status_code == 403, (caller, response.text)
            error = response.json()
            assert error["code"] == 7
            reason = error["details"][0]["reason"]
            assert reason == (
                "WRONG_CELL"
                if caller == "cell2" and "claims" in path and "record?" not in path
                else "FORBIDDEN_ROLE"
            )


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer not-a-token-of-anyone"},
    {"Authorization": f"Basic {TOKENS['admin']}"},
    {"Authorization": "Bearer"},
    {"Authorization": f"Bearer {TOKENS['admin'][:-1]}"},
]


def test_no_or_bad_token_is_401_everywhere(topology):
    for method, path, body, _ in ROUTES:
        for headers in BAD_HEADERS:
            response = call(topology, method, path, body, headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["code"] == 16


def test_health_needs_no_token(topology):
    assert httpx.get(topology.url + "/healthz").json() == {"status": "alive"}
    assert httpx.get(topology.url + "/readyz").json() == {"status": "ready"}


def test_a_cell_cannot_act_for_another_cell(topology):
    response = call(
        topology,
        "POST",
        "/v1/claims:beginUpdate",
        {**BEGIN, "cellId": "2"},
        {"Authorization": f"Bearer {TOKENS['cell1']}"},
    )
    assert response.status_code == 403
    assert response.json()["details"][0]["reason"] == "WRONG_CELL"
    assert "cell 1 may not act for cell 2" in response.json()["message"]


def test_tokens_are_never_logged(topology, caplog):
    caplog.set_level(logging.DEBUG)
    call(topology, "GET", "/v1/cells", None, {"Authorization": f"Bearer {TOKENS['router']}"})
    call(topology, "GET", "/v1/cells", None, {"Authorization": "Bearer wrong-token-0123456789"})
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert TOKENS["router"] not in text
    assert "wrong-token-0123456789" not in text
    assert TOKENS["admin"] not in repr(topology.server.server.config.app.state.topology.cluster)


def test_the_bearer_scheme_is_case_insensitive(topology):
    for scheme in ("bearer", "BEARER", "Bearer"):
        headers = {"Authorization": f"{scheme} {TOKENS['router']}"}
        assert call(topology, "GET", "/v1/cells", None, headers).status_code == 200
