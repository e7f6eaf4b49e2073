"""Turn one SQL statement into schema operations, with sqlglot and a few exact recognizers.

An *operation* is a tuple whose first item names it and whose other items are plain data
(str, int, bool, None, tuples and dicts of those), so that it can be cached and compared.
Line numbers inside operations are offsets from the statement's first line. The operations
are applied to a `analyzers.model.Schema` by `analyzers.model.apply`.

Each statement gets one `Extraction`: its operations, whether it has no effect on the
modeled schema, or why it cannot be analyzed. Nothing is dropped without saying so.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from analyzers.fastpath import recognize
from analyzers.names import (
    QUALIFIED,
    exclude_columns,
    fold,
    in_schema_of,
    name_addition,
    parse_qualified,
    qualify,
    split_qualified,
)
from analyzers.split import blank_comments
from analyzers.status import MODELED, NO_EFFECT, UNANALYZABLE

Op = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one statement does to the schema model."""

    status: str  # MODELED, NO_EFFECT or UNANALYZABLE
    ops: tuple[Op, ...] = ()
    reason: str = ""


def modeled(*ops: Op) -> Extraction:
    return Extraction(MODELED, ops)


def unanalyzable(reason: str, *ops: Op) -> Extraction:
    return Extraction(UNANALYZABLE, ops, reason)


NOTHING = Extraction(NO_EFFECT)

_F = re.IGNORECASE | re.DOTALL
_Q = QUALIFIED

