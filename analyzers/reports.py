"""Findings of the Cells rules in machine formats: GitLab Code Quality and SARIF 2.1.0.

Pure: findings in, JSON-ready dicts out; writing them to a file is the caller's job.

Both formats identify a finding across pipelines by the same `fingerprint`, built from what
the finding is about (rule, file, table, columns, message) and never from where it currently is
(its line), so a finding whose statement moved is still the same finding.

Sources for the format details below:

- GitLab Code Quality: GitLab's docs, `doc/ci/testing/code_quality.md`, "Code Quality report
  format" / "Implement a custom tool", and its parser: each issue is validated against
  `app/validators/json_schemas/codeclimate.json` (required `description`, `fingerprint`,
  `severity`, `location`; other properties allowed and ignored) and stored by fingerprint
  (`lib/gitlab/ci/reports/codequality_reports.rb`), so identical fingerprints collapse into
  one entry.
- SARIF: the OASIS SARIF 2.1.0 schema (`sarif-schema-2.1.0.json`, committee specification).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from analyzers.findings import ERROR, INFO, OFF, SEVERITIES, WARNING, Finding

TOOL_NAME = "cellsbot"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
# `result.partialFingerprints` property names are versioned hierarchical strings: bump the
# `/v1` when the fingerprint's recipe changes, so consumers do not compare unlike values.
FINGERPRINT_KEY = "cellsbot/v1"

# GitLab's scale is info < minor < major < critical < blocker. Errors map to "major", not
# "critical": severity only orders the Code Quality list (the gate is cellsbot's exit code 1),
# "major" is where linters put their errors, and GitLab merges the reports of every job of a
# pipeline into one list, so "critical"/"blocker" would rank every schema-lint error above
# other tools' security findings. Warnings are "minor"; info stays "info".
CODE_QUALITY_SEVERITY = {ERROR: "major", WARNING: "minor", INFO: "info"}
# SARIF `level`: "none", "note", "warning", "error".
SARIF_LEVEL = {ERROR: "error", WARNING: "warning", INFO: "note"}
# Code Climate's category; GitLab accepts it and ignores it.
CODE_QUALITY_CATEGORY = "Bug Risk"
# Where a suppression is kept: "inSource" (a construct in the analyzed file) or "external".
SUPPRESSION_KIND = "inSource"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule is, for a report's rule catalogue (SARIF `tool.driver.rules`)."""

    code: str  # e.g. CELLS010; a finding's `rule`
    name: str  # slug, e.g. unique-not-scoped-by-sharding-key; its docs are docs/rules/<name>.md
    summary: str  # one sentence
    description: str  # enough to resolve a finding of the rule
    default_severity: str  # one of findings.SEVERITIES

    def __post_init__(self) -> None:
        if self.default_severity not in SEVERITIES:
            raise ValueError(
                f"rule {self.code}: unknown severity {self.default_severity!r} "
                f"(one of {', '.join(SEVERITIES)})"
            )

    @property
    def docs_path(self) -> str:
        return f"docs/rules/{self.name}.md"


# ------------------------------------------------------------------------------ fingerprint

_WHITESPACE = re.compile(r"\s+")
# "line 42", "lines 42-45", "lines 42 to 45"
_LINE_WORDS = re.compile(r"\b(lines?)\s+\d+(?:\s*(?:-|\u2013|to)\s*\d+)?", re.IGNORECASE)
# "db/structure.sql:82", "db/docs/issues.yml:3:7"
_PATH_LINE = re.compile(r"(\.[A-Za-z0-9]+):\d+(?::\d+)?\b")


def normalize_message(message: str) -> str:
    """The message without what moves when lines are added above it: line numbers, spacing."""
    text = _LINE_WORDS.sub(lambda match: f"{match.group(1)} N", message)
    text = _PATH_LINE.sub(r"\1:N", text)
    return _WHITESPACE.sub(" ", text).strip()


