"""The coordination ledger in PostgreSQL: every merge request the bot reviewed, the schema
objects it touches, its migration versions, owners, claims and rollout.

Writes for one project are serialized by an advisory lock, so two merge requests reviewed at
the same moment always see each other: the one recorded second sees the first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from analyzers.coordination import OPENED, PROPOSED, Claim, Entry, Touch
from topology.storage.migrate import apply_migrations

_LOCK_CLASS = 0x6C6467  # "ldg": pg_advisory_xact_lock(class, project_id)


@dataclass(frozen=True, slots=True)
class Rollout:
    rollout_id: int
    state: str  # as the bot last saw it
    shown: str  # the rollout section the summary note last showed
    watch: uuid.UUID | None  # the watcher allowed to update it


class Ledger:
    """The ledger on a small connection pool; `close` it when done."""

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        apply_migrations(url, package="worker", schema="ledger")
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_size, kwargs={"row_factory": dict_row}, open=True
        )

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _transaction(self, project_id: int | None = None) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn, conn.transaction():
            if project_id is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, project_id))
            yield conn

    # merge requests ------------------------------------------------------------------------

    def record(self, entry: Entry, *, project_path: str = "") -> tuple[Entry | None, list[Entry]]:
        """Record a review of `entry` (state, head, touches, versions): (what the ledger knew
        before, or None, and the open merge requests of its project that collide with it as
        recorded now)."""
        with self._transaction(entry.project_id) as conn:
            before = _entry(conn, entry.project_id, entry.iid)
            conn.execute(
                """
                INSERT INTO ledger.merge_requests AS m (project_id, iid, project_path, title,
                    web_url, author, state, head_sha, versions, owners)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (project_id, iid) DO UPDATE SET project_path = EXCLUDED.project_path,
                    title = EXCLUDED.title, web_url = EXCLUDED.web_url, author = EXCLUDED.author,
                    state = EXCLUDED.state, head_sha = EXCLUDED.head_sha,
                    versions = EXCLUDED.versions, owners = EXCLUDED.owners, updated_at = now()
                """,
                (
                    entry.project_id,
                    entry.iid,
                    project_path,
                    entry.title,
                    entry.web_url,
                    entry.author,
                    entry.state,
                    entry.head_sha,
                    list(entry.versions),
                    list(entry.owners),
                ),
            )
            conn.execute(
                "DELETE FROM ledger.touches WHERE project_id = %s AND iid = %s",
                (entry.project_id, entry.iid),
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO ledger.touches VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (entry.project_id, entry.iid, t.table, t.object, t.name, t.action)
                        for t in entry.touches
                    ],
                )
            return before, _colliding(conn, entry)

    def get(self, project_id: int, iid: int) -> Entry | None:
        with self._transaction() as conn:
            return _entry(conn, project_id, iid)

    def colliding(self, entry: Entry) -> list[Entry]:
        """The open merge requests of `entry`'s project that share a table or a migration
        version with it (`entry` itself excluded)."""
        with self._transaction() as conn:
            return _colliding(conn, entry)

    def set_state(
        self, project_id: int, iid: int, state: str, *, merge_sha: str | None = None
    ) -> Entry | None:
        """Mark a merge request merged, closed or opened again; None when it was never
        reviewed (it touches no schema the bot saw)."""
        with self._transaction(project_id) as conn:
            updated = conn.execute(
                "UPDATE ledger.merge_requests SET state = %s, "
                "merge_sha = coalesce(%s, merge_sha), updated_at = now() "
                "WHERE project_id = %s AND iid = %s",
                (state, merge_sha, project_id, iid),
            ).rowcount
            return _entry(conn, project_id, iid) if updated else None

    # claims ---------------------------------------------------------------------------------

    def claims(self, project_id: int, iid: int) -> list[Claim]:
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM ledger.claims WHERE project_id = %s AND iid = %s "
                "ORDER BY bucket_type",
                (project_id, iid),
            ).fetchall()
        return [_claim(row) for row in rows]

    def propose_claim(self, project_id: int, iid: int, claim: Claim) -> bool:
        """Record a proposed claim type; False when this MR already proposed it."""
        with self._transaction(project_id) as conn:
            inserted = conn.execute(
                "INSERT INTO ledger.claims (project_id, iid, bucket_type, table_name, "
                "column_name, requested_by, state) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (project_id, iid, bucket_type) DO UPDATE "
                "SET state = EXCLUDED.state, updated_at = now() "
                "WHERE ledger.claims.state = 'dropped'",
                (
                    project_id,
                    iid,
                    claim.bucket_type,
                    claim.table,
                    claim.column,
                    claim.requested_by,
                    PROPOSED,
                ),
            ).rowcount
        return bool(inserted)

    def claimed_elsewhere(self, project_id: int, iid: int, bucket_type: str) -> bool:
        """Whether another open merge request of any project proposed `bucket_type` too (a
        close must not drop a claim type another merge request still needs)."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT FROM ledger.claims c JOIN ledger.merge_requests m USING (project_id, iid) "
                "WHERE c.bucket_type = %s AND c.state = %s AND m.state = %s "
                "AND (c.project_id, c.iid) <> (%s, %s) LIMIT 1",
                (bucket_type, PROPOSED, OPENED, project_id, iid),
            ).fetchone()
        return row is not None

    def set_claim_state(self, project_id: int, iid: int, bucket_type: str, state: str) -> None:
        with self._transaction(project_id) as conn:
            conn.execute(
                "UPDATE ledger.claims SET state = %s, updated_at = now() "
                "WHERE project_id = %s AND iid = %s AND bucket_type = %s",
                (state, project_id, iid, bucket_type),
            )

    # rollouts --------------------------------------------------------------------------------

    def rollout(self, project_id: int, iid: int) -> Rollout | None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT * FROM ledger.rollouts WHERE project_id = %s AND iid = %s",
                (project_id, iid),
            ).fetchone()
        return Rollout(row["rollout_id"], row["state"], row["shown"], row["watch"]) if row else None

    def rollout_states(self) -> dict[str, int]:
        """How many watched rollouts are in each state the bot last saw (`new`: not looked
        at yet), for the metrics."""
        with self._pool.connection(timeout=2) as conn:
            rows = conn.execute(
                "SELECT coalesce(nullif(state, ''), 'new') AS state, count(*) AS count "
                "FROM ledger.rollouts GROUP BY 1"
            ).fetchall()
        return {row["state"]: row["count"] for row in rows}

    def set_rollout(self, project_id: int, iid: int, rollout_id: int) -> None:
        with self._transaction(project_id) as conn:
            conn.execute(
                "INSERT INTO ledger.rollouts (project_id, iid, rollout_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (project_id, iid) DO NOTHING",
                (project_id, iid, rollout_id),
            )

    def new_watch(self, project_id: int, iid: int) -> uuid.UUID:
        """A token for a new watcher of the MR's rollout; older watchers stop at their next
        turn (only one watcher updates the summary at a time)."""
        token = uuid.uuid4()
        with self._transaction(project_id) as conn:
            conn.execute(
                "UPDATE ledger.rollouts SET watch = %s WHERE project_id = %s AND iid = %s",
                (token, project_id, iid),
            )
        return token

    def show_rollout(
        self, project_id: int, iid: int, watch: uuid.UUID, *, state: str, shown: str
    ) -> bool:
        """Record what watcher `watch` showed; False (nothing recorded) when a newer watcher
        took over."""
        with self._transaction(project_id) as conn:
            return bool(
                conn.execute(
                    "UPDATE ledger.rollouts SET state = %s, shown = %s, updated_at = now() "
                    "WHERE project_id = %s AND iid = %s AND watch = %s",
                    (state, shown, project_id, iid, watch),
                ).rowcount
            )


