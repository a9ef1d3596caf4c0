//! Ctrl-C and SIGTERM, black-box on the real binary: the first signal stops a long-running command
//! within seconds with the conventional status (130 for SIGINT, 143 for SIGTERM), says what it
//! stopped, and leaves no process or folder behind (the embedded PostgreSQL included); a second
//! signal exits at once, and the embedded PostgreSQL's supervisor still cleans up after it.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bound: the process is gone within 10 s of the first signal.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// A running command with its output collected line by line.
struct Run {
    what: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(l) => sink.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
    lines
}

impl Run {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(common::binary());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the binary");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Self {
            what: args.join(" "),
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// Wait for a line on stdout (or stderr) that satisfies `pred`.
    fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            for lines in [&self.stdout, &self.stderr] {
                if let Some(l) = lines.lock().unwrap().iter().find(|l| pred(l)) {
                    return l.clone();
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before the expected line\n{}",
                    self.what,
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: no expected line within {timeout:?}\n{}",
                self.what,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Wait for the exit (killing the child and failing after `within`): the status and how long it took.
    fn wait_exit(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return (status, t0.elapsed());
            }
            if t0.elapsed() > within {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} still running {within:?} after the signal\n{}",
                    self.what,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (parent pid, state) of a process, from /proc/<pid>/stat; None once it is gone.
fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    matches!(stat(pid), Some((_, state)) if state != 'Z' && state != 'X')
}

/// Every live descendant of `pid` (the embedded PostgreSQL's supervisor and server, initdb, …).
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|p| stat(p).map(|(ppid, _)| (p, ppid)))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found.retain(|p| alive(*p));
    found
}

/// Live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
                && alive(*p)
        })
        .collect()
}

/// The ephemeral folders the demo made for its embedded PostgreSQL (named after its pid).
fn demo_folders(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("mlc-demo-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Nothing the command started outlives it: no former descendant, no process mentioning `needle`
/// (the demo's data folder), no such folder. A short wait covers the supervisor's own exit.
fn assert_nothing_left(run: &Run, children: &[u32], demo_pid: Option<u32>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<u32> = children.iter().copied().filter(|p| alive(*p)).collect();
        let (mentioning, folders) = match demo_pid {
            Some(pid) => (
                processes_mentioning(&format!("mlc-demo-{pid}-")),
                demo_folders(pid),
            ),
            None => (Vec::new(), Vec::new()),
        };
        if left.is_empty() && mentioning.is_empty() && folders.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} left behind: processes {left:?} {mentioning:?}, folders {folders:?}\n{}",
            run.what,
            run.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn expected_code(sig: i32) -> i32 {
    128 + sig
}

fn assert_status(run: &Run, status: ExitStatus, sig: i32) {
    assert_eq!(
        status.code(),
        Some(expected_code(sig)),
        "{}: exit status {status:?} (signal {:?})\n{}",
        run.what,
        status.signal(),
        run.output()
    );
}

/// When to signal the demo.
#[derive(Clone, Copy, Debug)]
enum Phase {
    StartUp,
    Orders,
    Tracking,
    KeepRunning,
}

fn demo_interrupted(phase: Phase, sig: i32) {
    let (args, json): (&[&str], bool) = match phase {
        Phase::StartUp | Phase::Orders => (&["demo", "--orders", "300"], false),
        Phase::Tracking => (&["demo", "--orders", "20"], false),
        Phase::KeepRunning => (
            &["demo", "--orders", "20", "--keep-running", "--json"],
            true,
        ),
    };
    let mut run = Run::start(args, &[]);
    match phase {
        Phase::StartUp => std::thread::sleep(Duration::from_millis(300)),
        Phase::Orders => {
            run.wait_line(Duration::from_secs(60), |l| l.contains("entered in Sage"));
        }
        Phase::Tracking => {
            run.wait_line(Duration::from_secs(90), |l| {
                l.contains("warehouse staff ship orders")
            });
        }
        Phase::KeepRunning => {
            run.wait_line(Duration::from_secs(90), |l| {
                l.contains("\"orders_in_shipstation\"") && !l.contains("\"interrupted\"")
            });
        }
    }
    let children = descendants(run.pid());
    run.signal(sig);
    let (status, took) = run.wait_exit(STOP_WITHIN);
    eprintln!("demo {phase:?} signal {sig}: stopped in {took:?}");
    assert_status(&run, status, sig);
    let stdout = run.stdout.lock().unwrap().clone();
    if json {
        let last: serde_json::Value = serde_json::from_str(stdout.last().expect("output"))
            .unwrap_or_else(|e| panic!("final JSON object: {e}\n{}", run.output()));
        assert_eq!(last["interrupted"], true, "{}", run.output());
        assert_eq!(last["orders"], 20, "{}", run.output());
        assert!(last["orders_in_shipstation"].is_u64(), "{last}");
    } else {
        let line = stdout
            .iter()
            .find(|l| l.starts_with("interrupted: "))
            .unwrap_or_else(|| panic!("no interrupted line\n{}", run.output()));
        let total = if matches!(phase, Phase::Tracking) {
            20
        } else {
            300
        };
        assert!(
            line.contains(&format!(" of {total} orders in ShipStation"))
                && line.ends_with("nothing is lost, run it again to finish"),
            "{line}"
        );
        if matches!(phase, Phase::Tracking) {
            assert!(line.contains("shipped"), "{line}");
        }
    }
    assert_nothing_left(&run, &children, Some(run.pid()));
}

#[tokio::test]
async fn demo_stops_on_sigint_during_start_up() {
    demo_interrupted(Phase::StartUp, libc::SIGINT);
}

#[tokio::test]
async fn demo_stops_on_sigterm_during_start_up() {
    demo_interrupted(Phase::StartUp, libc::SIGTERM);
}

#[tokio::test]
async fn demo_stops_on_sigint_during_orders() {
    demo_interrupted(Phase::Orders, libc::SIGINT);
}

#[tokio::test]
async fn demo_stops_on_sigterm_during_orders() {
    demo_interrupted(Phase::Orders, libc::SIGTERM);
}

#[tokio::test]
async fn demo_stops_on_sigint_during_tracking() {
    demo_interrupted(Phase::Tracking, libc::SIGINT);
}

#[tokio::test]
async fn demo_stops_on_sigterm_during_tracking() {
    demo_interrupted(Phase::Tracking, libc::SIGTERM);
}

#[tokio::test]
async fn demo_stops_on_sigint_when_kept_running() {
    demo_interrupted(Phase::KeepRunning, libc::SIGINT);
}

#[tokio::test]
async fn demo_stops_on_sigterm_when_kept_running() {
    demo_interrupted(Phase::KeepRunning, libc::SIGTERM);
}

/// A second Ctrl-C exits at once; the embedded PostgreSQL's supervisor sees our end of its pipe
/// close and stops the server and removes the demo's folder without us.
#[tokio::test]
async fn a_second_ctrl_c_exits_at_once_and_postgres_still_goes() {
    let mut run = Run::start(&["demo", "--orders", "300"], &[]);
    run.wait_line(Duration::from_secs(60), |l| l.contains("entered in Sage"));
    let children = descendants(run.pid());
    assert!(
        !processes_mentioning(&format!("mlc-demo-{}-", run.pid())).is_empty(),
        "the demo's PostgreSQL runs: {children:?}"
    );
    run.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(50));
    run.signal(libc::SIGINT);
    let (status, took) = run.wait_exit(STOP_WITHIN);
    eprintln!("demo, two SIGINTs: exited in {took:?}");
    assert_status(&run, status, libc::SIGINT);
    assert!(
        took < Duration::from_secs(3),
        "a second Ctrl-C exits at once: {took:?}"
    );
    assert!(
        run.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("SIGINT again: exiting now")),
        "the second signal ended it\n{}",
        run.output()
    );
    assert_nothing_left(&run, &children, Some(run.pid()));
}

