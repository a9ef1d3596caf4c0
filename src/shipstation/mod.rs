//! ShipStation clients: V1 (orders, shipments, fulfillments, webhooks) and V2 (inventory,
//! tracking), a shared PostgreSQL rate governor, Pacific time, key rotation, webhook security.

pub mod adapter;
pub mod batcher;
pub mod convert;
pub mod error;
pub mod governor;
pub mod inventory;
pub mod keys;
pub mod orders;
pub mod ownership;
pub mod pacific;
pub mod records;
pub mod subscriptions;
pub mod transport;
pub mod types;
pub mod v1;
pub mod v2;
pub mod webhook;

pub use adapter::ShipStation;
pub use error::ShipStationError;
pub use keys::{KeyPair, KeyRing};
pub use orders::OrderPolicy;
pub use v1::{V1Client, V1Config};
pub use v2::{V2Client, V2Config};
