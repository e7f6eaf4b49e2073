"""Read sqlglot's tree of one statement into schema operations (see `analyzers.extract`)."""

from __future__ import annotations

import logging
from typing import Any

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError

from analyzers.extract import NOTHING, Extraction, Op, modeled, unanalyzable
from analyzers.names import (
    exclude_columns,
    fold,
    in_schema_of,
    name_addition,
    numbered,
    qualify,
    truncate,
)

_DIALECT = Postgres()
_GENERATOR = _DIALECT.generator()
# One tokenizer and parser for all statements: building them costs more than a short parse.
_TOKENIZER = _DIALECT.tokenizer()
_PARSER = _DIALECT.parser()
_TYPES: dict[exp.DataType.Type, str] = {}
# Types and options sqlglot accepts in its postgres dialect but PostgreSQL rejects
# (SQLite- and MySQL-isms, as in Synapse's oldest deltas).
_NOT_POSTGRES_TYPES = {
    exp.DataType.Type.UBIGINT,
    exp.DataType.Type.UINT,
    exp.DataType.Type.USMALLINT,
    exp.DataType.Type.UTINYINT,
    exp.DataType.Type.UMEDIUMINT,
    exp.DataType.Type.UDECIMAL,
    exp.DataType.Type.UDOUBLE,
}
_TABLE_CONSTRAINTS = (
    exp.Constraint,
    exp.PrimaryKey,
    exp.ForeignKey,
    exp.UniqueColumnConstraint,
    exp.CheckColumnConstraint,
    exp.ExcludeColumnConstraint,
)
_SERIALS = {
    exp.DataType.Type.SERIAL: exp.DataType.Type.INT,
    exp.DataType.Type.BIGSERIAL: exp.DataType.Type.BIGINT,
    exp.DataType.Type.SMALLSERIAL: exp.DataType.Type.SMALLINT,
}
# sqlglot logs a warning for each statement it falls back to `Command` on; we report those
# statements ourselves, so the warnings would only be noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class NotPostgresError(ValueError):
    """sqlglot parsed it, but PostgreSQL would reject it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not PostgreSQL: {what}")


def from_sqlglot(text: str, *, only: bool = False) -> Extraction:
    try:
        trees = _parse(text)
    except (ParseError, TokenError) as error:
        errors = getattr(error, "errors", None)
        message = errors[0]["description"] if errors else str(error).splitlines()[0]
        return unanalyzable(f"sqlglot could not parse this statement: {message}")
    tree = trees[0] if trees else None
    if tree is None:
        return NOTHING
    try:
        return _from_tree(tree, text, only=only)
    except NotPostgresError as error:
        return unanalyzable(str(error))


def _from_tree(tree: exp.Expression, text: str, *, only: bool) -> Extraction:
    if isinstance(tree, exp.Create):
        return _create(tree, only=only)
    if isinstance(tree, exp.Alter):
        return _alter(tree)
    if isinstance(tree, exp.Drop):
        return _drop(tree)
    if isinstance(tree, exp.Command):
        words = " ".join(text.split()[:3])
        return unanalyzable(f"sqlglot returns `{words} …` as an opaque command")
    if isinstance(tree, exp.Query | exp.DML | exp.Set | exp.Comment | exp.Transaction):
        return NOTHING
    return unanalyzable(f"statement of kind {type(tree).__name__} is not modeled")


def _parse(text: str) -> list[exp.Expression | None]:
    return _PARSER.parse(_TOKENIZER.tokenize(text), text)


def table_key(table: exp.Expression) -> str:
    """Model key of a sqlglot `Table` (or `Schema` wrapping one)."""
    if isinstance(table, exp.Schema):
        table = table.this
    name = _ident(table.this)
    db = table.args.get("db")
    return qualify(name, _ident(db) if db else None)


def _ident(node: Any) -> str:
    if isinstance(node, exp.Identifier):
        return truncate(node.this if node.quoted else node.this.lower())
    if isinstance(node, exp.Expression):
        return fold(node.name)
    return fold(str(node))


def _sql(node: exp.Expression | None) -> str | None:
    """Canonical PostgreSQL text of an expression (outer parentheses removed)."""
    if node is None:
        return None
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column) and not node.args.get("table"):
        return _GENERATOR.generate(node.this, copy=False)
    # the tree is ours and thrown away afterwards: no need for sqlglot's defensive copy
    return _GENERATOR.generate(node, copy=False)


def _type(node: exp.DataType) -> str:
    """Canonical text of a column type, memoized for the parameterless ones."""
    if (
        node.expressions
        or node.args.get("values")
        or node.args.get("nested")
        or node.args.get("kind")
    ):
        return _GENERATOR.generate(node, copy=False).lower()
    text = _TYPES.get(node.this)
    if text is None:
        text = _TYPES[node.this] = _GENERATOR.generate(node, copy=False).lower()
    return text


def _line(node: exp.Expression) -> int:
    """Offset of `node`'s line from the statement's first line (0 when unknown)."""
    meta = node.meta if isinstance(node, exp.Identifier) else getattr(node.this, "meta", None)
    return (meta.get("line", 1) - 1) if meta else 0


def _create(tree: exp.Create, *, only: bool) -> Extraction:
    kind = (tree.args.get("kind") or "").upper()
    if kind == "TABLE":
        return _create_table(tree)
    if kind == "INDEX":
        return modeled(("index", _index(tree, only=only)))
    if kind == "SEQUENCE":
        name = table_key(tree.this)
        return modeled(("sequence", {"name": name, "line": 0, "owned_by": None}))
    if kind in ("VIEW", "MATERIALIZED VIEW"):
        return modeled(("view", table_key(tree.this)))
    if kind == "SCHEMA":
        return modeled(("schema", _ident(tree.this.this if tree.this else tree.this)))
    return unanalyzable(f"CREATE {kind or '?'} is not modeled")


def _create_table(tree: exp.Create) -> Extraction:
    name = table_key(tree.this)
    properties = tree.args.get("properties")
    table: dict[str, Any] = {
        "name": name,
        "line": 0,
        "partial": False,
        "if_not_exists": bool(tree.args.get("exists")),
        "partition_by": None,
        "partition_of": None,
        "bound": None,
    }
    if isinstance(tree.expression, exp.Query):
        table.update(columns=[], constraints=[], partial=True)
        reason = f"CREATE TABLE {name} AS SELECT: its columns are not known"
        return unanalyzable(reason, ("table", table))
    items: list[exp.Expression] = []
    for prop in properties.expressions if properties else ():
        if isinstance(prop, exp.PartitionedByProperty):
            table["partition_by"] = _partition_by(prop.this)
        elif isinstance(prop, exp.PartitionedOfProperty):
            table["partition_of"] = table_key(prop.this)
            table["bound"] = _sql(prop.expression)
            if isinstance(prop.this, exp.Schema):  # PARTITION OF parent (options, constraints)
                items.extend(prop.this.expressions)
    if isinstance(tree.this, exp.Schema):
        items[:0] = tree.this.expressions
    columns: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, exp.ColumnDef):
            column, column_constraints = _column(name, item)
            columns.append(column)
            constraints.extend(column_constraints)
        elif isinstance(item, _TABLE_CONSTRAINTS):
            constraints.extend(_table_constraint(name, item))
        elif isinstance(item, exp.LikeProperty):
            return unanalyzable(f"CREATE TABLE {name} (LIKE …): copied columns are not known")
    table["columns"] = columns
    table["constraints"] = constraints
    return modeled(("table", table))


def _partition_by(node: exp.Expression) -> dict[str, Any]:
    if isinstance(node, exp.Anonymous | exp.Func):
        strategy = node.name if isinstance(node, exp.Anonymous) else type(node).__name__
        strategy = strategy.upper()
        keys = [_sql(e) for e in node.expressions]
        return {"strategy": strategy, "key": ", ".join(k for k in keys if k)}
    return {"strategy": "?", "key": _sql(node)}


def _column(table: str, node: exp.ColumnDef) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A column definition and the constraints declared on it. Without a type, the options of
    a partition's column (`PARTITION OF parent (kind DEFAULT 'x')`)."""
    name = _ident(node.this)
    kind = node.args.get("kind")
    column: dict[str, Any] = {
        "name": name,
        "type": None,
        "nullable": True,
        "default": None,
        "identity": None,
        "generated": None,
        "serial": False,
        "line": _line(node),
    }
    if isinstance(kind, exp.DataType):
        if kind.this in _NOT_POSTGRES_TYPES:
            raise NotPostgresError(
                f"column {name}: {kind.this.name[1:]} UNSIGNED (PostgreSQL has no unsigned types)"
            )
        serial_type = _SERIALS.get(kind.this)
        if serial_type:  # PostgreSQL's meaning, not sqlglot's identity column: the model
            # creates the owned sequence and the nextval default, once it has chosen the name
            column.update(type=_type(exp.DataType(this=serial_type)), serial=True, nullable=False)
        else:
            column["type"] = _type(kind)
    constraints: list[dict[str, Any]] = []
    for constraint in node.args.get("constraints") or ():
        _column_constraint(table, column, constraint, constraints)
    return column, constraints


