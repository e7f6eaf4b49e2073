"""The schema model: what a set of SQL files defines, object by object, with source lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analyzers.names import (
    bare,
    choose_name,
    in_schema_of,
    mentions,
    nextval_default,
    qualify,
    rename_in,
    schema_of,
)

# Constraint kinds
PRIMARY_KEY = "primary_key"
UNIQUE = "unique"
CHECK = "check"
FOREIGN_KEY = "foreign_key"
EXCLUDE = "exclude"


@dataclass(frozen=True, slots=True)
class Location:
    """Where an object is defined: file path and 1-based line."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(slots=True)
class Column:
    name: str
    type: str | None
    nullable: bool
    default: str | None
    identity: str | None  # "ALWAYS", "BY DEFAULT" or None
    generated: str | None  # expression of a generated column
    serial: bool
    location: Location
    inherited: bool = False  # a partition's copy of its parent's column

    def definition(self) -> tuple[Any, ...]:
        return (self.type, self.nullable, self.default, self.identity, self.generated)


@dataclass(slots=True)
class Constraint:
    name: str
    kind: str
    columns: list[str]
    location: Location
    not_valid: bool = False
    expression: str | None = None  # CHECK and EXCLUDE
    ref_table: str | None = None  # FOREIGN KEY
    ref_columns: list[str] = field(default_factory=list)
    on_delete: str | None = None
    on_update: str | None = None
    nulls_not_distinct: bool = False
    inherited: bool = False  # cloned from the partitioned parent's constraint
    parent: str | None = None  # the parent's constraint this partition's key belongs to

    def definition(self) -> tuple[Any, ...]:
        """What the constraint enforces, without its name or location (NOT VALID excluded)."""
        return (
            self.kind,
            tuple(self.columns),
            self.expression,
            self.ref_table,
            tuple(self.ref_columns),
            self.on_delete,
            self.on_update,
            self.nulls_not_distinct,
        )


@dataclass(slots=True)
class Index:
    name: str
    table: str
    unique: bool
    columns: list[str]  # column names or expressions, with ordering (`id DESC`)
    where: str | None
    using: str | None  # access method when not btree
    include: list[str]
    only: bool  # created `ON ONLY` a partitioned parent
    location: Location
    nulls_not_distinct: bool = False
    parent: str | None = None  # partitioned index this one is attached to
    naming: str | None = None  # what a partition's clone of it is named after (columns)
    inherited: bool = False  # created on a partition by its parent's index

    def definition(self) -> tuple[Any, ...]:
        return (
            self.table,
            self.unique,
            tuple(self.columns),
            self.where,
            self.using,
            tuple(self.include),
            self.nulls_not_distinct,
            self.parent,
        )


@dataclass(slots=True)
class Sequence:
    name: str
    location: Location
    owned_by: tuple[str, str] | None = None  # (table, column)


@dataclass(slots=True)
class Trigger:
    name: str
    table: str
    function: str
    when: str  # "BEFORE INSERT FOR EACH ROW"
    location: Location
    inherited: bool = False  # a partition's clone of its parent's row trigger


@dataclass(slots=True)
class Table:
    name: str
    location: Location
    columns: dict[str, Column] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    partition_by: str | None = None  # "RANGE (created_at)"
    partition_of: str | None = None  # parent table when this is a partition
    partition_bound: str | None = None
    partial: bool = False  # created by CREATE TABLE … AS: its columns are not all known

    @property
    def primary_key(self) -> Constraint | None:
        return next((c for c in self.constraints.values() if c.kind == PRIMARY_KEY), None)

    @property
    def foreign_keys(self) -> list[Constraint]:
        return [c for c in self.constraints.values() if c.kind == FOREIGN_KEY]


@dataclass(frozen=True, slots=True)
class Rename:
    """An explicit rename seen while building the model (a migration's RENAME)."""

    kind: str  # table, column, index, sequence, constraint
    table: str | None
    old: str
    new: str
    location: Location


@dataclass(slots=True)
class Schema:
    """All modeled objects, keyed by name (`table`, or `schema.table` outside `public`)."""

    schemas: dict[str, Location | None] = field(default_factory=lambda: {"public": None})
    extensions: set[str] = field(default_factory=set)
    tables: dict[str, Table] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    sequences: dict[str, Sequence] = field(default_factory=dict)
    triggers: dict[tuple[str, str], Trigger] = field(default_factory=dict)
    views: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    renames: list[Rename] = field(default_factory=list)

    def indexes_of(self, table: str) -> list[Index]:
        return [index for index in self.indexes.values() if index.table == table]

    def partitions_of(self, table: str) -> list[str]:
        return sorted(t.name for t in self.tables.values() if t.partition_of == table)


