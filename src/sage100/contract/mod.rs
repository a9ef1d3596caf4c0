//! The customer's eBusiness Web Services contract, read from its `?wsdl` and the schemas that
//! imports: the SOAPAction of each operation, the namespace of every element, and the order of
//! every data contract's members. Nothing here is assumed: WCF puts data contracts in namespaces
//! of their own (not the service's) and its DataContractSerializer silently drops members sent out
//! of sequence, so a request is only right when it is built from this contract.
//!
//! Read at `connection add` / `connection test` and stored with the connection
//! (`sage_soap_contracts`), never fetched per call.

mod encode;
mod fetch;
mod read;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use encode::{encode_operation, Node};
pub use fetch::{fetch_contract, Limits};
pub use read::{contract_from_documents, Document};

/// An element in a sequence: its name, namespace and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Particle {
    pub name: String,
    /// The element's namespace URI (empty: unqualified).
    pub namespace: String,
    /// The complex type's key in `SoapContract::types` (`None`: a simple value).
    pub complex: Option<String>,
    /// `maxOccurs` above 1.
    pub repeated: bool,
}

/// A complex type: its members, in the order the schema's sequence gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ComplexType {
    pub members: Vec<Particle>,
}

/// One operation of the SOAP 1.1 binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub soap_action: String,
    /// The request's wrapper element (document/literal wrapped).
    pub input: Particle,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoapContract {
    /// The `?wsdl` address it was read from.
    pub wsdl_url: String,
    pub read_at: DateTime<Utc>,
    /// The WSDL's targetNamespace.
    pub target_namespace: String,
    pub operations: BTreeMap<String, Operation>,
    /// Complex types by key (`{namespace}name`; anonymous types by their element's path).
    pub types: BTreeMap<String, ComplexType>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("reading the Sage WSDL: {0}")]
    Read(String),
    #[error("the Sage WSDL read on {read_at} has no operation {op}: run `connection test` to read it again")]
    NoOperation { op: String, read_at: String },
    /// Data the contract has no place for: sending it would lose it silently.
    #[error("the Sage WSDL read on {read_at} has no member {member} in {within}: run `connection test` to read it again, or ask the Sage administrator which version is installed")]
    UnknownMember {
        member: String,
        within: String,
        read_at: String,
    },
}

impl SoapContract {
    pub fn operation(&self, op: &str) -> Result<&Operation, ContractError> {
        self.operations
            .get(op)
            .ok_or_else(|| ContractError::NoOperation {
                op: op.to_string(),
                read_at: self.read_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
    }

    /// A one-line description for `connection test`.
    pub fn summary(&self) -> String {
        format!(
            "WSDL namespace {}, {} operations, {} data types",
            self.target_namespace,
            self.operations.len(),
            self.types.len()
        )
    }
}

/// `{namespace}name`, the key of a named type.
pub fn type_key(namespace: &str, name: &str) -> String {
    format!("{{{namespace}}}{name}")
}
