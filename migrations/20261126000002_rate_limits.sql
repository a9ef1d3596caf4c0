-- Rate budget of each external API key, shared by every worker of every replica.
-- key_id is a fingerprint of the key (never the key itself).
CREATE TABLE rate_limits (
    key_id         text PRIMARY KEY,
    window_limit   integer          NOT NULL,
    window_secs    double precision NOT NULL,
    -- Requests we may still send in the current window (already net of requests in flight).
    remaining      integer          NOT NULL,
    -- Estimated end of the server's current window; confirmed once a response told us.
    window_ends_at timestamptz      NOT NULL,
    end_confirmed  boolean          NOT NULL DEFAULT false,
    in_flight      integer          NOT NULL DEFAULT 0,
    -- After a 429: send nothing before this.
    blocked_until  timestamptz,
    throttled      bigint           NOT NULL DEFAULT 0,
    updated_at     timestamptz      NOT NULL DEFAULT now()
);
