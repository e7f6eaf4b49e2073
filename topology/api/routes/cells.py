"""CellService.GetCell and ClaimService/ClassifyService.GetCells."""

from __future__ import annotations

from fastapi import APIRouter, Request

from topology.api import schemas
from topology.api.app import state
from topology.api.auth import CallerDep
from topology.api.convert import cell_info
from topology.api.errors import NOT_FOUND, ApiError

router = APIRouter(prefix="/v1/cells", tags=["cells"])


@router.get("", response_model=schemas.GetCellsResponse, response_model_by_alias=True)
async def get_cells(request: Request, caller: CallerDep) -> schemas.GetCellsResponse:
    """Every cell: address, session prefix, sequence ranges, ring and state (any caller)."""
    cells = await state(request).directory.cells(state(request).pool)
    return schemas.GetCellsResponse(cells=[cell_info(c) for c in cells])


@router.get("/{cell_id}", response_model=schemas.GetCellResponse, response_model_by_alias=True)
async def get_cell(cell_id: int, request: Request, caller: CallerDep) -> schemas.GetCellResponse:
    """One cell (any caller); 404 for an unknown id."""
    cell = await state(request).directory.cell(state(request).pool, cell_id)
    if cell is None:
        raise ApiError(NOT_FOUND, f"no cell {cell_id}", reason="CELL_NOT_FOUND")
    return schemas.GetCellResponse(cell_info=cell_info(cell))
