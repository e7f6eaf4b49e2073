"""Suppression comments (`cellsbot:ignore`) in SQL and YAML files, and applying them to findings.

A user silences findings where they are reported:

- SQL: `-- cellsbot:ignore CELLS010 <reason>` (or `/* … */`) on a line of a statement, or in
  the comment block right above it (no blank line between), silences those codes on every
  line of that statement.
- YAML (`db/docs/*.yml`): `# cellsbot:ignore CELLS002 <reason>` silences those codes on its
  own line, or, on a line of its own, down to the next non-comment line.
- Both: `cellsbot:ignore-file CELLS010,CELLS002 <reason>` anywhere silences those codes in
  the whole file.

Codes are explicit (`[A-Z]+\\d{3}`, comma-separated); there are no wildcards. A directive
must start its comment (or a line of a block comment). Comments inside string literals,
quoted identifiers, dollar-quoted bodies and YAML scalars do not count.

Problems with a suppression are reported as `CELLS091` warnings: a missing reason (the
suppression still applies), and an invalid directive (no code, a malformed code, an unknown
`cellsbot:ignore-…` keyword, or a statement/line suppression that sits next to nothing),
which suppresses nothing. This module is pure: texts in, values out.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

import yaml

from analyzers.findings import WARNING, Finding, FindingSet
from analyzers.split import (
    _INTERESTING,
    _continues_identifier,
    _skip_quoted,
    blank_comments,
    split_statements,
)

RULE = "CELLS091"
RULE_NAME = "suppression-without-reason"

Scope = Literal["statement", "line", "file"]

_DIRECTIVE = re.compile(r"cellsbot:(?P<keyword>ignore[\w-]*)(?P<rest>.*)")
_CODE_LIST = re.compile(r"[^\s,:]+(?:\s*,\s*[^\s,:]+)*")
_CODE = re.compile(r"[A-Z]+\d{3}")
_REASON_LEAD = re.compile(r"^[\s:\-\u2013\u2014]+")  # `CELLS010: why`, `CELLS010 -- why`
_KEYWORDS = {"ignore": False, "ignore-file": True}  # keyword -> whole file?


@dataclass(frozen=True, slots=True)
class Suppression:
    """One `cellsbot:ignore` directive: which codes it silences where, and why.

    `line` is where the directive is written. `first_line`..`last_line` (inclusive) is the
    range it covers: the statement for scope `statement`, the directive's line down to its
    target line for scope `line`, and the whole file for scope `file` (which matches a
    finding on any line, or without one).
    """

    path: str
    line: int
    codes: frozenset[str]
    reason: str
    scope: Scope
    first_line: int
    last_line: int

    def covers(self, finding: Finding) -> bool:
        """Whether this suppression silences `finding`."""
        if not finding.path or finding.path != self.path or finding.rule not in self.codes:
            return False
        if self.scope == "file":
            return True
        if not finding.line or finding.line < 1:
            return False
        return self.first_line <= finding.line <= self.last_line


@dataclass(frozen=True, slots=True)
class _Directive:
    """A parsed directive: whole-file or not, its codes and reason, or why it is invalid."""

    line: int
    whole_file: bool
    codes: frozenset[str]
    reason: str
    problem: str | None  # set when the directive is invalid and suppresses nothing


@dataclass(frozen=True, slots=True)
class _Comment:
    """A comment's text, without its delimiters, and the lines it spans."""

    body: str
    line: int  # line of the body's first character
    end_line: int


def parse_sql_suppressions(path: str, text: str) -> tuple[list[Suppression], list[Finding]]:
    """The suppressions written in SQL `text` (the file at `path`), and CELLS091 warnings.

    A `cellsbot:ignore` comment that shares a line with a statement (trailing it, inside
    it, or before its first token) covers the statements on those lines. One on lines of its
    own covers the statement that starts right after its comment block; a blank line or the
    end of the file in between leaves it attached to nothing, which is warned about.
    """
    statements, _ = split_statements(text)
    comments = _sql_comments(text, _LineIndex(text))
    comment_lines = {n for comment in comments for n in range(comment.line, comment.end_line + 1)}
    code_lines = _code_lines(blank_comments(text))

    def covered(comment: _Comment) -> tuple[int, int] | None:
        on = [s for s in statements if s.line <= comment.end_line and comment.line <= s.end_line]
        if not on:
            below = _next_line_after_comments(comment.end_line, comment_lines, code_lines)
            on = [statement for statement in statements if statement.line == below]
        if not on:
            return None
        return min(s.line for s in on), max(s.end_line for s in on)

    return _suppressions(
        path,
        text,
        comments,
        marker="--",
        scope="statement",
        covered=covered,
        dangling=_DANGLING_SQL,
    )


