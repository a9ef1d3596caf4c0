//! Worker pools as separate processes of the real binary over one database: no step runs twice
//! at once, a killed worker's step runs again after its lease expires, and a stalled worker's
//! late completion is rejected.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ml_connector::engine::store;
use serde_json::json;

struct Worker {
    child: Child,
}

impl Worker {
    fn start(url: &str, label: &str) -> Self {
        let log = std::fs::File::create(common::temp_path(&format!("{label}.log"))).unwrap();
        let child = Command::new(common::binary())
            .args(["worker", "--workers", "4", "--sample-handlers"])
            .arg("--workflows-dir")
            .arg(common::fixtures().join("workflows"))
            .env("DATABASE_URL", url)
            .env("ML_CONNECTOR_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker");
        Self { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM and wait: the graceful path.
    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_completed(pool: &sqlx::PgPool, n: i64, timeout: Duration) {
    common::eventually("workflows completed", timeout, || async {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM workflows WHERE status = 'completed'")
                .fetch_one(pool)
                .await
                .unwrap();
        (done == n).then_some(())
    })
    .await;
}

async fn wait_trace(path: &Path, pred: impl Fn(&[common::TraceLine]) -> bool) {
    common::eventually("trace condition", Duration::from_secs(20), || async {
        pred(&common::read_trace(path)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn two_worker_processes_never_run_the_same_step_at_once() {
    let (pool, url) = common::fresh_db().await;
    let engine = common::fixture_engine(pool.clone());
    let trace = common::temp_path("trace");
    let ctx = json!({ "sleep_ms": 20, "trace": trace.to_str().unwrap() });
    for i in 0..60 {
        engine
            .start_workflow("probe", 1, &format!("SO-{i}"), ctx.clone(), "t")
            .await
            .unwrap();
    }
    let a = Worker::start(&url, "a");
    let b = Worker::start(&url, "b");
    wait_completed(&pool, 60, Duration::from_secs(60)).await;
    let pids = (a.pid(), b.pid());
    a.stop();
    b.stop();

    let lines = common::read_trace(&trace);
    assert_eq!(
        lines.len(),
        60 * 2 * 2,
        "each of 120 steps started and ended exactly once"
    );
    let mut by_step: std::collections::HashMap<(i64, String), Vec<&common::TraceLine>> =
        Default::default();
    for l in &lines {
        by_step.entry((l.1, l.2.clone())).or_default().push(l);
    }
    assert_eq!(by_step.len(), 120);
    for (step, runs) in &by_step {
        assert_eq!(runs.len(), 2, "{step:?} ran once: {runs:?}");
        assert_eq!((runs[0].0.as_str(), runs[1].0.as_str()), ("start", "end"));
        assert_eq!(runs[0].3, runs[1].3, "started and ended in one process");
    }
    // A workflow's two steps never overlap (the second starts after the first ended).
    for id in lines
        .iter()
        .map(|l| l.1)
        .collect::<std::collections::HashSet<_>>()
    {
        let first_end = by_step[&(id, "first".into())][1].4;
        let second_start = by_step[&(id, "second".into())][0].4;
        assert!(second_start >= first_end, "workflow {id}: steps overlapped");
    }
    let used: std::collections::HashSet<u32> = lines.iter().map(|l| l.3).collect();
    assert!(
        used.contains(&pids.0) && used.contains(&pids.1),
        "both processes worked: {used:?}"
    );
    let rejected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflow_events WHERE event IN ('stale_completion_rejected', 'lease_expired')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rejected, 0);
}

#[tokio::test]
async fn a_killed_workers_step_runs_again_after_the_lease_expires() {
    let (pool, url) = common::fresh_db().await;
    let engine = common::fixture_engine(pool.clone());
    let trace = common::temp_path("trace");
    let ctx = json!({ "sleep_ms": 1500, "trace": trace.to_str().unwrap() });
    let (id, _) = engine
        .start_workflow("probe", 1, "SO-1", ctx, "t")
        .await
        .unwrap();

    let a = Worker::start(&url, "killed");
    wait_trace(&trace, |l| !l.is_empty()).await;
    let a_pid = a.pid();
    a.signal(libc::SIGKILL);
    drop(a);
    let b = Worker::start(&url, "rescuer");
    wait_completed(&pool, 1, Duration::from_secs(30)).await;
    let b_pid = b.pid();
    b.stop();

    let lines = common::read_trace(&trace);
    let first: Vec<(&str, u32)> = lines
        .iter()
        .filter(|l| l.2 == "first")
        .map(|l| (l.0.as_str(), l.3))
        .collect();
    assert_eq!(
        first,
        vec![("start", a_pid), ("start", b_pid), ("end", b_pid)]
    );
    assert_eq!(
        common::event_names(&pool, id).await,
        [
            "created",
            "lease_expired",
            "step_succeeded",
            "step_succeeded"
        ],
        "completed exactly once, after one rescue"
    );
    let row = store::get(&pool, id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.state.as_str()),
        ("completed", "done")
    );
}

#[tokio::test]
async fn a_stalled_workers_late_completion_is_rejected() {
    let (pool, url) = common::fresh_db().await;
    let engine = common::fixture_engine(pool.clone());
    let trace = common::temp_path("trace");
    let ctx = json!({ "sleep_ms": 1000, "trace": trace.to_str().unwrap() });
    let (id, _) = engine
        .start_workflow("probe", 1, "SO-1", ctx, "t")
        .await
        .unwrap();

    let a = Worker::start(&url, "stalled");
    wait_trace(&trace, |l| !l.is_empty()).await;
    a.signal(libc::SIGSTOP); // frozen mid-step: no heartbeats, the lease (2 s) runs out
    let b = Worker::start(&url, "other");
    let b_pid = b.pid();
    wait_trace(&trace, |l| {
        l.iter()
            .any(|x| x.0 == "end" && x.2 == "first" && x.3 == b_pid)
    })
    .await;
    common::eventually(
        "B's first step recorded",
        Duration::from_secs(10),
        || async {
            common::event_names(&pool, id)
                .await
                .contains(&"step_succeeded".to_string())
                .then_some(())
        },
    )
    .await;
    a.signal(libc::SIGCONT); // A finishes its sleep and tries to write its outcome
    let a_pid = a.pid();
    wait_trace(&trace, |l| l.iter().any(|x| x.0 == "end" && x.3 == a_pid)).await;
    wait_completed(&pool, 1, Duration::from_secs(30)).await;
    common::eventually(
        "A's late completion recorded",
        Duration::from_secs(10),
        || async {
            common::event_names(&pool, id)
                .await
                .contains(&"stale_completion_rejected".to_string())
                .then_some(())
        },
    )
    .await;
    a.stop();
    b.stop();

    let events = store::events(&pool, id).await.unwrap();
    let succeeded: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.event == "step_succeeded")
        .map(|e| (e.from_state.clone().unwrap(), e.actor.clone()))
        .collect();
    assert_eq!(
        succeeded.len(),
        2,
        "first and second, once each: {succeeded:?}"
    );
    assert!(
        succeeded
            .iter()
            .all(|(_, actor)| actor.contains(&format!(":{b_pid}:"))),
        "{succeeded:?}"
    );
    let rejected: Vec<&str> = events
        .iter()
        .filter(|e| e.event == "stale_completion_rejected")
        .map(|e| e.actor.as_str())
        .collect();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0].contains(&format!(":{a_pid}:")));
    assert_eq!(store::get(&pool, id).await.unwrap().status, "completed");
}

#[test]
fn invalid_workflow_files_stop_start_up_with_the_file_and_the_problem() {
    let good = std::fs::read_to_string(common::fixtures().join("workflows/probe.toml")).unwrap();
    let cases = [
        (
            good.replace("next = [\"done\"]", "next = [\"nowhere\"]"),
            "state \"second\": transition to unknown state \"nowhere\"",
        ),
        (
            good.replace("initial = \"first\"", "initial = \"zero\""),
            "initial state \"zero\" is not defined",
        ),
        (
            good.replace(
                "handler = \"sample.sleep\"\nnext = [\"second\"]",
                "handler = \"shipping.teleport\"\nnext = [\"second\"]",
            ),
            "state \"first\": unknown handler \"shipping.teleport\"",
        ),
        ("kind = \"probe\"\ninitial = [".to_string(), "invalid TOML"),
    ];
    for (text, expected) in cases {
        let dir = common::temp_path("bad-workflows");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("probe.toml");
        std::fs::write(&file, text).unwrap();
        let out = Command::new(common::binary())
            .args(["worker", "--sample-handlers", "--workflows-dir"])
            .arg(&dir)
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains(&format!(
                "invalid workflow definition: {}: ",
                file.display()
            )) && stderr.contains(expected),
            "expected {expected:?} in: {stderr}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
