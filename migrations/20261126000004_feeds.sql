-- A signal that arrives while a step runs must not be lost: the step's "wait for a signal"
-- completion wakes at once when signalled_at is later than the step's start.
ALTER TABLE workflows ADD COLUMN signalled_at timestamptz;

-- Where each feed of each connection has read up to (e.g. the Sage order change tracker).
CREATE TABLE cursors (
    connection_id bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    feed          text        NOT NULL,
    value         jsonb       NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, feed)
);

-- One row per poll run: what it found and did, and the watermark it reached.
CREATE TABLE sync_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id bigint      NOT NULL,
    feed          text        NOT NULL,
    workflow_id   bigint,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    found         integer     NOT NULL DEFAULT 0,
    created       integer     NOT NULL DEFAULT 0,
    signalled     integer     NOT NULL DEFAULT 0,
    watermark     jsonb,
    error         text
);
CREATE INDEX sync_runs_by_feed ON sync_runs (connection_id, feed, started_at DESC);
