//! The connector's own types. Values are parsed once, at the edge (settings, the agent's answers,
//! ShipStation's answers); past that an invalid value cannot exist, and nothing re-parses.
//! Money and quantities are decimals. The ports say what the connector needs from an ERP and from
//! a fulfilment service; `sage100/` and `shipstation/` are their adapters.

mod amount;
mod feed;
mod fulfilment;
mod ids;
mod invoice;
mod item;
mod order;
pub mod ports;
mod remote;
mod shipment;
mod stamp;
mod zone;

pub use amount::{Money, Quantity};
pub use feed::ChangeTracker;
pub use fulfilment::{
    legacy_order_day, Customs, CustomsLine, DeliveryDay, DeliveryEstimate, OutboundLine,
    OutboundOrder, OutboundStatus, PostalAddress, RemoteOrder, Shipment, ShipmentSource, StockSet,
    Upserted,
};
pub use ids::{CompanyCode, IdError, InvoiceNo, ItemCode, OrderKey, SalesOrderNo, WarehouseCode};
pub use invoice::{Invoice, InvoiceTracking, InvoiceTrackingUpdate, TrackingRow};
pub use item::{Item, StockLevel, StockQuantity};
pub use order::{Address, LineKind, OrderLine, OrderStatus, OrderType, SalesOrder};
pub use remote::{
    PostedOrder, RemoteStock, Shipments, SkippedRecord, StockAt, Subscription, Subscriptions,
};
pub use shipment::Package;
pub use stamp::{ChangeStamp, Keyed};
pub use zone::{SiteZone, ZoneError};
