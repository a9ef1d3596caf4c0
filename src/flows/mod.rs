//! Business step handlers, one file per workflow kind; the mapping between Sage 100 and
//! ShipStation lives here and nowhere else.

pub mod deps;
pub mod feed_state;
pub mod inventory;
pub mod kinds;
#[cfg(test)]
mod mapping_props;
pub mod notifications;
pub mod order;
pub mod order_mapping;
pub mod orders_poll;
pub mod orders_probe;
pub mod preview;
pub mod shipment;
pub mod shipment_intake;
pub mod shipments_poll;
pub mod skipped;
pub mod step_errors;
pub mod stock_formula;
pub mod tracking_writeback;

use std::path::Path;

use crate::engine::definition::{DefinitionError, Definitions};
use crate::engine::HandlerRegistry;

/// The workflow definitions compiled into the binary (the repository's workflows/ folder).
pub const BUILTIN_WORKFLOWS: &[(&str, &str)] = &[
    (
        "workflows/order.toml",
        include_str!("../../workflows/order.toml"),
    ),
    (
        "workflows/orders_poll.toml",
        include_str!("../../workflows/orders_poll.toml"),
    ),
    (
        "workflows/inventory.toml",
        include_str!("../../workflows/inventory.toml"),
    ),
    (
        "workflows/shipment.toml",
        include_str!("../../workflows/shipment.toml"),
    ),
    (
        "workflows/shipments_poll.toml",
        include_str!("../../workflows/shipments_poll.toml"),
    ),
    (
        "workflows/webhook.toml",
        include_str!("../../workflows/webhook.toml"),
    ),
    (
        "workflows/orders_probe.toml",
        include_str!("../../workflows/orders_probe.toml"),
    ),
    (
        "workflows/alerts_check.toml",
        include_str!("../../workflows/alerts_check.toml"),
    ),
    (
        "workflows/notification.toml",
        include_str!("../../workflows/notification.toml"),
    ),
];

/// Every step handler this binary has.
pub fn handlers(deps: &deps::FlowDeps) -> HandlerRegistry {
    let mut r = HandlerRegistry::new();
    order::register(&mut r, deps);
    orders_poll::register(&mut r, deps);
    orders_probe::register(&mut r, deps);
    inventory::register(&mut r, deps);
    shipment::register(&mut r, deps);
    shipments_poll::register(&mut r, deps);
    tracking_writeback::register(&mut r, deps);
    notifications::register(&mut r, deps);
    r
}

/// The built-in definitions, or those in `dir` when given; validated against the handlers.
pub fn definitions(
    dir: Option<&Path>,
    handlers: &HandlerRegistry,
) -> Result<Definitions, DefinitionError> {
    let known = |h: &str| handlers.contains(h);
    match dir {
        Some(dir) => Definitions::load_dir(dir, &known),
        None => Definitions::from_sources(BUILTIN_WORKFLOWS.iter().copied(), &known),
    }
}