def parse_yaml_suppressions(path: str, text: str) -> tuple[list[Suppression], list[Finding]]:
    """The suppressions written in YAML `text` (the file at `path`), and CELLS091 warnings.

    A `# cellsbot:ignore` after content covers its own line. One on a line of its own covers
    that line down to the next non-comment line; a blank line or the end of the file there
    leaves it attached to nothing, which is warned about. `#` inside quoted or block scalars
    is not a comment.
    """
    comments, uncommented = _yaml_comments(text)
    code_lines = _code_lines(uncommented)
    comment_lines = {comment.line for comment in comments}

    def covered(comment: _Comment) -> tuple[int, int] | None:
        if comment.line in code_lines:
            return comment.line, comment.line
        target = _next_line_after_comments(comment.line, comment_lines, code_lines)
        return None if target is None else (comment.line, target)

    return _suppressions(
        path, text, comments, marker="#", scope="line", covered=covered, dangling=_DANGLING_YAML
    )


def _suppressions(
    path: str,
    text: str,
    comments: list[_Comment],
    *,
    marker: str,
    scope: str,
    covered: Callable[[_Comment], tuple[int, int] | None],
    dangling: str,
) -> tuple[list[Suppression], list[Finding]]:
    """Each directive of `comments` as a suppression of the lines `covered` gives, of the
    whole file, or as a CELLS091 warning (a bad directive, or one attached to nothing)."""
    suppressions: list[Suppression] = []
    warnings: list[Finding] = []
    for comment in comments:
        for directive in _directives(comment):
            if directive.problem is not None:
                warnings.append(_warning(path, directive.line, directive.problem))
                continue
            if directive.whole_file:
                whole = _whole_file(path, directive, _line_count(text))
                _record(whole, marker, suppressions, warnings)
                continue
            span = covered(comment)
            if span is None:
                warnings.append(_warning(path, directive.line, dangling))
                continue
            suppression = Suppression(
                path=path,
                line=directive.line,
                codes=directive.codes,
                reason=directive.reason,
                scope=scope,
                first_line=span[0],
                last_line=span[1],
            )
            _record(suppression, marker, suppressions, warnings)
    return suppressions, warnings


def apply_suppressions(
    findings: Iterable[Finding], suppressions: Iterable[Suppression]
) -> FindingSet:
    """Split `findings` into those that remain and those a suppression silences.

    A silenced finding is copied with `suppressed_by` set to the suppression's reason (which
    may be empty). When several suppressions cover a finding, a statement or line one wins
    over a file one, then the first written. Findings already suppressed stay suppressed.
    Order is kept within each list.
    """
    by_path: dict[str, list[Suppression]] = {}
    for suppression in sorted(suppressions, key=lambda s: s.scope == "file"):
        by_path.setdefault(suppression.path, []).append(suppression)
    result = FindingSet()
    for finding in findings:
        if finding.suppressed_by is not None:
            result.suppressed.append(finding)
            continue
        match = next((s for s in by_path.get(finding.path, ()) if s.covers(finding)), None)
        if match is None:
            result.findings.append(finding)
        else:
            result.suppressed.append(replace(finding, suppressed_by=match.reason))
    return result


# ------------------------------------------------------------------------------ directives

_DANGLING_SQL = (
    "This `cellsbot:ignore` is neither on a statement's line nor in the comment block right "
    "above a statement (a blank line or the end of the file follows it), so it suppresses "
    "nothing. Move it onto the statement's line or directly above it."
)
_DANGLING_YAML = (
    "This `cellsbot:ignore` has no line to apply to (a blank line or the end of the file "
    "follows it), so it suppresses nothing. Put it on the line or directly above it."
)


def _directives(comment: _Comment) -> list[_Directive]:
    """The directives of a comment: each line of it that starts with `cellsbot:ignore…`."""
    directives: list[_Directive] = []
    for offset, content in enumerate(comment.body.split("\n")):
        match = _DIRECTIVE.match(content.strip().lstrip("*-#").strip())
        if match is not None:
            directives.append(_parse(comment.line + offset, match))
    return directives


def _parse(line: int, match: re.Match[str]) -> _Directive:
    keyword, rest = match["keyword"], match["rest"].strip()
    whole_file = _KEYWORDS.get(keyword)
    if whole_file is None:
        problem = (
            f"`cellsbot:{keyword}` is not a directive; use `cellsbot:ignore` (this statement "
            "or line) or `cellsbot:ignore-file` (the whole file). It suppresses nothing."
        )
        return _Directive(line, False, frozenset(), "", problem)
    codes_match = _CODE_LIST.match(rest) if match["rest"][:1].isspace() else None
    if codes_match is None:
        problem = (
            f"`cellsbot:{keyword}` names no rule code, so it suppresses nothing; write the "
            f"codes after it, e.g. `cellsbot:{keyword} CELLS010 <reason>`."
        )
        return _Directive(line, whole_file, frozenset(), "", problem)
    codes = [code.strip() for code in codes_match.group().split(",")]
    bad = [code for code in codes if not _CODE.fullmatch(code)]
    if bad:
        problem = (
            f"`cellsbot:{keyword}` names {', '.join(repr(code) for code in bad)}, which "
            f"{'is not a rule code' if len(bad) == 1 else 'are not rule codes'} (codes look "
            "like CELLS010 and are listed explicitly; there are no wildcards), so it "
            "suppresses nothing."
        )
        return _Directive(line, whole_file, frozenset(), "", problem)
    reason = _REASON_LEAD.sub("", rest[codes_match.end() :]).strip()
    return _Directive(line, whole_file, frozenset(codes), reason, None)


