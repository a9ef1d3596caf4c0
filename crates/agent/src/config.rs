//! The agent's settings: a TOML file beside the executable (`ml-connector-agent.toml`). Secrets are
//! never in it: the Sage password and the API key come from the environment or from files only the
//! service account can read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mlc_secret::Secret;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the agent's settings {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the agent's settings {path} are not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Secret(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Address to listen on, e.g. `0.0.0.0:8443`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Company codes served.
    pub companies: Vec<String>,
    /// The Sage user for ODBC logons and BOI sessions.
    pub sage_user: String,
    /// A file holding the Sage password (else ML_AGENT_SAGE_PASSWORD).
    pub sage_password_file: Option<PathBuf>,
    /// A file holding the API key the connector presents (else ML_AGENT_API_KEY).
    pub api_key_file: Option<PathBuf>,
    /// `odbc` (reads only), `odbc+com` (reads through ODBC, writes through BOI over COM: what a
    /// site runs) or `com` (reads and writes through BOI). COM exists on Windows only.
    #[serde(default = "default_backend")]
    pub backend: String,
    pub odbc: Option<OdbcSection>,
    pub com: Option<ComSection>,
    pub tls: Option<TlsSection>,
    /// Plain HTTP on a loopback address (trials and tests only).
    #[serde(default)]
    pub plain_http: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdbcSection {
    /// The connection string with `{company}`; no UID/PWD (added from sage_user and the password).
    pub connection: String,
    #[serde(default = "default_timeout")]
    pub query_timeout_secs: usize,
    #[serde(default = "default_connections")]
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComSection {
    /// Sage's `MAS90\Home` folder, for ProvideX.Script's `Init` (local or UNC).
    pub sage_home: Option<String>,
    /// BOI sessions open at once (each is a ProvideX.Script + SY_Session on its own thread).
    #[serde(default = "default_sessions")]
    pub max_sessions: usize,
    /// A session is closed and a fresh one opened after this long (Sage sites recycle BOI
    /// sessions after a few hours).
    #[serde(default = "default_session_hours")]
    pub session_max_hours: u64,
    /// Parts of BOI error texts that mean another user holds the record (matched case-insensitively
    /// in `LastErrorMsg`), besides the built-in "in use by another", "locked by another" and "record
    /// is locked": Sage does not publish its exact text, which may differ by version or language.
    /// Such a failure is answered `record_locked` (409), which the connector retries with backoff.
    #[serde(default)]
    pub record_lock_texts: Vec<String>,
}

impl Default for ComSection {
    fn default() -> Self {
        Self {
            sage_home: None,
            max_sessions: default_sessions(),
            session_max_hours: default_session_hours(),
            record_lock_texts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates signed by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// Most lock texts a site may name, and their length bounds: a text of a letter or two would take
/// every refusal for a lock, and the connector would retry a real refusal for ever.
const MAX_RECORD_LOCK_TEXTS: usize = 20;
const RECORD_LOCK_TEXT_CHARS: std::ops::RangeInclusive<usize> = 6..=200;

fn validate_record_lock_texts(texts: &mut [String]) -> Result<(), String> {
    if texts.len() > MAX_RECORD_LOCK_TEXTS {
        return Err(format!(
            "com.record_lock_texts: at most {MAX_RECORD_LOCK_TEXTS} texts, not {}",
            texts.len()
        ));
    }
    for t in texts.iter_mut() {
        *t = t.trim().to_string();
        let n = t.chars().count();
        if !RECORD_LOCK_TEXT_CHARS.contains(&n) || t.chars().any(char::is_control) {
            return Err(format!(
                "com.record_lock_texts: {t:?} must be {} to {} characters of one line (a part of Sage's message)",
                RECORD_LOCK_TEXT_CHARS.start(),
                RECORD_LOCK_TEXT_CHARS.end()
            ));
        }
    }
    Ok(())
}

fn default_listen() -> String {
    "127.0.0.1:8443".into()
}
fn default_backend() -> String {
    "odbc".into()
}
fn default_timeout() -> usize {
    120
}
fn default_connections() -> usize {
    4
}
fn default_sessions() -> usize {
    2
}
fn default_session_hours() -> u64 {
    4
}

/// Where reads and writes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Odbc,
    OdbcCom,
    Com,
}

impl Backend {
    pub fn parse(name: &str) -> Result<Self, String> {
        let b = match name {
            "odbc" => Self::Odbc,
            "odbc+com" => Self::OdbcCom,
            "com" => Self::Com,
            other => {
                return Err(format!(
                    "backend {other:?} is not one of odbc, odbc+com, com"
                ))
            }
        };
        if b != Self::Odbc && !cfg!(windows) {
            return Err(format!(
                "backend {name:?} needs Sage's COM server: it runs on Windows only"
            ));
        }
        Ok(b)
    }

    pub fn reads_odbc(self) -> bool {
        self != Self::Com
    }

    pub fn uses_com(self) -> bool {
        self != Self::Odbc
    }
}

/// The settings file's largest sane size.
const MAX_SETTINGS_BYTES: u64 = 64 * 1024;

impl AgentSettings {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, None)
    }

    /// The settings, with `backend` (the command line's `--backend`) in place of the file's.
    pub fn load_with(path: &Path, backend: Option<&str>) -> Result<Self, ConfigError> {
        let read = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_SETTINGS_BYTES {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("{len} bytes (at most {MAX_SETTINGS_BYTES})"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let mut settings: Self = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(b) = backend {
            settings.backend = b.to_string();
        }
        settings.resolve_relative_to(path.parent().unwrap_or(Path::new(".")));
        settings
            .validate()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(settings)
    }

    /// Paths in the file are relative to the file (a service's working directory is System32).
    fn resolve_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(p) = &mut self.sage_password_file {
            fix(p);
        }
        if let Some(p) = &mut self.api_key_file {
            fix(p);
        }
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
            if let Some(ca) = &mut tls.client_ca {
                fix(ca);
            }
        }
    }

    fn validate(&mut self) -> Result<(), String> {
        self.listen_addr()?;
        if self.companies.is_empty() {
            return Err("companies: name at least one company code".into());
        }
        for co in &mut self.companies {
            *co = co.trim().to_ascii_uppercase();
            if co.len() != 3 || !co.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "companies: {co:?} is not a Sage company code (3 letters or digits)"
                ));
            }
        }
        let backend = self.backend()?;
        match (backend.reads_odbc(), &self.odbc) {
            (true, Some(odbc)) => {
                if !odbc.connection.contains("{company}") && self.companies.len() > 1 {
                    return Err("odbc.connection: put {company} where the company code goes (several companies are served)".into());
                }
                let lower = odbc.connection.to_ascii_lowercase();
                if lower.contains("pwd=") || lower.contains("password=") {
                    return Err("odbc.connection: leave the password out (sage_password_file or ML_AGENT_SAGE_PASSWORD)".into());
                }
            }
            (true, None) => {
                return Err(format!("backend {} needs an [odbc] section", self.backend))
            }
            (false, _) => {}
        }
        if let Some(com) = &mut self.com {
            validate_record_lock_texts(&mut com.record_lock_texts)?;
        }
        if self.tls.is_none() && !self.plain_http {
            return Err("give a [tls] section (cert, key, optional client_ca), or plain_http = true for loopback trials".into());
        }
        Ok(())
    }

    /// The site's lock texts (`[com] record_lock_texts`), none without a `[com]` section.
    pub fn record_lock_texts(&self) -> &[String] {
        self.com.as_ref().map_or(&[], |c| &c.record_lock_texts)
    }

    pub fn backend(&self) -> Result<Backend, String> {
        Backend::parse(&self.backend)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|_| format!("listen: {:?} is not an address:port", self.listen))
    }

    pub fn sage_password(&self) -> Result<Secret, ConfigError> {
        secret(
            self.sage_password_file.as_deref(),
            "ML_AGENT_SAGE_PASSWORD",
            "the Sage password",
        )
    }

    /// The API key, when one is set (the server refuses to run without any authentication).
    pub fn api_key(&self) -> Result<Option<Secret>, ConfigError> {
        match secret(
            self.api_key_file.as_deref(),
            "ML_AGENT_API_KEY",
            "the API key",
        ) {
            Ok(s) => Ok(Some(s)),
            Err(ConfigError::Secret(_)) if self.api_key_file.is_none() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A secret from its file (first line) or the environment; never empty.
fn secret(file: Option<&Path>, env: &str, what: &str) -> Result<Secret, ConfigError> {
    let value = match file {
        Some(path) => {
            check_private(path)?;
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::Secret(format!("cannot read {what} from {}: {e}", path.display()))
            })?;
            text.lines().next().unwrap_or_default().trim().to_string()
        }
        None => std::env::var(env).unwrap_or_default(),
    };
    if value.is_empty() {
        return Err(ConfigError::Secret(format!(
            "{what} is not set: put it in {env} or in a file named in the settings"
        )));
    }
    Ok(Secret::new(value))
}

