//! Orders ready within a short window go to ShipStation together: `createorders` takes up to 100
//! orders per call (one request against the 40/min budget instead of 100). Each caller gets its
//! own order's result; a failure of the whole call reaches every caller of that batch.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};

use serde_json::Value;

use super::types::BulkOrderResult;
use super::V1Client;
use crate::domain::ports::FulfilmentError;

/// `createorders` calls formed and not yet answered, at most: enough to keep ShipStation busy,
/// few enough that a call waiting for budget does not take a half-full batch.
const CALLS_IN_FLIGHT: usize = 2;

/// How often a batch waiting for ShipStation's budget looks at it again.
const BUDGET_RECHECK: Duration = Duration::from_millis(200);

type Reply = oneshot::Sender<Result<BulkOrderResult, FulfilmentError>>;

#[derive(Clone)]
pub struct OrderBatcher {
    tx: mpsc::UnboundedSender<(Value, Reply)>,
}

impl OrderBatcher {
    /// A batch closes at 100 orders, when no order arrived for `window / 4`, or after `window`;
    /// while ShipStation's budget is spent it stays open (up to 100 orders) until a call may go.
    pub fn start(client: V1Client, window: Duration) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Value, Reply)>();
        let in_flight = Arc::new(Semaphore::new(CALLS_IN_FLIGHT));
        tokio::spawn(async move {
            loop {
                // While the calls already formed wait (for the budget, or for ShipStation), new
                // orders gather in the channel: the next call takes them all, up to 100.
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    break;
                };
                let Some(first) = rx.recv().await else {
                    break;
                };
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
                // ShipStation's budget is spent: the call would only wait for it, so it takes
                // the orders that arrive meanwhile (up to 100) and goes when the budget allows.
                while batch.len() < 100 {
                    let wait = client.ready_in().await;
                    if wait.is_zero() {
                        break;
                    }
                    let recheck = tokio::time::Instant::now() + wait.min(BUDGET_RECHECK);
                    match tokio::time::timeout_at(recheck, rx.recv()).await {
                        Ok(Some(item)) => batch.push(item),
                        Ok(None) => break,
                        Err(_) => {}
                    }
                }
                let client = client.clone();
                // The shared governor keeps the calls inside the rate limit.
                tokio::spawn(async move {
                    send(client, batch).await;
                    drop(permit);
                });
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
