//! Webhook setup against accounts that answer differently (issue #16, points 2 and 4): V1
//! subscriptions listed as a bare array or wrapped, kept to one per event however often the poll
//! runs; V2 deliveries verified against keys published where the settings say.

use crate::common;

use std::time::Duration;

use common::connector::Connector;
use ml_connector::connections::{Settings, DEFAULT_V2_JWKS_URL};
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::flows::shipments_poll::{EVENTS, SUBSCRIPTIONS};
use ml_connector::sim::shipstation::{Behaviour, SimConfig, WebhooksList};
use serde_json::{json, Value};

async fn subscriptions(c: &Connector) -> Vec<Value> {
    reqwest::get(format!("{}/__control/webhooks", c.ss.base_url()))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

async fn remembered(c: &Connector) -> Value {
    sqlx::query_scalar("SELECT value FROM cursors WHERE connection_id = $1 AND feed = $2")
        .bind(c.connection_id)
        .bind(SUBSCRIPTIONS)
        .fetch_optional(&c.pool)
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

/// One subscription of `event` to a URL starting with `base`, with its id remembered.
async fn assert_one_each(c: &Connector, base: &str, what: &str) {
    let subs = subscriptions(c).await;
    let ids = remembered(c).await;
    for event in EVENTS {
        let mine: Vec<&Value> = subs
            .iter()
            .filter(|s| s["event"] == *event && s["url"].as_str().unwrap().starts_with(base))
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "{what}: {event} subscribed {} times ({} subscriptions in all)",
            mine.len(),
            subs.len()
        );
        assert_eq!(
            ids[event], mine[0]["id"],
            "{what}: {event}'s id is remembered"
        );
    }
    assert_eq!(subs.len(), EVENTS.len(), "{what}: nothing else subscribed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_polls_leave_one_subscription_per_event_whatever_the_list_shape() {
    for shape in [WebhooksList::Bare, WebhooksList::Wrapped] {
        let c = common::connector::start(SimConfig {
            v1_limit: 1_000_000,
            behaviour: Behaviour {
                webhooks_list: shape,
                extra_fields: true,
                ..Behaviour::default()
            },
            ..SimConfig::default()
        })
        .await;
        c.update_settings(|s| {
            s.tracking.webhook_base_url = Some("https://connector.example".into());
            s.shipstation.v1_rate_limit_per_min = 1_000_000;
        })
        .await;
        let shutdown = Shutdown::new();
        let mut cfg = PoolConfig::new("webhook-setup".into(), 4);
        cfg.poll_interval = Duration::from_millis(100);
        WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());
        for i in 0..100 {
            c.shipments_poll(&format!("{shape:?}-{i}")).await;
        }
        assert_one_each(&c, "https://connector.example/", &format!("{shape:?}")).await;

        // An older release left a second copy of one subscription: the next poll removes it.
        let first = subscriptions(&c).await[0].clone();
        common::shipstation::v1_client(&c.ss, c.pool.clone(), ("sim-key", "sim-secret"), None)
            .subscribe_webhook(
                first["url"].as_str().unwrap(),
                first["event"].as_str().unwrap(),
                None,
                "an older release",
            )
            .await
            .unwrap();
        assert_eq!(subscriptions(&c).await.len(), EVENTS.len() + 1);
        c.shipments_poll(&format!("{shape:?}-copy")).await;
        assert_one_each(&c, "https://connector.example/", "after a copy").await;

        // Our public URL changes: ours are moved, still one per event.
        c.update_settings(|s| {
            s.tracking.webhook_base_url = Some("https://new.connector.example".into())
        })
        .await;
        c.shipments_poll(&format!("{shape:?}-moved")).await;
        assert_one_each(&c, "https://new.connector.example/", "after a move").await;
        shutdown.trigger();
    }
}

async fn send_v2(c: &Connector, hook: &str, n: u32) -> u64 {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/__control/v2/send-webhook", c.ss.base_url()))
        .json(&json!({"url": hook, "body": {"resource_url": format!("https://api.shipstation.com/v2/labels/se-{n}"),
            "resource_type": "fulfillment_shipped_v2"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["status"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_deliveries_verify_against_the_keys_published_where_the_settings_say() {
    assert_eq!(
        Settings::default().shipstation.v2_jwks_url,
        "https://api.shipengine.com/jwks",
        "the default is where public client code reads the keys"
    );
    assert_eq!(DEFAULT_V2_JWKS_URL, "https://api.shipengine.com/jwks");
    // This account publishes its keys somewhere else than `<V2 base URL>/jwks`.
    let c = common::connector::start(SimConfig {
        behaviour: Behaviour {
            jwks_path: "/published/signing-keys.json".into(),
            ..Behaviour::default()
        },
        ..SimConfig::default()
    })
    .await;
    let configured = c.ss.jwks_url();
    assert!(configured.ends_with("/published/signing-keys.json"));
    let api = c.start_api().await;
    let hook = format!("{api}/webhooks/shipstation/acme");
    assert_eq!(
        send_v2(&c, &hook, 1).await,
        200,
        "verified with the key at the configured URL"
    );
    // Pointed at a location that publishes nothing: no delivery verifies, none is acted on.
    let base = c.ss.base_url();
    c.update_settings(move |s| s.shipstation.v2_jwks_url = format!("{base}/jwks"))
        .await;
    assert_eq!(send_v2(&c, &hook, 2).await, 503);
    let rows: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT result, verified, reason FROM webhook_deliveries WHERE api = 'v2' ORDER BY id",
    )
    .fetch_all(&c.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("accepted", true));
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("rejected", false));
    assert!(
        rows[1].2.as_deref().unwrap_or("").contains("signing keys"),
        "{:?}",
        rows[1].2
    );
    // Back to the configured location: verified again.
    c.update_settings(move |s| s.shipstation.v2_jwks_url = configured)
        .await;
    assert_eq!(send_v2(&c, &hook, 3).await, 200);
}