fn serve_stops(sig: i32, url: &str) {
    let mut run = Run::start(
        &["serve", "--listen", "127.0.0.1:0", "--log-format", "json"],
        &[("DATABASE_URL", url)],
    );
    run.wait_line(Duration::from_secs(60), |l| {
        l.contains("worker pool") || l.contains("HTTP API listening")
    });
    // Up: the scheduler and the workers have started too.
    std::thread::sleep(Duration::from_millis(500));
    let children = descendants(run.pid());
    run.signal(sig);
    let (status, took) = run.wait_exit(STOP_WITHIN);
    eprintln!("serve signal {sig}: stopped in {took:?}");
    assert_status(&run, status, sig);
    assert!(
        run.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("stopped on SIG")),
        "says what it stopped\n{}",
        run.output()
    );
    assert_nothing_left(&run, &children, None);
}

#[tokio::test]
async fn serve_stops_on_sigint() {
    let (_pool, url) = common::fresh_db().await;
    serve_stops(libc::SIGINT, &url);
}

#[tokio::test]
async fn serve_stops_on_sigterm() {
    let (_pool, url) = common::fresh_db().await;
    serve_stops(libc::SIGTERM, &url);
}

fn agent_stops(sig: i32) {
    let mut run = Run::start(
        &[
            "agent",
            "--backend",
            "sim",
            "--plain-http",
            "--listen",
            "127.0.0.1:0",
        ],
        &[("ML_AGENT_API_KEY", "signals-test-key")],
    );
    run.wait_line(Duration::from_secs(30), |l| {
        l.contains("agent listening on")
    });
    let children = descendants(run.pid());
    run.signal(sig);
    let (status, took) = run.wait_exit(STOP_WITHIN);
    eprintln!("agent signal {sig}: stopped in {took:?}");
    assert_status(&run, status, sig);
    assert_nothing_left(&run, &children, None);
}

#[tokio::test]
async fn agent_stops_on_sigint() {
    agent_stops(libc::SIGINT);
}

#[tokio::test]
async fn agent_stops_on_sigterm() {
    agent_stops(libc::SIGTERM);
}

/// `postgres` on a data folder: the server it started is stopped (the folder and its data stay).
#[tokio::test]
async fn postgres_stops_its_server_on_sigterm() {
    let data = common::temp_path("pg");
    let mut run = Run::start(
        &["postgres"],
        &[("ML_CONNECTOR_DATA_DIR", data.to_str().unwrap())],
    );
    run.wait_line(Duration::from_secs(60), |l| l.starts_with("DATABASE_URL="));
    let children = descendants(run.pid());
    let needle = data.to_str().unwrap().to_string();
    assert!(
        !processes_mentioning(&needle).is_empty(),
        "the server runs on {needle}"
    );
    run.signal(libc::SIGTERM);
    let (status, took) = run.wait_exit(STOP_WITHIN);
    eprintln!("postgres signal 15: stopped in {took:?}");
    assert_status(&run, status, libc::SIGTERM);
    assert_nothing_left(&run, &children, None);
    assert!(
        processes_mentioning(&needle).is_empty(),
        "no server left on {needle}"
    );
    assert!(
        data.join("data/PG_VERSION").exists(),
        "the data folder is kept"
    );
    let _ = std::fs::remove_dir_all(&data);
}
