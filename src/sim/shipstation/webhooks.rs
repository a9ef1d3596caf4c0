//! Outgoing webhooks. V1: unsigned `{resource_url, resource_type}` whose URL points back at a
//! numbered `ssapiN` host and needs Basic auth. V2: RSA-SHA256 (PKCS#1 v1.5) over
//! `timestamp + "." + body`, headers `x-shipengine-rsa-sha256-key-id`, `…-signature` (base64),
//! `x-shipengine-timestamp`; public keys served as a JWKS.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use super::state::DeliveryMode;
use super::Sim;

/// The simulator's webhook signing key, and a second key that is NOT published (for forgeries).
pub struct Keys {
    pub kid: String,
    pub signing: RsaPrivateKey,
    pub forger: RsaPrivateKey,
}

/// Generated once per process: RSA key generation is slow in debug builds.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        Keys {
            kid: format!("sim-{:08x}", rand::random::<u32>()),
            signing: RsaPrivateKey::new(&mut rng, 2048).expect("RSA key"),
            forger: RsaPrivateKey::new(&mut rng, 2048).expect("RSA key"),
        }
    })
}

pub fn jwks() -> Value {
    let k = keys();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
        "n": b64.encode(k.signing.n().to_bytes_be()),
        "e": b64.encode(k.signing.e().to_bytes_be()),
    }]})
}

/// Signature headers for a V2 delivery. `forge` signs with the unpublished key;
/// `skew_secs` shifts the timestamp (stale or future deliveries).
pub fn sign_v2(body: &str, forge: bool, skew_secs: i64) -> Vec<(String, String)> {
    let k = keys();
    let ts = (Utc::now() + chrono::Duration::seconds(skew_secs))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let key = if forge { &k.forger } else { &k.signing };
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(format!("{ts}.{body}").as_bytes());
    vec![
        ("x-shipengine-rsa-sha256-key-id".into(), k.kid.clone()),
        (
            "x-shipengine-rsa-sha256-signature".into(),
            base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        ),
        ("x-shipengine-timestamp".into(), ts),
    ]
}

/// A `resource_url` on a randomly numbered ssapi host that resolves back to the simulator.
pub fn resource_url(sim: &Sim, path_and_query: &str) -> String {
    let n = 1 + rand::random::<u32>() % sim.cfg.numbered_hosts.max(1);
    format!(
        "http://ssapi{n}.{}:{}{path_and_query}",
        sim.cfg.host_domain, sim.port
    )
}

/// Deliver a V1 event to every subscriber of `event` (honouring the drop/duplicate/delay mode).
pub fn deliver_v1(sim: &Sim, event: &str, store_id: Option<i64>, path_and_query: &str) {
    let (targets, mode, delay) = {
        let state = sim.state.lock().unwrap();
        let targets: Vec<String> = state
            .webhooks
            .iter()
            .filter(|w| w.event == event && (w.store_id.is_none() || w.store_id == store_id))
            .map(|w| w.target_url.clone())
            .collect();
        (targets, state.delivery, state.delivery_delay_ms)
    };
    for target in targets {
        let body =
            json!({"resource_url": resource_url(sim, path_and_query), "resource_type": event});
        post(sim, target, body.to_string(), vec![], mode, delay);
    }
}

/// POST a payload, recording it; in the background so the triggering request is not delayed.
pub fn post(
    sim: &Sim,
    target: String,
    body: String,
    headers: Vec<(String, String)>,
    mode: DeliveryMode,
    delay_ms: u64,
) {
    sim.state.lock().unwrap().deliveries.push(json!({
        "target": target, "body": body, "mode": mode, "at": Utc::now().to_rfc3339()
    }));
    if mode == DeliveryMode::Drop {
        return;
    }
    let copies = if mode == DeliveryMode::Duplicate {
        2
    } else {
        1
    };
    let http = sim.http.clone();
    tokio::spawn(async move {
        if mode == DeliveryMode::Delay {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        for _ in 0..copies {
            let mut req = http
                .post(&target)
                .header("content-type", "application/json")
                .body(body.clone());
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            if let Err(e) = req.send().await {
                tracing::debug!(error = %e, %target, "simulated webhook delivery failed");
            }
        }
    });
}
