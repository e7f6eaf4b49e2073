"""Liveness and readiness (GitLab's HealthService)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from topology.storage.migrate import pending

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "alive"}


_NOT_READY = {
    "description": "not ready: the database is unreachable or migrations are pending",
    "content": {
        "application/json": {"example": {"status": "unavailable", "reason": "database unreachable"}}
    },
}


@router.get("/readyz", responses={503: _NOT_READY})
async def readyz(request: Request) -> JSONResponse:
    """The database answers and every migration is applied."""
    try:
        async with request.app.state.topology.pool.connection(timeout=2) as conn:
            missing = await pending(conn)
    except Exception:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "reason": "database unreachable"}, status_code=503
        )
    if missing:
        return JSONResponse(
            {"status": "unavailable", "reason": f"migrations pending: {missing}"}, status_code=503
        )
    return JSONResponse({"status": "ready"})
