//! V2 webhook signature headers: header values, the timestamp window, base64 and RSA signature
//! checks, and JWKS answers. Half the inputs are signed for real (then mutated by the body), so
//! the accepting path is reached too; a property: a body that differs from the signed one is
//! refused.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use ml_connector::shipstation::webhook::{
    check_timestamp, keys_from_jwks, verify_signature, V2Signature,
};
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};

fn key() -> &'static (SigningKey<Sha256>, RsaPublicKey) {
    static KEY: OnceLock<(SigningKey<Sha256>, RsaPublicKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("RSA key");
        let public = private.to_public_key();
        (SigningKey::new(private), public)
    })
}

fuzz_target!(|data: &[u8]| {
    let (pick, rest) = mlc_fuzz::choose(data, 3);
    if pick == 2 {
        let _ = keys_from_jwks(rest);
        return;
    }
    // key id, signature, timestamp, body
    let f = mlc_fuzz::fields(rest, 4);
    let now = DateTime::parse_from_rfc3339("2026-05-01T12:00:00Z")
        .expect("fixed instant")
        .with_timezone(&Utc);
    let (signing, public) = key();
    let signature = if pick == 1 {
        // Signed over the timestamp and the first half of the body; the whole body is checked.
        let half = &f[3].as_bytes()[..f[3].len() / 2];
        let mut message = f[2].as_bytes().to_vec();
        message.push(b'.');
        message.extend_from_slice(half);
        base64::engine::general_purpose::STANDARD.encode(signing.sign(&message).to_bytes())
    } else {
        f[1].clone()
    };
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-shipengine-rsa-sha256-key-id", f[0].as_str()),
        ("x-shipengine-rsa-sha256-signature", signature.as_str()),
        ("x-shipengine-timestamp", f[2].as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    let sig = V2Signature::from_headers(&headers);
    let (Some(_kid), Some(signature), Some(ts)) = (sig.key_id, sig.signature, sig.timestamp) else {
        return;
    };
    let _ = check_timestamp(ts, now, chrono::Duration::minutes(5));
    let body = f[3].as_bytes();
    let verdict = verify_signature(public, signature, ts, body);
    if pick == 1 {
        let signed_len = body.len() / 2;
        let same = signed_len == body.len();
        assert_eq!(verdict.is_ok(), same, "only the signed body verifies");
    }
});
