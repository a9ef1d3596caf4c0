//! The quantity the inventory sync pushes (the README, "What the connector changes in
//! ShipStation", states the same formula).
//!
//! Sage may sell `available` = QuantityOnHand − the configured quantities (QuantityOnSalesOrder
//! by default) − the buffer, never below 0. ShipStation shows `available` = on_hand − allocated,
//! where `allocated` is what its own open orders reserve. The orders the connector posted are
//! already in Sage's QuantityOnSalesOrder, so subtracting ShipStation's allocation again would
//! count them twice. The sync therefore sets ShipStation's sellable on-hand to
//!
//! ```text
//! pushed = available + min(allocated, QuantityOnSalesOrder)
//! ```
//!
//! (the add-back only when QuantityOnSalesOrder is subtracted and `inventory.add_back_allocated`
//! is on), so that ShipStation's available equals Sage's available minus the buffer while orders
//! are open in both systems. An allocation beyond QuantityOnSalesOrder (an order Sage does not
//! know, e.g. from another channel) stays subtracted.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::connections::Settings;
use crate::domain::{StockLevel, StockQuantity};

/// What ShipStation may sell of one stock level (whole units), and whether it had to be clamped
/// at 0: on hand minus the configured quantities minus the buffer (absolute, then a percent of
/// what is left, rounded up).
pub fn available(settings: &Settings, level: &StockLevel) -> (i64, bool) {
    let inv = &settings.inventory;
    let mut q = level.on_hand.0
        - inv
            .subtract
            .iter()
            .map(|f| level.quantity(*f).0)
            .sum::<Decimal>();
    let buffer = inv
        .buffers
        .get(&format!("sku:{}", level.item))
        .or_else(|| inv.buffers.get(level.warehouse.as_str()));
    if let Some(b) = buffer {
        q -= Decimal::from(b.absolute);
        if q > Decimal::ZERO {
            let percent = Decimal::try_from(b.percent).unwrap_or_default();
            q -= (q * percent / Decimal::ONE_HUNDRED).ceil();
        }
    }
    let q = q.floor().to_i64().unwrap_or(0);
    (q.max(0), q < 0)
}

/// What ShipStation's allocation adds back: the part of it Sage already subtracted.
pub fn added_back(settings: &Settings, level: &StockLevel, allocated: i64) -> i64 {
    let inv = &settings.inventory;
    if !inv.add_back_allocated || !inv.subtract.contains(&StockQuantity::QuantityOnSalesOrder) {
        return 0;
    }
    let on_order = level.on_sales_order.0.floor().to_i64().unwrap_or(0);
    allocated.min(on_order).max(0)
}

/// The sellable on-hand to set in ShipStation, and whether Sage's available was clamped at 0.
pub fn pushed(settings: &Settings, level: &StockLevel, allocated: i64) -> (i64, bool) {
    let (q, clamped) = available(settings, level);
    (q + added_back(settings, level, allocated), clamped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::Buffer;
    use crate::domain::ChangeStamp;

    fn row(sku: &str, wh: &str, on_hand: i64, on_so: i64, on_bo: i64) -> StockLevel {
        let q = |n: i64| crate::domain::Quantity(Decimal::from(n));
        StockLevel {
            item: sku.parse().unwrap(),
            warehouse: wh.parse().unwrap(),
            on_hand: q(on_hand),
            on_sales_order: q(on_so),
            on_back_order: q(on_bo),
            on_purchase_order: q(0),
            stamp: ChangeStamp::default(),
        }
    }

    #[test]
    fn formula_buffers_and_clamping() {
        let mut s = Settings::default();
        assert_eq!(
            available(&s, &row("A", "000", 100, 30, 5)),
            (70, false),
            "on hand − on sales order"
        );
        s.inventory
            .subtract
            .push(StockQuantity::QuantityOnBackOrder);
        assert_eq!(available(&s, &row("A", "000", 100, 30, 5)), (65, false));
        s.inventory.buffers.insert(
            "000".into(),
            Buffer {
                absolute: 5,
                percent: 10.0,
            },
        );
        assert_eq!(
            available(&s, &row("A", "000", 100, 30, 5)),
            (54, false),
            "65 − 5 = 60, minus 10 % = 54"
        );
        s.inventory.buffers.insert(
            "sku:A".into(),
            Buffer {
                absolute: 0,
                percent: 50.0,
            },
        );
        assert_eq!(
            available(&s, &row("A", "000", 100, 30, 5)),
            (32, false),
            "the SKU's buffer wins: 65 − 33"
        );
        assert_eq!(
            available(&s, &row("B", "000", 3, 10, 0)),
            (0, true),
            "never negative"
        );
    }

    #[test]
    fn shipstation_allocations_of_orders_sage_counts_are_added_back_once() {
        let mut s = Settings::default();
        let r = row("A", "000", 100, 10, 0);
        // Sage: 100 − 10 on order = 90. ShipStation allocates the same 10: push 100, shows 90.
        assert_eq!(pushed(&s, &r, 10), (100, false));
        assert_eq!(pushed(&s, &r, 10).0 - 10, 90);
        // Not allocated in ShipStation: push 90.
        assert_eq!(pushed(&s, &r, 0), (90, false));
        // 15 allocated, 5 of them by an order Sage does not know: only 10 added back (shows 85).
        assert_eq!(pushed(&s, &r, 15).0 - 15, 85);
        // Clamped: 3 on hand, 10 on order, 3 allocated → push 3, ShipStation shows 0.
        assert_eq!(pushed(&s, &row("B", "000", 3, 10, 0), 3), (3, true));
        // Switched off, or on-order not subtracted: nothing added back.
        s.inventory.add_back_allocated = false;
        assert_eq!(pushed(&s, &r, 10), (90, false));
        s.inventory.add_back_allocated = true;
        s.inventory.subtract = vec![];
        assert_eq!(pushed(&s, &r, 10), (100, false));
    }
}
