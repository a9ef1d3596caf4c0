//! eBusiness Web Services client (SOAP 1.1, document/literal wrapped) on quick-xml: `logon` and
//! `companyCode` on every call, faults parsed into `SageError::Fault` {ErrorCode, ErrorMessage}.
//! Every request is built from the customer's contract (`contract.rs`: the SOAPAction, each
//! element's namespace and the members' order as its WSDL states them); answers are read by local
//! name, so they need no contract.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::contract::{encode_operation, Node, SoapContract};
use super::error::SageError;
use super::faults::FaultTexts;
use crate::secret::Secret;
use crate::xml::{self, Element};

/// Fields of a SalesOrder as Sage names them (PascalCase), lines, and UDFs (`OtherFields`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SalesOrder {
    pub fields: BTreeMap<String, String>,
    pub lines: Vec<BTreeMap<String, String>>,
    pub udfs: BTreeMap<String, String>,
}

impl SalesOrder {
    pub fn get(&self, field: &str) -> &str {
        self.fields
            .get(field)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// Fields Sage computes: sending them back is a fault ("Creation Date is read only").
const READ_ONLY: &[&str] = &[
    "DateTimeCreated",
    "DateTimeUpdated",
    "UserCreatedKey",
    "UserUpdatedKey",
    "TaxableAmt",
    "LineWeight",
    "ExtensionAmt",
];

/// The largest SOAP answer read (one sales order with its lines is a few kilobytes).
const MAX_ANSWER_BYTES: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct SoapConfig {
    pub endpoint: String,
    /// The customer's contract, read from its `?wsdl` (`contract::fetch_contract`); `None` until
    /// it has been read (every call then fails with `SageError::NoContract`).
    pub contract: Option<Arc<SoapContract>>,
    pub username: String,
    pub password: Secret,
    pub company: String,
    pub timeout: Duration,
    pub faults: FaultTexts,
}

fn text(name: &str, value: &str) -> (String, Node) {
    (name.to_string(), Node::Text(value.to_string()))
}

fn members(fields: &BTreeMap<String, String>) -> Vec<(String, Node)> {
    fields
        .iter()
        .filter(|(k, _)| !READ_ONLY.contains(&k.as_str()))
        .map(|(k, v)| text(k, v))
        .collect()
}

/// A SalesOrder as the contract's members: header fields, `Lines` (the collection's items) and
/// the UDFs in `OtherFields` as {MasFieldName, Value} (read-only members left out).
fn sales_order_node(order: &SalesOrder) -> Node {
    let mut m = members(&order.fields);
    if !order.lines.is_empty() {
        m.push((
            "Lines".into(),
            Node::Items(order.lines.iter().map(members).collect()),
        ));
    }
    if !order.udfs.is_empty() {
        m.push((
            "OtherFields".into(),
            Node::Items(
                order
                    .udfs
                    .iter()
                    .map(|(k, v)| vec![text("MasFieldName", k), text("Value", v)])
                    .collect(),
            ),
        ));
    }
    Node::Members(m)
}

#[derive(Clone)]
pub struct SoapClient {
    http: reqwest::Client,
    cfg: SoapConfig,
}

impl SoapClient {
    pub fn new(cfg: SoapConfig) -> Result<Self, SageError> {
        crate::net::check_endpoint("the Sage SOAP URL", &cfg.endpoint)?;
        let http = crate::net::client_builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| SageError::Transport(e.to_string()))?;
        Ok(Self { http, cfg })
    }

    /// `logon` and `companyCode`, then the operation's own parameters.
    fn logon(&self, more: Vec<(String, Node)>) -> Vec<(String, Node)> {
        let mut params = vec![
            (
                "logon".to_string(),
                Node::Members(vec![
                    text("Username", &self.cfg.username),
                    text("Password", self.cfg.password.expose()),
                ]),
            ),
            text("companyCode", &self.cfg.company),
        ];
        params.extend(more);
        params
    }

    pub fn faults(&self) -> &FaultTexts {
        &self.cfg.faults
    }

    pub fn contract(&self) -> Option<&SoapContract> {
        self.cfg.contract.as_deref()
    }

    /// One call: returns the `<Op>Result` element (if any).
    async fn call(
        &self,
        op: &str,
        params: Vec<(String, Node)>,
    ) -> Result<Option<Element>, SageError> {
        let result = self.exchange(op, params).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SageError::Fault { .. } | SageError::RecordLocked { .. }) => "fault",
            Err(SageError::Transport(_)) => "error",
            Err(_) => "malformed",
        };
        crate::metrics::call("sage_soap", op, outcome);
        result
    }

    async fn exchange(
        &self,
        op: &str,
        params: Vec<(String, Node)>,
    ) -> Result<Option<Element>, SageError> {
        let contract = self.cfg.contract.as_deref().ok_or(SageError::NoContract)?;
        let (action, wrapper) = encode_operation(contract, op, &params)
            .map_err(|e| SageError::Contract(e.to_string()))?;
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{wrapper}</s:Body></s:Envelope>"#
        );
        let resp = self
            .http
            .post(&self.cfg.endpoint)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{action}\""))
            .body(body)
            .send()
            .await
            .map_err(|e| SageError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        crate::net::refuse_redirect(status)?;
        let text = crate::net::read_text(resp, MAX_ANSWER_BYTES).await?;
        read_answer(op, status.as_u16(), &text, &self.cfg.faults)
    }

    /// `GetContractInformation`: (ContractVersion, AssemblyVersion) — a cheap connectivity check.
    pub async fn contract_information(&self) -> Result<(String, String), SageError> {
        let r = self
            .call("GetContractInformation", Vec::new())
            .await?
            .ok_or_else(|| SageError::Malformed("no contract information".into()))?;
        Ok((
            r.text_of("ContractVersion").unwrap_or_default().into(),
            r.text_of("AssemblyVersion").unwrap_or_default().into(),
        ))
    }

    pub async fn get_sales_order(&self, sales_order_no: &str) -> Result<SalesOrder, SageError> {
        let params = self.logon(vec![text("salesOrderNo", sales_order_no)]);
        let r = self
            .call("GetSalesOrder", params)
            .await?
            .ok_or_else(|| SageError::Malformed("empty GetSalesOrderResult".into()))?;
        Ok(SalesOrder::from_result(&r))
    }

    /// Moves Sage's counter forward: call it only right before a create.
    pub async fn get_next_sales_order_no(&self) -> Result<String, SageError> {
        let r = self
            .call("GetNextSalesOrderNo", self.logon(Vec::new()))
            .await?;
        Ok(r.map(|e| e.text.trim().to_string()).unwrap_or_default())
    }

    pub async fn create_sales_order(&self, order: &SalesOrder) -> Result<(), SageError> {
        let params = self.logon(vec![("salesOrder".into(), sales_order_node(order))]);
        self.call("CreateSalesOrder", params).await.map(|_| ())
    }

    /// Send a whole order back (GetSalesOrder, change, UpdateSalesOrder — as Sage documents).
    pub async fn update_sales_order(&self, order: &SalesOrder) -> Result<(), SageError> {
        let params = self.logon(vec![("salesOrder".into(), sales_order_node(order))]);
        self.call("UpdateSalesOrder", params).await.map(|_| ())
    }

    /// Read, set the given header fields and UDFs, write back.
    pub async fn update_sales_order_fields(
        &self,
        sales_order_no: &str,
        fields: &BTreeMap<String, String>,
        udfs: &BTreeMap<String, String>,
    ) -> Result<(), SageError> {
        let mut order = self.get_sales_order(sales_order_no).await?;
        order.fields.extend(fields.clone());
        order.udfs.extend(udfs.clone());
        self.update_sales_order(&order).await
    }

    pub async fn delete_sales_order(&self, sales_order_no: &str) -> Result<(), SageError> {
        let params = self.logon(vec![text("salesOrderNo", sales_order_no)]);
        self.call("DeleteSalesOrder", params).await.map(|_| ())
    }

    pub async fn get_customer(
        &self,
        ar_division_no: &str,
        customer_no: &str,
    ) -> Result<BTreeMap<String, String>, SageError> {
        let params = self.logon(vec![
            text("arDivisionNo", ar_division_no),
            text("customerNo", customer_no),
        ]);
        let r = self
            .call("GetCustomer", params)
            .await?
            .ok_or_else(|| SageError::Malformed("empty GetCustomerResult".into()))?;
        Ok(r.children
            .iter()
            .map(|c| (c.name.clone(), c.text.trim().to_string()))
            .collect())
    }

    pub async fn create_customer(
        &self,
        fields: &BTreeMap<String, String>,
    ) -> Result<(), SageError> {
        let customer = fields.iter().map(|(k, v)| text(k, v)).collect();
        self.call(
            "CreateCustomer",
            self.logon(vec![("customer".into(), Node::Members(customer))]),
        )
        .await
        .map(|_| ())
    }
}
/// One SOAP answer (HTTP status and body) → the `<Op>Result` element (if any), or the fault.
/// Everything in it is the remote side's to choose: errors, never panics.
pub fn read_answer(
    op: &str,
    status: u16,
    text: &str,
    faults: &FaultTexts,
) -> Result<Option<Element>, SageError> {
    let doc = xml::parse(text).map_err(|e| SageError::Malformed(format!("{op}: {e}")))?;
    let body = doc
        .child("Body")
        .ok_or_else(|| SageError::Malformed(format!("{op}: no SOAP body (HTTP {status})")))?;
    if let Some(fault) = body.child("Fault") {
        let detail = fault.path(&["detail", "MasFault"]);
        let code = detail
            .and_then(|d| d.text_of("ErrorCode"))
            .map(str::to_string)
            .or_else(|| {
                fault
                    .text_of("faultcode")
                    .map(|c| c.rsplit(':').next().unwrap_or(c).to_string())
            })
            .unwrap_or_default();
        let message = detail
            .and_then(|d| d.text_of("ErrorMessage"))
            .or_else(|| fault.text_of("faultstring"))
            .unwrap_or_default()
            .to_string();
        // Another Sage user holds the record: worth retrying, unlike other faults.
        if faults.is_record_lock(&message) {
            return Err(SageError::RecordLocked {
                attempts: 1,
                message,
            });
        }
        return Err(SageError::Fault { code, message });
    }
    if !(200..300).contains(&status) {
        return Err(SageError::Malformed(format!(
            "{op}: HTTP {status} without a SOAP fault"
        )));
    }
    let response = body
        .child(&format!("{op}Response"))
        .ok_or_else(|| SageError::Malformed(format!("{op}: no {op}Response element")))?;
    Ok(response.child(&format!("{op}Result")).cloned())
}

impl SalesOrder {
    /// A `GetSalesOrderResult` element → header fields, lines (the collection's items, whatever
    /// the contract names them) and UDFs.
    pub fn from_result(r: &Element) -> SalesOrder {
        let mut order = SalesOrder::default();
        for c in &r.children {
            match c.name.as_str() {
                "Lines" => {
                    for line in &c.children {
                        order.lines.push(
                            line.children
                                .iter()
                                .map(|f| (f.name.clone(), f.text.trim().to_string()))
                                .collect(),
                        );
                    }
                }
                "OtherFields" => {
                    for f in c.children_named("Field") {
                        order.udfs.insert(
                            f.text_of("MasFieldName").unwrap_or_default().into(),
                            f.text_of("Value").unwrap_or_default().into(),
                        );
                    }
                }
                "Payments" => {}
                name => {
                    order
                        .fields
                        .insert(name.to_string(), c.text.trim().to_string());
                }
            }
        }
        order
    }
}