def _bare(table: str) -> str:
    return table.rsplit(".", 1)[-1]


def _column_constraint(
    table: str,
    column: dict[str, Any],
    node: exp.ColumnConstraint,
    constraints: list[dict[str, Any]],
) -> None:
    kind = node.args.get("kind")
    if isinstance(kind, exp.AutoIncrementColumnConstraint):
        raise NotPostgresError(f"column {column['name']}: AUTOINCREMENT (use an identity column)")
    name_node = node.this
    explicit = _ident(name_node) if name_node else None
    columns = [column["name"]]
    line = column["line"]
    if isinstance(kind, exp.NotNullColumnConstraint):
        column["nullable"] = bool(kind.args.get("allow_null"))
    elif isinstance(kind, exp.DefaultColumnConstraint):
        column["default"] = _sql(kind.this)
    elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint):
        if kind.args.get("expression") is not None:
            column["generated"] = _sql(kind.args["expression"])
        else:
            column["identity"] = "ALWAYS" if kind.args.get("this") else "BY DEFAULT"
            column["nullable"] = False
    elif isinstance(kind, exp.ComputedColumnConstraint):
        column["generated"] = _sql(kind.this)
    elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
        column["nullable"] = False
        constraints.append(_constraint(table, explicit, "primary_key", columns, line=line))
    elif isinstance(kind, exp.UniqueColumnConstraint):
        constraints.append(_constraint(table, explicit, "unique", columns, line=line))
    elif isinstance(kind, exp.CheckColumnConstraint):
        constraints.append(_check(table, explicit, kind.this, line=line))
    elif isinstance(kind, exp.Reference):
        constraints.append(_foreign_key(table, explicit, columns, kind, line=line))


