//! A rate governor per API key whose state lives in PostgreSQL, so every worker of every replica
//! shares one budget.
//!
//! V1 sends `X-Rate-Limit-Limit/Remaining/Reset` (reset = seconds to the window's end) on every
//! response. Each response bounds the window's end from above (`received + reset`, reset being
//! rounded up), so the tightest bound seen is kept; a request is sent only while the budget lasts,
//! and after the window's end plus a safety margin (the margin covers a server that rounds the
//! reset down). Once a response proves the server rounds up (a reset equal to the whole window to
//! a request after the window's first, which a server rounding down never sends), the bound is
//! exact and the margin shrinks to [`EXACT_MARGIN`] while nothing is in flight; a 429 after that
//! refutes the proof for the key for good (a server whose reset only looked rounded up costs one
//! 429 per key, once). A 429 blocks the key until its Retry-After or, when its headers show no
//! budget left, its Reset has passed; one that still shows budget is a passing throttle, waited out
//! with a short backoff within the same window (transport.rs). V2 sends no budget headers: its
//! window is estimated locally and 429 + Retry-After corrects it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// The margin after a window's end once the server's reset is known to be rounded up: the bound
/// `received + reset` is then never before the real end, and this only absorbs timer jitter.
pub const EXACT_MARGIN: Duration = Duration::from_millis(10);

/// Whether the window may be taken as ended right at its bound (the short margin): the rounding
/// is learnt and not refuted, a response confirmed the end, and nothing is in flight (a late
/// answer to a request of the old window could otherwise be read as news of the new one).
fn may_end_early(learnt: bool, confirmed: bool, in_flight: i32) -> bool {
    learnt && confirmed && in_flight == 0
}

/// Budget headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
}

impl RateHeaders {
    pub fn from_headers(h: &reqwest::header::HeaderMap) -> Option<Self> {
        let get = |name: &str| h.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        Some(Self {
            limit: get("x-rate-limit-limit")? as u32,
            remaining: get("x-rate-limit-remaining")? as u32,
            reset_secs: get("x-rate-limit-reset")?,
        })
    }
}

/// A key's budget as stored (for ops views).
#[derive(Debug, Clone)]
pub struct Budget {
    pub key_id: String,
    pub limit: i32,
    pub remaining: i32,
    pub window_ends_at: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
    pub throttled: i64,
}

#[derive(Debug, Clone)]
pub struct Governor {
    pool: PgPool,
    key_id: String,
    limit: u32,
    window: Duration,
    /// Extra wait after a window's estimated end.
    pub margin: Duration,
    /// The server sends no budget headers (V2): trust the local window estimate.
    headerless: bool,
    /// How long a reserved request can be in flight at most (its timeout and a little): after
    /// that a reservation never finished (a killed worker) no longer counts.
    pub reservation_ttl: Duration,
}

/// One reserved request; give it back with [`Governor::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reservation is given back with finish"]
pub struct Reservation(i64);

