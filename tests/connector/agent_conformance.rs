//! One conformance suite for every agent backend (the shape of river's driver suite): a scenario
//! is entered in the simulated Sage 100, copied into a PostgreSQL database shaped like Sage's
//! files, and every question the connector asks is put to the agent over HTTP, once on the
//! simulated BOI and once on ODBC (unixODBC + the PostgreSQL ODBC driver). The answers must be
//! identical, byte for byte of JSON. tests/connector/agent_windows.rs puts the same questions to
//! the Windows build under Wine.

use std::sync::Arc;

use ml_connector::engine::Shutdown;
use ml_connector::sim::sage100::sage_db::{self, OdbcTarget};
use ml_connector::sim::sage100::SageSim;
use mlc_agent::api::AgentState;
use mlc_agent::odbc::{OdbcReads, OdbcSettings, Stats};
use mlc_agent::server::{serve_agent, Transport};
use mlc_agent_api::paths;
use mlc_secret::Secret;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::sage100::{control, enter_order, invoice, start_rig, SageRig, AGENT_KEY};

/// One question and its answer.
#[derive(Debug, PartialEq)]
pub struct Exchange {
    pub question: String,
    pub status: u16,
    pub answer: Value,
}

pub async fn ask(base: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header(mlc_agent_api::API_KEY_HEADER, AGENT_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the agent answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn co_path(route: &str, params: &[(&str, &str)]) -> String {
    let mut all = vec![("co", "ABC")];
    all.extend_from_slice(params);
    paths::fill(route, &all)
}

/// What the scenario made, for the questions to name.
pub struct Facts {
    pub orders: Vec<String>,
    pub equal_stamp: (String, String),
}

fn set_stamp(sim: &SageSim, table: &str, key: &str, date: &str, time: &str) {
    let mut data = sim.data.lock().unwrap();
    let co = data.company("ABC").unwrap();
    let t = match table {
        "orders" => &mut co.so_header,
        _ => &mut co.im_item_warehouse,
    };
    let rec = t.get_mut(key).expect("record to restamp");
    rec.insert("DateUpdated".into(), json!(date));
    rec.insert("TimeUpdated".into(), json!(time));
}

async fn write_tracking(rig: &SageRig, inv: &str, packages: Value) {
    let (status, answer) = ask(
        &rig.agent_url,
        Method::POST,
        &co_path(paths::INVOICE_TRACKING, &[("inv", inv)]),
        Some(json!({"Packages": packages, "ShipDate$": "20261130", "ShipVia$": "UPS GROUND"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

/// The scenario: equal timestamps (as text and as numbers), paging, a deleted order, posted
/// invoices with and without tracking, an open invoice with tracking, quotes in values.
pub async fn scenario(rig: &SageRig) -> Facts {
    let customers = [
        "ABF", "BLUEJAY", "CITYMKT", "NORTHPT", "SUNRISE", "ABF", "BLUEJAY", "CITYMKT",
    ];
    let mut orders = Vec::new();
    for (i, customer) in customers.iter().enumerate() {
        orders.push(
            enter_order(
                rig,
                json!({"CustomerNo": customer, "ShipToName": "O'Brien & Sons", "CustomerPONo": format!("PO-{i}"),
                       "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": i + 1},
                                 {"ItemCode": "GAD-300", "QuantityOrdered": 1.5},
                                 {"ItemType": "4", "CommentText": "call before delivery"}]}),
            )
            .await,
        );
    }
    // Four orders saved in the same instant; one of them written as "10.5" (the same number).
    let date = "20261130".to_string();
    for (i, no) in orders[1..5].iter().enumerate() {
        let time = if i == 3 { "10.5" } else { "10.50000" };
        set_stamp(&rig.sim, "orders", no, &date, time);
    }
    set_stamp(&rig.sim, "orders", &orders[5], "20261129", "23.99999");
    control(
        rig,
        Method::DELETE,
        &format!("ABC/orders/{}", orders[7]),
        json!({}),
    )
    .await;
    // Shipped and posted: one with two packages, one without.
    let first = invoice(rig, &orders[0]).await;
    write_tracking(
        rig,
        &first,
        json!([{"PackageNo$": "0001", "TrackingID$": "1Z999AA10000000001", "StarshipShipVia$": "UPS GROUND", "Weight": 12.5},
               {"PackageNo$": "0002", "TrackingID$": "1Z999AA10000000002", "FreightAmt": 8.25}]),
    )
    .await;
    invoice(rig, &orders[5]).await;
    control(rig, Method::POST, "ABC/sales-journal", json!({})).await;
    // Shipped, not yet posted.
    let open = invoice(rig, &orders[2]).await;
    write_tracking(rig, &open, json!([{"PackageNo$": "0001", "TrackingID$": "9400100000000000000001", "Comment$": "O'Hare dock"}])).await;
    // Items and stock, two stock rows in the same instant.
    control(
        rig,
        Method::POST,
        "ABC/items/QUOTE'S-1",
        json!({"ItemCodeDesc": "It's quoted", "ShipWeight": "1.25", "StandardUnitPrice": 3.333333}),
    )
    .await;
    for (item, wh, qty) in [
        ("WID-100", "000", 40),
        ("WID-100", "EST", 7),
        ("GAD-300", "000", 3),
    ] {
        control(
            rig,
            Method::POST,
            &format!("ABC/item-warehouses/{item}/{wh}"),
            json!({"QuantityOnHand": qty, "QuantityOnSalesOrder": 2.5}),
        )
        .await;
    }
    let wh_key = |item: &str, wh: &str| format!("{item}\u{1}{wh}");
    set_stamp(&rig.sim, "stock", &wh_key("WID-100", "000"), &date, "11.25");
    set_stamp(&rig.sim, "stock", &wh_key("WID-100", "EST"), &date, "11.25");
    Facts {
        orders,
        equal_stamp: (date, "10.5".into()),
    }
}

/// Page through a change feed, one question per page.
async fn feed(base: &str, route: &str, since: (&str, &str), limit: usize, out: &mut Vec<Exchange>) {
    let mut query = format!(
        "since_date={}&since_time={}&limit={limit}",
        since.0, since.1
    );
    loop {
        let path = format!("{}?{query}", co_path(route, &[]));
        let (status, answer) = ask(base, Method::GET, &path, None).await;
        let next = answer["Next"].clone();
        out.push(Exchange {
            question: path,
            status,
            answer,
        });
        if status != 200 || next.is_null() {
            return;
        }
        query = format!(
            "since_date={}&since_time={}&limit={limit}&after_date={}&after_time={}&after_key={}",
            since.0,
            since.1,
            next["after_date"].as_str().unwrap(),
            next["after_time"],
            url::form_urlencoded::byte_serialize(next["after_key"].as_str().unwrap().as_bytes())
                .collect::<String>()
        );
    }
}

/// Every question the connector asks, put to one agent.
pub async fn transcript(base: &str, facts: &Facts) -> Vec<Exchange> {
    let mut out = Vec::new();
    let o = &facts.orders;
    let (d, t) = (facts.equal_stamp.0.as_str(), facts.equal_stamp.1.as_str());
    feed(base, paths::CHANGED_ORDERS, ("20000101", "0"), 2, &mut out).await;
    feed(base, paths::CHANGED_ORDERS, (d, t), 100, &mut out).await;
    feed(base, paths::CHANGED_ORDERS, (d, t), 1, &mut out).await;
    feed(
        base,
        paths::CHANGED_ITEM_WAREHOUSES,
        ("20000101", "0"),
        3,
        &mut out,
    )
    .await;
    feed(
        base,
        paths::CHANGED_ITEM_WAREHOUSES,
        (d, "11.25"),
        100,
        &mut out,
    )
    .await;
    let one = |method: Method, path: String, body: Option<Value>| (method, path, body);
    let mut questions = vec![
        one(
            Method::POST,
            co_path(paths::ORDERS_EXIST, &[]),
            Some(json!({"SalesOrderNos": [o[0], o[1], o[7], "9999999", "O'X"]})),
        ),
        one(
            Method::POST,
            co_path(paths::ITEMS_LOOKUP, &[]),
            Some(json!({"ItemCodes": ["WID-100", "QUOTE'S-1", "NOPE"]})),
        ),
        one(
            Method::GET,
            paths::fill(paths::CHANGED_ORDERS, &[("co", "ZZZ")]),
            None,
        ),
    ];
    for no in [&o[1], &o[6], &o[7], &o[0]] {
        questions.push(one(
            Method::GET,
            co_path(paths::ONE_ORDER, &[("no", no)]),
            None,
        ));
    }
    for no in [&o[0], &o[2], &o[5], &o[3]] {
        questions.push(one(
            Method::GET,
            co_path(paths::ORDER_INVOICES, &[("no", no)]),
            None,
        ));
    }
    for (method, path, body) in questions {
        let (status, answer) = ask(base, method, &path, body).await;
        out.push(Exchange {
            question: path,
            status,
            answer,
        });
    }
    out
}

// The write scenarios: what the connector writes back to an invoice, put to an agent that writes
// (the simulated BOI, and the COM backend under Wine in agent_windows_com.rs).

pub fn tracking_path(inv: &str) -> String {
    paths::fill(paths::INVOICE_TRACKING, &[("co", "ABC"), ("inv", inv)])
}

pub fn package_path(inv: &str, package: &str) -> String {
    paths::fill(
        paths::INVOICE_PACKAGE,
        &[("co", "ABC"), ("inv", inv), ("package", package)],
    )
}

pub fn invoices_path(order: &str) -> String {
    paths::fill(paths::ORDER_INVOICES, &[("co", "ABC"), ("no", order)])
}

pub fn packages(rows: &[(&str, &str)]) -> Value {
    json!({
        "ShipDate$": "20261201",
        "ShipVia$": "UPS GROUND",
        "Packages": rows.iter().map(|(no, id)| json!({
            "PackageNo$": no, "TrackingID$": id, "StarshipShipVia$": "UPS GROUND",
            "Weight": 2.5, "FreightAmt": 7.1, "Comment$": "O'Hare dock"
        })).collect::<Vec<_>>()
    })
}

/// Every write the connector makes, on an open invoice (`open`, without tracking yet) and a posted
/// one: rows per package, the same again (idempotent), a voided package removed twice, a changed
/// tracking number and a new package, a posted invoice, a missing one.
pub fn write_questions(open: &str, posted: &str) -> Vec<(Method, String, Option<Value>)> {
    let mut first = packages(&[
        ("0001", "1Z999AA10000000101"),
        ("0002", "1Z999AA10000000102"),
    ]);
    first["UDFs"] = json!({"UDF_PRO_NUM$": "PRO-4471"});
    vec![
        // Two packages, new rows, and a UDF on the invoice header.
        (Method::POST, tracking_path(open), Some(first)),
        // The same again: idempotent, the rows now exist.
        (
            Method::POST,
            tracking_path(open),
            Some(packages(&[
                ("0001", "1Z999AA10000000101"),
                ("0002", "1Z999AA10000000102"),
            ])),
        ),
        // A voided package removed, twice (already gone is done).
        (Method::DELETE, package_path(open, "0002"), None),
        (Method::DELETE, package_path(open, "0002"), None),
        // A third package later, with a changed tracking number on the first.
        (
            Method::POST,
            tracking_path(open),
            Some(packages(&[
                ("0001", "1Z999AA10000000199"),
                ("0003", "1Z999AA10000000103"),
            ])),
        ),
        // Posted to A/R history: refused. Not on file: not found.
        (
            Method::POST,
            tracking_path(posted),
            Some(packages(&[("0001", "1Z999AA10000000999")])),
        ),
        (
            Method::POST,
            tracking_path("9999999"),
            Some(packages(&[("0001", "1Z999AA10000000998")])),
        ),
    ]
}

/// Their statuses on an agent that writes.
pub const WRITE_STATUSES: [u16; 7] = [200, 200, 200, 200, 200, 422, 404];

/// The ODBC backend over a database loaded from the simulator, served on loopback.
pub struct OdbcAgent {
    pub url: String,
    pub stats: Arc<Stats>,
    _shutdown: ShutdownOnDrop,
}

struct ShutdownOnDrop(Shutdown);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

/// Copy the simulated company ABC into a fresh Sage-shaped database.
pub async fn sage_database(sim: &SageSim) -> OdbcTarget {
    let url = ml_connector::testkit::pg::fresh_plain_database_url()
        .await
        .unwrap();
    let company = sim.data.lock().unwrap().company("ABC").unwrap().clone();
    sage_db::load_company(&url, &company).await.unwrap();
    OdbcTarget::from_url(&url).unwrap()
}

pub async fn odbc_agent(target: OdbcTarget) -> OdbcAgent {
    let reads = Arc::new(OdbcReads::new(
        OdbcSettings {
            connection: target.connection_string(),
            user: target.user.clone(),
            password: Secret::new(target.password.clone()),
            query_timeout_secs: 60,
        },
        2,
    ));
    let stats = reads.stats();
    let shutdown = Shutdown::new();
    let (addr, _) = serve_agent(
        AgentState {
            reads: Arc::new(reads),
            writes: None,
            api_key: Some(Secret::new(AGENT_KEY)),
            companies: vec!["ABC".into()],
        },
        "127.0.0.1:0".parse().unwrap(),
        Transport::PlainLoopback,
        shutdown.triggered(),
    )
    .await
    .unwrap();
    OdbcAgent {
        url: format!("http://{addr}"),
        stats,
        _shutdown: ShutdownOnDrop(shutdown),
    }
}

/// The reference answers hold what the scenario made (so agreeing answers cannot both be empty).
pub fn assert_meaningful(t: &[Exchange], facts: &Facts) {
    let pages: Vec<&Exchange> = t
        .iter()
        .filter(|e| {
            e.question.contains("since_date=20000101") && e.question.contains("sales-orders")
        })
        .collect();
    let listed: Vec<&str> = pages
        .iter()
        .flat_map(|e| e.answer["SalesOrders"].as_array().unwrap().iter())
        .map(|o| o["SalesOrderNo$"].as_str().unwrap())
        .collect();
    // Order 0 and 5 were posted and left the file; 7 was deleted.
    let expected: std::collections::BTreeSet<&str> = [1, 2, 3, 4, 6]
        .iter()
        .map(|i| facts.orders[*i].as_str())
        .collect();
    let got: std::collections::BTreeSet<&str> = listed
        .iter()
        .copied()
        .filter(|n| facts.orders.iter().any(|o| o == n))
        .collect();
    assert_eq!(got, expected, "the change feed lists the scenario's orders");
    assert_eq!(
        listed.len(),
        got.len()
            + listed
                .iter()
                .filter(|n| !facts.orders.iter().any(|o| o == *n))
                .count()
    );
    assert!(pages.len() >= 3, "paging took several pages");
    let same_instant = t
        .iter()
        .find(|e| {
            e.question
                .contains("since_date=20261130&since_time=10.5&limit=100")
        })
        .unwrap();
    assert!(same_instant.answer["SalesOrders"].as_array().unwrap().len() >= 4);
    let invoices = |no: &str| {
        t.iter()
            .find(|e| {
                e.question
                    .ends_with(&format!("/sales-orders/{no}/invoices"))
            })
            .unwrap()
            .answer["Invoices"]
            .as_array()
            .unwrap()
            .clone()
    };
    let posted = invoices(&facts.orders[0]);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["Posted"], json!(true));
    assert_eq!(posted[0]["Tracking"].as_array().unwrap().len(), 2);
    let open = invoices(&facts.orders[2]);
    assert_eq!(open[0]["Posted"], json!(false));
    assert_eq!(open[0]["Tracking"][0]["Comment$"], json!("O'Hare dock"));
    assert!(invoices(&facts.orders[3]).is_empty());
    let lines = &t
        .iter()
        .find(|e| {
            e.question
                .ends_with(&format!("/sales-orders/{}", facts.orders[1]))
        })
        .unwrap()
        .answer["SalesOrder"]["Lines"];
    assert_eq!(lines.as_array().unwrap().len(), 3);
}

pub fn assert_same(reference: &[Exchange], other: &[Exchange], backend: &str) {
    assert_eq!(
        reference.len(),
        other.len(),
        "{backend}: a different number of pages"
    );
    for (a, b) in reference.iter().zip(other) {
        assert_eq!(a.question, b.question);
        assert_eq!(
            (a.status, &a.answer),
            (b.status, &b.answer),
            "{backend} answers {} differently",
            a.question
        );
    }
}

#[tokio::test]
async fn odbc_answers_every_question_as_the_simulated_boi_does() {
    let rig = start_rig().await;
    let facts = scenario(&rig).await;
    let reference = transcript(&rig.agent_url, &facts).await;
    assert_meaningful(&reference, &facts);
    let odbc = odbc_agent(sage_database(&rig.sim).await).await;
    let answers = transcript(&odbc.url, &facts).await;
    assert_same(&reference, &answers, "odbc");
    let (statements, _) = odbc.stats.snapshot();
    assert!(statements > 0);
    // Health names the backend (which differs) and each company (which must not).
    let (status, health) = ask(&odbc.url, Method::GET, paths::HEALTH, None).await;
    assert_eq!(status, 200);
    assert_eq!(health["Companies"][0]["ReturnCode"], json!(1), "{health}");
    assert!(health["Backend"].as_str().unwrap().starts_with("odbc"));
}

#[tokio::test]
async fn a_column_the_company_file_lacks_is_refused_clearly_and_the_connection_kept() {
    let rig = start_rig().await;
    let target = sage_database(&rig.sim).await;
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&target.url)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE CI_Item DROP COLUMN UPC")
        .execute(&mut db)
        .await
        .unwrap();
    let odbc = odbc_agent(target).await;
    let lookup = json!({"ItemCodes": ["WID-100"]});
    let (status, answer) = ask(
        &odbc.url,
        Method::POST,
        &co_path(paths::ITEMS_LOOKUP, &[]),
        Some(lookup),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["ErrorKind"],
        json!("invalid"),
        "not retried: {answer}"
    );
    assert!(
        answer["LastErrorMsg"]
            .as_str()
            .unwrap()
            .contains("refused a statement"),
        "{answer}"
    );
    // The same pooled connection answers the next question.
    let (status, answer) = ask(
        &odbc.url,
        Method::GET,
        &co_path(paths::ONE_ORDER, &[("no", "9999999")]),
        None,
    )
    .await;
    assert_eq!(status, 404, "{answer}");
}
