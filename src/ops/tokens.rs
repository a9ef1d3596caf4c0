//! API tokens: random, shown once, stored as SHA-256; each with a role.

use ring::digest;
use sqlx::PgPool;

use super::OpsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, OpsError> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(OpsError::BadInput(format!(
                "role {other:?} is not one of viewer, operator, admin"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

fn hash(token: &str) -> String {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Make a token; the returned text is the only copy.
pub async fn create(pool: &PgPool, name: &str, role: Role) -> Result<String, OpsError> {
    let token = format!(
        "mlc_{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    sqlx::query("INSERT INTO api_tokens (name, role, token_sha256) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(role.as_str())
        .bind(hash(&token))
        .execute(pool)
        .await?;
    Ok(token)
}

/// The role of a presented token (None: unknown or revoked).
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<Option<(i64, Role)>, OpsError> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "UPDATE api_tokens SET last_used_at = now() WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING id, role",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await?;
    row.map(|(id, r)| Role::parse(&r).map(|role| (id, role)))
        .transpose()
}

pub async fn revoke(pool: &PgPool, id: i64) -> Result<bool, OpsError> {
    let n = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}
