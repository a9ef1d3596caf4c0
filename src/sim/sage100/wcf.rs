//! The shape of the simulated WCF service (set by flags, so tests can run a client against more
//! than one): the service namespace, the contract (portType) name, the namespace of the data
//! contracts and the order of their members. Requests are read the way WCF reads them: a wrong
//! SOAPAction is refused, and a parameter or data member in the wrong namespace or out of
//! sequence is silently dropped (DataContractSerializer skips it as unknown).

use crate::xml::Element;

use super::schema;

/// How data contract members are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberOrder {
    /// WCF's default: ordinal (byte) order of the member names.
    Ordinal,
    /// The order the simulator declares them in (collections first, then the table's columns).
    Declared,
}

impl std::str::FromStr for MemberOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ordinal" => Ok(Self::Ordinal),
            "declared" => Ok(Self::Declared),
            other => Err(format!("{other:?}: use ordinal or declared")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapShape {
    /// The service namespace (operation wrappers and their parameters).
    pub namespace: String,
    /// The service contract's name (the portType; part of every SOAPAction).
    pub contract: String,
    /// The data contracts' namespace (Logon, SalesOrder, …).
    pub data_namespace: String,
    pub member_order: MemberOrder,
}

impl Default for SoapShape {
    /// Deliberately not a guess at Sage's real names: the connector must read them from the WSDL.
    fn default() -> Self {
        Self {
            namespace: "urn:sim:sage100:ebusiness".into(),
            contract: "IWebService".into(),
            data_namespace: "http://schemas.datacontract.org/2004/07/Sim.Sage100.Contracts".into(),
            member_order: MemberOrder::Ordinal,
        }
    }
}

/// An operation's parameters (name, type) and the name of its result type, if any.
pub type OperationShape = (Vec<(&'static str, Ty)>, Option<&'static str>);

/// The data contracts the service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Simple,
    Logon,
    SalesOrder,
    Lines,
    SalesOrderLine,
    OtherFields,
    Field,
    Customer,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Simple => "string",
            Ty::Logon => "Logon",
            Ty::SalesOrder => "SalesOrder",
            Ty::Lines => "ArrayOfSalesOrderLine",
            Ty::SalesOrderLine => "SalesOrderLine",
            Ty::OtherFields => "ArrayOfField",
            Ty::Field => "Field",
            Ty::Customer => "Customer",
        }
    }

    /// A collection: its one repeated item.
    pub fn item(self) -> Option<(&'static str, Ty)> {
        match self {
            Ty::Lines => Some(("SalesOrderLine", Ty::SalesOrderLine)),
            Ty::OtherFields => Some(("Field", Ty::Field)),
            _ => None,
        }
    }
}

/// Columns Sage returns as the combined DateTimeCreated/DateTimeUpdated instead.
const STAMPS: &[&str] = &[
    "DateCreated",
    "TimeCreated",
    "DateUpdated",
    "TimeUpdated",
    "UserCreatedKey",
    "UserUpdatedKey",
];

fn columns(cols: &[schema::Column]) -> Vec<(String, Ty)> {
    cols.iter()
        .filter(|c| !STAMPS.contains(&c.name))
        .map(|c| (c.name.to_string(), Ty::Simple))
        .collect()
}