class ModelError(ValueError):
    """An operation refers to an object the model does not have (e.g. ALTER of a missing table)."""


def apply(schema: Schema, op: tuple[Any, ...], path: str, line: int) -> None:
    """Apply one operation (see `analyzers.extract`) found at `path`, statement line `line`."""
    handler = _HANDLERS[op[0]]
    handler(schema, Location(path, line), *op[1:])


def _table(schema: Schema, name: str) -> Table:
    table = schema.tables.get(name)
    if table is None:
        raise ModelError(f"table {name} does not exist")
    return table


def _where(at: Location, offset: int) -> Location:
    return Location(at.path, at.line + offset) if offset else at


def _create_table(schema: Schema, at: Location, data: dict[str, Any]) -> None:
    name = data["name"]
    if name in schema.tables and data["if_not_exists"]:
        return
    table = Table(name=name, location=at, partial=data["partial"])
    table.partition_by = _partition_text(data["partition_by"])
    table.partition_of = data["partition_of"]
    table.partition_bound = data["bound"]
    if table.partition_of:
        parent = _table(schema, table.partition_of)
        table.columns = {c.name: _copy_column(c, at) for c in parent.columns.values()}
    for column in data["columns"]:
        copied = table.columns.get(column["name"])
        if copied is not None and column["type"] is None:  # a partition's column options
            copied.nullable = copied.nullable and column["nullable"]
            copied.default = column["default"] or copied.default
        else:
            table.columns[column["name"]] = _column(column, at)
    schema.tables[name] = table
    for column in data["columns"]:
        if column["serial"]:
            _create_serial_sequence(schema, table, table.columns[column["name"]])
    for constraint in _in_creation_order(_without_redundant_keys(data["constraints"])):
        _add_constraint(schema, _where(at, constraint["line"]), name, constraint)
    if table.partition_of:
        partitions.adopt(schema, at, table.partition_of, name)


_KEYED = (PRIMARY_KEY, UNIQUE, EXCLUDE)  # constraints with an index of the same name
_CREATION_PHASE = {CHECK: 0, PRIMARY_KEY: 1, UNIQUE: 1, EXCLUDE: 1, FOREIGN_KEY: 2}