# Statements that cannot change the objects we model (tables, columns, constraints, indexes,
# sequences, triggers, partitions). Recognized by their leading keywords, never parsed.
_NO_EFFECT = re.compile(
    r"\\|(?:SET|RESET|SELECT|VALUES|COMMENT|GRANT|REVOKE|INSERT|UPDATE|DELETE|MERGE|COPY|BEGIN"
    r"|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|ANALY[SZ]E|VACUUM|CLUSTER|REINDEX"
    r"|CHECKPOINT|LOCK|NOTIFY|LISTEN|UNLISTEN|DISCARD|SECURITY\s+LABEL|REFRESH|TRUNCATE)\b"
    r"|(?:CREATE(?:\s+OR\s+REPLACE)?|ALTER|DROP)\s+(?:ROLE|USER|GROUP|POLICY|TYPE|DOMAIN"
    r"|AGGREGATE|OPERATOR|COLLATION|CAST|TEXT\s+SEARCH|CONVERSION|(?:TRUSTED\s+)?(?:PROCEDURAL\s+)?"
    r"LANGUAGE|PUBLICATION|SUBSCRIPTION|SERVER|FOREIGN\s+DATA\s+WRAPPER|USER\s+MAPPING"
    r"|STATISTICS|RULE|TRANSFORM|ACCESS\s+METHOD|TABLESPACE|DATABASE)\b"
    r"|ALTER\s+(?:DEFAULT\s+PRIVILEGES|SYSTEM|FUNCTION|PROCEDURE|ROUTINE|EXTENSION|VIEW"
    r"|MATERIALIZED\s+VIEW|EVENT\s+TRIGGER|LARGE\s+OBJECT)\b"
    r"|DROP\s+(?:OWNED|EVENT\s+TRIGGER)\b",
    re.IGNORECASE,
)
_FUNCTION = re.compile(
    rf"CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+({_Q})\s*\(", re.IGNORECASE
)
_DO = re.compile(r"DO\b", re.IGNORECASE)
# plpgsql that can change the schema when it runs: DDL, written out or (in a string) run by
# EXECUTE. Dynamic SQL that only reads or writes rows is not flagged.
_BODY_DDL = re.compile(
    r"\b(?:CREATE|ALTER|DROP)\s+(?:(?:UNIQUE|TEMP|TEMPORARY|UNLOGGED|MATERIALIZED)\s+)?"
    r"(?:TABLE|INDEX|SEQUENCE|SCHEMA|TRIGGER|VIEW)\b",
    re.IGNORECASE,
)
_DYNAMIC_DDL = re.compile(
    r"\bEXECUTE\s+(?!FUNCTION\b|PROCEDURE\b)[\s\S]*?'\s*(?:CREATE|ALTER|DROP)\b", re.IGNORECASE
)
_VIEW = re.compile(
    rf"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+|RECURSIVE\s+)?(MATERIALIZED\s+)?VIEW\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?({_Q})",
    re.IGNORECASE,
)
_DROP_VIEW = re.compile(
    rf"DROP\s+(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+EXISTS\s+)?({_Q}(?:\s*,\s*{_Q})*)", re.IGNORECASE
)
_EXTENSION = re.compile(
    r'CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?("?[\w-]+"?)', re.IGNORECASE
)
_DROP_EXTENSION = re.compile(
    r'DROP\s+EXTENSION\s+(?:IF\s+EXISTS\s+)?("?[\w-]+"?(?:\s*,\s*"?[\w-]+"?)*)', re.IGNORECASE
)
_SCHEMA = re.compile(
    rf"CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?({_Q})?(?:\s+AUTHORIZATION\s+({_Q}))?",
    re.IGNORECASE,
)
_ALTER_INDEX = re.compile(
    rf"ALTER\s+INDEX\s+(?:IF\s+EXISTS\s+)?({_Q})\s+(?:ATTACH\s+PARTITION\s+({_Q})|RENAME\s+TO\s+"
    rf"({_Q})|(SET|RESET|ALTER|OWNER|DEPENDS|NO\s+DEPENDS)\b)\s*$",
    _F,
)
_ALTER_TRIGGER = re.compile(
    rf"ALTER\s+TRIGGER\s+({_Q})\s+ON\s+({_Q})\s+RENAME\s+TO\s+({_Q})\s*$", _F
)
_ALTER_SEQUENCE = re.compile(rf"ALTER\s+SEQUENCE\s+(?:IF\s+EXISTS\s+)?({_Q})\s+(.*)$", _F)
_OWNED_BY = re.compile(rf"\bOWNED\s+BY\s+(NONE|{_Q})", re.IGNORECASE)
_RENAME_TO = re.compile(rf"^RENAME\s+TO\s+({_Q})\s*$", re.IGNORECASE)
_ALTER_TABLE = re.compile(
    rf"ALTER\s+(?:FOREIGN\s+)?TABLE\s+(IF\s+EXISTS\s+)?(ONLY\s+)?({_Q})\s*\*?\s+(.*)$", _F
)
_ATTACH = re.compile(rf"ATTACH\s+PARTITION\s+({_Q})\s+(.*)$", _F)
_DETACH = re.compile(rf"DETACH\s+PARTITION\s+({_Q})(?:\s+(?:CONCURRENTLY|FINALIZE))?\s*$", _F)
_RENAME_CONSTRAINT = re.compile(rf"RENAME\s+CONSTRAINT\s+({_Q})\s+TO\s+({_Q})\s*$", _F)
_VALIDATE = re.compile(rf"VALIDATE\s+CONSTRAINT\s+({_Q})\s*$", _F)
_SET_SCHEMA = re.compile(rf"SET\s+SCHEMA\s+({_Q})\s*$", _F)
_ADD_CHECK = re.compile(
    rf"ADD\s+(?:CONSTRAINT\s+({_Q})\s+)?CHECK\s*(\(.*\))\s*(NOT\s+VALID)?\s*(NO\s+INHERIT)?\s*$", _F
)
_ADD_EXCLUDE = re.compile(rf"ADD\s+(?:CONSTRAINT\s+({_Q})\s+)?EXCLUDE\s+(.*)$", _F)
_IDENTITY = re.compile(
    rf"ALTER\s+(?:COLUMN\s+)?({_Q})\s+(?:ADD\s+GENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY"
    rf"|SET\s+GENERATED\s+(ALWAYS|BY\s+DEFAULT)|(DROP)\s+IDENTITY(?:\s+IF\s+EXISTS)?)\b",
    _F,
)
_USING_INDEX = re.compile(
    rf"ADD\s+(?:CONSTRAINT\s+({_Q})\s+)?(PRIMARY\s+KEY|UNIQUE)\s+USING\s+INDEX\s+({_Q})\b", _F
)
# PostgreSQL 15's `ON DELETE SET NULL (col, …)`: sqlglot knows only the plain action.
_SET_NULL_COLUMNS = re.compile(r"(ON\s+DELETE\s+SET\s+(?:NULL|DEFAULT))\s*\([^)]*\)", re.IGNORECASE)
_BIT_VARYING = re.compile(r"\bbit[ \t]+varying\b", re.IGNORECASE)
_NULLS_NOT_DISTINCT = re.compile(r"\bNULLS\s+NOT\s+DISTINCT\b", re.IGNORECASE)
# ALTER TABLE actions that leave the modeled schema as it is.
_ACTION_NO_EFFECT = re.compile(
    r"(?:OWNER\s+TO|SET\s+\(|RESET\s+\(|SET\s+(?:LOGGED|UNLOGGED|WITH|WITHOUT|TABLESPACE|ACCESS)"
    r"|CLUSTER|REPLICA\s+IDENTITY|(?:ENABLE|DISABLE|FORCE|NO\s+FORCE)\s+|INHERIT|NO\s+INHERIT|OF\s"
    r"|NOT\s+OF|ALTER\s+(?:COLUMN\s+)?(?!TYPE\b)\S+\s+(?:SET\s+(?:STATISTICS|STORAGE|COMPRESSION|\()"
    r"|RESET\s*\()|ALTER\s+CONSTRAINT)\b",
    re.IGNORECASE,
)
_CREATE_INDEX = re.compile(
    rf"(CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:{_Q}\s+)?ON)"
    rf"\s+ONLY\s+",
    re.IGNORECASE,
)
_DROP_LIST = re.compile(
    r"(DROP\s+(?:INDEX|SEQUENCE|FUNCTION|PROCEDURE|TABLE|VIEW|MATERIALIZED\s+VIEW|SCHEMA)"
    r"(?:\s+CONCURRENTLY)?(?:\s+IF\s+EXISTS)?)\s+(.*?)(\s+(?:CASCADE|RESTRICT))?\s*$",
    _F,
)
_DROP_FUNCTION = re.compile(r"DROP\s+(?:FUNCTION|PROCEDURE|ROUTINE)\b", re.IGNORECASE)
_DROP_TRIGGER = re.compile(
    rf"DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?({_Q})\s+ON\s+({_Q})(?:\s+(?:CASCADE|RESTRICT))?\s*$",
    _F,
)
_TRIGGER = re.compile(
    rf"CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+({_Q})\s+(.*?)\s+ON\s+({_Q})\s+"
    rf"(.*?)EXECUTE\s+(?:FUNCTION|PROCEDURE)\s+({_Q})",
    _F,
)
_CREATE_KIND = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:UNIQUE|TEMP|TEMPORARY|UNLOGGED|GLOBAL|LOCAL|CONSTRAINT"
    r"|MATERIALIZED|RECURSIVE|TRUSTED|PROCEDURAL|FOREIGN)\s+)*(\w+)",
    re.IGNORECASE,
)
_SEQUENCE = re.compile(
    rf"CREATE\s+(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?SEQUENCE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_Q})",
    re.IGNORECASE,
)


