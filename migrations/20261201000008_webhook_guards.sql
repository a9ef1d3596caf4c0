-- V2 deliveries already seen (a digest of signature + timestamp): a replayed delivery is refused.
-- Rows older than the signature's time window (±5 min) can go; the retention task prunes them.
CREATE TABLE webhook_signatures_seen (
    digest text PRIMARY KEY,
    connection_id bigint NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- Unauthenticated deliveries (unknown connection, no or wrong token, bad or stale signature) are
-- counted here; only a bounded sample of them is stored in webhook_deliveries.
CREATE TABLE webhook_rejections (
    api text NOT NULL,
    reason text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api, reason)
);

CREATE INDEX webhook_deliveries_rejected ON webhook_deliveries (received_at) WHERE NOT verified;
