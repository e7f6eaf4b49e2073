-- The coordination ledger: every merge request the bot reviewed, what it touches, its claims
-- and its rollout. In its own PostgreSQL schema, so it can share a database with the Topology
-- Service.

CREATE TABLE ledger.merge_requests (
    project_id bigint NOT NULL,
    iid bigint NOT NULL,
    project_path text NOT NULL DEFAULT '',
    title text NOT NULL DEFAULT '',
    web_url text NOT NULL DEFAULT '',
    author text NOT NULL DEFAULT '',
    state text NOT NULL CHECK (state IN ('opened', 'merged', 'closed')),
    head_sha text NOT NULL DEFAULT '',
    merge_sha text,
    versions text[] NOT NULL DEFAULT '{}',
    owners text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, iid)
);
CREATE INDEX merge_requests_open ON ledger.merge_requests (project_id) WHERE state = 'opened';

CREATE TABLE ledger.touches (
    project_id bigint NOT NULL,
    iid bigint NOT NULL,
    table_name text NOT NULL,
    object text NOT NULL,
    name text NOT NULL,
    action text NOT NULL,
    PRIMARY KEY (project_id, iid, table_name, object, name, action),
    FOREIGN KEY (project_id, iid) REFERENCES ledger.merge_requests ON DELETE CASCADE
);
CREATE INDEX touches_by_table ON ledger.touches (project_id, table_name);

-- claim types a maintainer asked for with `@cellsbot claim <table>.<column> as <TYPE>`
CREATE TABLE ledger.claims (
    project_id bigint NOT NULL,
    iid bigint NOT NULL,
    bucket_type text NOT NULL,
    table_name text NOT NULL,
    column_name text NOT NULL,
    requested_by text NOT NULL,
    state text NOT NULL CHECK (state IN ('proposed', 'active', 'dropped')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, iid, bucket_type),
    FOREIGN KEY (project_id, iid) REFERENCES ledger.merge_requests ON DELETE CASCADE
);

-- the Topology Service rollout of a merged merge request, and what the bot last showed of it
CREATE TABLE ledger.rollouts (
    project_id bigint NOT NULL,
    iid bigint NOT NULL,
    rollout_id bigint NOT NULL,
    state text NOT NULL DEFAULT '',
    shown text NOT NULL DEFAULT '',
    watch uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, iid),
    FOREIGN KEY (project_id, iid) REFERENCES ledger.merge_requests ON DELETE CASCADE
);
