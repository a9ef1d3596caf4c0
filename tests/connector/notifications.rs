//! Alerts that reach a person: a wrong ShipStation key opens `connection_failing`, announced once
//! per channel with the connection and the sentence; fixed, it is announced cleared once; a channel
//! that refuses notices retries and raises its own alert; no secret appears in any notice; and
//! `ml-connector alerts test` prints each channel's result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use serde_json::{json, Value};

use crate::common;
use common::connector::Connector;
use ml_connector::connections;
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::notify::{Channel, ChannelKind};
use ml_connector::ops::WorkflowFilter;
use ml_connector::secret::Secret;
use ml_connector::sim::shipstation::SimConfig;
use ml_connector::vault::Vault;

/// (path, body) of every POST the receiver got.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A local receiver for every channel kind: paths under /fail answer 500, the rest 200.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, body: axum::Json<Value>| {
        let g = g.clone();
        async move {
            g.lock().unwrap().push((uri.path().to_string(), body.0));
            if uri.path().starts_with("/fail") {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

/// The messages (DATA) a tiny SMTP server on loopback accepted.
type Mails = Arc<Mutex<Vec<String>>>;

/// Just enough SMTP for one client at a time: EHLO, MAIL, RCPT, DATA, QUIT (no TLS: loopback).
async fn smtp_server() -> (u16, Mails) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mails: Mails = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let m = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let m = m.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("DATA") {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        m.lock().unwrap().push(data);
                        b"250 queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

fn mail_channel(port: u16) -> Channel {
    Channel {
        name: "mail".into(),
        kind: ChannelKind::Email,
        smtp: Some(ml_connector::notify::SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            from: "connector@example.com".into(),
            to: vec!["ops@example.com".into()],
            username: None,
            starttls: false,
            ca_pem: None,
        }),
    }
}

async fn set_secret(c: &Connector, name: &str, value: &str) {
    let vault = Vault::from_spec(&c.master_key).unwrap();
    connections::set_secret(
        &c.pool,
        &vault,
        c.connection_id,
        name,
        &Secret::new(value),
        None,
    )
    .await
    .unwrap();
}

/// Run one alerts check now (as the scheduler would every notify.check_secs) and wait for it.
async fn check(c: &Connector, n: u32) {
    c.run_now("alerts_check", &n.to_string()).await;
}

/// A channel whose secret is its URL (webhook, Slack, Teams).
fn hook(name: &str, kind: ChannelKind) -> Channel {
    Channel {
        name: name.into(),
        kind,
        smtp: None,
    }
}

/// The webhook bodies received on `path` for `alert` with `event`.
fn on(got: &Received, path: &str, alert: &str, event: &str) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, b)| p == path && b["alert"] == alert && b["event"] == event)
        .map(|(_, b)| b.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_connection_is_announced_once_and_cleared_once() {
    let c = common::connector::start(SimConfig::default()).await;
    let (base, got) = receiver().await;
    let (smtp_port, mails) = smtp_server().await;
    c.update_settings(|s| {
        s.notify.channels = vec![
            mail_channel(smtp_port),
            hook("ops", ChannelKind::Webhook),
            hook("chat", ChannelKind::Slack),
            hook("broken", ChannelKind::Teams),
        ];
        s.notify.console_url = Some("https://console.example.com/".into());
        // The daily digest is its own test: here it would add a notice at some hours of the day.
        s.notify.digest_at = "off".into();
    })
    .await;
    set_secret(&c, "notify_ops", &format!("{base}/hook")).await;
    set_secret(&c, "notify_chat", &format!("{base}/slack/T0KEN-IN-URL")).await;
    set_secret(&c, "notify_broken", &format!("{base}/fail/TEAMS-T0KEN")).await;

    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("notify-test".into(), 8);
    cfg.poll_interval = Duration::from_millis(100);
    WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());

    // Break the connection: ShipStation refuses the keys; three polls fail.
    set_secret(&c, "v1_key", "wrong-key-1234").await;
    set_secret(&c, "v2_key", "wrong-v2-key-5678").await;
    let mut polls = Vec::new();
    for i in 0..3 {
        let (id, _) = c
            .engine
            .start_workflow(
                "shipments_poll",
                c.connection_id,
                &format!("broken-{i}"),
                json!({}),
                "test",
            )
            .await
            .unwrap();
        polls.push(id);
    }
    common::eventually("the polls failed", Duration::from_secs(60), || async {
        let n = c.count("SELECT count(*) FROM workflows WHERE kind = 'shipments_poll' AND last_error IS NOT NULL AND status IN ('ready', 'failed')").await;
        (n == 3).then_some(())
    })
    .await;

    check(&c, 1).await;
    let opened = common::eventually(
        "the alert reached the webhook",
        Duration::from_secs(30),
        || async {
            let v = on(&got, "/hook", "connection_failing", "opened");
            (!v.is_empty()).then_some(v)
        },
    )
    .await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let n = &opened[0];
    assert_eq!(n["connection"], "acme");
    assert_eq!(n["link"], "https://console.example.com/");
    assert!(
        n["message"].as_str().unwrap().contains("failed attempts"),
        "{n}"
    );
    assert!(n["held_back"].as_i64().unwrap() >= 3, "{n}");
    common::eventually(
        "the Slack channel got it",
        Duration::from_secs(30),
        || async {
            got.lock()
                .unwrap()
                .iter()
                .any(|(p, b)| {
                    p.starts_with("/slack/")
                        && b["text"].as_str().unwrap_or("").contains("[ALERT] acme:")
                })
                .then_some(())
        },
    )
    .await;

    let mail = common::eventually("the e-mail arrived", Duration::from_secs(30), || async {
        mails.lock().unwrap().first().cloned()
    })
    .await;
    assert!(mail.contains("Subject: [ALERT] acme:"), "{mail}");
    assert!(mail.contains("failed attempts"), "{mail}");
    assert!(mail.contains("To: ops@example.com"), "{mail}");

    // The refusing channel retries (more than one attempt) and raises its own alert, which the
    // working channels carry.
    common::eventually(
        "the broken channel retried",
        Duration::from_secs(30),
        || async {
            let n = got
                .lock()
                .unwrap()
                .iter()
                .filter(|(p, _)| p.starts_with("/fail/"))
                .count();
            (n >= 2).then_some(())
        },
    )
    .await;
    let mut round = 2;
    let failing = common::eventually("the channel's own alert", Duration::from_secs(30), || {
        round += 1;
        let r = round;
        let c = &c;
        let got = &got;
        async move {
            check(c, r).await;
            let v = on(got, "/hook", "notification_failing", "opened");
            (!v.is_empty()).then_some(v)
        }
    })
    .await;
    assert!(
        failing[0]["message"].as_str().unwrap().contains("broken"),
        "{failing:?}"
    );

    // Checked again: nothing new about the connection (repeats suppressed).
    round += 1;
    check(&c, round).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(on(&got, "/hook", "connection_failing", "opened").len(), 1);
    assert!(on(&got, "/hook", "connection_failing", "still_open").is_empty());

    // After the quiet period (notify.resend_after_secs, 4 hours by default) it is sent again, once.
    sqlx::query("UPDATE alert_notices SET last_sent_at = now() - interval '4 hours 1 minute'")
        .execute(&c.pool)
        .await
        .unwrap();
    round += 1;
    check(&c, round).await;
    common::eventually("the reminder", Duration::from_secs(30), || async {
        (on(&got, "/hook", "connection_failing", "still_open").len() == 1).then_some(())
    })
    .await;
    round += 1;
    check(&c, round).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        on(&got, "/hook", "connection_failing", "still_open").len(),
        1
    );

    // Fixed: the right keys, the failed polls retried; one "cleared" per working channel.
    set_secret(&c, "v1_key", "sim-key").await;
    set_secret(&c, "v2_key", "sim-v2-key").await;
    let filter = WorkflowFilter {
        kind: Some("shipments_poll".into()),
        ..Default::default()
    };
    ml_connector::ops::workflows::retry_failed(&c.pool, &filter, "test")
        .await
        .unwrap();
    common::eventually("the polls completed", Duration::from_secs(60), || async {
        let n = c.count("SELECT count(*) FROM workflows WHERE kind = 'shipments_poll' AND status = 'completed'").await;
        (n == 3).then_some(())
    })
    .await;
    round += 1;
    check(&c, round).await;
    let cleared = common::eventually(
        "cleared reached the webhook",
        Duration::from_secs(30),
        || async {
            let v = on(&got, "/hook", "connection_failing", "cleared");
            (!v.is_empty()).then_some(v)
        },
    )
    .await;
    round += 1;
    check(&c, round).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cleared.len(), 1);
    assert_eq!(on(&got, "/hook", "connection_failing", "cleared").len(), 1);
    assert_eq!(on(&got, "/hook", "connection_failing", "opened").len(), 1);
    let mails_about = |what: &str| {
        mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains(what) && m.contains("failed attempts"))
            .count()
    };
    assert_eq!(mails_about("Subject: [ALERT]"), 1);
    assert_eq!(mails_about("Subject: [CLEARED]"), 1);

    // No secret in any notice, nor in the channel's recorded errors.
    let bodies: Vec<Value> = got.lock().unwrap().iter().map(|(_, b)| b.clone()).collect();
    let all = serde_json::to_string(&bodies).unwrap() + &mails.lock().unwrap().join("\n");
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT last_error FROM workflows WHERE kind = 'notification'")
            .fetch_all(&c.pool)
            .await
            .unwrap();
    let errors = format!("{errors:?}");
    for secret in [
        "wrong-key-1234",
        "wrong-v2-key-5678",
        "sim-key",
        "sim-secret",
        "sim-v2-key",
        "T0KEN-IN-URL",
        "TEAMS-T0KEN",
        common::sage100::AGENT_KEY,
        "sage-password",
    ] {
        assert!(!all.contains(secret), "{secret} in a notice");
        assert!(!errors.contains(secret), "{secret} in a notification error");
    }
    shutdown.trigger();
}

