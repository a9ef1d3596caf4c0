-- One Sage company × one ShipStation account, with its settings (never secrets).
CREATE TABLE connections (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    settings   jsonb       NOT NULL,
    enabled    boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Encrypted secrets of a connection: an AES-256-GCM envelope per secret (see src/vault).
CREATE TABLE credentials (
    connection_id bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    -- Master key id that wraps the data key (rotation re-wraps and changes it).
    key_id        text        NOT NULL,
    envelope      jsonb       NOT NULL,
    version       integer     NOT NULL DEFAULT 1,
    -- When the credential stops working (ShipStation keys expire after 3, 6 or 12 months).
    expires_on    date,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, name)
);
