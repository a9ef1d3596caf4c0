//! The GraphQL ops API over real HTTP: the auth matrix, limits, typed errors, the everyday
//! operations documents (graphql/operations/*.graphql), restart, bulk retry and replay.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::connector::Connector;
use common::sage100::{control, enter_order, rows};
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::ops::tokens::{self, Role};
use ml_connector::sim::shipstation::SimConfig;
use reqwest::Method;
use serde_json::{json, Value};

struct Api {
    url: String,
    http: reqwest::Client,
    ran: std::sync::Mutex<BTreeSet<String>>,
}

impl Api {
    async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Run a document and expect data without errors.
    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, v) = self.post(Some(token), query, variables).await;
        assert!(status == 200 && v.get("errors").is_none(), "{status} {v}");
        v["data"].clone()
    }

    /// Run one of graphql/operations/*.graphql.
    async fn op(&self, token: &str, file: &str, variables: Value) -> Value {
        let path = format!("{}/graphql/operations/{file}", env!("CARGO_MANIFEST_DIR"));
        let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        self.ran.lock().unwrap().insert(file.to_string());
        self.ok(token, &doc, variables).await
    }
}

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

async fn wf_status(c: &Connector, no: &str) -> (String, String) {
    sqlx::query_as("SELECT state, status FROM workflows WHERE kind = 'order' AND business_key = $1")
        .bind(no)
        .fetch_one(&c.pool)
        .await
        .unwrap()
}

async fn wait_for(c: &Connector, no: &str, state: &str, status: &str) {
    common::eventually(
        &format!("{no} {state}/{status}"),
        Duration::from_secs(60),
        || async {
            (wf_status(c, no).await == (state.to_string(), status.to_string())).then_some(())
        },
    )
    .await;
}

