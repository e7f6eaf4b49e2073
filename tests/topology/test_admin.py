"""Administration: cells and sequence ranges, and the claim-type registry."""

from __future__ import annotations

import asyncio
import itertools
import threading

import psycopg
import pytest

from tests.topology.conftest import CLUSTER, TOKENS, RunningServer, cluster
from topology.client import Claim, ClaimConflict, TopologyClient, TopologyError
from topology.cluster import ClusterError
from topology.storage import repository

NEXT_FREE = 1_200_000_000_000  # after cell 3's range in the test cluster


def test_get_cells_and_get_cell(topology):
    cells = topology.client("router").get_cells()
    assert [(c.id, c.session_prefix, c.ring, c.state) for c in cells] == [
        (1, "cell1:", 0, "active"),
        (2, "cell2:", 1, "active"),
        (3, "cell3:", 2, "active"),
    ]
    one = topology.client("cell1").get_cell(1)
    assert [(r.minval, r.maxval) for r in one.sequence_ranges] == [(1, 999_999_999_999)]
    raw = topology.client("cell1")._http.get("/v1/cells/1").json()["cellInfo"]
    assert raw["sequenceRanges"] == [{"minval": "1", "maxval": "999999999999"}]  # int64 as strings
    assert raw["sequenceRange"] == raw["sequenceRanges"][0]
    with pytest.raises(TopologyError) as missing:
        topology.client("cell1").get_cell(77)
    assert (missing.value.status, missing.value.reason) == (404, "CELL_NOT_FOUND")


def test_a_new_cell_gets_the_next_range_and_can_be_extended(topology):
    admin = topology.client("admin")
    four = admin.add_cell(4, "cell-4.example.com:443", "cell4:", ring=3)
    assert [(r.minval, r.maxval) for r in four.sequence_ranges] == [
        (NEXT_FREE, NEXT_FREE + 10**11 - 1)
    ]
    five = admin.add_cell(5, "cell-5.example.com:443", "cell5:", range_size=5 * 10**11)
    assert five.sequence_ranges[0].minval == NEXT_FREE + 10**11
    assert five.sequence_ranges[0].maxval - five.sequence_ranges[0].minval + 1 == 5 * 10**11
    small = admin.add_cell(6, "cell-6.example.com:443", "cell6:", range_size=10)
    assert small.sequence_ranges[0].maxval - small.sequence_ranges[0].minval + 1 == 10**11  # raised
    extended = admin.extend_ranges(4)
    assert len(extended.sequence_ranges) == 2
    assert extended.sequence_ranges[1].minval == small.sequence_ranges[0].maxval + 1
    assert (
        topology.client("router").classify("SESSION_PREFIX", "cell4:x") == "cell-4.example.com:443"
    )


def test_new_cells_are_validated(topology):
    admin = topology.client("admin")
    with pytest.raises(TopologyError) as exists:
        admin.add_cell(2, "x:443", "cellx:")
    assert (exists.value.status, exists.value.reason) == (409, "CELL_EXISTS")
    with pytest.raises(TopologyError) as prefix:
        admin.add_cell(8, "x:443", "cell2:")
    assert (prefix.value.status, prefix.value.reason) == (400, "INVALID_CLUSTER")
    with pytest.raises(TopologyError) as nested:
        admin.add_cell(8, "x:443", "cell")  # a prefix of "cell1:": the router could not tell
    assert nested.value.reason == "INVALID_CLUSTER"
    with pytest.raises(TopologyError) as state:
        admin.add_cell(8, "x:443", "cell8:", state="gone")
    assert state.value.status == 400
    with pytest.raises(TopologyError) as exhausted:
        admin.add_cell(8, "x:443", "cell8:", range_size=2**57)
    assert "exhausted" in exhausted.value.message
    assert [c.id for c in admin.get_cells()] == [1, 2, 3]


