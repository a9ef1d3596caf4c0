//! Scale-out: three `serve` processes (the real binary) on one database share the work, never run a
//! step twice, fire each schedule slot once, and each answers health checks and metrics.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ml_connector::connections::{self, Settings};
use ml_connector::engine::definition::Definitions;
use ml_connector::engine::Engine;
use serde_json::json;

struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The built-in workflows plus the traced `probe` fixture, in one folder.
fn workflows_dir() -> std::path::PathBuf {
    let dir = common::temp_path("workflows");
    std::fs::create_dir_all(&dir).unwrap();
    for (path, text) in ml_connector::flows::BUILTIN_WORKFLOWS {
        let name = std::path::Path::new(path).file_name().unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::copy(
        common::fixtures().join("workflows/probe.toml"),
        dir.join("probe.toml"),
    )
    .unwrap();
    dir
}

fn start(url: &str, dir: &std::path::Path, label: &str) -> Replica {
    let port = free_port();
    let log = std::fs::File::create(common::temp_path(&format!("{label}.log"))).unwrap();
    let child = Command::new(common::binary())
        .args([
            "serve",
            "--workers",
            "4",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--sample-handlers",
        ])
        .arg("--workflows-dir")
        .arg(dir)
        .env("DATABASE_URL", url)
        .env("ML_CONNECTOR_LOG_FORMAT", "json")
        .env_remove("ML_CONNECTOR_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn serve");
    Replica { child, port }
}

async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    Some((r.status().as_u16(), r.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_replicas_share_work_and_fire_schedules_once() {
    let (pool, url) = common::fresh_db().await;
    let dir = workflows_dir();
    let handlers = ml_connector::testkit::handlers_with_samples();
    let defs = Definitions::load_dir(&dir, &|h| handlers.contains(h)).unwrap();
    let engine = Engine::new(pool.clone(), defs, handlers);
    let trace = common::temp_path("trace");
    let ctx = json!({"sleep_ms": 30, "trace": trace.to_str().unwrap()});
    for i in 0..90 {
        engine
            .start_workflow("probe", 0, &format!("P-{i}"), ctx.clone(), "t")
            .await
            .unwrap();
    }
    // A connection whose orders poll is due every second (it fails: no master key here; what
    // counts is how often it fires).
    let mut s = Settings::default();
    s.sage.company = "ABC".into();
    s.sage.soap_url = "http://127.0.0.1:9/s".into();
    s.sage.agent_url = "http://127.0.0.1:9".into();
    s.polls.orders_secs = 1;
    s.polls.inventory_secs = 86_400;
    s.polls.shipments_secs = 86_400;
    let replicas: Vec<Replica> = (0..3)
        .map(|i| start(&url, &dir, &format!("replica-{i}")))
        .collect();
    for r in &replicas {
        common::eventually("replica ready", Duration::from_secs(60), || async {
            get(r.port, "/readyz")
                .await
                .filter(|(s, _)| *s == 200)
                .map(|_| ())
        })
        .await;
    }
    connections::add(&pool, "acme", &s).await.unwrap();
    let polling_since = Instant::now();

    common::eventually("probes completed", Duration::from_secs(90), || async {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM workflows WHERE kind = 'probe' AND status = 'completed'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (done == 90).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polled_for = polling_since.elapsed().as_secs_f64();
    let polls: Vec<String> = sqlx::query_scalar(
        "SELECT business_key FROM workflows WHERE kind = 'orders_poll' ORDER BY business_key",
    )
    .fetch_all(&pool)
    .await
    .unwrap();

    // Every step ran once, in one process; all three did some.
    let lines = common::read_trace(&trace);
    assert_eq!(
        lines.len(),
        90 * 2 * 2,
        "each of 180 steps started and ended once"
    );
    let mut runs: std::collections::HashMap<(i64, String), u32> = Default::default();
    for l in lines.iter().filter(|l| l.0 == "start") {
        *runs.entry((l.1, l.2.clone())).or_default() += 1;
    }
    assert!(runs.values().all(|n| *n == 1));
    let pids: std::collections::HashSet<u32> = lines.iter().map(|l| l.3).collect();
    let replica_pids: std::collections::HashSet<u32> =
        replicas.iter().map(|r| r.child.id()).collect();
    assert_eq!(
        pids, replica_pids,
        "the work spread over the three replicas"
    );
    // One poll per one-second slot across three schedulers, not three.
    assert!(polls.len() >= 3, "the schedule fired: {polls:?}");
    assert!(
        (polls.len() as f64) <= polled_for + 2.0,
        "{} polls in {polled_for:.1} s: a slot fired more than once ({polls:?})",
        polls.len()
    );

    // Each replica answers health and metrics from the shared database.
    for r in &replicas {
        assert_eq!(get(r.port, "/healthz").await.unwrap().0, 200);
        let (status, text) = get(r.port, "/metrics").await.unwrap();
        assert_eq!(status, 200);
        assert!(
            text.contains("mlc_workflows{kind=\"probe\",status=\"completed\"} 90"),
            "{text}"
        );
        assert!(text.contains("# TYPE mlc_step_duration_seconds histogram"));
    }
    let one = &replicas[0];
    let (_, text) = get(one.port, "/metrics").await.unwrap();
    assert!(
        text.contains("mlc_step_duration_seconds_count{kind=\"probe\""),
        "step durations recorded"
    );
}
