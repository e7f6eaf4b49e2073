"""Differential tests: the schema model against what PostgreSQL itself builds from the same SQL.

Each case is a short series of SQL files. They are run, in order, on a fresh database; the
catalog is read into plain dicts, one per *aspect* (tables, columns, constraint names, …);
the model built by `build_schema` from the same files is put into the same shape, and the
two are compared aspect by aspect, so that a disagreement names the objects that differ.

What is left out on purpose, because the model keeps it elsewhere:
- indexes that implement a PRIMARY KEY, UNIQUE or EXCLUDE constraint (kept as constraints);
- sequences of identity columns (kept as the column's `identity`);
- NOT NULL, which is a column property here (and in PostgreSQL 15).

The cases in CASES are also dumped with `pg_dump --schema-only` and the model read from the
dump is compared with the same catalog (`test_model_of_pg_dump_agrees_with_postgres`).

A known disagreement is marked `xfail(strict=True)` on its (case, aspect) only (see
KNOWN_DISAGREEMENTS): the other aspects of the case keep being checked, and a fix makes the
marked test fail until the mark is removed. The cases in DISAGREEMENTS each hold one such
disagreement; CASES agree entirely.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

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
    unanalyzable: tuple[str, ...] = ()

    def sources(self) -> list[SourceFile]:
        return [SourceFile(path, text) for path, text in self.files]

    def postgres_scripts(self) -> list[tuple[str, str]]:
        convert = self.for_postgres or (lambda text: text)
        return [(path, convert(text)) for path, text in self.files]

    def expects_unanalyzable(self, reason: str) -> bool:
        return any(reason.startswith(beginning) for beginning in self.unanalyzable)


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
    """
    CREATE SCHEMA billing;
    CREATE TABLE billing.invoices (
        id serial PRIMARY KEY,
        member_id integer REFERENCES members,
        number text UNIQUE
    );
    CREATE INDEX ON billing.invoices (member_id);
    ALTER TABLE billing.invoices RENAME TO bills;
    ALTER INDEX billing.invoices_member_id_idx RENAME TO bills_member_id_idx;
    ALTER INDEX billing.invoices_pkey RENAME TO bills_pkey;
    ALTER SEQUENCE billing.invoices_id_seq RENAME TO bills_id_seq;
    ALTER TABLE billing.bills RENAME CONSTRAINT invoices_number_key TO bills_number_key;
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
    CREATE INDEX teams_slug_legacy_code_idx ON teams (slug, legacy_code DESC);
    CREATE INDEX teams_name_idx ON teams (name);
    CREATE TABLE projects (
        id integer PRIMARY KEY,
        team_id integer REFERENCES teams ON DELETE CASCADE,
        org_id integer REFERENCES orgs,
        name text
    );
    CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        team_id integer REFERENCES teams,
        org_id integer REFERENCES orgs
    );
    CREATE INDEX audit_events_team_id_idx ON audit_events (team_id);
    CREATE INDEX audit_events_org_id_idx ON audit_events (org_id);
    CREATE TABLE import_batches (id serial PRIMARY KEY, payload jsonb);
    CREATE SEQUENCE invoice_numbers;
    CREATE TABLE scratch (id integer);
    """,
    """
    ALTER TABLE teams DROP COLUMN legacy_code;
    ALTER TABLE teams DROP COLUMN IF EXISTS never_existed;
    ALTER TABLE projects DROP COLUMN org_id;
    ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS no_such_constraint;
    ALTER TABLE audit_events DROP CONSTRAINT audit_events_team_id_fkey;
    DROP INDEX audit_events_team_id_idx, audit_events_org_id_idx;
    DROP INDEX IF EXISTS no_such_index;
    DROP TABLE IF EXISTS no_such_table, scratch;
    DROP TABLE import_batches;
    DROP SEQUENCE invoice_numbers;
    """,
    """
    DROP TABLE orgs CASCADE;
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

# --- where the model and PostgreSQL part ways --------------------------------------------
# Each case below holds the statements of one disagreement, kept small so that its
# xfail marks name exactly the aspects that differ (see KNOWN_DISAGREEMENTS).

