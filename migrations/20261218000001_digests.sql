-- Requests granted and 429s per API key and hour: what the daily digest reports as rate-budget use
-- (key_id is the governor's fingerprint id, never the key). Pruned with the retention period.
CREATE TABLE rate_usage (
    key_id    text        NOT NULL,
    hour      timestamptz NOT NULL,
    granted   bigint      NOT NULL DEFAULT 0,
    throttled bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, hour)
);

-- One daily digest per connection and local date (the site's zone): the row is both the guard
-- against sending a day twice (any replica, any retry) and the record of what was sent.
CREATE TABLE notify_digests (
    connection_id bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    local_date    date        NOT NULL,
    sent_at       timestamptz NOT NULL,
    digest        jsonb       NOT NULL,
    PRIMARY KEY (connection_id, local_date)
);
