//! The agent's Windows service commands, run under Wine's service manager (services.exe, sc,
//! net): `install` registers it, the service manager starts it (`run` then reports to the
//! service manager and serves), a stop request ends it cleanly (logged in its rolling log file),
//! `uninstall` removes it. What Wine cannot show is listed in ARCHITECTURE.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::agent_windows::{free_port, prefix, windows_agent, windows_path, wine64};
use crate::common::sage100::AGENT_KEY;

const SERVICE: &str = "MLConnectorAgent";

fn wine(args: &[&str]) -> Output {
    Command::new(wine64())
        .args(args)
        .env("WINEPREFIX", prefix())
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdin(Stdio::null())
        .output()
        .expect("wine64 runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn agent(settings: &Path, command: &str) -> Output {
    let exe = windows_agent();
    wine(&[
        exe.to_str().unwrap(),
        "--config",
        &windows_path(settings),
        command,
    ])
}

/// A Wine console waiting on its input for as long as the test runs.
struct KeepAlive(std::process::Child);

impl KeepAlive {
    fn start() -> Self {
        let child = Command::new(wine64())
            .arg("cmd")
            .env("WINEPREFIX", prefix())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wine64 starts a console");
        Self(child)
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn health(base: &str) -> Option<u16> {
    reqwest::Client::new()
        .get(format!("{base}{}", mlc_agent_api::paths::HEALTH))
        .header(mlc_agent_api::API_KEY_HEADER, AGENT_KEY)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn the_agent_installs_runs_stops_and_uninstalls_as_a_windows_service() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wine-service-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    // A service gets no environment of ours: the secrets come from files named in the settings.
    std::fs::write(dir.join("api-key.txt"), format!("{AGENT_KEY}\n")).unwrap();
    std::fs::write(dir.join("sage-password.txt"), "not-used\n").unwrap();
    let port = free_port();
    let settings = dir.join("ml-connector-agent.toml");
    std::fs::write(
        &settings,
        format!(
            "listen = \"127.0.0.1:{port}\"\ncompanies = [\"ABC\"]\nsage_user = \"svc\"\n\
             plain_http = true\napi_key_file = \"api-key.txt\"\nsage_password_file = \"sage-password.txt\"\n\
             [odbc]\nconnection = \"DSN=MLC_NO_SUCH_DSN\"\n"
        ),
    )
    .unwrap();
    // Wine ends the service manager, and the services it started, once no ordinary program runs
    // in the prefix: a console held open keeps the prefix alive for the test.
    let _alive = KeepAlive::start();
    // A service left by an interrupted run is removed first.
    let _ = agent(&settings, "uninstall");

    // The backend on the command line is kept in the service's own command line.
    let exe = windows_agent();
    let installed = wine(&[
        exe.to_str().unwrap(),
        "--config",
        &windows_path(&settings),
        "--backend",
        "odbc",
        "install",
    ]);
    assert!(installed.status.success(), "{}", text(&installed));
    assert!(text(&installed).contains(&format!("service {SERVICE} installed")));
    let again = agent(&settings, "install");
    assert!(
        !again.status.success() && text(&again).contains("already installed"),
        "a second install is refused with its reason: {}",
        text(&again)
    );

    // The service manager may have started it already (automatic start); either way it runs.
    let started = wine(&["net", "start", SERVICE]);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let log = dir.join("logs/ml-connector-agent.log");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    while health(&base).await != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the service did not answer: net start: {} log: {}",
            text(&started),
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        read_log().contains("Sage 100 agent listening"),
        "{}",
        read_log()
    );

    let stopped = wine(&["net", "stop", SERVICE]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while health(&base).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the service did not stop: net stop: {} log: {}",
            text(&stopped),
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_log().contains("the agent stopped") {
        assert!(
            Instant::now() < deadline,
            "no clean stop logged: {}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(read_log().contains("the service manager asked the agent to stop"));
    assert!(
        !read_log().contains("not-used"),
        "the Sage password is never logged"
    );

    let removed = agent(&settings, "uninstall");
    assert!(removed.status.success(), "{}", text(&removed));
    let gone = agent(&settings, "uninstall");
    assert!(!gone.status.success(), "{}", text(&gone));
    assert!(
        text(&gone).contains("cannot open the service MLConnectorAgent: it is not installed"),
        "{}",
        text(&gone)
    );
}