DISAGREEMENTS = [
    migrations(
        "unnamed_expression_index",
        """
        CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, first_name text,
                            last_name text);
        CREATE INDEX ON users (lower(email));
        CREATE UNIQUE INDEX ON users (lower(email), id);
        CREATE INDEX ON users ((first_name || ' ' || last_name));
        """,
    ),
    migrations(
        "repeated_unnamed_index",
        """
        CREATE TABLE events (id bigint PRIMARY KEY, project_id bigint, created_at timestamptz);
        CREATE INDEX ON events (project_id);
        """,
        """
        CREATE INDEX ON events (project_id) WHERE created_at > '2024-01-01';
        """,
    ),
    migrations(
        "table_swap",
        """
        CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE);
        """,
        """
        ALTER TABLE users RENAME TO users_old;
        CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE, name text);
        """,
    ),
    migrations(
        "long_generated_names",
        """
        CREATE TABLE security_policy_project_linked_namespaces (
            id bigserial PRIMARY KEY,
            security_orchestration_policy_configuration_id bigint NOT NULL
                REFERENCES security_policy_project_linked_namespaces,
            namespace_id bigint NOT NULL UNIQUE,
            CHECK (security_orchestration_policy_configuration_id > 0)
        );
        CREATE INDEX ON security_policy_project_linked_namespaces
            (security_orchestration_policy_configuration_id, namespace_id);
        """,
    ),
    migrations(
        "identifier_longer_than_63",
        """
        CREATE TABLE approval_rules (
            id bigint PRIMARY KEY,
            approval_merge_request_rule_source_with_protected_branch_exceptions_id bigint
        );
        """,
    ),
    migrations(
        "redundant_unique_in_create_table",
        """
        CREATE TABLE accounts (
            id serial PRIMARY KEY UNIQUE,
            email text NOT NULL UNIQUE,
            UNIQUE (email)
        );
        """,
    ),
    migrations(
        "enum_and_extension_types",
        """
        CREATE TYPE issue_state AS ENUM ('opened', 'closed');
        CREATE TYPE issue_severity AS ENUM ('low', 'high');
        CREATE TABLE issues (
            id bigint PRIMARY KEY,
            state issue_state NOT NULL,
            severity issue_severity,
            search_vector tsvector
        );
        """,
    ),
    migrations(
        "bit_varying_column",
        """
        CREATE TABLE feature_flags (id integer PRIMARY KEY, bits bit varying(64));
        """,
    ),
    migrations(
        "unnamed_exclude_in_create_table",
        """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        CREATE TABLE bookings (
            id integer PRIMARY KEY,
            room_id integer NOT NULL,
            during tstzrange NOT NULL,
            EXCLUDE USING gist (room_id WITH =, during WITH &&)
        );
        """,
        extensions=("btree_gist",),
    ),
    migrations(
        "unnamed_exclude_added",
        """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        CREATE TABLE reservations (id integer PRIMARY KEY, room_id integer, during tstzrange);
        ALTER TABLE reservations ADD EXCLUDE USING gist (room_id WITH =, during WITH &&);
        """,
        extensions=("btree_gist",),
    ),
    migrations(
        "constraint_using_index",
        """
        CREATE TABLE tokens (id bigint NOT NULL, digest text NOT NULL);
        CREATE UNIQUE INDEX tokens_id_index ON tokens (id);
        CREATE UNIQUE INDEX tokens_digest_index ON tokens (digest);
        ALTER TABLE tokens ADD CONSTRAINT tokens_pkey PRIMARY KEY USING INDEX tokens_id_index;
        ALTER TABLE tokens ADD UNIQUE USING INDEX tokens_digest_index;
        """,
    ),
    migrations(
        "identity_altered",
        """
        CREATE TABLE builds (id bigint NOT NULL, runner_id bigint, name text);
        ALTER TABLE builds ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
            SEQUENCE NAME builds_id_seq START WITH 1 INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1
        );
        ALTER TABLE builds ADD COLUMN position integer GENERATED BY DEFAULT AS IDENTITY;
        ALTER TABLE builds ALTER COLUMN position SET GENERATED ALWAYS;
        """,
    ),
    migrations(
        "identity_dropped",
        """
        CREATE TABLE jobs (id bigint GENERATED BY DEFAULT AS IDENTITY, name text);
        ALTER TABLE jobs ALTER COLUMN id DROP IDENTITY IF EXISTS;
        """,
    ),
    migrations(
        "foreign_key_set_null_column_list",
        """
        CREATE TABLE tenants (id integer PRIMARY KEY);
        CREATE TABLE users (tenant_id integer, id integer, PRIMARY KEY (tenant_id, id));
        CREATE TABLE posts (
            tenant_id integer NOT NULL,
            id integer NOT NULL,
            author_id integer,
            PRIMARY KEY (tenant_id, id)
        );
        ALTER TABLE posts ADD FOREIGN KEY (tenant_id, author_id) REFERENCES users
            ON DELETE SET NULL (author_id);
        """,
    ),
    migrations(
        "create_sequence_owned_by",
        """
        CREATE TABLE invoices (id bigint PRIMARY KEY, number bigint NOT NULL);
        CREATE SEQUENCE invoices_number_seq OWNED BY invoices.number;
        ALTER TABLE invoices ALTER COLUMN number SET DEFAULT nextval('invoices_number_seq');
        """,
    ),
    migrations(
        "drop_column_used_by_expression_predicate_or_include",
        """
        CREATE TABLE users (
            id integer PRIMARY KEY,
            email text,
            deleted_at timestamptz,
            name text,
            avatar_url text
        );
        CREATE UNIQUE INDEX users_lower_email_idx ON users (lower(email));
        CREATE INDEX users_active_name_idx ON users (name) WHERE deleted_at IS NULL;
        CREATE INDEX users_name_covering_idx ON users (name) INCLUDE (avatar_url);
        """,
        """
        ALTER TABLE users DROP COLUMN email, DROP COLUMN deleted_at, DROP COLUMN avatar_url;
        """,
    ),
    migrations(
        "drop_serial_column",
        """
        CREATE TABLE imports (uuid uuid PRIMARY KEY, legacy_id serial, source text);
        """,
        """
        ALTER TABLE imports DROP COLUMN legacy_id;
        """,
    ),
    migrations(
        "drop_referenced_column_cascade",
        """
        CREATE TABLE countries (id integer PRIMARY KEY, iso_code char(2) UNIQUE);
        CREATE TABLE addresses (id integer PRIMARY KEY,
                                country_code char(2) REFERENCES countries (iso_code));
        """,
        """
        ALTER TABLE countries DROP COLUMN iso_code CASCADE;
        """,
    ),
    migrations(
        "rename_column_used_by_index_options",
        """
        CREATE TABLE "Customers" ("Id" integer PRIMARY KEY, "Email" text, handle text,
                                  score integer, archived boolean);
        CREATE INDEX "IX_Customers_Email" ON "Customers" ("Email");
        CREATE INDEX customers_handle_pattern ON "Customers" (handle text_pattern_ops);
        CREATE INDEX customers_score_desc ON "Customers" (score DESC NULLS LAST);
        """,
        """
        ALTER TABLE "Customers" RENAME COLUMN "Email" TO "EmailAddress";
        ALTER TABLE "Customers" RENAME COLUMN handle TO username;
        ALTER TABLE "Customers" RENAME COLUMN score TO rank;
        """,
    ),
    migrations(
        "drop_renamed_column",
        """
        CREATE TABLE orders (id integer PRIMARY KEY, placed_on date, archived boolean);
        CREATE INDEX orders_placed_on_desc ON orders (placed_on DESC);
        CREATE INDEX orders_live_idx ON orders (id) WHERE NOT archived;
        """,
        """
        ALTER TABLE orders RENAME COLUMN placed_on TO ordered_on;
        ALTER TABLE orders RENAME COLUMN archived TO is_archived;
        ALTER TABLE orders DROP COLUMN ordered_on, DROP COLUMN is_archived;
        """,
    ),
    migrations(
        "set_schema",
        """
        CREATE SCHEMA archive;
        CREATE TABLE audit_logs (id bigserial PRIMARY KEY, message text, created_at timestamptz);
        CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at);
        """,
        """
        ALTER TABLE audit_logs SET SCHEMA archive;
        """,
    ),
    migrations(
        "drop_schema_cascade",
        """
        CREATE SCHEMA legacy;
        CREATE TABLE legacy.accounts (id serial PRIMARY KEY, name text);
        CREATE INDEX accounts_name_idx ON legacy.accounts (name);
        CREATE TABLE users (id integer PRIMARY KEY,
                            legacy_account_id integer REFERENCES legacy.accounts);
        """,
        """
        DROP SCHEMA legacy CASCADE;
        """,
    ),
    migrations(
        "partitioned_primary_key",
        """
        CREATE TABLE events (
            id bigint NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (id, created_at)
        ) PARTITION BY RANGE (created_at);
        CREATE TABLE events_2024 PARTITION OF events
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE audits (id bigint NOT NULL, created_at timestamptz NOT NULL)
            PARTITION BY RANGE (created_at);
        CREATE TABLE audits_2024 PARTITION OF audits
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        ALTER TABLE audits ADD PRIMARY KEY (id, created_at);
        """,
    ),
    migrations(
        "partitioned_index",
        """
        CREATE TABLE events (id bigint NOT NULL, kind text, created_at timestamptz NOT NULL)
            PARTITION BY RANGE (created_at);
        CREATE TABLE events_2024 PARTITION OF events
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE INDEX events_kind_idx ON events (kind);
        CREATE TABLE events_2025 PARTITION OF events
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE events_2026 (id bigint NOT NULL, kind text, created_at timestamptz NOT NULL);
        ALTER TABLE events ATTACH PARTITION events_2026
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        """,
    ),
    migrations(
        "partitioned_foreign_key_check_and_trigger",
        """
        CREATE FUNCTION set_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.created_at := coalesce(NEW.created_at, now());
            RETURN NEW;
        END
        $$;
        CREATE TABLE users (id bigint PRIMARY KEY);
        CREATE TABLE events (
            id bigint NOT NULL CHECK (id > 0),
            user_id bigint REFERENCES users ON DELETE CASCADE,
            created_at timestamptz NOT NULL
        ) PARTITION BY RANGE (created_at);
        CREATE TABLE events_2024 PARTITION OF events
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TRIGGER events_set_created_at BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION set_created_at();
        """,
    ),
    migrations(
        "partitioned_alter_propagates",
        """
        CREATE TABLE events (id bigint NOT NULL, kind text, created_at timestamptz NOT NULL)
            PARTITION BY RANGE (created_at);
        CREATE TABLE events_2024 PARTITION OF events
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        """,
        """
        ALTER TABLE events ADD COLUMN source text DEFAULT 'api';
        ALTER TABLE events RENAME COLUMN kind TO category;
        ALTER TABLE events ALTER COLUMN category SET NOT NULL;
        ALTER TABLE events ALTER COLUMN category TYPE varchar(32);
        """,
    ),
    migrations(
        "partition_of_with_constraints",
        """
        CREATE TABLE events (id bigint, kind text, created_at timestamptz)
            PARTITION BY RANGE (created_at);
        CREATE TABLE events_2024 PARTITION OF events (
            kind DEFAULT 'legacy',
            PRIMARY KEY (id, created_at),
            CHECK (id > 0)
        ) FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        """,
    ),
]

