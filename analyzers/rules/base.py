"""What every Cells rule is made of, and the context it checks a change in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from analyzers.cells import CellsContext, TablePolicy
from analyzers.diff import Change
from analyzers.findings import Finding, Fix
from analyzers.model import FOREIGN_KEY, Constraint, Location, Schema, Table

if TYPE_CHECKING:
    from analyzers.build import UnanalyzableItem


@dataclass(frozen=True, slots=True)
class Example:
    """A case that is at once a test of the rule and an example on its documentation page.

    `sql` is the head revision's schema and `base_sql` the base's (empty: everything is new).
    `docs` are GitLab dictionary files by table (GitLab mode, with the real schema catalogue);
    `config` is `.cellsbot.yml` (generic mode). `expect` lists the findings of this rule, as
    `"table"` or `"table.column"` strings; empty for an example that must pass.
    """

    title: str
    sql: str
    expect: tuple[str, ...] = ()
    base_sql: str = ""
    docs: dict[str, str] = field(default_factory=dict)
    config: str = ""
    mode: str = "generic"

    @property
    def passes(self) -> bool:
        return not self.expect


class Rule:
    """One Cells rule: metadata declared on the class, and `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[str]
    summary: ClassVar[str]  # one line: what it finds
    rationale: ClassVar[str]  # why that breaks under cells
    remedy: ClassVar[str]  # how to fix it
    modes: ClassVar[tuple[str, ...]] = ("gitlab", "generic")
    needs_sharding_model: ClassVar[bool] = True  # off in generic mode without `cells.roots`
    examples: ClassVar[tuple[Example, ...]] = ()

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(
        self,
        at: Location,
        message: str,
        *,
        table: str | None = None,
        columns: tuple[str, ...] = (),
        fix: Fix | None = None,
        end_line: int | None = None,
    ) -> Finding:
        return Finding(
            rule=self.code,
            name=self.name,
            severity=self.severity,
            path=at.path,
            line=at.line,
            end_line=end_line,
            message=message,
            table=table,
            columns=columns,
            fix=fix,
        )


@dataclass
class RuleContext:
    """A change under review: both models, the diff, and the sharding model of the head."""

    head: Schema
    base: Schema
    changes: list[Change]
    cells: CellsContext
    unanalyzable: list[tuple[UnanalyzableItem, bool]] = field(default_factory=list)
    dictionary_changed: frozenset[str] = frozenset()  # tables whose db/docs entry changed

    def policy(self, table: str) -> TablePolicy:
        return self.cells.policy(table, self.head)

    @cached_property
    def new_tables(self) -> list[Table]:
        """Tables the change adds, partitions excepted (they follow their parent)."""
        names = [c.name for c in self.changes if c.kind == "table_added"]
        return [
            self.head.tables[n]
            for n in names
            if n in self.head.tables and not self.head.tables[n].partition_of
        ]

    @cached_property
    def key_subjects(self) -> list[Table]:
        """Tables whose sharding key needs checking: new ones, those whose dictionary entry
        changed, and those with a key column added or altered."""
        names = {t.name for t in self.new_tables}
        names.update(t for t in self.dictionary_changed if t in self.head.tables)
        for change in self.changes:
            if change.object == "column" and change.action in (
                "added",
                "altered",
                "renamed",
                "dropped",
            ):
                key = self.policy(change.table or "").sharding_key or {}
                if change.name in key:
                    names.add(change.table or "")
        tables = [self.head.tables[n] for n in sorted(names) if n in self.head.tables]
        return [t for t in tables if not t.partition_of]

    def added(self, *kinds: str) -> list[Change]:
        return [c for c in self.changes if c.kind in kinds]

    @cached_property
    def foreign_keys_from(self) -> dict[str, list[Constraint]]:
        """Foreign keys of each table of the head model."""
        return {
            name: [c for c in t.constraints.values() if c.kind == FOREIGN_KEY]
            for name, t in self.head.tables.items()
        }

    @cached_property
    def indexed_first_columns(self) -> dict[str, set[str]]:
        """For each table, the columns that lead an index or a key (fast to look up by)."""
        result: dict[str, set[str]] = {}
        for index in self.head.indexes.values():
            if index.columns:
                result.setdefault(index.table, set()).add(index.columns[0].split(" ")[0].strip('"'))
        for table in self.head.tables.values():
            for constraint in table.constraints.values():
                if constraint.kind in ("primary_key", "unique") and constraint.columns:
                    result.setdefault(table.name, set()).add(constraint.columns[0])
        return result

    def table_location(self, table: Table) -> Location:
        return table.location

    def declaration(self, policy: TablePolicy, table: Table) -> Location:
        """Where a table's sharding key is declared (its dictionary entry), else the table."""
        if policy.declared_in and policy.declared_in != ".cellsbot.yml":
            return Location(policy.declared_in, policy.declared_line or 1)
        return table.location
