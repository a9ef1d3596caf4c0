//! Where shipments enter: webhook fetches and reconciliation polls both land here. Each
//! ShipStation label or fulfillment is one `shipments` row and one `shipment` workflow (keyed by
//! its ShipStation id), so a record seen by a webhook and again by a poll is applied once. A
//! record that changed since last seen (voided, new tracking number) signals the order
//! workflows it was applied to.

use serde_json::json;
use sqlx::PgPool;

use super::kinds::{new_workflow, Kind, ShipmentState};
use crate::domain::Shipment;
use crate::engine::store::{self, StoreError};

/// What one intake did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Intake {
    pub found: u64,
    /// Seen for the first time (a shipment workflow was started).
    pub new: u64,
    /// Order workflows signalled because an applied record changed.
    pub signalled: u64,
}

/// Record what was seen (`via` = webhook | poll).
pub async fn record(
    pool: &PgPool,
    connection_id: i64,
    seen: &[Shipment],
    via: &str,
    actor: &str,
) -> Result<Intake, StoreError> {
    let mut out = Intake {
        found: seen.len() as u64,
        ..Default::default()
    };
    for s in seen {
        let mut tx = crate::db::begin(pool).await?;
        let before: Option<(bool, Option<String>, Option<Vec<String>>)> = sqlx::query_as(
            "SELECT voided, tracking_number, sales_orders FROM shipments
              WHERE connection_id = $1 AND source = $2 AND external_id = $3 FOR UPDATE",
        )
        .bind(connection_id)
        .bind(s.source.as_str())
        .bind(s.external_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            r#"
            INSERT INTO shipments (connection_id, source, external_id, ss_order_id, order_key, order_number,
                                   tracking_number, carrier_code, service_code, ship_date, voided, is_return,
                                   seen_by, raw, ship_day)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, ARRAY[$13], $14, $15)
            ON CONFLICT (connection_id, source, external_id) DO UPDATE
               SET tracking_number = EXCLUDED.tracking_number, carrier_code = EXCLUDED.carrier_code,
                   service_code = EXCLUDED.service_code, ship_date = EXCLUDED.ship_date,
                   ship_day = EXCLUDED.ship_day,
                   voided = EXCLUDED.voided, raw = EXCLUDED.raw,
                   seen_by = CASE WHEN $13 = ANY(shipments.seen_by) THEN shipments.seen_by
                                  ELSE shipments.seen_by || $13 END,
                   updated_at = CASE WHEN shipments.voided <> EXCLUDED.voided
                                       OR shipments.tracking_number IS DISTINCT FROM EXCLUDED.tracking_number
                                     THEN now() ELSE shipments.updated_at END
            "#,
        )
        .bind(connection_id)
        .bind(s.source.as_str())
        .bind(s.external_id)
        .bind(s.remote_order_id)
        .bind(&s.order_key)
        .bind(&s.order_number)
        .bind(&s.tracking_number)
        .bind(&s.carrier_code)
        .bind(&s.service_code)
        .bind(s.ship_date)
        .bind(s.voided)
        .bind(s.is_return)
        .bind(via)
        .bind(&s.raw)
        .bind(s.ship_day)
        .execute(&mut *tx)
        .await?;
        match before {
            None => {
                let (_, created) = store::create(
                    &mut tx,
                    &new_workflow::<ShipmentState>(
                        connection_id,
                        format!("{}:{}", s.source.as_str(), s.external_id),
                        json!({"source": s.source.as_str(), "external_id": s.external_id, "ss_order_id": s.remote_order_id, "first_seen_via": via}),
                    ),
                    actor,
                )
                .await?;
                out.new += u64::from(created);
            }
            Some((voided, tracking, Some(orders)))
                if voided != s.voided || tracking != s.tracking_number =>
            {
                tx.commit().await?;
                out.signalled += store::signal_keys(
                    pool,
                    Kind::Order.as_str(),
                    connection_id,
                    &orders,
                    actor,
                    &json!({"shipment_changed": format!("{}:{}", s.source.as_str(), s.external_id), "voided": s.voided}),
                )
                .await?;
                continue;
            }
            Some(_) => {}
        }
        tx.commit().await?;
    }
    Ok(out)
}
