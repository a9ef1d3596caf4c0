//! Orders ready within a short window go to ShipStation together: `createorders` takes up to 100
//! orders per call (one request against the 40/min budget instead of 100). Each caller gets its
//! own order's result; a failure of the whole call reaches every caller of that batch.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use serde_json::Value;

use super::types::BulkOrderResult;
use super::V1Client;
use crate::domain::ports::FulfilmentError;

type Reply = oneshot::Sender<Result<BulkOrderResult, FulfilmentError>>;

#[derive(Clone)]
pub struct OrderBatcher {
    tx: mpsc::UnboundedSender<(Value, Reply)>,
}

impl OrderBatcher {
    /// A batch closes at 100 orders, when no order arrived for `window / 4`, or after `window`.
    pub fn start(client: V1Client, window: Duration) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Value, Reply)>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let hard = tokio::time::Instant::now() + window;
                while batch.len() < 100 {
                    // Keep filling while orders keep coming (a backfill), never past the hard limit.
                    let deadline = (tokio::time::Instant::now() + window / 4).min(hard);
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(item)) => batch.push(item),
                        _ => break,
                    }
                }
                let client = client.clone();
                // Calls go out concurrently; the shared governor keeps them inside the rate limit.
                tokio::spawn(send(client, batch));
            }
        });
        Self { tx }
    }

    /// Post one order (a whole V1 order as JSON, upserted by its orderKey) as part of the next
    /// batch.
    pub async fn post(&self, order: Value) -> Result<BulkOrderResult, FulfilmentError> {
        let stopped = |what: &str| FulfilmentError::Transient {
            message: format!("order batcher {what}"),
            retry_after: None,
        };
        let (tx, rx) = oneshot::channel();
        self.tx.send((order, tx)).map_err(|_| stopped("stopped"))?;
        rx.await.map_err(|_| stopped("dropped the order"))?
    }
}

async fn send(client: V1Client, batch: Vec<(Value, Reply)>) {
    let (orders, replies): (Vec<Value>, Vec<Reply>) = batch.into_iter().unzip();
    match post(&client, &orders).await {
        // The whole call was refused: one bad order must not fail its companions, so each is
        // sent alone and gets its own answer.
        Err(FulfilmentError::Refused(_)) if orders.len() > 1 => {
            for (order, reply) in orders.iter().zip(replies) {
                let one = post(&client, std::slice::from_ref(order))
                    .await
                    .and_then(|mut results| results.remove(0));
                let _ = reply.send(one);
            }
        }
        Ok(results) => {
            for (result, reply) in results.into_iter().zip(replies) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// One `createorders` call: each order's own result (in the orders' order).
async fn post(
    client: &V1Client,
    orders: &[Value],
) -> Result<Vec<Result<BulkOrderResult, FulfilmentError>>, FulfilmentError> {
    crate::metrics::createorders_batch(orders.len());
    let resp = client.create_orders(orders).await?;
    Ok(orders
        .iter()
        .map(|order| {
            let key = order["orderKey"].as_str();
            resp.results
                .iter()
                .find(|r| key.is_some() && r.order_key.as_deref() == key)
                .cloned()
                .ok_or_else(|| FulfilmentError::Transient {
                    message: format!("ShipStation returned no result for {}", key.unwrap_or("?")),
                    retry_after: None,
                })
        })
        .collect())
}
