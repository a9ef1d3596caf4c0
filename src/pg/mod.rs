//! Embedded PostgreSQL: a private cluster started from the server binaries installed on the machine.
//!
//! initdb into a data folder, listen only on a Unix socket inside our own folder (no TCP port),
//! run as an unprivileged account when we are root, and accept only the superuser's random
//! password (`auth`: never `trust`, since that account may be shared). The server runs under a tiny shell supervisor
//! whose stdin is a pipe from this process: when this process exits, however it exits (even
//! SIGKILL), the pipe closes and the supervisor shuts the server down (and removes an ephemeral
//! folder). So no test run or demo can leak a server.

mod auth;
mod binaries;
mod user;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use auth::PASSWORD_FILE;
pub use binaries::ServerBinaries;

use crate::secret::Secret;

/// Port number used only to name the socket file (`.s.PGSQL.5432`); no TCP listener exists.
const SOCKET_PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes.
const MAX_SOCKET_DIR_LEN: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries not found ({0}). Install them, e.g. `apt-get install -y postgresql` \
         on Debian/Ubuntu, or set ML_CONNECTOR_PG_BIN to the folder holding initdb and postgres, \
         or set DATABASE_URL to use an existing server"
    )]
    BinariesMissing(String),
    #[error("embedded PostgreSQL setup failed: {0}")]
    Setup(String),
    #[error("embedded PostgreSQL did not start: {0}")]
    Start(String),
}

/// How to start the embedded cluster.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Folder that holds `data/`, the socket and `postgres.log`.
    pub root: PathBuf,
    /// Remove the whole folder when the server stops (demo, tests).
    pub ephemeral: bool,
    /// fsync off: for tests only, never for data that matters.
    pub unsafe_fast: bool,
}

impl StartOptions {
    /// A fresh folder under the system temp dir, removed on stop.
    pub fn ephemeral(label: &str, unsafe_fast: bool) -> Self {
        let unique = format!(
            "mlc-{label}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            root: std::env::temp_dir().join(unique),
            ephemeral: true,
            unsafe_fast,
        }
    }
}

/// A running private cluster. Dropping it stops the server.
pub struct EmbeddedPostgres {
    root: PathBuf,
    /// The superuser's password (see `auth`).
    password: Secret,
    supervisor: Option<Child>,
}

impl EmbeddedPostgres {
    /// Start (and initdb on first use). Blocking: takes about a second on first initdb.
    pub fn start(opts: &StartOptions) -> Result<Self, PgError> {
        let bins = ServerBinaries::locate()?;
        let account = user::server_account()?;
        let root = absolute(&opts.root)?;
        if root.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            return Err(PgError::Setup(format!(
                "folder path {} is too long for a Unix socket (max {MAX_SOCKET_DIR_LEN} bytes)",
                root.display()
            )));
        }
        std::fs::create_dir_all(&root)
            .map_err(|e| PgError::Setup(format!("creating {}: {e}", root.display())))?;
        set_mode(&root, 0o700)?;
        user::hand_over(&root, account)?;
        let data = root.join("data");
        if !data.join("PG_VERSION").exists() {
            initdb(&bins, &root, &data, account)?;
        }
        // Before the server listens: password logins only (a fresh initdb says `trust`).
        let password = auth::prepare(&bins, &root, &data, account)?;
        let log = root.join("postgres.log");
        let mut server_args: Vec<String> = [
            "-D",
            path_str(&data)?,
            "-k",
            path_str(&root)?,
            "-p",
            &SOCKET_PORT.to_string(),
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if opts.unsafe_fast {
            for setting in [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ] {
                server_args.push("-c".into());
                server_args.push(setting.into());
            }
        }
        let script = r#"
"$0" "$@" >>"$MLC_PG_LOG" 2>&1 &
pid=$!
cat >/dev/null
kill -INT "$pid" 2>/dev/null
wait "$pid"
if [ "$MLC_PG_EPHEMERAL" = 1 ]; then rm -rf "$MLC_PG_ROOT"; fi
"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(bins.postgres())
            .args(&server_args)
            .env("MLC_PG_LOG", &log)
            .env("MLC_PG_ROOT", &root)
            .env("MLC_PG_EPHEMERAL", if opts.ephemeral { "1" } else { "0" })
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group: a terminal's Ctrl-C reaches us, and we stop the server in order.
            .process_group(0);
        run_as(&mut cmd, account);
        let child = cmd
            .spawn()
            .map_err(|e| PgError::Start(format!("spawning supervisor: {e}")))?;
        let mut me = Self {
            root: root.clone(),
            password,
            supervisor: Some(child),
        };
        me.wait_ready(&data, &log)?;
        Ok(me)
    }

