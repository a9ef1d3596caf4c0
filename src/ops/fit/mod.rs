//! `connection fit`: before the first order moves, does the connector reach this company's systems
//! with the rights it needs, does the company's data fit the mapping, and will ShipStation's
//! budgets keep up with its volume. Read-only against Sage and ShipStation (the only write is the
//! WSDL `connection test` also keeps); every problem says what to change.

mod capacity;
mod problem;
mod survey;

use serde::Serialize;
use sqlx::PgPool;

pub use capacity::{Capacity, Cost, Volume};
pub use problem::{FitCheck, Problem};
pub use survey::Survey;

use super::probe::{self, Check};
use crate::flows::deps::FlowDeps;
use crate::vault::Vault;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Fit,
    FitsWithChanges,
    DoesNotFit,
}

impl Verdict {
    fn of(problems: &[Problem]) -> Self {
        if problems.iter().any(|p| p.blocking) {
            Self::DoesNotFit
        } else if problems.is_empty() {
            Self::Fit
        } else {
            Self::FitsWithChanges
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Self::Fit => "fits: nothing to change",
            Self::FitsWithChanges => "fits with changes: the connector runs, fix what is listed",
            Self::DoesNotFit => {
                "does not fit yet: the connector cannot run until what is marked blocking is fixed"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    pub connection: String,
    pub verdict: Verdict,
    /// Each path with the connection's credentials (as `connection test`).
    pub reach: Vec<Check>,
    /// The company's volume and how its open orders map (`None`: Sage could not be read).
    pub data: Option<Survey>,
    pub problems: Vec<Problem>,
    pub capacity: Capacity,
    /// What could not be checked, and why.
    pub notes: Vec<String>,
}

pub async fn report(
    deps: &FlowDeps,
    pool: &PgPool,
    vault: &Vault,
    name: &str,
) -> anyhow::Result<FitReport> {
    let reach = probe::test(pool, vault, name).await?;
    let mut problems: Vec<Problem> = reach
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            Problem::new(
                FitCheck::Unreachable(c.check.clone()),
                1,
                format!("{} failed: {}", c.check, c.detail),
                Vec::new(),
            )
        })
        .collect();
    let mut notes = Vec::new();
    let c = crate::connections::get(pool, name).await?;
    let has_v2 = crate::connections::secret(pool, vault, c.id, "v2_key")
        .await?
        .is_some();
    let agent_ok = reach.iter().any(|c| c.check == "sage-agent" && c.ok);
    let data = if agent_ok {
        match deps.clients(pool, c.id).await {
            Ok(clients) => match survey::survey(&clients).await {
                Ok(s) => Some(s),
                Err(e) => {
                    notes.push(format!("the company's data could not be read: {e}"));
                    None
                }
            },
            Err(e) => {
                notes.push(format!("the connection's clients could not be built: {e}"));
                None
            }
        }
    } else {
        notes.push("the Sage agent is not reachable: the company's data was not read".into());
        None
    };
    let volume = match &data {
        Some(s) => Volume {
            // The busiest day, so that a fit holds on peak days too.
            order_changes_per_day: s.busiest_day.as_ref().map_or(0.0, |(_, n)| *n as f64),
            stock_changes_per_day: s.stock_busiest_day as f64,
        },
        None => Volume {
            order_changes_per_day: 0.0,
            stock_changes_per_day: 0.0,
        },
    };
    if let Some(s) = &data {
        problems.extend(s.problems.iter().cloned());
        notes.extend(s.notes.iter().cloned());
    }
    let capacity = capacity::estimate(&c.settings, volume, has_v2);
    if capacity.headroom_pct < 0.0 {
        problems.push(Problem::new(
            FitCheck::V1OverBudget,
            capacity.v1_calls_per_day,
            format!(
                "on the busiest day the connector needs about {} ShipStation V1 calls against {} a day ({} a minute): ask ShipStation to raise the limit, or lengthen polls.shipments_secs",
                capacity.v1_calls_per_day,
                capacity.v1_budget_per_day,
                c.settings.shipstation.v1_rate_limit_per_min
            ),
            Vec::new(),
        ));
    }
    if capacity.v2_headroom_pct.is_some_and(|h| h < 0.0) {
        problems.push(Problem::new(
            FitCheck::V2OverBudget,
            capacity.v2_calls_per_day,
            format!(
                "on the busiest day the connector needs about {} ShipStation V2 calls against {} a day: stock levels catch up late; ask ShipStation to raise shipstation.v2_rate_limit_per_min's limit or turn tracking.eta_from_v2 off",
                capacity.v2_calls_per_day,
                capacity.v2_budget_per_day.unwrap_or_default()
            ),
            Vec::new(),
        ));
    }
    Ok(FitReport {
        connection: name.to_string(),
        verdict: Verdict::of(&problems),
        reach,
        data,
        problems,
        capacity,
        notes,
    })
}
