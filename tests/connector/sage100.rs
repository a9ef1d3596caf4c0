//! Sage 100 over loopback: the SOAP client against the simulated eBusiness Web Services, and the
//! agent client against our agent over the simulated Business Object Interface.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::sage100::{
    agent, control, enter_order, invoice, rows, soap, start_rig, start_rig_with, AGENT_KEY,
};
use ml_connector::domain::{ChangeStamp, ChangeTracker};
use ml_connector::sage100::{SageError, SalesOrder};
use mlc_agent_api::WriteTracking;
use reqwest::Method;
use serde_json::json;

fn new_order(no: &str, customer: &str, lines: &[(&str, &str)]) -> SalesOrder {
    let mut o = SalesOrder::default();
    for (k, v) in [
        ("SalesOrderNo", no),
        ("ARDivisionNo", "01"),
        ("CustomerNo", customer),
        ("ShipVia", "UPS GROUND"),
        ("OrderDate", "2026-11-26T00:00:00"),
    ] {
        o.fields.insert(k.into(), v.into());
    }
    o.lines = lines
        .iter()
        .map(|(item, qty)| {
            BTreeMap::from([
                ("ItemCode".to_string(), item.to_string()),
                ("QuantityOrdered".to_string(), qty.to_string()),
            ])
        })
        .collect();
    o
}

fn fault_code(r: Result<impl std::fmt::Debug, SageError>) -> (String, String) {
    match r {
        Err(SageError::Fault { code, message }) => (code, message),
        other => panic!("expected a SOAP fault, got {other:?}"),
    }
}

