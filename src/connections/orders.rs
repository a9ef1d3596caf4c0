//! How a Sage sales order becomes a ShipStation order: the choices a site makes (settings
//! `orders.*`). Defaults keep what the connector did before each choice existed, except where that
//! was wrong (drop-ship lines are not the warehouse's to ship).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What to do with a line ShipStation may or may not need to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineRule {
    Skip,
    Include,
}

/// ShipStation V1 items take whole units; Sage allows fractions (e.g. 2.5 cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FractionRule {
    /// Ship the next whole unit up (2.5 → 3, 0.25 → 1) and name Sage's exact quantity on the
    /// item (option "Sage quantity"), so the packer sees what was ordered.
    RoundUp,
    /// Refuse the order with a sentence naming the line: a person decides.
    Refuse,
}

/// Customs declarations for orders leaving `ship_from_country`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CustomsSettings {
    /// The CI_Item UDF holding the harmonized tariff (HS) code, e.g. `UDF_HTSCODE`.
    pub hs_code_udf: Option<String>,
    /// The CI_Item UDF holding the country of origin (ISO alpha-2 or alpha-3), e.g. `UDF_COUNTRY_ORIGIN`.
    pub country_of_origin_udf: Option<String>,
    /// ShipStation's `internationalOptions.contents`.
    pub contents: String,
    /// ShipStation's `internationalOptions.nonDelivery`.
    pub non_delivery: String,
}

impl Default for CustomsSettings {
    fn default() -> Self {
        Self {
            hs_code_udf: None,
            country_of_origin_udf: None,
            contents: "merchandise".into(),
            non_delivery: "return_to_sender".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OrderSettings {
    /// The country of an address whose country code is blank in Sage (ISO alpha-2).
    pub blank_country: String,
    /// Sage country codes that are not ISO 3166 alpha-3 (e.g. `"UK": "GB"`) → ISO alpha-2.
    pub countries: BTreeMap<String, String>,
    pub fractional_quantities: FractionRule,
    /// Lines Sage marks DropShip = Y (the vendor ships them).
    pub drop_ship_lines: LineRule,
    /// Components of an exploded sales kit (the kit line itself is always sent).
    pub kit_components: LineRule,
    /// Where the warehouse ships from: other ship-to countries get customs lines.
    pub ship_from_country: String,
    pub customs: CustomsSettings,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            blank_country: "US".into(),
            countries: BTreeMap::new(),
            fractional_quantities: FractionRule::RoundUp,
            drop_ship_lines: LineRule::Skip,
            kit_components: LineRule::Include,
            ship_from_country: "US".into(),
            customs: CustomsSettings::default(),
        }
    }
}

impl OrderSettings {
    /// The CI_Item UDFs the mapping needs read with the items.
    pub fn item_udfs(&self) -> Vec<String> {
        [
            &self.customs.hs_code_udf,
            &self.customs.country_of_origin_udf,
        ]
        .into_iter()
        .flatten()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect()
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let alpha2 = |c: &str| celes::Country::from_alpha2(c.trim()).is_ok();
        for (name, code) in [
            ("orders.blank_country", &self.blank_country),
            ("orders.ship_from_country", &self.ship_from_country),
        ] {
            if !alpha2(code) {
                p.push(format!(
                    "{name} {code:?} is not an ISO 3166 alpha-2 country code (e.g. US)"
                ));
            }
        }
        for (sage, iso) in &self.countries {
            if !alpha2(iso) {
                p.push(format!(
                    "orders.countries.{sage}: {iso:?} is not an ISO 3166 alpha-2 country code"
                ));
            }
        }
        for (name, udf) in [
            ("orders.customs.hs_code_udf", &self.customs.hs_code_udf),
            (
                "orders.customs.country_of_origin_udf",
                &self.customs.country_of_origin_udf,
            ),
        ] {
            if let Some(u) = udf {
                if !u.trim().to_ascii_uppercase().starts_with("UDF_") {
                    p.push(format!("{name} {u:?} must name a CI_Item UDF (UDF_…)"));
                }
            }
        }
        p
    }
}
