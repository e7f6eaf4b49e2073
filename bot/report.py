"""Render a review: text for a terminal, JSON, GitLab Code Quality, SARIF."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzers.reports import RuleInfo
    from bot.review import ReviewResult


def render(result: ReviewResult, fmt: str) -> str:
    """The review in one of the formats of `cellsbot review --format`."""
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2) + "\n"
    if fmt == "codequality":
        from analyzers.reports import to_code_quality  # noqa: PLC0415 (only for this format)

        return json.dumps(to_code_quality(result.findings.findings), indent=2) + "\n"
    if fmt == "sarif":
        from analyzers.reports import to_sarif  # noqa: PLC0415 (only for this format)

        everything = result.findings.findings + result.findings.suppressed
        sarif = to_sarif(everything, rules=rule_catalogue(), tool_version=_version())
        return json.dumps(sarif, indent=2) + "\n"
    return render_text(result.to_json())


def rule_catalogue() -> list[RuleInfo]:
    from analyzers.reports import RuleInfo  # noqa: PLC0415
    from analyzers.rules import ALL_RULES  # noqa: PLC0415
    from analyzers.suppressions import RULE as SUPPRESSION_RULE  # noqa: PLC0415
    from analyzers.suppressions import RULE_NAME as SUPPRESSION_RULE_NAME  # noqa: PLC0415

    infos = [
        RuleInfo(r.code, r.name, r.summary, f"{r.rationale} {r.remedy}", r.severity)
        for r in ALL_RULES
    ]
    summary = "A cellsbot:ignore comment without a reason, or without a valid rule code."
    infos.append(RuleInfo(SUPPRESSION_RULE, SUPPRESSION_RULE_NAME, summary, summary, "warning"))
    return infos


def _version() -> str:
    from importlib import metadata  # noqa: PLC0415 (only for SARIF; slow to import)

    try:
        return metadata.version("cellsbot")
    except metadata.PackageNotFoundError:
        return "0"


_SIGNS = {
    "added": "+",
    "dropped": "-",
    "altered": "~",
    "renamed": ">",
    "attached": "+",
    "detached": "-",
}


def render_text(review: dict[str, Any]) -> str:
    """The review as plain text: changes grouped by file, then unanalyzable statements."""
    changes, items = review["changes"], review["unanalyzable"]
    new_items = [item for item in items if item["new"]]
    findings, suppressed = review["findings"], review["suppressed"]
    errors = sum(1 for f in findings if f["severity"] == "error")
    lines = [
        f"cellsbot review {review['base'][:12]}..{review['head'][:12]} "
        f"({review['cells_mode']} mode)",
        f"{_plural(len(findings), 'finding')} ({_plural(errors, 'error')}), "
        f"{len(suppressed)} suppressed; {_plural(len(changes), 'schema change')}, "
        f"{_plural(len(items), 'unanalyzable statement')} ({len(new_items)} new)",
    ]
    lines += _findings(findings)
    if changes:
        lines += ["", "Schema changes:"]
    path = None
    for change in changes:
        where = change["path"] if change["side"] == "head" else f"{change['path']} (base)"
        if where != path:
            path = where
            lines += ["", where]
        lines.append(f"  {change['line']:>6}  {_SIGNS[change['action']]} {describe(change)}")
    if items:
        lines += ["", "Unanalyzable statements (their effect on the schema is not modeled):"]
        for item in items:
            mark = "new" if item["new"] else "old"
            lines.append(f"  {item['path']}:{item['line']}  [{mark}] {item['reason']}")
            if item["excerpt"]:
                lines.append(f"      {item['excerpt']}")
    stats = review["stats"]
    lines += [
        "",
        f"{_plural(stats['files'], 'file')}, {_plural(stats['statements'], 'statement')}, "
        f"{stats['parsed']} parsed, {stats['seconds']:.2f} s",
    ]
    return "\n".join(lines) + "\n"


def _findings(findings: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    path = None
    for finding in findings:
        if finding["path"] != path:
            path = finding["path"]
            lines += ["", path]
        lines.append(
            f"  {finding['line']:>6}  {finding['severity']:<7} "
            f"{finding['rule']} {finding['name']}: {finding['message']}"
        )
        fix = finding["fix"]
        if fix and fix["text"]:
            lines.append(f"{'':10}fix ({fix['kind']}):")
            lines += [f"{'':12}{line}" for line in fix["text"].rstrip().splitlines()]
    return lines


def describe(change: dict[str, Any]) -> str:
    """One line saying what changed, e.g. `column issues.title altered: type text -> varchar`."""
    obj, action, details = change["object"], change["action"], change["details"]
    name = change["name"]
    if obj in ("column", "constraint", "foreign_key", "trigger") and change["table"]:
        name = f"{change['table']}.{name}"
    label = obj.replace("_", " ")
    text = f"{label} {name} {action}"
    if action == "renamed":
        text += f" from {change['old_name']}"
    elif action == "altered":
        text += ": " + ", ".join(
            f"{key} {_value(value['before'])} -> {_value(value['after'])}"
            for key, value in details.items()
        )
    elif action == "added":
        text += _added_details(obj, details)
    elif obj == "partition":
        text += f" ({details['parent']}: {details['bound']})"
    return text


def _added_details(obj: str, details: dict[str, Any]) -> str:
    if obj == "table":
        suffix = f" ({_plural(len(details['columns']), 'column')})"
        if details.get("partition_by"):
            suffix += f", partitioned by {details['partition_by']}"
        if details.get("partition_of"):
            suffix += f", partition of {details['partition_of']} {details['partition_bound']}"
        return suffix
    if obj == "column":
        return f": {details['type']}{'' if details['nullable'] else ' NOT NULL'}"
    if obj == "index":
        unique = "unique " if details["unique"] else ""
        where = f" WHERE {details['where']}" if details.get("where") else ""
        return f": {unique}on {details['table']} ({', '.join(details['columns'])}){where}"
    not_valid = " NOT VALID" if details.get("not_valid") else ""
    if obj == "foreign_key":
        target = f"{details['ref_table']}({', '.join(details['ref_columns'])})"
        on_delete = f" ON DELETE {details['on_delete']}" if details.get("on_delete") else ""
        return f": ({', '.join(details['columns'])}) -> {target}{on_delete}{not_valid}"
    if obj == "constraint":
        kind = details["type"].replace("_", " ").upper()
        body = details.get("expression") or ", ".join(details["columns"])
        return f": {kind} ({body}){not_valid}"
    return ""


def _value(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