_ALL = ("tables", "columns", "column_types", "constraints", "constraint_details")
_CONSTRAINTS = ("constraints", "constraint_details")
_INDEXES = ("indexes", "index_columns")


def _disagree(case: str, aspects: tuple[str, ...], reason: str) -> dict[tuple[str, str], str]:
    return {(case, aspect): reason for aspect in aspects}


# (case id, aspect) -> what the model gets wrong there. "unanalyzable" is the aspect of
# `test_every_statement_is_analyzed`.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {}


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


# --- PostgreSQL: run the SQL, read the catalog --------------------------------------------


def run_scripts(url: str, scripts: list[tuple[str, str]]) -> None:
    """Run each (path, script) as one simple-protocol query: all of its statements, or none."""
    import psycopg  # noqa: PLC0415 (optional dependency, checked by the postgres_url fixture)

    with psycopg.connect(url, autocommit=True) as connection:
        for path, script in scripts:
            try:
                connection.execute(script)  # without parameters: several statements at once
            except psycopg.Error as error:
                raise AssertionError(f"PostgreSQL rejects {path}: {error}") from error


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
_CONSTRAINTS_QUERY = """
SELECT conrelid, conname, contype, convalidated, conkey, confrelid, confkey,
       confdeltype, confupdtype, conindid
FROM pg_constraint
WHERE conrelid <> 0 AND contype IN ('p', 'u', 'c', 'f', 'x')
"""
_INDEXES_QUERY = """
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


# The values compared, per aspect; named so that a failure reads without a legend.
class Partitioning(NamedTuple):
    partition_by: str | None  # "RANGE (created_at)"
    partition_of: str | None


class ColumnFacts(NamedTuple):
    name: str
    not_null: bool
    has_default: bool  # a DEFAULT (serial's nextval included), not identity nor generated
    identity: str | None
    generated: bool


class ColumnType(NamedTuple):
    name: str
    type: str  # as PostgreSQL's format_type spells it


class ConstraintFacts(NamedTuple):
    columns: list[str] | None  # a check's sorted; None for EXCLUDE (the model keeps none)
    not_valid: bool


class ForeignKeyFacts(NamedTuple):
    ref_table: str | None
    ref_columns: list[str]
    on_delete: str
    on_update: str


class IndexFacts(NamedTuple):
    table: str
    unique: bool
    partial: bool
    parent: str | None  # the partitioned index it is attached to


class TriggerFacts(NamedTuple):
    function: str
    timing: str
    events: tuple[str, ...]
    level: str


def catalog_snapshot(url: str) -> Snapshot:
    """What PostgreSQL has, per aspect, in the shape `model_snapshot` gives the model."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url) as connection:
        relations = connection.execute(_RELATIONS).fetchall()
        inherits = dict(connection.execute(_INHERITS).fetchall())
        attributes = connection.execute(_ATTRIBUTES).fetchall()
        constraints = connection.execute(_CONSTRAINTS_QUERY).fetchall()
        indexes = connection.execute(_INDEXES_QUERY).fetchall()
        owners = connection.execute(_SEQUENCE_OWNERS).fetchall()
        triggers = connection.execute(_TRIGGERS).fetchall()

    key = {oid: qualify(name, schema) for oid, schema, name, *_ in relations}
    kind = {oid: relkind for oid, _, _, relkind, *_ in relations}
    snapshot: Snapshot = {aspect: {} for aspect in ASPECTS}
    for oid, _, _, relkind, is_partition, partition_key in relations:
        if relkind in ("r", "p"):
            table = key[oid]
            snapshot["tables"][table] = "partitioned table" if relkind == "p" else "table"
            snapshot["columns"][table] = []
            snapshot["column_types"][table] = []
            if partition_key or is_partition:
                parent = key.get(inherits[oid]) if is_partition else None
                snapshot["partitions"][table] = Partitioning(partition_key, parent)

    names: dict[tuple[int, int], str] = {}
    for relid, number, name, not_null, has_default, identity, generated, type_ in attributes:
        names[relid, number] = name
        table = key.get(relid)
        if table in snapshot["columns"]:
            plain_default = has_default and not generated
            snapshot["columns"][table].append(
                ColumnFacts(name, not_null, plain_default, _IDENTITY[identity], bool(generated))
            )
            snapshot["column_types"][table].append(ColumnType(name, type_))

    constraint_indexes = set()
    for row in constraints:
        relid, name, contype, validated, conkey, refid, confkey, on_delete, on_update, index = row
        if relid not in key:
            continue
        where = (key[relid], name)
        snapshot["constraints"][where] = _KINDS[contype]
        columns = [names[relid, n] for n in conkey or ()]
        snapshot["constraint_details"][where] = _details(contype, columns, not validated)
        if contype == "f":
            snapshot["foreign_keys"][where] = ForeignKeyFacts(
                key.get(refid),
                [names[refid, n] for n in confkey],
                _FK_ACTIONS[on_delete],
                _FK_ACTIONS[on_update],
            )
        elif contype in ("p", "u", "x"):
            constraint_indexes.add(index)

    for index, relid, unique, partial, indkey, key_count in indexes:
        if index in constraint_indexes or index not in key or relid not in key:
            continue
        parent = key.get(inherits[index]) if index in inherits else None
        snapshot["indexes"][key[index]] = IndexFacts(key[relid], unique, partial, parent)
        snapshot["index_columns"][key[index]] = [
            names[relid, n] if n else "<expression>" for n in indkey[:key_count]
        ]

    owned = {}
    for sequence, table_oid, column, deptype in owners:
        if sequence in key and table_oid in key:
            owned[sequence] = (key[table_oid], names[table_oid, column], deptype)
    for oid, name in key.items():
        owner = owned.get(oid)
        if kind[oid] == "S" and not (owner and owner[2] == "i"):  # identity: the column's
            snapshot["sequences"][name] = owner[:2] if owner else None

    for relid, name, function_schema, function, tgtype in triggers:
        if relid in key:
            timing = "INSTEAD OF" if tgtype & 64 else "BEFORE" if tgtype & 2 else "AFTER"
            bits = {"INSERT": 4, "DELETE": 8, "UPDATE": 16, "TRUNCATE": 32}
            events = tuple(sorted(event for event, bit in bits.items() if tgtype & bit))
            level = "ROW" if tgtype & 1 else "STATEMENT"
            function_key = qualify(function, function_schema)
            snapshot["triggers"][key[relid], name] = TriggerFacts(
                function_key, timing, events, level
            )
    return snapshot


