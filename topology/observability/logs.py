"""Logs: one JSON object per line (or plain text), with the correlation id, and never a secret.

    configure_logging(format="json", level="INFO")
    register_secrets(settings.gitlab_token, ...)

`configure_logging` puts one handler on the root logger, with two filters: `ContextFilter`
adds the correlation id (and the task's fields in a worker) to each record, and
`RedactingFilter` removes secrets from the message, the exception text and the `extra` fields
before any formatter sees them. Redacted are the values registered with `register_secrets`
(tokens, webhook secrets and signing keys, database passwords, as read from the settings at
start-up), and whatever looks like a credential whatever its value: `PRIVATE-TOKEN`,
`Authorization`, `X-Gitlab-Token` and cookie headers, `Bearer …`, passwords in URLs
(`scheme://user:…@host`) and connection strings (`password=…`), token parameters in query
strings, `whsec_…` signing keys and GitLab tokens (`glpat-…`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import AfterValidator

from topology.observability.context import correlation_id

__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "LogFormat",
    "LogLevel",
    "RedactingFilter",
    "TextFormatter",
    "configure_logging",
    "redact",
    "register_secrets",
    "register_url",
    "set_log_fields",
]

REDACTED = "***"
#: shorter values are not registered: they would blank out ordinary words
MIN_SECRET_LENGTH = 6
#: loggers whose own handlers configure_logging removes, so that their lines are ours too
_TAKEN_OVER = ("uvicorn", "uvicorn.error", "uvicorn.access")
#: the attributes every LogRecord has; any other attribute came with `extra=`
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
}

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a credential header, as text (`PRIVATE-TOKEN: x`) or in a dict's repr (`'PRIVATE-TOKEN': 'x'`)
    (
        re.compile(
            r"""(?ix)
            ((?<![\w-])['"]?(?:private-token|job-token|x-gitlab-token|authorization|
                proxy-authorization|cookie|set-cookie|webhook-signature)['"]?\s*[:=]\s*)
            ('[^']*'|"[^"]*"|[^\s;}\]'"]+(?:\ [^\s;}\]'"]+)?)
            """
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@"), rf"\1{REDACTED}@"),
    (
        re.compile(
            r"(?i)([?&;](?:private_token|access_token|job_token|token|secret|password|passwd"
            r"|api_key|sig|signature)=)[^&\s'\"#]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|[^\s'\"]+)"), rf"\1{REDACTED}"),
    (re.compile(r"\b(whsec_)[A-Za-z0-9+/=_-]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(gl[a-z]{2,5}-)[A-Za-z0-9_-]{16,}"), rf"\1{REDACTED}"),
)


class _Secrets:
    """The secret values known to this process, as one regular expression."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            new = {v for v in values if len(v) >= MIN_SECRET_LENGTH} - self._values
            for value in list(new):
                new.add(quote(value, safe=""))  # as it appears in a URL
            if new:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)  # longest first
                self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text


_secrets = _Secrets()


def register_secrets(*values: str | None) -> None:
    """Never log these values (tokens, webhook secrets, signing keys). Empty ones are skipped."""
    _secrets.add(value for value in values if value)


def register_url(url: str | None) -> None:
    """Never log the password of this URL or connection string (a database, a broker)."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    found = re.search(r"(?i)\bpassword\s*=\s*('[^']*'|\S+)", url)
    register_secrets(
        unquote(password) if password else None,
        found.group(1).strip("'") if found else None,
    )


def redact(text: str) -> str:
    """`text` without the registered secrets and without anything that looks like a credential."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _secrets.redact(text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _extras(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    return ((k, v) for k, v in list(record.__dict__.items()) if k not in _STANDARD)


class RedactingFilter(logging.Filter):
    """Removes secrets from a record before it is formatted: the message (its arguments
    included), the exception and stack texts, and the `extra` fields."""

    _plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in _extras(record):
            setattr(record, key, _redact_value(value))
        return True


_fields: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "cellsbot_log_fields", default=None
)


def set_log_fields(**fields: Any) -> None:
    """Set the fields of the lines logged from now on in this context (None: no fields)."""
    _fields.set({key: value for key, value in fields.items() if value is not None})


class ContextFilter(logging.Filter):
    """Adds the correlation id and the context's fields to each record (unless the call gave
    its own in `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = correlation_id()
        if found is not None and not hasattr(record, "correlation_id"):
            record.correlation_id = found
        for key, value in (_fields.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds: 2026-05-04T12:00:00.123Z."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then correlation_id,
    exception and stack when there are any, then the `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        found = getattr(record, "correlation_id", None)
        if found:
            entry["correlation_id"] = found
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in _extras(record):
            entry.setdefault(key, value)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-05-04T12:00:00.123Z INFO bot.webhook [<correlation id>] message`."""

    def format(self, record: logging.LogRecord) -> str:
        found = getattr(record, "correlation_id", None)
        line = (
            f"{_timestamp(record.created)} {record.levelname} {record.name}"
            f"{f' [{found}]' if found else ''} {record.getMessage()}"
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    levels = logging.getLevelNamesMapping()
    if value.upper() not in levels:
        raise ValueError(f"not a log level: {value!r} (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    return levels[value.upper()]


def _check_level(value: str) -> str:
    _level(value)
    return value.upper()


#: a log level's name (case-insensitive), as a settings field
LogLevel = Annotated[str, AfterValidator(_check_level)]
#: the log format, as a settings field
LogFormat = Literal["json", "text"]


def configure_logging(
    *, format: str = "json", level: str | int = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Log everything at `level` and above to `stream` (stderr), one line per record, as
    `format` ("json" or "text"). Replaces the handler an earlier call installed and the
    handlers of uvicorn's loggers (whose lines then take this format too); other handlers on
    the root logger stay. Returns the handler."""
    if format not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler._cellsbot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_cellsbot", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name in _TAKEN_OVER:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
