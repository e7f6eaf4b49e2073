"""What the Cells rules report: findings, each with the fix a reviewer can apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"
OFF = "off"
SEVERITIES = (ERROR, WARNING, INFO, OFF)


@dataclass(frozen=True, slots=True)
class Fix:
    """A change that resolves a finding.

    `kind` says what it is: `sharding_key` / `desired_sharding_key` (`data` is the mapping as it
    appears under that key in `db/docs/<table>.yml`), `dictionary` (YAML lines of a dictionary
    file), `sql` (statements), `claim` (a claim catalogue entry), `config` (`.cellsbot.yml`
    lines), `text` (advice). `text` is what a reviewer pastes; `alternatives` are other fixes
    of the same kind, best first.
    """

    kind: str
    text: str
    data: Any = None
    explanation: str = ""
    alternatives: tuple[Fix, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "data": self.data,
            "text": self.text,
            "explanation": self.explanation,
            "alternatives": [alternative.to_json() for alternative in self.alternatives],
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one place: a file and line of the head revision."""

    rule: str  # code, e.g. CELLS010
    name: str  # slug, e.g. unique-not-scoped-by-sharding-key
    severity: str
    path: str
    line: int
    message: str
    end_line: int | None = None
    table: str | None = None
    columns: tuple[str, ...] = ()
    fix: Fix | None = None
    suppressed_by: str | None = None  # the suppression's reason, when suppressed

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line if self.end_line is not None else self.line,
            "table": self.table,
            "columns": list(self.columns),
            "message": self.message,
            "fix": self.fix.to_json() if self.fix else None,
        }
        if self.suppressed_by is not None:
            data["suppressed_by"] = self.suppressed_by
        return data


@dataclass(slots=True)
class FindingSet:
    """Findings that remain and findings a suppression silenced."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == ERROR]
