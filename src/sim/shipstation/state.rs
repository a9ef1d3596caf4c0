//! The simulated account: key pairs, rate windows, orders, labels (V1 shipments), fulfillments,
//! webhooks, ship-from warehouses, stores, carriers and V2 inventory. Records are kept in
//! ShipStation's own JSON shape.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::clock;

#[derive(Debug, Clone)]
pub struct KeyPair {
    pub key: String,
    pub secret: String,
    pub revoked: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

impl KeyPair {
    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A fixed rate window: starts at the first request after the previous one ended.
#[derive(Debug, Clone)]
pub struct Window {
    pub started: Instant,
    pub length: Duration,
    pub count: u32,
}

impl Window {
    pub fn ends(&self) -> Instant {
        self.started + self.length
    }
}

/// Counts of one rate window, for tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowStat {
    pub key: String,
    pub accepted: u32,
    pub rejected: u32,
    /// Milliseconds from the key's previous window's end to this one's first request: budget
    /// no client used (None for a key's first window).
    pub idle_before_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Faults {
    /// Fraction of requests answered 500.
    pub error_rate: f64,
    /// Added latency per request, ms.
    pub latency_ms: u64,
    /// Fraction of requests that hang for `hang_ms` before answering 500.
    pub timeout_rate: f64,
    pub hang_ms: u64,
    /// Answer 429 to every request for this many ms from now (a storm).
    pub storm_429_ms: u64,
    /// Fraction of 200 responses whose JSON body is cut short.
    pub malformed_rate: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    #[default]
    Normal,
    Drop,
    Duplicate,
    Delay,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: i64,
    pub target_url: String,
    pub event: String,
    pub store_id: Option<i64>,
    pub name: Option<String>,
}

pub struct SimState {
    pub key_pairs: Vec<KeyPair>,
    pub v2_key: String,
    pub v1_limit: u32,
    pub v1_window: Duration,
    pub v2_limit: u32,
    pub v2_window: Duration,
    pub v1_windows: HashMap<String, Window>,
    pub v2_window_state: Option<Window>,
    pub window_stats: Vec<WindowStat>,
    pub v2_rejected: u32,
    pub next_id: i64,
    pub orders: BTreeMap<i64, Value>,
    pub order_by_key: HashMap<String, i64>,
    pub shipments: BTreeMap<i64, Value>,
    pub fulfillments: BTreeMap<i64, Value>,
    /// Label batches: batchId → shipment ids (what a SHIP_NOTIFY resource_url lists).
    pub batches: HashMap<i64, Vec<i64>>,
    pub webhooks: Vec<Webhook>,
    pub v2_webhooks: Vec<Value>,
    pub warehouses: Vec<Value>,
    pub stores: Vec<Value>,
    pub carriers: Vec<Value>,
    pub inv_warehouses: BTreeMap<String, Value>,
    pub inv_locations: BTreeMap<String, Value>,
    /// V2 inventory rows and allocations.
    pub stock: super::stock::Stock,
    /// Known product SKUs; `None` accepts any SKU.
    pub products: Option<std::collections::HashSet<String>>,
    /// V2 labels by label_id (one per V1 shipment).
    pub labels: HashMap<String, Value>,
    pub faults: Faults,
    pub storm_until: Option<Instant>,
    pub delivery: DeliveryMode,
    pub delivery_delay_ms: u64,
    pub received: Vec<Received>,
    pub deliveries: Vec<Value>,
    pub behaviour: super::behaviour::Behaviour,
}

impl SimState {
    pub fn new(
        key_pairs: Vec<KeyPair>,
        v2_key: String,
        v1_limit: u32,
        v1_window: Duration,
    ) -> Self {
        let now = Utc::now();
        let created = clock::v1_format(now - chrono::Duration::days(400));
        let address = |name: &str, street: &str, city: &str, state: &str, zip: &str| {
            json!({"name": name, "company": "Acme Wholesale", "street1": street, "street2": null, "street3": null,
                   "city": city, "state": state, "postalCode": zip, "country": "US", "phone": "555-0100",
                   "residential": false, "addressVerified": "Address validated successfully"})
        };
        Self {
            key_pairs,
            v2_key,
            v1_limit,
            v1_window,
            v2_limit: 200,
            v2_window: Duration::from_secs(60),
            v1_windows: HashMap::new(),
            v2_window_state: None,
            window_stats: Vec::new(),
            v2_rejected: 0,
            next_id: 100_000,
            orders: BTreeMap::new(),
            order_by_key: HashMap::new(),
            shipments: BTreeMap::new(),
            fulfillments: BTreeMap::new(),
            batches: HashMap::new(),
            webhooks: Vec::new(),
            v2_webhooks: Vec::new(),
            warehouses: vec![
                json!({"warehouseId": 11001, "warehouseName": "Main Warehouse (Reno)",
                       "originAddress": address("Main Warehouse", "100 Industrial Way", "Reno", "NV", "89502"),
                       "returnAddress": address("Returns", "100 Industrial Way", "Reno", "NV", "89502"),
                       "createDate": created, "isDefault": true}),
                json!({"warehouseId": 11002, "warehouseName": "East Warehouse (Columbus)",
                       "originAddress": address("East Warehouse", "2200 Logistics Pkwy", "Columbus", "OH", "43217"),
                       "returnAddress": address("Returns", "2200 Logistics Pkwy", "Columbus", "OH", "43217"),
                       "createDate": created, "isDefault": false}),
            ],
            stores: vec![
                json!({"storeId": 21001, "storeName": "Manual Orders", "marketplaceId": 0, "marketplaceName": "ShipStation",
                       "accountName": null, "email": null, "integrationUrl": null, "active": true, "companyName": "Acme Wholesale",
                       "phone": "555-0100", "publicEmail": "orders@acme.example", "website": "", "refreshDate": created,
                       "lastRefreshAttempt": created, "createDate": created, "modifyDate": created, "autoRefresh": false}),
                json!({"storeId": 21002, "storeName": "Sage 100 Orders", "marketplaceId": 0, "marketplaceName": "ShipStation",
                       "accountName": null, "email": null, "integrationUrl": null, "active": true, "companyName": "Acme Wholesale",
                       "phone": "555-0100", "publicEmail": "orders@acme.example", "website": "", "refreshDate": created,
                       "lastRefreshAttempt": created, "createDate": created, "modifyDate": created, "autoRefresh": false}),
            ],
            carriers: vec![
                json!({"name": "UPS", "code": "ups", "accountNumber": "A1B2C3", "requiresFundedAccount": false,
                       "balance": 0.0, "nickname": null, "shippingProviderId": 31001, "primary": true}),
                json!({"name": "FedEx", "code": "fedex", "accountNumber": "778899", "requiresFundedAccount": false,
                       "balance": 0.0, "nickname": null, "shippingProviderId": 31002, "primary": true}),
                json!({"name": "Stamps.com", "code": "stamps_com", "accountNumber": "SS123", "requiresFundedAccount": true,
                       "balance": 250.75, "nickname": null, "shippingProviderId": 31003, "primary": true}),
            ],
            inv_warehouses: BTreeMap::new(),
            inv_locations: BTreeMap::new(),
            stock: Default::default(),
            products: None,
            labels: HashMap::new(),
            faults: Faults::default(),
            storm_until: None,
            delivery: DeliveryMode::Normal,
            delivery_delay_ms: 0,
            received: Vec::new(),
            deliveries: Vec::new(),
            behaviour: Default::default(),
        }
    }

    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Count a V1 request against its key pair's window: (accepted, limit, remaining, reset secs).
    pub fn v1_count(&mut self, key: &str) -> (bool, u32, u32, u64) {
        let now = Instant::now();
        let (limit, length) = (self.v1_limit, self.v1_window);
        let w = self.v1_windows.entry(key.to_string()).or_insert(Window {
            started: now,
            length,
            count: 0,
        });
        if now >= w.ends() {
            let idle = now.duration_since(w.ends()).as_millis() as u64;
            *w = Window {
                started: now,
                length,
                count: 0,
            };
            self.window_stats.push(WindowStat {
                key: key.to_string(),
                accepted: 0,
                rejected: 0,
                idle_before_ms: Some(idle),
            });
        }
        if self.window_stats.iter().rev().all(|s| s.key != key) {
            self.window_stats.push(WindowStat {
                key: key.to_string(),
                accepted: 0,
                rejected: 0,
                idle_before_ms: None,
            });
        }
        w.count += 1;
        let accepted = w.count <= limit;
        // Seconds to the window's end, rounded as the account is set to round them.
        let left = (w.ends() - now).as_secs_f64();
        let reset = match self.behaviour.v1_reset_rounding {
            super::behaviour::ResetRounding::Up => left.ceil().max(1.0),
            super::behaviour::ResetRounding::Down => left.floor(),
        } as u64;
        let remaining = limit.saturating_sub(w.count);
        if let Some(stat) = self.window_stats.iter_mut().rev().find(|s| s.key == key) {
            if accepted {
                stat.accepted += 1;
            } else {
                stat.rejected += 1;
            }
        }
        (accepted, limit, remaining, reset)
    }

