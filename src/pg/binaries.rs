//! Finds the PostgreSQL server binaries (initdb, postgres) installed on the machine.

use std::path::{Path, PathBuf};

use super::PgError;

/// Directory holding `initdb` and `postgres`.
#[derive(Debug, Clone)]
pub struct ServerBinaries {
    pub bin_dir: PathBuf,
}

impl ServerBinaries {
    pub fn initdb(&self) -> PathBuf {
        self.bin_dir.join("initdb")
    }
    pub fn postgres(&self) -> PathBuf {
        self.bin_dir.join("postgres")
    }

    /// `ML_CONNECTOR_PG_BIN` first, then the newest `/usr/lib/postgresql/*/bin`, then `PATH`.
    pub fn locate() -> Result<Self, PgError> {
        if let Some(dir) = std::env::var_os("ML_CONNECTOR_PG_BIN") {
            let dir = PathBuf::from(dir);
            return if has_server(&dir) {
                Ok(Self { bin_dir: dir })
            } else {
                Err(PgError::BinariesMissing(format!(
                    "ML_CONNECTOR_PG_BIN={} holds no initdb/postgres",
                    dir.display()
                )))
            };
        }
        if let Some(dir) = newest_debian_bin_dir() {
            return Ok(Self { bin_dir: dir });
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if has_server(&dir) {
                    // initdb on PATH is often a symlink into the real bin dir; postgres must sit beside it.
                    let real = std::fs::canonicalize(dir.join("initdb"))
                        .ok()
                        .and_then(|p| p.parent().map(Path::to_path_buf))
                        .unwrap_or(dir);
                    return Ok(Self { bin_dir: real });
                }
            }
        }
        Err(PgError::BinariesMissing(
            "no initdb/postgres found in /usr/lib/postgresql/*/bin or on PATH".into(),
        ))
    }
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn newest_debian_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}
