"""What the bot posts on a merge request: the summary note, one thread per finding, the commit
status and the labels. Pure: a review in, Markdown and values out; posting is `bot.publish`'s.

Identity. Every body the bot finds again starts with a hidden HTML comment on its first line:
`<!-- cellsbot:summary -->` or `<!-- cellsbot:finding:<key> -->`, where the key (`finding_key`)
names what a finding is about (rule, file, table, columns, message) and never where it is (its
line), so a finding on a moved line keeps its thread. GitLab's Markdown hides HTML comments.

Safety. Messages, paths and SQL come from the merge request, so text the bot did not write is
neutralized outside code: `@name` (mentions), `#12` / `!12` / `&12` (references that notify
their issue, MR or epic) get a zero-width space after the sigil, `<` is escaped (no HTML, no
stray `<!--` hiding the rest of a note), a `/` that starts a line is escaped (quick actions
such as `/label` only run from a line that starts with `/`), and table cells escape `|` and
turn newlines into `<br>`. Code goes in fences of exactly three backticks, the only kind
GitLab's quick-action extractor skips; code that contains a fence line is indented instead.

Suggestions. No fix kind the rules emit today (`sharding_key`, `desired_sharding_key`,
`dictionary`, `sql`, `claim`, `config`, `loose_foreign_key`, `text`) replaces the flagged
lines: they are blocks to add to a file (often another file), statements for a migration, or
advice, so a GitLab suggestion of them would delete the flagged line. A fix of kind `replace`
(`SUGGESTION_KINDS`) means "`text` replaces lines `line`..`end_line` of `path` at the head"; it
becomes a ```` ```suggestion:-A+B ```` block, with A and B counted from the line the thread is
anchored on (`anchor`, by default the finding's first line, where `bot.publish` places it).
Every other fix is shown as a ```` ```sql ```` / ```` ```yaml ```` block, or as text.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import quote

from analyzers.findings import ERROR, INFO, WARNING, Finding, Fix
from analyzers.names import bare
from analyzers.reports import normalize_message
from analyzers.rules import BY_CODE
from bot.report import _plural

if TYPE_CHECKING:
    from bot.review import ReviewResult

SUMMARY_MARKER = "<!-- cellsbot:summary -->"
FINDING_MARKER = "<!-- cellsbot:finding:{key} -->"
NOTE_MARKER = "<!-- cellsbot:note:{key} -->"  # a note of its own: a reply, a merge, a rollout
NOTE_LIMIT = 1_000_000  # characters GitLab accepts in a note body
MAX_TABLE_ROWS = 200
MAX_UNPLACED = 50  # shown with their fix; more are only counted
MAX_UNANALYZABLE = 50
MAX_UNREADABLE = 100
MAX_ALTERNATIVES = 3
STATUS_DESCRIPTION_LIMIT = 140
SUGGESTION_KINDS = frozenset({"replace"})
# what the bot answers to when mentioned (`@<bot> <command>`)
COMMANDS = {
    "recheck": "review the merge request's latest commit again",
    "help": "show this message",
    "claim <table>.<column> as <BUCKET_TYPE>": (
        "register a claim type for a globally unique column in the Topology Service "
        "(proposed now, active when the merge request merges; Maintainers and Owners)"
    ),
    "rollout status|pause|resume|retry <cell_id>": (
        "show or steer the rollout of this merged merge request across cells "
        "(status: anyone; the others: Maintainers and Owners)"
    ),
}

_MESSAGE_CLIP = 400  # characters of a message in a table row
_PATH_CLIP = 200
_FIX_CLIP = 2000  # characters of a fix in the summary note
_EXCERPT_CLIP = 200
_HASH_CHARS = 12
_KEY_SAFE = "/._-"  # left as is in a key part; everything else is percent-encoded
_ZWSP = "\u200b"
_ICONS = {ERROR: "❌", WARNING: "⚠️", INFO: "ℹ️"}  # noqa: RUF001
_RANK = {ERROR: 0, WARNING: 1, INFO: 2}
_LANGUAGES = {
    "sql": "sql",
    "sharding_key": "yaml",
    "desired_sharding_key": "yaml",
    "dictionary": "yaml",
    "claim": "yaml",
    "config": "yaml",
    "loose_foreign_key": "yaml",
}
_MARKER = re.compile(
    r"\A\s*<!-- cellsbot:(summary|finding:([A-Za-z0-9%/._:,~-]+)|(note:[A-Za-z0-9%/._:,~-]+)) -->"
)
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_MENTION = re.compile(r"@(?=\w)")
_REFERENCE = re.compile(r"([#!&])(?=\d)")
_FENCE_LINE = re.compile(r"^ {0,3}```", re.MULTILINE)

# ----------------------------------------------------------------------------- identity


def finding_key(finding: Finding) -> str:
    """A finding's identity across runs: `rule:path:table:columns:hash`, the hash being of
    its message without line numbers. The same finding on a moved line keeps its key.

    >>> finding_key(Finding("CELLS010", "x", "error", "db/a.sql", 3, "m", table="t",
    ...                     columns=("a", "b")))
    'CELLS010:db/a.sql:t:a,b:62c66a7a5dd7'
    """
    digest = hashlib.sha256(normalize_message(finding.message).encode()).hexdigest()
    parts = [
        _key_part(finding.rule),
        _key_part(finding.path),
        _key_part(finding.table or ""),
        ",".join(_key_part(column) for column in finding.columns),
        digest[:_HASH_CHARS],
    ]
    return ":".join(parts)


def finding_keys(findings: Sequence[Finding]) -> list[str]:
    """`finding_key` of each finding, made distinct where two would share one (the same
    finding at two places): the first by line keeps the key, the n-th after it gets `~n+1`."""
    keys = [finding_key(finding) for finding in findings]
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    result = list(keys)
    for key, positions in groups.items():
        ordered = sorted(positions, key=lambda i: (findings[i].line, _end(findings[i]), i))
        for occurrence, position in enumerate(ordered[1:], start=2):
            result[position] = f"{key}~{occurrence}"
    return result


def parse_marker(body: str) -> str | None:
    """`"summary"`, the finding key, or `"note:<key>"` of a body the bot wrote, from its first
    line; else None."""
    match = _MARKER.match(body or "")
    if match is None:
        return None
    return match.group(2) or match.group(3) or "summary"


def _key_part(text: str) -> str:
    return quote(text, safe=_KEY_SAFE)


# ------------------------------------------------------------------------------ threads


def finding_thread(
    finding: Finding,
    *,
    docs_url: str | None = None,
    key: str | None = None,
    anchor: int | None = None,
) -> str:
    """The body of the inline thread on one finding: marker, severity and rule, message, fix
    (a GitLab suggestion when it replaces the flagged lines), and where to read more.

    `key` overrides `finding_key(finding)` (e.g. from `finding_keys`); `anchor` is the head
    line the thread is placed on (default: the finding's first line).
    """
    lines = [
        FINDING_MARKER.format(key=key or finding_key(finding)),
        f"{_severity(finding.severity)} · **{finding.rule}** "
        + _link(_escape(finding.name), rule_docs_url(finding.rule, finding.name, docs_url)),
        "",
        _inline(finding.message),
    ]
    if finding.fix is not None:
        lines += ["", *_fix_lines(finding, finding.fix, anchor=anchor, suggest=True)]
    lines += ["", _footer(finding, docs_url)]
    return "\n".join(lines) + "\n"


def rule_docs_url(rule: str, name: str, docs_url: str | None) -> str | None:
    """The rule's page under `docs_url` (docs/rules/<name>.md), the index for a rule without
    one (CELLS091), None without `docs_url`."""
    if not docs_url:
        return None
    page = f"{name}.md" if rule in BY_CODE else "README.md"
    return f"{docs_url.rstrip('/')}/{quote(page)}"


def _fix_lines(
    finding: Finding, fix: Fix, *, anchor: int | None, suggest: bool, clip: int | None = None
) -> list[str]:
    if fix.kind == "text":  # advice, not something to paste
        return [f"**Fix:** {_inline(_clip(fix.text.strip(), clip))}"]
    where = _where(finding, fix)
    explanation = fix.explanation.strip()
    if explanation in finding.message or explanation in where:  # said already
        explanation = ""
    lines = [f"**Fix**{where}" + (f": {_inline(explanation)}" if explanation else "")]
    block = _suggestion(finding, fix, anchor) if suggest else None
    lines += ["", block or _code(_clip(fix.text, clip), _LANGUAGES.get(fix.kind, ""))]
    alternatives = fix.alternatives[:MAX_ALTERNATIVES] if suggest else ()
    if alternatives:
        lines += ["", f"<details><summary>Other fixes ({len(alternatives)})</summary>"]
        for alternative in alternatives:
            if alternative.explanation.strip():
                lines += ["", _inline(alternative.explanation.strip())]
            lines += ["", _code(alternative.text, _LANGUAGES.get(alternative.kind, ""))]
        lines += ["", "</details>"]
    return lines


def _where(finding: Finding, fix: Fix) -> str:
    """Where a fix goes, when its kind says so."""
    if fix.kind in ("sharding_key", "desired_sharding_key") and finding.table:
        return f" (in {_code_span(f'db/docs/{bare(finding.table)}.yml')})"
    if fix.kind in ("claim", "config"):
        return f" (in {_code_span('.cellsbot.yml')})"
    if fix.kind == "loose_foreign_key":
        return f" (in {_code_span('config/gitlab_loose_foreign_keys.yml')})"
    if fix.kind == "sql":
        return " (in a migration)"
    return ""


def _suggestion(finding: Finding, fix: Fix, anchor: int | None) -> str | None:
    """A GitLab suggestion replacing the finding's lines with the fix, when it is one."""
    if fix.kind not in SUGGESTION_KINDS:
        return None
    start, end = finding.line, _end(finding)
    at = start if anchor is None else anchor
    text = _newlines(fix.text)
    text = text.removesuffix("\n")
    if not start <= at <= end or _FENCE_LINE.search(text):
        return None
    body = f"{text}\n" if text else ""
    return f"```suggestion:-{at - start}+{end - at}\n{body}```"


def _footer(finding: Finding, docs_url: str | None) -> str:
    parts = []
    url = rule_docs_url(finding.rule, finding.name, docs_url)
    if url:
        parts.append(_link(f"About {finding.rule}", url))
    comment = _suppression_comment(finding)
    if comment:
        parts.append(f"once checked, silence it with {_code_span(comment)}")
    return "<sub>" + " · ".join(parts) + "</sub>"


def _suppression_comment(finding: Finding) -> str | None:
    if finding.path.endswith(".sql"):
        return f"-- cellsbot:ignore {finding.rule} <reason>"
    if finding.path.endswith((".yml", ".yaml")):
        return f"# cellsbot:ignore {finding.rule} <reason>"
    return None


# ----------------------------------------------------------------------------- summary


def summary_note(
    result: ReviewResult,
    *,
    project_url: str | None,
    head_sha: str,
    unplaced: Sequence[Finding] = (),
    unreadable: Sequence[str] = (),
    docs_url: str | None = None,
    coordination: Sequence[list[str]] = (),
) -> str:
    """The one summary note of a merge request: verdict, findings table (capped), the
    coordination sections (`bot.coordination.sections`, lines each), suppressed counts,
    unanalyzable statements, findings without a thread, unreadable files."""
    links = _Links(project_url, head_sha, docs_url)
    findings = sorted(result.findings.findings, key=_rank)
    sections = [
        [SUMMARY_MARKER, _verdict(findings), _subtitle(result, links)],
        _table(findings, links),
        *coordination,
        _suppressed(result.findings.suppressed, links),
        _unanalyzable(result, links),
        _unplaced(sorted(unplaced, key=_rank), links),
        _unreadable(unreadable),
    ]
    body = "\n\n".join("\n".join(section) for section in sections if section) + "\n"
    if len(body) > NOTE_LIMIT:  # the caps above keep a note far below; this is a backstop
        cut = body.rfind("\n", 0, NOTE_LIMIT - 200)
        body = body[:cut] + "\n\n_… the rest of this note is left out: it is too long._\n"
    return body


@dataclass(frozen=True, slots=True)
class _Links:
    project_url: str | None
    head_sha: str
    docs_url: str | None

    def line(self, path: str, line: int, end_line: int | None = None) -> str:
        """`path:line` linked to the line at the head revision when the project is known."""
        end = end_line if end_line and end_line > line else None
        text = _escape(f"{_clip(path, _PATH_CLIP)}:{line}" + (f"-{end}" if end else ""))
        if not self.project_url:
            return text
        anchor = f"#L{line}" + (f"-{end}" if end else "")
        url = (
            f"{self.project_url.rstrip('/')}/-/blob/{quote(self.head_sha, safe='')}/"
            f"{quote(path)}{anchor}"
        )
        return _link(text, url)

    def rule(self, finding: Finding) -> str:
        return _link(finding.rule, rule_docs_url(finding.rule, finding.name, self.docs_url))


def _verdict(findings: Sequence[Finding]) -> str:
    counts = Counter(finding.severity for finding in findings)
    errors, warnings, infos = counts[ERROR], counts[WARNING], counts[INFO]
    others = ", ".join(
        _plural(count, noun) for count, noun in ((warnings, "warning"), (infos, "note")) if count
    )
    if errors:
        also = f", {others}" if others else ""
        return f"❌ **{_plural(errors, 'error')}**{also} — this change breaks Cells rules."
    if warnings:
        return f"⚠️ **{others}**, no errors — worth a look before merging."
    return "✅ **No Cells problems** found." + (f" ({others})" if others else "")


def _subtitle(result: ReviewResult, links: _Links) -> str:
    commit = _code_span(links.head_sha[:12])
    if links.project_url:
        commit = _link(commit, f"{links.project_url.rstrip('/')}/-/commit/{quote(links.head_sha)}")
    parts = [f"Cells review of {commit} ({_escape(result.cells_mode)} mode)"]
    if result.findings.suppressed:
        parts.append(f"{len(result.findings.suppressed)} suppressed")
    if result.unanalyzable:
        new = sum(1 for _, is_new in result.unanalyzable if is_new)
        parts.append(f"{_plural(len(result.unanalyzable), 'unanalyzable statement')} ({new} new)")
    return "<sub>" + " · ".join(parts) + "</sub>"


def _table(findings: Sequence[Finding], links: _Links) -> list[str]:
    if not findings:
        return []
    lines = ["| Severity | Rule | Where | Finding |", "|---|---|---|---|"]
    for finding in findings[:MAX_TABLE_ROWS]:
        cells = (
            _severity(finding.severity),
            links.rule(finding),
            links.line(finding.path, finding.line, finding.end_line),
            _inline(_clip(finding.message, _MESSAGE_CLIP)),
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    left_out = len(findings) - MAX_TABLE_ROWS
    if left_out > 0:
        lines += ["", f"_… and {_plural(left_out, 'more finding')} not shown here._"]
    return lines


def _suppressed(suppressed: Sequence[Finding], links: _Links) -> list[str]:
    if not suppressed:
        return []
    by_rule = Counter((finding.rule, finding.name) for finding in suppressed)
    lines = [f"**Suppressed** by `cellsbot:ignore` comments ({len(suppressed)}):", ""]
    for (rule, name), count in sorted(by_rule.items()):
        lines.append(
            f"- {_link(rule, rule_docs_url(rule, name, links.docs_url))} {_escape(name)}: {count}"
        )
    return lines


def _unanalyzable(result: ReviewResult, links: _Links) -> list[str]:
    items = sorted(result.unanalyzable, key=lambda pair: not pair[1])  # new ones first (stable)
    if not items:
        return []
    lines = [
        "**Unanalyzable statements**: their effect on the schema is not modeled, check them "
        "by hand.",
        "",
    ]
    for item, new in items[:MAX_UNANALYZABLE]:
        excerpt = " ".join(item.excerpt.split())
        lines.append(
            f"- {'**new**' if new else 'existing'} "
            f"{links.line(item.path, item.line, item.end_line)}: {_inline(_clip(item.reason, 300))}"
            + (f" {_code_span(_clip(excerpt, _EXCERPT_CLIP))}" if excerpt else "")
        )
    left_out = len(items) - MAX_UNANALYZABLE
    if left_out > 0:
        lines.append(f"- _… and {left_out} more._")
    return lines


def _unplaced(unplaced: Sequence[Finding], links: _Links) -> list[str]:
    if not unplaced:
        return []
    lines = [
        "**Findings without an inline thread** (GitLab accepts threads only on lines the diff "
        "shows):"
    ]
    for finding in unplaced[:MAX_UNPLACED]:
        lines += [
            "",
            f"{_severity(finding.severity)} · **{links.rule(finding)}** · "
            f"{links.line(finding.path, finding.line, finding.end_line)} · "
            f"{_inline(_clip(finding.message, _MESSAGE_CLIP))}",
        ]
        if finding.fix is not None:
            lines += [
                "",
                *_fix_lines(finding, finding.fix, anchor=None, suggest=False, clip=_FIX_CLIP),
            ]
    left_out = len(unplaced) - MAX_UNPLACED
    if left_out > 0:
        lines += ["", f"_… and {_plural(left_out, 'more finding')} without a thread._"]
    return lines


def _unreadable(paths: Sequence[str]) -> list[str]:
    if not paths:
        return []
    lines = [
        "**Files that could not be read** from the merge request (GitLab collapsed their diff, "
        "or it is too large): findings in them have no inline thread.",
        "",
    ]
    lines += [f"- {_code_span(_clip(path, _PATH_CLIP))}" for path in paths[:MAX_UNREADABLE]]
    if len(paths) > MAX_UNREADABLE:
        lines.append(f"- _… and {len(paths) - MAX_UNREADABLE} more._")
    return lines


# ------------------------------------------------------------------------ status, labels


def commit_status(result: ReviewResult) -> tuple[str, str]:
    """`("failed", …)` while an error finding remains, else `("success", …)`; the description
    (at most 140 characters) counts the remaining findings, e.g. "2 errors, 1 warning (Cells)"."""
    counts = Counter(finding.severity for finding in result.findings.findings)
    parts = [
        _plural(counts[severity], noun)
        for severity, noun in ((ERROR, "error"), (WARNING, "warning"), (INFO, "note"))
        if counts[severity]
    ]
    description = f"{', '.join(parts)} (Cells)" if parts else "No Cells problems"
    state = "failed" if counts[ERROR] else "success"
    return state, _clip(description, STATUS_DESCRIPTION_LIMIT)


SHARDING_KEY_LABEL = "cells::sharding-key-missing"
DEFAULT_RULE_LABELS: Mapping[str, str] = MappingProxyType(
    {  # in priority order: within one scope (`scope::`), the first label that applies wins
        **{f"CELLS00{n}": SHARDING_KEY_LABEL for n in range(2, 8)},
        "CELLS020": "cells::cross-database",
        "CELLS021": "cells::cross-database",
        "CELLS010": "cells::unique-not-scoped",
        "CELLS011": "cells::needs-claim",
    }
)
DEFAULT_ERROR_LABEL = "database::review pending"


@dataclass(frozen=True)
class LabelConfig:
    """Which labels a review sets. `rules` maps a rule-code prefix to a label (a finding of a
    rule that starts with the prefix wants the label); `error_label` is wanted while an error
    remains. The bot owns (`managed`) the labels of `rules`, and `error_label` only when
    `manage_error_label`: by default it adds `database::review pending` but never removes
    it, since GitLab's database review workflow (and Danger) share that label.
    """

    rules: Mapping[str, str] = field(default_factory=lambda: DEFAULT_RULE_LABELS)
    error_label: str | None = DEFAULT_ERROR_LABEL
    manage_error_label: bool = False

    @property
    def managed(self) -> frozenset[str]:
        """The labels the bot may remove when their findings are gone."""
        labels = set(self.rules.values())
        if self.error_label and self.manage_error_label:
            labels.add(self.error_label)
        return frozenset(labels)


def labels_for(result: ReviewResult, config: LabelConfig) -> set[str]:
    """The labels the remaining findings call for, at most one per scoped-label scope
    (GitLab keeps one `scope::value` label per scope: two would replace each other)."""
    codes = {finding.rule for finding in result.findings.findings}
    candidates = []
    if config.error_label and result.findings.errors:
        candidates.append(config.error_label)
    for prefix, label in config.rules.items():
        if any(code.startswith(prefix) for code in codes):
            candidates.append(label)
    wanted: dict[tuple[str, str], str] = {}
    for label in candidates:
        scope = _scope(label)
        wanted.setdefault(("label", label) if scope is None else ("scope", scope), label)
    return set(wanted.values())


def label_changes(
    current: Iterable[str], wanted: Iterable[str], managed: Iterable[str]
) -> tuple[set[str], set[str]]:
    """`(add, remove)` turning the MR's labels `current` into ones carrying `wanted`: remove
    only `managed` labels that are no longer wanted, and add no scoped label whose scope holds
    another label the bot does not manage (adding it would make GitLab drop that label, e.g.
    `database::approved` set by a reviewer)."""
    current, wanted, managed = set(current), set(wanted), set(managed)
    remove = (current & managed) - wanted
    kept = current - remove
    add = set()
    for label in wanted - current:
        scope = _scope(label)
        if scope is not None and any(
            _scope(other) == scope and other not in managed for other in kept
        ):
            continue
        add.add(label)
    return add, remove


def _scope(label: str) -> str | None:
    scope, separator, _ = label.rpartition("::")
    return scope if separator else None


# -------------------------------------------------------------------------------- help


def help_note(bot_username: str) -> str:
    """The answer to `@<bot> help`."""
    name = bot_username.lstrip("@")
    lines = [
        f"**{_escape(name)}** reviews this merge request's database changes for what breaks "
        "under Cells: tables without a sharding key, unique indexes that are unique in one "
        "cell only, foreign keys across databases, sequences where they are not allowed, …",
        "",
        "On every push it updates one summary note, opens a thread on each finding's line "
        "(resolved when the finding is gone), sets a commit status (failed while an error "
        "remains) and labels.",
        "",
        "| Command | What it does |",
        "|---|---|",
    ]
    lines += [
        f"| {_cell(_code_span(f'@{name} {command}'))} | {what} |"
        for command, what in COMMANDS.items()
    ]
    lines += [
        "",
        "To silence a finding you have checked, add a comment with the rule code and a reason "
        "on the flagged statement: `-- cellsbot:ignore CELLS010 <reason>` in SQL, "
        "`# cellsbot:ignore CELLS002 <reason>` in `db/docs/*.yml`, or "
        "`cellsbot:ignore-file CODE <reason>` for a whole file.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Markdown


def _inline(text: str) -> str:
    """Text the bot did not write, safe on one Markdown line: newlines become `<br>`, and
    mentions, references, HTML and quick actions are neutralized outside code spans."""
    return "<br>".join(_escape(line) for line in _newlines(text).split("\n"))


def _escape(line: str) -> str:
    """Neutralize one line (see the module docstring); code spans are left as they are."""
    out, last = [], 0
    for match in _CODE_SPAN.finditer(line):
        out += [_neutral(line[last : match.start()]), match.group(0)]
        last = match.end()
    out.append(_neutral(line[last:]))
    text = "".join(out)
    return "\\" + text if text.startswith("/") else text


def _neutral(text: str) -> str:
    text = _MENTION.sub("@" + _ZWSP, text)
    text = _REFERENCE.sub(lambda match: match.group(1) + _ZWSP, text)
    return text.replace("<", "&lt;")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _link(text: str, url: str | None) -> str:
    if not url:
        return text
    return "[" + text.replace("[", "\\[").replace("]", "\\]") + f"]({url})"


def _code_span(text: str) -> str:
    text = " ".join(_newlines(text).split("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code(text: str, language: str) -> str:
    """A code block: fenced with exactly three backticks, or indented when the text holds a
    fence line of its own (a longer fence would hide nothing from GitLab's quick actions)."""
    text = _newlines(text).rstrip("\n")
    if _FENCE_LINE.search(text):
        return "\n".join(f"    {line}" if line else "" for line in text.split("\n"))
    return f"```{language}\n{text}\n```"


def _severity(severity: str) -> str:
    return f"{_ICONS.get(severity, '•')} {_escape(severity)}"


def _rank(finding: Finding) -> tuple[int, str, int, str]:
    return (_RANK.get(finding.severity, 3), finding.path, finding.line, finding.rule)


def _end(finding: Finding) -> int:
    return max(finding.end_line or finding.line, finding.line)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
