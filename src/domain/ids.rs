//! Identifiers, each with one constructor that checks it.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} {problem}")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
    pub problem: &'static str,
}

fn check(
    what: &'static str,
    raw: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, IdError> {
    let v = raw.trim();
    let err = |problem| IdError {
        what,
        value: raw.to_string(),
        problem,
    };
    if v.is_empty() {
        return Err(err("is empty"));
    }
    if v.chars().count() > max {
        return Err(err("is too long"));
    }
    if !v.chars().all(allowed) {
        return Err(err("has characters Sage does not allow"));
    }
    Ok(v.to_string())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check($what, raw, $max, $allowed).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

fn printable(c: char) -> bool {
    !c.is_control()
}

// Bounds are wider than Sage's columns (SalesOrderNo 7, WarehouseCode 3, InvoiceNo 7, ItemCode
// 30): a site whose codes are longer keeps working; empty values and garbage are still refused.

id_type!(
    /// A Sage 100 sales order number (SO_SalesOrderHeader.SalesOrderNo).
    SalesOrderNo,
    "sales order number",
    20,
    printable
);
id_type!(
    /// A Sage 100 item code (CI_Item.ItemCode, up to 30 characters).
    ItemCode,
    "item code",
    30,
    printable
);
id_type!(
    /// A Sage 100 warehouse code.
    WarehouseCode,
    "warehouse code",
    10,
    printable
);
id_type!(
    /// A Sage 100 invoice number.
    InvoiceNo,
    "invoice number",
    20,
    printable
);

/// A Sage 100 company code: three letters or digits, upper case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CompanyCode(String);

impl CompanyCode {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let v = check("company code", raw, 3, |c| c.is_ascii_alphanumeric())?;
        if v.len() != 3 {
            return Err(IdError {
                what: "company code",
                value: raw.to_string(),
                problem: "must be 3 letters or digits",
            });
        }
        Ok(Self(v.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CompanyCode {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<CompanyCode> for String {
    fn from(v: CompanyCode) -> String {
        v.0
    }
}

impl fmt::Display for CompanyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key a Sage order is known by in the fulfilment system: `sage100:{company}:{SalesOrderNo}`.
/// ShipStation upserts by it, so re-posting an order is safe. Serialized as that text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderKey {
    pub company: CompanyCode,
    pub sales_order_no: SalesOrderNo,
}

const ORDER_KEY_PREFIX: &str = "sage100:";

impl OrderKey {
    pub fn new(company: CompanyCode, sales_order_no: SalesOrderNo) -> Self {
        Self {
            company,
            sales_order_no,
        }
    }

    /// An orderKey we made; anything else (another integration's order) is `None`.
    pub fn parse(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(ORDER_KEY_PREFIX)?;
        let (company, no) = rest.split_once(':')?;
        Some(Self {
            company: CompanyCode::parse(company).ok()?,
            sales_order_no: SalesOrderNo::parse(no).ok()?,
        })
    }
}

impl TryFrom<String> for OrderKey {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s).ok_or(IdError {
            what: "order key",
            value: s,
            problem: "is not sage100:<company>:<SalesOrderNo>",
        })
    }
}

impl From<OrderKey> for String {
    fn from(k: OrderKey) -> String {
        k.to_string()
    }
}

impl fmt::Display for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ORDER_KEY_PREFIX}{}:{}",
            self.company, self.sales_order_no
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_are_built_and_parsed_in_one_place() {
        let key = OrderKey::new(
            CompanyCode::parse("abc").unwrap(),
            SalesOrderNo::parse("0000042").unwrap(),
        );
        assert_eq!(key.to_string(), "sage100:ABC:0000042");
        assert_eq!(OrderKey::parse("sage100:ABC:0000042"), Some(key));
        assert_eq!(OrderKey::parse("magento:123"), None);
        assert_eq!(OrderKey::parse("sage100:ABCD:1"), None);
    }

    #[test]
    fn invalid_identifiers_do_not_exist() {
        assert!(SalesOrderNo::parse("").is_err());
        assert!(SalesOrderNo::parse(&"1".repeat(21)).is_err());
        assert!(SalesOrderNo::parse("00\u{0}42").is_err());
        assert_eq!(
            SalesOrderNo::parse(" 0000042 ").unwrap().as_str(),
            "0000042"
        );
        assert!(CompanyCode::parse("AB").is_err());
        assert!(CompanyCode::parse("A-C").is_err());
        assert_eq!(
            serde_json::from_str::<CompanyCode>("\"xyz\"")
                .unwrap()
                .as_str(),
            "XYZ"
        );
        assert!(serde_json::from_str::<SalesOrderNo>("\"\"").is_err());
    }
}
