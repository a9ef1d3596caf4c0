//! Configuration: environment variables, or a TOML config file (`--config FILE` or
//! `ML_CONNECTOR_CONFIG`) whose keys stand for the same variables (a variable that is set wins).
//! Values are checked before anything starts; a bad one is one error naming the variable.
//! Secrets stay out of config files: the master key comes from `ML_CONNECTOR_MASTER_KEY` or the
//! file named by `master_key_file`.

use std::path::Path;

/// (config file key, environment variable, what it must be)
const SETTINGS: &[(&str, &str, Kind)] = &[
    ("database_url", "DATABASE_URL", Kind::PostgresUrl),
    ("data_dir", "ML_CONNECTOR_DATA_DIR", Kind::Text),
    ("workflows_dir", "ML_CONNECTOR_WORKFLOWS_DIR", Kind::Folder),
    ("workers", "ML_CONNECTOR_WORKERS", Kind::Count),
    ("listen", "ML_CONNECTOR_LISTEN", Kind::SocketAddr),
    (
        "metrics_listen",
        "ML_CONNECTOR_METRICS_LISTEN",
        Kind::SocketAddr,
    ),
    ("retention_days", "ML_CONNECTOR_RETENTION_DAYS", Kind::Count),
    (
        "log_format",
        "ML_CONNECTOR_LOG_FORMAT",
        Kind::OneOf(&["auto", "human", "json"]),
    ),
    ("log", "RUST_LOG", Kind::Text),
    (
        "master_key_file",
        "ML_CONNECTOR_MASTER_KEY_FILE",
        Kind::File,
    ),
    ("notify_file", "ML_CONNECTOR_NOTIFY_FILE", Kind::File),
    ("pg_bin", "ML_CONNECTOR_PG_BIN", Kind::Folder),
    ("pg_user", "ML_CONNECTOR_PG_USER", Kind::Text),
];

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Count,
    SocketAddr,
    PostgresUrl,
    Folder,
    File,
    OneOf(&'static [&'static str]),
}

fn check(var: &str, value: &str, kind: Kind) -> Result<(), String> {
    let bad = |what: &str| Err(format!("{var}={value:?}: {what}"));
    match kind {
        Kind::Text => Ok(()),
        Kind::Count => match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(()),
            _ => bad("must be a whole number above 0"),
        },
        Kind::SocketAddr => match value.parse::<std::net::SocketAddr>() {
            Ok(_) => Ok(()),
            Err(_) => bad("must be an address and port, e.g. 0.0.0.0:8080"),
        },
        Kind::PostgresUrl => match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => Ok(()),
            _ => Err("DATABASE_URL is not a postgres:// URL".to_string()),
        },
        Kind::Folder if Path::new(value).is_dir() => Ok(()),
        Kind::Folder => bad("no such folder"),
        Kind::File if Path::new(value).is_file() => Ok(()),
        Kind::File => bad("no such file"),
        Kind::OneOf(allowed) if allowed.contains(&value) => Ok(()),
        Kind::OneOf(allowed) => bad(&format!("must be one of {}", allowed.join(", "))),
    }
}

/// The config file named on the command line (`--config F` / `--config=F`) or in the environment.
fn config_path(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.to_string());
        }
    }
    std::env::var("ML_CONNECTOR_CONFIG").ok()
}

/// A config file's text → (environment variable, value) pairs, unchecked. Unknown keys and values
/// that are neither text nor numbers are errors.
pub fn parse_file(text: &str) -> Result<Vec<(&'static str, String)>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut pairs = Vec::new();
    for (key, value) in table {
        let Some((_, var, _)) = SETTINGS.iter().find(|(k, _, _)| *k == key) else {
            let known: Vec<&str> = SETTINGS.iter().map(|(k, _, _)| *k).collect();
            return Err(format!(
                "unknown setting {key:?} (known: {}; secrets belong in the environment)",
                known.join(", ")
            ));
        };
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            other => {
                return Err(format!(
                    "{key} must be a string or a number, not a {}",
                    other.type_str()
                ))
            }
        };
        pairs.push((*var, text));
    }
    Ok(pairs)
}

/// Check one variable's value (variables this module does not know are accepted).
pub fn check_value(var: &str, value: &str) -> Result<(), String> {
    match SETTINGS.iter().find(|(_, v, _)| *v == var) {
        Some((_, _, kind)) => check(var, value, *kind),
        None => Ok(()),
    }
}

/// Apply the config file (variables not already set) and check every variable that is set.
/// Call before the async runtime starts (it sets environment variables).
pub fn load(args: &[String]) -> Result<(), String> {
    if let Some(path) = config_path(args) {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("config file {path}: {e}"))?;
        for (var, text) in parse_file(&text).map_err(|e| format!("config file {path}: {e}"))? {
            if std::env::var_os(var).is_none() {
                // SAFETY: called from main before any other thread exists.
                unsafe { std::env::set_var(var, text) };
            }
        }
    }
    for (_, var, kind) in SETTINGS {
        if let Ok(value) = std::env::var(var) {
            check(var, &value, *kind)?;
        }
    }
    if let Ok(spec) = std::env::var("ML_CONNECTOR_MASTER_KEY") {
        crate::vault::Vault::from_spec(&spec)
            .map_err(|e| format!("ML_CONNECTOR_MASTER_KEY: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_the_variable() {
        assert_eq!(
            check("ML_CONNECTOR_WORKERS", "many", Kind::Count).unwrap_err(),
            "ML_CONNECTOR_WORKERS=\"many\": must be a whole number above 0"
        );
        assert!(check("ML_CONNECTOR_LISTEN", "8080", Kind::SocketAddr)
            .unwrap_err()
            .starts_with("ML_CONNECTOR_LISTEN="));
        assert_eq!(
            check("DATABASE_URL", "mysql://x", Kind::PostgresUrl).unwrap_err(),
            "DATABASE_URL is not a postgres:// URL"
        );
        assert!(check("DATABASE_URL", "postgres://u:p@h/db", Kind::PostgresUrl).is_ok());
        assert!(check(
            "ML_CONNECTOR_LOG_FORMAT",
            "xml",
            Kind::OneOf(&["auto", "json"])
        )
        .unwrap_err()
        .contains("one of auto, json"));
    }

    #[test]
    fn config_path_from_arguments() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            config_path(&a(&["ml-connector", "--config", "c.toml", "serve"])).as_deref(),
            Some("c.toml")
        );
        assert_eq!(
            config_path(&a(&["ml-connector", "serve", "--config=d.toml"])).as_deref(),
            Some("d.toml")
        );
    }
}
