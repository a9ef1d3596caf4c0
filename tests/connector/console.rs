//! The ops console: served by the real binary (`demo --keep-running`), driven end to end in
//! headless Chromium by console/e2e/console.mjs (playwright-core); plus its HTTP headers.
//! Needs /usr/bin/chromium and console/node_modules: scripts/test installs both
//! (scripts/ensure-chromium).

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ml_connector::ops::tokens::{self, Role};

/// The demo, stopped (SIGTERM) when dropped.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    fn start(database_url: &str) -> Self {
        let mut child = Command::new(common::binary())
            .args(["demo", "--orders", "6", "--workers", "8", "--keep-running"])
            .env("DATABASE_URL", database_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo");
        let out = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from those printed so far and those to come) that `pick` accepts.
    fn wait_line<T>(&mut self, within: Duration, pick: impl Fn(&str) -> Option<T>) -> T {
        if let Some(v) = self.seen.iter().find_map(|l| pick(l)) {
            return v;
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = pick(&line);
                    self.seen.push(line);
                    if let Some(v) = found {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "the demo did not print the line awaited:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.split_once(marker)
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or_default())
}

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("console")
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn console_signs_in_finds_an_order_fixes_a_failed_one_and_hides_buttons_from_viewers() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            && console_dir().join("node_modules/playwright-core").exists(),
        "the console test needs /usr/bin/chromium and console/node_modules: run scripts/ensure-chromium (scripts/test does)"
    );
    let (pool, url) = common::fresh_db().await;
    let mut demo = Demo::start(&url);
    // The console's URL is among the first lines, with the admin token just before it.
    let token = demo.wait_line(Duration::from_secs(60), |l| {
        after(l, "admin token: ").map(str::to_string)
    });
    let console_url = demo.wait_line(Duration::from_secs(5), |l| {
        after(l, "Ops console: ").map(str::to_string)
    });
    assert!(
        demo.seen.len() <= 3,
        "the console's URL comes late:\n{}",
        demo.seen.join("\n")
    );
    assert!(console_url.ends_with("/console/"), "{console_url}");
    let soap = demo.wait_line(Duration::from_secs(30), |l| {
        after(l, "Sage 100 SOAP ").map(str::to_string)
    });
    let sage = soap.split("/Sage100/").next().unwrap().to_string();
    demo.wait_line(Duration::from_secs(240), |l| {
        l.starts_with("still serving:").then_some(())
    });

    // The HTTP side: the page, its bundles, the policy, the SPA fallback.
    let page = get(&console_url).await;
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let js = html
        .split("src=\"/console/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("index.html names its script")
        .to_string();
    let bundle = get(&format!("{console_url}{js}")).await;
    let (bundle_status, bundle_headers) = (bundle.status(), bundle.headers().clone());
    let missing = get(&format!("{console_url}assets/no-such.js"))
        .await
        .status();
    let deep = get(&format!("{console_url}order/1"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'self';") && csp.contains("script-src 'self';"),
        "{csp}"
    );
    assert!(!html.contains("<script>"), "no inline script: {html}");
    assert_eq!(bundle_status, 200);
    assert_eq!(
        bundle_headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(bundle_headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(missing, 404);
    assert_eq!(deep, html, "a console path gets the page");

    // An order shipped in the demo, with its tracking; an order that fails on its mapping.
    let (shipped, fp): (String, String) = sqlx::query_as(
        "SELECT business_key, context->>'tracking_fp' FROM workflows
          WHERE kind = 'order' AND context ? 'tracking_fp' ORDER BY id LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let tracking = fp
        .split(',')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_string();
    let entered: serde_json::Value = reqwest::Client::new()
        .post(format!("{sage}/__control/ABC/orders"))
        .json(&serde_json::json!({
            "CustomerNo": "ABF", "ShipVia": "UPS GROUND", "ShipToCountryCode": "ZZZ",
            "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed_no = entered["SalesOrderNo"]
        .as_str()
        .expect("entered")
        .to_string();
    let connection_id: i64 = common::eventually(
        "the country-code order to fail",
        Duration::from_secs(60),
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT connection_id FROM workflows WHERE kind = 'order' AND business_key = $1 AND status = 'failed'",
            )
            .bind(&failed_no)
            .fetch_optional(&pool)
            .await
            .unwrap()
        },
    )
    .await;
    let viewer = tokens::create(&pool, "console-viewer", Role::Viewer)
        .await
        .unwrap();

    let mut node = Command::new("node");
    node.current_dir(console_dir())
        .arg("e2e/console.mjs")
        .args([
            &console_url,
            &token,
            &viewer,
            &connection_id.to_string(),
            &shipped,
            &tracking,
            &failed_no,
        ]);
    let out = tokio::task::spawn_blocking(move || node.output().expect("run node"))
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "console e2e failed:\n{text}");
    assert!(text.contains("every step held"), "{text}");
    // What the page did went through the API: the restart is in the audit trail, by the token.
    let restarted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id
          WHERE w.business_key = $1 AND e.event = 'restarted' AND e.actor LIKE 'api-token:%'",
    )
    .bind(&failed_no)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(restarted, 1, "one restart from the console");
    drop(demo);
}
