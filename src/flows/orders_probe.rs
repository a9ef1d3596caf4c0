//! The orders probe (workflows/orders_probe.toml): between full polls, one light agent call asks
//! whether any Sage order changed since the orders poll's watermark, and starts a poll at once
//! when one did, so a new order reaches ShipStation in seconds instead of at the next poll slot.
//!
//! The call is the change feed itself, limited to the orders already processed at the watermark
//! plus one (the feed is inclusive and ordered by stamp, then key): anything beyond those is new.
//! Agent errors end the probe quietly (the next one is seconds away and the full poll, which
//! reports errors, is the safety net); a poll already due or running is never doubled.

use serde_json::json;

use super::deps::FlowDeps;
use super::kinds::{self, Kind, OrdersPollState, OrdersProbeState};
use super::orders_poll::load_tracker;
use crate::domain::Keyed;
use crate::engine::store::{self, CountFilter};
use crate::engine::{HandlerRegistry, Status, StepInput, StepResult, Transition};

/// The most rows one probe reads (orders processed at the watermark's instant, plus one).
const MAX_PROBE_ROWS: usize = 200;

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, OrdersProbeState::Probe, move |i| run(d.clone(), i));
}

fn done(detail: serde_json::Value) -> StepResult {
    Ok(Transition::to(OrdersProbeState::Done).with_detail(detail))
}

async fn run(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let c = input.connection_id;
    for status in [Status::Ready, Status::Running] {
        let busy = store::count_workflows(
            pool,
            &CountFilter {
                kind: Some(Kind::OrdersPoll.as_str()),
                connection_id: Some(c),
                status: Some(status),
                states: None,
            },
        )
        .await?;
        if busy > 0 {
            return done(json!({"skipped": "an orders poll is due or running"}));
        }
    }
    let clients = deps.clients(pool, c).await?;
    let tracker = load_tracker(pool, c, clients.site.zone).await?;
    let limit = (tracker.seen_at_watermark.len() + 1).min(MAX_PROBE_ROWS);
    let page = match clients
        .erp
        .changed_orders(&tracker.watermark, limit, None)
        .await
    {
        Ok(p) => p,
        Err(e) => return done(json!({"error": e.to_string()})),
    };
    let first_new = tracker.clone().accept(page.rows).into_iter().next();
    // A full page of rows all seen before: more than MAX_PROBE_ROWS share the watermark's
    // instant, so the probe cannot tell; the poll can.
    let Some(first) = first_new else {
        return done(json!({"changed": false, "read": limit}));
    };
    // Keyed by the first change it saw: probes that see the same change before the poll has
    // moved the watermark start one poll between them.
    let stamp = first.stamp();
    let key = format!("probe:{}T{}:{}", stamp.date, stamp.time, first.change_key());
    let new = kinds::new_workflow::<OrdersPollState>(c, key.clone(), json!({}));
    let mut conn = pool.acquire().await?;
    let (_, created) = store::create(&mut conn, &new, "orders_probe").await?;
    done(json!({"changed": true, "poll": key, "started": created}))
}
