//! The Windows build of the agent (scripts/build-windows-agent) under Wine, on the ODBC backend: a
//! DSN in an odbc.ini (the driver manager's own file, as a Sage site's System DSN), Wine's odbc32
//! bridging to unixODBC and the PostgreSQL driver, and the conformance suite's questions over HTTP
//! on loopback. The answers must equal the simulated BOI's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::Method;

use super::agent_conformance::{
    ask, assert_meaningful, assert_same, sage_database, scenario, transcript,
};
use crate::common::sage100::{start_rig, AGENT_KEY};
use ml_connector::sim::sage100::sage_db::OdbcTarget;

pub fn windows_agent() -> PathBuf {
    let exe = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/windows/x86_64-pc-windows-gnu/debug/ml-connector-agent.exe");
    assert!(
        exe.exists(),
        "{} is missing: build it with scripts/build-windows-agent (scripts/test does)",
        exe.display()
    );
    exe
}

/// Wine's loader for 64-bit programs (../shared/reference/windows-build.md).
pub fn wine64() -> PathBuf {
    let p = PathBuf::from("/usr/lib/wine/wine64");
    assert!(
        p.exists(),
        "Wine is missing: apt-get install wine64 wine (scripts/test does)"
    );
    p
}

/// A path as the Windows program sees it (Wine maps Z: to /).
pub fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

/// One Wine prefix for the test run, with the ProcessPrng shim Wine 8 lacks. It is made once
/// per process and left to settle: `wine64 wineboot --init` on a missing prefix boots it twice
/// at once (the loader's own boot and the one asked for), which leaves two service managers
/// with two service databases, and tests starting Wine together would do the same.
pub fn prefix() -> PathBuf {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wine-prefix");
            let system32 = dir.join("drive_c/windows/system32");
            if !system32.exists() {
                // Any program boots a missing prefix, once; waiting for the wineserver to end
                // lets that boot (and the service manager it starts) finish before tests run.
                let status = wine_quiet(&dir).args(["cmd", "/c", "exit"]).status();
                assert!(
                    status.expect("wine64 runs").success(),
                    "booting {dir:?} failed"
                );
                let settled = Command::new("wineserver")
                    .arg("-w")
                    .env("WINEPREFIX", &dir)
                    .status();
                assert!(settled.expect("wineserver runs").success());
            }
            let shim =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("target/windows/bcryptprimitives.dll");
            std::fs::copy(&shim, system32.join("bcryptprimitives.dll")).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (scripts/build-windows-agent makes it)",
                    shim.display()
                )
            });
            dir
        })
        .clone()
}

fn wine_quiet(dir: &Path) -> Command {
    let mut c = Command::new(wine64());
    c.env("WINEPREFIX", dir)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Windows agent running under Wine over a Sage-shaped database (a DSN in an odbc.ini).
pub struct WineAgent {
    pub base: String,
    pub dir: PathBuf,
    _running: Running,
}

impl WineAgent {
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }
}

/// The Sage password the agent is given (trust authentication ignores it).
pub fn sage_password(target: &OdbcTarget) -> String {
    if target.password.is_empty() {
        "unused-with-trust-auth".to_string()
    } else {
        target.password.clone()
    }
}

/// Start the .exe with `backend` and wait until it answers; `env` reaches the agent's process
/// (and so an in-process COM server).
pub async fn start_wine_agent(
    target: &OdbcTarget,
    backend: &str,
    env: &[(&str, String)],
) -> WineAgent {
    let exe = windows_agent();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wine-agent-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    // The DSN, as a site defines it for the ProvideX driver (here: PostgreSQL's).
    let mut ini = "[MLC_SAGE_ABC]\nDriver=PostgreSQL Unicode\n".to_string();
    for (k, v) in target.attributes() {
        ini.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(dir.join("odbc.ini"), ini).unwrap();
    let port = free_port();
    let settings = format!(
        "listen = \"127.0.0.1:{port}\"\ncompanies = [\"ABC\"]\nsage_user = \"{}\"\nplain_http = true\nbackend = \"{backend}\"\n\n[odbc]\nconnection = \"DSN=MLC_SAGE_{{company}}\"\n",
        target.user
    );
    std::fs::write(dir.join("ml-connector-agent.toml"), settings).unwrap();
    let mut command = Command::new(wine64());
    command
        .arg(&exe)
        .arg("--config")
        .arg(windows_path(&dir.join("ml-connector-agent.toml")))
        .env("WINEPREFIX", prefix())
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env("ODBCINI", dir.join("odbc.ini"))
        .env("RUST_BACKTRACE", "1")
        .env("ML_AGENT_API_KEY", AGENT_KEY)
        .env("ML_AGENT_SAGE_PASSWORD", sage_password(target))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.log")).unwrap());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("wine64 starts the agent");
    let agent = WineAgent {
        base: format!("http://127.0.0.1:{port}"),
        dir,
        _running: Running(child),
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let up = reqwest::Client::new()
            .get(format!("{}{}", agent.base, mlc_agent_api::paths::HEALTH))
            .header(mlc_agent_api::API_KEY_HEADER, AGENT_KEY)
            .send()
            .await
            .is_ok();
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Windows agent did not start: {}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    agent
}

#[tokio::test]
async fn the_windows_agent_under_wine_answers_as_the_simulated_boi_does() {
    let rig = start_rig().await;
    let facts = scenario(&rig).await;
    let reference = transcript(&rig.agent_url, &facts).await;
    assert_meaningful(&reference, &facts);
    let target = sage_database(&rig.sim).await;
    let agent = start_wine_agent(&target, "odbc", &[]).await;
    let (status, health) = ask(&agent.base, Method::GET, mlc_agent_api::paths::HEALTH, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        health["Companies"][0]["ReturnCode"],
        serde_json::json!(1),
        "the DSN connects: {health} {}",
        agent.log()
    );
    let answers = transcript(&agent.base, &facts).await;
    assert_same(&reference, &answers, "the Windows agent under Wine");
}