def extract(text: str) -> Extraction:
    """Operations of one statement (its text without the closing semicolon)."""
    try:
        return _extract(blank_comments(text))
    except Exception as error:  # the parser or our reading of its tree: report, never hide
        logging.getLogger(__name__).debug("extract failed", exc_info=True)
        return unanalyzable(f"could not be analyzed: {_first_line(str(error))}")


def _extract(text: str) -> Extraction:
    fast = recognize(text)
    if fast is not None:
        return Extraction(MODELED, fast)
    return extract_slowly(text)


def extract_slowly(text: str) -> Extraction:
    """`extract` without the pg_dump fast path (`analyzers.fastpath`), for comparison."""
    head = text[:40].upper()
    if head.startswith("CREATE"):
        return _extract_create(text)
    if head.startswith("ALTER"):
        return _extract_alter(text)
    if head.startswith("DROP"):
        return _extract_drop(text)
    if _DO.match(text):
        if _runs_ddl(text):
            return unanalyzable("DO block runs DDL or dynamic SQL; its effect cannot be modeled")
        return NOTHING
    if _NO_EFFECT.match(text):
        return NOTHING
    return _from_sqlglot(text)


def _extract_create(text: str) -> Extraction:
    kind = _CREATE_KIND.match(text)
    word = kind.group(1).upper() if kind else ""
    if word in ("TABLE", "INDEX"):
        return _create_table_or_index(text, word)
    if word == "SEQUENCE":
        sequence = _SEQUENCE.match(text)
        if sequence:
            name = parse_qualified(sequence.group(1))
            ops: list[Op] = [("sequence", {"name": name, "line": 0, "owned_by": None})]
            owned = _OWNED_BY.search(text, sequence.end())
            if owned:
                ops.append(_owned_by(name, owned))
            return modeled(*ops)
    elif word in ("FUNCTION", "PROCEDURE"):
        function = _FUNCTION.match(text)
        if function:
            return _function(text, parse_qualified(function.group(1)), function.end())
    elif word == "TRIGGER":
        trigger = _TRIGGER.match(text)
        if trigger:
            return _trigger(trigger)
    elif word == "VIEW":
        view = _VIEW.match(text)
        if view:
            return modeled(("view", parse_qualified(view.group(2))))
    elif word == "EXTENSION":
        extension = _EXTENSION.match(text)
        if extension:
            return modeled(("extension", fold(extension.group(1))))
    elif word == "SCHEMA":
        schema = _SCHEMA.match(text)
        name = schema and (schema.group(1) or schema.group(2))
        if name:
            return modeled(("schema", parse_qualified(name)))
    elif word == "EVENT":
        if _runs_ddl(text):
            return unanalyzable("event trigger runs DDL or dynamic SQL")
        return NOTHING
    if _NO_EFFECT.match(text):
        return NOTHING
    return _from_sqlglot(text)


