//! deploy/prometheus/alerts.yaml against a running `serve`: every rule's expression is evaluated on
//! the binary's real /metrics output (so every metric a rule names exists), first on a quiet
//! database (nothing fires), then with each problem present (each rule fires). The rules stay in
//! a small grammar this evaluator reads: `<selector> <op> <number>` or
//! `increase(<selector>[<range>]) <op> <number>`, terms joined by ` or `. Prometheus' own
//! evaluator (promtool) runs the rules' unit tests, deploy/prometheus/alerts_test.yaml.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use ml_connector::connections::{self, Settings};
use ml_connector::secret::Secret;
use ml_connector::vault::Vault;

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').expect("closing quote");
        out.insert(key, after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            (name.to_string(), labels, value.parse().expect("a number"))
        })
        .collect()
}

/// A term of a rule: `[increase(]selector[[range])] op threshold`.
struct Term {
    increase: bool,
    name: String,
    matchers: BTreeMap<String, String>,
    op: String,
    threshold: f64,
}

fn parse_term(t: &str) -> Term {
    let t = t.trim();
    let (increase, t) = match t.strip_prefix("increase(") {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (selector, cmp) = if increase {
        let close = t
            .find("])")
            .unwrap_or_else(|| panic!("increase without a range: {t}"));
        let (sel, _range) = t[..close].split_once('[').unwrap();
        (sel.to_string(), t[close + 2..].trim().to_string())
    } else {
        let i = t
            .find([' ', '>', '<', '='])
            .unwrap_or_else(|| panic!("no comparison: {t}"));
        let i = t[..i]
            .find('{')
            .map_or(i, |b| b + t[b..].find('}').unwrap() + 1);
        (t[..i].to_string(), t[i..].trim().to_string())
    };
    let (name, matchers) = match selector.split_once('{') {
        Some((n, rest)) => (n.to_string(), parse_labels(rest.trim_end_matches('}'))),
        None => (selector.clone(), BTreeMap::new()),
    };
    let (op, number) = cmp
        .split_once(' ')
        .unwrap_or_else(|| panic!("outside the grammar the test evaluates: {cmp:?}"));
    assert!(
        [">", "<", ">=", "<=", "=="].contains(&op),
        "unsupported operator {op}"
    );
    Term {
        increase,
        name,
        matchers,
        op: op.into(),
        threshold: number.trim().parse().expect("a number threshold"),
    }
}

/// The series of `term` that satisfy it (labels), given two scrapes (for `increase`).
fn firing(term: &Term, before: &[Sample], now: &[Sample]) -> Vec<BTreeMap<String, String>> {
    let matches = |s: &&Sample| {
        s.0 == term.name
            && term
                .matchers
                .iter()
                .all(|(k, v)| s.1.get(k).is_some_and(|x| x == v))
    };
    now.iter()
        .filter(matches)
        .filter_map(|s| {
            let v = if term.increase {
                let old = before
                    .iter()
                    .filter(matches)
                    .find(|b| b.1 == s.1)
                    .map_or(0.0, |b| b.2);
                s.2 - old
            } else {
                s.2
            };
            let hit = match term.op.as_str() {
                ">" => v > term.threshold,
                "<" => v < term.threshold,
                ">=" => v >= term.threshold,
                "<=" => v <= term.threshold,
                _ => v == term.threshold,
            };
            hit.then(|| s.1.clone())
        })
        .collect()
}

fn rules() -> Vec<(String, Vec<Term>)> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yaml"),
    )
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| {
            let expr = r["expr"].as_str().unwrap();
            (
                r["alert"].as_str().unwrap().to_string(),
                expr.split(" or ").map(parse_term).collect(),
            )
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.get(9..12)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn scrape(port: u16) -> Vec<Sample> {
    let (status, body) = tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
        .await
        .unwrap()
        .expect("metrics answered");
    assert_eq!(status, 200, "{body}");
    // Chunked transfer: keep only the exposition lines.
    let lines: String = body
        .lines()
        .filter(|l| l.starts_with("mlc_") || l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    parse_exposition(&lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_prometheus_rule_is_quiet_when_all_is_well_and_fires_on_its_problem() {
    let rules = rules();
    assert_eq!(
        rules.len(),
        6,
        "a rule per problem named in docs/operations.md"
    );
    let (pool, url) = common::fresh_db().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _serve = Serve(
        Command::new(common::binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &url)
            .env_remove("ML_CONNECTOR_MASTER_KEY")
            .env_remove("ML_CONNECTOR_MASTER_KEY_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::task::spawn_blocking(move || http_get(port, "/healthz"))
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "serve did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let quiet = scrape(port).await;
    for (alert, terms) in &rules {
        for t in terms {
            assert!(
                firing(t, &quiet, &quiet).is_empty(),
                "{alert} fires on a quiet database"
            );
        }
    }

    // Every problem at once: a connection whose orders feed last succeeded 2 hours ago, three
    // failed workflows, one due for an hour and not picked up, a key expiring in 5 days, and a
    // ShipStation key answered 429 between two scrapes.
    let mut settings = Settings::default();
    settings.sage.company = "ABC".into();
    settings.sage.soap_url = "https://sage.example.com/ws".into();
    settings.sage.agent_url = "https://agent.example.com".into();
    let id = connections::add(&pool, "acme", &settings).await.unwrap();
    let vault = Vault::from_spec(&Vault::generate_spec("k1")).unwrap();
    let soon = chrono::Utc::now().date_naive() + chrono::Duration::days(5);
    connections::set_secret(&pool, &vault, id, "v1_key", &Secret::new("k"), Some(soon))
        .await
        .unwrap();
    let exec = |sql: String| {
        let pool = pool.clone();
        async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
    };
    exec(format!("INSERT INTO sync_runs (connection_id, feed, started_at, finished_at) VALUES ({id}, 'sage_orders', now() - interval '2 hours', now() - interval '2 hours')")).await;
    for i in 0..3 {
        exec(format!("INSERT INTO workflows (kind, connection_id, business_key, state, status, last_error) VALUES ('order', {id}, 'F{i}', 'fetch', 'failed', 'ShipStation answered 401')")).await;
    }
    // A kind no worker of this binary runs stays due.
    exec(format!("INSERT INTO workflows (kind, connection_id, business_key, state, status, run_at) VALUES ('retired_kind', {id}, 'S1', 'start', 'ready', now() - interval '1 hour')")).await;
    exec("INSERT INTO rate_limits (key_id, window_limit, window_secs, remaining, window_ends_at, throttled) VALUES ('v1:abcd', 40, 60, 0, now(), 1)".into()).await;
    let before = scrape(port).await;
    exec("UPDATE rate_limits SET throttled = throttled + 1".into()).await;
    let now = scrape(port).await;
    let exposed: Vec<&str> = now.iter().map(|s| s.0.as_str()).collect();
    for (alert, terms) in &rules {
        let hits: Vec<_> = terms
            .iter()
            .flat_map(|t| {
                assert!(
                    exposed.contains(&t.name.as_str()),
                    "{alert}: {} is not on /metrics",
                    t.name
                );
                firing(t, &before, &now)
            })
            .collect();
        assert!(!hits.is_empty(), "{alert} did not fire");
        match alert.as_str() {
            "MlcFeedStale" | "MlcConnectionFailing" | "MlcKeyExpiring" => {
                assert!(
                    hits.iter().all(|l| l["connection"] == "acme"),
                    "{alert}: {hits:?}"
                )
            }
            "MlcWorkflowsStuck" => assert_eq!(hits[0]["kind"], "retired_kind"),
            "MlcRateLimited" => assert_eq!(hits[0]["key"], "v1:abcd"),
            _ => {}
        }
    }
}

/// promtool (Debian's `prometheus` package; scripts/ensure-promtool installs it) with `args`.
fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool").args(args).output().unwrap_or_else(|e| {
        panic!("promtool could not run ({e}): scripts/ensure-promtool installs it (Debian package prometheus)")
    })
}

/// The rules' unit tests (deploy/prometheus/alerts_test.yaml: each rule fires on its problem after
/// its `for` and stays quiet otherwise) pass in Prometheus' own evaluator; a copy of the rules
/// with one threshold changed fails them.
#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let rules = dir.join("alerts.yaml");
    let tests = dir.join("alerts_test.yaml");
    let out = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let copy = common::temp_path("promtool-mutant");
    std::fs::create_dir_all(&copy).unwrap();
    let text = std::fs::read_to_string(&rules).unwrap();
    let mutant = text.replace(
        "mlc_poll_lag_seconds{feed=\"sage_orders\"} > 2700",
        "mlc_poll_lag_seconds{feed=\"sage_orders\"} > 27000",
    );
    assert_ne!(
        mutant, text,
        "the stale-feed threshold is where the mutant expects it"
    );
    std::fs::write(copy.join("alerts.yaml"), mutant).unwrap();
    std::fs::copy(&tests, copy.join("alerts_test.yaml")).unwrap();
    let out = promtool(&[
        "test",
        "rules",
        copy.join("alerts_test.yaml").to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "a changed threshold must fail the unit tests"
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("alertname: MlcFeedStale"), "{said}");
}
