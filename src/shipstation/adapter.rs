//! ShipStation as the connector's fulfilment service: V1 for orders, shipments, fulfillments and
//! webhooks; V2 (when the connection has a V2 key) for inventory and delivery estimates.

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use super::batcher::OrderBatcher;
use super::types::{Fulfillment, Shipment as V1Shipment};
use super::v1::Query;
use super::v2::InventoryTransaction;
use super::{convert, pacific, ShipStationError, V1Client, V2Client};
use crate::domain::ports::{Fulfilment, FulfilmentError, ShipmentFeed};
use crate::domain::{DeliveryEstimate, OutboundOrder, RemoteOrder, Shipment, StockSet, Upserted};

/// Lower-bound filters of the polls reach back this far: ShipStation's list filters are by
/// minute and Pacific wall time, and re-reading a record is harmless (intake is idempotent).
const OVERLAP_MINUTES: i64 = 10;

/// ShipStation's refusal of an update to a shipped or cancelled order (the simulator says the same;
/// a real account's exact wording is unconfirmed, see ARCHITECTURE.md "assumptions").
const NOT_UPDATABLE: &str = "cannot be updated";

#[derive(Clone)]
pub struct ShipStation {
    pub v1: V1Client,
    /// Present when the connection has a V2 key.
    pub v2: Option<V2Client>,
    pub batcher: OrderBatcher,
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

    async fn labels(
        &self,
        since: DateTime<Utc>,
        filter: &'static str,
    ) -> Result<Vec<Shipment>, ShipStationError> {
        let (mut out, mut page) = (Vec::new(), 1);
        loop {
            let p = self
                .v1
                .list_shipments(Self::query(since, filter, page))
                .await?;
            out.extend(p.items.into_iter().map(convert::label));
            if p.page >= p.pages {
                return Ok(out);
            }
            page += 1;
        }
    }

    async fn fulfillments(&self, since: DateTime<Utc>) -> Result<Vec<Shipment>, ShipStationError> {
        let (mut out, mut page) = (Vec::new(), 1);
        loop {
            let p = self
                .v1
                .list_fulfillments(Self::query(since, "createDateStart", page))
                .await?;
            out.extend(p.items.into_iter().map(convert::fulfillment));
            if p.page >= p.pages {
                return Ok(out);
            }
            page += 1;
        }
    }
}

#[async_trait]
impl Fulfilment for ShipStation {
    async fn upsert_order(&self, order: &OutboundOrder) -> Result<Upserted, FulfilmentError> {
        let r = self.batcher.post(convert::order(order)).await?;
        if r.success {
            return Ok(Upserted::Posted {
                order_id: r.order_id.unwrap_or_default(),
            });
        }
        let message = r
            .error_message
            .unwrap_or_else(|| "ShipStation refused the order without a message".into());
        Ok(if message.contains(NOT_UPDATABLE) {
            Upserted::NotUpdatable(message)
        } else {
            Upserted::Refused(message)
        })
    }

    async fn order(&self, id: i64) -> Result<RemoteOrder, FulfilmentError> {
        Ok(convert::remote_order(&self.v1.get_order(id).await?))
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
    ) -> Result<Vec<Shipment>, FulfilmentError> {
        Ok(match feed {
            ShipmentFeed::LabelsCreated => self.labels(since, "createDateStart").await?,
            ShipmentFeed::LabelsVoided => self.labels(since, "voidDateStart").await?,
            ShipmentFeed::FulfillmentsCreated => self.fulfillments(since).await?,
        })
    }

    async fn shipments_at(
        &self,
        resource_url: &str,
        event: &str,
    ) -> Result<Vec<Shipment>, FulfilmentError> {
        Ok(if event == "FULFILLMENT_SHIPPED" {
            self.v1
                .fetch_resource::<Fulfillment>(resource_url)
                .await?
                .items
                .into_iter()
                .map(convert::fulfillment)
                .collect()
        } else {
            self.v1
                .fetch_resource::<V1Shipment>(resource_url)
                .await?
                .items
                .into_iter()
                .map(convert::label)
                .collect()
        })
    }

    async fn ensure_webhooks(
        &self,
        target_url: &str,
        events: &[&str],
        label: &str,
    ) -> Result<Vec<String>, FulfilmentError> {
        let hooks = self.v1.list_webhooks().await?;
        let mut added = Vec::new();
        for event in events {
            let present = hooks["webhooks"].as_array().into_iter().flatten().any(|h| {
                h["HookType"].as_str() == Some(event) && h["Url"].as_str() == Some(target_url)
            });
            if !present {
                self.v1
                    .subscribe_webhook(target_url, event, None, label)
                    .await?;
                added.push(event.to_string());
            }
        }
        Ok(added)
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
            .and_then(|d| NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok())
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

    async fn stock_at(&self, location_id: &str) -> Result<Vec<(String, i64)>, FulfilmentError> {
        let v2 = self.v2("inventory sync")?;
        Ok(v2
            .list_inventory(&[("inventory_location_id", location_id.to_string())])
            .await?
            .into_iter()
            .map(|l| (l.sku, l.on_hand))
            .collect())
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
