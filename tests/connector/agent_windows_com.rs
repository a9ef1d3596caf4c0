//! The agent's production COM backend, unchanged, in the Windows .exe under Wine with
//! `backend = "odbc+com"`: writes go by late binding to `ProvideX.Script`, here a test COM server
//! (crates/test-boi-com, registered in the Wine prefix) with BOI's semantics over the same
//! Sage-shaped database the ODBC DSN reads. Every write (tracking rows per package, re-writes,
//! voids, a posted invoice, a missing one) must answer as the simulated BOI does, and what COM
//! wrote must read back through ODBC as the simulator's files do. A row another transaction
//! holds answers Sage's lock text, and the connector's client retries until it is free.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ml_connector::sage100::agent::{AgentClient, AgentConfig, LockRetry};
use ml_connector::sim::sage100::boi::LOCKED_MESSAGE;
use ml_connector::sim::sage100::sage_db::OdbcTarget;
use mlc_agent_api::paths;
use mlc_secret::Secret;
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

use super::agent_conformance::{
    ask, assert_meaningful, assert_same, invoices_path, packages, sage_database, scenario,
    tracking_path, transcript, write_questions, WRITE_STATUSES,
};
use super::agent_windows::{prefix, sage_password, start_wine_agent, windows_path, wine64};
use crate::common::sage100::{invoice, start_rig, AGENT_KEY};

/// The class id the test COM server answers for (crates/test-boi-com/src/server.rs).
const CLSID: &str = "{6C1F0E2A-9D4B-4F6E-8A51-3B7C2D9E4F10}";

fn test_com_server() -> PathBuf {
    let dll = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/windows/x86_64-pc-windows-gnu/debug/mlc_test_boi_com.dll");
    assert!(
        dll.exists(),
        "{} is missing: build it with scripts/build-windows-agent (scripts/test does)",
        dll.display()
    );
    dll
}

/// Register the test server as ProvideX.Script in the Wine prefix (a .reg file, as a Sage
/// install's registration would leave it: in-process, apartment-threaded).
fn register_com_server() {
    let dll = windows_path(&test_com_server()).replace('\\', "\\\\");
    let reg = format!(
        "REGEDIT4\r\n\r\n[HKEY_CLASSES_ROOT\\ProvideX.Script]\r\n@=\"ProvideX.Script\"\r\n\r\n\
         [HKEY_CLASSES_ROOT\\ProvideX.Script\\CLSID]\r\n@=\"{CLSID}\"\r\n\r\n\
         [HKEY_CLASSES_ROOT\\CLSID\\{CLSID}]\r\n@=\"ProvideX.Script (ml-connector tests)\"\r\n\r\n\
         [HKEY_CLASSES_ROOT\\CLSID\\{CLSID}\\InprocServer32]\r\n@=\"{dll}\"\r\n\"ThreadingModel\"=\"Apartment\"\r\n"
    );
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("providex-{:08x}.reg", rand::random::<u32>()));
    std::fs::write(&file, reg).unwrap();
    let status = Command::new(wine64())
        .args(["regedit", "/S"])
        .arg(windows_path(&file))
        .env("WINEPREFIX", prefix())
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("regedit runs");
    assert!(status.success(), "regedit refused {}", file.display());
}

/// What the test COM server is told: the company's DSN and the Sage logon it accepts.
fn com_server_env(target: &OdbcTarget) -> Vec<(&'static str, String)> {
    let mut connection = format!("DSN=MLC_SAGE_{{company}};UID={}", target.user);
    if !target.password.is_empty() {
        connection.push_str(&format!(";PWD={}", target.password));
    }
    vec![
        ("MLC_TEST_BOI_CONNECTION", connection),
        ("MLC_TEST_BOI_USER", target.user.clone()),
        ("MLC_TEST_BOI_PASSWORD", sage_password(target)),
    ]
}