/// A tracking write as the contract types it.
fn tracking_write(v: serde_json::Value) -> WriteTracking {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn soap_operations_round_trip_and_faults_carry_sage_codes() {
    let rig = start_rig().await;
    let c = soap(&rig, "ABC", "sage-password").await;
    let (contract, assembly) = c.contract_information().await.unwrap();
    assert!(!contract.is_empty() && !assembly.is_empty());
    let a = c.get_next_sales_order_no().await.unwrap();
    let b = c.get_next_sales_order_no().await.unwrap();
    assert_ne!(a, b, "GetNextSalesOrderNo moves the counter");

    c.create_sales_order(&new_order(&b, "ABF", &[("WID-100", "4"), ("GAD-300", "1")]))
        .await
        .unwrap();
    let got = c.get_sales_order(&b).await.unwrap();
    assert_eq!(
        (
            got.get("CustomerNo"),
            got.get("ShipVia"),
            got.get("OrderDate")
        ),
        ("ABF", "UPS GROUND", "2026-11-26T00:00:00")
    );
    assert_eq!(got.lines.len(), 2);
    assert_eq!(
        got.lines[0]["SalesAcctKey"], "4000-00",
        "defaulted from the item master"
    );
    assert!(got.fields.contains_key("DateTimeUpdated"));

    let udfs = BTreeMap::from([
        (
            "UDF_TRACKING_NO".to_string(),
            "1Z999AA10123456784".to_string(),
        ),
        ("UDF_EST_DELIVERY".to_string(), "20261201".to_string()),
    ]);
    c.update_sales_order_fields(
        &b,
        &BTreeMap::from([("ShipVia".to_string(), "UPS 2DAY".to_string())]),
        &udfs,
    )
    .await
    .unwrap();
    let updated = c.get_sales_order(&b).await.unwrap();
    assert_eq!(updated.get("ShipVia"), "UPS 2DAY");
    // Every defined UDF is listed; the unset one (UDF_CARRIER) is empty.
    let set: BTreeMap<String, String> = updated
        .udfs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(set, udfs);
    assert_eq!(
        updated.udfs.get("UDF_CARRIER").map(String::as_str),
        Some("")
    );
    assert_eq!(updated.lines.len(), 2, "lines survive a header update");

    assert_eq!(
        fault_code(c.create_sales_order(&new_order(&b, "ABF", &[])).await),
        ("WS_AlreadyExists".into(), "Record already exists".into())
    );
    let next = c.get_next_sales_order_no().await.unwrap();
    let (code, msg) = fault_code(
        c.create_sales_order(&new_order(&next, "NOBODY", &[("WID-100", "1")]))
            .await,
    );
    assert_eq!(code, "CI_NoKey");
    assert!(msg.contains("NOBODY"), "{msg}");
    let (code, msg) = fault_code(
        c.create_sales_order(&new_order(
            &next,
            "ABF",
            &[("WID-100", "1"), ("NOPE-1", "1")],
        ))
        .await,
    );
    assert_eq!(code, "CI_NOF");
    assert!(
        msg.starts_with("Could not set SO_SalesOrderDetail_Bus column ItemCode"),
        "{msg}"
    );
    assert_eq!(
        fault_code(c.get_sales_order(&next).await).0,
        "CI_NoKey",
        "a failed create leaves nothing behind"
    );
    let mut long_zip = new_order(&next, "ABF", &[("WID-100", "1")]);
    long_zip
        .fields
        .insert("ShipToZipCode".into(), "12345-67890-X".into());
    let (_, msg) = fault_code(c.create_sales_order(&long_zip).await);
    assert_eq!(msg, "Could not set SO_SalesOrder_Bus column ShipToZipCode: The Ship To Zip Code is greater than 10 character(s).");

    c.delete_sales_order(&b).await.unwrap();
    assert_eq!(fault_code(c.get_sales_order(&b).await).0, "CI_NoKey");
    assert_eq!(
        c.get_customer("01", "ABF").await.unwrap()["CustomerName"],
        "American Business Futures"
    );
    let cust = BTreeMap::from([
        ("ARDivisionNo".to_string(), "01".to_string()),
        ("CustomerNo".to_string(), "ABF".to_string()),
    ]);
    assert_eq!(
        fault_code(c.create_customer(&cust).await).0,
        "WS_AlreadyExists"
    );
    assert_eq!(
        fault_code(
            soap(&rig, "ABC", "wrong")
                .await
                .get_sales_order("0000001")
                .await
        )
        .0,
        "SY_Logon"
    );
    assert_eq!(
        fault_code(
            soap(&rig, "ZZZ", "sage-password")
                .await
                .get_sales_order("0000001")
                .await
        )
        .0,
        "SY_Company"
    );
}

#[tokio::test]
async fn read_only_fields_are_refused_like_sage_does() {
    let rig = start_rig().await;
    let shape = ml_connector::sim::sage100::SoapShape::default();
    let d = &shape.data_namespace;
    // Written by hand as WCF expects it: data members in their namespace, in ordinal order.
    let env = |inner: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CreateSalesOrder xmlns="{ns}"><logon><Password xmlns="{d}">sage-password</Password><Username xmlns="{d}">integration</Username></logon><companyCode>ABC</companyCode><salesOrder>{inner}</salesOrder></CreateSalesOrder></s:Body></s:Envelope>"#,
            ns = shape.namespace
        )
    };
    let body = env(&format!(
        r#"<CustomerNo xmlns="{d}">ABF</CustomerNo><DateTimeCreated xmlns="{d}">2026-01-01T10:00:00</DateTimeCreated><SalesOrderNo xmlns="{d}">0000777</SalesOrderNo>"#
    ));
    let resp = reqwest::Client::new()
        .post(format!(
            "{}{}",
            rig.base,
            ml_connector::sim::sage100::SOAP_PATH
        ))
        .header(
            "SOAPAction",
            format!("\"{}\"", shape.action("CreateSalesOrder")),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(
            "Could not set SO_SalesOrder_Bus column DateTimeCreated: Creation Date is read only"
        ),
        "{text}"
    );
    assert!(text.contains("<MasFault"), "{text}");
}

