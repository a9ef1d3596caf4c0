//! Posting orders to V1. A first post creates the order (upsert by orderKey, batched). A re-post
//! starts from the order as ShipStation holds it (`GET /orders/{id}`: staff edits and fields the
//! connector does not know included), changes only what the connector owns (`ownership`), and
//! sends `orderId` (required for split orders). Whether an order can still change is decided by
//! its status there, never by the wording of an error message.

use serde_json::Value;

use super::error::ShipStationError;
use super::ownership;
use super::types::status;
use super::{convert, ShipStation};
use crate::domain::ports::FulfilmentError;
use crate::domain::{OutboundOrder, PostedOrder, Upserted};

/// Which order statuses ShipStation lets `createorder(s)` update (V1 docs: awaiting_payment,
/// awaiting_shipment, on_hold; shipped and cancelled orders are final).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPolicy {
    pub updatable_statuses: Vec<String>,
}

impl Default for OrderPolicy {
    fn default() -> Self {
        Self {
            updatable_statuses: vec![
                status::AWAITING_PAYMENT.into(),
                status::AWAITING_SHIPMENT.into(),
                status::ON_HOLD.into(),
            ],
        }
    }
}

impl OrderPolicy {
    /// `None` when the order can change; otherwise why not, in words.
    pub fn why_final(&self, remote: &Value) -> Option<String> {
        let status = remote["orderStatus"].as_str().unwrap_or("");
        (!self.updatable_statuses.iter().any(|s| s == status)).then(|| {
            format!(
                "order {} is {} in ShipStation: it can no longer be updated",
                remote["orderId"],
                if status.is_empty() {
                    "without a status"
                } else {
                    status
                }
            )
        })
    }
}

impl ShipStation {
    pub(super) async fn upsert(
        &self,
        order: &OutboundOrder,
        before: Option<&PostedOrder>,
    ) -> Result<Upserted, FulfilmentError> {
        let sage = convert::order_json(order);
        let Some(before) = before else {
            return self.send(sage, order, None, vec![]).await;
        };
        let Some(remote) = self.find(order, Some(before.remote_id)).await? else {
            return Ok(Upserted::NotUpdatable(format!(
                "order {} is no longer in ShipStation (deleted there): not created again",
                before.remote_id
            )));
        };
        if let Some(why) = self.policy.why_final(&remote) {
            return Ok(Upserted::NotUpdatable(why));
        }
        let last = before.sent.as_ref().map(convert::order_json);
        let merged = ownership::merge(&remote, &sage, last.as_ref());
        self.send(merged.order, order, Some(before.remote_id), merged.kept)
            .await
    }

    pub(super) async fn cancel(
        &self,
        order: &OutboundOrder,
        remote_id: Option<i64>,
    ) -> Result<Upserted, FulfilmentError> {
        let Some(mut remote) = self.find(order, remote_id).await? else {
            return Ok(Upserted::NotUpdatable(format!(
                "order {} is not in ShipStation: nothing to cancel",
                order.key
            )));
        };
        if let Some(why) = self.policy.why_final(&remote) {
            return Ok(Upserted::NotUpdatable(why));
        }
        // Only the status changes: everything else stays as ShipStation holds it.
        remote["orderStatus"] = Value::from(status::CANCELLED);
        let id = remote["orderId"].as_i64();
        self.send(remote, order, id, vec![]).await
    }

    /// One order through the batcher; a refusal is told apart by the order's status.
    async fn send(
        &self,
        body: Value,
        order: &OutboundOrder,
        remote_id: Option<i64>,
        kept: Vec<String>,
    ) -> Result<Upserted, FulfilmentError> {
        let r = self.batcher.post(body).await?;
        if r.success {
            return Ok(Upserted::Posted {
                order_id: r
                    .order_id
                    .filter(|id| *id > 0)
                    .or(remote_id)
                    .unwrap_or_default(),
                kept,
            });
        }
        let message = r
            .error_message
            .unwrap_or_else(|| "ShipStation refused the order without a message".into());
        let id = remote_id.or(r.order_id.filter(|id| *id > 0));
        Ok(match self.find(order, id).await? {
            Some(remote) => match self.policy.why_final(&remote) {
                Some(why) => Upserted::NotUpdatable(format!("{why} ({message})")),
                None => Upserted::Refused(message),
            },
            None => Upserted::Refused(message),
        })
    }

    /// The order as ShipStation holds it: by id when known, else by its key (V1 lists filter by
    /// orderNumber as a prefix, so the key picks the one).
    async fn find(
        &self,
        order: &OutboundOrder,
        remote_id: Option<i64>,
    ) -> Result<Option<Value>, FulfilmentError> {
        if let Some(id) = remote_id {
            return match self.v1.get_order_json(id).await {
                Ok(v) => Ok(Some(v)),
                Err(ShipStationError::Api { status: 404, .. }) => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
        let page = self
            .v1
            .page(
                "/orders",
                vec![
                    ("orderNumber", order.number.clone()),
                    ("pageSize", "500".into()),
                ],
            )
            .await?;
        let key = order.key.to_string();
        Ok(page
            .items
            .into_iter()
            .find(|o| o["orderKey"].as_str() == Some(key.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finality_comes_from_the_status() {
        let p = OrderPolicy::default();
        for s in ["awaiting_payment", "awaiting_shipment", "on_hold"] {
            assert_eq!(
                p.why_final(&serde_json::json!({"orderId": 1, "orderStatus": s})),
                None
            );
        }
        for s in ["shipped", "cancelled", "pending_fulfillment", ""] {
            assert!(p
                .why_final(&serde_json::json!({"orderId": 1, "orderStatus": s}))
                .is_some());
        }
    }
}
