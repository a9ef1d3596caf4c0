//! `bench agent`: the orders poll over a company file of N orders (two lines each) with K changed,
//! answered by the agent's ODBC backend (SQL through unixODBC and the PostgreSQL driver, over a
//! Sage-shaped database) and by browsing the simulated BOI, on the same data. Reports the agent's
//! time, what each backend read and sent, and agent calls per changed order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use mlc_agent::boi::{Boi, BoiSession, ObjectId};
use mlc_agent::odbc::{OdbcReads, OdbcSettings};
use mlc_agent::pool::SessionPool;
use mlc_agent::reads::boi::BoiReads;
use mlc_agent::reads::{self, queries, ReadBackend};
use mlc_agent_api::ChangedQuery;
use serde_json::{json, Value};

use crate::cmd::args::BenchAgentArgs;
use ml_connector::secret::Secret;
use ml_connector::sim::sage100::boi::SimBoi;
use ml_connector::sim::sage100::data::{key, Record};
use ml_connector::sim::sage100::sage_db::{self, OdbcTarget};
use ml_connector::sim::sage100::{SageConfig, SageSim};

/// COM calls and records read through a BOI backend.
#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    records: AtomicU64,
}

struct CountingBoi {
    inner: Arc<dyn Boi>,
    counts: Arc<Counts>,
}

struct CountingSession {
    inner: Box<dyn BoiSession>,
    counts: Arc<Counts>,
}