_LABELS = {
    "primary_key": "pkey",
    "unique": "key",
    "foreign_key": "fkey",
    "check": "check",
    "exclude": "excl",
}


def _constraint(
    table: str, name: str | None, kind: str, columns: list[str], *, line: int, **extra: Any
) -> dict[str, Any]:
    """A constraint; an unnamed one carries what PostgreSQL builds its name from."""
    naming = None
    if name is None:
        naming = [None if kind == "primary_key" else name_addition(columns), _LABELS[kind]]
    return {
        "name": name,
        "naming": naming,
        "kind": kind,
        "columns": columns,
        "line": line,
        "not_valid": False,
        **extra,
    }


def _check(table: str, name: str | None, condition: exp.Expression, *, line: int) -> dict[str, Any]:
    columns = sorted({_ident(c.this) for c in condition.find_all(exp.Column)})
    # PostgreSQL names an unnamed check after its column only when it has exactly one
    named_after = columns if len(columns) == 1 else []
    constraint = _constraint(
        table, name, "check", named_after, line=line, expression=_sql(condition)
    )
    constraint["columns"] = columns
    return constraint


def check_from_text(
    table: str, name: str | None, condition: str, *, not_valid: bool
) -> dict[str, Any]:
    """A `CHECK (…)` added by ALTER TABLE, which sqlglot returns as an opaque command."""
    tree = _parse(f"SELECT {condition}")[0]
    expression = tree.expressions[0]
    constraint = _check(table, fold(name) if name else None, expression, line=0)
    constraint["not_valid"] = not_valid
    return constraint