impl SoapShape {
    /// A data contract's members, in this service's order.
    pub fn members(&self, ty: Ty) -> Vec<(String, Ty)> {
        let mut m = match ty {
            Ty::Logon => vec![
                ("Username".into(), Ty::Simple),
                ("Password".into(), Ty::Simple),
            ],
            Ty::SalesOrder => {
                let mut v = vec![
                    ("Lines".to_string(), Ty::Lines),
                    ("OtherFields".to_string(), Ty::OtherFields),
                ];
                v.extend(columns(schema::SO_HEADER));
                v.push(("DateTimeCreated".into(), Ty::Simple));
                v.push(("DateTimeUpdated".into(), Ty::Simple));
                v
            }
            Ty::SalesOrderLine => columns(schema::SO_DETAIL),
            Ty::Field => vec![
                ("MasFieldName".into(), Ty::Simple),
                ("Value".into(), Ty::Simple),
            ],
            Ty::Customer => columns(schema::AR_CUSTOMER),
            Ty::Lines | Ty::OtherFields | Ty::Simple => Vec::new(),
        };
        if self.member_order == MemberOrder::Ordinal {
            m.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        m
    }

    /// An operation's parameters (service namespace, in signature order) and its result type.
    pub fn operation(op: &str) -> Option<OperationShape> {
        let logon = [("logon", Ty::Logon), ("companyCode", Ty::Simple)];
        let with = |more: &[(&'static str, Ty)]| {
            let mut v = logon.to_vec();
            v.extend_from_slice(more);
            v
        };
        Some(match op {
            "GetContractInformation" => (Vec::new(), Some("ContractInformation")),
            "GetSalesOrder" => (with(&[("salesOrderNo", Ty::Simple)]), Some("SalesOrder")),
            "GetNextSalesOrderNo" => (with(&[]), Some("string")),
            "CreateSalesOrder" | "UpdateSalesOrder" => {
                (with(&[("salesOrder", Ty::SalesOrder)]), None)
            }
            "DeleteSalesOrder" => (with(&[("salesOrderNo", Ty::Simple)]), None),
            "GetCustomer" => (
                with(&[("arDivisionNo", Ty::Simple), ("customerNo", Ty::Simple)]),
                Some("Customer"),
            ),
            "CreateCustomer" => (with(&[("customer", Ty::Customer)]), None),
            _ => return None,
        })
    }

    pub const OPERATIONS: &'static [&'static str] = &[
        "GetContractInformation",
        "GetSalesOrder",
        "GetNextSalesOrderNo",
        "CreateSalesOrder",
        "UpdateSalesOrder",
        "DeleteSalesOrder",
        "GetCustomer",
        "CreateCustomer",
    ];

    /// The SOAPAction WCF derives: `<namespace>[/]<contract>/<operation>`.
    pub fn action(&self, op: &str) -> String {
        let sep = if self.namespace.ends_with('/') {
            ""
        } else {
            "/"
        };
        format!("{}{sep}{}/{op}", self.namespace, self.contract)
    }

    /// Keep what WCF would read of `children` expected as `expected` in namespace `ns`: each
    /// element must match a member at or after the last one read; anything else is dropped.
    fn keep(&self, children: &[Element], expected: &[(String, Ty)], ns: &str) -> Vec<Element> {
        let mut at = 0;
        let mut out = Vec::new();
        for c in children {
            let found = expected[at.min(expected.len())..]
                .iter()
                .position(|(n, _)| *n == c.name && c.ns == ns);
            let Some(offset) = found else { continue };
            let ty = expected[at + offset].1;
            at += offset + 1;
            out.push(self.read_as(c, ty));
        }
        out
    }

    /// An element as WCF reads it for a data contract type.
    fn read_as(&self, e: &Element, ty: Ty) -> Element {
        let mut kept = e.clone();
        kept.children = match ty {
            Ty::Simple => Vec::new(),
            Ty::Lines | Ty::OtherFields => {
                let (item, item_ty) = ty.item().expect("a collection");
                e.children
                    .iter()
                    .filter(|c| c.name == item && c.ns == self.data_namespace)
                    .map(|c| self.read_as(c, item_ty))
                    .collect()
            }
            _ => self.keep(&e.children, &self.members(ty), &self.data_namespace),
        };
        kept
    }

    /// The operation element as WCF reads it (parameters in the service namespace, in order).
    pub fn read_request(&self, op: &Element) -> Element {
        let params: Vec<(String, Ty)> = Self::operation(&op.name)
            .map(|(p, _)| p.into_iter().map(|(n, t)| (n.to_string(), t)).collect())
            .unwrap_or_default();
        let mut kept = op.clone();
        kept.children = self.keep(&op.children, &params, &self.namespace);
        kept
    }
}
