-- AlgoAgent's durable state. Postgres is the source of truth; RabbitMQ only carries
-- messages that the outbox below has already committed.

CREATE TABLE strategies (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL DEFAULT 'registered',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE runs (
    id                UUID PRIMARY KEY,
    strategy_id       BIGINT NOT NULL REFERENCES strategies(id),
    status            TEXT NOT NULL,
    spec              JSONB NOT NULL,
    provider          TEXT NOT NULL,
    fix_attempts      INT NOT NULL DEFAULT 0,
    max_fix_attempts  INT NOT NULL DEFAULT 3,
    error             TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ
);
CREATE INDEX runs_strategy_idx ON runs (strategy_id, created_at DESC);
CREATE INDEX runs_status_idx ON runs (status);

CREATE TABLE strategy_versions (
    id           BIGSERIAL PRIMARY KEY,
    strategy_id  BIGINT NOT NULL REFERENCES strategies(id),
    run_id       UUID NOT NULL REFERENCES runs(id),
    version      INT NOT NULL,
    code         TEXT NOT NULL,
    entrypoint   TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    origin       TEXT NOT NULL CHECK (origin IN ('generated', 'fixed')),
    provider     TEXT NOT NULL,
    model        TEXT,
    findings     JSONB,
    metadata     JSONB,
    accepted     BOOLEAN,
    git_commit   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (run_id, version)
);

CREATE TABLE jobs (
    id               UUID PRIMARY KEY,
    run_id           UUID NOT NULL REFERENCES runs(id),
    strategy_id      BIGINT NOT NULL REFERENCES strategies(id),
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')),
    attempt          INT NOT NULL DEFAULT 0,
    max_attempts     INT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    payload          JSONB NOT NULL,
    result           JSONB,
    error            TEXT,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    enqueued_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_run_idx ON jobs (run_id, created_at);
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';

CREATE TABLE backtests (
    id            BIGSERIAL PRIMARY KEY,
    run_id        UUID NOT NULL REFERENCES runs(id),
    version_id    BIGINT NOT NULL REFERENCES strategy_versions(id),
    job_id        UUID NOT NULL REFERENCES jobs(id) UNIQUE,
    dataset       TEXT NOT NULL,
    status        TEXT NOT NULL,
    passed        BOOLEAN NOT NULL,
    metrics       JSONB,
    equity_curve  JSONB,
    error         TEXT,
    duration_ms   BIGINT NOT NULL,
    resource_usage JSONB,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Append-only audit trail. Each row carries the hash of the previous row of the same
-- entity, so editing or removing a row (with the trigger disabled) breaks the chain.
CREATE TABLE transitions (
    id           BIGSERIAL PRIMARY KEY,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    actor        TEXT NOT NULL,
    job_id       UUID,
    details      JSONB NOT NULL DEFAULT '{}'::jsonb,
    at           TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX transitions_entity_idx ON transitions (entity_type, entity_id, id);

CREATE FUNCTION transition_hash(prev TEXT, t transitions) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
        prev, t.entity_type, t.entity_id, coalesce(t.from_state, ''), t.to_state, t.actor,
        coalesce(t.job_id::text, ''), t.details::text,
        to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')), 'UTF8')), 'hex')
$$;

CREATE FUNCTION transitions_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    prev TEXT;
BEGIN
    -- One writer per entity chain at a time; other entities proceed in parallel.
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.entity_type || ':' || NEW.entity_id, 7));
    SELECT hash INTO prev FROM transitions
     WHERE entity_type = NEW.entity_type AND entity_id = NEW.entity_id
     ORDER BY id DESC LIMIT 1;
    NEW.at := clock_timestamp();
    NEW.prev_hash := coalesce(prev, 'genesis');
    NEW.hash := transition_hash(NEW.prev_hash, NEW);
    RETURN NEW;
END $$;

CREATE TRIGGER transitions_chain BEFORE INSERT ON transitions
    FOR EACH ROW EXECUTE FUNCTION transitions_chain();

CREATE FUNCTION transitions_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transitions is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER transitions_append_only BEFORE UPDATE OR DELETE ON transitions
    FOR EACH ROW EXECUTE FUNCTION transitions_refuse_change();
CREATE TRIGGER transitions_no_truncate BEFORE TRUNCATE ON transitions
    FOR EACH STATEMENT EXECUTE FUNCTION transitions_refuse_change();

-- Rows whose stored hash does not follow from their predecessor: empty when the chain holds.
CREATE FUNCTION transitions_broken_links(p_type TEXT, p_id TEXT)
RETURNS TABLE (id BIGINT, expected TEXT, stored TEXT)
LANGUAGE sql STABLE AS $$
    WITH chain AS (
        SELECT t, lag(t.hash, 1, 'genesis') OVER (ORDER BY t.id) AS prev
          FROM transitions t
         WHERE t.entity_type = p_type AND t.entity_id = p_id
    )
    SELECT (t).id, transition_hash(prev, t), (t).hash
      FROM chain
     WHERE (t).prev_hash <> prev OR (t).hash <> transition_hash(prev, t)
$$;

CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    exchange     TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    payload      JSONB NOT NULL,
    headers      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at      TIMESTAMPTZ
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('algoagent_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE dead_letters (
    id           BIGSERIAL PRIMARY KEY,
    job_id       UUID,
    run_id       UUID,
    kind         TEXT,
    reason       TEXT NOT NULL,
    error        TEXT NOT NULL,
    payload      JSONB,
    raw          BYTEA,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    replayed_at  TIMESTAMPTZ,
    purged_at    TIMESTAMPTZ
);

CREATE TABLE workers (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             INT NOT NULL,
    kinds           TEXT[] NOT NULL,
    jobs_in_flight  INT NOT NULL DEFAULT 0,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen       TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopped_at      TIMESTAMPTZ
);
