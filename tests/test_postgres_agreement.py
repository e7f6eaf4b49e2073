"""Differential tests: the schema model against what PostgreSQL itself builds from the same SQL.

Each case is a short series of SQL files. They are run, in order, on a fresh database; the
catalog is read into plain dicts, one per *aspect* (tables, columns, constraint names, …);
the model built by `build_schema` from the same files is put into the same shape, and the
two are compared aspect by aspect, so that a disagreement names the objects that differ.

What is left out on purpose, because the model keeps it elsewhere:
- indexes that implement a PRIMARY KEY, UNIQUE or EXCLUDE constraint (kept as constraints);
- sequences of identity columns (kept as the column's `identity`);
- NOT NULL, which is a column property here (and in PostgreSQL 15).

A known disagreement is marked `xfail(strict=True)` on its (case, aspect) only: the other
aspects of the case keep being checked, and a fix makes the marked test fail until the mark
is removed.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from analyzers.build import BuildResult, SourceFile, build_schema
from analyzers.model import CHECK, EXCLUDE, FOREIGN_KEY, Schema
from analyzers.names import qualify

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_REPO = ROOT / "bot" / "example_repo"

Snapshot = dict[str, dict[Any, Any]]

# --- the cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """SQL files applied in order, to PostgreSQL and to the model."""

    id: str
    files: tuple[tuple[str, str], ...]  # (path, SQL text)
    extensions: tuple[str, ...] = ()  # the server must offer these, else the case is skipped
    # what PostgreSQL runs instead of a file's text, when it cannot run the file as it is
    for_postgres: Callable[[str], str] | None = None
    # reasons (beginnings) of the statements the model rightly reports as unanalyzable
    unanalyzable: tuple[str, ...] = field(default_factory=tuple)

    def sources(self) -> list[SourceFile]:
        return [SourceFile(path, text) for path, text in self.files]

    def postgres_scripts(self) -> list[str]:
        convert = self.for_postgres or (lambda text: text)
        return [convert(text) for _, text in self.files]


def migrations(case_id: str, *scripts: str, **options: Any) -> Case:
    files = tuple(
        (f"db/migrate/{number:03d}_{case_id}.sql", textwrap.dedent(script).strip() + "\n")
        for number, script in enumerate(scripts, start=1)
    )
    return Case(case_id, files, **options)


def _example_dump(side: str) -> Case:
    path = EXAMPLE_REPO / side / "db" / "structure.sql"
    text = path.read_text()
    # The example dump names its objects without `public.` yet empties the search_path the
    # way pg_dump does; PostgreSQL then has no schema to create them in. The model reads the
    # file as it is; PostgreSQL runs it with the search_path left at public.
    empty_search_path = "SELECT pg_catalog.set_config('search_path', '', false);"
    assert empty_search_path in text
    unanalyzable = ("function create_ci_builds_partition runs DDL",) if side == "head" else ()
    return Case(
        f"example_{side}_structure",
        ((str(path.relative_to(ROOT)), text),),
        extensions=("pg_trgm",),
        for_postgres=lambda sql: sql.replace(empty_search_path, "SET search_path = public;"),
        unanalyzable=unanalyzable,
    )


MIGRATIONS = migrations(
    "migrations",
    """
    CREATE TABLE accounts (
        id bigserial PRIMARY KEY,
        email text NOT NULL UNIQUE,
        handle varchar(40) NOT NULL,
        plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (char_length(handle) BETWEEN 3 AND 40),
        UNIQUE (handle, plan)
    );

    CREATE TABLE projects (
        account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
        id integer GENERATED ALWAYS AS IDENTITY,
        slug text NOT NULL,
        name text,
        name_length integer GENERATED ALWAYS AS (char_length(name)) STORED,
        starts_on date,
        ends_on date,
        PRIMARY KEY (account_id, id),
        UNIQUE (account_id, slug),
        CHECK (ends_on >= starts_on),
        CHECK (starts_on IS NOT NULL OR ends_on IS NULL)
    );
    """,
    """
    CREATE TABLE tasks (
        id serial PRIMARY KEY,
        account_id bigint NOT NULL,
        project_id integer NOT NULL,
        parent_id integer REFERENCES tasks (id) ON DELETE SET NULL ON UPDATE CASCADE,
        priority smallint DEFAULT 0 CHECK (priority >= 0) CHECK (priority <= 5),
        title text NOT NULL,
        reference uuid UNIQUE,
        FOREIGN KEY (account_id, project_id) REFERENCES projects (account_id, id)
            ON DELETE CASCADE ON UPDATE RESTRICT
    );

    CREATE TABLE task_labels (
        task_id integer NOT NULL REFERENCES tasks ON DELETE CASCADE,
        label varchar(64) NOT NULL,
        position smallint GENERATED BY DEFAULT AS IDENTITY,
        PRIMARY KEY (task_id, label)
    );
    """,
    """
    ALTER TABLE tasks
        ADD COLUMN done_at timestamptz,
        ADD COLUMN estimate numeric(6, 2) CHECK (estimate > 0);
    ALTER TABLE tasks ADD CHECK (done_at IS NULL OR done_at > '2000-01-01') NOT VALID;
    ALTER TABLE tasks ADD FOREIGN KEY (parent_id) REFERENCES tasks (id) NOT VALID;
    ALTER TABLE accounts ADD CONSTRAINT accounts_email_lowercase
        CHECK (email = lower(email)) NOT VALID;
    ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_lowercase;
    ALTER TABLE projects ADD UNIQUE (slug);
    ALTER TABLE task_labels ADD CHECK (label <> '' AND position >= 0);
    CREATE UNIQUE INDEX accounts_lower_email_index ON accounts (lower(email));
    CREATE UNIQUE INDEX tasks_open_title_index ON tasks (project_id, title)
        WHERE done_at IS NULL;
    CREATE INDEX ON tasks (account_id, project_id);
    CREATE INDEX tasks_done_at_index ON tasks (done_at DESC NULLS LAST) WHERE done_at IS NOT NULL;
    """,
)

RENAMES = migrations(
    "renames",
    """
    CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END
    $$;

    CREATE TABLE users (
        id serial PRIMARY KEY,
        login text NOT NULL UNIQUE,
        full_name text,
        updated_at timestamptz
    );
    CREATE TABLE posts (
        id bigserial PRIMARY KEY,
        user_id integer REFERENCES users,
        body text CHECK (length(body) < 10000)
    );
    CREATE INDEX posts_user_id_idx ON posts (user_id);
    CREATE TRIGGER users_touch BEFORE UPDATE ON users
        FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
    """,
    """
    ALTER TABLE users RENAME TO members;
    ALTER TABLE members RENAME COLUMN login TO username;
    ALTER TABLE members RENAME full_name TO display_name;
    ALTER INDEX users_pkey RENAME TO members_pkey;
    ALTER INDEX users_login_key RENAME TO members_username_key;
    ALTER SEQUENCE users_id_seq RENAME TO members_id_seq;
    ALTER TRIGGER users_touch ON members RENAME TO members_touch;
    """,
    """
    ALTER TABLE posts RENAME COLUMN user_id TO member_id;
    ALTER TABLE posts RENAME CONSTRAINT posts_user_id_fkey TO posts_member_id_fkey;
    ALTER TABLE posts RENAME CONSTRAINT posts_body_check TO posts_body_length;
    ALTER INDEX posts_user_id_idx RENAME TO posts_member_id_idx;
    ALTER TABLE posts RENAME CONSTRAINT posts_pkey TO posts_primary_key;
    ALTER TABLE members ADD CHECK (display_name <> '');
    ALTER TABLE posts ADD UNIQUE (member_id, id);
    """,
)

DROPS = migrations(
    "drops",
    """
    CREATE TABLE orgs (id integer PRIMARY KEY, name text NOT NULL);
    CREATE TABLE teams (
        id integer PRIMARY KEY,
        org_id integer REFERENCES orgs,
        name text NOT NULL,
        legacy_code text,
        slug text,
        UNIQUE (org_id, legacy_code),
        CHECK (legacy_code <> ''),
        CHECK (slug <> legacy_code)
    );
    CREATE INDEX teams_legacy_code_idx ON teams (legacy_code);
    CREATE INDEX teams_slug_legacy_code_idx ON teams (slug, legacy_code);
    CREATE INDEX teams_name_idx ON teams (name);
    CREATE TABLE memberships (
        team_id integer REFERENCES teams ON DELETE CASCADE,
        user_id integer NOT NULL,
        PRIMARY KEY (team_id, user_id)
    );
    CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        team_id integer REFERENCES teams,
        org_id integer REFERENCES orgs
    );
    CREATE INDEX audit_events_team_id_idx ON audit_events (team_id);
    CREATE INDEX audit_events_org_id_idx ON audit_events (org_id);
    CREATE TABLE scratch (id integer);
    """,
    """
    ALTER TABLE teams DROP COLUMN legacy_code;
    ALTER TABLE teams DROP COLUMN IF EXISTS never_existed;
    DROP TABLE teams CASCADE;
    DROP INDEX audit_events_team_id_idx, audit_events_org_id_idx;
    DROP INDEX IF EXISTS no_such_index;
    DROP TABLE IF EXISTS no_such_table, scratch;
    ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS no_such_constraint;
    ALTER TABLE audit_events DROP CONSTRAINT audit_events_org_id_fkey;
    """,
)

PARTITIONING = migrations(
    "partitioning",
    """
    CREATE SCHEMA archive;
    CREATE TABLE measurements (
        city_id integer NOT NULL,
        logdate date NOT NULL,
        peaktemp integer,
        unitsales integer DEFAULT 0
    ) PARTITION BY RANGE (logdate);
    CREATE TABLE measurements_y2024 PARTITION OF measurements
        FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE measurements_y2025 (
        city_id integer NOT NULL,
        logdate date NOT NULL,
        peaktemp integer,
        unitsales integer DEFAULT 0
    );
    ALTER TABLE measurements ATTACH PARTITION measurements_y2025
        FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE archive.measurements_y2023 (
        city_id integer NOT NULL,
        logdate date NOT NULL,
        peaktemp integer,
        unitsales integer DEFAULT 0
    );
    ALTER TABLE ONLY measurements ATTACH PARTITION archive.measurements_y2023
        FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');

    CREATE TABLE orders (
        id bigint NOT NULL,
        region text NOT NULL,
        total numeric(12, 2)
    ) PARTITION BY LIST (region);
    CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu', 'uk');
    CREATE TABLE orders_other PARTITION OF orders DEFAULT;
    """,
    """
    CREATE INDEX measurements_city_id_logdate_idx ON ONLY measurements (city_id, logdate);
    CREATE INDEX measurements_y2024_city_id_logdate_idx
        ON measurements_y2024 (city_id, logdate);
    CREATE INDEX measurements_y2025_city_id_logdate_idx
        ON measurements_y2025 (city_id, logdate);
    ALTER INDEX measurements_city_id_logdate_idx
        ATTACH PARTITION measurements_y2024_city_id_logdate_idx;
    ALTER INDEX measurements_city_id_logdate_idx
        ATTACH PARTITION measurements_y2025_city_id_logdate_idx;
    ALTER TABLE measurements DETACH PARTITION archive.measurements_y2023;
    """,
)

ALTER_ACTIONS = migrations(
    "alter_actions",
    """
    CREATE TABLE invoices (
        id integer PRIMARY KEY,
        number text,
        amount numeric(10, 2),
        currency char(3),
        note text NOT NULL,
        status text DEFAULT 'draft'
    );
    """,
    """
    ALTER TABLE invoices
        -- amounts above 10^8, see ticket 42, part 2
        ALTER COLUMN amount TYPE numeric(14, 2),
        /* every invoice needs a number; nulls were backfilled */
        ALTER COLUMN number SET NOT NULL,
        ALTER COLUMN note DROP NOT NULL, -- notes are optional again
        ALTER COLUMN currency SET DEFAULT 'EUR',
        ALTER COLUMN status DROP DEFAULT,
        ADD COLUMN IF NOT EXISTS paid_at timestamptz,
        ADD COLUMN IF NOT EXISTS note text; -- already there: skipped
    ALTER TABLE IF EXISTS legacy_invoices ADD COLUMN migrated boolean DEFAULT false;
    ALTER TABLE IF EXISTS legacy_invoices RENAME COLUMN a TO b;
    ALTER TABLE invoices ALTER amount TYPE numeric(16, 2) USING amount::numeric(16, 2);
    ALTER TABLE invoices ALTER COLUMN status SET DATA TYPE varchar(20);
    ALTER TABLE IF EXISTS invoices
        ALTER COLUMN status SET NOT NULL, -- drafts are explicit now
        ALTER COLUMN status SET DEFAULT 'open';
    """,
)

CASES = [
    _example_dump("base"),
    _example_dump("head"),
    MIGRATIONS,
    RENAMES,
    DROPS,
    PARTITIONING,
    ALTER_ACTIONS,
]

ASPECTS = (
    "tables",
    "partitions",
    "columns",
    "column_types",
    "constraints",
    "constraint_details",
    "foreign_keys",
    "indexes",
    "index_columns",
    "sequences",
    "triggers",
)

# (case id, aspect) -> what the model gets wrong there
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {}


# --- PostgreSQL: run the SQL, read the catalog --------------------------------------------


def run_scripts(url: str, scripts: list[str]) -> None:
    """Run each script as one simple-protocol query (all of its statements, or none)."""
    import psycopg  # noqa: PLC0415 (optional dependency, checked by the postgres_url fixture)

    with psycopg.connect(url, autocommit=True) as connection:
        for script in scripts:
            connection.execute(script.encode())


def missing_extensions(url: str, names: tuple[str, ...]) -> list[str]:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", [list(names)]
        ).fetchall()
    available = {row[0] for row in rows}
    return [name for name in names if name not in available]


_RELATIONS = r"""
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (
      SELECT FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
"""
_INHERITS = "SELECT inhrelid, inhparent FROM pg_inherits"
_ATTRIBUTES = """
SELECT attrelid, attnum, attname, attnotnull, atthasdef, attidentity, attgenerated,
       format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attnum > 0 AND NOT attisdropped
ORDER BY attrelid, attnum
"""
_CONSTRAINTS = """
SELECT conrelid, conname, contype, convalidated, conkey, confrelid, confkey,
       confdeltype, confupdtype, conindid
FROM pg_constraint
WHERE conrelid <> 0 AND contype IN ('p', 'u', 'c', 'f', 'x')
"""
_INDEXES = """
SELECT indexrelid, indrelid, indisunique, indpred IS NOT NULL, indkey::int2[], indnkeyatts
FROM pg_index
"""
_SEQUENCE_OWNERS = """
SELECT objid, refobjid, refobjsubid, deptype
FROM pg_depend
WHERE classid = 'pg_class'::regclass AND refclassid = 'pg_class'::regclass
  AND deptype IN ('a', 'i') AND refobjsubid > 0
"""
_TRIGGERS = """
SELECT t.tgrelid, t.tgname, n.nspname, p.proname, t.tgtype
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE NOT t.tgisinternal
"""

_KINDS = {"p": "primary_key", "u": "unique", "c": CHECK, "f": FOREIGN_KEY, "x": EXCLUDE}
_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT", "": None}


def catalog_snapshot(url: str) -> Snapshot:
    """What PostgreSQL has, per aspect, in the shape `model_snapshot` gives the model."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url) as connection:
        relations = connection.execute(_RELATIONS).fetchall()
        inherits = dict(connection.execute(_INHERITS).fetchall())
        attributes = connection.execute(_ATTRIBUTES).fetchall()
        constraints = connection.execute(_CONSTRAINTS).fetchall()
        indexes = connection.execute(_INDEXES).fetchall()
        owners = connection.execute(_SEQUENCE_OWNERS).fetchall()
        triggers = connection.execute(_TRIGGERS).fetchall()

    key = {oid: qualify(name, schema) for oid, schema, name, *_ in relations}
    kind = {oid: relkind for oid, _, _, relkind, *_ in relations}
    tables = [oid for oid in key if kind[oid] in ("r", "p")]
    columns: dict[int, list[tuple[Any, ...]]] = {oid: [] for oid in tables}
    names: dict[tuple[int, int], str] = {}
    for relid, number, name, not_null, has_default, identity, generated, type_ in attributes:
        names[relid, number] = name
        if relid in columns:
            plain_default = has_default and not generated
            columns[relid].append(
                (name, not_null, plain_default, _IDENTITY[identity], bool(generated), type_)
            )

    snapshot: Snapshot = {aspect: {} for aspect in ASPECTS}
    for oid, _, _, relkind, is_partition, partition_key in relations:
        if relkind not in ("r", "p"):
            continue
        table = key[oid]
        snapshot["tables"][table] = "partitioned table" if relkind == "p" else "table"
        if partition_key or is_partition:
            parent = key.get(inherits[oid]) if is_partition else None
            snapshot["partitions"][table] = (partition_key, parent)
        snapshot["columns"][table] = [c[:5] for c in columns[oid]]
        snapshot["column_types"][table] = [(c[0], c[5]) for c in columns[oid]]

    constraint_indexes = set()
    for relid, name, contype, validated, conkey, refid, confkey, on_delete, on_update, indid in (
        constraints
    ):
        if relid not in key:
            continue
        where = (key[relid], name)
        kind_ = _KINDS[contype]
        snapshot["constraints"][where] = kind_
        columns_ = [names[relid, n] for n in conkey or ()]
        snapshot["constraint_details"][where] = _details(kind_, columns_, not validated)
        if contype == "f":
            snapshot["foreign_keys"][where] = (
                key.get(refid, refid),
                [names[refid, n] for n in confkey],
                _FK_ACTIONS[on_delete],
                _FK_ACTIONS[on_update],
            )
        elif contype in ("p", "u", "x"):
            constraint_indexes.add(indid)

    for index, relid, unique, partial, indkey, key_count in indexes:
        if index in constraint_indexes or index not in key or relid not in key:
            continue
        parent = key.get(inherits[index]) if index in inherits else None
        snapshot["indexes"][key[index]] = (key[relid], unique, partial, parent)
        snapshot["index_columns"][key[index]] = [
            names[relid, n] if n else "<expression>" for n in indkey[:key_count]
        ]

    owned = {}
    for sequence, table, column, deptype in owners:
        if sequence in key and table in key:
            owned[sequence] = (key[table], names[table, column], deptype)
    for oid in key:
        if kind[oid] != "S":
            continue
        owner = owned.get(oid)
        if owner and owner[2] == "i":  # an identity column's: part of the column
            continue
        snapshot["sequences"][key[oid]] = owner[:2] if owner else None

    for relid, name, function_schema, function, tgtype in triggers:
        if relid in key:
            snapshot["triggers"][key[relid], name] = (
                qualify(function, function_schema),
                *_trigger_type(tgtype),
            )
    return snapshot


def _details(kind: str, columns: list[str], not_valid: bool) -> tuple[Any, ...]:
    """Columns of a constraint as the model keeps them: a check's sorted, none for EXCLUDE."""
    if kind == CHECK:
        return (sorted(columns), not_valid)
    if kind == EXCLUDE:
        return (None, not_valid)
    return (columns, not_valid)


def _trigger_type(tgtype: int) -> tuple[str, tuple[str, ...], str]:
    """(timing, events, level) from pg_trigger.tgtype's bits."""
    timing = "INSTEAD OF" if tgtype & 64 else "BEFORE" if tgtype & 2 else "AFTER"
    bits = {"INSERT": 4, "DELETE": 8, "UPDATE": 16, "TRUNCATE": 32}
    events = tuple(sorted(event for event, bit in bits.items() if tgtype & bit))
    return timing, events, "ROW" if tgtype & 1 else "STATEMENT"


def canonical_types(url: str, types: set[str]) -> dict[str, str]:
    """PostgreSQL's own spelling (format_type) of each type text; `<invalid: …>` if rejected."""
    import psycopg  # noqa: PLC0415

    result: dict[str, str] = {}
    with psycopg.connect(url) as connection, connection.transaction(force_rollback=True):
        for text in sorted(types):
            try:
                with connection.transaction():
                    connection.execute(f"CREATE TEMP TABLE type_probe (probe {text})".encode())
                    row = connection.execute(
                        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                        " WHERE attrelid = 'pg_temp.type_probe'::regclass AND attname = 'probe'"
                    ).fetchone()
                    result[text] = row[0] if row else "<no type>"
                    connection.execute("DROP TABLE pg_temp.type_probe")
            except psycopg.Error as error:
                result[text] = f"<invalid: {str(error).splitlines()[0]}>"
    return result


# --- the model, in the same shape -----------------------------------------------------------

_PLAIN_COLUMN = re.compile(r'^("(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s|$)')


def model_snapshot(schema: Schema, types: Callable[[str | None], str]) -> Snapshot:
    snapshot: Snapshot = {aspect: {} for aspect in ASPECTS}
    for name, table in schema.tables.items():
        snapshot["tables"][name] = "partitioned table" if table.partition_by else "table"
        if table.partition_by or table.partition_of:
            snapshot["partitions"][name] = (_partition_key(table.partition_by), table.partition_of)
        snapshot["columns"][name] = [
            (
                column.name,
                not column.nullable,
                column.default is not None,
                column.identity,
                column.generated is not None,
            )
            for column in table.columns.values()
        ]
        snapshot["column_types"][name] = [
            (column.name, types(column.type)) for column in table.columns.values()
        ]
        for constraint in table.constraints.values():
            where = (name, constraint.name)
            snapshot["constraints"][where] = constraint.kind
            snapshot["constraint_details"][where] = _details(
                constraint.kind, list(constraint.columns), constraint.not_valid
            )
            if constraint.kind == FOREIGN_KEY:
                snapshot["foreign_keys"][where] = (
                    constraint.ref_table,
                    list(constraint.ref_columns),
                    _fk_action(constraint.on_delete),
                    _fk_action(constraint.on_update),
                )
    for name, index in schema.indexes.items():
        snapshot["indexes"][name] = (index.table, index.unique, index.where is not None, index.parent)
        snapshot["index_columns"][name] = [_index_key(text) for text in index.columns]
    for name, sequence in schema.sequences.items():
        snapshot["sequences"][name] = sequence.owned_by
    for (table, name), trigger in schema.triggers.items():
        snapshot["triggers"][table, name] = (trigger.function, *_model_trigger_type(trigger.when))
    return snapshot


def _partition_key(partition_by: str | None) -> str | None:
    """The model's `List (a)` as PostgreSQL's `LIST (a)`: the strategy's case is not compared."""
    if partition_by is None:
        return None
    strategy, _, key = partition_by.partition(" ")
    return f"{strategy.upper()} {key}"


def _fk_action(action: str | None) -> str:
    return action or "NO ACTION"


def _index_key(text: str) -> str:
    """`id DESC`, `"Email"`, `title gin_trgm_ops` name a column; anything else is an expression."""
    plain = _PLAIN_COLUMN.match(text)
    if plain is None:
        return "<expression>"
    name = plain.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _model_trigger_type(when: str) -> tuple[str, tuple[str, ...], str]:
    words = when.upper().split()
    timing = "INSTEAD OF" if words[:2] == ["INSTEAD", "OF"] else words[0]
    events = ("INSERT", "DELETE", "UPDATE", "TRUNCATE")
    return timing, tuple(sorted({w for w in words if w in events})), words[-1]


# --- comparing ----------------------------------------------------------------------------


def differences(postgres: dict[Any, Any], model: dict[Any, Any]) -> list[str]:
    """One line per object that differs, PostgreSQL's side first."""
    lines = []
    for key in sorted(postgres.keys() | model.keys(), key=repr):
        if key not in model:
            lines.append(f"only in PostgreSQL: {key!r}: {postgres[key]!r}")
        elif key not in postgres:
            lines.append(f"only in the model:  {key!r}: {model[key]!r}")
        elif postgres[key] != model[key]:
            lines.append(f"differs: {key!r}\n    PostgreSQL: {postgres[key]!r}\n    model:      {model[key]!r}")
    return lines


def assert_agrees(aspect: str, postgres: Snapshot, model: Snapshot) -> None:
    lines = differences(postgres[aspect], model[aspect])
    if lines:
        pytest.fail(f"{aspect}: the model disagrees with PostgreSQL\n  " + "\n  ".join(lines))


# --- the tests ----------------------------------------------------------------------------


@dataclass
class Outcome:
    result: BuildResult
    postgres: Snapshot
    model: Snapshot


def _params() -> Iterator[Any]:
    for case in CASES:
        for aspect in ASPECTS:
            reason = KNOWN_DISAGREEMENTS.get((case.id, aspect))
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            yield pytest.param(case, aspect, id=f"{case.id}-{aspect}", marks=marks)


def outcome_of(case: Case, url: str) -> Outcome:
    missing = missing_extensions(url, case.extensions)
    if missing:
        pytest.skip(f"{case.id} needs the PostgreSQL extension(s) {', '.join(missing)}")
    run_scripts(url, case.postgres_scripts())
    postgres = catalog_snapshot(url)
    result = build_schema(case.sources())
    columns = [c for t in result.schema.tables.values() for c in t.columns.values()]
    canonical = canonical_types(url, {c.type for c in columns if c.type})
    model = model_snapshot(result.schema, lambda text: canonical[text] if text else "<unknown>")
    return Outcome(result, postgres, model)


# One run of a case on PostgreSQL serves all its aspects: case id -> outcome.
_OUTCOMES: dict[str, Outcome] = {}


@pytest.mark.parametrize(("case", "aspect"), list(_params()))
def test_model_agrees_with_postgres(
    case: Case, aspect: str, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    outcome = _OUTCOMES.get(case.id)
    if outcome is None:
        fresh_database = request.getfixturevalue("fresh_database")
        outcome = _OUTCOMES[case.id] = outcome_of(case, fresh_database)
    assert_agrees(aspect, outcome.postgres, outcome.model)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_statement_is_analyzed(case: Case) -> None:
    result = build_schema(case.sources())
    reasons = [item.reason for item in result.unanalyzable]
    expected = list(case.unanalyzable)
    assert len(reasons) == len(expected), result.unanalyzable
    for reason, beginning in zip(reasons, expected, strict=True):
        assert reason.startswith(beginning), result.unanalyzable
