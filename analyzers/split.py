"""Split PostgreSQL script text into statements, each with its first and last line."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Everything that can hide a semicolon, plus the semicolon itself. Searched for from the
# current position; text between matches is plain SQL and is skipped in one step.
# (`\w` and `[^\W\d]` match any Unicode letter, as identifiers may hold them.)
_INTERESTING = re.compile(r"""--|/\*|[eE]'|'|"|\$(?:[^\W\d]\w*)?\$|;""")
_IDENT_CHAR = re.compile(r"[\w$]")
_BLANK_OR_COMMENT = re.compile(r"(?:\s+|--[^\n]*)+")
_PSQL_META = re.compile(r"\\[^\n]*")


class SplitError(ValueError):
    """The text ends inside a quoted string, dollar-quoted body or block comment.

    `in_statement` is False for a block comment opened between statements: then no statement
    is cut short, and the last statement returned is a complete one."""

    def __init__(self, what: str, line: int, *, in_statement: bool = True) -> None:
        super().__init__(f"unterminated {what} starting on line {line}")
        self.what = what
        self.line = line
        self.in_statement = in_statement


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement of a file: its text (without the closing `;`) and where it is."""

    text: str
    line: int
    end_line: int


def split_statements(text: str) -> tuple[list[Statement], SplitError | None]:
    """Split `text` into statements at top-level semicolons.

    Quotes (`'…'`, `E'…'`, `"…"`, `$tag$…$tag$`) and comments (`--`, nested `/* */`) are
    respected. Leading blank lines and comments are not part of a statement, so `line`
    is the line of its first token. psql meta-commands (`\\restrict …`) at the start of a
    statement are returned as statements of their own. A text that ends inside a quote or
    comment yields the statements before it and a `SplitError`; the unterminated rest of a
    statement is returned as a last statement so that nothing is lost (a block comment opened
    between statements is no statement: `SplitError.in_statement` is False then).

    >>> [s.line for s in split_statements("SELECT 1;\\n\\nSELECT ';';")[0]]
    [1, 3]
    """
    statements: list[Statement] = []
    pos, size, line = 0, len(text), 1
    start = -1  # offset of the current statement's first token, -1 while between statements
    start_line = 1
    error: SplitError | None = None
    while pos < size:
        if start < 0:
            blank = _BLANK_OR_COMMENT.match(text, pos)
            if blank:
                line += text.count("\n", pos, blank.end())
                pos = blank.end()
            if text.startswith("/*", pos):
                end, error = _skip_block_comment(text, pos, line)
                if error is not None:  # opened after the last statement, which is complete
                    error.in_statement = False
                line += text.count("\n", pos, end)
                pos = end
                continue
            if pos >= size:
                break
            if text[pos] == ";":  # an empty statement (`;;`) yields nothing
                pos += 1
                continue
            if text[pos] == "\\":
                meta = _PSQL_META.match(text, pos)
                assert meta is not None
                statements.append(Statement(meta.group().rstrip(), line, line))
                pos = meta.end()
                continue
            start, start_line = pos, line
        match = _INTERESTING.search(text, pos)
        if match is None:
            line += text.count("\n", pos)
            pos = size
            break
        token = match.group()
        line += text.count("\n", pos, match.start())
        pos = match.end()
        if token == ";":
            statements.append(_statement(text, start, match.start(), start_line))
            start = -1
            continue
        if _continues_identifier(text, match.start(), token):
            pos = match.start() + 1
            continue
        end, error = _skip_quoted(text, match.start(), token, line)
        line += text.count("\n", match.start(), end)
        pos = end
        if error is not None:
            break
    if start >= 0 and text[start:].strip():
        statements.append(_statement(text, start, size, start_line))
    return statements, error


def _statement(text: str, start: int, end: int, start_line: int) -> Statement:
    body = text[start:end].rstrip()
    return Statement(body, start_line, start_line + body.count("\n"))


def _continues_identifier(text: str, at: int, token: str) -> bool:
    """`x$a$` or `abce'…'` are not quote openers when glued to a preceding identifier."""
    if token[0] not in "$eE" or at == 0:
        return False
    return _IDENT_CHAR.match(text, at - 1) is not None


def _skip_quoted(text: str, at: int, token: str, line: int) -> tuple[int, SplitError | None]:
    if token == "--":
        newline = text.find("\n", at)
        return (len(text) if newline < 0 else newline), None
    if token == "/*":
        return _skip_block_comment(text, at, line)
    if token[0] == "$":
        close = text.find(token, at + len(token))
        if close < 0:
            return len(text), SplitError(f"dollar-quoted string {token}", line)
        return close + len(token), None
    if token in ("e'", "E'"):
        return _skip_escape_string(text, at + 2, line)
    quote = token
    pos = at + 1
    while True:
        close = text.find(quote, pos)
        if close < 0:
            what = "quoted identifier" if quote == '"' else "string literal"
            return len(text), SplitError(what, line)
        if text.startswith(quote, close + 1):  # doubled quote is an escaped quote
            pos = close + 2
            continue
        return close + 1, None


def _skip_escape_string(text: str, pos: int, line: int) -> tuple[int, SplitError | None]:
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
        elif char == "'":
            if text.startswith("'", pos + 1):
                pos += 2
                continue
            return pos + 1, None
        else:
            pos += 1
    return len(text), SplitError("escape string literal", line)


def _skip_block_comment(text: str, at: int, line: int) -> tuple[int, SplitError | None]:
    """Block comments nest in PostgreSQL: `/* a /* b */ c */` is one comment."""
    depth, pos = 0, at
    while True:
        opening = text.find("/*", pos)
        closing = text.find("*/", pos)
        if closing < 0:
            return len(text), SplitError("block comment", line)
        if 0 <= opening < closing:
            depth += 1
            pos = opening + 2
            continue
        depth -= 1
        pos = closing + 2
        if depth == 0:
            return pos, None


def blank_comments(text: str) -> str:
    """`text` with its comments replaced by spaces, newlines kept, so lines do not move.

    >>> blank_comments("a -- it's\\nb /* c */")
    'a        \\nb        '
    """
    if "--" not in text and "/*" not in text:
        return text
    pieces: list[str] = []
    pos = 0
    while True:
        match = _INTERESTING.search(text, pos)
        if match is None:
            break
        token = match.group()
        if token == ";" or _continues_identifier(text, match.start(), token):
            pieces.append(text[pos : match.start() + 1])
            pos = match.start() + 1
            continue
        end, _ = _skip_quoted(text, match.start(), token, 0)
        pieces.append(text[pos : match.start()])
        quoted = text[match.start() : end]
        pieces.append(re.sub(r"[^\n]", " ", quoted) if token in ("--", "/*") else quoted)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)