async fn blank_ship_to(c: &Connector, no: &str) -> Value {
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{no}"),
        json!({"ShipToAddress1": ""}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_api_finds_failures_restarts_retries_and_replays_over_http() {
    let c = common::connector::start(SimConfig::default()).await;
    let api = Api {
        url: c.start_api().await,
        http: reqwest::Client::new(),
        ran: Default::default(),
    };
    let viewer = tokens::create(&c.pool, "v", Role::Viewer).await.unwrap();
    let operator = tokens::create(&c.pool, "o", Role::Operator).await.unwrap();
    let admin = tokens::create(&c.pool, "a", Role::Admin).await.unwrap();
    let cid = c.connection_id.to_string();

    // The auth matrix.
    let (s, v) = api
        .post(None, "{ stats { workflows { kind } } }", json!({}))
        .await;
    assert_eq!((s, code(&v)), (401, "UNAUTHENTICATED"));
    let (s, v) = api
        .post(
            Some("mlc_forged"),
            "{ stats { workflows { kind } } }",
            json!({}),
        )
        .await;
    assert_eq!((s, code(&v)), (401, "UNAUTHENTICATED"));
    api.ok(&viewer, "{ connections { name } }", json!({})).await;
    let restart = "mutation($id: ID!) { restartWorkflow(id: $id) { id } }";
    let (_, v) = api.post(Some(&viewer), restart, json!({"id": "1"})).await;
    assert_eq!(code(&v), "FORBIDDEN", "a viewer cannot mutate");
    let create = "mutation($s: [SecretInput!]!) { createConnection(name: \"beta\", settings: {sage: {company: \"XYZ\", soap_url: \"http://127.0.0.1:1/s\", agent_url: \"http://127.0.0.1:1\"}}, secrets: $s) { id name secrets { name set } } }";
    let secrets = json!({"s": [{"name": "v1_key", "value": "super-secret-value-1"}]});
    let (_, v) = api.post(Some(&operator), create, secrets.clone()).await;
    assert_eq!(code(&v), "FORBIDDEN", "only admins touch connections");
    let (_, v) = api.post(Some(&admin), create, secrets).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert!(
        !v.to_string().contains("super-secret-value-1"),
        "secrets never answered"
    );
    let set: Vec<&Value> = v["data"]["createConnection"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["set"] == json!(true))
        .collect();
    assert_eq!(set.len(), 1);

    // Typed errors, limits.
    let (_, v) = api
        .post(Some(&viewer), "{ workflow(id: \"abc\") { id } }", json!({}))
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    let (_, v) = api
        .post(
            Some(&viewer),
            "{ workflow(id: \"999999\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND");
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
    let (_, v) = api.post(Some(&viewer), deep, json!({})).await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{v}"
    );
    let huge = format!(
        "{{ stats {{ workflows {{ kind }} }} }} #{}",
        "x".repeat(100_000)
    );
    let (s, _) = api.post(Some(&viewer), &huge, json!({})).await;
    assert_eq!(s, 413, "request body limit");

    // Three orders fail mapping (no ship-to street); one is fine.
    let mut bad = Vec::new();
    for _ in 0..3 {
        let no = enter_order(
            &c.sage,
            json!({"CustomerNo": "ABF", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
        )
        .await;
        blank_ship_to(&c, &no).await;
        bad.push(no);
    }
    let good = enter_order(&c.sage, json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}]})).await;
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("graphql-test".into(), 16);
    cfg.poll_interval = Duration::from_millis(200);
    WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());
    let poll = c.poll("orders").await;
    c.settle(poll).await;

    let failed = api
        .op(
            &viewer,
            "failed_orders.graphql",
            json!({"connectionId": cid}),
        )
        .await;
    assert_eq!(failed["workflows"]["totalCount"], 3);
    for e in failed["workflows"]["edges"].as_array().unwrap() {
        assert!(
            e["node"]["lastError"]
                .as_str()
                .unwrap()
                .contains("no ship-to street"),
            "{e}"
        );
    }
    // The connection has existed for two hours; its shipments poll (every 5 min) never ran.
    sqlx::query("UPDATE connections SET created_at = now() - interval '2 hours' WHERE id = $1")
        .bind(c.connection_id)
        .execute(&c.pool)
        .await
        .unwrap();
    let stats = api.op(&viewer, "stats.graphql", json!({})).await;
    let alerts = stats["alerts"].as_array().unwrap();
    let has = |kind: &str, text: &str| {
        alerts
            .iter()
            .any(|a| a["kind"] == kind && a["message"].as_str().unwrap().contains(text))
    };
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "FAILED_WORKFLOWS" && a["count"] == 3),
        "{stats}"
    );
    assert!(has("CONNECTION_FAILING", "no ship-to street"), "{stats}");
    assert!(
        has(
            "STALE_FEED",
            "ShipStation shipments poll has never succeeded"
        ),
        "{stats}"
    );
    assert!(
        !has("STALE_FEED", "Sage order poll"),
        "the order poll just ran: {stats}"
    );

    // Fix one in Sage and restart it; a restart of a non-failed workflow is INVALID_STATE.
    let first_id = api.ok(&viewer, "query($c: ID!, $k: String!) { workflowByKey(kind: \"order\", connectionId: $c, businessKey: $k) { id } }", json!({"c": cid, "k": bad[0]})).await["workflowByKey"]["id"].clone();
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{}", bad[0]),
        json!({"ShipToAddress1": "1 Fixed St"}),
    )
    .await;
    let r = api
        .op(
            &operator,
            "restart_workflow.graphql",
            json!({"id": first_id}),
        )
        .await;
    // Ready, or already picked up by a worker.
    assert_eq!(r["restartWorkflow"]["id"], first_id);
    assert_ne!(r["restartWorkflow"]["status"], "FAILED");
    wait_for(&c, &bad[0], "check", "waiting").await;
    let (_, v) = api
        .post(Some(&operator), restart, json!({"id": first_id}))
        .await;
    assert_eq!(code(&v), "INVALID_STATE");

    // Fix the other two; one bulk retry.
    for no in &bad[1..] {
        control(
            &c.sage,
            Method::POST,
            &format!("ABC/orders/{no}"),
            json!({"ShipToAddress1": "2 Fixed St"}),
        )
        .await;
    }
    let r = api
        .op(
            &operator,
            "retry_failed.graphql",
            json!({"connectionId": cid}),
        )
        .await;
    assert_eq!(r["retryFailed"], 2);
    for no in &bad[1..] {
        wait_for(&c, no, "check", "waiting").await;
    }
    c.assert_exactly_once(&[bad.clone(), vec![good.clone()]].concat())
        .await;

    // A failed Sage tracking write: the carrier UDF is misnamed, so the sales order write fails.
    api.ok(&admin, "mutation($id: ID!) { updateConnection(id: $id, settings: {udfs: {carrier: \"CARRIER\"}}) { id } }", json!({"id": cid})).await;
    let order_id = c.ss_order(&good).await["orderId"].clone();
    c.ss_control(
        "labels",
        json!({"orderId": order_id, "carrierCode": "ups", "serviceCode": "ups_ground"}),
    )
    .await;
    let sync = api
        .ok(
            &operator,
            "mutation($c: ID!) { triggerSync(connectionId: $c, feed: SHIPMENTS) { id kind } }",
            json!({"c": cid}),
        )
        .await;
    assert_eq!(sync["triggerSync"]["kind"], "shipments_poll");
    wait_for(&c, &good, "track_so", "failed").await;
    let history = api
        .op(
            &viewer,
            "order_history.graphql",
            json!({"connectionId": cid, "salesOrderNo": good}),
        )
        .await;
    let events = history["workflowByKey"]["events"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let failed_write = events
        .iter()
        .rev()
        .find(|e| e["node"]["event"] == "failed" && e["node"]["fromState"] == "track_so")
        .expect("the failed write is in the audit trail");
    assert!(
        failed_write["node"]["error"]
            .as_str()
            .unwrap()
            .contains("CARRIER"),
        "{failed_write}"
    );
    assert_eq!(failed_write["node"]["replayable"], true);
    // Fixed, then replayed from the audit trail: the tracking reaches Sage once.
    api.ok(&admin, "mutation($id: ID!) { updateConnection(id: $id, settings: {udfs: {carrier: \"UDF_CARRIER\"}}) { id } }", json!({"id": cid})).await;
    let r = api
        .op(
            &operator,
            "replay_event.graphql",
            json!({"eventId": failed_write["node"]["id"]}),
        )
        .await;
    assert_ne!(r["replayEvent"]["status"], "FAILED");
    wait_for(&c, &good, "track_invoice", "waiting").await;
    let header = rows(&c.sage, "SO_SalesOrderHeader")
        .await
        .into_iter()
        .find(|h| h["SalesOrderNo"] == json!(good))
        .unwrap();
    assert_eq!(header["UDF_CARRIER"], "ups");
    let replayed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflow_events WHERE event = 'replayed' AND to_state = 'track_so' AND (detail->>'replay_of_event')::bigint = $1",
    )
    .bind(failed_write["node"]["id"].as_str().unwrap().parse::<i64>().unwrap())
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(replayed, 1, "the replay is in the audit trail");

    let feeds = api
        .op(&viewer, "feeds.graphql", json!({"connectionId": cid}))
        .await;
    assert!(!feeds["syncRuns"]["edges"].as_array().unwrap().is_empty());
    assert_eq!(feeds["connection"]["name"], "acme");

    // Every everyday document ran.
    let all: BTreeSet<String> =
        std::fs::read_dir(format!("{}/graphql/operations", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
    assert_eq!(*api.ran.lock().unwrap(), all);
    shutdown.trigger();
}

#[test]
fn the_exported_schema_matches_the_code() {
    let path = format!("{}/graphql/schema.graphql", env!("CARGO_MANIFEST_DIR"));
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(
        stored == ml_connector::graphql::sdl(),
        "graphql/schema.graphql is stale: run `ml-connector graphql-schema > graphql/schema.graphql`"
    );
}

#[tokio::test]
async fn the_workflows_cli_uses_the_same_services() {
    let (_pool, url) = common::fresh_db().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, token, _) = run(&["token", "create", "--role", "operator"]);
    assert!(ok && token.trim().starts_with("mlc_"));
    let (ok, _, err) = run(&["token", "create", "--role", "root"]);
    assert!(
        !ok && err.contains("not one of viewer, operator, admin"),
        "{err}"
    );
    let (ok, out, _) = run(&["workflows", "list", "--status", "failed", "--json"]);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["workflows"], json!([]));
    let (ok, _, err) = run(&["workflows", "restart", "424242"]);
    assert!(!ok && err.contains("workflow 424242 not found"), "{err}");
}

