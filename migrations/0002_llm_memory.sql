-- LLM accounting and the failure/fix memory that feeds fix prompts.
--
-- Neither table references runs or jobs: accounting rows and memories are history, kept
-- when runs are pruned, and a call is recorded even if its job row is gone.

-- Trigram similarity on error signatures (a trusted contrib extension since PostgreSQL 13,
-- so the database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per HTTP request to a code provider.
CREATE TABLE llm_calls (
    id                 BIGSERIAL PRIMARY KEY,
    run_id             UUID NOT NULL,
    job_id             UUID NOT NULL,
    provider           TEXT NOT NULL,
    model              TEXT,
    prompt_tokens      INT NOT NULL DEFAULT 0,
    completion_tokens  INT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms         BIGINT NOT NULL DEFAULT 0,
    -- ok, invalid_output, http_429, http_4xx, http_5xx, timeout, connection, ...
    outcome            TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_run_idx ON llm_calls (run_id);
CREATE INDEX llm_calls_created_idx ON llm_calls (created_at);

-- Failures (code + error) and the fixes that later passed.
CREATE TABLE memories (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('failure', 'fix')),
    -- The error with line numbers, addresses, numbers, paths and quoted names replaced by
    -- placeholders, so the same mistake in different code looks the same.
    signature   TEXT NOT NULL,
    text        TEXT NOT NULL,
    code        TEXT NOT NULL,
    -- On a failure: the code of the fix that later passed (NULL until one did).
    fix_code    TEXT,
    run_id      UUID,
    -- The failing version (failures; one failure row per version).
    version_id  BIGINT,
    -- The failure a fix row repairs (fixes; one fix row per failure).
    failure_id  BIGINT REFERENCES memories(id),
    tsv         TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', signature || ' ' || text)) STORED,
    metadata    JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    fixed_at    TIMESTAMPTZ
);
CREATE INDEX memories_tsv_idx ON memories USING GIN (tsv);
CREATE INDEX memories_signature_trgm_idx ON memories USING GIN (signature gin_trgm_ops);
-- Redelivered jobs record the same failure or fix again: these make the writes upserts.
CREATE UNIQUE INDEX memories_failure_version_uq ON memories (version_id) WHERE kind = 'failure';
CREATE UNIQUE INDEX memories_fix_failure_uq ON memories (failure_id);