def _in_creation_order(constraints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CREATE TABLE adds checks, then the indexes of keys (primary key first), then foreign
    keys; the order decides which of two unnamed ones gets the suffix `1`."""
    return sorted(constraints, key=lambda c: (_CREATION_PHASE[c["kind"]], c["kind"] != PRIMARY_KEY))


def _without_redundant_keys(constraints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CREATE TABLE keeps one key per column list: `id PRIMARY KEY UNIQUE` has no unique
    constraint. A named duplicate lends its name to an unnamed key it merges into."""
    kept: list[dict[str, Any]] = []
    keys: dict[tuple[Any, ...], int] = {}  # column list -> position in `kept`
    for constraint in sorted(constraints, key=lambda c: c["kind"] != PRIMARY_KEY):
        if constraint["kind"] not in (PRIMARY_KEY, UNIQUE):
            kept.append(constraint)
            continue
        key = (tuple(constraint["columns"]), constraint.get("nulls_not_distinct", False))
        if key not in keys:
            keys[key] = len(kept)
            kept.append(constraint)
        elif kept[keys[key]]["name"] is None and constraint["name"] is not None:
            kept[keys[key]] = kept[keys[key]] | {"name": constraint["name"], "naming": None}
    return kept


def _partition_text(partition_by: dict[str, Any] | None) -> str | None:
    if not partition_by:
        return None
    return f"{partition_by['strategy']} ({partition_by['key']})"


def _column(data: dict[str, Any], at: Location) -> Column:
    return Column(
        name=data["name"],
        type=data["type"],
        nullable=data["nullable"],
        default=data["default"],
        identity=data["identity"],
        generated=data["generated"],
        serial=data["serial"],
        location=_where(at, data["line"]),
    )


def _copy_column(column: Column, at: Location) -> Column:
    """A partition's column, as its parent has it (a serial's default, but not its sequence)."""
    return Column(
        column.name,
        column.type,
        column.nullable,
        column.default,
        column.identity,
        column.generated,
        False,
        at,
        inherited=True,
    )


def _add_column(
    schema: Schema, at: Location, table: str, data: dict[str, Any], if_not_exists: bool
) -> None:
    target = _table(schema, table)
    if data["name"] in target.columns and if_not_exists:
        return
    column = target.columns[data["name"]] = _column(data, at)
    column.inherited = data.get("inherited", False)
    if data["serial"]:
        _create_serial_sequence(schema, target, column)


def _create_serial_sequence(schema: Schema, table: Table, column: Column) -> None:
    """A `serial` column owns a new sequence, `table_column_seq` unless that name is taken."""
    name = choose_name(bare(table.name), column.name, "seq", _relation_names(schema, table.name))
    sequence = Sequence(in_schema_of(table.name, name), column.location, (table.name, column.name))
    schema.sequences[sequence.name] = sequence
    column.default = nextval_default(sequence.name)


def _relation_names(schema: Schema, near: str) -> set[str]:
    """Names of the relations in the schema of `near`: tables, views, indexes (with those of
    primary key, unique and exclusion constraints) and sequences, which must all differ."""
    namespace = schema_of(near)
    keys = (*schema.tables, *schema.views, *schema.indexes, *schema.sequences)
    names = {bare(key) for key in keys if schema_of(key) == namespace}
    for table in schema.tables.values():
        if schema_of(table.name) == namespace:
            names.update(c.name for c in table.constraints.values() if c.kind in _KEYED)
    return names


def _constraint_names(schema: Schema, near: str) -> set[str]:
    """Names of all constraints of the tables in the schema of `near` (unique per schema
    when PostgreSQL chooses them)."""
    namespace = schema_of(near)
    return {
        constraint.name
        for table in schema.tables.values()
        if schema_of(table.name) == namespace
        for constraint in table.constraints.values()
    }


def _column_of(table: Table, name: str, at: Location) -> Column:
    """A column of `table`; of a table with unknown columns, a column of unknown type."""
    column = table.columns.get(name)
    if column is None:
        if not table.partial:
            raise ModelError(f"column {table.name}.{name} does not exist")
        column = table.columns[name] = Column(name, None, True, None, None, None, False, at)
    return column


def _drop_column(schema: Schema, at: Location, table: str, name: str, if_exists: bool) -> None:
    """Drop a column and what depends on it: its table's indexes and constraints that use it,
    the sequence it owns, and other tables' foreign keys that reference it."""
    target = _table(schema, table)
    if name not in target.columns:
        if if_exists or target.partial:
            return
        raise ModelError(f"column {table}.{name} does not exist")
    del target.columns[name]
    for constraint in list(target.constraints.values()):
        if name in constraint.columns or mentions(constraint.expression, name):
            del target.constraints[constraint.name]
    for index in schema.indexes_of(table):
        if any(mentions(e, name) for e in (*index.columns, *index.include, index.where)):
            del schema.indexes[index.name]
    for sequence in [s for s in schema.sequences.values() if s.owned_by == (table, name)]:
        del schema.sequences[sequence.name]
    for other in schema.tables.values():
        for fk in [c for c in other.foreign_keys if c.ref_table == table and name in c.ref_columns]:
            del other.constraints[fk.name]


def _rename_column(schema: Schema, at: Location, table: str, old: str, new: str) -> None:
    """Rename a column everywhere it is used: keys, expressions, references, sequences."""
    target = _table(schema, table)
    _column_of(target, old, at).name = new
    target.columns = {column.name: column for column in target.columns.values()}
    for constraint in target.constraints.values():
        constraint.columns = [new if c == old else c for c in constraint.columns]
        if constraint.expression:
            constraint.expression = rename_in(constraint.expression, old, new)
    for index in schema.indexes_of(table):
        index.columns = [rename_in(c, old, new) for c in index.columns]
        index.include = [rename_in(c, old, new) for c in index.include]
        index.where = index.where and rename_in(index.where, old, new)
    for other in schema.tables.values():
        for fk in other.foreign_keys:
            if fk.ref_table == table:
                fk.ref_columns = [new if c == old else c for c in fk.ref_columns]
    for sequence in schema.sequences.values():
        if sequence.owned_by == (table, old):
            sequence.owned_by = (table, new)
    if target.partition_by:
        target.partition_by = rename_in(target.partition_by, old, new)
    schema.renames.append(Rename("column", table, old, new, at))


def _alter_column(
    schema: Schema, at: Location, table: str, name: str, changes: dict[str, Any]
) -> None:
    column = _column_of(_table(schema, table), name, at)
    for key, value in changes.items():
        setattr(column, key, value)


def _add_constraint(schema: Schema, at: Location, table: str, data: dict[str, Any]) -> Constraint:
    target = _table(schema, table)
    constraint = Constraint(
        name=data["name"] or _constraint_name(schema, table, data),
        kind=data["kind"],
        columns=list(data["columns"]),
        location=_where(at, data["line"]),
        not_valid=data.get("not_valid", False),
        expression=data.get("expression"),
        ref_table=data.get("ref_table"),
        ref_columns=list(data.get("ref_columns") or ()),
        on_delete=data.get("on_delete"),
        on_update=data.get("on_update"),
        nulls_not_distinct=data.get("nulls_not_distinct", False),
        inherited=data.get("inherited", False),
        parent=data.get("parent"),
    )
    if constraint.kind in (PRIMARY_KEY, UNIQUE, FOREIGN_KEY) and not target.partial:
        missing = [c for c in constraint.columns if c not in target.columns]
        if missing:
            raise ModelError(
                f"constraint {constraint.name}: column {table}.{missing[0]} does not exist"
            )
    if constraint.kind == FOREIGN_KEY and not constraint.ref_columns:
        referenced = schema.tables.get(constraint.ref_table or "")
        primary = referenced.primary_key if referenced else None
        constraint.ref_columns = list(primary.columns) if primary else []
    if constraint.kind == PRIMARY_KEY:
        for column in constraint.columns:
            if column in target.columns:
                target.columns[column].nullable = False
    target.constraints[constraint.name] = constraint
    return constraint


def _constraint_name(schema: Schema, table: str, data: dict[str, Any]) -> str:
    """The name PostgreSQL gives an unnamed constraint; keys name their index too."""
    addition, label = data["naming"]
    taken = _constraint_names(schema, table)
    if data["kind"] in _KEYED:
        taken |= _relation_names(schema, table)
    return choose_name(bare(table), addition, label, taken)


def _constraint_using_index(
    schema: Schema, at: Location, table: str, name: str | None, kind: str, index_name: str
) -> None:
    """ADD PRIMARY KEY / UNIQUE USING INDEX: the index becomes the constraint's own."""
    target = _table(schema, table)
    index = schema.indexes.pop(index_name, None)
    if index is None or index.table != table:
        raise ModelError(f"index {index_name} on {table} does not exist")
    constraint = Constraint(name or bare(index.name), kind, list(index.columns), at)
    if kind == PRIMARY_KEY:
        for column in constraint.columns:
            _column_of(target, column, at).nullable = False
    target.constraints[constraint.name] = constraint


def _drop_constraint(schema: Schema, at: Location, table: str, name: str, if_exists: bool) -> None:
    target = _table(schema, table)
    if target.constraints.pop(name, None) is None and not if_exists:
        raise ModelError(f"constraint {name} on {table} does not exist")


def _rename_constraint(schema: Schema, at: Location, table: str, old: str, new: str) -> None:
    target = _table(schema, table)
    constraint = target.constraints.pop(old, None)
    if constraint is None:
        raise ModelError(f"constraint {old} on {table} does not exist")
    constraint.name = new
    target.constraints[new] = constraint
    schema.renames.append(Rename("constraint", table, old, new, at))


def _validate_constraint(schema: Schema, at: Location, table: str, name: str) -> None:
    constraint = _table(schema, table).constraints.get(name)
    if constraint is None:
        raise ModelError(f"constraint {name} on {table} does not exist")
    constraint.not_valid = False


def _create_index(schema: Schema, at: Location, data: dict[str, Any]) -> Index | None:
    if data["name"] in schema.indexes and data["if_not_exists"]:
        return None
    if data["table"] not in schema.views:  # a materialized view can be indexed too
        _table(schema, data["table"])
    name = data["name"]
    if name is None:  # PostgreSQL's choice, `table_column_idx` unless taken
        addition, label = data["naming"]
        taken = _relation_names(schema, data["table"])
        name = in_schema_of(data["table"], choose_name(bare(data["table"]), addition, label, taken))
    schema.indexes[name] = Index(
        name=name,
        table=data["table"],
        unique=data["unique"],
        columns=list(data["columns"]),
        where=data["where"],
        using=data["using"],
        include=list(data["include"]),
        only=data["only"],
        location=_where(at, data["line"]),
        nulls_not_distinct=data["nulls_not_distinct"],
        naming=data["naming"][0],
        parent=data.get("parent"),
        inherited=data.get("inherited", False),
    )
    if not data["only"]:
        partitions.index_partitions(schema, at, schema.indexes[name])
    return schema.indexes[name]


def _attach_index(schema: Schema, at: Location, parent: str, child: str) -> None:
    index = schema.indexes.get(child)
    if index is None:
        # an index implied by a constraint (e.g. a partition's primary key): not modeled
        return
    index.parent = parent


def _attach_partition(schema: Schema, at: Location, parent: str, child: str, bound: str) -> None:
    _table(schema, parent)
    table = _table(schema, child)
    table.partition_of = parent
    table.partition_bound = bound
    partitions.adopt(schema, at, parent, child)


def _detach_partition(schema: Schema, at: Location, parent: str, child: str) -> None:
    table = _table(schema, child)
    table.partition_of = None
    table.partition_bound = None


def _create_sequence(schema: Schema, at: Location, data: dict[str, Any]) -> None:
    if data["name"] not in schema.sequences:
        schema.sequences[data["name"]] = Sequence(data["name"], _where(at, data["line"]))


def _sequence_owned(
    schema: Schema, at: Location, name: str, table: str | None, column: str | None
) -> None:
    sequence = schema.sequences.get(name)
    if sequence is None:
        raise ModelError(f"sequence {name} does not exist")
    sequence.owned_by = (table, column) if table and column else None


def _create_trigger(schema: Schema, at: Location, data: dict[str, Any]) -> None:
    _table(schema, data["table"])
    trigger = Trigger(data["name"], data["table"], data["function"], data["when"], at)
    trigger.inherited = data.get("inherited", False)
    schema.triggers[(trigger.table, trigger.name)] = trigger
    partitions.trigger_partitions(schema, at, trigger)


def _rename(schema: Schema, at: Location, kind: str, old: str, new: str) -> None:
    if kind == "table":
        _rename_table(schema, old, new)
    elif kind == "index":
        new = in_schema_of(old, bare(new))
        index = schema.indexes.pop(old, None)
        if index is None:  # the index of a PRIMARY KEY or UNIQUE constraint renames it
            _rename_constraint_index(schema, at, old, new)
            return
        index.name = new
        schema.indexes[new] = index
    elif kind == "sequence":
        sequence = schema.sequences.pop(old, None)
        if sequence is None:
            raise ModelError(f"sequence {old} does not exist")
        sequence.name = new
        schema.sequences[new] = sequence
    schema.renames.append(Rename(kind, None, old, new, at))


def _rename_constraint_index(schema: Schema, at: Location, old: str, new: str) -> None:
    for table in schema.tables.values():
        if in_schema_of(table.name, bare(old)) == old and bare(old) in table.constraints:
            _rename_constraint(schema, at, table.name, bare(old), bare(new))
            return
    raise ModelError(f"index {old} does not exist")


def _rename_trigger(schema: Schema, at: Location, table: str, old: str, new: str) -> None:
    trigger = schema.triggers.pop((table, old), None)
    if trigger is None:
        raise ModelError(f"trigger {old} on {table} does not exist")
    trigger.name = new
    schema.triggers[(table, new)] = trigger


def _rename_table(schema: Schema, old: str, new: str) -> None:
    table = schema.tables.pop(old, None)
    if table is None:
        raise ModelError(f"table {old} does not exist")
    table.name = new
    schema.tables[new] = table
    _retarget(schema, old, new)


def _retarget(schema: Schema, old: str, new: str) -> None:
    """Point indexes, triggers, foreign keys, partitions and sequences at a moved table."""
    for index in schema.indexes.values():
        if index.table == old:
            index.table = new
    for key, trigger in list(schema.triggers.items()):
        if trigger.table == old:
            del schema.triggers[key]
            trigger.table = new
            schema.triggers[(new, trigger.name)] = trigger
    for table in schema.tables.values():
        if table.partition_of == old:
            table.partition_of = new
        for constraint in table.constraints.values():
            if constraint.ref_table == old:
                constraint.ref_table = new
    for sequence in schema.sequences.values():
        if sequence.owned_by and sequence.owned_by[0] == old:
            sequence.owned_by = (new, sequence.owned_by[1])


def _set_schema(schema: Schema, at: Location, table: str, new_schema: str) -> None:
    """Move a table, with its indexes and the sequences it owns, to another schema."""
    new = qualify(bare(table), new_schema)
    _rename_table(schema, table, new)
    for index in schema.indexes_of(new):
        del schema.indexes[index.name]
        index.name = qualify(bare(index.name), new_schema)
        schema.indexes[index.name] = index
    owned = [s for s in schema.sequences.values() if s.owned_by and s.owned_by[0] == new]
    for sequence in owned:
        del schema.sequences[sequence.name]
        old_default, sequence.name = (
            nextval_default(sequence.name),
            qualify(bare(sequence.name), new_schema),
        )
        schema.sequences[sequence.name] = sequence
        column = schema.tables[new].columns.get(sequence.owned_by[1])
        if column and column.default == old_default:
            column.default = nextval_default(sequence.name)
    schema.renames.append(Rename("table", None, table, new, at))


def _drop(schema: Schema, at: Location, kind: str, name: Any, *flags: Any) -> None:
    if kind == "table":
        _drop_table(schema, name)
    elif kind == "index":
        schema.indexes.pop(name, None)
    elif kind == "sequence":
        schema.sequences.pop(name, None)
    elif kind == "trigger":
        schema.triggers.pop(tuple(name), None)
    elif kind == "view":
        schema.views.discard(name)
    elif kind == "function":
        schema.functions.discard(name)
    elif kind == "extension":
        schema.extensions.discard(name)
    elif kind == "schema":
        schema.schemas.pop(name, None)
        for table in [t for t in schema.tables if t.startswith(f"{name}.")]:
            _drop_table(schema, table)


def _drop_table(schema: Schema, name: str) -> None:
    if schema.tables.pop(name, None) is None:
        return
    for index in schema.indexes_of(name):
        del schema.indexes[index.name]
    for key in [k for k in schema.triggers if k[0] == name]:
        del schema.triggers[key]
    for sequence in [s for s in schema.sequences.values() if s.owned_by and s.owned_by[0] == name]:
        del schema.sequences[sequence.name]
    for table in schema.tables.values():
        for constraint in [c for c in table.constraints.values() if c.ref_table == name]:
            del table.constraints[constraint.name]
    for partition in [t for t in schema.tables.values() if t.partition_of == name]:
        _drop_table(schema, partition.name)


def apply_to(schema: Schema, at: Location, table: str, op: tuple[Any, ...]) -> None:
    """Apply `op` to `table` and, as PostgreSQL does without ONLY, to its partitions."""
    _recurse(schema, at, table, (op,))


def _recurse(schema: Schema, at: Location, table: str, ops: tuple[Any, ...]) -> None:
    """ALTER TABLE without ONLY: the actions also apply to the table's partitions."""
    for op in ops:
        result = _HANDLERS[op[0]](schema, at, *op[1:])
        partitions.propagate(schema, at, table, op, result)


def _if_table_exists(schema: Schema, at: Location, table: str, ops: tuple[Any, ...]) -> None:
    if table in schema.tables:
        for op in ops:
            apply(schema, op, at.path, at.line)


def _create_schema(schema: Schema, at: Location, name: str) -> None:
    schema.schemas.setdefault(name, at)


def _simple(attribute: str) -> Any:
    def add(schema: Schema, at: Location, name: str) -> None:
        getattr(schema, attribute).add(name)

    return add


_HANDLERS: dict[str, Any] = {
    "table": _create_table,
    "add_column": _add_column,
    "drop_column": _drop_column,
    "rename_column": _rename_column,
    "alter_column": _alter_column,
    "add_constraint": _add_constraint,
    "drop_constraint": _drop_constraint,
    "constraint_using_index": _constraint_using_index,
    "rename_constraint": _rename_constraint,
    "validate_constraint": _validate_constraint,
    "index": _create_index,
    "attach_index": _attach_index,
    "attach_partition": _attach_partition,
    "detach_partition": _detach_partition,
    "sequence": _create_sequence,
    "sequence_owned": _sequence_owned,
    "trigger": _create_trigger,
    "rename": _rename,
    "rename_trigger": _rename_trigger,
    "set_schema": _set_schema,
    "drop": _drop,
    "if_table_exists": _if_table_exists,
    "recurse": _recurse,
    "schema": _create_schema,
    "extension": _simple("extensions"),
    "view": _simple("views"),
    "function": _simple("functions"),
}

from analyzers import partitions  # noqa: E402  (it builds on the handlers above)
