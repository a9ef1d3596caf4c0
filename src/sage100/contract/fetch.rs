//! Reading `<soap_url>?wsdl` and what it imports (`wsdl:import location`, `xsd:import` /
//! `xsd:include schemaLocation`, e.g. WCF's `?xsd=xsd0`), bounded: each document's size, the total,
//! the number of documents and the import depth are capped, imports are followed only on the
//! WSDL's own origin (scheme, host and port), and the XML tree keeps its own depth limit.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use super::read::{contract_from_documents, Document};
use super::{ContractError, SoapContract};
use crate::xml::{self, Element};

/// What one reading may fetch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_document_bytes: usize,
    pub max_total_bytes: usize,
    pub max_documents: usize,
    pub max_import_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_document_bytes: 2 << 20,
            max_total_bytes: 8 << 20,
            max_documents: 24,
            max_import_depth: 4,
        }
    }
}

fn err(m: impl Into<String>) -> ContractError {
    ContractError::Read(m.into())
}

/// `location` / `schemaLocation` of the imports and includes anywhere in a document.
fn imports(e: &Element, out: &mut Vec<String>) {
    let attr = match e.name.as_str() {
        "import" | "include" => e.attr("location").or_else(|| e.attr("schemaLocation")),
        _ => None,
    };
    if let Some(a) = attr {
        out.push(a.to_string());
    }
    for c in &e.children {
        imports(c, out);
    }
}

/// Read the customer's contract from `<endpoint>?wsdl`.
pub async fn fetch_contract(
    endpoint: &str,
    timeout: Duration,
    limits: Limits,
) -> Result<SoapContract, ContractError> {
    let base = crate::net::check_endpoint("the Sage SOAP URL", endpoint)
        .map_err(|e| err(e.to_string()))?;
    let mut wsdl = base.clone();
    wsdl.set_query(Some("wsdl"));
    wsdl.set_fragment(None);
    let http = crate::net::client_builder()
        .timeout(timeout)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let origin = wsdl.origin();
    let mut queue = VecDeque::from([(wsdl.clone(), 0usize)]);
    let mut seen = BTreeSet::from([wsdl.to_string()]);
    let (mut docs, mut total) = (Vec::new(), 0usize);
    while let Some((url, depth)) = queue.pop_front() {
        if docs.len() >= limits.max_documents {
            return Err(err(format!(
                "the WSDL imports more than {} documents: refused",
                limits.max_documents
            )));
        }
        let resp = http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| err(format!("{url}: {}", e.without_url())))?;
        let status = resp.status();
        crate::net::refuse_redirect(status).map_err(|e| err(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(err(format!(
                "{url}: HTTP {status} (is eBusiness Web Services installed and its metadata published?)"
            )));
        }
        let text = crate::net::read_text(resp, limits.max_document_bytes)
            .await
            .map_err(|e| err(format!("{url}: {e}")))?;
        total += text.len();
        if total > limits.max_total_bytes {
            return Err(err(format!(
                "the WSDL and its imports exceed {} bytes: refused",
                limits.max_total_bytes
            )));
        }
        let root = xml::parse(&text).map_err(|e| err(format!("{url}: {e}")))?;
        let mut found = Vec::new();
        imports(&root, &mut found);
        for loc in found {
            let next = url
                .join(&loc)
                .map_err(|_| err(format!("{url}: import location {loc:?} is not a URL")))?;
            if next.origin() != origin {
                return Err(err(format!(
                    "{url}: import {next} is on another origin than the WSDL: refused"
                )));
            }
            if depth + 1 > limits.max_import_depth {
                return Err(err(format!(
                    "{url}: imports nested deeper than {}: refused",
                    limits.max_import_depth
                )));
            }
            if seen.insert(next.to_string()) {
                queue.push_back((next, depth + 1));
            }
        }
        docs.push(Document {
            url: url.to_string(),
            root,
        });
    }
    contract_from_documents(&docs)
}
