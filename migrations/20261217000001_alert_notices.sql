-- The alerts already announced, per connection: an alert is sent when it opens, again after the
-- quiet period, and once when it clears (then its row goes).
CREATE TABLE alert_notices (
    connection_id bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    alert_key     text        NOT NULL,
    opened_at     timestamptz NOT NULL,
    last_sent_at  timestamptz NOT NULL,
    sends         integer     NOT NULL,
    -- The last notice sent (what the "cleared" notice repeats).
    notice        jsonb       NOT NULL,
    PRIMARY KEY (connection_id, alert_key)
);