def _foreign_key(
    table: str, name: str | None, columns: list[str], reference: exp.Reference, *, line: int
) -> dict[str, Any]:
    target = reference.this
    ref_columns = [_ident(c) for c in target.expressions] if isinstance(target, exp.Schema) else []
    options = [str(option).upper() for option in reference.args.get("options") or ()]
    on_delete = next((o[len("ON DELETE ") :] for o in options if o.startswith("ON DELETE")), None)
    on_update = next((o[len("ON UPDATE ") :] for o in options if o.startswith("ON UPDATE")), None)
    return _constraint(
        table,
        name,
        "foreign_key",
        columns,
        line=line,
        ref_table=table_key(target),
        ref_columns=ref_columns,
        on_delete=on_delete,
        on_update=on_update,
    )


def _table_constraint(
    table: str, node: exp.Expression, *, line: int | None = None
) -> list[dict[str, Any]]:
    """`CONSTRAINT name …` or an unnamed table constraint, as in CREATE TABLE or ADD."""
    name = None
    items = [node]
    if isinstance(node, exp.Constraint):
        name = _ident(node.this)
        items = list(node.expressions)
    where = line if line is not None else _line(node) if isinstance(node, exp.Constraint) else 0
    result: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, exp.PrimaryKey | exp.PrimaryKeyColumnConstraint):
            columns = [
                _ident(c.this if isinstance(c, exp.Ordered) else c) for c in item.expressions
            ]
            result.append(_constraint(table, name, "primary_key", columns, line=where))
        elif isinstance(item, exp.UniqueColumnConstraint):
            target = item.this
            columns = (
                [_ident(c) for c in target.expressions] if isinstance(target, exp.Schema) else []
            )
            result.append(_constraint(table, name, "unique", columns, line=where))
        elif isinstance(item, exp.ForeignKey):
            columns = [_ident(c) for c in item.expressions]
            reference = item.args.get("reference")
            result.append(_foreign_key(table, name, columns, reference, line=where))
        elif isinstance(item, exp.CheckColumnConstraint):
            result.append(_check(table, name, item.this, line=where))
        elif isinstance(item, exp.ExcludeColumnConstraint):
            expression = _sql(item) or ""
            constraint = _constraint(
                table, name, "exclude", exclude_columns(expression), line=where
            )
            constraint.update(columns=[], expression=expression)
            result.append(constraint)
        else:
            raise ValueError(f"constraint of kind {type(item).__name__} is not modeled")
    return result


def _index(tree: exp.Create, *, only: bool) -> dict[str, Any]:
    index = tree.this
    table = table_key(index.args["table"])
    params = index.args.get("params")
    columns: list[str] = []
    where = using = None
    include: list[str] = []
    naming: list[str] = []
    if params is not None:
        for column in params.args.get("columns") or ():
            columns.append(_sql(column) or "")
            naming.append(
                _index_column_name(column.this if isinstance(column, exp.Ordered) else column)
            )
        where = _sql(params.args["where"].this) if params.args.get("where") else None
        using = str(params.args["using"].name).lower() if params.args.get("using") else None
        include = [_sql(c) or "" for c in params.args.get("include") or ()]
    name_node = index.this
    return {
        "name": None if name_node is None else in_schema_of(table, _ident(name_node)),
        "naming": [name_addition(numbered(naming)), "idx"],
        "table": table,
        "unique": bool(tree.args.get("unique")),
        "columns": columns,
        "include": include,
        "where": where,
        "using": None if using == "btree" else using,
        "only": only,
        "nulls_not_distinct": False,
        "if_not_exists": bool(tree.args.get("exists")),
        "line": 0,
    }


