//! Exponential backoff with jitter and a cap; after `max_attempts` the workflow is failed.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts of one step before the workflow is `failed` (1 = no retry).
    pub max_attempts: u32,
    /// Delay after the first failed attempt.
    pub base_delay: Duration,
    /// No delay is longer than this, jitter included.
    pub max_delay: Duration,
    /// Fraction in [0, 1]: the delay is scaled by a random factor in [1 - jitter, 1 + jitter].
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Delay before the next attempt after attempt number `attempt` (1-based) failed.
    /// `unit` is a uniform random number in [0, 1) (passed in so tests are exact).
    pub fn delay_after(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30) as i32;
        let raw = self.base_delay.as_secs_f64() * 2f64.powi(exponent);
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64((raw.min(self.max_delay.as_secs_f64()) * factor).max(0.0))
            .min(self.max_delay)
    }

    /// Delay with a fresh random jitter.
    pub fn next_delay(&self, attempt: u32) -> Duration {
        self.delay_after(attempt, rand::random::<f64>())
    }

    /// Whether another attempt is allowed after attempt number `attempt` failed.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            jitter,
        }
    }

    #[test]
    fn doubles_then_caps() {
        let p = policy(0.0);
        let delays: Vec<u128> = (1..=5).map(|a| p.delay_after(a, 0.5).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_in_band_and_under_cap() {
        let p = policy(0.5);
        assert_eq!(p.delay_after(1, 0.0).as_millis(), 50);
        assert_eq!(p.delay_after(1, 1.0).as_millis(), 150);
        assert_eq!(
            p.delay_after(4, 1.0).as_millis(),
            500,
            "cap applies after jitter"
        );
        for _ in 0..100 {
            let d = p.next_delay(2).as_millis();
            assert!((100..=300).contains(&d), "{d}");
        }
    }

    #[test]
    fn max_attempts() {
        let p = policy(0.0);
        assert!(p.may_retry(3));
        assert!(!p.may_retry(4));
    }
}