/// A site zone where it is now between 01:00 and 23:00 (so "a minute ago" is today), and that
/// local time a minute ago as HH:MM.
fn zone_and_a_minute_ago() -> (&'static str, String) {
    use chrono::Timelike;
    for zone in ["UTC", "Pacific/Kiritimati", "America/Chicago", "Asia/Tokyo"] {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let local = chrono::Utc::now().with_timezone(&tz) - chrono::Duration::minutes(1);
        if (1..23).contains(&local.hour()) {
            return (zone, local.format("%H:%M").to_string());
        }
    }
    unreachable!("one of four zones 10+ hours apart is in its daytime")
}

/// The daily digest: once per local day per channel, at its local time, with the day's figures:
/// orders sent, tracking written, what failed and was fixed, what needs a person, the V1 budget
/// used and the oldest open item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_goes_out_once_a_day_with_the_days_figures() {
    use common::sage100::{enter_order, invoice};
    let c = common::connector::start(SimConfig::default()).await;
    let (base, got) = receiver().await;
    c.update_settings(|s| {
        s.notify.channels = vec![hook("ops", ChannelKind::Webhook)];
        s.notify.digest_at = "off".into();
        s.tracking.invoice_check_secs = 1;
        common::connector::map_ups_ground(s);
    })
    .await;
    set_secret(&c, "notify_ops", &format!("{base}/hook")).await;
    let order = |country: &str| {
        json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "ShipToCountryCode": country,
               "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}]})
    };
    let shipped = enter_order(&c.sage, order("USA")).await;
    let fixed = enter_order(&c.sage, order("XYZ")).await;
    let broken = enter_order(&c.sage, order("QQQ")).await;
    // The workers run with a deployment-wide channel too (what ML_CONNECTOR_NOTIFY_FILE sets up).
    let deployment = ml_connector::notify::DeploymentChannels::parse(
        "[[channels]]\nname = \"team\"\nkind = \"webhook\"\n",
        |var| (var == "ML_CONNECTOR_NOTIFY_TEAM").then(|| format!("{base}/team")),
    )
    .unwrap();
    let deps = ml_connector::flows::deps::FlowDeps::new(
        Some(Vault::from_spec(&c.master_key).unwrap()),
        ml_connector::flows::deps::FlowTuning::default(),
    )
    .with_deployment_channels(Some(deployment));
    let handlers = ml_connector::flows::handlers(&deps);
    let defs = ml_connector::flows::definitions(None, &handlers).unwrap();
    let engine = ml_connector::engine::Engine::new(c.pool.clone(), defs, handlers);
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("digest-test".into(), 8);
    cfg.poll_interval = Duration::from_millis(100);
    WorkerPool::spawn(engine, cfg, shutdown.clone());
    let poll = c.poll("orders").await;
    c.settle(poll).await;
    let order_row = |no: String| {
        let pool = c.pool.clone();
        async move {
            sqlx::query_as::<_, (i64, String, String)>(
                "SELECT id, state, status FROM workflows WHERE kind = 'order' AND business_key = $1",
            )
            .bind(no)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(order_row(fixed.clone()).await.2, "failed");
    assert_eq!(order_row(broken.clone()).await.2, "failed");
    // One is fixed: its country mapped, the order restarted.
    c.update_settings(|s| {
        s.orders.countries.insert("XYZ".into(), "GB".into());
    })
    .await;
    let (fixed_id, _, _) = order_row(fixed.clone()).await;
    ml_connector::ops::workflows::restart(&c.pool, fixed_id, "test")
        .await
        .unwrap();
    // One is shipped and invoiced: tracking reaches the order and the invoice.
    let order_id = c.ss_order(&shipped).await["orderId"].as_i64().unwrap();
    c.ss_control(
        "mark-shipped",
        json!({"orderId": order_id, "carrierCode": "fedex", "trackingNumber": "794600000001"}),
    )
    .await;
    c.shipments_poll("reconcile").await;
    invoice(&c.sage, &shipped).await;
    common::eventually(
        "shipped, and the fixed order sent",
        Duration::from_secs(90),
        || async {
            let s = order_row(shipped.clone()).await;
            let f = order_row(fixed.clone()).await;
            (s.1 == "shipped" && f.2 != "failed" && f.1 != "fetch" && f.1 != "post").then_some(())
        },
    )
    .await;

    // Off: no digest, however often the alerts are checked.
    check(&c, 1).await;
    assert!(on(&got, "/hook", "daily_digest", "digest").is_empty());

    // Due a minute ago in the site's zone: one digest per channel, with the figures.
    let (zone, a_minute_ago) = zone_and_a_minute_ago();
    c.update_settings(|s| {
        s.sage.site_zone = zone.into();
        s.notify.digest_at = a_minute_ago;
    })
    .await;
    check(&c, 2).await;
    let digest = common::eventually("the digest", Duration::from_secs(30), || async {
        on(&got, "/hook", "daily_digest", "digest").first().cloned()
    })
    .await;
    let text = digest["text"].as_str().unwrap();
    assert!(
        text.starts_with("[DAILY DIGEST] acme: daily digest for "),
        "{text}"
    );
    for want in [
        "2 orders sent to ShipStation",
        "tracking written for 1,",
        "1 item needs a person",
        "Orders with tracking written to Sage: 1",
        &format!("Failed and fixed: 1 (order {fixed})"),
        "Needs a person now: 1 failed, 0 waiting for manual action",
        "ShipStation V1 budget: ",
        &format!("Oldest open item: order {broken} (failed) since "),
        "is not an ISO 3166 country code",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    let calls: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ShipStation V1 budget: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(calls > 0, "{text}");
    assert!(
        !text.contains("sim-key") && !text.contains("sim-secret"),
        "{text}"
    );

    // The deployment's channel gets the same digest.
    let team = common::eventually("the team's digest", Duration::from_secs(30), || async {
        on(&got, "/team", "daily_digest", "digest").first().cloned()
    })
    .await;
    assert_eq!(team["text"], digest["text"]);

    // Checked again the same day: nothing more.
    check(&c, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(on(&got, "/hook", "daily_digest", "digest").len(), 1);
    assert_eq!(on(&got, "/team", "daily_digest", "digest").len(), 1);
    assert_eq!(
        c.count("SELECT count(*) FROM notify_digests").await,
        1,
        "the day's digest is recorded once"
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_test_prints_each_channels_result() {
    let c = common::connector::start(SimConfig::default()).await;
    let (base, got) = receiver().await;
    let c_got = got.clone();
    let (smtp_port, mails) = smtp_server().await;
    c.update_settings(|s| {
        s.notify.channels = vec![
            mail_channel(smtp_port),
            hook("ops", ChannelKind::Webhook),
            hook("teams", ChannelKind::Teams),
            hook("unset", ChannelKind::Slack),
        ];
        s.notify.check_secs = 7;
    })
    .await;
    set_secret(&c, "notify_ops", &format!("{base}/hook")).await;
    set_secret(&c, "notify_teams", &format!("{base}/fail/teams")).await;
    // A connection with channels gets its alerts check on the schedule, every notify.check_secs.
    let specs = ml_connector::flows::orders_poll::schedules(c.pool.clone(), false)
        .schedules()
        .await
        .unwrap();
    let check = specs
        .iter()
        .find(|s| s.name == format!("alerts-check:{}", c.connection_id))
        .expect("an alerts-check schedule");
    assert_eq!(
        (check.kind.as_str(), check.period),
        ("alerts_check", Duration::from_secs(7))
    );
    // Without channels of its own, a connection is checked only when the deployment has some.
    let saved = connections::get(&c.pool, "acme").await.unwrap().settings;
    c.update_settings(|s| s.notify.channels.clear()).await;
    for (deployment, expected) in [(false, false), (true, true)] {
        let specs = ml_connector::flows::orders_poll::schedules(c.pool.clone(), deployment)
            .schedules()
            .await
            .unwrap();
        let has = specs
            .iter()
            .any(|s| s.name == format!("alerts-check:{}", c.connection_id));
        assert_eq!(has, expected, "deployment channels: {deployment}");
    }
    connections::update_settings(&c.pool, "acme", &saved)
        .await
        .unwrap();
    let out = tokio::process::Command::new(common::binary())
        .args(["alerts", "test", "--connection", "acme"])
        .env("DATABASE_URL", &c.url)
        .env("ML_CONNECTOR_MASTER_KEY", &c.master_key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a failed channel fails the command: {stdout}"
    );
    assert!(stdout.contains("acme ops (Webhook): delivered"), "{stdout}");
    assert!(stdout.contains("acme mail (Email): delivered"), "{stdout}");
    assert!(mails.lock().unwrap()[0].contains("Subject: [TEST] acme:"));
    assert!(
        stdout.contains("acme teams (Teams): FAILED: the receiver answered HTTP 500"),
        "{stdout}"
    );
    assert!(
        stdout.contains("acme unset (Slack): FAILED: secret notify_unset (its URL) is not set"),
        "{stdout}"
    );
    assert!(!stdout.contains(&base), "no channel URL printed: {stdout}");

    // The same through GraphQL, for operators only.
    let api = c.start_api().await;
    let gql = |token: String| {
        let api = api.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{api}/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": "mutation { testNotification(connection: \"acme\") { connection channel delivered error } }"}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let viewer =
        ml_connector::ops::tokens::create(&c.pool, "v", ml_connector::ops::tokens::Role::Viewer)
            .await
            .unwrap();
    let v = gql(viewer).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{v}");
    let operator =
        ml_connector::ops::tokens::create(&c.pool, "o", ml_connector::ops::tokens::Role::Operator)
            .await
            .unwrap();
    let v = gql(operator).await;
    let checks = v["data"]["testNotification"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"));
    let by = |name: &str| {
        checks
            .iter()
            .find(|x| x["channel"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by("ops")["delivered"], true, "{v}");
    assert_eq!(by("mail")["delivered"], true, "{v}");
    assert_eq!(by("teams")["delivered"], false, "{v}");
    assert_eq!(
        by("teams")["error"],
        "the receiver answered HTTP 500",
        "{v}"
    );
    assert!(
        !v.to_string().contains(&base),
        "no channel URL answered: {v}"
    );

    let got = got.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        4,
        "two by the command, two through GraphQL: {got:?}"
    );
    assert_eq!(got[0].1["event"], "test");
    let card = &got.iter().find(|(p, _)| p == "/fail/teams").unwrap().1;
    assert_eq!(card["@type"], "MessageCard");

    // The deployment's own channels (ML_CONNECTOR_NOTIFY_FILE), secrets from the environment.
    let file = common::temp_path("deployment-notify.toml");
    std::fs::write(
        &file,
        "console_url = \"https://console.example.com/\"\n[[channels]]\nname = \"team\"\nkind = \"webhook\"\n",
    )
    .unwrap();
    let alerts_test = |secret: Option<String>| {
        let mut cmd = tokio::process::Command::new(common::binary());
        cmd.args(["alerts", "test"])
            .env("DATABASE_URL", &c.url)
            .env("ML_CONNECTOR_MASTER_KEY", &c.master_key)
            .env("ML_CONNECTOR_NOTIFY_FILE", &file)
            .env_remove("ML_CONNECTOR_NOTIFY_TEAM");
        if let Some(s) = secret {
            cmd.env("ML_CONNECTOR_NOTIFY_TEAM", s);
        }
        async move { cmd.output().await.unwrap() }
    };
    let out = alerts_test(None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("channel team: set ML_CONNECTOR_NOTIFY_TEAM to its webhook URL"),
        "{stderr}"
    );
    let out = alerts_test(Some(format!("{base}/team/T0KEN"))).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deployment team (Webhook): delivered"),
        "{stdout}"
    );
    assert!(!stdout.contains("T0KEN"), "{stdout}");
    let sample = c_got
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| p == "/team/T0KEN")
        .map(|(_, b)| b.clone())
        .expect("the deployment channel got the sample");
    assert_eq!(sample["connection"], "deployment");
    assert_eq!(sample["link"], "https://console.example.com/");
}

#[tokio::test]
async fn bad_notification_settings_are_refused_with_the_reason() {
    let (pool, _) = common::fresh_db().await;
    let settings: connections::Settings = serde_json::from_value(json!({
        "sage": {"company": "ABC", "soap_url": "https://sage.example.com/ws", "agent_url": "https://agent.example.com"},
        "notify": {"channels": [{"name": "Ops Team", "kind": "slack"}], "resend_after_secs": 1}
    }))
    .unwrap();
    let e = connections::add(&pool, "x", &settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("notify.channels[0].name \"Ops Team\""), "{e}");
    assert!(e.contains("notify.resend_after_secs"), "{e}");
    let e = serde_json::from_value::<connections::Settings>(json!({
        "notify": {"channels": [{"name": "x", "kind": "pager"}]}
    }))
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown variant `pager`"), "{e}");
}

/// What the STARTTLS server saw: (PLAIN credentials decoded, messages, whether a MAIL came in clear).
#[derive(Default)]
struct TlsSmtpLog {
    logins: Vec<String>,
    mails: Vec<String>,
    clear_mail_refused: bool,
}

/// SMTP that offers STARTTLS with `pki`'s server certificate and refuses mail before it; after the
/// upgrade it offers AUTH PLAIN and takes one message per session.
async fn starttls_server(
    pki: &ml_connector::testkit::pki::TestPki,
) -> (u16, Arc<Mutex<TlsSmtpLog>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let log: Arc<Mutex<TlsSmtpLog>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (l, acceptor) = (l.clone(), acceptor.clone());
            tokio::spawn(async move {
                let mut clear = BufReader::new(sock);
                clear.get_mut().write_all(b"220 relay ESMTP\r\n").await?;
                let mut line = String::new();
                loop {
                    line.clear();
                    if clear.read_line(&mut line).await? == 0 {
                        return Ok::<_, std::io::Error>(());
                    }
                    let cmd = line.trim().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-relay\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                    } else if cmd == "STARTTLS" {
                        clear.get_mut().write_all(b"220 go ahead\r\n").await?;
                        break;
                    } else if cmd.starts_with("MAIL") {
                        l.lock().unwrap().clear_mail_refused = true;
                        b"530 5.7.0 Must issue a STARTTLS command first\r\n"
                    } else if cmd.starts_with("QUIT") {
                        return Ok(());
                    } else {
                        b"250 ok\r\n"
                    };
                    clear.get_mut().write_all(reply).await?;
                }
                let tls = acceptor.accept(clear.into_inner()).await?;
                let mut s = BufReader::new(tls);
                loop {
                    line.clear();
                    if s.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let cmd = line.trim().to_string();
                    let upper = cmd.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-relay\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
                    } else if let Some(b64) = cmd.strip_prefix("AUTH PLAIN ") {
                        use base64::Engine;
                        let raw = base64::engine::general_purpose::STANDARD
                            .decode(b64.trim())
                            .unwrap_or_default();
                        l.lock()
                            .unwrap()
                            .logins
                            .push(String::from_utf8_lossy(&raw).replace('\0', "|"));
                        b"235 2.7.0 accepted\r\n"
                    } else if upper.starts_with("DATA") {
                        s.get_mut().write_all(b"354 go ahead\r\n").await?;
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if s.read_line(&mut line).await? == 0 || line.trim_end() == "." {
                                break;
                            }
                            data.push_str(&line);
                        }
                        l.lock().unwrap().mails.push(data);
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = s.get_mut().write_all(b"221 bye\r\n").await;
                        return Ok(());
                    } else {
                        b"250 ok\r\n"
                    };
                    s.get_mut().write_all(reply).await?;
                    s.get_mut().flush().await?;
                }
            });
        }
    });
    (port, log)
}

/// E-mail to a relay that requires STARTTLS: the login and the notice travel only inside TLS,
/// the relay's certificate is checked (a private CA in `smtp.ca_pem`; without it the unknown
/// issuer is refused and nothing is sent), and the password never shows in an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_with_a_login_checked_against_the_relays_ca() {
    let pki = ml_connector::testkit::pki::TestPki::generate(&["localhost"]).unwrap();
    let (port, log) = starttls_server(&pki).await;
    let channel = |ca_pem: Option<String>| Channel {
        name: "mail".into(),
        kind: ChannelKind::Email,
        smtp: Some(ml_connector::notify::SmtpSettings {
            host: "localhost".into(),
            port,
            from: "connector@example.com".into(),
            to: vec!["ops@example.com".into()],
            username: Some("connector".into()),
            starttls: true,
            ca_pem,
        }),
    };
    let notice = ml_connector::notify::Notice {
        event: ml_connector::notify::NoticeEvent::Test,
        connection: "acme".into(),
        alert: "test".into(),
        sentence: "a test notification: this channel reaches you".into(),
        since: None,
        held_back: 0,
        link: None,
        lines: Vec::new(),
    };
    let password = Secret::new("smtp-pa55word");
    let http = ml_connector::notify::client();

    // The relay's issuer is unknown to the public roots: refused before anything is sent.
    let e = ml_connector::notify::deliver(&http, &channel(None), Some(&password), &notice)
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(!e.to_string().contains("pa55word"), "{e}");
    {
        let l = log.lock().unwrap();
        assert!(
            l.logins.is_empty() && l.mails.is_empty(),
            "nothing before a trusted TLS"
        );
    }

    // With the relay's CA: STARTTLS, then the login and the message inside TLS.
    let ch = channel(Some(pki.ca_pem.clone()));
    let settings = ml_connector::notify::NotifySettings {
        channels: vec![ch.clone()],
        ..Default::default()
    };
    assert_eq!(settings.problems(), Vec::<String>::new());
    ml_connector::notify::deliver(&http, &ch, Some(&password), &notice)
        .await
        .unwrap();
    let l = log.lock().unwrap();
    assert_eq!(l.logins, vec!["|connector|smtp-pa55word".to_string()]);
    assert_eq!(l.mails.len(), 1);
    assert!(
        l.mails[0].contains("Subject: [TEST] acme:"),
        "{}",
        l.mails[0]
    );
    assert!(!l.mails[0].contains("pa55word"));
    assert!(!l.clear_mail_refused, "no mail was tried in clear");
}
