-- Stored backtest configurations: `POST /api/production/backtests/validate-config/` keeps
-- each valid config it checks and answers with its id, which
-- `POST /api/production/backtests/run-sandbox/` takes as `config_id`. Rows are never
-- changed: a new config is a new row (its creation is audited in `transitions`).
CREATE TABLE backtest_configs (
    id          BIGSERIAL PRIMARY KEY,
    config      JSONB NOT NULL,
    warnings    JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Standalone jobs (kind `sandbox`) are listed by kind and status.
CREATE INDEX jobs_kind_idx ON jobs (kind, created_at DESC);