#[tokio::test]
async fn wsdl_describes_every_operation_for_a_generic_client() {
    let rig = start_rig().await;
    let text = reqwest::get(format!(
        "{}{}?wsdl",
        rig.base,
        ml_connector::sim::sage100::SOAP_PATH
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let wsdl = ml_connector::xml::parse(&text).unwrap();
    assert_eq!(wsdl.name, "definitions");
    assert!(wsdl.attrs.iter().any(|(k, v)| k == "targetNamespace"
        && *v == ml_connector::sim::sage100::SoapShape::default().namespace));
    let port_type = wsdl.child("portType").unwrap();
    let ops: Vec<&str> = port_type
        .children_named("operation")
        .filter_map(|o| {
            o.attrs
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    for op in [
        "GetContractInformation",
        "GetSalesOrder",
        "CreateSalesOrder",
        "UpdateSalesOrder",
        "DeleteSalesOrder",
        "GetNextSalesOrderNo",
        "GetCustomer",
        "CreateCustomer",
    ] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    let address = wsdl.path(&["service", "port", "address"]).unwrap();
    assert!(address
        .attrs
        .iter()
        .any(|(k, v)| k == "location" && v.ends_with(ml_connector::sim::sage100::SOAP_PATH)));
}

#[tokio::test]
async fn malformed_xml_from_the_server_is_a_clear_error() {
    let rig = start_rig().await;
    control(&rig, Method::POST, "faults", json!({"malformed_rate": 1.0})).await;
    match soap(&rig, "ABC", "sage-password")
        .await
        .get_customer("01", "ABF")
        .await
    {
        Err(e @ SageError::Malformed(_)) => {
            assert!(e.is_transient() && e.to_string().contains("GetCustomer"))
        }
        other => panic!("{other:?}"),
    }
    // Not SOAP at all.
    let app = axum::Router::new().fallback(|| async { "<<< this is not xml" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = ml_connector::sage100::SoapClient::new(ml_connector::sage100::SoapConfig {
        endpoint: format!("http://{addr}/svc"),
        contract: Some(common::sage100::contract(&rig).await),
        username: "u".into(),
        password: ml_connector::secret::Secret::new("p"),
        company: "ABC".into(),
        timeout: Duration::from_secs(5),
        faults: Default::default(),
    })
    .unwrap();
    assert!(matches!(
        c.contract_information().await,
        Err(SageError::Malformed(_))
    ));
}

#[tokio::test]
async fn watermark_includes_same_instant_updates_and_pages_exactly_once() {
    let rig = start_rig().await;
    let a = agent(&rig, "ABC");
    let mut numbers = Vec::new();
    for customer in ["ABF", "BLUEJAY", "CITYMKT", "NORTHPT", "SUNRISE"] {
        numbers.push(enter_order(&rig, json!({"CustomerNo": customer, "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}, {"ItemType": "4", "CommentText": "call before delivery"}]})).await);
    }
    // Page through with limit 2: every order exactly once, in (DateUpdated, TimeUpdated, no) order.
    let since = ChangeStamp {
        date: "20000101".into(),
        time: 0.0,
    };
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = a.changed_orders(&since, 2, cursor.as_ref()).await.unwrap();
        seen.extend(page.sales_orders.iter().map(|r| r.sales_order_no.clone()));
        assert!(page.sales_orders.iter().all(|r| r.lines.len() == 2));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, numbers);
    // A watermark equal to an order's stamp includes that order (same-instant updates are not missed).
    let third = a.sales_order(&numbers[2]).await.unwrap();
    let wm = ChangeStamp {
        date: third.date_updated.clone(),
        time: third.time_updated.trim().parse().unwrap(),
    };
    let page = a.changed_orders(&wm, 100, None).await.unwrap();
    let got: Vec<&str> = page
        .sales_orders
        .iter()
        .map(|r| r.sales_order_no.as_str())
        .collect();
    assert!(got.contains(&numbers[2].as_str()), "{got:?}");
    assert!(got.contains(&numbers[4].as_str()), "{got:?}");
    for r in &page.sales_orders {
        let stamp = (
            r.date_updated.as_str(),
            r.time_updated.trim().parse::<f64>().unwrap(),
        );
        assert!(
            stamp >= (wm.date.as_str(), wm.time),
            "only changes at or after the watermark"
        );
    }
    // The tracker processes each change once, even when the feed repeats the boundary.
    let key = |r: &mlc_agent_api::SalesOrderHeader| r.sales_order_no.clone();
    let mut tracker = ChangeTracker::default();
    let first = tracker.accept(
        a.changed_orders(&tracker.watermark.clone(), 100, None)
            .await
            .unwrap()
            .sales_orders,
    );
    assert_eq!(first.len(), 5);
    let again = tracker.accept(
        a.changed_orders(&tracker.watermark.clone(), 100, None)
            .await
            .unwrap()
            .sales_orders,
    );
    assert!(again.is_empty(), "a repeated poll processes nothing twice");
    tokio::time::sleep(Duration::from_millis(50)).await;
    control(
        &rig,
        Method::POST,
        &format!("ABC/orders/{}", numbers[1]),
        json!({"OrderStatus": "H"}),
    )
    .await;
    let changed = tracker.accept(
        a.changed_orders(&tracker.watermark.clone(), 100, None)
            .await
            .unwrap()
            .sales_orders,
    );
    assert_eq!(
        changed.iter().map(key).collect::<Vec<_>>(),
        vec![numbers[1].clone()]
    );
    assert_eq!(changed[0].order_status, "H");
}

#[tokio::test]
async fn items_and_item_warehouse_quantities() {
    let rig = start_rig().await;
    let a = agent(&rig, "ABC");
    let (found, missing) = a
        .items(&["WID-100".into(), "GAD-300".into(), "NOPE".into()], &[])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(missing, vec!["NOPE"]);
    let wid = found.iter().find(|i| i.item_code == "WID-100").unwrap();
    assert_eq!(
        (
            wid.standard_unit_price.to_string(),
            wid.sales_acct_key.as_str(),
            wid.ship_weight.as_str()
        ),
        ("12.5".to_string(), "4000-00", "2.5")
    );
    let all = a
        .changed_item_warehouses(&ChangeStamp::default(), 1000, None)
        .await
        .unwrap();
    assert_eq!(
        all.item_warehouses.len(),
        16,
        "8 stocked items × 2 warehouses"
    );
    let last = all
        .item_warehouses
        .iter()
        .map(|r| {
            (
                r.date_updated.clone(),
                r.time_updated.trim().parse::<f64>().unwrap(),
            )
        })
        .fold((String::new(), 0.0), |a, b| {
            if (b.0.as_str(), b.1) > (a.0.as_str(), a.1) {
                b
            } else {
                a
            }
        });
    tokio::time::sleep(Duration::from_millis(50)).await;
    control(
        &rig,
        Method::POST,
        "ABC/item-warehouses/BRK-410/EST",
        json!({"QuantityOnHand": 7}),
    )
    .await;
    let mut tracker = ChangeTracker {
        watermark: ChangeStamp {
            date: last.0,
            time: last.1,
        },
        ..Default::default()
    };
    tracker.accept(all.item_warehouses.clone());
    let changed = tracker.accept(
        a.changed_item_warehouses(&tracker.watermark.clone(), 1000, None)
            .await
            .unwrap()
            .item_warehouses,
    );
    assert_eq!(changed.len(), 1);
    assert_eq!(
        (
            changed[0].item_code.as_str(),
            changed[0].quantity_on_hand.to_string()
        ),
        ("BRK-410", "7".to_string())
    );
}

#[tokio::test]
async fn invoice_tracking_write_back_through_the_invoice_lifecycle() {
    let rig = start_rig().await;
    let a = agent(&rig, "ABC");
    let so = enter_order(
        &rig,
        json!({"CustomerNo": "ABF", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}]}),
    )
    .await;
    assert!(
        a.invoices_of_order(&so).await.unwrap().is_empty(),
        "no invoice yet"
    );
    let inv = invoice(&rig, &so).await;
    let invoices = a.invoices_of_order(&so).await.unwrap();
    assert_eq!(
        (
            invoices.len(),
            invoices[0].invoice_no.as_str(),
            invoices[0].posted
        ),
        (1, inv.as_str(), false)
    );
    let body = tracking_write(
        json!({"ShipDate$": "20261126", "ShipVia$": "UPS GROUND", "UDFs": {"UDF_EST_DELIVERY$": "20261201"},
        "Packages": [{"PackageNo$": "0001", "TrackingID$": "1Z999AA10123456784", "StarshipShipVia$": "UPS GROUND", "Weight": 5.0},
                     {"PackageNo$": "0002", "TrackingID$": "1Z999AA10123456785", "StarshipShipVia$": "UPS GROUND", "Weight": 4.5}]}),
    );
    let w = a.write_tracking(&inv, &body).await.unwrap();
    assert_eq!(
        serde_json::to_value(&w.written).unwrap(),
        json!([{"PackageNo$": "0001", "Existing": false}, {"PackageNo$": "0002", "Existing": false}])
    );
    let again = a.write_tracking(&inv, &body).await.unwrap();
    assert!(
        again.written[0].existing,
        "idempotent by (InvoiceNo, PackageNo)"
    );
    let tracking = rows(&rig, "SO_InvoiceTracking").await;
    assert_eq!(tracking.len(), 2);
    let header = &rows(&rig, "SO_InvoiceHeader").await[0];
    assert_eq!(
        (
            header["ShipDate"].as_str(),
            header["ShipVia"].as_str(),
            header["UDF_EST_DELIVERY"].as_str()
        ),
        (Some("20261126"), Some("UPS GROUND"), Some("20261201"))
    );
    let too_long = tracking_write(
        json!({"Packages": [{"PackageNo$": "0003", "TrackingID$": "X".repeat(31)}]}),
    );
    match a.write_tracking(&inv, &too_long).await {
        Err(SageError::Rejected(m)) => assert!(m.contains("greater than 30 character(s)"), "{m}"),
        other => panic!("{other:?}"),
    }
    a.remove_tracking(&inv, "0002").await.unwrap();
    a.remove_tracking(&inv, "0002").await.unwrap();
    assert_eq!(rows(&rig, "SO_InvoiceTracking").await.len(), 1);

    // The daily sales journal posts the invoice to A/R history and the completed order leaves SO.
    control(&rig, Method::POST, "ABC/sales-journal", json!({})).await;
    let posted = a.invoices_of_order(&so).await.unwrap();
    assert_eq!((posted.len(), posted[0].posted), (1, true));
    assert_eq!(posted[0].tracking.len(), 1, "tracking moved with it");
    assert!(matches!(
        a.write_tracking(&inv, &body).await,
        Err(SageError::Posted(_))
    ));
    assert!(matches!(
        a.sales_order(&so).await,
        Err(SageError::NotFound(_))
    ));
}

/// A new order for one widget, invoiced: its invoice number.
async fn invoiced_order(rig: &common::sage100::SageRig) -> String {
    let so = enter_order(
        rig,
        json!({"CustomerNo": "ABF", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
    )
    .await;
    invoice(rig, &so).await
}

/// A Sage user holds the invoice open for `ms` (replacing any earlier hold).
async fn hold_invoice(rig: &common::sage100::SageRig, inv: &str, ms: u64) {
    control(
        rig,
        Method::POST,
        "locks",
        json!({"key_prefix": format!("InvoiceHeader:{inv}"), "ms": ms}),
    )
    .await;
}

/// Sage's lock text is unpublished and a localized Sage words it otherwise: the agent takes such a
/// failure for a plain refusal (not retried) until the site names the text (`[com]
/// record_lock_texts`), then answers `record_locked` and the write is retried like any lock.
#[tokio::test]
async fn a_lock_worded_otherwise_is_a_lock_once_the_site_names_its_text() {
    let german = "Der Datensatz wird von einem anderen Benutzer bearbeitet.";
    let rig = start_rig_with(ml_connector::sim::sage100::SageConfig {
        seed_demo: true,
        lock_message: german.into(),
        ..Default::default()
    })
    .await;
    let a = agent(&rig, "ABC");
    let inv = invoiced_order(&rig).await;
    let body = tracking_write(json!({"Packages": [{"PackageNo$": "0001", "TrackingID$": "1Z1"}]}));
    hold_invoice(&rig, &inv, 20_000).await;
    match a.write_tracking(&inv, &body).await {
        Err(e) => assert!(!e.is_transient() && e.to_string().contains(german), "{e:?}"),
        Ok(_) => panic!("written through a held record"),
    }
    // The site names its text (the agent does this at start from its settings).
    mlc_agent::failure::add_record_lock_texts(&["von einem anderen Benutzer".into()]);
    match a.write_tracking(&inv, &body).await {
        Err(e @ SageError::RecordLocked { .. }) => assert!(e.is_transient()),
        other => panic!("{other:?}"),
    }
    // Held briefly: the write waits it out.
    hold_invoice(&rig, &inv, 600).await;
    a.write_tracking(&inv, &body)
        .await
        .expect("retried past the lock");
}

#[tokio::test]
async fn record_locks_are_retried_with_backoff_then_reported() {
    let rig = start_rig().await;
    let a = agent(&rig, "ABC");
    let inv = invoiced_order(&rig).await;
    let body = tracking_write(json!({"Packages": [{"PackageNo$": "0001", "TrackingID$": "1Z1"}]}));
    // A user holds the invoice for 600 ms: the write waits it out.
    hold_invoice(&rig, &inv, 600).await;
    let t = Instant::now();
    a.write_tracking(&inv, &body)
        .await
        .expect("retried past the lock");
    assert!(t.elapsed() >= Duration::from_millis(550));
    // Held for longer than the retry budget: a clear, retryable error with Sage's message.
    hold_invoice(&rig, &inv, 20_000).await;
    match a.write_tracking(&inv, &body).await {
        Err(e @ SageError::RecordLocked { attempts: 8, .. }) => {
            assert!(e.is_transient());
            assert!(
                e.to_string()
                    .contains("The record is in use by another user."),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Random locks under load: every write lands.
    control(&rig, Method::POST, "faults", json!({"lock_rate": 0.05})).await;
    let so2 = enter_order(
        &rig,
        json!({"CustomerNo": "ABF", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
    )
    .await;
    let inv2 = invoice(&rig, &so2).await;
    for p in 1..=20 {
        a.write_tracking(&inv2, &tracking_write(json!({"Packages": [{"PackageNo$": format!("{p:04}"), "TrackingID$": format!("T{p}")}]}))).await.unwrap();
    }
    control(&rig, Method::POST, "faults", json!({})).await;
    assert_eq!(
        rows(&rig, "SO_InvoiceTracking")
            .await
            .iter()
            .filter(|r| r["InvoiceNo"] == inv2.as_str())
            .count(),
        20
    );
}

#[tokio::test]
async fn wrong_company_session_failures_and_missing_api_key() {
    let rig = start_rig().await;
    assert!(
        matches!(agent(&rig, "ZZZ").sales_order("0000001").await, Err(SageError::NotFound(m)) if m.contains("ZZZ"))
    );
    control(
        &rig,
        Method::POST,
        "faults",
        json!({"session_fail_rate": 1.0}),
    )
    .await;
    // Sessions are pooled: a fresh rig-wide failure shows on a company with no idle session yet.
    let r = agent(&rig, "ABC").items(&["WID-100".into()], &[]).await;
    assert!(
        matches!(r, Err(SageError::Session(ref m)) if m.contains("COM object not registered")),
        "{r:?}"
    );
    control(&rig, Method::POST, "faults", json!({})).await;
    for key in [None, Some("wrong")] {
        let mut cfg = ml_connector::sage100::AgentConfig::new(rig.agent_url.clone(), "ABC");
        cfg.api_key = key.map(ml_connector::secret::Secret::new);
        let c = ml_connector::sage100::AgentClient::new(cfg).unwrap();
        assert!(matches!(c.health().await, Err(SageError::Unauthorized)));
    }
    let _ = AGENT_KEY;
}

#[tokio::test]
async fn agent_over_tls_requires_a_client_certificate_with_mtls() {
    use mlc_agent::server::Transport;
    let rig = start_rig().await;
    let pki = ml_connector::testkit::pki::TestPki::generate(&["localhost"]).unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pki-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, pem: &str| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    let transport = Transport::Tls {
        cert: write("server.pem", &pki.server_cert_pem),
        key: write("server.key", &pki.server_key_pem),
        client_ca: Some(write("ca.pem", &pki.ca_pem)),
    };
    let (addr, _) = mlc_agent::server::serve_agent(
        common::sage100::agent_state(&rig.sim, None),
        "127.0.0.1:0".parse().unwrap(),
        transport,
        rig.shutdown.triggered(),
    )
    .await
    .unwrap();
    let url = format!("https://localhost:{}", addr.port());
    let client = |identity: Option<String>| {
        let mut cfg = ml_connector::sage100::AgentConfig::new(url.clone(), "ABC");
        cfg.ca_pem = Some(pki.ca_pem.clone());
        cfg.identity_pem = identity;
        ml_connector::sage100::AgentClient::new(cfg).unwrap()
    };
    let with_cert = client(Some(format!(
        "{}{}",
        pki.client_cert_pem, pki.client_key_pem
    )));
    let health = with_cert.health().await.expect("mTLS client accepted");
    assert_eq!(health.companies[0].return_code, 1);
    match client(None).health().await {
        Err(SageError::Transport(_)) => {}
        other => {
            panic!("a client without a certificate must be refused at the TLS layer: {other:?}")
        }
    }
    // A client certificate from another CA is refused too.
    let other = ml_connector::testkit::pki::TestPki::generate(&["localhost"]).unwrap();
    assert!(matches!(
        client(Some(format!(
            "{}{}",
            other.client_cert_pem, other.client_key_pem
        )))
        .health()
        .await,
        Err(SageError::Transport(_))
    ));
}

#[test]
fn the_agent_openapi_document_lists_every_route() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agent-openapi.yaml"),
    )
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let paths: Vec<String> = doc["paths"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    // The routes of the contract, which the agent's router mounts and the client calls.
    let routes: Vec<String> = mlc_agent_api::paths::ALL
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(routes.len() >= 8, "{routes:?}");
    let mut a = paths.clone();
    let mut b = routes.clone();
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "docs/agent-openapi.yaml and the agent contract disagree"
    );
}