impl Governor {
    pub fn new(
        pool: PgPool,
        key_id: String,
        limit: u32,
        window: Duration,
        headerless: bool,
    ) -> Self {
        Self {
            pool,
            key_id,
            limit: limit.max(1),
            window,
            margin: Duration::from_millis(1000),
            headerless,
            reservation_ttl: Duration::from_secs(60),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Wait until a request may be sent, and reserve it.
    pub async fn acquire(&self) -> Result<Reservation, sqlx::Error> {
        loop {
            match self.try_acquire().await? {
                Ok(reservation) => return Ok(reservation),
                Err(wait) => {
                    let jitter = Duration::from_millis(rand::random::<u64>() % 15);
                    tokio::time::sleep(wait.min(Duration::from_millis(250)) + jitter).await;
                }
            }
        }
    }

    /// Reserve a request now, or say how long to wait.
    async fn try_acquire(&self) -> Result<Result<Reservation, Duration>, sqlx::Error> {
        let mut tx = crate::db::begin(&self.pool).await?;
        // A new key's window is already over: its first request starts a fresh one.
        sqlx::query(
            "INSERT INTO rate_limits (key_id, window_limit, window_secs, remaining, window_ends_at)
             VALUES ($1, $2, $3, $2, clock_timestamp() - interval '1 day') ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(&self.key_id)
        .bind(self.limit as i32)
        .bind(self.window.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT window_limit, remaining, window_ends_at, end_confirmed, blocked_until,
                    clock_timestamp(), end_exact AND NOT exact_refuted
               FROM rate_limits WHERE key_id = $1 FOR UPDATE",
        )
        .bind(&self.key_id)
        .fetch_one(&mut *tx)
        .await?;
        let limit: i32 = row.get(0);
        let remaining: i32 = row.get(1);
        let ends: DateTime<Utc> = row.get(2);
        let confirmed: bool = row.get(3);
        let blocked: Option<DateTime<Utc>> = row.get(4);
        let now: DateTime<Utc> = row.get(5);
        let in_flight = live_reservations(&mut tx, &self.key_id).await?;
        let exact = may_end_early(row.get(6), confirmed, in_flight);
        if let Some(wait) = self.wait_before_next(now, remaining, ends, confirmed, blocked, exact) {
            // The column mirrors the reservations (ops views), reaped ones too.
            sqlx::query("UPDATE rate_limits SET in_flight = $2 WHERE key_id = $1")
                .bind(&self.key_id)
                .bind(in_flight)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Err(wait));
        }
        let margin = self.margin_for(exact);
        let window = chrono::Duration::from_std(self.window).unwrap_or_default();
        let (new_remaining, new_ends, new_confirmed) = if now >= ends + margin {
            // The window we knew has ended: a new one starts with (at the latest) this request.
            (limit - 1, now + window, self.headerless)
        } else {
            (remaining - 1, ends, confirmed)
        };
        sqlx::query(
            "UPDATE rate_limits SET remaining = $2, window_ends_at = $3, end_confirmed = $4,
                    in_flight = $5, updated_at = clock_timestamp() WHERE key_id = $1",
        )
        .bind(&self.key_id)
        .bind(new_remaining)
        .bind(new_ends)
        .bind(new_confirmed)
        .bind(in_flight + 1)
        .execute(&mut *tx)
        .await?;
        let ttl = chrono::Duration::from_std(self.reservation_ttl).unwrap_or_default();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rate_reservations (key_id, expires_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(&self.key_id)
        .bind(now + ttl)
        .fetch_one(&mut *tx)
        .await?;
        record_usage(&mut tx, &self.key_id, 1, 0).await?;
        tx.commit().await?;
        Ok(Ok(Reservation(id)))
    }

    /// How long until a request may be sent, without reserving one (zero: now). A caller that
    /// can use the wait (the order batcher filling its call) asks this first.
    pub async fn ready_in(&self) -> Result<Duration, sqlx::Error> {
        let row = sqlx::query(
            "SELECT remaining, window_ends_at, end_confirmed, blocked_until, clock_timestamp(),
                    end_exact AND NOT exact_refuted, in_flight
               FROM rate_limits WHERE key_id = $1",
        )
        .bind(&self.key_id)
        .fetch_optional(&self.pool)
        .await?;
        // A key never used has its whole budget.
        let Some(row) = row else {
            return Ok(Duration::ZERO);
        };
        Ok(self
            .wait_before_next(
                row.get(4),
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                may_end_early(row.get(5), row.get(2), row.get(6)),
            )
            .unwrap_or_default())
    }

    /// The wait before the next request may be sent, or `None` when it may go now.
    fn wait_before_next(
        &self,
        now: DateTime<Utc>,
        remaining: i32,
        ends: DateTime<Utc>,
        confirmed: bool,
        blocked: Option<DateTime<Utc>>,
        exact: bool,
    ) -> Option<Duration> {
        let until = |t: DateTime<Utc>| (t - now).to_std().unwrap_or_default();
        if let Some(b) = blocked.filter(|b| *b > now) {
            return Some(until(b));
        }
        let margin = self.margin_for(exact);
        let window = chrono::Duration::from_std(self.window).unwrap_or_default();
        if now >= ends + margin || remaining > 0 {
            return None;
        }
        // Unconfirmed end: the server's window may have started later than our estimate.
        let wait_until = if confirmed {
            ends + margin
        } else {
            ends + window.min(chrono::Duration::seconds(5))
        };
        Some(until(wait_until).max(Duration::from_millis(5)))
    }

    /// The wait after a window's estimated end: short once the server's reset is known exact.
    fn margin_for(&self, exact: bool) -> chrono::Duration {
        let margin = if exact {
            self.margin.min(EXACT_MARGIN)
        } else {
            self.margin
        };
        chrono::Duration::from_std(margin).unwrap_or_default()
    }

    /// Report a finished request: its budget headers, and the wait a 429 demanded.
    pub async fn finish(
        &self,
        reservation: Reservation,
        headers: Option<RateHeaders>,
        throttled_for: Option<Duration>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = crate::db::begin(&self.pool).await?;
        let row = sqlx::query(
            "SELECT remaining, window_ends_at, end_confirmed, clock_timestamp(),
                    end_exact, exact_refuted
               FROM rate_limits WHERE key_id = $1 FOR UPDATE",
        )
        .bind(&self.key_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(());
        };
        // Gone already if it outlived its time (reaped): then nothing is given back twice.
        sqlx::query("DELETE FROM rate_reservations WHERE id = $1")
            .bind(reservation.0)
            .execute(&mut *tx)
            .await?;
        let in_flight = live_reservations(&mut tx, &self.key_id).await?;
        let mut remaining: i32 = row.get(0);
        let mut ends: DateTime<Utc> = row.get(1);
        let mut confirmed: bool = row.get(2);
        let now: DateTime<Utc> = row.get(3);
        let mut exact: bool = row.get(4);
        let mut refuted: bool = row.get(5);
        let mut limit = self.limit as i32;
        if let Some(h) = headers {
            limit = h.limit as i32;
            let half = chrono::Duration::from_std(self.window / 2).unwrap_or_default();
            let bound = now + chrono::Duration::seconds(h.reset_secs as i64);
            let server_left = (h.remaining as i32 - in_flight).max(0);
            // A reset of the whole window to a request that did not open the window: taken as
            // rounding up. Rounding a precise time down, a server answers the whole window only at
            // the instant the window opens (to its first request). A server that rounds to the
            // nearest second, subtracts whole-second clocks or has a longer window than ours can
            // look the same: its first 429 after an early send refutes this for good (below), so
            // such a server costs one 429 per key, once.
            exact |= h.reset_secs as f64 == self.window.as_secs_f64()
                && h.remaining.saturating_add(2) <= h.limit;
            if confirmed && bound < ends - half {
                // A late answer from an earlier window: nothing to learn.
            } else if bound > ends + half {
                // The server is in a newer window than we thought.
                ends = bound;
                confirmed = true;
                remaining = server_left;
            } else {
                ends = if confirmed { ends.min(bound) } else { bound };
                confirmed = true;
                remaining = remaining.min(server_left);
            }
        }
        let blocked = throttled_for.map(|d| {
            now + chrono::Duration::from_std(d.max(Duration::from_secs(1))).unwrap_or_default()
        });
        // A 429 whose headers still show budget is a passing throttle: the window they describe
        // stays (set above); only an exhausted one ends at the block, with a fresh budget after.
        let passing = headers.is_some_and(|h| h.remaining > 0);
        if let (Some(_), false, true) = (blocked, passing, exact && !refuted) {
            tracing::warn!(key = %self.key_id, "a 429 although the server's reset looked exact: \
                waiting the full margin after each window from now on");
            refuted = true;
        }
        if let (Some(b), false) = (blocked, passing) {
            // The server says when its window ends: nothing before, a fresh budget after.
            remaining = 0;
            ends = b;
            confirmed = true;
        }
        sqlx::query(
            "UPDATE rate_limits SET remaining = $2, window_ends_at = $3, end_confirmed = $4, in_flight = $5,
                    window_limit = $6, blocked_until = COALESCE($7, blocked_until),
                    end_exact = $8, exact_refuted = $9,
                    throttled = throttled + ($7 IS NOT NULL)::int, updated_at = clock_timestamp()
              WHERE key_id = $1",
        )
        .bind(&self.key_id)
        .bind(remaining)
        .bind(ends)
        .bind(confirmed)
        .bind(in_flight)
        .bind(limit)
        .bind(blocked)
        .bind(exact)
        .bind(refuted)
        .execute(&mut *tx)
        .await?;
        if blocked.is_some() {
            record_usage(&mut tx, &self.key_id, 0, 1).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every key's budget (for stats and alerts).
    pub async fn budgets(pool: &PgPool) -> Result<Vec<Budget>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT key_id, window_limit, remaining, window_ends_at, blocked_until, throttled FROM rate_limits ORDER BY key_id",
        )
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Budget {
                key_id: r.get(0),
                limit: r.get(1),
                remaining: r.get(2),
                window_ends_at: r.get(3),
                blocked_until: r.get(4),
                throttled: r.get(5),
            })
            .collect())
    }
}

/// The key's requests in flight: its reservations, once those that outlived their time (their
/// worker died) are reaped. Counted, not kept as a number, so nothing can leave a slot held.
async fn live_reservations(tx: &mut sqlx::PgConnection, key_id: &str) -> Result<i32, sqlx::Error> {
    sqlx::query(
        "DELETE FROM rate_reservations WHERE key_id = $1 AND expires_at <= clock_timestamp()",
    )
    .bind(key_id)
    .execute(&mut *tx)
    .await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM rate_reservations WHERE key_id = $1")
        .bind(key_id)
        .fetch_one(&mut *tx)
        .await?;
    Ok(n as i32)
}

/// Counts a granted request or a 429 in the key's hourly usage (the daily digest's budget figures).
async fn record_usage(
    tx: &mut sqlx::PgConnection,
    key_id: &str,
    granted: i64,
    throttled: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rate_usage (key_id, hour, granted, throttled)
         VALUES ($1, date_trunc('hour', clock_timestamp()), $2, $3)
         ON CONFLICT (key_id, hour) DO UPDATE
            SET granted = rate_usage.granted + $2, throttled = rate_usage.throttled + $3",
    )
    .bind(key_id)
    .bind(granted)
    .bind(throttled)
    .execute(tx)
    .await?;
    Ok(())
}