def _details(kind: str, columns: list[str], not_valid: bool) -> ConstraintFacts:
    if kind in ("c", CHECK):
        return ConstraintFacts(sorted(columns), not_valid)
    if kind in ("x", EXCLUDE):
        return ConstraintFacts(None, not_valid)
    return ConstraintFacts(columns, not_valid)


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
            partition_by = _partition_key(table.partition_by)
            snapshot["partitions"][name] = Partitioning(partition_by, table.partition_of)
        snapshot["columns"][name] = [
            ColumnFacts(
                column.name,
                not column.nullable,
                column.default is not None,
                column.identity,
                column.generated is not None,
            )
            for column in table.columns.values()
        ]
        snapshot["column_types"][name] = [
            ColumnType(column.name, types(column.type)) for column in table.columns.values()
        ]
        for constraint in table.constraints.values():
            where = (name, constraint.name)
            snapshot["constraints"][where] = constraint.kind
            snapshot["constraint_details"][where] = _details(
                constraint.kind, list(constraint.columns), constraint.not_valid
            )
            if constraint.kind == FOREIGN_KEY:
                snapshot["foreign_keys"][where] = ForeignKeyFacts(
                    constraint.ref_table,
                    list(constraint.ref_columns),
                    constraint.on_delete or "NO ACTION",
                    constraint.on_update or "NO ACTION",
                )
    for name, index in schema.indexes.items():
        snapshot["indexes"][name] = IndexFacts(
            index.table, index.unique, index.where is not None, index.parent
        )
        snapshot["index_columns"][name] = [_index_key(text) for text in index.columns]
    for name, sequence in schema.sequences.items():
        snapshot["sequences"][name] = sequence.owned_by
    for (table_name, name), trigger in schema.triggers.items():
        words = trigger.when.upper().split()  # "BEFORE INSERT OR UPDATE OF a FOR EACH ROW"
        timing = "INSTEAD OF" if words[:2] == ["INSTEAD", "OF"] else words[0]
        events = ("INSERT", "DELETE", "UPDATE", "TRUNCATE")
        snapshot["triggers"][table_name, name] = TriggerFacts(
            trigger.function, timing, tuple(sorted(set(words) & set(events))), words[-1]
        )
    return snapshot


