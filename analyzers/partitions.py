"""How PostgreSQL carries a partitioned table's definition onto its partitions.

A partition gets its parent's columns, and clones of its parent's indexes, keys, checks,
foreign keys and row triggers: when it is created or attached, and whenever the parent gets
new ones (CREATE INDEX without ONLY, ALTER TABLE without ONLY). Clones are marked
`inherited`; the diff reports the parent's change once, not once per partition. pg_dump
writes `ON ONLY` and `ALTER TABLE ONLY` plus each partition's own objects, so a dump needs
none of this, except for foreign keys and row triggers, which pg_dump leaves to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analyzers import model
from analyzers.names import name_addition

if TYPE_CHECKING:
    from analyzers.model import Constraint, Index, Location, Schema, Trigger

_LABELS = {model.PRIMARY_KEY: "pkey", model.UNIQUE: "key", model.EXCLUDE: "excl"}


def partitions(schema: Schema, table: str) -> list[str]:
    """Direct partitions of `table` (none unless it is partitioned)."""
    parent = schema.tables.get(table)
    if parent is None or not parent.partition_by:
        return []
    return schema.partitions_of(table)


def propagate(schema: Schema, at: Location, table: str, op: tuple[Any, ...], result: Any) -> None:
    """Apply to `table`'s partitions what `op` (just applied to `table`) did to it."""
    for child in partitions(schema, table):
        clone = _for_partition(schema, op, result, child)
        if clone is not None:
            model.apply_to(schema, at, child, clone)


def adopt(schema: Schema, at: Location, parent: str, child: str) -> None:
    """A partition created or attached gets clones of its parent's indexes, keys, checks,
    foreign keys and row triggers (an index or key it already has is attached instead)."""
    for index in schema.indexes_of(parent):
        _index_partition(schema, at, index, child)
    for constraint in list(schema.tables[parent].constraints.values()):
        clone = _constraint_for_partition(schema, constraint, _constraint_data(constraint), child)
        if clone is not None:
            model.apply_to(schema, at, child, clone)
    for trigger in [t for t in schema.triggers.values() if t.table == parent]:
        _trigger_partition(schema, at, trigger, child)


def index_partitions(schema: Schema, at: Location, index: Index) -> None:
    """CREATE INDEX on a partitioned table (without ONLY) indexes every partition too."""
    for child in partitions(schema, index.table):
        _index_partition(schema, at, index, child)


def trigger_partitions(schema: Schema, at: Location, trigger: Trigger) -> None:
    """A row trigger on a partitioned table fires on every partition: each has a clone."""
    for child in partitions(schema, trigger.table):
        _trigger_partition(schema, at, trigger, child)


def _for_partition(
    schema: Schema, op: tuple[Any, ...], result: Any, child: str
) -> tuple[Any, ...] | None:
    kind, target = op[0], schema.tables[child]
    if kind == "add_column":
        if op[2]["name"] in target.columns:
            return None
        default = schema.tables[op[1]].columns[op[2]["name"]].default
        return (
            "add_column",
            child,
            {**op[2], "serial": False, "default": default, "inherited": True},
            True,
        )
    if kind in ("drop_column", "rename_column", "alter_column"):
        return (kind, child, *op[2:]) if op[2] in target.columns else None
    if kind == "add_constraint":
        return _constraint_for_partition(schema, result, op[2], child)
    if kind in ("drop_constraint", "validate_constraint"):
        name = _child_constraint(target, op[2])
        return (kind, child, name, *op[3:]) if name else None
    if kind == "rename_constraint":
        for constraint in target.constraints.values():
            if constraint.parent == op[2]:
                constraint.parent = op[3]
        inherited = target.constraints.get(op[2])
        return (kind, child, *op[2:]) if inherited and inherited.inherited else None
    return None


def _child_constraint(target: model.Table, name: str) -> str | None:
    """The partition's constraint that corresponds to its parent's constraint `name`."""
    if name in target.constraints:
        return name
    return next((c.name for c in target.constraints.values() if c.parent == name), None)


def _constraint_for_partition(
    schema: Schema, constraint: Constraint, data: dict[str, Any], child: str
) -> tuple[Any, ...] | None:
    """A clone of the parent's constraint for the partition, or None if it has one already.

    Checks and foreign keys keep their name; a key gets an index of the partition's own, so a
    name of its own (`child_pkey`).
    """
    target = schema.tables[child]
    label = _LABELS.get(constraint.kind)
    if label is None:
        if constraint.name in target.constraints:
            return None
        clone = {**data, "name": constraint.name, "naming": None, "inherited": True}
        clone["ref_columns"] = list(constraint.ref_columns)
        return ("add_constraint", child, clone)
    for existing in target.constraints.values():
        if existing.kind == constraint.kind and existing.columns == constraint.columns:
            existing.parent = constraint.name
            return None
    addition = None if constraint.kind == model.PRIMARY_KEY else name_addition(constraint.columns)
    clone = {
        **data,
        "name": None,
        "naming": [addition, label],
        "inherited": True,
        "parent": constraint.name,
    }
    return ("add_constraint", child, clone)


def _constraint_data(constraint: Constraint) -> dict[str, Any]:
    return {
        "name": constraint.name,
        "naming": None,
        "kind": constraint.kind,
        "columns": list(constraint.columns),
        "line": 0,
        "not_valid": constraint.not_valid,
        "expression": constraint.expression,
        "ref_table": constraint.ref_table,
        "ref_columns": list(constraint.ref_columns),
        "on_delete": constraint.on_delete,
        "on_update": constraint.on_update,
        "nulls_not_distinct": constraint.nulls_not_distinct,
    }


def _index_partition(schema: Schema, at: Location, index: Index, child: str) -> None:
    """Attach the partition's matching index to `index`, or create one."""
    for existing in schema.indexes_of(child):
        if existing.parent is None and _same_definition(existing, index):
            existing.parent = index.name
            return
    data = {
        "name": None,
        "naming": [index.naming, "idx"],
        "table": child,
        "unique": index.unique,
        "columns": list(index.columns),
        "include": list(index.include),
        "where": index.where,
        "using": index.using,
        "only": False,
        "nulls_not_distinct": index.nulls_not_distinct,
        "if_not_exists": False,
        "line": 0,
        "parent": index.name,
        "inherited": True,
    }
    model.apply_to(schema, at, child, ("index", data))


def _same_definition(one: Index, other: Index) -> bool:
    return one.definition()[1:-1] == other.definition()[1:-1]  # all but table and parent


def _trigger_partition(schema: Schema, at: Location, trigger: Trigger, child: str) -> None:
    if "FOR EACH ROW" not in trigger.when or (child, trigger.name) in schema.triggers:
        return
    data = {
        "name": trigger.name,
        "table": child,
        "function": trigger.function,
        "when": trigger.when,
        "inherited": True,
    }
    model.apply_to(schema, at, child, ("trigger", data))
