//! V2 inventory as the simulated account holds it: rows per SKU, location, condition and lot, and
//! allocations (units reserved for awaiting_shipment orders, a whole order or nothing; released
//! when the order ships, is cancelled or leaves awaiting_shipment). Shipping deducts on-hand
//! whether the order was allocated or not (ShipStation's help pages say so).

use std::collections::BTreeMap;

pub const SELLABLE: &str = "sellable";

/// One stock row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StockKey {
    pub sku: String,
    pub location: String,
    pub condition: String,
    pub lot: Option<String>,
}

impl StockKey {
    pub fn sellable(sku: &str, location: &str) -> Self {
        Self {
            sku: sku.into(),
            location: location.into(),
            condition: SELLABLE.into(),
            lot: None,
        }
    }
}

/// Units of one SKU reserved at one location for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Default)]
pub struct Stock {
    pub rows: BTreeMap<StockKey, i64>,
    /// Order id → what it reserves.
    pub allocations: BTreeMap<i64, Vec<Allocation>>,
}

impl Stock {
    fn matching<'a>(
        &'a self,
        sku: &'a str,
        location: &'a str,
        condition: &'a str,
    ) -> impl Iterator<Item = (&'a StockKey, &'a i64)> + 'a {
        self.rows.iter().filter(move |(k, _)| {
            k.sku == sku && k.location == location && k.condition == condition
        })
    }

    /// On hand of a SKU at a location in one condition, all lots.
    pub fn on_hand(&self, sku: &str, location: &str, condition: &str) -> i64 {
        self.matching(sku, location, condition)
            .map(|(_, q)| q)
            .sum()
    }

    pub fn allocated(&self, sku: &str, location: &str) -> i64 {
        self.allocations
            .values()
            .flatten()
            .filter(|a| a.sku == sku && a.location == location)
            .map(|a| a.quantity)
            .sum()
    }

    /// `adjust`: with a lot, that lot's row becomes `quantity`; without one, the condition's
    /// total at the location does (units added to the row without a lot, removed from it
    /// first, then from the lots in name order).
    pub fn adjust(&mut self, key: StockKey, quantity: i64) {
        if key.lot.is_some() {
            self.rows.insert(key, quantity);
            return;
        }
        let total = self.on_hand(&key.sku, &key.location, &key.condition);
        let mut change = quantity - total;
        if change >= 0 {
            *self.rows.entry(key).or_insert(0) += change;
            return;
        }
        let mut keys: Vec<StockKey> = self
            .matching(&key.sku, &key.location, &key.condition)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort_by_key(|k| k.lot.clone()); // None (no lot) first
        for k in keys {
            let q = self.rows.get_mut(&k).expect("listed above");
            let take = (-change).min(*q);
            *q -= take;
            change += take;
        }
    }

    pub fn increment(&mut self, key: StockKey, quantity: i64) {
        *self.rows.entry(key).or_insert(0) += quantity;
    }

    /// All or nothing: removes `quantity` from the rows matching (the lot's row when given).
    pub fn decrement(&mut self, key: &StockKey, quantity: i64) -> Result<(), i64> {
        let have = match &key.lot {
            Some(_) => self.rows.get(key).copied().unwrap_or(0),
            None => self.on_hand(&key.sku, &key.location, &key.condition),
        };
        if quantity > have {
            return Err(have);
        }
        self.adjust(
            StockKey {
                lot: None,
                ..key.clone()
            },
            self.on_hand(&key.sku, &key.location, &key.condition) - quantity,
        );
        Ok(())
    }

    /// Reserve a whole order's units (`items`: sku, quantity) at the first location with enough
    /// sellable stock free for each; nothing is reserved when any SKU lacks it.
    pub fn allocate(&mut self, order_id: i64, items: &[(String, i64)]) -> Result<(), String> {
        self.release(order_id);
        let locations: Vec<String> = {
            let mut l: Vec<String> = self.rows.keys().map(|k| k.location.clone()).collect();
            l.sort();
            l.dedup();
            l
        };
        let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
        for (sku, q) in items {
            *wanted.entry(sku.as_str()).or_insert(0) += q;
        }
        let mut plan = Vec::new();
        for (sku, q) in wanted {
            let free = |loc: &str| self.on_hand(sku, loc, SELLABLE) - self.allocated(sku, loc);
            let Some(loc) = locations.iter().find(|l| free(l) >= q) else {
                return Err(format!("not enough {sku} available to allocate {q}"));
            };
            plan.push(Allocation {
                sku: sku.to_string(),
                location: loc.clone(),
                quantity: q,
            });
        }
        self.allocations.insert(order_id, plan);
        Ok(())
    }

    pub fn release(&mut self, order_id: i64) {
        self.allocations.remove(&order_id);
    }

    pub fn is_allocated(&self, order_id: i64) -> bool {
        self.allocations.contains_key(&order_id)
    }

    /// A label was made: the order's units leave on-hand (where they were reserved, else the
    /// first location holding the SKU), and its reservation ends.
    pub fn ship(&mut self, order_id: i64, items: &[(String, i64)]) {
        let reserved = self.allocations.remove(&order_id);
        let taken: Vec<Allocation> = match reserved {
            Some(a) => a,
            None => items
                .iter()
                .filter_map(|(sku, q)| {
                    let loc = self
                        .rows
                        .keys()
                        .find(|k| k.sku == *sku && k.condition == SELLABLE)?
                        .location
                        .clone();
                    Some(Allocation {
                        sku: sku.clone(),
                        location: loc,
                        quantity: *q,
                    })
                })
                .collect(),
        };
        for a in taken {
            let have = self.on_hand(&a.sku, &a.location, SELLABLE);
            self.adjust(
                StockKey::sellable(&a.sku, &a.location),
                (have - a.quantity).max(0),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjust_sets_the_total_across_lots_and_allocation_is_whole_or_nothing() {
        let mut s = Stock::default();
        let lot = |l: &str| StockKey {
            lot: Some(l.into()),
            ..StockKey::sellable("A", "L1")
        };
        s.adjust(lot("B-1"), 5);
        s.adjust(StockKey::sellable("A", "L1"), 12);
        assert_eq!(s.on_hand("A", "L1", SELLABLE), 12);
        assert_eq!(
            s.rows[&lot("B-1")],
            5,
            "the lot kept, 7 added without a lot"
        );
        s.adjust(StockKey::sellable("A", "L1"), 3);
        assert_eq!(s.on_hand("A", "L1", SELLABLE), 3);
        assert!(s.allocate(1, &[("A".into(), 2), ("Z".into(), 1)]).is_err());
        assert_eq!(s.allocated("A", "L1"), 0, "nothing reserved");
        s.allocate(1, &[("A".into(), 2)]).unwrap();
        assert_eq!(s.allocated("A", "L1"), 2);
        s.ship(1, &[("A".into(), 2)]);
        assert_eq!(
            (s.on_hand("A", "L1", SELLABLE), s.allocated("A", "L1")),
            (1, 0)
        );
    }
}
