//! GraphQL object types: views over the stored rows. Secrets never appear: a connection shows
//! only which secrets are set and when they expire.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Json, Object, Result, SimpleObject, ID,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::errors::{ops, parse_id};
use super::GqlState;
use crate::engine::store::{EventRow, WorkflowRow};
use crate::ops::{self, WorkflowFilter};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WorkflowStatus {
    Ready,
    Running,
    Waiting,
    Failed,
    Completed,
    Cancelled,
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ready" => Self::Ready,
            "running" => Self::Running,
            "waiting" => Self::Waiting,
            "failed" => Self::Failed,
            "completed" => Self::Completed,
            _ => Self::Cancelled,
        }
    }
}

/// What a token may do: viewers read, operators act on workflows and syncs, admins also on
/// connections and keys.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Role")]
pub enum ApiRole {
    Viewer,
    Operator,
    Admin,
}

impl From<crate::ops::tokens::Role> for ApiRole {
    fn from(r: crate::ops::tokens::Role) -> Self {
        use crate::ops::tokens::Role as R;
        match r {
            R::Viewer => Self::Viewer,
            R::Operator => Self::Operator,
            R::Admin => Self::Admin,
        }
    }
}

/// The token making the request.
#[derive(SimpleObject)]
pub struct Me {
    pub token_id: ID,
    pub role: ApiRole,
}

/// Which workflows; every given field must match.
#[derive(InputObject, Default, Clone)]
pub struct WorkflowFilterInput {
    pub connection_id: Option<ID>,
    /// order, orders_poll, inventory, shipment, shipments_poll, webhook
    pub kind: Option<String>,
    pub status: Option<WorkflowStatus>,
    pub state: Option<String>,
    /// e.g. the SalesOrderNo of an order
    pub business_key: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Case-insensitive part of the last error.
    pub error_contains: Option<String>,
}

impl WorkflowFilterInput {
    pub fn to_filter(&self) -> Result<WorkflowFilter> {
        Ok(WorkflowFilter {
            connection_id: self
                .connection_id
                .as_ref()
                .map(|i| parse_id(i, "connectionId"))
                .transpose()?,
            kind: self.kind.clone(),
            status: self.status.map(|s| s.as_str().to_string()),
            state: self.state.clone(),
            business_key: self.business_key.clone(),
            updated_after: self.updated_after,
            updated_before: self.updated_before,
            error_contains: self.error_contains.clone(),
        })
    }
}

#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many match the filter (all pages).
    pub total_count: i64,
}

/// Parse a cursor (an id) given as `after`.
pub fn cursor(after: Option<&str>) -> Result<Option<i64>> {
    after
        .map(|a| {
            a.parse::<i64>().map_err(|_| {
                super::errors::error(
                    "BAD_USER_INPUT",
                    format!("after: {a:?} is not a cursor from this API"),
                )
            })
        })
        .transpose()
}

pub struct Workflow(pub WorkflowRow);

#[Object]
impl Workflow {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn connection_id(&self) -> Option<ID> {
        (self.0.connection_id != 0).then(|| ID(self.0.connection_id.to_string()))
    }
    /// e.g. the SalesOrderNo of an order, `label:<shipmentId>` of a shipment
    async fn business_key(&self) -> &str {
        &self.0.business_key
    }
    async fn state(&self) -> &str {
        &self.0.state
    }
    async fn status(&self) -> WorkflowStatus {
        WorkflowStatus::parse(&self.0.status)
    }
    /// Attempts of the current state's step.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When it runs next (a retry, a timer); none while it waits for a signal.
    async fn run_at(&self) -> Option<DateTime<Utc>> {
        self.0.run_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Failed, or waiting for a person (e.g. tracking to enter by hand).
    async fn needs_attention(&self) -> bool {
        self.0.status == "failed" || self.0.state == "manual_action"
    }
    /// What the steps remembered (e.g. the ShipStation order posted).
    async fn context(&self) -> Json<Value> {
        Json(self.0.context.clone())
    }
    /// The audit trail, oldest first (at most 1000 a page).
    #[graphql(complexity = "1 + (first.clamp(1, 1000) as usize).saturating_mul(child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, Event>> {
        let st = ctx.data::<GqlState>()?;
        let (rows, more) = ops::workflows::events(
            &st.engine.pool,
            self.0.id,
            first as i64,
            cursor(after.as_deref())?,
        )
        .await
        .map_err(ops)?;
        let mut c = Connection::new(after.is_some(), more);
        c.edges.extend(
            rows.into_iter()
                .map(|e| Edge::new(e.id.to_string(), Event(e))),
        );
        Ok(c)
    }
}

