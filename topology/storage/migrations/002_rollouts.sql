-- Rollouts of merged schema migrations across the cells, ring by ring (topology/domain/rollouts.py
-- holds the rules; every write locks the rollout's row first).

CREATE TABLE rollouts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL UNIQUE CHECK (key <> ''),  -- the creator's idempotency key
    name text NOT NULL CHECK (name <> ''),
    versions text[] NOT NULL CHECK (cardinality(versions) > 0),  -- in apply order, unique
    state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'paused', 'halted', 'completed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollouts_by_name ON rollouts (name, id);

-- the cells that were not offline when the rollout was created, with their ring at that time
CREATE TABLE rollout_cells (
    rollout_id bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    cell_id bigint NOT NULL REFERENCES cells (id),
    ring integer NOT NULL CHECK (ring >= 0),
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'applied', 'failed')),
    applied_versions text[] NOT NULL DEFAULT '{}',
    error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rollout_id, cell_id),
    CHECK ((state = 'failed') = (error IS NOT NULL))
);
