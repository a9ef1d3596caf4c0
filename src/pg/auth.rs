//! Password authentication of the embedded cluster.
//!
//! Started as root, the server runs as an unprivileged account that other programs may share
//! (`nobody` by default), and anyone who can reach the socket could connect as superuser under
//! `trust`. So the superuser has a random password (SCRAM-SHA-256), kept in a file only the
//! connector's own account can read (0600, owned by it; the server account never reads it), and
//! `pg_hba.conf` is rewritten at every start to accept nothing but that password over the socket.
//! The server learns the password as a SCRAM verifier, set in single-user mode before it
//! listens, so the clear password never reaches the server, its logs or its command line.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use super::user::{self, Account};
use super::{path_str, run_as, PgError, ServerBinaries};
use crate::secret::Secret;

/// The superuser's password, in the cluster's folder.
pub const PASSWORD_FILE: &str = "superuser.password";
/// What the file may hold: 40 characters from [A-Za-z0-9] (about 238 bits).
const PASSWORD_LEN: usize = 40;
/// PostgreSQL's own default for the verifiers it computes.
const SCRAM_ITERATIONS: u32 = 4096;

const HBA: &str =
    "# Written by ml-connector at every start: the superuser's password (SCRAM-SHA-256) over the\n\
                   # Unix socket, nothing else. The password is in ../superuser.password.\n\
                   local all all scram-sha-256\n";

/// Read (or create) the password, give it to the server and allow only password logins. Call
/// before the server starts (single-user mode needs the cluster to itself).
pub fn prepare(
    bins: &ServerBinaries,
    root: &Path,
    data: &Path,
    account: Option<Account>,
) -> Result<Secret, PgError> {
    let password = read_or_create(&root.join(PASSWORD_FILE))?;
    set_verifier(bins, root, data, account, &verifier(&password)?)?;
    let hba = data.join("pg_hba.conf");
    std::fs::write(&hba, HBA)
        .map_err(|e| PgError::Setup(format!("writing {}: {e}", hba.display())))?;
    user::hand_over(&hba, account)?;
    Ok(password)
}

/// The password in `path` when it is ours alone and well formed; otherwise a new one, written
/// 0600 (a file another account could have written or read is not trusted).
fn read_or_create(path: &Path) -> Result<Secret, PgError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // SAFETY: geteuid has no preconditions.
        let ours = meta.is_file() && meta.uid() == unsafe { libc::geteuid() };
        if ours && meta.mode() & 0o077 == 0 {
            if let Ok(text) = std::fs::read_to_string(path) {
                let text = text.trim();
                if text.len() == PASSWORD_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Ok(Secret::new(text));
                }
            }
        }
        std::fs::remove_file(path)
            .map_err(|e| PgError::Setup(format!("replacing {}: {e}", path.display())))?;
    }
    let password = random_password()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| PgError::Setup(format!("creating {}: {e}", path.display())))?;
    writeln!(file, "{}", password.expose())
        .and_then(|()| file.sync_all())
        .map_err(|e| PgError::Setup(format!("writing {}: {e}", path.display())))?;
    Ok(password)
}

fn random_password() -> Result<Secret, PgError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(PASSWORD_LEN);
    let mut byte = [0u8; 1];
    while out.len() < PASSWORD_LEN {
        rng.fill(&mut byte)
            .map_err(|_| PgError::Setup("no system randomness for the password".into()))?;
        // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
        if byte[0] < 248 {
            out.push(ALPHABET[(byte[0] % 62) as usize] as char);
        }
    }
    Ok(Secret::new(out))
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5802/7677):
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
fn verifier(password: &Secret) -> Result<String, PgError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PgError::Setup("no system randomness for the salt".into()))?;
    Ok(verifier_with(password.expose(), &salt, SCRAM_ITERATIONS))
}

fn verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    use ring::{digest, hmac, pbkdf2};
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(iterations).expect("iterations above 0"),
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key.as_ref()),
        b64.encode(server_key.as_ref())
    )
}

/// `ALTER ROLE postgres PASSWORD '<verifier>'` in single-user mode (the server is not running).
fn set_verifier(
    bins: &ServerBinaries,
    root: &Path,
    data: &Path,
    account: Option<Account>,
    verifier: &str,
) -> Result<(), PgError> {
    let mut cmd = Command::new(bins.postgres());
    cmd.args(["--single", "-D", path_str(data)?, "-c", "listen_addresses="])
        .arg("postgres")
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_as(&mut cmd, account);
    let mut child = cmd
        .spawn()
        .map_err(|e| PgError::Setup(format!("running postgres --single: {e}")))?;
    let statement = format!("ALTER ROLE postgres PASSWORD '{verifier}';\n");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(statement.as_bytes())
            .map_err(|e| PgError::Setup(format!("postgres --single: {e}")))?;
    } // closing stdin ends the session
    let out = child
        .wait_with_output()
        .map_err(|e| PgError::Setup(format!("postgres --single: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Single-user mode reports a failed statement on stderr and still exits 0.
    if !out.status.success() || stderr.contains("ERROR:") || stderr.contains("FATAL:") {
        return Err(PgError::Setup(format!(
            "setting the superuser password failed ({}): {}",
            out.status,
            stderr.trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_verifier_matches_rfc7677() {
        // RFC 7677's example: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = base64::engine::general_purpose::STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .unwrap();
        let v = verifier_with("pencil", &salt, 4096);
        assert_eq!(
            v,
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
        // The RFC's server signature (v=…) over its AuthMessage, from our ServerKey.
        let server_key = base64::engine::general_purpose::STANDARD
            .decode(v.rsplit(':').next().unwrap())
            .unwrap();
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &server_key);
        let signature = ring::hmac::sign(&key, auth_message.as_bytes());
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn a_password_file_someone_else_could_read_is_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mlc-pw-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(PASSWORD_FILE);
        let first = read_or_create(&path).unwrap();
        assert_eq!(first.expose().len(), PASSWORD_LEN);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_or_create(&path).unwrap(), first, "kept across starts");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let second = read_or_create(&path).unwrap();
        assert_ne!(second, first, "a readable file is not trusted");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