impl Boi for CountingBoi {
    fn open_session(
        &self,
        user: &str,
        password: &str,
        company: &str,
    ) -> Result<Box<dyn BoiSession>, String> {
        let inner = self.inner.open_session(user, password, company)?;
        Ok(Box::new(CountingSession {
            inner,
            counts: self.counts.clone(),
        }))
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl CountingSession {
    fn call(&self) {
        self.counts.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn record(&self, rc: i32) -> i32 {
        if rc == 1 {
            self.counts.records.fetch_add(1, Ordering::Relaxed);
        }
        rc
    }
}

impl BoiSession for CountingSession {
    fn set_module(&mut self, m: &str) -> i32 {
        self.call();
        self.inner.set_module(m)
    }
    fn set_program(&mut self, t: &str) -> i32 {
        self.call();
        self.inner.set_program(t)
    }
    fn new_object(&mut self, n: &str) -> Result<ObjectId, String> {
        self.call();
        self.inner.new_object(n)
    }
    fn drop_object(&mut self, o: ObjectId) {
        self.call();
        self.inner.drop_object(o)
    }
    fn set_key_value(&mut self, o: ObjectId, c: &str, v: &str) -> i32 {
        self.call();
        self.inner.set_key_value(o, c, v)
    }
    fn set_key(&mut self, o: ObjectId) -> i32 {
        self.call();
        self.inner.set_key(o)
    }
    fn find(&mut self, o: ObjectId) -> i32 {
        self.call();
        let rc = self.inner.find(o);
        self.record(rc)
    }
    fn set_value(&mut self, o: ObjectId, c: &str, v: &Value) -> i32 {
        self.call();
        self.inner.set_value(o, c, v)
    }
    fn get_value(&mut self, o: ObjectId, c: &str) -> (i32, Value) {
        self.call();
        self.inner.get_value(o, c)
    }
    fn write(&mut self, o: ObjectId) -> i32 {
        self.call();
        self.inner.write(o)
    }
    fn clear(&mut self, o: ObjectId) -> i32 {
        self.call();
        self.inner.clear(o)
    }
    fn delete(&mut self, o: ObjectId) -> i32 {
        self.call();
        self.inner.delete(o)
    }
    fn set_browse_filter(&mut self, o: ObjectId, p: &str) -> i32 {
        self.call();
        self.inner.set_browse_filter(o, p)
    }
    fn move_first(&mut self, o: ObjectId) -> i32 {
        self.call();
        let rc = self.inner.move_first(o);
        self.record(rc)
    }
    fn move_next(&mut self, o: ObjectId) -> i32 {
        self.call();
        let rc = self.inner.move_next(o);
        self.record(rc)
    }
    fn eof(&self, o: ObjectId) -> bool {
        self.call();
        self.inner.eof(o)
    }
    fn last_error(&self, o: ObjectId) -> String {
        self.call();
        self.inner.last_error(o)
    }
}

fn record(pairs: &[(&str, Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// N orders with two lines each; the last `changed` updated on 2026-12-01, the rest in 2025.
fn company_file(sim: &SageSim, orders: usize, changed: usize) {
    let mut data = sim.data.lock().unwrap();
    let co = data.company("ABC").expect("company ABC");
    for n in 1..=orders {
        let no = format!("{n:07}");
        let recent = n > orders.saturating_sub(changed);
        let date = if recent {
            "20261201".to_string()
        } else {
            format!("2025{:02}{:02}", 1 + n % 12, 1 + n % 28)
        };
        co.so_header.insert(
            no.clone(),
            record(&[
                ("SalesOrderNo", json!(no)),
                ("OrderDate", json!("20250601")),
                ("OrderType", json!("S")),
                ("OrderStatus", json!("O")),
                ("ARDivisionNo", json!("01")),
                ("CustomerNo", json!("ABF")),
                ("ShipToName", json!(format!("Customer {n}"))),
                ("ShipToCountryCode", json!("USA")),
                ("ShipVia", json!("UPS GROUND")),
                ("DateUpdated", json!(date)),
                (
                    "TimeUpdated",
                    json!(format!("{:.5}", (n % 24) as f64 + 0.5)),
                ),
            ]),
        );
        for l in 1..=2 {
            let line_key = format!("{l:06}");
            co.so_detail.insert(
                key(&[&no, &line_key]),
                record(&[
                    ("SalesOrderNo", json!(no)),
                    ("LineKey", json!(line_key)),
                    ("LineSeqNo", json!(format!("{l:014}"))),
                    ("ItemCode", json!("WID-100")),
                    ("ItemType", json!("1")),
                    ("WarehouseCode", json!("000")),
                    ("QuantityOrdered", json!(l * 2)),
                    ("UnitPrice", json!(12.5)),
                ]),
            );
        }
    }
}

/// Page through the changed orders as the connector does; returns (orders, agent calls, seconds).
async fn poll(backend: &dyn ReadBackend, page: usize) -> anyhow::Result<(usize, usize, f64)> {
    let started = Instant::now();
    let (mut orders, mut calls) = (0, 0);
    let mut after = None;
    loop {
        let q = ChangedQuery::new("20261201".into(), 0.0, page, after.as_ref());
        let answer = reads::run(backend, "ABC", move |f| queries::changed_orders(f, &q))
            .await
            .map_err(|f| anyhow::anyhow!(f.message))?;
        calls += 1;
        orders += answer.sales_orders.len();
        match answer.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok((orders, calls, started.elapsed().as_secs_f64()))
}

pub async fn run(args: &BenchAgentArgs) -> anyhow::Result<()> {
    let sim = SageSim::new(SageConfig {
        seed_demo: true,
        ..SageConfig::default()
    });
    company_file(&sim, args.orders, args.changed);

    let counts = Arc::new(Counts::default());
    let boi = CountingBoi {
        inner: Arc::new(SimBoi::new(sim.clone())),
        counts: counts.clone(),
    };
    let pool = SessionPool::new(
        Arc::new(boi),
        sim.cfg.username.clone(),
        Secret::new(sim.cfg.password.clone()),
        1,
    );
    let (boi_orders, boi_calls, boi_secs) = poll(&BoiReads(pool), args.page).await?;

    let loaded = Instant::now();
    let url = ml_connector::testkit::pg::fresh_plain_database_url().await?;
    let company = sim
        .data
        .lock()
        .unwrap()
        .company("ABC")
        .context("company ABC")?
        .clone();
    sage_db::load_company(&url, &company).await?;
    let load_secs = loaded.elapsed().as_secs_f64();
    let target = OdbcTarget::from_url(&url)?;
    let odbc = Arc::new(OdbcReads::new(
        OdbcSettings {
            connection: target.connection_string(),
            user: target.user.clone(),
            password: Secret::new(target.password.clone()),
            query_timeout_secs: 600,
        },
        1,
    ));
    // One connection opened before timing (a pooled agent keeps it open).
    reads::run(&odbc as &dyn ReadBackend, "ABC", |_| Ok(()))
        .await
        .map_err(|f| anyhow::anyhow!(f.message))?;
    let (odbc_orders, odbc_calls, odbc_secs) = poll(&odbc as &dyn ReadBackend, args.page).await?;
    let (statements, rows) = odbc.stats().snapshot();
    anyhow::ensure!(
        boi_orders == args.changed && odbc_orders == args.changed,
        "expected {} changed orders, BOI found {boi_orders}, ODBC {odbc_orders}",
        args.changed
    );

    let result = json!({
        "orders_on_file": args.orders,
        "changed": args.changed,
        "page": args.page,
        "odbc": {"agent_secs": odbc_secs, "statements": statements, "rows_read": rows, "agent_calls": odbc_calls},
        "boi_browse": {"agent_secs": boi_secs, "com_calls": counts.calls.load(Ordering::Relaxed),
                        "records_read": counts.records.load(Ordering::Relaxed), "agent_calls": boi_calls},
        "agent_calls_per_order": odbc_calls as f64 / args.changed.max(1) as f64,
        "load_secs": load_secs,
    });
    if args.json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}
