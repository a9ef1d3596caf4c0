-- The durable workflow engine: one row per business object, an append-only audit trail,
-- and single-fire schedule slots. The engine knows nothing of Sage or ShipStation.

CREATE TABLE workflows (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text        NOT NULL,
    -- 0 = not tied to a connection (engine-level work such as samples and benchmarks).
    connection_id    bigint      NOT NULL DEFAULT 0,
    business_key     text        NOT NULL,
    state            text        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('ready', 'running', 'waiting', 'failed', 'completed', 'cancelled')),
    -- Attempts of the current state's step (reset on every transition).
    attempt          integer     NOT NULL DEFAULT 0,
    -- When the row becomes claimable (ready: due time incl. retry backoff; waiting: timer; NULL: on signal only).
    run_at           timestamptz,
    lease_owner      text,
    lease_expires_at timestamptz,
    -- Fencing token: bumped on every claim; a completion must present the value it claimed with.
    fence            bigint      NOT NULL DEFAULT 0,
    context          jsonb       NOT NULL DEFAULT '{}',
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflows_business_key UNIQUE (kind, connection_id, business_key)
);

-- The claimable set: small and partial, so finished rows never slow the claim.
CREATE INDEX workflows_claimable ON workflows (run_at, id)
    WHERE status IN ('ready', 'waiting') AND run_at IS NOT NULL;
-- Unfinished work by status (ops views of failed/waiting/running, lease rescue). Partial, so the
-- completion of a step into `completed` adds no entry here: every index on this table costs an
-- insert per status change (status changes are never HOT updates).
CREATE INDEX workflows_open ON workflows (status, kind, updated_at)
    WHERE status IN ('ready', 'running', 'waiting', 'failed');

-- The hot table is updated twice per step: vacuum it eagerly, and re-analyze it eagerly so the
-- claim query keeps its index plan when a large backlog has drained (stale stats favour a seq scan).
ALTER TABLE workflows SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02,
                           autovacuum_vacuum_cost_delay = 0,
                           fillfactor = 80);

-- Append-only audit trail: every transition and every step attempt. No FK to keep inserts cheap and
-- to let workflow rows be archived independently; workflow_id is indexed for history queries.
CREATE TABLE workflow_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id  bigint      NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text        NOT NULL,
    event        text        NOT NULL,
    from_state   text,
    to_state     text,
    status       text,
    attempt      integer,
    started_at   timestamptz,
    duration_ms  double precision,
    error        text,
    detail       jsonb
);
CREATE INDEX workflow_events_by_workflow ON workflow_events (workflow_id, id);

-- Periodic jobs: the row's last_slot is advanced by exactly one replica per period.
CREATE TABLE schedules (
    name          text PRIMARY KEY,
    period_secs   double precision NOT NULL,
    last_slot     bigint      NOT NULL,
    last_fired_at timestamptz NOT NULL,
    fired_by      text        NOT NULL
);
