//! The Sage SOAP contract comes from the customer's WSDL, not from assumptions: the tracking
//! write-back against services of different shapes (namespaces, contract name, member order), the
//! WSDL reading's bounds, and the fault texts a site configures.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::sage100::{agent, contract, enter_order, rows, start_rig_shaped, start_rig_with};
use ml_connector::domain::ports::{Erp, ErpError, OrderWrite};
use ml_connector::domain::SalesOrderNo;
use ml_connector::sage100::contract::{fetch_contract, Limits};
use ml_connector::sage100::{FaultTexts, Sage100, SoapClient, SoapConfig, SoapContract};
use ml_connector::secret::Secret;
use ml_connector::sim::sage100::{MemberOrder, SageConfig, SoapShape, SOAP_PATH};
use serde_json::json;

fn adapter(
    rig: &common::sage100::SageRig,
    contract: Arc<SoapContract>,
    faults: FaultTexts,
) -> Sage100 {
    let soap = SoapClient::new(SoapConfig {
        endpoint: format!("{}{SOAP_PATH}", rig.base),
        contract: Some(contract),
        username: "integration".into(),
        password: Secret::new("sage-password"),
        company: "ABC".into(),
        timeout: Duration::from_secs(10),
        faults,
    })
    .unwrap();
    Sage100 {
        agent: agent(rig, "ABC"),
        soap,
        item_udfs: Vec::new(),
    }
}

fn udfs() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("UDF_TRACKING_NO".into(), "1Z999AA10123456784".into()),
        ("UDF_CARRIER".into(), "ups".into()),
        ("UDF_EST_DELIVERY".into(), "20261203".into()),
    ])
}

async fn an_order(rig: &common::sage100::SageRig) -> SalesOrderNo {
    let no = enter_order(
        rig,
        json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": [
            {"ItemCode": "WID-100", "QuantityOrdered": 2}, {"ItemCode": "GAD-300", "QuantityOrdered": 1}]}),
    )
    .await;
    SalesOrderNo::parse(&no).unwrap()
}

