//! Decimal columns on the wire: written as JSON numbers (as BOI's GetValue gives them), read from
//! a number or a numeric string (some backends answer text). A value that is neither is an
//! error, never a silent zero.

use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    // Whole numbers stay integers on the wire (4, not 4.0), as BOI gives them.
    if d.fract().is_zero() {
        if let Some(i) = d.to_i64() {
            return s.serialize_i64(i);
        }
    }
    match d.to_f64() {
        Some(f) => s.serialize_f64(f),
        None => s.serialize_str(&d.to_string()),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number or a numeric string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // Through the shortest text form, so 0.1 stays 0.1 (not 0.1000000000000000055…).
        Decimal::from_str(&v.to_string())
            .or_else(|_| Decimal::from_scientific(&format!("{v:e}")))
            .map_err(|_| E::custom(format!("{v} is not a decimal number")))
    }

    /// A column the backend does not have (BOI answers null): Sage's default for a number.
    fn visit_unit<E: de::Error>(self) -> Result<Decimal, E> {
        Ok(Decimal::ZERO)
    }

    fn visit_none<E: de::Error>(self) -> Result<Decimal, E> {
        Ok(Decimal::ZERO)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(Decimal::ZERO); // Sage's blank numeric column
        }
        Decimal::from_str(t)
            .or_else(|_| Decimal::from_scientific(t))
            .map_err(|_| E::custom(format!("{v:?} is not a decimal number")))
    }
}

/// The same for optional values (`null` or absent → `None`).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        struct Opt;
        impl<'de> Visitor<'de> for Opt {
            type Value = Option<Decimal>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, a numeric string or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                super::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
    struct Row {
        #[serde(with = "super")]
        v: Decimal,
    }

    #[test]
    fn numbers_and_numeric_strings_read_exactly() {
        for (json, want) in [
            (r#"{"v": 12.5}"#, "12.5"),
            (r#"{"v": 0.1}"#, "0.1"),
            (r#"{"v": 4}"#, "4"),
            (r#"{"v": " 2.25 "}"#, "2.25"),
            (r#"{"v": ""}"#, "0"),
            (r#"{"v": null}"#, "0"),
        ] {
            let r: Row = serde_json::from_str(json).unwrap();
            assert_eq!(r.v, Decimal::from_str(want).unwrap(), "{json}");
        }
        assert!(serde_json::from_str::<Row>(r#"{"v": "lots"}"#).is_err());
        assert!(serde_json::from_str::<Row>(r#"{"v": true}"#).is_err());
    }

    #[test]
    fn written_as_json_numbers() {
        let v = serde_json::to_value(Row {
            v: Decimal::from_str("12.50").unwrap(),
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({"v": 12.5}));
        let v = serde_json::to_value(Row {
            v: Decimal::from_str("4.000").unwrap(),
        })
        .unwrap();
        assert_eq!(v.to_string(), r#"{"v":4}"#);
    }
}
