"""The correlation id: one id that follows a delivery from the webhook through its Celery task
to every GitLab and Topology Service call, in each process's log lines.

It lives in a context variable, so that asyncio tasks and threads started with a copy of the
context (`carry_context`) see their own value.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

#: the HTTP header that carries the id between our processes, and back to a caller
CORRELATION_HEADER = "X-Correlation-Id"
#: what an id from outside may look like; anything else is replaced by a new one
_ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cellsbot_correlation_id", default=None
)

P = ParamSpec("P")
R = TypeVar("R")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def accepted(value: str | None) -> str | None:
    """`value` when it is usable as an id (a UUID, a delivery id: at most 128 characters of
    letters, digits and `._:-`), else None. Ids come from headers that anyone can send, so a
    log line never repeats an arbitrary string."""
    return value if value and _ACCEPTED.fullmatch(value) else None


def correlation_id() -> str | None:
    """The id of the work this code runs for, or None outside of any."""
    return _current.get()


def set_correlation_id(value: str | None) -> contextvars.Token[str | None]:
    return _current.set(value)


def reset_correlation_id(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)


def carry_context(function: Callable[P, R]) -> Callable[P, R]:
    """`function` running in a copy of the caller's context (the correlation id, the current
    span), for a thread pool, whose threads do not inherit it. Each call gets its own copy, so
    that calls may run at the same time."""
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(function, *args, **kwargs)

    return run
