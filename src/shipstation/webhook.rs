//! Webhook security.
//!
//! V1 webhooks are unsigned: the target URL carries a secret token (compared in constant time),
//! and the payload's `resource_url` is fetched only from `ssapi\d*.shipstation.com` over HTTPS
//! (or, in tests, the configured domain mapped to the simulator). V2 webhooks are verified with
//! RSA-SHA256 over `timestamp + "." + raw body` against the JWKS key named by the key-id header
//! (keys cached, refetched for an unknown id); timestamps more than 5 minutes away are refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};

use super::error::ShipStationError;
use crate::secret::{constant_time_eq, Secret};

/// Which `resource_url`s may be fetched (with our credentials).
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    /// Hosts must be `ssapi` + optional digits + `.` + this domain.
    pub domain: String,
    pub require_https: bool,
    /// Tests: resolve `ssapi[N].<domain>` (N up to `numbered_hosts`) to this address.
    pub map_to: Option<SocketAddr>,
    pub numbered_hosts: u32,
}

impl ResourcePolicy {
    pub fn production() -> Self {
        Self {
            domain: "shipstation.com".into(),
            require_https: true,
            map_to: None,
            numbered_hosts: 0,
        }
    }

    /// For the simulator: `http://ssapiN.<domain>:<port of addr>` resolved to `addr`.
    pub fn simulated(domain: &str, addr: SocketAddr, numbered_hosts: u32) -> Self {
        Self {
            domain: domain.into(),
            require_https: false,
            map_to: Some(addr),
            numbered_hosts,
        }
    }

    /// Whether a host is an allowed ShipStation API host.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let Some(label) = host.strip_suffix(&format!(".{}", self.domain.to_ascii_lowercase()))
        else {
            return false;
        };
        label
            .strip_prefix("ssapi")
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    }

    /// Parse and check a resource_url; an error means no request may be sent to it.
    pub fn check(&self, raw: &str) -> Result<url::Url, ShipStationError> {
        let refuse = |reason: &str| ShipStationError::ForbiddenResource {
            url: raw.chars().take(200).collect(),
            reason: reason.into(),
        };
        if raw.len() > 2048 {
            return Err(refuse("longer than any ShipStation resource_url"));
        }
        let url = url::Url::parse(raw).map_err(|e| refuse(&format!("not a URL ({e})")))?;
        let scheme_ok = url.scheme() == "https" || (!self.require_https && url.scheme() == "http");
        if !scheme_ok {
            return Err(refuse("scheme not allowed"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("credentials in the URL"));
        }
        match url.host() {
            Some(url::Host::Domain(h)) if self.host_allowed(h) => {}
            _ => {
                return Err(refuse(&format!(
                    "host is not an allow-listed ShipStation API host (ssapi*.{})",
                    self.domain
                )))
            }
        }
        // Production: 443. Simulator: its own port only, not any port of the address it maps to.
        let port = self.map_to.map_or(443, |a| a.port());
        if url.port_or_known_default() != Some(port) {
            return Err(refuse("unexpected port"));
        }
        Ok(url)
    }

    /// An HTTP client that maps the numbered simulator hosts to the simulator (tests only) and
    /// never follows redirects (a redirect could lead off the allow-list with our credentials).
    pub fn http_client(&self, timeout: Duration) -> Result<reqwest::Client, ShipStationError> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(addr) = self.map_to {
            b = b.resolve(&format!("ssapi.{}", self.domain), addr);
            for n in 0..=self.numbered_hosts {
                b = b.resolve(&format!("ssapi{n}.{}", self.domain), addr);
            }
        }
        b.build().map_err(|e| ShipStationError::Unreachable {
            attempts: 0,
            message: e.to_string(),
        })
    }
}

