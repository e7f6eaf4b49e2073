"""GitLab Code Quality and SARIF 2.1.0 renderings of findings, and their shared fingerprint."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from analyzers.findings import ERROR, INFO, OFF, WARNING, Finding, Fix
from analyzers.reports import (
    FINGERPRINT_KEY,
    RuleInfo,
    fingerprint,
    fingerprints,
    normalize_message,
    to_code_quality,
    to_sarif,
)

UNIQUE = RuleInfo(
    code="CELLS010",
    name="unique-not-scoped-by-sharding-key",
    summary="A unique index does not include the sharding key.",
    description="Uniqueness across cells needs the sharding key in the index. Add it.",
    default_severity=ERROR,
)
MISSING_KEY = RuleInfo(
    code="CELLS001",
    name="table-without-sharding-key",
    summary="A new table has no sharding key.",
    description="Every cell-local table declares its sharding key in db/docs/<table>.yml.",
    default_severity=WARNING,
)
ADVICE = RuleInfo(
    code="CELLS900",
    name="advice",
    summary="Advice.",
    description="Advice that needs no action.",
    default_severity=INFO,
)
RULES = [MISSING_KEY, UNIQUE, ADVICE]

FIX = Fix(
    kind="sql",
    text="CREATE UNIQUE INDEX ON issues (project_id, iid);",
    explanation="scope the index by the sharding key",
)


def make(**changes: Any) -> Finding:
    finding = Finding(
        rule="CELLS010",
        name="unique-not-scoped-by-sharding-key",
        severity=ERROR,
        path="db/structure.sql",
        line=120,
        end_line=122,
        message="unique index index_issues_on_iid on issues (iid) does not include project_id",
        table="issues",
        columns=("iid",),
    )
    return dataclasses.replace(finding, **changes)


# ----------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint(make()))


def test_fingerprint_is_deterministic() -> None:
    assert fingerprint(make()) == fingerprint(make())


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"line": 300}, id="line"),
        pytest.param({"line": 300, "end_line": 305}, id="line-and-end-line"),
        pytest.param({"end_line": None}, id="no-end-line"),
        pytest.param({"severity": WARNING}, id="severity"),
        pytest.param({"name": "renamed-slug"}, id="rule-slug"),
        pytest.param({"fix": FIX}, id="fix"),
        pytest.param({"suppressed_by": "legacy table"}, id="suppression"),
        pytest.param(
            {
                "message": "unique index  index_issues_on_iid on issues (iid)\n"
                "does not include project_id "
            },
            id="message-whitespace",
        ),
    ],
)
def test_fingerprint_ignores_what_moves_or_is_configured(changes: dict[str, Any]) -> None:
    assert fingerprint(make(**changes)) == fingerprint(make())


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"rule": "CELLS011"}, id="rule"),
        pytest.param({"table": "merge_requests"}, id="table"),
        pytest.param({"table": None}, id="no-table"),
        pytest.param({"columns": ("iid", "title")}, id="columns"),
        pytest.param({"columns": ()}, id="no-columns"),
        pytest.param({"path": "db/migrate/20240101_add_index.rb"}, id="path"),
        pytest.param({"message": "another message"}, id="message"),
    ],
)
def test_fingerprint_changes_with_what_the_finding_is_about(changes: dict[str, Any]) -> None:
    assert fingerprint(make(**changes)) != fingerprint(make())


def test_fingerprint_ignores_line_numbers_inside_the_message() -> None:
    before = make(message="index also defined at db/structure.sql:82 (line 82)", line=82)
    after = make(message="index also defined at db/structure.sql:95 (line 95)", line=95)
    assert fingerprint(before) == fingerprint(after)


@pytest.mark.parametrize(
    ("message", "normalized"),
    [
        ("see line 12", "see line N"),
        ("see Lines 12-14", "see Lines N"),
        ("see lines 12 to 14", "see lines N"),
        ("see lines 12\u201314", "see lines N"),
        ("defined at db/structure.sql:82", "defined at db/structure.sql:N"),
        ("defined at db/docs/issues.yml:3:7", "defined at db/docs/issues.yml:N"),
        ("  two\n\tlines  ", "two lines"),
        ("partition FOR VALUES IN ('101')", "partition FOR VALUES IN ('101')"),
        ("CAST('x' AS TEXT)::int", "CAST('x' AS TEXT)::int"),
    ],
)
def test_normalize_message(message: str, normalized: str) -> None:
    assert normalize_message(message) == normalized


def test_findings_differing_only_in_line_get_distinct_fingerprints() -> None:
    first, second = make(line=10, end_line=10), make(line=50, end_line=50)
    # given out of line order: numbering follows lines, not input order
    prints = fingerprints([second, first])
    assert prints[1] == fingerprint(first)
    assert prints[0] != prints[1]
    assert re.fullmatch(r"[0-9a-f]{64}", prints[0])
    assert fingerprints([first, second]) == [prints[1], prints[0]]


def test_unique_findings_keep_their_own_fingerprint() -> None:
    findings = [make(), make(table="projects"), make(rule="CELLS011")]
    assert fingerprints(findings) == [fingerprint(finding) for finding in findings]


# ---------------------------------------------------------------------------- Code Quality


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(ERROR, "major"), (WARNING, "minor"), (INFO, "info")],
)
def test_code_quality_severity(severity: str, expected: str) -> None:
    [issue] = to_code_quality([make(severity=severity)])
    assert issue["severity"] == expected


def test_code_quality_issue() -> None:
    finding = make(fix=FIX)
    assert to_code_quality([finding]) == [
        {
            "description": finding.message,
            "check_name": "CELLS010",
            "fingerprint": fingerprint(finding),
            "severity": "major",
            "location": {"path": "db/structure.sql", "lines": {"begin": 120, "end": 122}},
            "type": "issue",
            "categories": ["Bug Risk"],
            "engine_name": "cellsbot",
        }
    ]


def test_code_quality_end_defaults_to_the_line() -> None:
    [issue] = to_code_quality([make(line=7, end_line=None)])
    assert issue["location"]["lines"] == {"begin": 7, "end": 7}


def test_code_quality_has_the_fields_gitlab_validates() -> None:
    # GitLab's codeclimate.json: description, fingerprint, severity (strings) and location
    # are required; location.lines.begin is an integer. A bad issue stops GitLab's parse.
    for issue in to_code_quality([make(), make(line=3, end_line=None, severity=INFO)]):
        assert isinstance(issue["description"], str)
        assert isinstance(issue["fingerprint"], str)
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert isinstance(issue["check_name"], str)
        assert isinstance(issue["location"]["path"], str)
        assert type(issue["location"]["lines"]["begin"]) is int


def test_code_quality_leaves_out_suppressed_and_off_findings() -> None:
    kept = make(table="projects")
    findings = [make(suppressed_by="legacy table"), kept, make(severity=OFF, table="users")]
    assert [issue["fingerprint"] for issue in to_code_quality(findings)] == [fingerprint(kept)]


def test_code_quality_duplicates_do_not_collapse() -> None:
    issues = to_code_quality([make(line=10), make(line=50)])
    assert len({issue["fingerprint"] for issue in issues}) == 2


def test_code_quality_of_nothing() -> None:
    assert to_code_quality([]) == []


def test_code_quality_rejects_an_unknown_severity() -> None:
    with pytest.raises(ValueError, match="unknown severity 'fatal'"):
        to_code_quality([make(severity="fatal")])


# ----------------------------------------------------------------------------------- SARIF


@pytest.mark.parametrize(
    ("severity", "expected"),
    [(ERROR, "error"), (WARNING, "warning"), (INFO, "note")],
)
def test_sarif_level(severity: str, expected: str) -> None:
    log = to_sarif([make(severity=severity)], rules=RULES, tool_version="0.1.0")
    assert log["runs"][0]["results"][0]["level"] == expected


def test_sarif_result() -> None:
    finding = make()
    log = to_sarif([finding], rules=RULES, tool_version="0.1.0")
    [result] = log["runs"][0]["results"]
    assert result == {
        "ruleId": "CELLS010",
        "ruleIndex": 1,
        "level": "error",
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "db/structure.sql"},
                    "region": {"startLine": 120, "endLine": 122},
                }
            }
        ],
        "partialFingerprints": {"cellsbot/v1": fingerprint(finding)},
        "properties": {"table": "issues", "columns": ["iid"]},
    }
    assert log["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "CELLS010"


def test_sarif_rule_index_follows_the_rules_order() -> None:
    findings = [make(rule="CELLS900", severity=INFO), make(rule="CELLS001", table="projects")]
    log = to_sarif(findings, rules=RULES, tool_version="0.1.0")
    run = log["runs"][0]
    assert [result["ruleIndex"] for result in run["results"]] == [2, 0]
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_log_and_rules() -> None:
    log = to_sarif([], rules=[UNIQUE], tool_version="1.2.3")
    assert log == {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cellsbot",
                        "version": "1.2.3",
                        "rules": [
                            {
                                "id": "CELLS010",
                                "name": "unique-not-scoped-by-sharding-key",
                                "shortDescription": {"text": UNIQUE.summary},
                                "fullDescription": {"text": UNIQUE.description},
                                "defaultConfiguration": {"level": "error"},
                                "properties": {
                                    "docs": "docs/rules/unique-not-scoped-by-sharding-key.md"
                                },
                            }
                        ],
                    }
                },
                "results": [],
            }
        ],
    }


@pytest.mark.parametrize(
    ("severity", "configuration"),
    [
        (ERROR, {"level": "error"}),
        (WARNING, {"level": "warning"}),
        (INFO, {"level": "note"}),
        (OFF, {"enabled": False, "level": "none"}),
    ],
)
def test_sarif_rule_default_configuration(severity: str, configuration: dict[str, Any]) -> None:
    rule = dataclasses.replace(UNIQUE, default_severity=severity)
    log = to_sarif([], rules=[rule], tool_version="0.1.0")
    assert log["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"] == configuration


def test_sarif_uris_when_given() -> None:
    log = to_sarif(
        [],
        rules=[UNIQUE],
        tool_version="0.1.0",
        information_uri="https://gitlab.com/org/cellsbot",
        docs_base_uri="https://gitlab.com/org/cellsbot/-/blob/main/",
    )
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == "https://gitlab.com/org/cellsbot"
    assert driver["rules"][0]["helpUri"] == (
        "https://gitlab.com/org/cellsbot/-/blob/main/docs/rules/unique-not-scoped-by-sharding-key.md"
    )


@pytest.mark.parametrize("argument", ["information_uri", "docs_base_uri"])
def test_sarif_rejects_relative_uris(argument: str) -> None:
    with pytest.raises(ValueError, match="must be an absolute URI"):
        to_sarif([], rules=RULES, tool_version="0.1.0", **{argument: "docs/"})


def test_sarif_suppressed_finding_is_a_suppressed_result() -> None:
    suppressed = make(suppressed_by="legacy table, tracked in #123")
    log = to_sarif([suppressed, make(table="projects")], rules=RULES, tool_version="0.1.0")
    first, second = log["runs"][0]["results"]
    assert first["suppressions"] == [
        {"kind": "inSource", "justification": "legacy table, tracked in #123"}
    ]
    assert "suppressions" not in second
    assert to_code_quality([suppressed]) == []


def test_suppression_without_a_reason_still_suppresses() -> None:
    finding = make(suppressed_by="")  # `cellsbot:ignore CELLS010` with no reason
    assert to_code_quality([finding]) == []
    [result] = to_sarif([finding], rules=RULES, tool_version="0.1.0")["runs"][0]["results"]
    assert result["suppressions"] == [{"kind": "inSource", "justification": ""}]


def test_sarif_fix_is_in_the_property_bag() -> None:
    log = to_sarif([make(fix=FIX)], rules=RULES, tool_version="0.1.0")
    [result] = log["runs"][0]["results"]
    assert "fixes" not in result
    assert result["properties"]["fix"] == {
        "kind": "sql",
        "data": None,
        "text": "CREATE UNIQUE INDEX ON issues (project_id, iid);",
        "explanation": "scope the index by the sharding key",
        "alternatives": [],
    }


def test_sarif_without_table_columns_or_fix_has_no_property_bag() -> None:
    log = to_sarif([make(table=None, columns=())], rules=RULES, tool_version="0.1.0")
    assert "properties" not in log["runs"][0]["results"][0]


def test_sarif_whole_file_finding_has_no_region() -> None:
    log = to_sarif([make(line=0, end_line=None)], rules=RULES, tool_version="0.1.0")
    [location] = log["runs"][0]["results"][0]["locations"]
    assert location == {"physicalLocation": {"artifactLocation": {"uri": "db/structure.sql"}}}


def test_sarif_uri_is_percent_encoded() -> None:
    log = to_sarif([make(path="db/my schema#1.sql")], rules=RULES, tool_version="0.1.0")
    [location] = log["runs"][0]["results"][0]["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "db/my%20schema%231.sql"


def test_sarif_leaves_out_off_findings() -> None:
    log = to_sarif([make(severity=OFF)], rules=RULES, tool_version="0.1.0")
    assert log["runs"][0]["results"] == []


def test_sarif_rejects_a_finding_of_an_unlisted_rule() -> None:
    with pytest.raises(ValueError, match="CELLS010"):
        to_sarif([make()], rules=[MISSING_KEY], tool_version="0.1.0")


def test_sarif_rejects_a_rule_listed_twice() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        to_sarif([], rules=[UNIQUE, UNIQUE], tool_version="0.1.0")


def test_rule_info_rejects_an_unknown_severity() -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        RuleInfo("CELLS001", "x", "x", "x", "fatal")


# ------------------------------------------------------------------------ both, together


def test_fingerprints_agree_between_the_formats() -> None:
    findings = [
        make(line=10, suppressed_by="legacy"),  # first of two look-alikes, suppressed
        make(line=50),
        make(table="projects"),
    ]
    issues = to_code_quality(findings)
    results = to_sarif(findings, rules=RULES, tool_version="0.1.0")["runs"][0]["results"]
    sarif_prints = [result["partialFingerprints"][FINGERPRINT_KEY] for result in results]
    assert len(set(sarif_prints)) == 3
    assert [issue["fingerprint"] for issue in issues] == sarif_prints[1:]


def test_both_outputs_are_json() -> None:
    findings = [
        make(fix=dataclasses.replace(FIX, data={"sharding_key": {"project_id": "projects"}})),
        make(line=5, suppressed_by="reason", message="ünïcode ✓"),
        make(severity=INFO, rule="CELLS900", table=None, columns=()),
    ]
    issues = to_code_quality(findings)
    log = to_sarif(findings, rules=RULES, tool_version="0.1.0")
    assert json.loads(json.dumps(issues)) == issues
    assert json.loads(json.dumps(log)) == log


# ---------------------------------------------------------- SARIF structure (no jsonschema)

# The properties SARIF 2.1.0's schema allows on the objects written here (all of them have
# "additionalProperties": false), and the ones it requires.
_ALLOWED = {
    "log": {"$schema", "version", "runs", "inlineExternalProperties", "properties"},
    "run": {"tool", "invocations", "conversion", "language", "versionControlProvenance",
            "originalUriBaseIds", "artifacts", "logicalLocations", "graphs", "results",
            "automationDetails", "runAggregates", "baselineGuid", "redactionTokens",
            "defaultEncoding", "defaultSourceLanguage", "newlineSequences", "columnKind",
            "externalPropertyFileReferences", "threadFlowLocations", "taxonomies",
            "addresses", "translations", "policies", "webRequests", "webResponses",
            "specialLocations", "properties"},
    "tool": {"driver", "extensions", "properties"},
    "toolComponent": {"guid", "name", "organization", "product", "productSuite",
                      "shortDescription", "fullDescription", "fullName", "version",
                      "semanticVersion", "dottedQuadFileVersion", "releaseDateUtc",
                      "downloadUri", "informationUri", "globalMessageStrings", "notifications",
                      "rules", "taxa", "locations", "language", "contents", "isComprehensive",
                      "localizedDataSemanticVersion",
                      "minimumRequiredLocalizedDataSemanticVersion", "associatedComponent",
                      "translationMetadata", "supportedTaxonomies", "properties"},
    "reportingDescriptor": {"id", "deprecatedIds", "guid", "deprecatedGuids", "name",
                            "deprecatedNames", "shortDescription", "fullDescription",
                            "messageStrings", "defaultConfiguration", "helpUri", "help",
                            "relationships", "properties"},
    "reportingConfiguration": {"enabled", "level", "rank", "parameters", "properties"},
    "multiformatMessageString": {"text", "markdown", "properties"},
    "result": {"ruleId", "ruleIndex", "rule", "kind", "level", "message", "analysisTarget",
               "locations", "guid", "correlationGuid", "occurrenceCount",
               "partialFingerprints", "fingerprints", "stacks", "codeFlows", "graphs",
               "graphTraversals", "relatedLocations", "suppressions", "baselineState", "rank",
               "attachments", "hostedViewerUri", "workItemUris", "provenance", "fixes", "taxa",
               "webRequest", "webResponse", "properties"},
    "message": {"text", "markdown", "id", "arguments", "properties"},
    "location": {"id", "physicalLocation", "logicalLocations", "message", "annotations",
                 "relationships", "properties"},
    "physicalLocation": {"address", "artifactLocation", "region", "contextRegion", "properties"},
    "artifactLocation": {"uri", "uriBaseId", "index", "description", "properties"},
    "region": {"startLine", "startColumn", "endLine", "endColumn", "charOffset", "charLength",
               "byteOffset", "byteLength", "snippet", "message", "sourceLanguage",
               "properties"},
    # `state` in the 2.1.0 committee specification's schema, `status` in the SARIF 2.2 draft
    "suppression": {"guid", "kind", "state", "status", "justification", "location",
                    "properties"},
}  # fmt: skip
_LEVELS = {"none", "note", "warning", "error"}


def _object(value: Any, kind: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    assert isinstance(value, dict), f"{kind} is not an object"
    assert set(value) <= _ALLOWED[kind], f"{kind} has {set(value) - _ALLOWED[kind]}"
    for name in required:
        assert name in value, f"{kind} lacks {name}"
    return value


def _absolute_uri(value: Any) -> None:
    assert isinstance(value, str)
    assert urlsplit(value).scheme, f"{value!r} is not an absolute URI"


def _integer(value: Any, minimum: int) -> None:
    assert type(value) is int
    assert value >= minimum


def check_sarif(log: dict[str, Any]) -> None:
    """What the SARIF 2.1.0 schema requires of the parts of a log written here."""
    _object(log, "log", ("version", "runs"))
    assert log["version"] == "2.1.0"
    assert isinstance(log["runs"], list)
    for run in log["runs"]:
        _object(run, "run", ("tool",))
        driver = _object(_object(run["tool"], "tool", ("driver",))["driver"], "toolComponent")
        assert isinstance(driver["name"], str)
        if "informationUri" in driver:
            _absolute_uri(driver["informationUri"])
        rules = driver.get("rules", [])
        assert len({rule["id"] for rule in rules}) == len(rules)
        for rule in rules:
            _object(rule, "reportingDescriptor", ("id",))
            for text in ("shortDescription", "fullDescription"):
                if text in rule:
                    assert isinstance(
                        _object(rule[text], "multiformatMessageString", ("text",))["text"], str
                    )
            if "helpUri" in rule:
                _absolute_uri(rule["helpUri"])
            if "defaultConfiguration" in rule:
                configuration = _object(rule["defaultConfiguration"], "reportingConfiguration")
                assert configuration.get("level", "warning") in _LEVELS
                assert isinstance(configuration.get("enabled", True), bool)
        for result in run["results"]:
            _object(result, "result", ("message",))
            assert isinstance(_object(result["message"], "message", ("text",))["text"], str)
            assert result.get("level", "warning") in _LEVELS
            if "ruleIndex" in result:
                _integer(result["ruleIndex"], -1)
                assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
            for location in result.get("locations", []):
                physical = _object(location, "location")["physicalLocation"]
                _object(physical, "physicalLocation", ("artifactLocation",))
                uri = _object(physical["artifactLocation"], "artifactLocation")["uri"]
                assert isinstance(uri, str)
                assert not urlsplit(uri).scheme, "repository-relative"
                assert " " not in uri
                if "region" in physical:
                    region = _object(physical["region"], "region")
                    _integer(region["startLine"], 1)
                    _integer(region.get("endLine", region["startLine"]), region["startLine"])
            for name, value in result.get("partialFingerprints", {}).items():
                assert isinstance(name, str)
                assert isinstance(value, str)
            for suppression in result.get("suppressions", []):
                _object(suppression, "suppression", ("kind",))
                assert suppression["kind"] in {"inSource", "external"}
                assert isinstance(suppression.get("justification", ""), str)
            for fix in result.get("fixes", []):
                assert fix.get("artifactChanges"), "a SARIF fix needs artifactChanges"


def test_sarif_structure() -> None:
    findings = [
        make(fix=FIX),
        make(line=5, end_line=None, suppressed_by="legacy"),
        make(rule="CELLS001", severity=WARNING, table="projects", columns=()),
        make(rule="CELLS900", severity=INFO, line=0, end_line=None, table=None, columns=()),
        make(path="db/with space.sql"),
    ]
    check_sarif(
        to_sarif(
            findings,
            rules=[*RULES, dataclasses.replace(ADVICE, code="CELLS999", default_severity=OFF)],
            tool_version="0.1.0",
            information_uri="https://gitlab.com/org/cellsbot",
            docs_base_uri="https://gitlab.com/org/cellsbot/-/blob/main",
        )
    )
    check_sarif(to_sarif([], rules=[], tool_version="0.1.0"))


def test_structure_check_catches_a_fix_without_artifact_changes() -> None:
    log = to_sarif([make()], rules=RULES, tool_version="0.1.0")
    log["runs"][0]["results"][0]["fixes"] = [{"description": {"text": FIX.text}}]
    with pytest.raises(AssertionError, match="artifactChanges"):
        check_sarif(log)