def _partition_key(partition_by: str | None) -> str | None:
    """The model's `List (a)` as PostgreSQL's `LIST (a)`: the strategy's case is not compared."""
    if partition_by is None:
        return None
    strategy, _, key = partition_by.partition(" ")
    return f"{strategy.upper()} {key}"


def _index_key(text: str) -> str:
    """`id DESC`, `"Email"`, `title gin_trgm_ops` name a column; anything else is an expression."""
    plain = _PLAIN_COLUMN.match(text)
    if plain is None:
        return "<expression>"
    name = plain.group(1)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


# --- comparing ----------------------------------------------------------------------------


def differences(postgres: dict[Any, Any], model: dict[Any, Any]) -> list[str]:
    """Lines naming each object that differs; of a list (columns…), the items that differ."""
    lines = []
    for key in sorted(postgres.keys() | model.keys(), key=repr):
        if key not in model:
            lines.append(f"only in PostgreSQL: {key!r}: {postgres[key]!r}")
        elif key not in postgres:
            lines.append(f"only in the model:  {key!r}: {model[key]!r}")
        elif postgres[key] != model[key]:
            lines.append(f"differs: {key!r}")
            ours, theirs = postgres[key], model[key]
            if isinstance(ours, list) and isinstance(theirs, list):
                for line in difflib.ndiff([repr(v) for v in ours], [repr(v) for v in theirs]):
                    if line[0] in "-+":
                        side = "PostgreSQL:" if line[0] == "-" else "model:     "
                        lines.append(f"    {side} {line[2:]}")
            else:
                lines.append(f"    PostgreSQL: {ours!r}")
                lines.append(f"    model:      {theirs!r}")
    return lines


