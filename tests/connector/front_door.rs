//! The real binary's front door: the demo on its own embedded PostgreSQL, and `serve` answering
//! health checks and stopping cleanly on SIGTERM.

use crate::common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_moves_sage_orders_to_shipstation_on_embedded_postgres() {
    let out = Command::new(common::binary())
        .args(["demo", "--orders", "40", "--exit-when-done", "--json"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    // The first line says where the ops API is, with an admin token.
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert!(first["graphql_url"].as_str().unwrap().ends_with("/graphql"));
    assert!(first["console_url"]
        .as_str()
        .unwrap()
        .ends_with("/console/"));
    assert!(first["token"].as_str().unwrap().starts_with("mlc_"));
    assert_eq!(summary["orders_created_in_sage"], 40);
    assert_eq!(summary["orders_in_shipstation"], 40);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["failed"], 0);
    assert!(summary["createorders_calls"].as_u64().unwrap() >= 1);
    assert!(summary["poll_runs"].as_u64().unwrap() >= 1);
    // Shipped in ShipStation, tracking back in Sage for every order and package.
    assert_eq!(summary["orders_shipped"], 40);
    assert_eq!(summary["tracking_written_to_sales_orders"], 40);
    assert_eq!(
        summary["tracking_rows_on_invoices"],
        summary["packages_shipped"]
    );
    assert!(summary["webhook_deliveries_accepted"].as_u64().unwrap() >= 1);
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = Command::new(common::binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        line.trim_end(),
        format!(
            "ml-connector {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            ml_connector::COMMIT
        )
    );
    let commit = ml_connector::COMMIT;
    let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
    assert!(
        commit == "unknown" || (hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

#[tokio::test]
async fn serve_answers_health_checks_and_stops_on_sigterm() {
    let (_pool, url) = common::fresh_db().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(common::binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Some(r) = http_get(port, "/healthz") {
            break r;
        }
        assert!(Instant::now() < deadline, "serve did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(health.0, 200);
    let health: serde_json::Value = serde_json::from_str(&health.1).unwrap();
    assert_eq!(health["version"], ml_connector::VERSION, "{health}");
    assert_eq!(health["commit"], ml_connector::COMMIT, "{health}");
    let ready = http_get(port, "/readyz").unwrap();
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert!(ready.1.contains("\"ready\""));
    // A webhook with a token in its URL: answered, logged with a request id, the token never logged.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = r#"{"resource_url":"https://ssapi.shipstation.com/shipments?batchId=1","resource_type":"SHIP_NOTIFY"}"#;
    write!(
        s,
        "POST /webhooks/shipstation/acme?token=TOPSECRET-0123 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nx-request-id: req-42\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id: req-42"),
        "{answer}"
    );

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(143),
        "graceful exit on SIGTERM: 128 + 15"
    );
    let mut log = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.lines().any(|l| l.contains("SIGTERM")), "{log}");
    assert!(
        log.lines().any(|l| l.contains("req-42")
            && l.contains("/webhooks/shipstation/acme")
            && l.contains("404")),
        "the request is logged with its id: {log}"
    );
    assert!(
        !log.contains("TOPSECRET"),
        "a token in a URL is never logged: {log}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve --metrics-listen`: `/metrics` (connection names, key fingerprints) only on its own
/// address, not on the API and webhook listener.
#[tokio::test]
async fn metrics_can_have_their_own_listener() {
    let (_pool, url) = common::fresh_db().await;
    let (api, metrics) = (free_port(), free_port());
    let mut child = Command::new(common::binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics}"),
        ])
        .env("DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let scraped = loop {
        if let (Some(_), Some(m)) = (http_get(api, "/healthz"), http_get(metrics, "/metrics")) {
            break m;
        }
        assert!(Instant::now() < deadline, "serve did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(scraped.0, 200);
    assert!(scraped.1.contains("mlc_workflows"), "{}", scraped.1);
    let on_api = http_get(api, "/metrics").unwrap();
    assert_eq!(on_api.0, 404, "no metrics on the API listener");
    assert_eq!(http_get(metrics, "/healthz").unwrap().0, 404);
    assert_eq!(http_get(metrics, "/graphql").unwrap().0, 404);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(143));
}

/// `bench sync` prints the figures docs/benchmarks.md reports, from a real run: every order
/// reaches ShipStation and its tracking Sage, with no 429 and latencies that are measured.
#[test]
fn bench_sync_reports_throughput_calls_and_latency_from_a_real_run() {
    let out = Command::new(common::binary())
        .args([
            "bench",
            "sync",
            "--orders",
            "30",
            "--workers",
            "16",
            "--json",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run bench sync");
    assert!(
        out.status.success(),
        "bench sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    for key in [
        "orders_per_min",
        "share_of_bound",
        "calls_per_order",
        "rate_limited",
        "agent_calls_per_order",
        "order_latency_p50_s",
        "order_latency_p95_s",
        "tracking_latency_p95_s",
    ] {
        assert!(r[key].is_number(), "{key} missing: {r}");
    }
    assert_eq!(r["orders_tracked"], 30, "{r}");
    assert_eq!(r["rate_limited"], 0, "{r}");
    assert_eq!(
        r["bound_per_min"], 120_000.0,
        "100 orders × 40 calls per 2 s: {r}"
    );
    let p50 = r["order_latency_p50_s"].as_f64().unwrap();
    let p95 = r["order_latency_p95_s"].as_f64().unwrap();
    assert!(p50 > 0.0 && p95 >= p50, "{r}");
    // Orders go out in createorders batches: well under one V1 call per order.
    assert!(r["calls_per_order"].as_f64().unwrap() < 1.0, "{r}");
    // Counted from what the simulated ShipStation received.
    let per_call = r["orders_per_create_call"].as_f64().unwrap();
    assert!((1.0..=100.0).contains(&per_call), "{r}");
    assert!(
        r["agent_calls_by_route"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "{r}"
    );
}