def _create_table_or_index(text: str, word: str) -> Extraction:
    if word == "TABLE":
        return _from_sqlglot(text)
    only = _CREATE_INDEX.match(text)
    if only:  # pg_dump's index on a partitioned parent only; sqlglot rejects `ON ONLY`
        text = f"{only.group(1)} {text[only.end() :]}"
    if _NULLS_NOT_DISTINCT.search(text):  # sqlglot returns these as an opaque Command
        extraction = _from_sqlglot(_NULLS_NOT_DISTINCT.sub("", text), only=bool(only))
        for op in extraction.ops:
            op[1]["nulls_not_distinct"] = True
        return extraction
    return _from_sqlglot(text, only=bool(only))


def _runs_ddl(text: str, start: int = 0) -> bool:
    return bool(_BODY_DDL.search(text, start) or _DYNAMIC_DDL.search(text, start))


def _function(text: str, name: str, body_start: int) -> Extraction:
    if _runs_ddl(text, body_start):
        reason = f"function {name} runs DDL or dynamic SQL; what it changes cannot be modeled"
        return unanalyzable(reason, ("function", name))
    return modeled(("function", name))


def _extract_alter(text: str) -> Extraction:
    index = _ALTER_INDEX.match(text)
    if index:
        name = parse_qualified(index.group(1))
        if index.group(2):
            return modeled(("attach_index", name, parse_qualified(index.group(2))))
        if index.group(3):
            return modeled(("rename", "index", name, parse_qualified(index.group(3))))
        return NOTHING
    trigger = _ALTER_TRIGGER.match(text)
    if trigger:
        table = parse_qualified(trigger.group(2))
        return modeled(("rename_trigger", table, fold(trigger.group(1)), fold(trigger.group(3))))
    sequence = _ALTER_SEQUENCE.match(text)
    if sequence:
        return _alter_sequence(parse_qualified(sequence.group(1)), sequence.group(2))
    table = _ALTER_TABLE.match(text)
    if table:
        if_exists, only, name, actions = table.groups()
        name = parse_qualified(name)
        extraction = _alter_table(text, name, actions)
        ops = extraction.ops
        if ops and not only:  # also applies to the partitions of a partitioned table
            ops = (("recurse", name, ops),)
        if ops and if_exists:  # nothing happens to a missing table
            ops = (("if_table_exists", name, ops),)
        return Extraction(extraction.status, ops, extraction.reason)
    if _NO_EFFECT.match(text):
        return NOTHING
    return _from_sqlglot(text)