def assert_agrees(aspect: str, postgres: Snapshot, model: Snapshot) -> None:
    lines = differences(postgres[aspect], model[aspect])
    if lines:
        pytest.fail(f"{aspect}: the model disagrees with PostgreSQL\n  " + "\n  ".join(lines))


# --- the tests ----------------------------------------------------------------------------


@dataclass
class Outcome:
    postgres: Snapshot
    model: Snapshot  # built from the case's SQL files
    dump_model: Snapshot | None  # built from `pg_dump --schema-only` of the same database
    no_dump: str  # why there is no dump_model


def pg_dump_problem(url: str) -> str | None:
    """Why pg_dump cannot dump this server (missing, or of another major version), or None."""
    import psycopg  # noqa: PLC0415

    program = shutil.which("pg_dump")
    if program is None:
        return "pg_dump is not on PATH"
    version = subprocess.run([program, "--version"], capture_output=True, text=True, check=True)
    client = re.search(r"(\d+)\.", version.stdout)
    with psycopg.connect(url) as connection:
        server = connection.info.server_version // 10000
    if client is None or int(client.group(1)) != server:
        return f"pg_dump is `{version.stdout.strip()}`, the server is PostgreSQL {server}"
    return None


def pg_dump_schema(url: str) -> str:
    command = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--dbname", url]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _types(schema: Schema) -> set[str]:
    return {c.type for t in schema.tables.values() for c in t.columns.values() if c.type}