/// The secret token in a V1 webhook target URL.
pub fn v1_token_matches(expected: &Secret, presented: Option<&str>) -> bool {
    // An empty expected token (a row written before empty secrets were refused) matches nothing.
    !expected.expose().is_empty()
        && presented.is_some_and(|p| constant_time_eq(expected.expose().as_bytes(), p.as_bytes()))
}

/// Why a V2 delivery was refused, with the HTTP status the docs prescribe.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum V2Rejection {
    #[error("signature headers missing")]
    MissingHeaders,
    #[error("timestamp {0} is more than 5 minutes away from now")]
    Stale(String),
    #[error("unknown signing key {0}")]
    UnknownKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl V2Rejection {
    /// 404 hides the endpoint from unsigned probes; 400 for stale; 401 for a bad signature.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingHeaders => 404,
            Self::Stale(_) => 400,
            Self::KeysUnavailable(_) => 503,
            _ => 401,
        }
    }
}

/// The three V2 signature headers.
#[derive(Debug, Clone, Default)]
pub struct V2Signature<'a> {
    pub key_id: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub timestamp: Option<&'a str>,
}

impl<'a> V2Signature<'a> {
    pub fn from_headers(h: &'a axum::http::HeaderMap) -> Self {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        Self {
            key_id: get("x-shipengine-rsa-sha256-key-id"),
            signature: get("x-shipengine-rsa-sha256-signature"),
            timestamp: get("x-shipengine-timestamp"),
        }
    }
}

/// V2 signature verification with a cached key set. An unknown key id refreshes the set at most
/// once per `min_refresh` (concurrent deliveries wait for that one fetch), and a refresh adds keys:
/// an empty or partial answer never drops a key that verified before.
pub struct V2Verifier {
    jwks_url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, RsaPublicKey>>,
    /// When the key set was last fetched; held while fetching (single flight).
    last_refresh: tokio::sync::Mutex<Option<std::time::Instant>>,
    pub max_skew: chrono::Duration,
    pub min_refresh: Duration,
}

impl V2Verifier {
    pub fn new(jwks_url: impl Into<String>) -> Self {
        Self {
            jwks_url: jwks_url.into(),
            http: crate::net::client_builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
            keys: RwLock::new(HashMap::new()),
            last_refresh: tokio::sync::Mutex::new(None),
            max_skew: chrono::Duration::minutes(5),
            min_refresh: Duration::from_secs(30),
        }
    }

    /// Where the key set comes from (a verifier is replaced when this changes).
    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// Verify a delivery against its raw body.
    pub async fn verify(
        &self,
        sig: &V2Signature<'_>,
        raw_body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), V2Rejection> {
        let (Some(kid), Some(signature), Some(ts)) = (sig.key_id, sig.signature, sig.timestamp)
        else {
            return Err(V2Rejection::MissingHeaders);
        };
        check_timestamp(ts, now, self.max_skew)?;
        let key = match self.cached(kid) {
            Some(k) => k,
            None => self.refresh_for(kid).await?,
        };
        verify_signature(&key, signature, ts, raw_body)
    }

    fn cached(&self, kid: &str) -> Option<RsaPublicKey> {
        self.keys.read().unwrap().get(kid).cloned()
    }

    /// Fetch the key set for an unknown key id: once at a time, and not again within
    /// `min_refresh` (an unknown id then stays unknown instead of costing a fetch per delivery).
    async fn refresh_for(&self, kid: &str) -> Result<RsaPublicKey, V2Rejection> {
        let mut last = self.last_refresh.lock().await;
        if let Some(k) = self.cached(kid) {
            return Ok(k); // fetched by the delivery we waited for
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return Err(V2Rejection::UnknownKey(kid.to_string()));
        }
        *last = Some(std::time::Instant::now());
        self.refresh().await?;
        self.cached(kid)
            .ok_or_else(|| V2Rejection::UnknownKey(kid.to_string()))
    }