/// Two services that differ in every way WCF allows: the write-back built from each one's WSDL
/// lands whole in both, and one built from the other's WSDL does not.
#[tokio::test]
async fn the_tracking_write_back_follows_each_services_own_wsdl() {
    let shapes = [
        SoapShape {
            namespace: "http://tempuri.org/".into(),
            contract: "IWebService".into(),
            data_namespace: "http://schemas.datacontract.org/2004/07/Sage.Ebs.Contracts".into(),
            member_order: MemberOrder::Ordinal,
        },
        SoapShape {
            namespace: "urn:acme:sage100:ebusiness".into(),
            contract: "ISage100Service".into(),
            data_namespace: "urn:acme:sage100:data".into(),
            member_order: MemberOrder::Declared,
        },
    ];
    let mut contracts = Vec::new();
    for shape in &shapes {
        let rig = start_rig_shaped(shape.clone()).await;
        let k = contract(&rig).await;
        assert_eq!(k.target_namespace, shape.namespace);
        assert_eq!(
            k.operations["UpdateSalesOrder"].soap_action,
            shape.action("UpdateSalesOrder")
        );
        let sage = adapter(&rig, k.clone(), FaultTexts::default());
        let no = an_order(&rig).await;
        let written = sage
            .write_order_tracking(&no, Some("UPS 2DAY"), &udfs())
            .await
            .unwrap();
        assert_eq!(written, OrderWrite::Written);
        let header = rows(&rig, "SO_SalesOrderHeader")
            .await
            .into_iter()
            .find(|h| h["SalesOrderNo"] == json!(no.as_str()))
            .unwrap();
        assert_eq!(header["ShipVia"], "UPS 2DAY", "{shape:?}");
        for (k, v) in udfs() {
            assert_eq!(header[&k], json!(v), "{k} in {shape:?}");
        }
        let lines = rows(&rig, "SO_SalesOrderDetail").await;
        assert_eq!(
            lines
                .iter()
                .filter(|l| l["SalesOrderNo"] == json!(no.as_str()))
                .count(),
            2,
            "the lines survive the header update"
        );
        contracts.push((rig, k));
    }
    // A request built from the other service's WSDL is refused (its SOAPAction is unknown there).
    let (rig_b, _) = &contracts[1];
    let crossed = adapter(rig_b, contracts[0].1.clone(), FaultTexts::default());
    let no = an_order(rig_b).await;
    match crossed.write_order_tracking(&no, None, &udfs()).await {
        Err(ErpError::Rejected(m)) => assert!(m.contains("ContractFilter mismatch"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// WCF drops a data member sent out of sequence without a word: the simulator does the same, so a
/// client that ignored the WSDL's order would lose the UDFs silently.
#[tokio::test]
async fn members_out_of_sequence_are_dropped_as_wcf_does() {
    let shape = SoapShape {
        member_order: MemberOrder::Declared,
        ..SoapShape::default()
    };
    let rig = start_rig_shaped(shape.clone()).await;
    let d = &shape.data_namespace;
    let no = an_order(&rig).await;
    // OtherFields comes first in this contract; sent last (alphabetically), it is ignored.
    let body = format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><UpdateSalesOrder xmlns="{ns}"><logon><Username xmlns="{d}">integration</Username><Password xmlns="{d}">sage-password</Password></logon><companyCode>ABC</companyCode><salesOrder><SalesOrderNo xmlns="{d}">{no}</SalesOrderNo><ShipVia xmlns="{d}">UPS 2DAY</ShipVia><OtherFields xmlns="{d}"><Field><MasFieldName>UDF_CARRIER</MasFieldName><Value>ups</Value></Field></OtherFields></salesOrder></UpdateSalesOrder></s:Body></s:Envelope>"#,
        ns = shape.namespace
    );
    let resp = reqwest::Client::new()
        .post(format!("{}{SOAP_PATH}", rig.base))
        .header(
            "SOAPAction",
            format!("\"{}\"", shape.action("UpdateSalesOrder")),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let header = rows(&rig, "SO_SalesOrderHeader")
        .await
        .into_iter()
        .find(|h| h["SalesOrderNo"] == json!(no.as_str()))
        .unwrap();
    assert_eq!(header["ShipVia"], "UPS 2DAY");
    assert!(
        header.get("UDF_CARRIER").is_none(),
        "the out-of-sequence member was dropped: {header}"
    );
}

/// Serves fixed documents by query string on loopback (`other`: the answer to any other query).
async fn documents(docs: Vec<(&'static str, String)>, other: Option<String>) -> String {
    let docs = Arc::new(docs);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (docs, other) = (docs.clone(), other.clone());
        async move {
            let q = uri.query().unwrap_or_default().to_string();
            match (docs.iter().find(|(k, _)| *k == q), other) {
                (Some((_, body)), _) => (axum::http::StatusCode::OK, body.clone()),
                (None, Some(body)) => (axum::http::StatusCode::OK, body),
                (None, None) => (axum::http::StatusCode::NOT_FOUND, String::new()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/svc")
}

fn wsdl_importing(location: &str) -> String {
    format!(
        r#"<wsdl:definitions targetNamespace="urn:x" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><wsdl:types><xsd:schema><xsd:import schemaLocation="{location}" namespace="urn:y"/></xsd:schema></wsdl:types></wsdl:definitions>"#
    )
}

#[tokio::test]
async fn reading_the_wsdl_is_bounded() {
    let limits = Limits::default();
    let read = |url: String, limits: Limits| async move {
        fetch_contract(&url, Duration::from_secs(5), limits)
            .await
            .unwrap_err()
            .to_string()
    };
    // An import from another origin is never fetched.
    let elsewhere = documents(vec![], None).await;
    let svc = documents(
        vec![("wsdl", wsdl_importing(&format!("{elsewhere}?xsd=x")))],
        None,
    )
    .await;
    let e = read(svc, limits).await;
    assert!(e.contains("another origin"), "{e}");
    // An import chain deeper than the limit.
    let svc = documents(
        vec![
            ("wsdl", wsdl_importing("?xsd=a")),
            ("xsd=a", wsdl_importing("?xsd=b")),
            ("xsd=b", wsdl_importing("?xsd=c")),
            ("xsd=c", wsdl_importing("?xsd=d")),
            ("xsd=d", wsdl_importing("?xsd=e")),
            ("xsd=e", wsdl_importing("?xsd=f")),
        ],
        None,
    )
    .await;
    let e = read(svc, limits).await;
    assert!(e.contains("deeper than"), "{e}");
    // A document larger than the limit.
    let big = format!("<x>{}</x>", "a".repeat(64 << 10));
    let svc = documents(vec![("wsdl", big)], None).await;
    let e = read(
        svc,
        Limits {
            max_document_bytes: 32 << 10,
            ..limits
        },
    )
    .await;
    assert!(e.contains("larger than"), "{e}");
    // Too many documents.
    let many: Vec<(&'static str, String)> = vec![
        ("wsdl", format!("<wsdl:definitions xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\">{}</wsdl:definitions>",
            (0..30).map(|i| format!("<wsdl:import location=\"?wsdl=w{i}\"/>")).collect::<String>())),
    ];
    let schema = r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>"#;
    let svc = documents(many, Some(schema.to_string())).await;
    let e = read(
        svc,
        Limits {
            max_documents: 3,
            ..limits
        },
    )
    .await;
    assert!(e.contains("more than 3 documents"), "{e}");
}

/// A site whose Sage words a lock and a missing order differently adds its texts as settings.
#[tokio::test]
async fn lock_and_not_on_file_texts_are_settings() {
    let rig = start_rig_with(SageConfig {
        seed_demo: true,
        lock_message: "Datensatz wird von einem anderen Benutzer bearbeitet.".into(),
        not_on_file_code: "SO_NotOnFile".into(),
        ..SageConfig::default()
    })
    .await;
    let k = contract(&rig).await;
    let no = an_order(&rig).await;
    rig.sim
        .lock_for(&format!("SoHeader:{no}"), Duration::from_secs(30));
    let missing = SalesOrderNo::parse("0999999").unwrap();

    // Today's texts: the lock is a refusal and the missing order an error.
    let plain = adapter(&rig, k.clone(), FaultTexts::default());
    assert!(matches!(
        plain.write_order_tracking(&no, None, &udfs()).await,
        Err(ErpError::Rejected(_))
    ));
    assert!(matches!(
        plain.write_order_tracking(&missing, None, &udfs()).await,
        Err(ErpError::Rejected(_))
    ));

    // The site's settings, as `connection set --settings-json` stores them.
    let settings: ml_connector::connections::Settings = serde_json::from_value(json!({"sage": {
        "record_lock_texts": ["in use by another user", "anderen Benutzer bearbeitet"],
        "not_on_file_codes": ["CI_NoKey", "SO_NotOnFile"]}}))
    .unwrap();
    let site = adapter(&rig, k, settings.sage.fault_texts());
    match site.write_order_tracking(&no, None, &udfs()).await {
        Err(e @ ErpError::RecordLocked(_)) => assert!(e.to_string().contains("Datensatz"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        site.write_order_tracking(&missing, None, &udfs()).await,
        Ok(OrderWrite::NotOnFile(_))
    ));
}