def _record(
    suppression: Suppression,
    marker: str,
    suppressions: list[Suppression],
    warnings: list[Finding],
) -> None:
    """Keep `suppression`, warning when it gives no reason (it applies all the same)."""
    suppressions.append(suppression)
    if suppression.reason:
        return
    keyword = "ignore-file" if suppression.scope == "file" else "ignore"
    codes = ",".join(sorted(suppression.codes))
    warnings.append(
        _warning(
            suppression.path,
            suppression.line,
            f"The suppression of {codes} gives no reason; add one after the codes "
            f"(`{marker} cellsbot:{keyword} {codes} <why this finding does not apply>`) "
            "so that reviewers know why it is safe.",
        )
    )


def _whole_file(path: str, directive: _Directive, line_count: int) -> Suppression:
    return Suppression(
        path=path,
        line=directive.line,
        codes=directive.codes,
        reason=directive.reason,
        scope="file",
        first_line=1,
        last_line=line_count,
    )


def _warning(path: str, line: int, message: str) -> Finding:
    return Finding(
        rule=RULE, name=RULE_NAME, severity=WARNING, path=path, line=line, message=message
    )


def _next_line_after_comments(
    line: int, comment_lines: set[int], code_lines: set[int]
) -> int | None:
    """The first line after `line` that is not comment-only, if it holds content."""
    line += 1
    while line in comment_lines and line not in code_lines:
        line += 1
    return line if line in code_lines else None


# -------------------------------------------------------------------------------- scanning


class _LineIndex:
    """Offset-to-line conversion for one text."""

    def __init__(self, text: str) -> None:
        self._newlines = [match.start() for match in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1


def _sql_comments(text: str, lines: _LineIndex) -> list[_Comment]:
    """The `--` and `/* */` comments of SQL `text`, skipping quotes as the splitter does."""
    comments: list[_Comment] = []
    pos = 0
    while True:
        match = _INTERESTING.search(text, pos)
        if match is None:
            return comments
        token, start = match.group(), match.start()
        if token == ";" or _continues_identifier(text, start, token):
            pos = start + 1
            continue
        end, _ = _skip_quoted(text, start, token, 0)
        if token in ("--", "/*"):
            body_end = end - 2 if token == "/*" and text.endswith("*/", start + 2, end) else end
            comments.append(
                _Comment(text[start + 2 : body_end], lines.line_of(start), lines.line_of(end - 1))
            )
        pos = end


def _line_count(text: str) -> int:
    """Lines of `text` as an editor numbers them: a final newline starts no line."""
    return max(1, text.count("\n") + (not text.endswith("\n")))


def _code_lines(uncommented: str) -> set[int]:
    """Lines of a text with its comments blanked that hold something."""
    return {
        number for number, content in enumerate(uncommented.split("\n"), start=1) if content.strip()
    }


def _yaml_comments(text: str) -> tuple[list[_Comment], str]:
    """The `#` comments of YAML `text`, and `text` with them blanked.

    A `#` starts a comment at the start of a line or after whitespace, unless it is inside a
    scalar (quoted, or a `|`/`>` block) as PyYAML's scanner sees it. Past a syntax error,
    every such `#` counts.
    """
    starts: list[int] = []
    ends: list[int] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.ScalarToken):
                starts.append(token.start_mark.index)
                ends.append(token.end_mark.index)
    except yaml.YAMLError:
        pass

    def in_scalar(offset: int) -> bool:
        at = bisect.bisect_right(starts, offset) - 1
        return at >= 0 and offset < ends[at]

    comments: list[_Comment] = []
    kept: list[str] = []
    offset = 0
    for number, content in enumerate(text.split("\n"), start=1):
        line_start, offset = offset, offset + len(content) + 1
        column = next(
            (
                hash_sign.start()
                for hash_sign in re.finditer("#", content)
                if (hash_sign.start() == 0 or content[hash_sign.start() - 1].isspace())
                and not in_scalar(line_start + hash_sign.start())
            ),
            None,
        )
        if column is None:
            kept.append(content)
            continue
        comments.append(_Comment(content[column + 1 :], number, number))
        kept.append(content[:column])
    return comments, "\n".join(kept)
