-- Requests in flight per key, each with the time by which it has certainly ended (its timeout):
-- a worker killed mid-request leaves a row that the next acquire reaps after that time, so its
-- slot is not counted for longer than the request could have lasted.
CREATE TABLE rate_reservations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX rate_reservations_by_key ON rate_reservations (key_id, expires_at);
