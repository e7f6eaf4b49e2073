"""Which cell serves a request: by first cell, session prefix, cell id, or a claim's owner."""

from __future__ import annotations

from topology.cluster import Cell

FIRST_CELL, SESSION_PREFIX, CELL_ID = "FIRST_CELL", "SESSION_PREFIX", "CELL_ID"
TYPES = (FIRST_CELL, SESSION_PREFIX, CELL_ID)


def classify(cells: list[Cell], kind: str, value: str) -> Cell | None:
    """The cell for a classify type and value; None when no cell matches."""
    if kind == FIRST_CELL:  # the legacy cell: the lowest id that is not offline
        serving = [c for c in cells if c.state != "offline"]
        return min(serving, key=lambda c: c.id) if serving else None
    if kind == SESSION_PREFIX:  # the cookie value starts with the cell's prefix ("cell1:…")
        matches = [c for c in cells if value.startswith(c.session_prefix)]
        return max(matches, key=lambda c: len(c.session_prefix)) if matches else None
    if kind == CELL_ID:
        return next((c for c in cells if str(c.id) == value.strip()), None)
    return None
