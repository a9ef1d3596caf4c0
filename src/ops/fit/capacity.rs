//! What a connection will cost against ShipStation's budgets at the volume Sage shows: V1 and V2
//! calls per day by cause, against the per-minute limits over a day, with the headroom left.
//! Each figure is an upper bound on what the flows send (one call per order change, no batching
//! credit), so a connection that fits here fits in production.

use serde::Serialize;

use crate::connections::Settings;

/// The volume the estimate is for (per day: the busiest day of the window, not the average).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Volume {
    pub order_changes_per_day: f64,
    pub stock_changes_per_day: f64,
}

/// Calls per day for one cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub cause: String,
    pub calls_per_day: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    pub v1_calls_per_day: u64,
    pub v1_budget_per_day: u64,
    /// Share of the V1 budget left, in percent (negative: over budget).
    pub headroom_pct: f64,
    pub v2_calls_per_day: u64,
    /// `None`: no V2 key, nothing is sent to V2.
    pub v2_budget_per_day: Option<u64>,
    pub v2_headroom_pct: Option<f64>,
    pub v1_costs: Vec<Cost>,
    pub v2_costs: Vec<Cost>,
}

const SECS_PER_DAY: u64 = 86_400;

fn per_day(every_secs: u64) -> u64 {
    if every_secs == 0 {
        0
    } else {
        SECS_PER_DAY.div_ceil(every_secs)
    }
}

fn headroom(calls: u64, budget: u64) -> f64 {
    if budget == 0 {
        return -100.0;
    }
    let pct = 100.0 * (1.0 - calls as f64 / budget as f64);
    (pct * 10.0).round() / 10.0
}

fn cost(cause: &str, calls: u64) -> Cost {
    Cost {
        cause: cause.to_string(),
        calls_per_day: calls,
    }
}

/// The estimate for `settings` at `volume`; `has_v2` when the connection holds a V2 key.
pub fn estimate(settings: &Settings, volume: Volume, has_v2: bool) -> Capacity {
    let orders = volume.order_changes_per_day.ceil() as u64;
    let polls = &settings.polls;
    let v1_costs = vec![
        // Each new or changed order is one createorder(s) call at most.
        cost("orders posted (one call per order change)", orders),
        // Every shipped order: the webhook's resource fetch and, for fulfillments, its order.
        cost("tracking (webhook resource and order reads)", 2 * orders),
        // The reconciliation poll lists shipments and fulfillments each time it runs.
        cost(
            "shipments poll (shipments and fulfillments lists)",
            2 * per_day(polls.shipments_secs),
        ),
        // The poll re-checks the webhook subscriptions (a list) once an hour.
        cost("webhook subscription check", 24),
    ];
    let v1_calls: u64 = v1_costs.iter().map(|c| c.calls_per_day).sum();
    let v1_budget = u64::from(settings.shipstation.v1_rate_limit_per_min) * 1440;
    let mut v2_costs = Vec::new();
    if has_v2 {
        v2_costs.push(cost(
            "stock levels set (one call per changed level)",
            volume.stock_changes_per_day.ceil() as u64,
        ));
        v2_costs.push(cost(
            "inventory sync reads (one per sync)",
            per_day(polls.inventory_secs),
        ));
        if settings.tracking.eta_from_v2 {
            v2_costs.push(cost(
                "delivery estimates (label lookup and tracking per order)",
                2 * orders,
            ));
        }
    }
    let v2_calls: u64 = v2_costs.iter().map(|c| c.calls_per_day).sum();
    let v2_budget = has_v2.then(|| u64::from(settings.shipstation.v2_rate_limit_per_min) * 1440);
    Capacity {
        v1_calls_per_day: v1_calls,
        v1_budget_per_day: v1_budget,
        headroom_pct: headroom(v1_calls, v1_budget),
        v2_calls_per_day: v2_calls,
        v2_budget_per_day: v2_budget,
        v2_headroom_pct: v2_budget.map(|b| headroom(v2_calls, b)),
        v1_costs,
        v2_costs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_add_up_by_cause_against_a_day_of_the_per_minute_limit() {
        let mut s = Settings::default();
        s.shipstation.v1_rate_limit_per_min = 40;
        s.polls.shipments_secs = 300;
        let c = estimate(
            &s,
            Volume {
                order_changes_per_day: 999.2,
                stock_changes_per_day: 0.0,
            },
            false,
        );
        // 1000 posts + 2000 tracking + 2 × 288 polls + 24 checks.
        assert_eq!(c.v1_calls_per_day, 1000 + 2000 + 576 + 24);
        assert_eq!(c.v1_budget_per_day, 57_600);
        assert_eq!(c.headroom_pct, 93.8);
        assert_eq!((c.v2_calls_per_day, c.v2_budget_per_day), (0, None));
    }

    #[test]
    fn a_volume_beyond_the_budget_has_negative_headroom_and_v2_counts_when_keyed() {
        let mut s = Settings::default();
        s.shipstation.v1_rate_limit_per_min = 1;
        s.shipstation.v2_rate_limit_per_min = 200;
        s.tracking.eta_from_v2 = true;
        s.polls.inventory_secs = 3600;
        let c = estimate(
            &s,
            Volume {
                order_changes_per_day: 1000.0,
                stock_changes_per_day: 500.0,
            },
            true,
        );
        assert!(c.headroom_pct < 0.0, "{c:?}");
        assert_eq!(c.v2_calls_per_day, 500 + 24 + 2000);
        assert_eq!(c.v2_budget_per_day, Some(288_000));
    }
}
