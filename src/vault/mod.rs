//! Credential encryption at rest: AES-256-GCM envelopes.
//!
//! Each secret gets its own random data key; the data key is wrapped by a master key. A blob carries
//! the master key's id, so several master keys can be loaded at once (the primary encrypts; the others
//! only decrypt) and `ml-connector keys rotate` re-wraps every data key under the new primary while
//! the service keeps running. Master keys come from `ML_CONNECTOR_MASTER_KEY` (`<id>:<base64 32 bytes>`,
//! several separated by commas, primary first) or from the file named by `ML_CONNECTOR_MASTER_KEY_FILE`.

use std::collections::BTreeMap;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no master key: set ML_CONNECTOR_MASTER_KEY (<id>:<base64 of 32 random bytes>) or ML_CONNECTOR_MASTER_KEY_FILE; generate one with `ml-connector keys generate`")]
    Missing,
    #[error("invalid master key {0}: {1}")]
    Invalid(String, String),
    #[error("secret was encrypted with master key {0:?}, which is not loaded (set it as a secondary key)")]
    UnknownKey(String),
    #[error("secret cannot be decrypted: wrong master key or damaged data")]
    Damaged,
}

#[derive(Clone)]
struct MasterKey {
    id: String,
    bytes: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, ***)", self.id)
    }
}

/// The loaded master keys: the first encrypts, all decrypt.
#[derive(Debug, Clone)]
pub struct Vault {
    keys: Vec<MasterKey>,
}

/// What is stored: base64 fields only, never the clear text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub v: u8,
    /// Master key id that wraps the data key.
    pub kid: String,
    /// nonce ‖ AES-GCM(master, data key)
    pub dek: String,
    /// nonce ‖ AES-GCM(data key, secret)
    pub ct: String,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn seal(key: &[u8; 32], plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).expect("system randomness");
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .expect("seal");
    let mut out = nonce.to_vec();
    out.extend(buf);
    out
}

fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(VaultError::Damaged);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let mut buf = ct.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Damaged)?;
    let plain = k
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| VaultError::Damaged)?;
    Ok(plain.to_vec())
}

impl Vault {
    /// Parse `<id>:<base64>[,<id>:<base64>…]` (primary first).
    pub fn from_spec(spec: &str) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part
                .split_once(':')
                .ok_or_else(|| VaultError::Invalid("?".into(), "expected <id>:<base64>".into()))?;
            let raw = B64
                .decode(b64.trim())
                .map_err(|e| VaultError::Invalid(id.into(), format!("not base64 ({e})")))?;
            let bytes: [u8; 32] = raw.try_into().map_err(|r: Vec<u8>| {
                VaultError::Invalid(id.into(), format!("{} bytes, expected 32", r.len()))
            })?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(VaultError::Invalid(
                    id.into(),
                    "the id must be letters, digits, - or _".into(),
                ));
            }
            keys.push(MasterKey {
                id: id.to_string(),
                bytes,
            });
        }
        if keys.is_empty() {
            return Err(VaultError::Missing);
        }
        Ok(Self { keys })
    }

    /// From the environment (see module docs).
    pub fn from_env() -> Result<Self, VaultError> {
        if let Ok(spec) = std::env::var("ML_CONNECTOR_MASTER_KEY") {
            return Self::from_spec(&spec);
        }
        if let Ok(path) = std::env::var("ML_CONNECTOR_MASTER_KEY_FILE") {
            let spec = std::fs::read_to_string(&path)
                .map_err(|e| VaultError::Invalid(path.clone(), e.to_string()))?;
            return Self::from_spec(&spec);
        }
        Err(VaultError::Missing)
    }

    /// A new random key spec `<id>:<base64>`.
    pub fn generate_spec(id: &str) -> String {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("system randomness");
        format!("{id}:{}", B64.encode(bytes))
    }

    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    fn key(&self, id: &str) -> Result<&MasterKey, VaultError> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))
    }

    /// Encrypt a secret; `context` (e.g. `connection:3:v1_secret`) is bound as associated data, so a
    /// blob copied to another row does not decrypt there.
    pub fn seal(&self, secret: &Secret, context: &str) -> Envelope {
        let mut dek = [0u8; 32];
        SystemRandom::new()
            .fill(&mut dek)
            .expect("system randomness");
        let master = &self.keys[0];
        Envelope {
            v: 1,
            kid: master.id.clone(),
            dek: B64.encode(seal(&master.bytes, &dek, master.id.as_bytes())),
            ct: B64.encode(seal(&dek, secret.expose().as_bytes(), context.as_bytes())),
        }
    }

    pub fn open(&self, env: &Envelope, context: &str) -> Result<Secret, VaultError> {
        let master = self.key(&env.kid)?;
        let dek = open(
            &master.bytes,
            &B64.decode(&env.dek).map_err(|_| VaultError::Damaged)?,
            master.id.as_bytes(),
        )?;
        let dek: [u8; 32] = dek.try_into().map_err(|_| VaultError::Damaged)?;
        let plain = open(
            &dek,
            &B64.decode(&env.ct).map_err(|_| VaultError::Damaged)?,
            context.as_bytes(),
        )?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| VaultError::Damaged)
    }

    /// Re-wrap the data key under the primary master key (the secret itself is not re-encrypted).
    pub fn rewrap(&self, env: &Envelope) -> Result<Envelope, VaultError> {
        let old = self.key(&env.kid)?;
        let dek = open(
            &old.bytes,
            &B64.decode(&env.dek).map_err(|_| VaultError::Damaged)?,
            old.id.as_bytes(),
        )?;
        let primary = &self.keys[0];
        Ok(Envelope {
            v: 1,
            kid: primary.id.clone(),
            dek: B64.encode(seal(&primary.bytes, &dek, primary.id.as_bytes())),
            ct: env.ct.clone(),
        })
    }

    /// Ids of every loaded key (primary first).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }
}

