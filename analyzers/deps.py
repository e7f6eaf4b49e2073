"""Which objects a statement's operations define and which ones they need.

An object id is a kind letter and a name: `t:issues` (a table or view), `i:index_name`,
`s:sequence_name`, `g:table.trigger`, `n:schema`, `x:extension`, `f:function`.

Only *local* operations get dependencies: each changes the objects it owns and reads only
the objects it requires. For a stream of such operations, an object's final state depends
only on the operations that own it or that it requires, which lets a review rebuild just the
objects a change touches (see `analyzers.incremental`). Operations with wider effects
(drops, renames, DROP COLUMN removing indexes, ALTER … IF EXISTS) have none: `None`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# (owned object ids, required object ids, referenced object ids). A reference (a foreign key's
# target) changes nothing and needs nothing to apply; it names context the rules read.
Deps = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def statement_deps(ops: Iterable[tuple[Any, ...]]) -> Deps | None:
    """Union of the operations' dependencies, or None when one of them is not local."""
    owned: list[str] = []
    required: list[str] = []
    referenced: list[str] = []
    for op in ops:
        deps = op_deps(op)
        if deps is None:
            return None
        owned.extend(deps[0])
        required.extend(deps[1])
        referenced.extend(_references(op))
    return (
        tuple(dict.fromkeys(owned)),
        tuple(dict.fromkeys(required)),
        tuple(dict.fromkeys(referenced)),
    )


def _references(op: tuple[Any, ...]) -> list[str]:
    """Tables a statement's foreign keys point at."""
    if op[0] == "table":
        constraints = op[1]["constraints"]
    elif op[0] == "add_constraint":
        constraints = [op[2]]
    elif op[0] == "recurse":
        return [ref for inner in op[2] for ref in _references(inner)]
    else:
        return []
    return [f"t:{c['ref_table']}" for c in constraints if c.get("ref_table")]


def op_deps(op: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(owned, required) object ids of one operation, or None when it is not local."""
    if _names_something(op):  # the name depends on every name already in the schema
        return None
    kind = op[0]
    if kind == "recurse":  # its partitions require it: their states follow from its own
        deps = statement_deps(op[2])
        return None if deps is None else deps[:2]
    if kind == "table":
        data = op[1]
        required = [f"t:{data['partition_of']}"] if data["partition_of"] else []
        required += [f"t:{c['ref_table']}" for c in data["constraints"] if _needs_ref_table(c)]
        return (f"t:{data['name']}",), tuple(required)
    if kind in ("add_column", "alter_column", "drop_constraint", "validate_constraint"):
        return (f"t:{op[1]}",), ()
    if kind == "add_constraint":
        required = (f"t:{op[2]['ref_table']}",) if _needs_ref_table(op[2]) else ()
        return (f"t:{op[1]}",), required
    if kind == "index":
        return (f"i:{op[1]['name']}",), (f"t:{op[1]['table']}",)
    if kind == "constraint_using_index":
        return (f"t:{op[1]}", f"i:{op[4]}"), ()
    if kind == "attach_index":
        return (f"i:{op[2]}",), ()
    if kind == "attach_partition":
        return (f"t:{op[2]}",), (f"t:{op[1]}",)
    if kind == "sequence":
        return (f"s:{op[1]['name']}",), ()
    if kind == "sequence_owned":
        return (f"s:{op[1]}",), ()
    if kind == "trigger":
        return (f"g:{op[1]['table']}.{op[1]['name']}",), (f"t:{op[1]['table']}",)
    prefix = {"schema": "n", "extension": "x", "view": "t", "function": "f"}.get(kind)
    if prefix:
        return (f"{prefix}:{op[1]}",), ()
    return None


def _names_something(op: tuple[Any, ...]) -> bool:
    """Whether PostgreSQL chooses a name for something this operation creates."""
    kind = op[0]
    if kind == "table":
        return any(c["serial"] for c in op[1]["columns"]) or any(
            c["name"] is None for c in op[1]["constraints"]
        )
    if kind == "add_column":
        return op[2]["serial"]
    if kind == "add_constraint":
        return op[2]["name"] is None
    if kind == "index":
        return op[1]["name"] is None
    return False


def _needs_ref_table(constraint: dict[str, Any]) -> bool:
    """A foreign key without referenced columns takes them from the referenced primary key."""
    return constraint["kind"] == "foreign_key" and not constraint.get("ref_columns")