/// A secret file others can read is refused (on Windows the folder's ACL does this job; see
/// docs/agent-install.md).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| ConfigError::Secret(format!("cannot read {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::Secret(format!(
            "{} can be read by other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), ConfigError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_settings_shipped_with_the_agent_are_valid() {
        let mut s: AgentSettings =
            toml::from_str(include_str!("../ml-connector-agent.sample.toml")).unwrap();
        assert_eq!(s.backend, "odbc+com");
        let com = s.com.clone().unwrap();
        assert_eq!((com.max_sessions, com.session_max_hours), (2, 4));
        assert!(com.sage_home.unwrap().ends_with(r"MAS90\Home"));
        if !cfg!(windows) {
            // COM is refused off Windows; the rest must hold.
            assert!(s.validate().unwrap_err().contains("Windows only"));
            s.backend = "odbc".into();
        }
        s.validate().unwrap();
    }

    fn with_record_lock_texts(texts: &[&str]) -> Result<AgentSettings, String> {
        let list: Vec<String> = texts.iter().map(|t| format!("{t:?}")).collect();
        let mut s: AgentSettings = toml::from_str(&format!(
            "companies = [\"ABC\"]\nsage_user = \"u\"\nplain_http = true\nbackend = \"odbc\"\n\
             [odbc]\nconnection = \"DSN=X\"\n[com]\nrecord_lock_texts = [{}]\n",
            list.join(", ")
        ))
        .map_err(|e| e.to_string())?;
        s.validate().map(|()| s)
    }

    #[test]
    fn a_site_names_its_own_lock_texts_within_bounds() {
        let s = with_record_lock_texts(&["  wird von einem anderen Benutzer  "]).unwrap();
        assert_eq!(s.record_lock_texts(), ["wird von einem anderen Benutzer"]);
        assert!(with_record_lock_texts(&[])
            .unwrap()
            .record_lock_texts()
            .is_empty());
        // Short enough to match any refusal: a real refusal would be retried for ever.
        assert!(with_record_lock_texts(&["in"])
            .unwrap_err()
            .contains("record_lock_texts"));
        assert!(with_record_lock_texts(&["two\nlines"])
            .unwrap_err()
            .contains("record_lock_texts"));
        assert!(with_record_lock_texts(&[&"x".repeat(201)]).is_err());
        assert!(with_record_lock_texts(&["locked by the clerk"; 21])
            .unwrap_err()
            .contains("at most 20"));
        assert!(with_record_lock_texts(&["locked by the clerk"; 20]).is_ok());
    }
}