/// The next JSON text message (None: closed, an error, or 10 s of silence).
async fn next_json<S>(ws: &mut S) -> Option<Value>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
            serde_json::from_str(&t).ok()
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_changes_stream_to_subscribers_with_a_token() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let c = common::connector::start(SimConfig::default()).await;
    let base = c.start_api().await;
    let token = tokens::create(&c.pool, "v", Role::Viewer).await.unwrap();
    let connect = || async {
        let mut req = format!("{}/graphql/ws", base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(req).await.unwrap().0
    };
    // A forged token: the connection is refused.
    let mut ws = connect().await;
    ws.send(Message::Text(
        json!({"type": "connection_init", "payload": {"token": "mlc_forged"}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let answer = next_json(&mut ws).await;
    assert!(
        answer
            .as_ref()
            .is_none_or(|a| a["type"] != "connection_ack"),
        "{answer:?}"
    );

    let mut ws = connect().await;
    ws.send(Message::Text(
        json!({"type": "connection_init", "payload": {"token": token}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "connection_ack");
    ws.send(Message::Text(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { workflowChanged(filter: {kind: \"probe-sub\"}) { id businessKey status } }"}}).to_string().into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A change lands in the database: the subscriber hears of it.
    sqlx::query("INSERT INTO workflows (kind, connection_id, business_key, state, status) VALUES ('probe-sub', 0, 'K-1', 'first', 'waiting')")
        .execute(&c.pool)
        .await
        .unwrap();
    let msg = next_json(&mut ws).await.expect("a change");
    assert_eq!(msg["type"], "next", "{msg}");
    assert_eq!(
        msg["payload"]["data"]["workflowChanged"]["businessKey"],
        "K-1"
    );
    assert_eq!(
        msg["payload"]["data"]["workflowChanged"]["status"],
        "WAITING"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_wide_and_aliased_documents_are_refused_before_they_run() {
    let c = common::connector::start(SimConfig::default()).await;
    let api = Api {
        url: c.start_api().await,
        http: reqwest::Client::new(),
        ran: Default::default(),
    };
    let viewer = tokens::create(&c.pool, "v", Role::Viewer).await.unwrap();
    let refused = |v: &Value, text: &str| {
        assert_eq!(code(v), "BAD_USER_INPUT", "{v}");
        assert!(
            v["errors"][0]["message"].as_str().unwrap().contains(text),
            "{v}"
        );
        assert!(v["data"].is_null(), "nothing ran: {v}");
    };

    // Cost multiplies by `first`: 20 pages of 500 workflows with 1000 events each.
    let page = "workflows(first: 500) { edges { node { id events(first: 1000) { edges { node { id event } } } } } }";
    let costly = format!(
        "{{ {} }}",
        (0..20)
            .map(|i| format!("w{i}: {page}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (s, v) = api.post(Some(&viewer), &costly, json!({})).await;
    assert_eq!(s, 200);
    refused(&v, "too complex");
    // Even one such page is too costly; a modest page of workflows with their events is not.
    let (_, v) = api
        .post(Some(&viewer), &format!("{{ {page} }}"), json!({}))
        .await;
    refused(&v, "too complex");
    api.ok(
        &viewer,
        "{ workflows(first: 20) { totalCount edges { node { id events(first: 20) { edges { node { id event } } } } } } }",
        json!({}),
    )
    .await;
    // The default page size counts too (50 workflows x 1000 events).
    let (_, v) = api
        .post(
            Some(&viewer),
            "{ workflows { edges { node { id events(first: 1000) { edges { node { id event actor } } } } } } }",
            json!({}),
        )
        .await;
    refused(&v, "too complex");
    // A variable's value counts like a literal.
    let (_, v) = api
        .post(
            Some(&viewer),
            "query($n: Int!) { syncRuns(first: $n) { edges { node { id feed startedAt finishedAt found created signalled error watermark } } } webhookDeliveries(first: $n) { edges { node { id receivedAt api event verified result reason httpStatus shipmentsFound } } } }",
            json!({"n": 500}),
        )
        .await;
    assert!(v.get("errors").is_none(), "two pages of 500 are fine: {v}");

    // Aliases: 60 under one root field.
    let aliased = format!(
        "{{ stats {{ {} }} }}",
        (0..60)
            .map(|i| format!("a{i}: workflows {{ kind }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (_, v) = api.post(Some(&viewer), &aliased, json!({})).await;
    refused(&v, "aliases");
    // Aliases spread through fragments count where they are spread.
    let fragment = format!(
        "fragment F on Stats {{ {} }} query {{ {} }}",
        (0..10)
            .map(|i| format!("f{i}: workflows {{ kind }}"))
            .collect::<Vec<_>>()
            .join(" "),
        (0..6)
            .map(|i| format!("s{i}: stats {{ ...F }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (_, v) = api.post(Some(&viewer), &fragment, json!({})).await;
    refused(&v, "aliases");
    // Root fields: 21.
    let wide = format!(
        "{{ {} }}",
        (0..21)
            .map(|i| format!("c{i}: connections {{ name }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (_, v) = api.post(Some(&viewer), &wide, json!({})).await;
    refused(&v, "root fields");
    // 20 are fine.
    let twenty = format!(
        "{{ {} }}",
        (0..20)
            .map(|i| format!("c{i}: connections {{ name }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    api.ok(&viewer, &twenty, json!({})).await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws socket on `/graphql/ws`, initialised with `token`.
async fn ws_open(base: &str, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/graphql/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let mut ws = tokio_tungstenite::connect_async(req).await.unwrap().0;
    ws_send(
        &mut ws,
        json!({"type": "connection_init", "payload": {"token": token}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "connection_ack");
    ws
}

async fn ws_send(ws: &mut Ws, msg: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        msg.to_string().into(),
    ))
    .await
    .unwrap();
}

fn subscribe(id: &str, kind: &str) -> Value {
    json!({"id": id, "type": "subscribe", "payload": {"query": format!("subscription {{ workflowChanged(filter: {{kind: \"{kind}\"}}) {{ id }} }}")}})
}

/// What the socket says within `within`: its text messages, and whether it closed.
async fn ws_listen(ws: &mut Ws, within: Duration) -> (Vec<Value>, bool) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    let mut said = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return (said, false),
            Ok(Some(Ok(Message::Text(t)))) => said.push(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return (said, true),
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_and_subscriptions_per_socket_are_capped() {
    let c = common::connector::start(SimConfig::default()).await;
    let base = c.start_api().await;
    let token = tokens::create(&c.pool, "v", Role::Viewer).await.unwrap();

    // Ten subscriptions run on one socket; the eleventh is refused, and the socket stays usable.
    let mut ws = ws_open(&base, &token).await;
    for i in 1..=11 {
        ws_send(&mut ws, subscribe(&i.to_string(), "probe-cap")).await;
    }
    let (said, closed) = ws_listen(&mut ws, Duration::from_secs(3)).await;
    assert!(!closed, "{said:?}");
    let refusals: Vec<&Value> = said
        .iter()
        .filter(|m| m["payload"]["errors"].is_array())
        .collect();
    assert_eq!(refusals.len(), 1, "{said:?}");
    assert!(
        refusals[0]["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 10 subscriptions"),
        "{said:?}"
    );
    let refused_id = refusals[0]["id"].as_str().unwrap().to_string();
    let running = (1..=11)
        .map(|i| i.to_string())
        .find(|i| *i != refused_id)
        .unwrap();
    // Complete one: a new one takes its place and hears of changes.
    ws_send(&mut ws, json!({"id": running, "type": "complete"})).await;
    ws_send(&mut ws, subscribe("12", "probe-cap")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sqlx::query("INSERT INTO workflows (kind, connection_id, business_key, state, status) VALUES ('probe-cap', 0, 'K-1', 'first', 'waiting')")
        .execute(&c.pool)
        .await
        .unwrap();
    let (said, _) = ws_listen(&mut ws, Duration::from_secs(3)).await;
    assert!(
        said.iter()
            .any(|m| m["id"] == "12" && m["type"] == "next" && m["payload"]["errors"].is_null()),
        "{said:?}"
    );

    // A 100 KiB message closes the socket (the HTTP body limit does not apply to WebSockets).
    let mut ws = ws_open(&base, &token).await;
    let big = json!({"id": "1", "type": "subscribe", "payload": {"query": format!(
        "subscription {{ workflowChanged(filter: {{kind: \"probe-big\"}}) {{ id }} }} #{}",
        "x".repeat(100 * 1024)
    )}});
    use futures_util::SinkExt;
    let _ = ws
        .send(tokio_tungstenite::tungstenite::Message::Text(
            big.to_string().into(),
        ))
        .await;
    let (said, closed) = ws_listen(&mut ws, Duration::from_secs(5)).await;
    assert!(closed, "the socket stays open after 100 KiB: {said:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_its_subscriptions() {
    let c = common::connector::start(SimConfig::default()).await;
    let base = c.start_api().await;
    let token = tokens::create(&c.pool, "revoke-me", Role::Viewer)
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'revoke-me'")
        .fetch_one(&c.pool)
        .await
        .unwrap();
    let mut ws = ws_open(&base, &token).await;
    ws_send(&mut ws, subscribe("1", "probe-revoke")).await;
    let (said, closed) = ws_listen(&mut ws, Duration::from_secs(1)).await;
    assert!(said.is_empty() && !closed, "{said:?}");

    assert!(tokens::revoke(&c.pool, id).await.unwrap());
    let (said, closed) = ws_listen(&mut ws, Duration::from_secs(5)).await;
    assert!(
        closed
            || said
                .iter()
                .any(|m| m["id"] == "1" && m["type"] == "complete"),
        "the subscription outlived its token: {said:?}"
    );
    if !closed {
        // The open socket cannot start another.
        ws_send(&mut ws, subscribe("2", "probe-revoke")).await;
        let (said, _) = ws_listen(&mut ws, Duration::from_secs(3)).await;
        assert!(
            said.iter().any(|m| m["id"] == "2"
                && m["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"),
            "{said:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_found_by_their_numbers_or_customer_and_me_names_the_role() {
    let c = common::connector::start(SimConfig::default()).await;
    let api = Api {
        url: c.start_api().await,
        http: reqwest::Client::new(),
        ran: Default::default(),
    };
    let viewer = tokens::create(&c.pool, "v", Role::Viewer).await.unwrap();
    let operator = tokens::create(&c.pool, "o", Role::Operator).await.unwrap();
    for (token, role) in [(&viewer, "VIEWER"), (&operator, "OPERATOR")] {
        let me = api.ok(token, "{ me { role tokenId } }", json!({})).await;
        assert_eq!(me["me"]["role"], role, "{me}");
    }
    let (s, v) = api.post(None, "{ me { role } }", json!({})).await;
    assert_eq!((s, code(&v)), (401, "UNAUTHENTICATED"));

    let abf = enter_order(&c.sage, json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]})).await;
    let bluejay = enter_order(&c.sage, json!({"CustomerNo": "BLUEJAY", "ShipVia": "UPS GROUND", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}]})).await;
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("graphql-search".into(), 8);
    cfg.poll_interval = Duration::from_millis(200);
    let workers = WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());
    let poll = c.poll("orders").await;
    c.settle(poll).await;
    wait_for(&c, &bluejay, "check", "waiting").await;
    let order_id = c.ss_order(&bluejay).await["orderId"].to_string();

    let search =
        "query($t: String!, $n: Int = 20) { searchOrders(text: $t, first: $n) { businessKey kind } }";
    let found = |v: &Value| -> Vec<String> {
        v["searchOrders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["businessKey"].as_str().unwrap().to_string())
            .collect()
    };
    let unzeroed = bluejay.trim_start_matches('0').to_string();
    for (text, expect) in [
        (bluejay.clone(), vec![bluejay.clone()]),
        (unzeroed, vec![bluejay.clone()]),
        (order_id.clone(), vec![bluejay.clone()]),
        (format!("sage100:ABC:{abf}"), vec![abf.clone()]),
        ("bluejay".to_string(), vec![bluejay.clone()]),
        ("blue jay hard".to_string(), vec![bluejay.clone()]),
        ("no-such-order".to_string(), vec![]),
    ] {
        let v = api.ok(&viewer, search, json!({"t": text})).await;
        assert_eq!(found(&v), expect, "searching {text:?}: {v}");
    }
    // A second order of the customer: newest first; `first` caps the answer.
    let again = enter_order(&c.sage, json!({"CustomerNo": "BLUEJAY", "ShipVia": "UPS GROUND", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 3}]})).await;
    let poll = c.poll("again").await;
    c.settle(poll).await;
    wait_for(&c, &again, "check", "waiting").await;
    let v = api.ok(&viewer, search, json!({"t": "BlueJay"})).await;
    assert_eq!(found(&v), vec![again.clone(), bluejay.clone()], "{v}");
    let v = api
        .ok(&viewer, search, json!({"t": "BlueJay", "n": 1}))
        .await;
    assert_eq!(found(&v), vec![again.clone()], "{v}");
    let both = api
        .ok(&viewer, search, json!({"t": "sage100", "n": 50}))
        .await;
    assert!(found(&both).is_empty(), "an orderKey matches whole: {both}");
    for bad in ["  ", &"9".repeat(101)] {
        let (_, v) = api.post(Some(&viewer), search, json!({"t": bad})).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    }
    shutdown.trigger();
    workers.join().await;
}