def _entry(conn: psycopg.Connection, project_id: int, iid: int) -> Entry | None:
    row = conn.execute(
        "SELECT * FROM ledger.merge_requests WHERE project_id = %s AND iid = %s",
        (project_id, iid),
    ).fetchone()
    return _entries(conn, [row])[0] if row else None


def _colliding(conn: psycopg.Connection, entry: Entry) -> list[Entry]:
    rows = conn.execute(
        """
        SELECT m.* FROM ledger.merge_requests m
        WHERE m.project_id = %(project)s AND m.iid <> %(iid)s AND m.state = %(open)s
          AND (m.versions && %(versions)s::text[] OR EXISTS (
              SELECT FROM ledger.touches t
              WHERE t.project_id = m.project_id AND t.iid = m.iid
                AND t.table_name = ANY(%(tables)s::text[])))
        ORDER BY m.iid
        """,
        {
            "project": entry.project_id,
            "iid": entry.iid,
            "open": OPENED,
            "versions": list(entry.versions),
            "tables": sorted(entry.tables),
        },
    ).fetchall()
    return _entries(conn, rows)


def _entries(conn: psycopg.Connection, rows: list[dict]) -> list[Entry]:
    if not rows:
        return []
    touched: dict[tuple[int, int], list[Touch]] = {}
    for row in conn.execute(
        "SELECT * FROM ledger.touches WHERE (project_id, iid) IN "
        "(SELECT * FROM unnest(%s::bigint[], %s::bigint[])) ORDER BY 3, 4, 5, 6",
        ([row["project_id"] for row in rows], [row["iid"] for row in rows]),
    ):
        touch = Touch(row["table_name"], row["object"], row["name"], row["action"])
        touched.setdefault((row["project_id"], row["iid"]), []).append(touch)
    return [
        Entry(
            project_id=row["project_id"],
            iid=row["iid"],
            state=row["state"],
            title=row["title"],
            web_url=row["web_url"],
            author=row["author"],
            head_sha=row["head_sha"],
            touches=tuple(touched.get((row["project_id"], row["iid"]), ())),
            versions=tuple(row["versions"]),
            owners=tuple(row["owners"]),
        )
        for row in rows
    ]


def _claim(row: dict) -> Claim:
    return Claim(
        row["bucket_type"], row["table_name"], row["column_name"], row["requested_by"], row["state"]
    )
