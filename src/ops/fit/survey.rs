//! The data half of the fit report: read-only looks at the company through the same calls the
//! flows make (the agent's change feeds, whole orders, item master, SOAP for header UDFs), and the
//! problems they show, each counted once with a sentence saying what to change.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use serde::Serialize;

use super::problem::{FitCheck, Problem};
use crate::domain::{ChangeStamp, LineKind, OrderStatus, SalesOrder};
use crate::engine::StepError;
use crate::flows::deps::ConnectionClients;
use crate::flows::order::map_with_items;
use crate::flows::order_mapping::{alpha2, Mapped};

/// Days of history the volume is read from.
pub const WINDOW_DAYS: i64 = 30;
/// At most this many order headers are read (a company changing more in 30 days is reported as
/// "at least").
const MAX_HEADERS: usize = 20_000;
const MAX_STOCK_ROWS: usize = 100_000;
/// Orders mapped in full (each costs an order, item and customer read).
const MAX_MAPPED: usize = 200;
const PAGE: usize = 500;
const SAMPLES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Survey {
    pub window_days: i64,
    /// Order headers changed in the window (entered or edited).
    pub orders_changed: u64,
    /// More changed than were read: the figures are lower bounds.
    pub orders_truncated: bool,
    pub orders_changed_per_day: f64,
    /// The busiest day (`YYYYMMDD` in the site zone) and its changes.
    pub busiest_day: Option<(String, u64)>,
    /// Shipping orders among them still open (new, open or on hold).
    pub open_orders: u64,
    /// Open orders mapped as the order flow would, newest first.
    pub orders_mapped: u64,
    pub would_post: u64,
    pub would_skip: u64,
    pub would_fail: u64,
    pub stock_changes: u64,
    pub stock_changes_per_day: f64,
    /// Stock changes on the busiest day.
    pub stock_busiest_day: u64,
    #[serde(skip)]
    pub problems: Vec<Problem>,
    /// What could not be checked, and why.
    pub notes: Vec<String>,
}

/// Occurrences of one code: how many orders, and a few of them.
#[derive(Default)]
struct Seen {
    orders: u64,
    samples: Vec<String>,
}

impl Seen {
    fn add(&mut self, no: &str) {
        self.orders += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(no.to_string());
        }
    }
}

fn window_start(clients: &ConnectionClients) -> ChangeStamp {
    let day = clients
        .site
        .zone
        .date_of(Utc::now() - Duration::days(WINDOW_DAYS));
    ChangeStamp {
        date: day.format("%Y%m%d").to_string(),
        time: 0.0,
    }
}

fn busiest(days: &BTreeMap<String, u64>) -> Option<(String, u64)> {
    days.iter()
        .max_by_key(|(d, n)| (**n, std::cmp::Reverse((*d).clone())))
        .map(|(d, n)| (d.clone(), *n))
}