    /// Count a V2 request: Err(retry-after secs) when over the limit.
    pub fn v2_count(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let length = self.v2_window;
        let w = self.v2_window_state.get_or_insert(Window {
            started: now,
            length,
            count: 0,
        });
        if now >= w.ends() {
            *w = Window {
                started: now,
                length,
                count: 0,
            };
        }
        w.count += 1;
        if w.count > self.v2_limit {
            self.v2_rejected += 1;
            return Err((w.ends() - now).as_secs_f64().ceil().max(1.0) as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_records_how_long_the_budget_lay_idle_before_it() {
        let mut s = SimState::new(Vec::new(), "v2".into(), 2, Duration::from_millis(50));
        assert!(s.v1_count("k").0);
        assert!(s.v1_count("k").0);
        assert!(!s.v1_count("k").0, "a third request in a window of two");
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.v1_count("k").0, "a new window");
        let idle: Vec<Option<u64>> = s.window_stats.iter().map(|w| w.idle_before_ms).collect();
        assert_eq!(idle.len(), 2);
        assert_eq!(idle[0], None, "a key's first window follows no other");
        let after = idle[1].expect("the second window follows the first");
        assert!((30..1_000).contains(&after), "idle {after} ms");
        assert_eq!(
            (s.window_stats[0].accepted, s.window_stats[0].rejected),
            (2, 1)
        );
    }
}
