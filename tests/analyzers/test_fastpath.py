"""The pg_dump fast path builds exactly what sqlglot's path builds, statement by statement."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.extract import extract_slowly
from analyzers.fastpath import recognize
from analyzers.split import blank_comments, split_statements


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE UNIQUE INDEX index_users_on_email ON users USING btree (email)",
        "CREATE INDEX i ON ONLY gitlab_partitions_static.events_00 USING btree (a, id DESC)",
        "CREATE INDEX index_labels_on_title ON labels USING gin (title)",
        "ALTER TABLE ONLY users\n    ADD CONSTRAINT users_pkey PRIMARY KEY (id)",
        "ALTER TABLE ONLY t\n    ADD CONSTRAINT u UNIQUE (a, b)",
        "ALTER TABLE ONLY issues\n    ADD CONSTRAINT fk_1 FOREIGN KEY (project_id, x) REFERENCES"
        " projects(id, y) ON DELETE SET NULL ON UPDATE CASCADE NOT VALID",
        "ALTER TABLE ONLY issues ALTER COLUMN id SET DEFAULT nextval('issues_id_seq'::regclass)",
    ],
)
def test_fast_path_equals_sqlglot_path(sql):
    fast = recognize(sql)
    assert fast is not None
    assert fast == extract_slowly(sql).ops


@pytest.mark.parametrize(
    "sql",
    [
        'CREATE INDEX i ON t USING btree ("timestamp")',  # quoted identifier
        "CREATE INDEX i ON t USING btree (lower(email))",  # expression
        "CREATE INDEX i ON t USING btree (a) WHERE (a > 0)",  # partial
        "CREATE INDEX i ON t USING btree (date)",  # a word sqlglot reads specially
        "ALTER TABLE ONLY t ADD CONSTRAINT c CHECK ((a > 0))",
        "ALTER TABLE ONLY T ADD CONSTRAINT c PRIMARY KEY (id)",  # upper case
    ],
)
def test_other_shapes_go_to_sqlglot(sql):
    assert recognize(sql) is None


def test_every_corpus_statement_agrees(corpus: Path):
    checked = 0
    for path in sorted(p for p in corpus.rglob("*") if p.suffix in (".sql", ".postgres")):
        for statement in split_statements(path.read_text())[0]:
            text = blank_comments(statement.text)
            fast = recognize(text)
            if fast is not None:
                assert fast == extract_slowly(text).ops, (path, statement.line)
                checked += 1
    assert checked > 5000
