-- API keys with roles (DESIGN: viewer, submitter, operator). Only the SHA-256 of a key is
-- stored; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    key_sha256  text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    role        text NOT NULL CHECK (role IN ('viewer', 'submitter', 'operator')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE INDEX api_keys_active ON api_keys (key_sha256) WHERE revoked_at IS NULL;