pub struct Event(pub EventRow);

#[Object]
impl Event {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn workflow_id(&self) -> ID {
        ID(self.0.workflow_id.to_string())
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who: a worker, the scheduler, a poll, an API token, the CLI.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// created, step_succeeded, step_failed, failed, signalled, restarted, replayed, cancelled, …
    async fn event(&self) -> &str {
        &self.0.event
    }
    async fn from_state(&self) -> Option<&str> {
        self.0.from_state.as_deref()
    }
    async fn to_state(&self) -> Option<&str> {
        self.0.to_state.as_deref()
    }
    async fn status(&self) -> Option<&str> {
        self.0.status.as_deref()
    }
    async fn attempt(&self) -> Option<i32> {
        self.0.attempt
    }
    async fn duration_ms(&self) -> Option<f64> {
        self.0.duration_ms
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn detail(&self) -> Option<Json<Value>> {
        self.0.detail.clone().map(Json)
    }
    /// Whether `replayEvent` can re-run the step this event recorded.
    async fn replayable(&self) -> bool {
        matches!(
            self.0.event.as_str(),
            "step_succeeded" | "step_failed" | "failed"
        )
    }
}

#[derive(SimpleObject)]
pub struct SecretState {
    pub name: String,
    pub set: bool,
    pub expires_on: Option<NaiveDate>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub struct ConnectionNode(pub crate::connections::Connection);

#[Object(name = "Connection")]
impl ConnectionNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The Sage company code.
    async fn company(&self) -> &str {
        &self.0.settings.sage.company
    }
    /// Everything that is not secret.
    async fn settings(&self) -> Json<Value> {
        Json(serde_json::to_value(&self.0.settings).unwrap_or(Value::Null))
    }
    /// Which secrets are set (never their values).
    async fn secrets(&self) -> Vec<SecretState> {
        crate::connections::SECRET_NAMES
            .iter()
            .map(|n| {
                let s = self.0.secrets.iter().find(|x| x.name == *n);
                SecretState {
                    name: n.to_string(),
                    set: s.is_some(),
                    expires_on: s.and_then(|x| x.expires_on),
                    updated_at: s.map(|x| x.updated_at),
                }
            })
            .collect()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct SyncRun {
    #[graphql(skip)]
    pub id: i64,
    #[graphql(skip)]
    pub connection_id: i64,
    /// sage_orders, inventory, shipstation_shipments
    pub feed: String,
    #[graphql(skip)]
    pub workflow_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub found: i32,
    pub created: i32,
    pub signalled: i32,
    #[graphql(skip)]
    pub watermark: Option<Value>,
    pub error: Option<String>,
}

impl From<ops::feeds::SyncRunRow> for SyncRun {
    fn from(r: ops::feeds::SyncRunRow) -> Self {
        Self {
            id: r.id,
            connection_id: r.connection_id,
            feed: r.feed,
            workflow_id: r.workflow_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            found: r.found,
            created: r.created,
            signalled: r.signalled,
            watermark: r.watermark,
            error: r.error,
        }
    }
}

#[ComplexObject]
impl SyncRun {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn connection_id(&self) -> ID {
        ID(self.connection_id.to_string())
    }
    async fn workflow_id(&self) -> Option<ID> {
        self.workflow_id.map(|w| ID(w.to_string()))
    }
    async fn watermark(&self) -> Option<Json<Value>> {
        self.watermark.clone().map(Json)
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookDelivery {
    #[graphql(skip)]
    pub id: i64,
    #[graphql(skip)]
    pub connection_id: Option<i64>,
    pub connection_name: String,
    pub received_at: DateTime<Utc>,
    /// v1 or v2
    pub api: String,
    pub event: Option<String>,
    pub resource_url: Option<String>,
    pub verified: bool,
    /// accepted, ignored or rejected
    pub result: String,
    pub reason: Option<String>,
    pub http_status: i32,
    #[graphql(skip)]
    pub workflow_id: Option<i64>,
    pub processed_at: Option<DateTime<Utc>>,
    pub shipments_found: Option<i32>,
}

impl From<ops::feeds::WebhookDeliveryRow> for WebhookDelivery {
    fn from(r: ops::feeds::WebhookDeliveryRow) -> Self {
        Self {
            id: r.id,
            connection_id: r.connection_id,
            connection_name: r.connection_name,
            received_at: r.received_at,
            api: r.api,
            event: r.event,
            resource_url: r.resource_url,
            verified: r.verified,
            result: r.result,
            reason: r.reason,
            http_status: r.http_status,
            workflow_id: r.workflow_id,
            processed_at: r.processed_at,
            shipments_found: r.shipments_found,
        }
    }
}

#[ComplexObject]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn connection_id(&self) -> Option<ID> {
        self.connection_id.map(|w| ID(w.to_string()))
    }
    async fn workflow_id(&self) -> Option<ID> {
        self.workflow_id.map(|w| ID(w.to_string()))
    }
}

#[derive(SimpleObject)]
pub struct KindStatusCount {
    pub kind: String,
    pub status: WorkflowStatus,
    pub count: i64,
}

#[derive(SimpleObject)]
pub struct OldestWaiting {
    pub workflow_id: ID,
    pub kind: String,
    pub business_key: String,
    pub due_since: DateTime<Utc>,
    pub age_seconds: f64,
}

#[derive(SimpleObject)]
pub struct RateBudget {
    /// A fingerprint of the API key (never the key).
    pub key_id: String,
    pub window_limit: i32,
    pub window_secs: f64,
    pub remaining: i32,
    pub in_flight: i32,
    pub window_ends_at: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
    /// 429s met so far.
    pub throttled: i64,
}

#[derive(SimpleObject)]
pub struct Stats {
    pub workflows: Vec<KindStatusCount>,
    /// The ready workflow due the longest (a backlog or missing workers shows here first).
    pub oldest_waiting: Option<OldestWaiting>,
    pub rate_limits: Vec<RateBudget>,
}

impl From<ops::stats::Stats> for Stats {
    fn from(s: ops::stats::Stats) -> Self {
        Self {
            workflows: s
                .workflows
                .into_iter()
                .map(|c| KindStatusCount {
                    kind: c.kind,
                    status: WorkflowStatus::parse(&c.status),
                    count: c.count,
                })
                .collect(),
            oldest_waiting: s.oldest_waiting.map(|o| OldestWaiting {
                workflow_id: ID(o.id.to_string()),
                kind: o.kind,
                business_key: o.business_key,
                due_since: o.due_since,
                age_seconds: o.age_seconds,
            }),
            rate_limits: s
                .rate_limits
                .into_iter()
                .map(|r| RateBudget {
                    key_id: r.key_id,
                    window_limit: r.window_limit,
                    window_secs: r.window_secs,
                    remaining: r.remaining,
                    in_flight: r.in_flight,
                    window_ends_at: r.window_ends_at,
                    blocked_until: r.blocked_until,
                    throttled: r.throttled,
                })
                .collect(),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AlertKind {
    /// A feed whose last good run is older than 3 × its interval.
    StaleFeed,
    ConnectionFailing,
    KeyExpiring,
    FailedWorkflows,
    StuckWorkflows,
    NeedsManualAction,
    NotificationFailing,
}

#[derive(SimpleObject)]
pub struct Alert {
    pub kind: AlertKind,
    pub connection_id: Option<ID>,
    pub message: String,
    pub since: Option<DateTime<Utc>>,
    pub count: i64,
}

impl From<ops::alerts::Alert> for Alert {
    fn from(a: ops::alerts::Alert) -> Self {
        use ops::alerts::AlertKind as K;
        Self {
            kind: match a.kind {
                K::StaleFeed => AlertKind::StaleFeed,
                K::ConnectionFailing => AlertKind::ConnectionFailing,
                K::KeyExpiring => AlertKind::KeyExpiring,
                K::FailedWorkflows => AlertKind::FailedWorkflows,
                K::StuckWorkflows => AlertKind::StuckWorkflows,
                K::NeedsManualAction => AlertKind::NeedsManualAction,
                K::NotificationFailing => AlertKind::NotificationFailing,
            },
            connection_id: a.connection_id.map(|i| ID(i.to_string())),
            message: a.message,
            since: a.since,
            count: a.count,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Feed {
    Orders,
    Inventory,
    Shipments,
}

impl Feed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Inventory => "inventory",
            Self::Shipments => "shipments",
        }
    }
}

#[derive(SimpleObject)]
pub struct ConnectionCheck {
    /// sage-soap, sage-agent, shipstation-v1, shipstation-v2
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// One notification channel's answer to a sample notice.
#[derive(SimpleObject)]
pub struct NotificationCheck {
    /// The connection's name.
    pub connection: String,
    pub channel: String,
    pub delivered: bool,
    /// Why not (never the channel's URL).
    pub error: Option<String>,
}

#[derive(InputObject)]
pub struct SecretInput {
    /// sage_password, agent_api_key, agent_client_identity, v1_key, v1_secret, v1_next_key,
    /// v1_next_secret, v2_key, webhook_token
    pub name: String,
    pub value: String,
    pub expires_on: Option<NaiveDate>,
}