def outcome_of(case: Case, url: str, *, dump: bool) -> Outcome:
    missing = missing_extensions(url, case.extensions)
    if missing:
        pytest.skip(f"{case.id} needs the PostgreSQL extension(s) {', '.join(missing)}")
    run_scripts(url, case.postgres_scripts())
    postgres = catalog_snapshot(url)
    result = build_schema(case.sources())
    dump_result = None
    no_dump = pg_dump_problem(url) if dump else "not a round-trip case"
    if no_dump is None:
        dump_result = build_schema([SourceFile("pg_dump.sql", pg_dump_schema(url))])
    types = _types(result.schema) | (_types(dump_result.schema) if dump_result else set())
    canonical = canonical_types(url, types)

    def snapshot(built: BuildResult) -> Snapshot:
        model = model_snapshot(built.schema, lambda text: canonical[text] if text else "<?>")
        model["unanalyzable"] = {
            (item.path, item.line): item.reason
            for item in built.unanalyzable
            if not case.expects_unanalyzable(item.reason)
        }
        return model

    dump_model = snapshot(dump_result) if dump_result else None
    return Outcome(postgres, snapshot(result), dump_model, no_dump or "")


# One run of a case on PostgreSQL serves all its aspects: case id -> outcome.
_OUTCOMES: dict[str, Outcome] = {}
_ROUND_TRIP = {case.id for case in CASES}  # the cases also read back from pg_dump
_DUMP = "pg_dump_of_"  # KNOWN_DISAGREEMENTS prefix of the round trip's case ids


