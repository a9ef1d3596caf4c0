//! V1 key pairs: an active and an optional next pair (ShipStation allows two at once, for
//! rotation without downtime). On 401 the client tries the next pair and promotes it.

use std::sync::RwLock;

use chrono::NaiveDate;

use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct KeyPair {
    pub key: Secret,
    pub secret: Secret,
    /// ShipStation keys expire after 3, 6 or 12 months.
    pub expires_on: Option<NaiveDate>,
}

impl KeyPair {
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            key: Secret::new(key),
            secret: Secret::new(secret),
            expires_on: None,
        }
    }

    pub fn expiring(mut self, on: NaiveDate) -> Self {
        self.expires_on = Some(on);
        self
    }

    /// The id under which the pair's rate budget is shared (a fingerprint, not the key).
    pub fn key_id(&self) -> String {
        format!("shipstation-v1:{}", self.key.fingerprint())
    }
}

#[derive(Debug)]
pub struct KeyRing {
    inner: RwLock<(KeyPair, Option<KeyPair>)>,
}

impl KeyRing {
    pub fn new(active: KeyPair, next: Option<KeyPair>) -> Self {
        Self {
            inner: RwLock::new((active, next)),
        }
    }

    pub fn active(&self) -> KeyPair {
        self.inner.read().unwrap().0.clone()
    }

    pub fn next(&self) -> Option<KeyPair> {
        self.inner.read().unwrap().1.clone()
    }

    /// Replace both pairs (credentials reloaded without a restart).
    pub fn replace(&self, active: KeyPair, next: Option<KeyPair>) {
        *self.inner.write().unwrap() = (active, next);
    }

    /// The next pair becomes active (the old active pair is dropped). False if there is none.
    pub fn promote_next(&self) -> bool {
        let mut g = self.inner.write().unwrap();
        match g.1.take() {
            Some(next) => {
                g.0 = next;
                true
            }
            None => false,
        }
    }

    /// Human warnings for pairs expiring within `within_days` of `today` (or already expired).
    pub fn expiry_warnings(&self, today: NaiveDate, within_days: i64) -> Vec<String> {
        let g = self.inner.read().unwrap();
        [("active", Some(&g.0)), ("next", g.1.as_ref())]
            .into_iter()
            .filter_map(|(role, pair)| {
                let pair = pair?;
                let on = pair.expires_on?;
                let days = (on - today).num_days();
                let id = pair.key_id();
                (days <= within_days).then(|| {
                    if days < 0 {
                        format!("{role} ShipStation V1 key pair {id} expired on {on}")
                    } else {
                        format!("{role} ShipStation V1 key pair {id} expires on {on} (in {days} days): generate a new pair and set it as next")
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotes_and_warns_before_expiry() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let ring = KeyRing::new(
            KeyPair::new("AKEY-111", "ASECRET-111").expiring(d("2026-12-05")),
            Some(KeyPair::new("BKEY-222", "BSECRET-222").expiring(d("2027-06-01"))),
        );
        let w = ring.expiry_warnings(d("2026-11-26"), 14);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("expires on 2026-12-05 (in 9 days)"), "{w:?}");
        assert!(
            !w[0].contains("AKEY") && !w[0].contains("ASECRET"),
            "no secrets in warnings: {w:?}"
        );
        assert!(ring.promote_next());
        assert_eq!(ring.active().key.expose(), "BKEY-222");
        assert!(!ring.promote_next());
        assert!(ring.expiry_warnings(d("2026-11-26"), 14).is_empty());
    }
}
