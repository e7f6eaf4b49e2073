"""Compare two schema models: what was added, dropped, altered or renamed, and where."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from analyzers.model import (
    FOREIGN_KEY,
    Column,
    Constraint,
    Index,
    Location,
    Rename,
    Schema,
    Sequence,
    Table,
    Trigger,
)

HEAD = "head"
BASE = "base"
T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Change:
    """One schema change. `path`/`line` are in the head revision, or the base one for drops."""

    object: (
        str  # schema, table, column, constraint, foreign_key, index, sequence, trigger, partition
    )
    action: str  # added, dropped, altered, renamed, attached, detached
    name: str
    path: str
    line: int
    side: str = HEAD
    table: str | None = None
    old_name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return f"{self.object}_{self.action}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object": self.object,
            "action": self.action,
            "table": self.table,
            "name": self.name,
            "old_name": self.old_name,
            "path": self.path,
            "line": self.line,
            "side": self.side,
            "details": self.details,
        }


def diff_schemas(base: Schema, head: Schema) -> list[Change]:
    """All changes from `base` to `head`, ordered by side, file and line."""
    differ = _Differ(base, head)
    differ.run()
    return sorted(differ.changes, key=lambda c: (c.side != HEAD, c.path, c.line, c.kind, c.name))


def _new_renames(base: Schema, head: Schema, kind: str) -> list[Rename]:
    """Renames the head's files perform that the base's do not (explicit RENAME statements)."""
    seen = {(r.kind, r.table, r.old, r.new) for r in base.renames}
    return [
        r for r in head.renames if r.kind == kind and (r.kind, r.table, r.old, r.new) not in seen
    ]


def _pair_renames(
    dropped: dict[str, T],
    added: dict[str, T],
    signature: Callable[[T], Any],
) -> dict[str, str]:
    """Pair a dropped and an added object whose definitions are equal and unambiguous.

    A schema dump shows a rename only as one object gone and an identical one new.
    """
    by_signature: dict[Any, list[str]] = {}
    for name, obj in added.items():
        by_signature.setdefault(signature(obj), []).append(name)
    dropped_by_signature: dict[Any, list[str]] = {}
    for name, obj in dropped.items():
        dropped_by_signature.setdefault(signature(obj), []).append(name)
    pairs = {}
    for sig, old_names in dropped_by_signature.items():
        new_names = by_signature.get(sig, [])
        if len(old_names) == 1 and len(new_names) == 1:
            pairs[old_names[0]] = new_names[0]
    return pairs


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    keys = [*after, *(k for k in before if k not in after)]
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in keys
        if before.get(k) != after.get(k)
    }


class _Differ:
    def __init__(self, base: Schema, head: Schema) -> None:
        self.base = base
        self.head = head
        self.changes: list[Change] = []
        self.table_map: dict[str, str] = {}  # base table name -> head table name

    def run(self) -> None:
        self._schemas()
        self._tables()
        self._indexes()
        self._sequences()
        self._triggers()

    def _add(self, obj: str, action: str, name: str, at: Location, **extra: Any) -> None:
        self.changes.append(Change(obj, action, name, at.path, at.line, **extra))

    def _drop(self, obj: str, name: str, at: Location, **extra: Any) -> None:
        self.changes.append(Change(obj, "dropped", name, at.path, at.line, side=BASE, **extra))

    def _schemas(self) -> None:
        for name in self.head.schemas.keys() - self.base.schemas.keys():
            at = self.head.schemas[name] or Location("", 0)
            self._add("schema", "added", name, at)
        for name in self.base.schemas.keys() - self.head.schemas.keys():
            self._drop("schema", name, self.base.schemas[name] or Location("", 0))

    # tables -------------------------------------------------------------------------------

    def _tables(self) -> None:
        base, head = self.base.tables, self.head.tables
        renames = {
            r.old: r.new
            for r in _new_renames(self.base, self.head, "table")
            if r.old in base and r.new in head and r.old not in head and r.new not in base
        }
        dropped = {n: t for n, t in base.items() if n not in head and n not in renames}
        added = {n: t for n, t in head.items() if n not in base and n not in renames.values()}
        renames.update(_pair_renames(dropped, added, _table_signature))
        self.table_map = {name: name for name in base if name in head}
        self.table_map.update(renames)
        for old, new in renames.items():
            self._add("table", "renamed", new, head[new].location, table=new, old_name=old)
        for name, table in base.items():
            if name not in self.table_map:
                self._drop("table", name, table.location, table=name)
        for name, table in head.items():
            if name not in self.table_map.values():
                self._table_added(table)
        for old, new in self.table_map.items():
            self._table_altered(base[old], head[new])

    def _table_added(self, table: Table) -> None:
        details = {
            "columns": [_column_json(c) for c in table.columns.values()],
            "partition_by": table.partition_by,
            "partition_of": table.partition_of,
            "partition_bound": table.partition_bound,
        }
        self._add("table", "added", table.name, table.location, table=table.name, details=details)
        for constraint in _own(table.constraints).values():
            self._constraint_change("added", table.name, constraint)

    def _table_altered(self, before: Table, after: Table) -> None:
        columns = self._columns(before, after)
        self._constraints(before, after, columns)
        if before.partition_by != after.partition_by:
            details = _changed_fields(
                {"partition_by": before.partition_by}, {"partition_by": after.partition_by}
            )
            self._add(
                "table", "altered", after.name, after.location, table=after.name, details=details
            )
        self._partition(before, after)

    def _partition(self, before: Table, after: Table) -> None:
        parent_before = self.table_map.get(before.partition_of or "", before.partition_of)
        if parent_before == after.partition_of and before.partition_bound == after.partition_bound:
            return
        action, source = ("attached", after) if after.partition_of else ("detached", before)
        if source.partition_of:
            details = {"parent": source.partition_of, "bound": source.partition_bound}
            self._add(
                "partition", action, after.name, after.location, table=after.name, details=details
            )

    # columns ------------------------------------------------------------------------------

    def _columns(self, before: Table, after: Table) -> dict[str, str]:
        """Report column changes; return the base-to-head column name mapping."""
        old_columns, new_columns = _own(before.columns), _own(after.columns)
        renames = {
            r.old: r.new
            for r in _new_renames(self.base, self.head, "column")
            if r.table in (before.name, after.name)
            and r.old in old_columns
            and r.new in new_columns
            and r.old not in new_columns
        }
        dropped = {
            n: c for n, c in old_columns.items() if n not in new_columns and n not in renames
        }
        added = {
            n: c
            for n, c in new_columns.items()
            if n not in old_columns and n not in renames.values()
        }
        positions_before = {n: i for i, n in enumerate(old_columns)}
        positions_after = {n: i for i, n in enumerate(new_columns)}
        renames.update(
            _pair_renames(
                {n: (positions_before[n], c) for n, c in dropped.items()},
                {n: (positions_after[n], c) for n, c in added.items()},
                lambda item: (item[0], item[1].definition()),
            )
        )
        mapping = {name: name for name in old_columns if name in new_columns}
        mapping.update(renames)
        table = after.name
        for old, new in renames.items():
            self._add(
                "column", "renamed", new, new_columns[new].location, table=table, old_name=old
            )
        for name, column in old_columns.items():
            if name not in mapping:
                self._drop("column", name, column.location, table=before.name)
        for name, column in new_columns.items():
            if name not in mapping.values():
                self._add(
                    "column",
                    "added",
                    name,
                    column.location,
                    table=table,
                    details=_column_json(column),
                )
        for old, new in mapping.items():
            changed = _changed_fields(
                _column_json(old_columns[old]), _column_json(new_columns[new])
            )
            changed.pop("name", None)
            if changed:
                self._add(
                    "column",
                    "altered",
                    new,
                    new_columns[new].location,
                    table=table,
                    details=changed,
                )
        return mapping

    # constraints --------------------------------------------------------------------------

    def _constraints(self, before: Table, after: Table, columns: dict[str, str]) -> None:
        def signature(constraint: Constraint) -> tuple[Any, ...]:
            return self._constraint_signature(constraint, columns)

        old_constraints, new_constraints = _own(before.constraints), _own(after.constraints)
        renames = {
            r.old: r.new
            for r in _new_renames(self.base, self.head, "constraint")
            if r.old in old_constraints
            and r.new in new_constraints
            and r.old not in new_constraints
        }
        dropped = {
            n: c
            for n, c in old_constraints.items()
            if n not in new_constraints and n not in renames
        }
        added = {
            n: c
            for n, c in new_constraints.items()
            if n not in old_constraints and n not in renames.values()
        }
        renames.update(_pair_renames(dropped, added, signature))
        mapping = {n: n for n in old_constraints if n in new_constraints}
        mapping.update(renames)
        table = after.name
        for old, new in renames.items():
            self._constraint_change("renamed", table, new_constraints[new], old_name=old)
        for name, constraint in old_constraints.items():
            if name not in mapping:
                self._constraint_change("dropped", before.name, constraint)
        for name, constraint in new_constraints.items():
            if name not in mapping.values():
                self._constraint_change("added", table, constraint)
        for old, new in mapping.items():
            was, now = old_constraints[old], new_constraints[new]
            if signature(was) != now.definition() or was.not_valid != now.not_valid:
                changed = _changed_fields(_constraint_json(was, columns), _constraint_json(now))
                changed.pop("name", None)
                self._constraint_change("altered", table, now, details=changed)

    def _constraint_signature(
        self, constraint: Constraint, columns: dict[str, str]
    ) -> tuple[Any, ...]:
        """The base constraint's definition in head names (renamed columns and tables)."""
        definition = list(constraint.definition())
        definition[1] = tuple(columns.get(c, c) for c in constraint.columns)
        if constraint.ref_table:
            definition[3] = self.table_map.get(constraint.ref_table, constraint.ref_table)
        return tuple(definition)

    def _constraint_change(
        self, action: str, table: str, constraint: Constraint, **extra: Any
    ) -> None:
        obj = "foreign_key" if constraint.kind == FOREIGN_KEY else "constraint"
        extra.setdefault("details", _constraint_json(constraint))
        if action == "dropped":
            self._drop(obj, constraint.name, constraint.location, table=table, **extra)
        else:
            self._add(obj, action, constraint.name, constraint.location, table=table, **extra)

    # indexes, sequences, triggers ---------------------------------------------------------

    def _indexes(self) -> None:
        self._named_objects(
            "index",
            base=_own(self.base.indexes),
            head=_own(self.head.indexes),
            owner=lambda index: index.table,
            signature=lambda index: (
                self.table_map.get(index.table, index.table),
                *index.definition()[1:],
            ),
            to_json=_index_json,
        )

    def _sequences(self) -> None:
        def owner(sequence: Sequence) -> str | None:
            return sequence.owned_by[0] if sequence.owned_by else None

        def signature(sequence: Sequence) -> tuple[Any, ...]:
            if not sequence.owned_by:
                return (None,)
            return (
                self.table_map.get(sequence.owned_by[0], sequence.owned_by[0]),
                sequence.owned_by[1],
            )

        self._named_objects(
            "sequence",
            base=self.base.sequences,
            head=self.head.sequences,
            owner=owner,
            signature=signature,
            to_json=_sequence_json,
        )

    def _named_objects(
        self,
        obj: str,
        *,
        base: dict[str, Any],
        head: dict[str, Any],
        owner: Callable[[Any], str | None],
        signature: Callable[[Any], tuple[Any, ...]],
        to_json: Callable[[Any], dict[str, Any]],
    ) -> None:
        """Objects with their own names (indexes, sequences), each belonging to a table."""
        renames = {
            r.old: r.new
            for r in _new_renames(self.base, self.head, obj)
            if r.old in base and r.new in head and r.old not in head
        }
        dropped = {n: o for n, o in base.items() if n not in head and n not in renames}
        added = {n: o for n, o in head.items() if n not in base and n not in renames.values()}
        renames.update(_pair_renames(dropped, added, signature))
        for old, new in renames.items():
            item = head[new]
            self._add(
                obj,
                "renamed",
                new,
                item.location,
                table=owner(item),
                old_name=old,
                details=to_json(item),
            )
        for name, item in dropped.items():
            table = owner(item)
            if name not in renames and (table is None or table in self.table_map):
                self._drop(obj, name, item.location, table=table, details=to_json(item))
        for name, item in added.items():
            if name not in renames.values():
                self._add(
                    obj, "added", name, item.location, table=owner(item), details=to_json(item)
                )
        for name in base.keys() & head.keys():
            before, after = base[name], head[name]
            if signature(before) != signature(after):
                changed = _changed_fields(to_json(before), to_json(after))
                self._add(obj, "altered", name, after.location, table=owner(after), details=changed)

    def _triggers(self) -> None:
        base = {(self.table_map.get(t, t), n): g for (t, n), g in _own(self.base.triggers).items()}
        head = _own(self.head.triggers)
        for key, trigger in base.items():
            if key not in head and trigger.table in self.table_map:
                self._drop(
                    "trigger",
                    trigger.name,
                    trigger.location,
                    table=trigger.table,
                    details=_trigger_json(trigger),
                )
        for key, trigger in head.items():
            if key not in base:
                self._add(
                    "trigger",
                    "added",
                    trigger.name,
                    trigger.location,
                    table=trigger.table,
                    details=_trigger_json(trigger),
                )
            elif (base[key].function, base[key].when) != (trigger.function, trigger.when):
                changed = _changed_fields(_trigger_json(base[key]), _trigger_json(trigger))
                changed.pop("table", None)
                self._add(
                    "trigger",
                    "altered",
                    trigger.name,
                    trigger.location,
                    table=trigger.table,
                    details=changed,
                )


