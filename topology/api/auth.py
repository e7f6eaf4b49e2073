"""Bearer tokens per caller, from the cluster file; roles as GitLab's authorization rules."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request

from topology.api.errors import PERMISSION_DENIED, UNAUTHENTICATED, ApiError
from topology.cluster import Caller

CELL, ROUTER, ADMIN = "cell", "router", "admin"


class Authenticator:
    """Finds the caller of a token. Tokens are kept as SHA-256 digests and compared in constant
    time; neither they nor their digests are ever logged."""

    def __init__(self, callers: tuple[Caller, ...]) -> None:
        self._callers = {_digest(caller.token): caller for caller in callers}

    def caller(self, authorization: str | None) -> Caller | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = _digest(token.strip())
        found = None
        for known, caller in self._callers.items():  # every digest, in constant time
            if hmac.compare_digest(known, digest):
                found = caller
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def authenticated(request: Request) -> Caller:
    # async: a plain function would run in FastAPI's thread pool, on every request
    caller = request.app.state.topology.authenticator.caller(request.headers.get("authorization"))
    if caller is None:
        raise ApiError(
            UNAUTHENTICATED,
            "missing or invalid bearer token",
            reason="UNAUTHENTICATED",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


CallerDep = Annotated[Caller, Depends(authenticated)]


def require(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        raise ApiError(
            PERMISSION_DENIED, f"{caller.role} callers may not do this", reason="FORBIDDEN_ROLE"
        )


def require_cell(caller: Caller, cell_id: int) -> None:
    """Claim writes and reads: the matching cell, or an admin."""
    require(caller, CELL, ADMIN)
    if caller.role == CELL and caller.cell_id != cell_id:
        raise ApiError(
            PERMISSION_DENIED,
            f"cell {caller.cell_id} may not act for cell {cell_id}",
            reason="WRONG_CELL",
        )