def fingerprint(finding: Finding) -> str:
    """A stable identity of the finding: a SHA-256 hex digest of its rule, path, table, columns
    and normalized message. Not of its line or end line (they move when lines are added above
    it), severity (a configuration can change it) or rule slug (it may be renamed).
    """
    payload = json.dumps(
        [
            FINGERPRINT_KEY,
            finding.rule,
            finding.path,
            finding.table,
            list(finding.columns),
            normalize_message(finding.message),
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """`fingerprint` of each finding, made distinct where two findings would share one.

    Findings that differ only in their lines (the same rule, file, table, columns and message)
    would get one fingerprint, and GitLab keeps one issue per fingerprint. The first of them
    by line keeps `fingerprint(finding)`; the n-th after it gets a digest of that plus `n`.
    Both renderers number over all findings, suppressed ones included, so a finding gets the
    same fingerprint in Code Quality and in SARIF.
    """
    bases = [fingerprint(finding) for finding in findings]
    groups: dict[str, list[int]] = {}
    for position, base in enumerate(bases):
        groups.setdefault(base, []).append(position)
    result = list(bases)
    for base, positions in groups.items():
        ordered = sorted(positions, key=lambda i: (findings[i].line, _end_line(findings[i]), i))
        for occurrence, position in enumerate(ordered[1:], start=1):
            result[position] = hashlib.sha256(f"{base}/{occurrence}".encode()).hexdigest()
    return result


# ---------------------------------------------------------------------------- Code Quality


def to_code_quality(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """GitLab Code Quality issues (`artifacts: reports: codequality`), one per finding.

    Suppressed findings are left out: GitLab has no notion of a suppressed issue, and the
    merge-request widget is for what still needs doing. Findings of severity `off` are too.
    """
    issues = []
    for finding, print_ in zip(findings, fingerprints(findings), strict=True):
        if finding.suppressed_by is not None or _check_severity(finding) == OFF:
            continue
        issues.append(
            {
                # GitLab reads these ...
                "description": finding.message,
                "check_name": finding.rule,
                "fingerprint": print_,
                "severity": CODE_QUALITY_SEVERITY[finding.severity],
                "location": {
                    "path": finding.path,
                    # GitLab reads `begin`; `end` is Code Climate's and ignored by GitLab.
                    "lines": {"begin": finding.line, "end": _end_line(finding)},
                },
                # ... and accepts but ignores these (Code Climate's issue fields).
                "type": "issue",
                "categories": [CODE_QUALITY_CATEGORY],
                "engine_name": TOOL_NAME,
            }
        )
    return issues


# ----------------------------------------------------------------------------------- SARIF


def to_sarif(
    findings: Sequence[Finding],
    *,
    rules: Sequence[RuleInfo],
    tool_version: str,
    information_uri: str | None = None,
    docs_base_uri: str | None = None,
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: the rule catalogue and a result per finding.

    Every finding's rule must be in `rules`; `result.ruleIndex` is its position there.
    Suppressed findings are results with a suppression (kind `inSource`, the reason as the
    justification); findings of severity `off` are left out.

    `helpUri` and `informationUri` must be absolute URIs in SARIF, so a rule's `helpUri` is only
    given with `docs_base_uri` (e.g. `https://gitlab.com/org/cellsbot/-/blob/main/`); its
    repository-relative docs path is always in the rule's `properties.docs`.

    A `Fix` goes in the result's `properties.fix` (`Fix.to_json()`), not in `result.fixes`: a
    SARIF fix requires `artifactChanges` (file, region to delete, content to insert), which a
    fix here does not have; a fix with only a description does not validate.
    """
    _check_absolute("information_uri", information_uri)
    _check_absolute("docs_base_uri", docs_base_uri)
    index: dict[str, int] = {}
    for position, rule in enumerate(rules):
        if rule.code in index:
            raise ValueError(f"rule {rule.code} is listed twice")
        index[rule.code] = position

    results = []
    for finding, print_ in zip(findings, fingerprints(findings), strict=True):
        if _check_severity(finding) == OFF:
            continue
        if finding.rule not in index:
            raise ValueError(f"finding of rule {finding.rule} but no such rule in `rules`")
        results.append(_sarif_result(finding, index[finding.rule], print_))

    driver: dict[str, Any] = {"name": TOOL_NAME, "version": tool_version}
    if information_uri is not None:
        driver["informationUri"] = information_uri
    driver["rules"] = [_sarif_rule(rule, docs_base_uri) for rule in rules]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        # `results` is present even when empty: the log is of an actual scan.
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def _sarif_rule(rule: RuleInfo, docs_base_uri: str | None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.description},
    }
    if docs_base_uri is not None:
        descriptor["helpUri"] = f"{docs_base_uri.rstrip('/')}/{rule.docs_path}"
    if rule.default_severity == OFF:
        descriptor["defaultConfiguration"] = {"enabled": False, "level": "none"}
    else:
        descriptor["defaultConfiguration"] = {"level": SARIF_LEVEL[rule.default_severity]}
    descriptor["properties"] = {"docs": rule.docs_path}
    return descriptor


def _sarif_result(finding: Finding, rule_index: int, print_: str) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": quote(finding.path, safe="/")}}
    if finding.line >= 1:  # SARIF lines start at 1; a finding about a whole file has none
        physical["region"] = {"startLine": finding.line, "endLine": _end_line(finding)}
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": SARIF_LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: print_},
    }
    if finding.suppressed_by is not None:
        result["suppressions"] = [
            {"kind": SUPPRESSION_KIND, "justification": finding.suppressed_by}
        ]
    properties: dict[str, Any] = {}
    if finding.table is not None:
        properties["table"] = finding.table
    if finding.columns:
        properties["columns"] = list(finding.columns)
    if finding.fix is not None:
        properties["fix"] = finding.fix.to_json()
    if properties:
        result["properties"] = properties
    return result


# --------------------------------------------------------------------------------- helpers


def _end_line(finding: Finding) -> int:
    return finding.end_line if finding.end_line is not None else finding.line


def _check_severity(finding: Finding) -> str:
    if finding.severity not in SEVERITIES:
        raise ValueError(
            f"{finding.rule} at {finding.path}:{finding.line}: unknown severity "
            f"{finding.severity!r} (one of {', '.join(SEVERITIES)})"
        )
    return finding.severity


def _check_absolute(what: str, uri: str | None) -> None:
    if uri is not None and not (urlsplit(uri).scheme and urlsplit(uri).netloc):
        raise ValueError(f"{what} must be an absolute URI (SARIF requires one), not {uri!r}")
