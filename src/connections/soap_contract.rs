//! The Sage SOAP contract read from a connection's WSDL, stored beside the connection. Storing it
//! moves the connection's version (`updated_at`), so every process rebuilds its clients with it.

use sqlx::PgPool;

use super::ConnectionError;
use crate::sage100::SoapContract;

/// The contract last read for a connection (`None`: never read).
pub async fn soap_contract(
    pool: &PgPool,
    connection_id: i64,
) -> Result<Option<SoapContract>, ConnectionError> {
    let v: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT contract FROM sage_soap_contracts WHERE connection_id = $1")
            .bind(connection_id)
            .fetch_optional(pool)
            .await?;
    v.map(|v| {
        serde_json::from_value(v).map_err(|e| {
            ConnectionError::Invalid(format!(
                "the stored Sage SOAP contract is unreadable ({e}): run `connection test` to read the WSDL again"
            ))
        })
    })
    .transpose()
}

/// Keep a contract just read; unchanged contracts do not move the connection's version.
pub async fn store_soap_contract(
    pool: &PgPool,
    connection_id: i64,
    contract: &SoapContract,
) -> Result<(), ConnectionError> {
    let mut same = contract.clone();
    if let Some(old) = soap_contract(pool, connection_id).await? {
        same.read_at = old.read_at;
        if same == old {
            return Ok(());
        }
    }
    let mut tx = crate::db::begin(pool).await?;
    sqlx::query(
        "INSERT INTO sage_soap_contracts (connection_id, contract, read_at) VALUES ($1, $2, $3)
         ON CONFLICT (connection_id) DO UPDATE SET contract = EXCLUDED.contract, read_at = EXCLUDED.read_at",
    )
    .bind(connection_id)
    .bind(serde_json::to_value(contract).expect("contract serializes"))
    .bind(contract.read_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE connections SET updated_at = now() WHERE id = $1")
        .bind(connection_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
