"""Every rule's examples, which are also its documentation; and the pages are up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.rules import ALL_RULES, BY_CODE
from analyzers.rules.docs import pages
from analyzers.rules.examples import run_example

ROOT = Path(__file__).resolve().parents[2]
CASES = [(rule.code, number) for rule in ALL_RULES for number in range(len(rule.examples))]


@pytest.fixture(scope="module")
def gitlab_files(corpus: Path) -> dict[str, str]:
    folder = corpus / "gitlab" / "db" / "gitlab_schemas"
    return {f"db/gitlab_schemas/{p.name}": p.read_text() for p in folder.glob("*.yaml")}


@pytest.mark.parametrize(("code", "number"), CASES, ids=[f"{c}-{n}" for c, n in CASES])
def test_rule_example(code: str, number: int, request: pytest.FixtureRequest):
    rule = BY_CODE[code]
    example = rule.examples[number]
    files = request.getfixturevalue("gitlab_files") if example.mode == "gitlab" else {}
    findings = run_example(rule, example, gitlab_files=files)
    assert sorted(f.table or "" for f in findings) == sorted(example.expect), [
        f.message for f in findings
    ]
    for finding in findings:
        assert (finding.rule, finding.name, finding.severity) == (
            rule.code,
            rule.name,
            rule.severity,
        )
        assert finding.path
        assert finding.line > 0
        assert finding.message


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_every_rule_has_a_failing_and_a_passing_example_and_metadata(rule):
    assert any(e.expect for e in rule.examples)
    assert any(e.passes for e in rule.examples)
    assert rule.summary
    assert rule.rationale
    assert rule.remedy
    assert rule.name == rule.name.lower()
    assert " " not in rule.name


def test_rule_pages_are_generated_and_current():
    folder = ROOT / "docs" / "rules"
    expected = pages()
    on_disk = {p.name: p.read_text() for p in folder.glob("*.md")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    message = f"regenerate with `cellsbot rules --write-docs docs/rules`: {stale + extra}"
    assert not stale, message
    assert not extra, message