pub async fn survey(clients: &ConnectionClients) -> Result<Survey, StepError> {
    let since = window_start(clients);
    let mut headers: Vec<SalesOrder> = Vec::new();
    let mut skipped = Vec::new();
    let mut cursor = None;
    let mut truncated = false;
    loop {
        let page = clients
            .erp
            .changed_orders(&since, PAGE, cursor.as_ref())
            .await?;
        skipped.extend(page.skipped);
        headers.extend(page.rows);
        if headers.len() >= MAX_HEADERS {
            truncated = page.next.is_some() || headers.len() > MAX_HEADERS;
            headers.truncate(MAX_HEADERS);
            break;
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    for h in &headers {
        *per_day.entry(h.stamp.date.clone()).or_default() += 1;
    }
    let open: Vec<&SalesOrder> = headers
        .iter()
        .filter(|h| h.order_type.ships() && h.status != OrderStatus::Completed)
        .collect();
    let mut problems = Vec::new();
    codes_problems(clients, &open, &mut problems);
    if !skipped.is_empty() {
        problems.push(Problem::new(
            FitCheck::UnreadableRecords,
            skipped.len() as u64,
            format!(
                "{} sales order record(s) cannot be read (first: {}): correct them in Sage, the feed goes on past them",
                skipped.len(),
                skipped[0]
            ),
            skipped.iter().take(SAMPLES).cloned().collect(),
        ));
    }

    // The newest open orders, mapped in full as the order flow would.
    let mut fails: Vec<(String, Vec<String>)> = Vec::new();
    let (mut post, mut skip) = (0, 0);
    let mut weightless: BTreeMap<String, Seen> = BTreeMap::new();
    let mut mapped = 0;
    for h in open.iter().rev().take(MAX_MAPPED) {
        let Some(order) = clients.erp.sales_order(&h.no).await? else {
            continue; // deleted since the feed was read
        };
        mapped += 1;
        let (result, items) = map_with_items(clients, &order, None).await?;
        match result {
            Ok(Mapped::Post(_)) => post += 1,
            Ok(Mapped::Skip(_)) => skip += 1,
            Err(p) => fails.push((order.no.to_string(), p)),
        }
        for line in order.lines.iter().filter(|l| l.kind == LineKind::Item) {
            let Some(item) = items.iter().find(|i| i.code.as_str() == line.item_code) else {
                continue;
            };
            if !item.ship_weight.is_some_and(|w| w.is_positive()) {
                weightless
                    .entry(line.item_code.clone())
                    .or_default()
                    .add(order.no.as_str());
            }
        }
    }
    if !weightless.is_empty() {
        let codes: Vec<&String> = weightless.keys().collect();
        let orders: u64 = weightless.values().map(|s| s.orders).sum();
        problems.push(Problem::new(
            FitCheck::ItemWithoutWeight,
            weightless.len() as u64,
            format!(
                "{} item(s) on open orders have no ShipWeight in CI_Item ({}{}), on {orders} order line(s): ShipStation gets those lines without a weight and rates need one; enter the weight in Item Maintenance",
                weightless.len(),
                list(&codes),
                more(codes.len()),
            ),
            codes.iter().take(SAMPLES).map(|c| c.to_string()).collect(),
        ));
    }
    if !fails.is_empty() {
        let first = fails[0].1.join("; ");
        problems.push(Problem::new(
            FitCheck::OrderWouldFail,
            fails.len() as u64,
            format!(
                "{} of the {mapped} newest open order(s) would be refused by the mapping, e.g. {first}",
                fails.len()
            ),
            fails
                .iter()
                .take(SAMPLES)
                .map(|(no, p)| format!("{no}: {}", p.join("; ")))
                .collect(),
        ));
    }
    let mut notes = Vec::new();
    if let Some(newest) = headers.last() {
        udf_problems(clients, newest, &mut problems, &mut notes).await?;
    } else {
        notes.push(format!(
            "no sales order changed in the last {WINDOW_DAYS} days: the header UDFs were not checked"
        ));
    }
    let (stock_changes, stock_busiest) = stock_volume(clients, &since, &mut notes).await?;
    Ok(Survey {
        window_days: WINDOW_DAYS,
        orders_changed: headers.len() as u64,
        orders_truncated: truncated,
        orders_changed_per_day: round1(headers.len() as f64 / WINDOW_DAYS as f64),
        busiest_day: busiest(&per_day),
        open_orders: open.len() as u64,
        orders_mapped: mapped,
        would_post: post,
        would_skip: skip,
        would_fail: fails.len() as u64,
        stock_changes,
        stock_changes_per_day: round1(stock_changes as f64 / WINDOW_DAYS as f64),
        stock_busiest_day: stock_busiest,
        problems,
        notes,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .take(SAMPLES)
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn more(n: usize) -> String {
    if n > SAMPLES {
        format!(" and {} more", n - SAMPLES)
    } else {
        String::new()
    }
}

/// Ship-via codes, warehouses and countries on open orders that the settings do not map.
fn codes_problems(clients: &ConnectionClients, open: &[&SalesOrder], problems: &mut Vec<Problem>) {
    let settings = &clients.connection.settings;
    let mut ship_via: BTreeMap<String, Seen> = BTreeMap::new();
    let mut warehouses: BTreeMap<String, Seen> = BTreeMap::new();
    let mut countries: BTreeMap<String, Seen> = BTreeMap::new();
    for h in open {
        let no = h.no.as_str();
        let via = h.ship_via.trim();
        if !via.is_empty() && !settings.mappings.ship_via.contains_key(via) {
            ship_via.entry(via.to_string()).or_default().add(no);
        }
        if let Some(w) = &h.warehouse {
            if !settings.mappings.warehouses.contains_key(w.as_str()) {
                warehouses.entry(w.to_string()).or_default().add(no);
            }
        }
        for code in [&h.ship_to.country_code, &h.bill_to.country_code] {
            if alpha2(&settings.orders, code, "").is_err() {
                countries
                    .entry(code.trim().to_ascii_uppercase())
                    .or_default()
                    .add(no);
            }
        }
    }
    let described = |m: &BTreeMap<String, Seen>| {
        m.iter()
            .take(SAMPLES)
            .map(|(code, s)| format!("{code:?} on {} order(s)", s.orders))
            .collect::<Vec<_>>()
            .join(", ")
            + &more(m.len())
    };
    let samples = |m: &BTreeMap<String, Seen>| {
        m.iter()
            .take(SAMPLES)
            .map(|(code, s)| format!("{code}: {}", s.samples.join(", ")))
            .collect()
    };
    if !ship_via.is_empty() {
        problems.push(Problem::new(
            FitCheck::ShipViaUnmapped,
            ship_via.len() as u64,
            format!(
                "{} ship-via code(s) have no carrier and service in mappings.ship_via ({}): those orders reach ShipStation without a requested service",
                ship_via.len(),
                described(&ship_via)
            ),
            samples(&ship_via),
        ));
    }
    if !warehouses.is_empty() {
        problems.push(Problem::new(
            FitCheck::WarehouseUnmapped,
            warehouses.len() as u64,
            format!(
                "{} Sage warehouse(s) have no ShipStation warehouse in mappings.warehouses ({}): their orders go to ShipStation's default ship-from location",
                warehouses.len(),
                described(&warehouses)
            ),
            samples(&warehouses),
        ));
    }
    if !countries.is_empty() {
        problems.push(Problem::new(
            FitCheck::CountryUnmapped,
            countries.len() as u64,
            format!(
                "{} country code(s) are not ISO 3166 codes ({}): those orders are refused until the code is corrected in Sage or mapped in orders.countries",
                countries.len(),
                described(&countries)
            ),
            samples(&countries),
        ));
    }
}

/// The write-back UDFs the settings name, against those Sage lists with the newest order.
async fn udf_problems(
    clients: &ConnectionClients,
    newest: &SalesOrder,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> Result<(), StepError> {
    let udfs = &clients.connection.settings.udfs;
    let named = [
        ("udfs.tracking_number", &udfs.tracking_number),
        ("udfs.carrier", &udfs.carrier),
        ("udfs.estimated_delivery", &udfs.estimated_delivery),
    ];
    match clients.erp.order_udf_names(&newest.no).await {
        Ok(Some(defined)) => {
            let missing: Vec<String> = named
                .iter()
                .filter(|(_, n)| !n.trim().is_empty())
                .filter(|(_, n)| !defined.contains(&n.trim().to_ascii_uppercase()))
                .map(|(setting, n)| format!("{setting} = {n:?}"))
                .collect();
            if !missing.is_empty() {
                problems.push(Problem::new(
                    FitCheck::UdfMissing,
                    missing.len() as u64,
                    format!(
                        "{} UDF(s) named in the settings do not exist on SO_SalesOrderHeader ({}; Sage lists {}): add them in UDF Maintenance or change the settings, or tracking cannot be written to the sales order",
                        missing.len(),
                        missing.join(", "),
                        list(&defined.iter().collect::<Vec<_>>()),
                    ),
                    missing,
                ));
            }
        }
        Ok(None) => notes.push(format!(
            "Sage listed no UDFs with sales order {}: the header UDFs were not checked",
            newest.no
        )),
        Err(e) => notes.push(format!("the header UDFs could not be read: {e}")),
    }
    Ok(())
}

/// Item-warehouse changes in the window (each is a stock level the inventory sync may set).
async fn stock_volume(
    clients: &ConnectionClients,
    since: &ChangeStamp,
    notes: &mut Vec<String>,
) -> Result<(u64, u64), StepError> {
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    let mut n = 0usize;
    let mut cursor = None;
    loop {
        let page = match clients
            .erp
            .changed_stock(since, PAGE, cursor.as_ref())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!("stock changes could not be read: {e}"));
                break;
            }
        };
        for row in &page.rows {
            *per_day.entry(row.stamp.date.clone()).or_default() += 1;
        }
        n += page.rows.len();
        if n >= MAX_STOCK_ROWS {
            notes.push(format!(
                "more than {MAX_STOCK_ROWS} stock changes in {WINDOW_DAYS} days: the figures are lower bounds"
            ));
            break;
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok((n as u64, busiest(&per_day).map_or(0, |(_, n)| n)))
}
