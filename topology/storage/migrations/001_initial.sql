-- Topology Service schema: cells and their sequence ranges, the claim-type registry, claims
-- and their leases (GitLab's lease-first, commit-later protocol).

CREATE TABLE cells (
    id bigint PRIMARY KEY CHECK (id > 0),
    address text NOT NULL CHECK (address <> ''),
    session_prefix text NOT NULL UNIQUE CHECK (session_prefix <> ''),
    ring integer NOT NULL DEFAULT 0 CHECK (ring >= 0),
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining', 'offline')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- 57-bit sequence space (1 sign bit, 6 reserved, 57 sequence bits); ranges never overlap.
CREATE TABLE sequence_ranges (
    cell_id bigint NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    minval bigint NOT NULL,
    maxval bigint NOT NULL,
    PRIMARY KEY (cell_id, minval),
    CHECK (minval >= 1 AND minval <= maxval AND maxval <= 144115188075855871),
    EXCLUDE USING gist (int8range(minval, maxval, '[]') WITH &&)
);

CREATE TABLE claim_types (
    name text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]*$'),
    number integer NOT NULL UNIQUE CHECK (number > 0),
    builtin boolean NOT NULL DEFAULT false,
    -- a proposed type is registered but not usable yet (it becomes active when its MR merges)
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('proposed', 'active')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE claim_leases (
    uuid uuid PRIMARY KEY,
    cell_id bigint NOT NULL REFERENCES cells (id),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX claim_leases_by_cell ON claim_leases (cell_id, created_at, uuid);

CREATE TABLE claims (
    uuid uuid PRIMARY KEY,
    bucket_type text NOT NULL REFERENCES claim_types (name),
    bucket_value text NOT NULL CHECK (bucket_value <> '' AND length(bucket_value) <= 1024),
    subject_type text,
    subject_id bigint,
    source_type text,
    source_id bytea,
    claim jsonb,
    user_data jsonb,  -- google.protobuf.Any, kept as given
    cell_id bigint NOT NULL REFERENCES cells (id),
    status text NOT NULL CHECK (status IN ('ACTIVE', 'LEASE_CREATING', 'LEASE_DESTROYING')),
    lease_uuid uuid REFERENCES claim_leases (uuid),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (bucket_type, bucket_value),
    CHECK ((status = 'ACTIVE') = (lease_uuid IS NULL))
);
CREATE INDEX claims_by_lease ON claims (lease_uuid) WHERE lease_uuid IS NOT NULL;
CREATE INDEX claims_by_source ON claims (cell_id, source_type, source_id, uuid);
