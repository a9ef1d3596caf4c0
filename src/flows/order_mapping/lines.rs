//! The written rules for a line's quantity and weight.
//!
//! - Quantity: ShipStation V1 takes whole units. A whole Sage quantity goes as it is. A fraction
//!   (2.5 cases) follows `orders.fractional_quantities`: `round_up` ships the next whole unit
//!   (2.5 → 3, 0.25 → 1: never 0) and names Sage's exact quantity on the item; `refuse` fails the
//!   order with a sentence naming the line.
//! - Weight of one sales unit, in pounds: Sage's LineWeight (the whole line) ÷ QuantityOrdered
//!   when Sage computed one, else the item's ShipWeight (one stocking unit) × the line's
//!   UnitOfMeasureConvFactor (stocking units per sales unit). When the quantity was rounded up,
//!   the weight per unit is scaled by exact ÷ rounded so the order's total weight stays Sage's;
//!   the declared customs value per unit is scaled the same way.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::connections::FractionRule;
use crate::domain::{Item, OrderLine, Quantity};

/// A quantity as ShipStation gets it.
pub struct Shipped {
    pub units: i64,
    /// exact ÷ units (1 for a whole quantity): scales per-unit weight and value.
    pub scale: Decimal,
    /// Sage's quantity when it was not whole (for the packer).
    pub exact: Option<String>,
}

pub fn quantity(
    rule: FractionRule,
    line: &OrderLine,
    open: Quantity,
    order_no: &str,
) -> Result<Shipped, String> {
    let q = open.0.normalize();
    if q.fract().is_zero() {
        return Ok(Shipped {
            units: q.to_i64().unwrap_or(i64::MAX),
            scale: Decimal::ONE,
            exact: None,
        });
    }
    let unit = line.unit_of_measure.trim();
    match rule {
        FractionRule::Refuse => Err(format!(
            "sales order {order_no} line {}: quantity {q} {unit} is not a whole number and ShipStation ships whole units: change the line in Sage, or set orders.fractional_quantities to round_up",
            line.line_key
        )),
        FractionRule::RoundUp => {
            let units = q.ceil();
            Ok(Shipped {
                units: units.to_i64().unwrap_or(i64::MAX),
                scale: q / units,
                exact: Some(format!("{q} {unit}").trim().to_string()),
            })
        }
    }
}

/// Pounds per sales unit (see the module's rules), or `None` when Sage records no weight.
pub fn unit_weight(line: &OrderLine, item: Option<&Item>) -> Option<Decimal> {
    let ordered = line.ordered.0;
    if line.line_weight.0 > Decimal::ZERO && ordered > Decimal::ZERO {
        return Some(line.line_weight.0 / ordered);
    }
    let factor = if line.unit_factor.0 > Decimal::ZERO {
        line.unit_factor.0
    } else {
        Decimal::ONE
    };
    item.and_then(|i| i.ship_weight).map(|w| w.0 * factor)
}

/// A value rounded to what ShipStation keeps (4 decimals for weights, 2 for money).
pub fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}
