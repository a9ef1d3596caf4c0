//! One thing standing between a company and a clean run, named by the check that found it.

use serde::Serialize;

/// The checks of the fit report. `Unreachable` names the path (`connection test`'s check name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitCheck {
    Unreachable(String),
    ShipViaUnmapped,
    WarehouseUnmapped,
    ItemWithoutWeight,
    CountryUnmapped,
    UdfMissing,
    OrderWouldFail,
    UnreadableRecords,
    V1OverBudget,
    V2OverBudget,
}

impl FitCheck {
    pub fn name(&self) -> String {
        match self {
            Self::Unreachable(path) => format!("reach.{path}"),
            Self::ShipViaUnmapped => "ship_via_unmapped".into(),
            Self::WarehouseUnmapped => "warehouse_unmapped".into(),
            Self::ItemWithoutWeight => "item_without_weight".into(),
            Self::CountryUnmapped => "country_unmapped".into(),
            Self::UdfMissing => "udf_missing".into(),
            Self::OrderWouldFail => "order_would_fail".into(),
            Self::UnreadableRecords => "unreadable_records".into(),
            Self::V1OverBudget => "capacity_v1".into(),
            Self::V2OverBudget => "capacity_v2".into(),
        }
    }

    /// Whether the connector cannot run at all until it is fixed (else it runs, with changes).
    pub fn blocks(&self) -> bool {
        match self {
            // Orders cannot leave Sage or reach ShipStation without these paths.
            Self::Unreachable(path) => {
                matches!(
                    path.as_str(),
                    "sage-wsdl" | "sage-soap" | "sage-agent" | "shipstation-v1"
                )
            }
            Self::V1OverBudget => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub check: String,
    /// How many codes, items, orders or paths (what the sentence counts).
    pub count: u64,
    pub sentence: String,
    /// Stops the connector from running (the verdict is then `does_not_fit`).
    pub blocking: bool,
    /// A few of the orders or codes concerned.
    pub samples: Vec<String>,
}

impl Problem {
    pub fn new(check: FitCheck, count: u64, sentence: String, samples: Vec<String>) -> Self {
        Self {
            check: check.name(),
            count,
            sentence,
            blocking: check.blocks(),
            samples,
        }
    }
}
