"""Run the Cells rules on a change: severities from the configuration, then suppressions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from analyzers.cells_config import RuleSetting
from analyzers.config import matches_any
from analyzers.findings import OFF, Finding, FindingSet
from analyzers.names import bare
from analyzers.rules import ALL_RULES, Rule, RuleContext

if TYPE_CHECKING:
    from analyzers.suppressions import Suppression


def run_rules(
    ctx: RuleContext,
    *,
    rules: Iterable[Rule] = ALL_RULES,
    settings: Iterable[RuleSetting] = (),
    suppressions: Iterable[Suppression] = (),
    extra: Iterable[Finding] = (),
) -> FindingSet:
    """Findings of `rules` (those for the context's mode), plus `extra` findings (e.g. about
    suppression comments), with configured severities applied and suppressions honoured."""
    settings = tuple(settings)
    found = check(ctx, rules=rules, settings=settings)
    return suppress(found, suppressions=suppressions, extra=extra, settings=settings)


def check(
    ctx: RuleContext, *, rules: Iterable[Rule] = ALL_RULES, settings: Iterable[RuleSetting] = ()
) -> list[Finding]:
    """The rules' findings with configured severities; those set to `off` are left out."""
    found: list[Finding] = []
    for rule in rules:
        if ctx.cells.mode not in rule.modes or (
            rule.needs_sharding_model and not ctx.cells.configured
        ):
            continue
        found.extend(rule.check(ctx))
    return _with_severities(found, tuple(settings))


def suppress(
    findings: list[Finding],
    *,
    suppressions: Iterable[Suppression] = (),
    extra: Iterable[Finding] = (),
    settings: Iterable[RuleSetting] = (),
) -> FindingSet:
    """Apply suppressions; `extra` findings (about the suppressions) get severities too."""
    suppressions = list(suppressions)
    if not suppressions:  # the usual case: no need to load the suppression machinery
        result = FindingSet(findings + _with_severities(list(extra), tuple(settings)))
        result.findings.sort(key=_order)
        return result
    from analyzers.suppressions import apply_suppressions  # noqa: PLC0415

    result = apply_suppressions(
        findings + _with_severities(list(extra), tuple(settings)), list(suppressions)
    )
    result.findings.sort(key=_order)
    result.suppressed.sort(key=_order)
    return result


def _with_severities(found: list[Finding], settings: tuple[RuleSetting, ...]) -> list[Finding]:
    kept = []
    for finding in found:
        severity = severity_of(finding, settings)
        if severity != OFF:
            kept.append(
                finding if severity == finding.severity else replace(finding, severity=severity)
            )
    return kept


def severity_of(finding: Finding, settings: tuple[RuleSetting, ...]) -> str:
    """The last setting for the finding's rule whose paths and tables match wins."""
    severity = finding.severity
    for setting in settings:
        if setting.code != finding.rule:
            continue
        if setting.paths and not matches_any(finding.path, setting.paths):
            continue
        if setting.tables and not (
            finding.table and matches_any(bare(finding.table), setting.tables)
        ):
            continue
        severity = setting.severity
    return severity


def _order(finding: Finding) -> tuple[str, int, str]:
    return (finding.path, finding.line, finding.rule)
