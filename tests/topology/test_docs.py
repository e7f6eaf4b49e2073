"""The Topology Service's docs: the generated API reference is current, and the operator guide's
sample cluster file and settings table match the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from topology.cluster import Cell, SequenceRange, parse_cluster
from topology.server import api_reference
from topology.settings import TopologySettings

ROOT = Path(__file__).resolve().parents[2]
API_REFERENCE = ROOT / "docs" / "topology-api.md"
GUIDE = ROOT / "docs" / "topology.md"

# The sample in docs/topology.md, as its text describes it.
SAMPLE_CELLS = (
    Cell(1, "cell-1.example.com:443", "cell1:", (SequenceRange(1, 10**12 - 1),)),
    Cell(
        2,
        "cell-2.example.com:443",
        "cell2:",
        (SequenceRange(10**12, 10**12 + 10**11 - 1),),
        ring=1,
        state="active",
    ),
)
SAMPLE_CALLERS = [  # (role, name, cell_id)
    ("cell", "cell-1", 1),
    ("cell", "cell-2", 2),
    ("router", "http-router", None),
    ("admin", "ops", None),
]


def test_api_reference_is_generated_and_current():
    on_disk = API_REFERENCE.read_text() if API_REFERENCE.exists() else ""
    assert on_disk == api_reference(), (
        "docs/topology-api.md is stale: regenerate with "
        "`cellsbot topology api-docs > docs/topology-api.md`"
    )


def _first_toml_block(markdown: str) -> str:
    found = re.search(r"^```toml\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL)
    assert found, "docs/topology.md has no ```toml block (the sample cluster file)"
    return found.group(1)


def test_sample_cluster_file_parses_and_declares_what_the_guide_says():
    text = _first_toml_block(GUIDE.read_text())
    callers = tomllib.loads(text).get("callers", [])
    environ = {
        table["token_env"]: f"docs-sample-token-{i}-0123456789"
        for i, table in enumerate(callers)
        if "token_env" in table
    }
    cluster = parse_cluster(text, source="docs/topology.md", environ=environ)
    assert cluster.cells == SAMPLE_CELLS
    assert [(c.role, c.name, c.cell_id) for c in cluster.callers] == SAMPLE_CALLERS
    for table, caller in zip(callers, cluster.callers, strict=True):
        if "token_env" in table:
            assert caller.token == environ[table["token_env"]]


def test_guide_lists_every_setting_with_its_variable():
    guide = GUIDE.read_text()
    missing = [
        f"CELLSBOT_{name.upper()}"
        for name in TopologySettings.model_fields
        if f"`CELLSBOT_{name.upper()}`" not in guide
    ]
    assert not missing, f"docs/topology.md does not document {missing} (the settings table)"
