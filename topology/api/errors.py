"""Errors as a gRPC gateway returns them: a `google.rpc.Status` body, the matching HTTP status."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

# gRPC code -> HTTP status, as grpc-gateway maps them
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 3, 5, 6, 7
FAILED_PRECONDITION, ABORTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 9, 10, 13, 14, 16
HTTP_STATUS = {
    INVALID_ARGUMENT: 400,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    UNAUTHENTICATED: 401,
}
DOMAIN = "topology.cellsbot"


class ApiError(Exception):
    """An error answer: gRPC code, message, and an ErrorInfo reason clients can switch on."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.headers = headers or {}


def status_body(
    code: int, message: str, reason: str | None = None, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    details = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": DOMAIN,
                "metadata": metadata or {},
            }
        )
    return {"code": code, "message": message, "details": details}


def install(app: FastAPI) -> None:
    """Every error, including FastAPI's own, leaves as a `google.rpc.Status` body."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        body = status_body(error.code, error.message, error.reason, error.metadata)
        return JSONResponse(body, status_code=HTTP_STATUS[error.code], headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
            for e in error.errors()
        )
        body = status_body(INVALID_ARGUMENT, f"invalid request: {problems}", "INVALID_REQUEST")
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: NOT_FOUND, 405: INVALID_ARGUMENT, 401: UNAUTHENTICATED, 403: PERMISSION_DENIED}
        grpc = code.get(
            error.status_code, INVALID_ARGUMENT if error.status_code < 500 else INTERNAL
        )
        return JSONResponse(status_body(grpc, str(error.detail)), status_code=error.status_code)

    @app.exception_handler(psycopg.DataError)
    @app.exception_handler(psycopg.errors.ProgramLimitExceeded)
    async def unstorable(request: Request, error: psycopg.Error) -> JSONResponse:
        """A value PostgreSQL cannot store: text with a NUL byte, a number out of bigint's
        range, a key too long for its index. The caller's mistake, not the service's."""
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else "bad value"
        body = status_body(INVALID_ARGUMENT, f"invalid value: {message}", "INVALID_REQUEST")
        return JSONResponse(body, status_code=400)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        """PostgreSQL is down, restarting or failing over: try again (every write is
        idempotent). An answer, not a dropped connection, so the client's keep-alive survives."""
        body = status_body(UNAVAILABLE, "the database is unavailable; retry", "UNAVAILABLE")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(status_body(INTERNAL, "internal error"), status_code=500)
