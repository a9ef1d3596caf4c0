//! Tracking write-back, as states of the order workflow (one writer per Sage order, so packages
//! from several shipments never race):
//!
//! - `track_so`: the sales order header's UDFs (tracking number(s), carrier, estimated delivery)
//!   and ShipVia (when the carrier/service maps back to a Sage ShipVia) through SOAP UpdateSalesOrder.
//! - `track_invoice`: the SO invoice usually appears after the shipment, so this state waits (a
//!   timer, woken early by any signal) until the agent finds an open invoice, then writes one
//!   SO_InvoiceTracking row per package not yet on any invoice of the order (TrackingID ≤ 30),
//!   the invoice header ShipDate / ShipVia / UDFs, and removes rows of voided labels.
//! - `shipped`: waits for the next change (another package, a void).
//! - `manual_action`: the invoice was posted to A/R history before the tracking arrived (the agent
//!   cannot write there), or no invoice came within `tracking.invoice_wait_hours`. The detail
//!   says what to enter; a signal (signalWorkflow) or a replay re-checks, and it completes once Sage has it.
//!
//! Everything is idempotent: a package counts as written when its tracking number is on an invoice.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::kinds::{self, OrderState};
use super::order::{sales_order_no, OrderContext};
use super::step_errors::db;
use crate::connections::{ShipViaMapping, WriteBackUdfs};
use crate::domain::ports::OrderWrite;
use crate::domain::{
    Invoice, InvoiceNo, InvoiceTracking, InvoiceTrackingUpdate, Package, TrackingRow,
};
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, OrderState::TrackSo, move |i| track_so(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, OrderState::TrackInvoice, move |i| {
        track_invoice(d.clone(), i)
    });
    let d = deps.clone();
    kinds::register(r, OrderState::Shipped, move |i| shipped(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, OrderState::ManualAction, move |i| {
        manual_action(d.clone(), i)
    });
}

