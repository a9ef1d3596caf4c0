//! A company file of 50,000 sales orders, 100 of them changed since the watermark: the ODBC
//! backend's orders poll returns exactly those 100, reading each order's lines by key.

use ml_connector::sim::sage100::sage_db::{self, OdbcTarget};
use mlc_agent_api::paths;
use reqwest::Method;
use sqlx::{Connection, PgConnection};

use super::agent_conformance::{ask, odbc_agent};

const ORDERS: i64 = 50_000;
const CHANGED: i64 = 100;

/// 50,000 headers (the last 100 updated on 2026-12-01, the rest in 2025) with two lines each.
async fn large_company() -> OdbcTarget {
    let url = ml_connector::testkit::pg::fresh_plain_database_url()
        .await
        .unwrap();
    let mut db = PgConnection::connect(&url).await.unwrap();
    for stmt in sage_db::ddl() {
        sqlx::query(&stmt).execute(&mut db).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO SO_SalesOrderHeader (SalesOrderNo, OrderDate, OrderType, OrderStatus, ARDivisionNo, CustomerNo,
            ShipToName, ShipToCountryCode, ShipVia, DateUpdated, TimeUpdated)
         SELECT lpad(n::text, 7, '0'), DATE '2025-06-01', 'S', 'O', '01', 'ABF', 'Customer ' || n, 'USA', 'UPS GROUND',
                CASE WHEN n > $1 - $2 THEN DATE '2026-12-01' ELSE DATE '2025-06-01' + (n % 300)::int END,
                to_char((n % 24) + 0.5, 'FM90.00000')
         FROM generate_series(1, $1::int) AS n",
    )
    .bind(ORDERS)
    .bind(CHANGED)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO SO_SalesOrderDetail (SalesOrderNo, LineKey, LineSeqNo, ItemCode, ItemType, WarehouseCode,
            QuantityOrdered, UnitPrice)
         SELECT lpad(n::text, 7, '0'), lpad(l::text, 6, '0'), lpad(l::text, 14, '0'), 'WID-100', '1', '000', l * 2, 12.5
         FROM generate_series(1, $1) AS n, generate_series(1, 2) AS l",
    )
    .bind(ORDERS)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&mut db).await.unwrap();
    db.close().await.unwrap();
    OdbcTarget::from_url(&url).unwrap()
}

#[tokio::test]
async fn a_poll_over_fifty_thousand_orders_returns_exactly_the_hundred_changed() {
    let agent = odbc_agent(large_company().await).await;
    let mut seen = Vec::new();
    let mut query = "since_date=20261201&since_time=0&limit=40".to_string();
    let mut pages = 0;
    loop {
        let path = format!(
            "{}?{query}",
            paths::fill(paths::CHANGED_ORDERS, &[("co", "ABC")])
        );
        let (status, page) = ask(&agent.url, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for o in page["SalesOrders"].as_array().unwrap() {
            assert_eq!(o["Lines"].as_array().unwrap().len(), 2);
            seen.push(o["SalesOrderNo$"].as_str().unwrap().to_string());
        }
        let next = &page["Next"];
        if next.is_null() {
            break;
        }
        query = format!(
            "since_date=20261201&since_time=0&limit=40&after_date={}&after_time={}&after_key={}",
            next["after_date"].as_str().unwrap(),
            next["after_time"],
            next["after_key"].as_str().unwrap()
        );
    }
    let mut expected: Vec<String> = (ORDERS - CHANGED + 1..=ORDERS)
        .map(|n| format!("{n:07}"))
        .collect();
    let mut got = seen.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "exactly the changed orders, each once");
    assert_eq!(pages, 3);
    // Each page: one statement for the changed headers, then one per order for its lines (by key).
    let (statements, rows) = agent.stats.snapshot();
    assert_eq!(statements, pages + CHANGED as u64);
    assert!(
        rows <= (pages * CHANGED as u64) + 2 * CHANGED as u64,
        "rows read: {rows}"
    );
}