def _alter_sequence(name: str, rest: str) -> Extraction:
    rename = _RENAME_TO.match(rest)
    if rename:
        return modeled(("rename", "sequence", name, in_schema_of(name, fold(rename.group(1)))))
    owned = _OWNED_BY.search(rest)
    if not owned:
        return NOTHING  # RESTART, INCREMENT, CACHE, OWNER TO…: values, not structure
    return modeled(_owned_by(name, owned))


def _owned_by(sequence: str, owned: re.Match[str]) -> Op:
    """`OWNED BY [schema.]table.column` or `OWNED BY NONE`."""
    if owned.group(1).upper() == "NONE":
        return ("sequence_owned", sequence, None, None)
    *table, column = split_qualified(owned.group(1))
    return (
        "sequence_owned",
        sequence,
        qualify(table[-1], table[0] if len(table) > 1 else None),
        column,
    )


def _extract_drop(text: str) -> Extraction:
    trigger = _DROP_TRIGGER.match(text)
    if trigger:
        table = parse_qualified(trigger.group(2))
        return modeled(("drop", "trigger", (table, fold(trigger.group(1)))))
    view = _DROP_VIEW.match(text)
    if view:
        return modeled(*(("drop", "view", n) for n in _names(view.group(1))))
    extension = _DROP_EXTENSION.match(text)
    if extension:
        names = [fold(n.strip()) for n in extension.group(1).split(",")]
        return modeled(*(("drop", "extension", n) for n in names))
    if _NO_EFFECT.match(text):
        return NOTHING
    listed = _DROP_LIST.match(text)
    targets = _top_level_split(listed.group(2)) if listed else []  # none: leave it to sqlglot
    if targets and _DROP_FUNCTION.match(text):
        names = [parse_qualified(part.split("(")[0]) for part in targets]
        return modeled(*(("drop", "function", n) for n in names))
    if listed and targets and "," in listed.group(2):  # sqlglot rejects `DROP INDEX a, b`
        kind, tail = listed.group(1), listed.group(3) or ""
        parts = [_from_sqlglot(f"{kind} {part}{tail}") for part in targets]
        ops = [op for part in parts for op in part.ops]
        reasons = [part.reason for part in parts if part.status == UNANALYZABLE]
        if reasons:  # a name sqlglot cannot read: say so, never drop it silently
            return unanalyzable("; ".join(dict.fromkeys(reasons)), *ops)
        return modeled(*ops) if ops else NOTHING
    return _from_sqlglot(text)


def _names(text: str) -> list[str]:
    return [parse_qualified(part) for part in _top_level_split(text)]


def _trigger(match: re.Match[str]) -> Extraction:
    table = parse_qualified(match.group(3))
    timing_events = " ".join(match.group(2).split()).upper()
    level = "ROW" if re.search(r"FOR\s+EACH\s+ROW", match.group(4), re.IGNORECASE) else "STATEMENT"
    trigger = {
        "name": fold(match.group(1)),
        "table": table,
        "function": parse_qualified(match.group(5)),
        "when": f"{timing_events} FOR EACH {level}",
    }
    return modeled(("trigger", trigger))


def _alter_table(text: str, table: str, actions_text: str) -> Extraction:
    """ALTER TABLE: recognize the actions sqlglot returns as `Command`, parse the others."""
    actions = _top_level_split(actions_text) if "," in actions_text else [actions_text]
    ops: list[Op] = []
    reasons: list[str] = []
    prefix = text[: len(text) - len(actions_text)]
    for action in actions:
        extraction = _alter_table_action(table, action, prefix)
        ops.extend(extraction.ops)
        if extraction.status == UNANALYZABLE:
            reasons.append(extraction.reason)
    if reasons:
        return unanalyzable("; ".join(reasons), *ops)
    return modeled(*ops) if ops else NOTHING