#[tokio::test]
async fn the_com_backend_under_wine_writes_tracking_as_the_simulated_boi_does() {
    let rig = start_rig().await;
    let facts = scenario(&rig).await;
    // An open invoice without tracking, for the writes.
    let order = facts.orders[4].clone();
    let open = invoice(&rig, &order).await;
    let (_, posted) = ask(
        &rig.agent_url,
        Method::GET,
        &invoices_path(&facts.orders[0]),
        None,
    )
    .await;
    let posted = posted["Invoices"][0]["InvoiceNo$"]
        .as_str()
        .unwrap()
        .to_string();
    let target = sage_database(&rig.sim).await;
    // The site's invoice UDF (the simulator takes any UDF_ column).
    let mut db = sqlx::PgConnection::connect(&target.url).await.unwrap();
    sqlx::query("ALTER TABLE SO_InvoiceHeader ADD COLUMN UDF_PRO_NUM varchar(30)")
        .execute(&mut db)
        .await
        .unwrap();
    register_com_server();
    let agent = start_wine_agent(&target, "odbc+com", &com_server_env(&target)).await;

    let writes = write_questions(&open, &posted);
    let mut statuses = Vec::new();
    for (method, path, body) in writes {
        let expected = ask(&rig.agent_url, method.clone(), &path, body.clone()).await;
        let got = ask(&agent.base, method.clone(), &path, body).await;
        assert_eq!(
            got,
            expected,
            "{method} {path} over COM answers as the simulated BOI does; agent log: {}",
            agent.log()
        );
        statuses.push(got.0);
    }
    assert_eq!(statuses, WRITE_STATUSES);

    // What COM wrote is in the company's files.
    let (date, via, udf, rows): (String, String, String, i64) = sqlx::query_as(
        "SELECT h.ShipDate::text, h.ShipVia, h.UDF_PRO_NUM, \
         (SELECT count(*) FROM SO_InvoiceTracking t WHERE t.InvoiceNo = h.InvoiceNo) \
         FROM SO_InvoiceHeader h WHERE h.InvoiceNo = $1",
    )
    .bind(&open)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(
        (date.as_str(), via.as_str(), udf.as_str(), rows),
        ("2026-12-01", "UPS GROUND", "PRO-4471", 2)
    );
    // What COM wrote reads back through ODBC as the simulator's own files do.
    for order in [&order, &facts.orders[0], &facts.orders[2]] {
        let path = invoices_path(order);
        let expected = ask(&rig.agent_url, Method::GET, &path, None).await;
        let got = ask(&agent.base, Method::GET, &path, None).await;
        assert_eq!(got, expected, "{path} after the writes");
    }
    let (_, after) = ask(&agent.base, Method::GET, &invoices_path(&order), None).await;
    let tracking: Vec<&str> = after["Invoices"][0]["Tracking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["TrackingID$"].as_str().unwrap())
        .collect();
    assert_eq!(
        tracking,
        ["1Z999AA10000000199", "1Z999AA10000000103"],
        "{after}"
    );

    // A call that fails at the COM level (the test server's COM-ERR key, as a crashed ProvideX
    // server): a retryable session failure, and the session is dropped, not reused.
    let (status, answer) = ask(
        &agent.base,
        Method::POST,
        &tracking_path("COM-ERR"),
        Some(packages(&[("0001", "1Z999AA10000000997")])),
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["ErrorKind"], json!("session"), "{answer}");
    assert!(
        answer["LastErrorMsg"]
            .as_str()
            .unwrap()
            .contains("COM call nSetKeyValue failed"),
        "{answer}"
    );
    assert!(agent
        .log()
        .contains("BOI session discarded after a COM error"));
    // The next write opens a fresh session and succeeds.
    let (status, answer) = ask(
        &agent.base,
        Method::POST,
        &tracking_path(&open),
        Some(packages(&[("0001", "1Z999AA10000000199")])),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["Written"][0]["Existing"], json!(true), "{answer}");

    // Another user holds the invoice: Sage's lock text, retryable.
    let mut holder = sqlx::PgConnection::connect(&target.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM SO_InvoiceHeader WHERE InvoiceNo = $1 FOR UPDATE")
        .bind(&open)
        .fetch_all(&mut holder)
        .await
        .unwrap();
    let body = packages(&[("0005", "1Z999AA10000000105")]);
    let (status, answer) = ask(
        &agent.base,
        Method::POST,
        &tracking_path(&open),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["ErrorKind"], json!("record_locked"), "{answer}");
    assert_eq!(answer["LastErrorMsg"], json!(LOCKED_MESSAGE), "{answer}");

    // The connector's client retries while the record is held, and succeeds once it is free.
    let mut cfg = AgentConfig::new(agent.base.clone(), "ABC");
    cfg.api_key = Some(Secret::new(AGENT_KEY));
    cfg.lock_retry = LockRetry {
        max_attempts: 20,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(500),
    };
    let client = AgentClient::new(cfg).unwrap();
    let request: mlc_agent_api::WriteTracking = serde_json::from_value(body).unwrap();
    let started = Instant::now();
    let held = Duration::from_secs(2);
    let inv = open.clone();
    let writing = tokio::spawn(async move { client.write_tracking(&inv, &request).await });
    tokio::time::sleep(held).await;
    assert!(
        !writing.is_finished(),
        "the write waits while the record is held"
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let written = writing
        .await
        .unwrap()
        .expect("written once the lock is gone");
    assert!(started.elapsed() >= held);
    assert_eq!(written.written.len(), 1);
    assert!(!written.written[0].existing);
    let (_, after) = ask(&agent.base, Method::GET, &invoices_path(&order), None).await;
    assert_eq!(
        after["Invoices"][0]["Tracking"].as_array().unwrap().len(),
        3,
        "{after}"
    );
}

#[tokio::test]
async fn a_refused_sage_logon_over_com_is_reported_by_health_without_the_password() {
    let rig = start_rig().await;
    let target = sage_database(&rig.sim).await;
    register_com_server();
    // The COM server accepts another password than the one the agent has.
    let mut env = com_server_env(&target);
    env.retain(|(k, _)| *k != "MLC_TEST_BOI_PASSWORD");
    env.push(("MLC_TEST_BOI_PASSWORD", "another-password".into()));
    let agent = start_wine_agent(&target, "odbc+com", &env).await;
    let (status, health) = ask(&agent.base, Method::GET, paths::HEALTH, None).await;
    assert_eq!(status, 200);
    assert_eq!(health["Companies"][0]["ReturnCode"], json!(0), "{health}");
    let message = health["Companies"][0]["LastErrorMsg"].as_str().unwrap();
    assert!(
        message.contains("nSetUser failed: Invalid User Logon."),
        "{health}"
    );
    let password = sage_password(&target);
    assert!(!message.contains(&password) && !agent.log().contains(&password));
    // A write is refused as a session failure (retryable), with the same sentence.
    let (status, answer) = ask(
        &agent.base,
        Method::POST,
        &tracking_path("0100001"),
        Some(packages(&[("0001", "1Z")])),
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["ErrorKind"], json!("session"), "{answer}");
}

#[tokio::test]
async fn the_com_backend_under_wine_answers_every_read_question_as_the_simulated_boi_does() {
    let rig = start_rig().await;
    let facts = scenario(&rig).await;
    let reference = transcript(&rig.agent_url, &facts).await;
    assert_meaningful(&reference, &facts);
    let target = sage_database(&rig.sim).await;
    register_com_server();
    // backend = "com": reads browse the business objects too (a site without a usable DSN).
    let agent = start_wine_agent(&target, "com", &com_server_env(&target)).await;
    let (_, health) = ask(&agent.base, Method::GET, paths::HEALTH, None).await;
    assert_eq!(
        health["Backend"],
        json!("Business Object Interface over COM (ProvideX.Script)"),
        "{health}"
    );
    assert_eq!(health["Companies"][0]["ReturnCode"], json!(1), "{health}");
    let answers = transcript(&agent.base, &facts).await;
    assert_same(&reference, &answers, "the COM backend under Wine");
}
