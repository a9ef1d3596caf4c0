//! ShipStation as the connector's fulfilment service: V1 for orders, shipments, fulfillments and
//! webhooks; V2 (when the connection has a V2 key) for inventory and delivery estimates.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::batcher::OrderBatcher;
use super::orders::OrderPolicy;
use super::records::{self, Kind, FULFILLMENT, LABEL};
use super::v1::Query;
use super::v2::InventoryTransaction;
use super::{convert, inventory, pacific, subscriptions, ShipStationError, V1Client, V2Client};
use crate::domain::ports::{Fulfilment, FulfilmentError, ShipmentFeed};
use crate::domain::{
    DeliveryDay, DeliveryEstimate, OutboundOrder, PostedOrder, RemoteOrder, Shipment, Shipments,
    StockAt, StockSet, Subscriptions, Upserted,
};

/// Lower-bound filters of the polls reach back this far: ShipStation's list filters are by
/// minute and Pacific wall time, and re-reading a record is harmless (intake is idempotent).
const OVERLAP_MINUTES: i64 = 10;

#[derive(Clone)]
pub struct ShipStation {
    pub v1: V1Client,
    /// Present when the connection has a V2 key.
    pub v2: Option<V2Client>,
    pub batcher: OrderBatcher,
    pub policy: OrderPolicy,
}

impl ShipStation {
    fn v2(&self, what: &str) -> Result<&V2Client, FulfilmentError> {
        self.v2.as_ref().ok_or_else(|| {
            FulfilmentError::Refused(format!(
                "{what} needs the connection's ShipStation V2 API key (v2_key)"
            ))
        })
    }

    fn query(since: DateTime<Utc>, filter: &'static str, page: u64) -> Query {
        vec![
            (
                filter,
                pacific::lower_bound_filter(since - Duration::minutes(OVERLAP_MINUTES)),
            ),
            ("sortBy", "CreateDate".to_string()),
            ("sortDir", "ASC".to_string()),
            ("pageSize", "500".to_string()),
            ("page", page.to_string()),
        ]
    }

    /// Every page of a V1 list, each record read on its own.
    async fn list(
        &self,
        path: &'static str,
        kind: Kind,
        since: DateTime<Utc>,
        filter: &'static str,
        convert: fn(Value) -> Result<Shipment, String>,
    ) -> Result<Shipments, ShipStationError> {
        let (mut out, mut page) = (Shipments::default(), 1);
        loop {
            let p = self.v1.page(path, Self::query(since, filter, page)).await?;
            records::shipments(kind, p.items, convert, &mut out);
            if p.page >= p.pages {
                return Ok(out);
            }
            page += 1;
        }
    }
}

#[async_trait]
impl Fulfilment for ShipStation {
    async fn upsert_order(
        &self,
        order: &OutboundOrder,
        before: Option<&PostedOrder>,
    ) -> Result<Upserted, FulfilmentError> {
        self.upsert(order, before).await
    }

    async fn cancel_order(
        &self,
        order: &OutboundOrder,
        remote_id: Option<i64>,
    ) -> Result<Upserted, FulfilmentError> {
        self.cancel(order, remote_id).await
    }

    async fn order(&self, id: i64) -> Result<RemoteOrder, FulfilmentError> {
        Ok(convert::remote_order(&self.v1.get_order_json(id).await?))
    }

    fn stored_order(&self, stored: &Value) -> Option<OutboundOrder> {
        convert::outbound_from_v1(stored)
    }

    /// A label's record carries its order's key and lineage; fulfillments carry none.
    fn order_in_record(&self, raw: &Value, remote_order_id: i64) -> Option<RemoteOrder> {
        convert::lineage(raw, remote_order_id)
    }