    /// Async-friendly start.
    pub async fn start_async(opts: StartOptions) -> Result<Self, PgError> {
        tokio::task::spawn_blocking(move || Self::start(&opts))
            .await
            .map_err(|e| PgError::Start(format!("start task: {e}")))?
    }

    fn wait_ready(&mut self, data: &Path, log: &Path) -> Result<(), PgError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Like pg_ctl: postmaster.pid's 8th line says "ready" once connections are accepted.
            if let Ok(pid_file) = std::fs::read_to_string(data.join("postmaster.pid")) {
                if pid_file.lines().nth(7).map(str::trim) == Some("ready") {
                    return Ok(());
                }
            }
            if let Some(child) = self.supervisor.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(PgError::Start(format!(
                        "server exited ({status}); log tail:\n{}",
                        tail(log)
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(PgError::Start(format!(
                    "not ready after 60 s; log tail:\n{}",
                    tail(log)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection URL for `database` over the Unix socket (percent-encoded socket folder as
    /// host), with the superuser's password: a secret, like the URL of any database server.
    pub fn url(&self, database: &str) -> String {
        let host: String = self
            .root
            .to_string_lossy()
            .bytes()
            .map(|b| match b {
                b'/' => "%2F".to_string(),
                b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        // The password is [A-Za-z0-9] only: nothing to encode.
        format!(
            "postgres://postgres:{}@{host}:{SOCKET_PORT}/{database}",
            self.password.expose()
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stop the server and wait for it (up to 30 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.supervisor.take() {
            drop(child.stdin.take()); // EOF → the supervisor stops the server
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn initdb(
    bins: &ServerBinaries,
    root: &Path,
    data: &Path,
    account: Option<user::Account>,
) -> Result<(), PgError> {
    let mut cmd = Command::new(bins.initdb());
    cmd.args(["-D", path_str(data)?])
        // `trust` only until `auth::prepare` replaces pg_hba.conf, before the server first starts.
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        .args(["--no-instructions", "--no-sync"])
        .current_dir(root)
        .stdin(Stdio::null())
        // Own process group: a terminal's Ctrl-C reaches us, not a half-done initdb.
        .process_group(0);
    run_as(&mut cmd, account);
    let out = cmd
        .output()
        .map_err(|e| PgError::Setup(format!("running {}: {e}", bins.initdb().display())))?;
    if !out.status.success() {
        return Err(PgError::Setup(format!(
            "initdb failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn run_as(cmd: &mut Command, account: Option<user::Account>) {
    // std drops root's supplementary groups itself when it changes the uid.
    if let Some(a) = account {
        cmd.gid(a.gid).uid(a.uid);
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), PgError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| PgError::Setup(format!("chmod {}: {e}", path.display())))
}

fn absolute(path: &Path) -> Result<PathBuf, PgError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| PgError::Setup(format!("current dir: {e}")))
}

fn path_str(path: &Path) -> Result<&str, PgError> {
    path.to_str()
        .ok_or_else(|| PgError::Setup(format!("path is not UTF-8: {}", path.display())))
}

fn tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