/// Named secrets of one connection, as stored (envelopes keyed by name).
pub type SealedSet = BTreeMap<String, Envelope>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_bound_to_context_and_rotation() {
        let old = Vault::from_spec(&Vault::generate_spec("k1")).unwrap();
        let env = old.seal(&Secret::new("v1-secret-abc"), "connection:1:v1_secret");
        assert_eq!(
            old.open(&env, "connection:1:v1_secret").unwrap().expose(),
            "v1-secret-abc"
        );
        assert!(
            matches!(
                old.open(&env, "connection:2:v1_secret"),
                Err(VaultError::Damaged)
            ),
            "bound to its row"
        );
        let json = serde_json::to_string(&env).unwrap();
        assert!(!json.contains("v1-secret-abc"));

        // Rotation: new primary k2, old k1 still loaded to decrypt; rewrap; then k1 can go.
        let old_spec = format!("k1:{}", B64.encode(old.keys[0].bytes));
        let new_spec = Vault::generate_spec("k2");
        let both = Vault::from_spec(&format!("{new_spec},{old_spec}")).unwrap();
        assert_eq!(
            both.open(&env, "connection:1:v1_secret").unwrap().expose(),
            "v1-secret-abc"
        );
        let rewrapped = both.rewrap(&env).unwrap();
        assert_eq!(rewrapped.kid, "k2");
        let only_new = Vault::from_spec(&new_spec).unwrap();
        assert_eq!(
            only_new
                .open(&rewrapped, "connection:1:v1_secret")
                .unwrap()
                .expose(),
            "v1-secret-abc"
        );
        assert!(
            matches!(only_new.open(&env, "connection:1:v1_secret"), Err(VaultError::UnknownKey(k)) if k == "k1")
        );
    }

    #[test]
    fn bad_keys_give_clear_errors() {
        assert!(matches!(Vault::from_spec(""), Err(VaultError::Missing)));
        assert!(Vault::from_spec("k1:notbase64!!")
            .unwrap_err()
            .to_string()
            .contains("not base64"));
        assert!(Vault::from_spec(&format!("k1:{}", B64.encode([0u8; 16])))
            .unwrap_err()
            .to_string()
            .contains("16 bytes, expected 32"));
        let a = Vault::from_spec(&Vault::generate_spec("k1")).unwrap();
        let b = Vault::from_spec(&Vault::generate_spec("k1")).unwrap();
        let env = a.seal(&Secret::new("x"), "c");
        assert!(
            matches!(b.open(&env, "c"), Err(VaultError::Damaged)),
            "same id, different key: refused, not garbage"
        );
    }
}