def _own(objects: dict[K, T]) -> dict[K, T]:
    """Leave out the clones partitions inherit: the parent's change is reported once."""
    return {key: obj for key, obj in objects.items() if not getattr(obj, "inherited", False)}


def _table_signature(table: Table) -> tuple[Any, ...]:
    return tuple((c.name, c.definition()) for c in table.columns.values())


def _column_json(column: Column) -> dict[str, Any]:
    return {
        "name": column.name,
        "type": column.type,
        "nullable": column.nullable,
        "default": column.default,
        "identity": column.identity,
        "generated": column.generated,
    }


def _constraint_json(
    constraint: Constraint, columns: dict[str, str] | None = None
) -> dict[str, Any]:
    names = [(columns or {}).get(c, c) for c in constraint.columns]
    data: dict[str, Any] = {"name": constraint.name, "type": constraint.kind, "columns": names}
    if constraint.expression is not None:
        data["expression"] = constraint.expression
    if constraint.kind == FOREIGN_KEY:
        data.update(
            ref_table=constraint.ref_table,
            ref_columns=constraint.ref_columns,
            on_delete=constraint.on_delete,
            on_update=constraint.on_update,
        )
    if constraint.nulls_not_distinct:
        data["nulls_not_distinct"] = True
    data["not_valid"] = constraint.not_valid
    return data


def _index_json(index: Index) -> dict[str, Any]:
    data: dict[str, Any] = {"table": index.table, "unique": index.unique, "columns": index.columns}
    for key in ("where", "using", "parent"):
        if getattr(index, key):
            data[key] = getattr(index, key)
    if index.include:
        data["include"] = index.include
    if index.only:
        data["only"] = True
    if index.nulls_not_distinct:
        data["nulls_not_distinct"] = True
    return data


def _sequence_json(sequence: Sequence) -> dict[str, Any]:
    return {"owned_by": ".".join(sequence.owned_by) if sequence.owned_by else None}


def _trigger_json(trigger: Trigger) -> dict[str, Any]:
    return {"table": trigger.table, "function": trigger.function, "when": trigger.when}