def test_concurrent_new_cells_get_disjoint_ranges(topology):
    results = {}

    def add(cell_id):
        results[cell_id] = topology.client("admin").add_cell(
            cell_id, f"c{cell_id}:443", f"cell{cell_id}:"
        )

    threads = [threading.Thread(target=add, args=(i,)) for i in range(10, 18)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ranges = sorted((r.minval, r.maxval) for cell in results.values() for r in cell.sequence_ranges)
    assert len(ranges) == 8
    assert all(high < low for (_, high), (low, _) in itertools.pairwise(ranges))
    assert ranges[0][0] == NEXT_FREE


def test_update_cell_state_and_ring(topology):
    admin = topology.client("admin")
    cell = admin.update_cell(2, state="draining", ring=4)
    assert (cell.state, cell.ring) == ("draining", 4)
    assert topology.client("cell1").get_cell(2).state == "draining"
    with pytest.raises(TopologyError):
        admin.update_cell(2, state="sleeping")
    with pytest.raises(TopologyError) as missing:
        admin.update_cell(99, ring=1)
    assert missing.value.status == 404


def test_cell_file_values_win_at_restart_and_admin_cells_stay(topology):
    admin = topology.client("admin")
    admin.update_cell(2, ring=9)
    admin.add_cell(4, "cell-4:443", "cell4:")
    topology.restart()
    cells = {c.id: c for c in topology.client("admin").get_cells()}
    assert cells[2].ring == 1  # the cluster file says ring 1
    assert 4 in cells


def test_claim_types_catalogue_and_registry(topology):
    admin, cell = topology.client("admin"), topology.client("cell1")
    names = {t.name: t for t in cell.claim_types()}
    assert names["USERNAMES"].number == 4
    assert names["USERNAMES"].builtin
    assert names["PAGES_UNIQUE_DOMAINS"].number == 18

    proposed = admin.register_claim_type("PACKAGE_NAMES")
    assert (proposed.number, proposed.state, proposed.builtin) == (1000, "proposed", False)
    assert admin.register_claim_type("PACKAGE_NAMES") == proposed  # idempotent
    assert admin.register_claim_type("CONTAINER_IMAGES", state="active").number == 1001
    with pytest.raises(ClaimConflict, match="unknown bucket type 'PACKAGE_NAMES'"):
        cell.begin_update(1, creates=[Claim("PACKAGE_NAMES", "@acme/x")])

    assert admin.activate_claim_type("PACKAGE_NAMES").state == "active"
    cell.commit_update(1, cell.begin_update(1, creates=[Claim("PACKAGE_NAMES", "@acme/x")]))
    with pytest.raises(TopologyError) as in_use:
        admin.drop_claim_type("PACKAGE_NAMES")
    assert (in_use.value.status, in_use.value.reason) == (400, "CLAIM_TYPE_IN_USE")

    admin.register_claim_type("DROPPED_TYPE")
    admin.drop_claim_type("DROPPED_TYPE")
    assert "DROPPED_TYPE" not in {t.name for t in admin.claim_types()}
    with pytest.raises(TopologyError) as missing:
        admin.drop_claim_type("DROPPED_TYPE")
    assert missing.value.status == 404
    with pytest.raises(TopologyError) as builtin:
        admin.drop_claim_type("USERNAMES")
    assert builtin.value.reason == "CLAIM_TYPE_IN_USE"
    with pytest.raises(TopologyError) as bad_name:
        admin.register_claim_type("lower-case")
    assert bad_name.value.status == 400


def test_a_replica_sees_a_cell_another_replica_added_at_once(topology):
    other = RunningServer(topology.database_url, settings={"cells_ttl": 3600})
    try:
        with TopologyClient(other.url, TOKENS["router"]) as router:
            assert router.classify("FIRST_CELL") == "cell-1.example.com:443"  # caches the cells
            admin = topology.client("admin")
            admin.add_cell(4, "cell-4.example.com:443", "cell4:")
            admin.commit_update(4, admin.begin_update(4, creates=[Claim("ROUTES", "on-four")]))
            assert router.classify(claim={"route": "on-four"}) == "cell-4.example.com:443"
    finally:
        other.stop()


def test_start_up_refuses_a_file_that_clashes_with_stored_cells(topology):
    topology.client("admin").add_cell(4, "cell-4:443", "cell4:")  # 1.2e12 .. 1.3e12 - 1
    topology.server.stop()
    clashing = CLUSTER.replace("maxval = 1199999999999", "maxval = 1250000000000")
    with pytest.raises(RuntimeError, match="did not start"):
        RunningServer(topology.database_url, cluster_text=clashing)
    with pytest.raises(
        ClusterError, match=r"1100000000000\.\.1250000000000 of cells\[2\] \(id 3\) overlaps"
    ):
        sync(topology.database_url, clashing)
    shrunk = CLUSTER.replace("maxval = 1199999999999", "maxval = 1150000000000")
    with pytest.raises(ClusterError, match="cannot shrink"):
        sync(topology.database_url, shrunk)
    topology.server = RunningServer(topology.database_url)
    assert [c.id for c in topology.client("admin").get_cells()] == [1, 2, 3, 4]


def sync(database_url: str, text: str) -> None:
    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await repository.sync_cluster(conn, cluster(text))

    asyncio.run(run())


def test_start_up_lets_a_range_grow(topology):
    topology.server.stop()
    grown = CLUSTER.replace("maxval = 1199999999999", "maxval = 1199999999999999")
    topology.server = RunningServer(topology.database_url, cluster_text=grown)
    three = topology.client("admin").get_cell(3)
    assert [(r.minval, r.maxval) for r in three.sequence_ranges] == [
        (1_100_000_000_000, 1_199_999_999_999_999)
    ]