def _index_column_name(node: exp.Expression) -> str:
    """What PostgreSQL names an index column after: the column, the function, or `expr`."""
    if isinstance(node, exp.Column):
        return _ident(node.this)
    if isinstance(node, exp.Anonymous):
        return fold(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return "expr"


def _alter(tree: exp.Alter) -> Extraction:
    kind = (tree.args.get("kind") or "").upper()
    if kind != "TABLE":
        return unanalyzable(f"ALTER {kind or '?'} is not modeled")
    table = table_key(tree.this)
    not_valid = bool(tree.args.get("not_valid"))
    ops: list[Op] = []
    for action in tree.args.get("actions") or ():
        ops.extend(_alter_action(table, action, tree, not_valid=not_valid))
    return modeled(*ops) if ops else NOTHING


def _alter_action(
    table: str, action: exp.Expression, tree: exp.Alter, *, not_valid: bool
) -> list[Op]:
    if isinstance(action, exp.ColumnDef):
        column, constraints = _column(table, action)
        column["line"] = 0
        result: list[Op] = [("add_column", table, column, bool(action.args.get("exists")))]
        result.extend(("add_constraint", table, c) for c in constraints)
        return result
    if isinstance(action, exp.AlterColumn):
        return [("alter_column", table, _ident(action.this), _column_changes(action))]
    if isinstance(action, exp.AddConstraint):
        constraints = [
            c for node in action.expressions for c in _table_constraint(table, node, line=0)
        ]
        for constraint in constraints:
            constraint["not_valid"] = not_valid
        return [("add_constraint", table, c) for c in constraints]
    if isinstance(action, exp.Drop):
        kind = (action.args.get("kind") or "").upper()
        exists = bool(action.args.get("exists"))
        names = [_ident(t.this) for t in action.args.get("tables") or [action]]
        if kind == "CONSTRAINT":
            return [("drop_constraint", table, name, exists) for name in names]
        if kind in ("COLUMN", ""):
            return [("drop_column", table, name, exists) for name in names]
    if isinstance(action, exp.RenameColumn):
        return [("rename_column", table, _ident(action.this.this), _ident(action.args["to"].this))]
    if isinstance(action, exp.AlterRename):
        return [_rename(table, action, tree)]
    raise ValueError(f"ALTER TABLE action {type(action).__name__} is not modeled")


def _rename(table: str, action: exp.AlterRename, tree: exp.Alter) -> Op:
    options = tree.args.get("options") or ()
    target = next((o for o in options if isinstance(o, exp.ToTableProperty)), None)
    if target is not None:
        # sqlglot reads `RENAME a TO b` (COLUMN omitted) as a table rename; it is a column's
        old, new = _ident(action.this.this), _ident(target.this.this)
        return ("rename_column", table, old, new)
    return ("rename", "table", table, in_schema_of(table, _ident(action.this.this)))


def _column_changes(action: exp.AlterColumn) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    dtype = action.args.get("dtype")
    if dtype is not None:
        changes["type"] = _type(dtype)
    if action.args.get("default") is not None:
        changes["default"] = _sql(action.args["default"])
    allow_null = action.args.get("allow_null")
    if action.args.get("drop"):
        changes["nullable" if allow_null is not None else "default"] = True if allow_null else None
    elif allow_null is not None:
        changes["nullable"] = bool(allow_null)
    if not changes:
        raise ValueError("ALTER COLUMN form is not modeled")
    return changes


def _drop(tree: exp.Drop) -> Extraction:
    kind = (tree.args.get("kind") or "").upper()
    if kind not in ("TABLE", "INDEX", "SEQUENCE", "VIEW", "SCHEMA"):
        return unanalyzable(f"DROP {kind or '?'} is not modeled")
    targets = tree.args.get("tables") or [tree.this]
    if kind == "SCHEMA":  # sqlglot puts a schema's name where a table's schema goes
        names = [_ident(t.args.get("db") or t.this) for t in targets]
        return modeled(*(("drop", "schema", name) for name in names))
    return modeled(
        *(("drop", kind.lower(), table_key(t), bool(tree.args.get("cascade"))) for t in targets)
    )