/// Sage's column lengths.
const TRACKING_ID_LEN: usize = 30;
const UDF_LEN: usize = 30;
const SHIP_VIA_LEN: usize = 15;

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The order's packages (return labels excluded) and a fingerprint of them: the order workflow
/// remembers the fingerprint it applied, so any new package or void shows as a difference.
pub async fn packages(
    pool: &PgPool,
    connection_id: i64,
    sales_order_no: &str,
) -> Result<(Vec<Package>, String), StepError> {
    type Row = (
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
        bool,
        Option<NaiveDate>,
        Option<NaiveDate>,
    );
    // `@>` (not `= ANY`) so the GIN index on sales_orders serves it.
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT source, external_id, tracking_number, carrier_code, service_code, ship_date, voided, estimated_delivery, ship_day
           FROM shipments WHERE connection_id = $1 AND sales_orders @> ARRAY[$2::text] AND NOT is_return
          ORDER BY ship_date NULLS LAST, source, external_id",
    )
    .bind(connection_id)
    .bind(sales_order_no)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let list: Vec<Package> = rows
        .into_iter()
        .map(
            |(source, id, t, carrier, service, ship, voided, eta, day)| Package {
                id: format!("{source}:{id}"),
                tracking_number: t.unwrap_or_default(),
                carrier_code: carrier,
                service_code: service,
                ship_date: ship,
                ship_day: day,
                voided,
                estimated_delivery: eta,
            },
        )
        .collect();
    let fp = list
        .iter()
        .map(|p| {
            format!(
                "{}={}{}",
                p.id,
                p.tracking_number,
                if p.voided { "/void" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    Ok((list, fp))
}

/// Whether the order has tracking changes not yet applied (used by the order's waiting states).
pub async fn pending(input: &StepInput) -> Result<bool, StepError> {
    let (_, fp) = packages(&input.db, input.connection_id, &input.business_key).await?;
    Ok(fp != OrderContext::of(input)?.tracking_fp.unwrap_or_default())
}

/// Sage ShipVia for a carrier/service, from the connection's ship_via mapping read backwards.
fn ship_via(map: &BTreeMap<String, ShipViaMapping>, p: &Package) -> Option<String> {
    let exact = map.iter().find(|(_, m)| {
        m.carrier_code == p.carrier_code
            && m.service_code.is_some()
            && m.service_code == p.service_code
    });
    let by_carrier = || {
        map.iter()
            .find(|(_, m)| m.carrier_code == p.carrier_code && m.service_code.is_none())
    };
    exact
        .or_else(by_carrier)
        .map(|(code, _)| clip(code, SHIP_VIA_LEN))
}

fn live(list: &[Package]) -> Vec<&Package> {
    list.iter().filter(|p| p.is_live()).collect()
}

/// Header UDF values for the live packages (blank when none are left: all voided).
fn udf_values(u: &WriteBackUdfs, live: &[&Package]) -> BTreeMap<String, String> {
    let numbers: Vec<&str> = live.iter().map(|p| p.tracking_number.as_str()).collect();
    let carrier = live
        .iter()
        .find_map(|p| p.carrier_code.clone())
        .unwrap_or_default();
    let eta = live
        .iter()
        .filter_map(|p| p.estimated_delivery)
        .max()
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_default();
    // All numbers when they fit the UDF, else the first and how many more (the invoice has all).
    let joined = numbers.join(",");
    let tracking = if joined.chars().count() <= UDF_LEN || numbers.len() < 2 {
        clip(&joined, UDF_LEN)
    } else {
        let more = format!(" (+{})", numbers.len() - 1);
        clip(numbers[0], UDF_LEN - more.len()) + &more
    };
    BTreeMap::from([
        (u.tracking_number.clone(), tracking),
        (u.carrier.clone(), clip(&carrier, UDF_LEN)),
        (u.estimated_delivery.clone(), eta),
    ])
}

async fn track_so(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let (list, fp) = packages(&input.db, input.connection_id, &input.business_key).await?;
    let live = live(&list);
    let udfs = udf_values(&clients.connection.settings.udfs, &live);
    let via = live
        .first()
        .and_then(|p| ship_via(&clients.connection.settings.mappings.ship_via, p));
    let mut ctx = OrderContext::of(&input)?;
    ctx.tracking_fp_applying = Some(fp);
    ctx.awaiting_invoice_since = Some(Utc::now());
    let no = sales_order_no(&input)?;
    let detail = match clients
        .erp
        .write_order_tracking(&no, via.as_deref(), &udfs)
        .await?
    {
        OrderWrite::Written => {
            let fields: BTreeMap<&str, &String> = via.iter().map(|v| ("ShipVia", v)).collect();
            json!({"sales_order": "written", "udfs": udfs, "fields": fields, "packages": live.len()})
        }
        // Completed orders leave SO_SalesOrderHeader after the sales journal: nothing to write.
        OrderWrite::NotOnFile(message) => {
            json!({"sales_order": "not on file", "message": message})
        }
    };
    Ok(Transition::to(OrderState::TrackInvoice)
        .with_context(ctx.to_value())
        .with_detail(detail))
}

/// Where the order's packages stand on its invoices.
struct InvoicePlan {
    /// Live packages on no invoice yet.
    missing: Vec<Package>,
    /// (invoice, PackageNo) rows of voided labels on open invoices.
    stale_open: Vec<(InvoiceNo, String)>,
    /// Tracking numbers of voided labels already posted to A/R history.
    stale_posted: Vec<String>,
    /// The newest open SO invoice, with its tracking rows.
    open_invoice: Option<(InvoiceNo, Vec<TrackingRow>)>,
    posted_invoices: Vec<String>,
    /// Every live package of the order (the invoice header's UDFs describe them all).
    live: Vec<Package>,
}

async fn plan(clients: &ConnectionClients, input: &StepInput) -> Result<InvoicePlan, StepError> {
    let (list, _) = packages(&input.db, input.connection_id, &input.business_key).await?;
    let invoices = clients
        .erp
        .invoices_of_order(&sales_order_no(input)?)
        .await?;
    Ok(plan_of(&list, invoices))
}

/// Where the packages stand on the invoices: what is missing, what was voided, which invoice is open.
fn plan_of(list: &[Package], invoices: Vec<Invoice>) -> InvoicePlan {
    let live_ids: BTreeSet<String> = live(list)
        .iter()
        .map(|p| clip(&p.tracking_number, TRACKING_ID_LEN))
        .collect();
    let voided: BTreeSet<String> = list
        .iter()
        .filter(|p| p.voided)
        .map(|p| clip(&p.tracking_number, TRACKING_ID_LEN))
        .filter(|t| !live_ids.contains(t))
        .collect();
    let mut on_invoices = BTreeSet::new();
    let mut plan = InvoicePlan {
        missing: vec![],
        stale_open: vec![],
        stale_posted: vec![],
        open_invoice: None,
        posted_invoices: vec![],
        live: live(list).into_iter().cloned().collect(),
    };
    for inv in invoices {
        for r in &inv.tracking {
            let t = r.tracking_id.clone();
            if voided.contains(&t) {
                if inv.posted {
                    plan.stale_posted.push(t.clone());
                } else {
                    plan.stale_open.push((inv.no.clone(), r.package_no.clone()));
                }
            }
            on_invoices.insert(t);
        }
        if inv.posted {
            plan.posted_invoices.push(inv.no.to_string());
        } else if plan.open_invoice.as_ref().is_none_or(|(n, _)| *n < inv.no) {
            plan.open_invoice = Some((inv.no, inv.tracking));
        }
    }
    plan.missing = live(list)
        .into_iter()
        .filter(|p| !on_invoices.contains(&clip(&p.tracking_number, TRACKING_ID_LEN)))
        .cloned()
        .collect();
    plan
}

/// The next free package numbers on an invoice (`0001`, `0002`, …).
fn next_package_numbers(rows: &[TrackingRow], n: usize) -> Vec<String> {
    let used: BTreeSet<u32> = rows
        .iter()
        .filter_map(|r| r.package_no.parse().ok())
        .collect();
    (1u32..)
        .filter(|k| !used.contains(k))
        .take(n)
        .map(|k| format!("{k:04}"))
        .collect()
}

/// Done with the current packages: shipped, or back to awaiting shipment when every label was voided.
fn settled(input: &StepInput, plan: &InvoicePlan, detail: Value) -> StepResult {
    let mut ctx = OrderContext::of(input)?;
    ctx.tracking_fp = ctx.tracking_fp_applying.clone();
    let to = if !plan.live.is_empty() {
        OrderState::Shipped
    } else {
        OrderState::Check
    };
    Ok(Transition::to(to)
        .on_signal()
        .with_context(ctx.to_value())
        .with_detail(detail))
}

fn manual(input: &StepInput, why: String) -> StepResult {
    let mut ctx = OrderContext::of(input)?;
    ctx.manual_action = Some(why.clone());
    Ok(Transition::to(OrderState::ManualAction)
        .on_signal()
        .with_context(ctx.to_value())
        .with_detail(json!({"needs_manual_action": why})))
}

async fn track_invoice(deps: FlowDeps, input: StepInput) -> StepResult {
    // Another package or a void arrived while waiting: the sales order header first.
    let (_, fp) = packages(&input.db, input.connection_id, &input.business_key).await?;
    if OrderContext::of(&input)?.tracking_fp_applying.as_deref() != Some(fp.as_str()) {
        return Ok(
            Transition::to(OrderState::TrackSo).with_detail(json!({"tracking_changed": true}))
        );
    }
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let plan = plan(&clients, &input).await?;
    let no = &input.business_key;
    for (inv, package) in &plan.stale_open {
        clients.erp.remove_invoice_tracking(inv, package).await?;
    }
    if !plan.stale_posted.is_empty() {
        return manual(&input, format!(
            "Sales order {no}: label(s) {} were voided in ShipStation after the invoice was posted to A/R history; remove that tracking in Sage by hand",
            plan.stale_posted.join(", ")
        ));
    }
    if plan.missing.is_empty() {
        return settled(
            &input,
            &plan,
            json!({"invoice": "up to date", "removed": plan.stale_open.len()}),
        );
    }
    let Some((inv, rows)) = &plan.open_invoice else {
        return wait_for_invoice(&clients, &input, &plan).await;
    };
    let zone = clients.site.zone;
    let numbers = next_package_numbers(rows, plan.missing.len());
    let packages: Vec<InvoiceTracking> =
        plan.missing
            .iter()
            .zip(&numbers)
            .map(|(p, n)| InvoiceTracking {
                package_no: n.clone(),
                tracking_id: clip(&p.tracking_number, TRACKING_ID_LEN),
                ship_via: ship_via(&clients.connection.settings.mappings.ship_via, p)
                    .unwrap_or_else(|| {
                        clip(
                            &p.carrier_code.clone().unwrap_or_default().to_uppercase(),
                            SHIP_VIA_LEN,
                        )
                    }),
                comment: clip(&format!("ShipStation {}", p.id), 30),
            })
            .collect();
    let first = &plan.missing[0];
    let all_live: Vec<&Package> = plan.live.iter().collect();
    let update = InvoiceTrackingUpdate {
        packages,
        // A date ShipStation gave as a date stays that date; an instant is dated in the site's zone.
        ship_date: first
            .ship_day
            .or_else(|| first.ship_date.map(|d| zone.date_of(d))),
        ship_via: ship_via(&clients.connection.settings.mappings.ship_via, first),
        udfs: udf_values(&clients.connection.settings.udfs, &all_live),
    };
    clients.erp.write_invoice_tracking(inv, &update).await?;
    // The audit trail keeps the shape it always had (Sage's column names).
    let packages: Vec<Value> = update
        .packages
        .iter()
        .map(|p| {
            json!({"PackageNo$": p.package_no, "TrackingID$": p.tracking_id,
                   "StarshipShipVia$": p.ship_via, "Comment$": p.comment})
        })
        .collect();
    let truncated: Vec<&str> = plan
        .missing
        .iter()
        .filter(|p| p.tracking_number.chars().count() > TRACKING_ID_LEN)
        .map(|p| p.tracking_number.as_str())
        .collect();
    settled(
        &input,
        &plan,
        json!({
            "invoice": inv, "packages_written": packages, "removed": plan.stale_open.len(),
            "truncated_tracking_numbers": truncated,
        }),
    )
}

async fn wait_for_invoice(
    clients: &ConnectionClients,
    input: &StepInput,
    plan: &InvoicePlan,
) -> StepResult {
    let no = &input.business_key;
    let numbers: Vec<&str> = plan
        .missing
        .iter()
        .map(|p| p.tracking_number.as_str())
        .collect();
    // The sales order is gone and only posted invoices exist: the journal ran first.
    let so_open = clients
        .erp
        .sales_order(&sales_order_no(input)?)
        .await?
        .is_some();
    if !so_open && !plan.posted_invoices.is_empty() {
        return manual(input, format!(
            "Sales order {no}: invoice {} was posted to A/R history before the tracking arrived; enter tracking {} on it in Sage by hand",
            plan.posted_invoices.join(", "), numbers.join(", ")
        ));
    }
    let t = &clients.connection.settings.tracking;
    let since = OrderContext::of(input)?
        .awaiting_invoice_since
        .unwrap_or_else(Utc::now);
    if Utc::now() - since > chrono::Duration::hours(t.invoice_wait_hours as i64) || !so_open {
        return manual(input, format!(
            "Sales order {no}: no open invoice {}; enter tracking {} in Sage by hand, or invoice the order and restart",
            if so_open { format!("after {} hours", t.invoice_wait_hours) } else { "and the order is no longer open".into() },
            numbers.join(", ")
        ));
    }
    let next = Utc::now() + chrono::Duration::seconds(t.invoice_check_secs.max(1) as i64);
    Ok(Transition::to(OrderState::TrackInvoice)
        .at(next)
        .with_detail(json!({"waiting_for_invoice": true, "packages": numbers, "next_check": next})))
}

async fn shipped(_deps: FlowDeps, input: StepInput) -> StepResult {
    if pending(&input).await? {
        return Ok(
            Transition::to(OrderState::TrackSo).with_detail(json!({"tracking_changed": true}))
        );
    }
    Ok(Transition::to(OrderState::Shipped).on_signal())
}

/// Re-check after a person acted (signalWorkflow, or a replay): done once Sage holds the tracking.
async fn manual_action(deps: FlowDeps, input: StepInput) -> StepResult {
    if pending(&input).await? {
        return Ok(
            Transition::to(OrderState::TrackSo).with_detail(json!({"tracking_changed": true}))
        );
    }
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let plan = plan(&clients, &input).await?;
    if plan.missing.is_empty() && plan.stale_posted.is_empty() && plan.stale_open.is_empty() {
        return settled(&input, &plan, json!({"resolved_in_sage": true}));
    }
    if plan.open_invoice.is_some() && plan.stale_posted.is_empty() {
        return Ok(Transition::to(OrderState::TrackInvoice)
            .with_detail(json!({"open_invoice_found": true})));
    }
    Ok(Transition::to(OrderState::ManualAction).on_signal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: &str, tracking: &str, voided: bool) -> Package {
        Package {
            id: id.into(),
            tracking_number: tracking.into(),
            carrier_code: Some("ups".into()),
            service_code: Some("ups_ground".into()),
            ship_date: None,
            ship_day: None,
            voided,
            estimated_delivery: NaiveDate::from_ymd_opt(2026, 12, 3),
        }
    }

    fn invoice(no: &str, posted: bool, rows: &[(&str, &str)]) -> Invoice {
        Invoice {
            no: no.parse().unwrap(),
            sales_order_no: "0000042".parse().unwrap(),
            posted,
            tracking: rows
                .iter()
                .map(|(p, t)| TrackingRow {
                    package_no: p.to_string(),
                    tracking_id: t.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn udfs_hold_every_number_that_fits_else_the_first_and_a_count() {
        let u = WriteBackUdfs::default();
        let a = pkg("label:1", "1Z001", false);
        let b = pkg("label:2", "1Z002", false);
        let v = udf_values(&u, &[&a, &b]);
        assert_eq!(v["UDF_TRACKING_NO"], "1Z001,1Z002");
        assert_eq!(v["UDF_CARRIER"], "ups");
        assert_eq!(v["UDF_EST_DELIVERY"], "20261203");
        let long1 = pkg("label:3", "1Z999AA10123456784", false);
        let long2 = pkg("label:4", "1Z999AA10123456785", false);
        let v = udf_values(&u, &[&long1, &long2]);
        assert_eq!(v["UDF_TRACKING_NO"], "1Z999AA10123456784 (+1)");
        assert!(v["UDF_TRACKING_NO"].chars().count() <= UDF_LEN);
        // All voided: the UDFs are blanked.
        let v = udf_values(&u, &[]);
        assert!(v.values().all(String::is_empty), "{v:?}");
    }

    #[test]
    fn package_numbers_fill_gaps_in_order() {
        let rows = invoice(
            "0000100",
            false,
            &[("0001", "A"), ("0003", "B"), ("X", "C")],
        )
        .tracking;
        assert_eq!(next_package_numbers(&rows, 3), vec!["0002", "0004", "0005"]);
        assert!(next_package_numbers(&rows, 0).is_empty());
    }

    #[test]
    fn the_plan_finds_missing_voided_and_the_newest_open_invoice() {
        let list = vec![
            pkg("label:1", "T1", false),
            pkg("label:2", "T2", false),
            pkg("label:3", "T3", true),
            pkg("label:4", "T4", true),
        ];
        let plan = plan_of(
            &list,
            vec![
                invoice("0000100", false, &[("0001", "T1"), ("0002", "T3")]),
                invoice("0000101", false, &[]),
                invoice("0000090", true, &[("0001", "T4")]),
            ],
        );
        let ids = |v: &[Package]| v.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&plan.missing), vec!["label:2"], "T1 is on an invoice");
        assert_eq!(
            plan.stale_open,
            vec![("0000100".parse().unwrap(), "0002".to_string())],
            "a voided label's row on an open invoice is removed"
        );
        assert_eq!(plan.stale_posted, vec!["T4"], "posted: a person removes it");
        assert_eq!(plan.open_invoice.unwrap().0.as_str(), "0000101");
        assert_eq!(plan.posted_invoices, vec!["0000090"]);
        assert_eq!(ids(&plan.live), vec!["label:1", "label:2"]);
    }

    #[test]
    fn ship_via_reads_the_mapping_backwards() {
        let mut map = BTreeMap::new();
        map.insert(
            "UPS GROUND".to_string(),
            ShipViaMapping {
                carrier_code: Some("ups".into()),
                service_code: Some("ups_ground".into()),
            },
        );
        map.insert(
            "UPS".to_string(),
            ShipViaMapping {
                carrier_code: Some("ups".into()),
                service_code: None,
            },
        );
        assert_eq!(
            ship_via(&map, &pkg("l", "T", false)).as_deref(),
            Some("UPS GROUND")
        );
        let mut other = pkg("l", "T", false);
        other.service_code = Some("ups_next_day_air".into());
        assert_eq!(ship_via(&map, &other).as_deref(), Some("UPS"), "by carrier");
        other.carrier_code = Some("fedex".into());
        assert_eq!(ship_via(&map, &other), None);
    }
}