    async fn refresh(&self) -> Result<(), V2Rejection> {
        let unavailable = |e: String| V2Rejection::KeysUnavailable(e);
        let resp = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        crate::net::refuse_redirect(resp.status()).map_err(|e| unavailable(e.to_string()))?;
        // A key set is a few kilobytes.
        let body = crate::net::read_body(resp, 256 << 10)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let keys = keys_from_jwks(&body).map_err(unavailable)?;
        // Added to what we had: a key that verified before is kept when an answer leaves it out.
        self.keys.write().unwrap().extend(keys);
        Ok(())
    }
}

/// The timestamp header: RFC 3339, at most `max_skew` away from `now`.
pub fn check_timestamp(
    ts: &str,
    now: DateTime<Utc>,
    max_skew: chrono::Duration,
) -> Result<(), V2Rejection> {
    let when = DateTime::parse_from_rfc3339(ts).map_err(|_| V2Rejection::Stale(ts.to_string()))?;
    let skew = (now - when.with_timezone(&Utc)).abs();
    if skew > max_skew {
        return Err(V2Rejection::Stale(ts.to_string()));
    }
    Ok(())
}

/// RSA-SHA256 (PKCS#1 v1.5) over `timestamp + "." + raw body`, the signature in base64.
pub fn verify_signature(
    key: &RsaPublicKey,
    signature: &str,
    ts: &str,
    raw_body: &[u8],
) -> Result<(), V2Rejection> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| V2Rejection::BadSignature)?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|_| V2Rejection::BadSignature)?;
    let mut message = Vec::with_capacity(ts.len() + 1 + raw_body.len());
    message.extend_from_slice(ts.as_bytes());
    message.push(b'.');
    message.extend_from_slice(raw_body);
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(&message, &signature)
        .map_err(|_| V2Rejection::BadSignature)
}

/// The RSA keys of a JWKS answer by key id; entries that are not usable RSA keys are skipped.
pub fn keys_from_jwks(body: &[u8]) -> Result<HashMap<String, RsaPublicKey>, String> {
    let jwks: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut keys = HashMap::new();
    for k in jwks["keys"].as_array().into_iter().flatten() {
        let (Some(kid), Some(n), Some(e)) = (k["kid"].as_str(), k["n"].as_str(), k["e"].as_str())
        else {
            continue;
        };
        let (Ok(n), Ok(e)) = (
            b64.decode(n.trim_end_matches('=')),
            b64.decode(e.trim_end_matches('=')),
        ) else {
            continue;
        };
        if let Ok(key) = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)) {
            keys.insert(kid.to_string(), key);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_token_matches_nothing() {
        assert!(!v1_token_matches(&Secret::new(""), Some("")));
        assert!(!v1_token_matches(&Secret::new(""), None));
        assert!(v1_token_matches(&Secret::new("t0k"), Some("t0k")));
        assert!(!v1_token_matches(&Secret::new("t0k"), Some("t0")));
    }

    #[test]
    fn allow_list_accepts_only_ssapi_hosts() {
        let p = ResourcePolicy::production();
        assert!(p
            .check("https://ssapi.shipstation.com/shipments?batchId=1")
            .is_ok());
        assert!(p
            .check("https://ssapi13.shipstation.com/orders?importBatch=abc")
            .is_ok());
        for bad in [
            "http://ssapi6.shipstation.com/shipments",
            "https://ssapi6.shipstation.com.evil.example/shipments",
            "https://evil.example/?x=ssapi6.shipstation.com",
            "https://ssapix.shipstation.com/shipments",
            "https://api.shipstation.com/v2/labels",
            "https://user:pw@ssapi.shipstation.com/",
            "https://ssapi.shipstation.com:8443/",
            "https://127.0.0.1/shipments",
            "not a url",
        ] {
            assert!(p.check(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn token_compare() {
        let s = Secret::new("tok-123");
        assert!(v1_token_matches(&s, Some("tok-123")));
        assert!(!v1_token_matches(&s, Some("tok-124")));
        assert!(!v1_token_matches(&s, None));
    }
}