def _outcome(case: Case, request: pytest.FixtureRequest) -> Outcome:
    outcome = _OUTCOMES.get(case.id)
    if outcome is None:
        url = request.getfixturevalue("fresh_database")  # only for a case not run yet
        outcome = _OUTCOMES[case.id] = outcome_of(case, url, dump=case.id in _ROUND_TRIP)
    return outcome


def _params(cases: list[Case], aspects: tuple[str, ...], prefix: str = "") -> list[Any]:
    params = []
    for case in cases:
        for aspect in aspects:
            reason = KNOWN_DISAGREEMENTS.get((prefix + case.id, aspect))
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            params.append(pytest.param(case, aspect, id=f"{case.id}-{aspect}", marks=marks))
    return params


@pytest.mark.parametrize(("case", "aspect"), _params([*CASES, *DISAGREEMENTS], ASPECTS))
def test_model_agrees_with_postgres(
    case: Case, aspect: str, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    # postgres_url: skipped (or failed, in CI) before anything runs when there is no server
    outcome = _outcome(case, request)
    assert_agrees(aspect, outcome.postgres, outcome.model)


@pytest.mark.parametrize(
    ("case", "aspect"), _params(CASES, (*ASPECTS, "unanalyzable"), prefix=_DUMP)
)
def test_model_of_pg_dump_agrees_with_postgres(
    case: Case, aspect: str, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    """The database a case built, dumped by pg_dump, read back by the model."""
    outcome = _outcome(case, request)
    if outcome.dump_model is None:
        pytest.skip(outcome.no_dump)
    assert_agrees(aspect, {**outcome.postgres, "unanalyzable": {}}, outcome.dump_model)


@pytest.mark.parametrize(("case", "aspect"), _params([*CASES, *DISAGREEMENTS], ("unanalyzable",)))
def test_every_statement_is_analyzed(case: Case, aspect: str) -> None:
    """No PostgreSQL needed: the model reads every statement (but those the case expects)."""
    result = build_schema(case.sources())
    unexpected = [
        f"{item.path}:{item.line}: {item.reason}: {item.excerpt}"
        for item in result.unanalyzable
        if not case.expects_unanalyzable(item.reason)
    ]
    assert not unexpected, "unanalyzable:\n" + "\n".join(unexpected)
    assert len(result.unanalyzable) == len(case.unanalyzable), result.unanalyzable


def test_known_disagreements_name_existing_cases_and_aspects() -> None:
    """A mistyped key would mark nothing; a fixed disagreement must lose its mark."""
    cases = {case.id for case in [*CASES, *DISAGREEMENTS]} | {_DUMP + c for c in _ROUND_TRIP}
    aspects = {*ASPECTS, "unanalyzable"}
    wrong = [key for key in KNOWN_DISAGREEMENTS if key[0] not in cases or key[1] not in aspects]
    assert wrong == []
    assert not {case.id for case in CASES} & {case for case, _ in KNOWN_DISAGREEMENTS}