def _alter_table_action(table: str, action: str, prefix: str) -> Extraction:
    keyword = action[:10].upper()
    if keyword.startswith("ATTACH"):
        attach = _ATTACH.match(action)
        if attach:
            bound = " ".join(attach.group(2).split())
            return modeled(("attach_partition", table, parse_qualified(attach.group(1)), bound))
    elif keyword.startswith("DETACH"):
        detach = _DETACH.match(action)
        if detach:
            return modeled(("detach_partition", table, parse_qualified(detach.group(1))))
    elif keyword.startswith("RENAME CON"):
        rename = _RENAME_CONSTRAINT.match(action)
        if rename:
            old, new = fold(rename.group(1)), fold(rename.group(2))
            return modeled(("rename_constraint", table, old, new))
    elif keyword.startswith("VALIDATE"):
        validate = _VALIDATE.match(action)
        if validate:
            return modeled(("validate_constraint", table, fold(validate.group(1))))
    elif keyword.startswith("SET SCHEMA"):
        schema = _SET_SCHEMA.match(action)
        if schema:
            return modeled(("set_schema", table, fold(schema.group(1))))
    elif _ACTION_NO_EFFECT.match(action):
        return NOTHING
    identity = _IDENTITY.match(action)
    if identity:  # pg_dump writes identity columns this way; sqlglot: opaque Command
        column, added, changed, dropped = identity.groups()
        kind = None if dropped else " ".join((added or changed).upper().split())
        return modeled(("alter_column", table, fold(column), {"identity": kind}))
    using = _USING_INDEX.match(action)
    if using:  # the index becomes the constraint's; sqlglot: opaque Command
        name = fold(using.group(1)) if using.group(1) else None
        kind = "unique" if using.group(2).upper() == "UNIQUE" else "primary_key"
        index = in_schema_of(table, fold(using.group(3)))
        return modeled(("constraint_using_index", table, name, kind, index))
    check = _ADD_CHECK.match(action)
    if check:
        return modeled(("add_constraint", table, _check_constraint(table, check)))
    exclude = _ADD_EXCLUDE.match(action)
    if exclude:  # sqlglot: opaque Command
        return modeled(("add_constraint", table, _exclude_constraint(exclude)))
    if _NULLS_NOT_DISTINCT.search(action):  # sqlglot: opaque Command; the index is the same
        stripped = _NULLS_NOT_DISTINCT.sub("", action)
        extraction = _from_sqlglot(prefix + stripped)
        for op in extraction.ops:
            if op[0] == "add_constraint":
                op[2]["nulls_not_distinct"] = True
        return extraction
    return _from_sqlglot(prefix + action)


def _check_constraint(table: str, match: re.Match[str]) -> dict[str, Any]:
    from analyzers.sqlglot_ops import check_from_text  # noqa: PLC0415 (see _from_sqlglot)

    return check_from_text(table, match.group(1), match.group(2), not_valid=bool(match.group(3)))


def _exclude_constraint(match: re.Match[str]) -> dict[str, Any]:
    expression = "EXCLUDE " + " ".join(match.group(2).split())
    naming = None if match.group(1) else [name_addition(exclude_columns(expression)), "excl"]
    return {
        "name": fold(match.group(1)) if match.group(1) else None,
        "naming": naming,
        "kind": "exclude",
        "columns": [],
        "line": 0,
        "not_valid": False,
        "expression": expression,
    }


def _from_sqlglot(text: str, *, only: bool = False) -> Extraction:
    # imported on first use: a run served from the cache never loads sqlglot
    from analyzers.sqlglot_ops import from_sqlglot  # noqa: PLC0415

    upper = text.upper()
    if "SET" in upper:
        text = _SET_NULL_COLUMNS.sub(r"\1", text)
    if "VARYING" in upper:  # sqlglot knows `varbit`, not its standard name
        text = _BIT_VARYING.sub("varbit", text)
    return from_sqlglot(text, only=only)


def _top_level_split(text: str) -> list[str]:
    """Split at commas outside parentheses and quotes."""
    parts: list[str] = []
    depth, start, quote = 0, 0, ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "unknown error"
