"""Schemathesis against the Topology Service's own OpenAPI document, over real HTTP.

A real service (uvicorn, tests/topology/conftest.py's RunningServer) on a fresh PostgreSQL
database, seeded with a few claims, a lease and a rollout so that reads find something. For
every operation of /openapi.json, schemathesis generates requests, valid and invalid ones,
and sends them as the admin and as cell 1. Each answer must:

- not be a server error (`not_a_server_error`);
- have a status code the document declares (`status_code_conformance`);
- have the declared content type, headers and body schema (`content_type_conformance`,
  `response_headers_conformance`, `response_schema_conformance`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hardening.conftest import LONG, fuzz_settings
from tests.topology.conftest import TOKENS, RunningServer, cluster
from topology.api.app import create_app
from topology.client import Claim, TopologyClient
from topology.settings import TopologySettings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def topology_url(postgres_url: str) -> Iterator[str]:
    """A running Topology Service on a database of its own, seeded (one per module: starting
    one per operation would cost more than the fuzzing)."""
    name = f"cellsbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        server = RunningServer(psycopg.conninfo.make_conninfo(postgres_url, dbname=name))
        _seed(server.url)
        yield server.url
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed(url: str) -> None:
    """Something for reads to find: active claims, an open lease, a custom claim type and a
    rollout, with small ids that generated requests hit."""
    with (
        TopologyClient(url, TOKENS["cell1"]) as cell,
        TopologyClient(url, TOKENS["admin"]) as admin,
    ):
        claims = [
            Claim(
                "USERNAMES",
                "root",
                subject_type="USER",
                subject_id=1,
                source_type="RAILS_TABLE_USERS",
                source_id=(1).to_bytes(8, "big"),
            ),
            Claim("ROUTES", "gitlab-org/gitlab"),
        ]
        cell.commit_update(1, cell.begin_update(1, creates=claims))
        cell.begin_update(1, creates=[Claim("EMAILS", "leased@example.com")])
        admin.register_claim_type("CUSTOM_THING")
        admin.create_rollout("seed!1@abc", "seed", ["20240101000000", "20240102000000"])


# The document the service serves at /openapi.json (the fixture checks it is the same): loaded
# when the module is, for schemathesis to make one test per operation. (Its lazy loader,
# `schemathesis.pytest.from_fixture`, fails on pytest 9: it sets `Function._nodeid`.)
DOCUMENT = create_app(
    TopologySettings(database_url="postgresql://unused"), cluster=cluster()
).openapi()
# The coverage phase sends each operation's boundary and invalid values (about 900 requests in
# all): every run as the admin, only in the long mode as a cell.
as_admin = schemathesis.openapi.from_dict(DOCUMENT)
as_a_cell = schemathesis.openapi.from_dict(DOCUMENT)
as_a_cell.config.phases.coverage.enabled = LONG


@pytest.fixture(scope="module")
def service(topology_url: str) -> str:
    served = httpx.get(f"{topology_url}/openapi.json", timeout=10).json()
    assert served == DOCUMENT, "the service serves another document than the one tested"
    return topology_url


def _bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


@as_admin.parametrize()
@fuzz_settings(ci=12, long=300)
def test_every_operation_as_admin(case: Any, service: str) -> None:
    case.call_and_validate(base_url=service, headers=_bearer("admin"), checks=CHECKS, timeout=10)


@as_a_cell.parametrize()
@fuzz_settings(ci=6, long=200)
def test_every_operation_as_a_cell(case: Any, service: str) -> None:
    case.call_and_validate(base_url=service, headers=_bearer("cell1"), checks=CHECKS, timeout=10)