    async fn shipments(
        &self,
        feed: ShipmentFeed,
        since: DateTime<Utc>,
    ) -> Result<Shipments, FulfilmentError> {
        let (path, kind, filter, convert): (_, _, _, fn(Value) -> Result<Shipment, String>) =
            match feed {
                ShipmentFeed::LabelsCreated => {
                    ("/shipments", LABEL, "createDateStart", convert::label)
                }
                ShipmentFeed::LabelsVoided => {
                    ("/shipments", LABEL, "voidDateStart", convert::label)
                }
                ShipmentFeed::FulfillmentsCreated => (
                    "/fulfillments",
                    FULFILLMENT,
                    "createDateStart",
                    convert::fulfillment,
                ),
            };
        Ok(self.list(path, kind, since, filter, convert).await?)
    }

    async fn shipments_at(
        &self,
        resource_url: &str,
        event: &str,
    ) -> Result<Shipments, FulfilmentError> {
        let page = self.v1.fetch_resource::<Value>(resource_url).await?;
        let mut out = Shipments::default();
        if event == "FULFILLMENT_SHIPPED" {
            records::shipments(FULFILLMENT, page.items, convert::fulfillment, &mut out);
        } else {
            records::shipments(LABEL, page.items, convert::label, &mut out);
        }
        Ok(out)
    }

    async fn ensure_webhooks(
        &self,
        target_url: &str,
        events: &[&str],
        label: &str,
        known: &BTreeMap<String, i64>,
    ) -> Result<Subscriptions, FulfilmentError> {
        Ok(subscriptions::ensure(&self.v1, target_url, events, label, known).await?)
    }

    async fn delivery_estimate(
        &self,
        tracking_number: &str,
    ) -> Result<DeliveryEstimate, FulfilmentError> {
        let Some(v2) = &self.v2 else {
            return Ok(DeliveryEstimate::NotOffered);
        };
        let Some(label) = v2.find_label_id(tracking_number).await? else {
            return Ok(DeliveryEstimate::UnknownTrackingNumber);
        };
        let info = v2.track_label(&label).await?;
        Ok(info
            .estimated_delivery_date
            .as_deref()
            .and_then(DeliveryDay::parse)
            .map_or(DeliveryEstimate::NotYet, DeliveryEstimate::Estimated))
    }

    fn offers_inventory(&self) -> bool {
        self.v2.is_some()
    }

    async fn create_stock_location(
        &self,
        warehouse_id: Option<&str>,
        warehouse_name: &str,
        location_name: &str,
    ) -> Result<(String, String), FulfilmentError> {
        let v2 = self.v2("inventory sync")?;
        let warehouse = match warehouse_id {
            Some(w) => w.to_string(),
            None => {
                v2.create_inventory_warehouse(warehouse_name)
                    .await?
                    .inventory_warehouse_id
            }
        };
        let location = v2
            .create_inventory_location(&warehouse, location_name)
            .await?
            .inventory_location_id;
        Ok((warehouse, location))
    }

    async fn stock_at(&self, location_id: &str) -> Result<StockAt, FulfilmentError> {
        let v2 = self.v2("inventory sync")?;
        let rows = v2
            .list_inventory_rows(&[("inventory_location_id", location_id.to_string())])
            .await?;
        Ok(inventory::stock_at(location_id, rows))
    }

    async fn set_stock(
        &self,
        sku: &str,
        location_id: &str,
        quantity: i64,
    ) -> Result<StockSet, FulfilmentError> {
        let v2 = self.v2("inventory sync")?;
        let tx = InventoryTransaction {
            transaction_type: "adjust".into(),
            sku: sku.to_string(),
            quantity,
            inventory_location_id: location_id.to_string(),
            // Sage's quantity is sellable stock; other conditions are kept apart (inventory.rs).
            condition: Some(inventory::SELLABLE.into()),
            reason: Some("Sage 100 sync".into()),
            notes: None,
        };
        match v2.update_inventory(&tx).await {
            Ok(()) => Ok(StockSet::Set),
            // This SKU refused (e.g. unknown there): reported, never retried.
            Err(ShipStationError::Api {
                status, message, ..
            }) if (400..500).contains(&status) && status != 429 => Ok(StockSet::Refused(message)),
            Err(e) => Err(e.into()),
        }
    }
}
