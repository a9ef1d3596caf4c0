//! eBusiness Web Services (SOAP 1.1, document/literal wrapped): `logon` {Username, Password} and
//! `companyCode` on every call; failures are SOAP faults with `detail/MasFault` {ErrorCode,
//! ErrorMessage}. Creates are atomic: a fault leaves nothing behind.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::data::{check_value, key, Record};
use super::{orders, schema, SageSim};
use crate::xml::{self, escape, Element};

const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const NULL_DATE_TIME: &str = "1753-01-01T00:00:00";

type Fault = (String, String);

fn fault(code: &str, msg: impl Into<String>) -> Fault {
    (code.to_string(), msg.into())
}

fn envelope(body: &str) -> String {
    format!(r#"<s:Envelope xmlns:s="{ENVELOPE_NS}"><s:Body>{body}</s:Body></s:Envelope>"#)
}

fn fault_response(sim: &SageSim, (code, msg): Fault) -> Response {
    let (code, msg) = (escape(&code), escape(&msg));
    let ns = escape(&sim.cfg.shape.namespace);
    let data = escape(&sim.cfg.shape.data_namespace);
    let body = format!(
        r#"<s:Fault><faultcode xmlns:a="{ns}/faults">a:{code}</faultcode><faultstring xml:lang="en-US">{msg}</faultstring><detail><MasFault xmlns="{data}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><ErrorCode>{code}</ErrorCode><ErrorMessage>{msg}</ErrorMessage></MasFault></detail></s:Fault>"#
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        envelope(&body),
    )
        .into_response()
}

fn ok_response(sim: &SageSim, op: &str, result: Option<String>) -> Response {
    let inner = match result {
        Some(r) => format!("<{op}Result>{r}</{op}Result>"),
        None => String::new(),
    };
    let ns = escape(&sim.cfg.shape.namespace);
    let mut text = envelope(&format!(
        r#"<{op}Response xmlns="{ns}">{inner}</{op}Response>"#
    ));
    let f = sim.faults();
    if f.malformed_rate > 0.0 && rand::random::<f64>() < f.malformed_rate {
        text.truncate(text.len() / 2);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        text,
    )
        .into_response()
}

pub async fn handle(State(sim): State<SageSim>, headers: HeaderMap, body: String) -> Response {
    let doc = match xml::parse(&body) {
        Ok(d) => d,
        Err(e) => {
            return fault_response(
                &sim,
                fault(
                    "WS_BadRequest",
                    format!(
                    "The formatter threw an exception while trying to deserialize the message: {e}"
                ),
                ),
            )
        }
    };
    let Some(op) = doc.path(&["Body"]).and_then(|b| b.children.first()) else {
        return fault_response(
            &sim,
            fault("WS_BadRequest", "The message has no SOAP body."),
        );
    };
    // WCF dispatches on the SOAPAction: one this contract does not have is refused.
    let shape = &sim.cfg.shape;
    let action = headers
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"');
    if action != shape.action(&op.name) {
        return fault_response(
            &sim,
            fault(
                "ActionNotSupported",
                format!("The message with Action '{action}' cannot be processed at the receiver, due to a ContractFilter mismatch at the EndpointDispatcher."),
            ),
        );
    }
    if op.ns != shape.namespace {
        return fault_response(
            &sim,
            fault(
                "DeserializationFailed",
                format!(
                    "OperationFormatter encountered an invalid Message body. Expected to find node type 'Element' with name '{}' and namespace '{}'. Found node type 'Element' with name '{}' and namespace '{}'",
                    op.name, shape.namespace, op.name, op.ns
                ),
            ),
        );
    }
    // What WCF would hand the service: members out of sequence or namespace are gone.
    let op = shape.read_request(op);
    match dispatch(&sim, &op) {
        Ok(result) => ok_response(&sim, &op.name, result),
        Err(f) => fault_response(&sim, f),
    }
}

fn dispatch(sim: &SageSim, op: &Element) -> Result<Option<String>, Fault> {
    if op.name == "GetContractInformation" {
        return Ok(Some(format!("<ContractVersion>3</ContractVersion><AssemblyVersion>7.20.0.0</AssemblyVersion><NullDateTime>{NULL_DATE_TIME}</NullDateTime>")));
    }
    let user = op
        .path(&["logon", "Username"])
        .map(|e| e.text.as_str())
        .unwrap_or_default();
    let password = op
        .path(&["logon", "Password"])
        .map(|e| e.text.as_str())
        .unwrap_or_default();
    if user != sim.cfg.username || password != sim.cfg.password {
        return Err(fault("SY_Logon", "Invalid Username or Password."));
    }
    let company = op
        .text_of("companyCode")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let mut data = sim.data.lock().unwrap();
    if !data.companies.contains_key(&company) {
        return Err(fault(
            "SY_Company",
            format!("Company code {company} is not valid."),
        ));
    }
    let zone = data.zone;
    match op.name.as_str() {
        "GetSalesOrder" => {
            let no = op.text_of("salesOrderNo").unwrap_or_default();
            let co = data.company(&company).expect("checked");
            let header = co.so_header.get(no).cloned().ok_or_else(|| {
                fault(
                    &sim.cfg.not_on_file_code,
                    format!("The SalesOrderNo {no} does not exist."),
                )
            })?;
            let lines = orders::lines(co, no);
            let _ = zone;
            Ok(Some(sales_order_xml(&header, &lines, &co.so_header_udfs)))
        }
        "GetNextSalesOrderNo" => {
            let co = data.company(&company).expect("checked");
            let no = format!("{:07}", co.next_so);
            co.next_so += 1;
            Ok(Some(no))
        }
        "CreateSalesOrder" | "UpdateSalesOrder" => {
            let so = op
                .child("salesOrder")
                .ok_or_else(|| fault("WS_BadRequest", "salesOrder is required."))?;
            let (header, lines) = parse_sales_order(so)?;
            let existing = op.name == "UpdateSalesOrder";
            let no = header
                .get("SalesOrderNo")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if existing && sim.is_locked(&format!("SoHeader:{no}")) {
                return Err(fault("SO_SalesOrder", sim.cfg.lock_message.clone()));
            }
            let lines = if existing && so.child("Lines").is_none() {
                None
            } else {
                Some(lines)
            };
            orders::save(&mut data, &company, &header, lines.as_deref(), existing).map_err(
                |(code, msg)| match code.as_str() {
                    "CI_NoKey" => (sim.cfg.not_on_file_code.clone(), msg),
                    _ => (code, msg),
                },
            )?;
            Ok(None)
        }
        "DeleteSalesOrder" => {
            let no = op.text_of("salesOrderNo").unwrap_or_default().to_string();
            let co = data.company(&company).expect("checked");
            if co.so_header.remove(&no).is_none() {
                return Err(fault(
                    &sim.cfg.not_on_file_code,
                    format!("The SalesOrderNo {no} does not exist."),
                ));
            }
            for k in super::data::Company::under(&co.so_detail, &no) {
                co.so_detail.remove(&k);
            }
            Ok(None)
        }
        "GetCustomer" => {
            let (div, no) = (
                op.text_of("arDivisionNo").unwrap_or_default(),
                op.text_of("customerNo").unwrap_or_default(),
            );
            let co = data.company(&company).expect("checked");
            let c = co.ar_customer.get(&key(&[div, no])).ok_or_else(|| {
                fault(
                    &sim.cfg.not_on_file_code,
                    format!("The customer {div}-{no} does not exist."),
                )
            })?;
            Ok(Some(fields_xml(c)))
        }
        "CreateCustomer" => {
            let c = op
                .child("customer")
                .ok_or_else(|| fault("WS_BadRequest", "customer is required."))?;
            let mut rec = Record::new();
            for f in &c.children {
                let value = check_value(schema::AR_CUSTOMER, &f.name, &json!(f.text.trim()))
                    .map_err(|m| {
                        fault(
                            "CI_Invalid",
                            format!("Could not set AR_Customer_bus column {}: {m}", f.name),
                        )
                    })?;
                rec.insert(f.name.clone(), value);
            }
            let k = key(&[
                rec.get("ARDivisionNo")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                rec.get("CustomerNo")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ]);
            let co = data.company(&company).expect("checked");
            if co.ar_customer.contains_key(&k) {
                return Err(fault("WS_AlreadyExists", "Record already exists"));
            }
            co.ar_customer.insert(k, rec);
            Ok(None)
        }
        other => Err(fault(
            "WS_BadRequest",
            format!("The operation {other} is not supported."),
        )),
    }
}

/// `YYYYMMDD` → xs:dateTime (NullDateTime when blank).
fn to_xs_date(d: &str, hours: Option<&str>) -> String {
    let Ok(date) = NaiveDate::parse_from_str(d, "%Y%m%d") else {
        return NULL_DATE_TIME.to_string();
    };
    let secs = hours
        .and_then(|h| h.trim().parse::<f64>().ok())
        .map(|h| (h * 3600.0).round() as u32)
        .unwrap_or(0)
        .min(86_399);
    let t = date
        .and_hms_opt(secs / 3600, secs / 60 % 60, secs % 60)
        .unwrap_or_default();
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Data-contract elements (PascalCase) of one record; dates as xs:dateTime; UDFs go to OtherFields.
fn fields_xml(rec: &Record) -> String {
    let mut out = String::new();
    for (col, v) in rec {
        if col.starts_with("UDF_")
            || ["DateCreated", "TimeCreated", "DateUpdated", "TimeUpdated"].contains(&col.as_str())
        {
            continue;
        }
        let is_date = [schema::SO_HEADER, schema::SO_DETAIL]
            .iter()
            .any(|t| schema::column(t, col).is_some_and(|c| c.kind == schema::Kind::Date));
        let text = if is_date {
            to_xs_date(&value_text(v), None)
        } else {
            value_text(v)
        };
        out.push_str(&format!("<{col}>{}</{col}>", escape(&text)));
    }
    out
}

fn sales_order_xml(
    header: &Record,
    lines: &[Record],
    defined_udfs: &std::collections::BTreeSet<String>,
) -> String {
    let s = |c: &str| header.get(c).map(value_text).unwrap_or_default();
    let mut out = fields_xml(header);
    out.push_str(&format!(
        "<DateTimeCreated>{}</DateTimeCreated>",
        to_xs_date(&s("DateCreated"), Some(&s("TimeCreated")))
    ));
    out.push_str(&format!(
        "<DateTimeUpdated>{}</DateTimeUpdated>",
        to_xs_date(&s("DateUpdated"), Some(&s("TimeUpdated")))
    ));
    out.push_str("<Lines>");
    for l in lines {
        out.push_str(&format!(
            "<SalesOrderLine>{}</SalesOrderLine>",
            fields_xml(l)
        ));
    }
    out.push_str("</Lines><OtherFields>");
    // Every defined UDF (empty when unset), and any other the record holds.
    let mut udfs: std::collections::BTreeMap<&str, String> = defined_udfs
        .iter()
        .map(|u| (u.as_str(), String::new()))
        .collect();
    for (col, v) in header.iter().filter(|(c, _)| c.starts_with("UDF_")) {
        udfs.insert(col, value_text(v));
    }
    for (col, v) in udfs {
        out.push_str(&format!(
            "<Field><MasFieldName>{}</MasFieldName><Value>{}</Value></Field>",
            escape(col),
            escape(&v)
        ));
    }
    out.push_str("</OtherFields>");
    out
}

const READ_ONLY: &[(&str, &str)] = &[
    ("DateTimeCreated", "Creation Date is read only"),
    ("DateTimeUpdated", "Last Update Date is read only."),
    ("TaxableAmt", "Taxable Amount is read only."),
    ("LineWeight", "Line Weight is read only"),
];

/// A request's SalesOrder into (header, lines) with Sage column names.
fn parse_sales_order(so: &Element) -> Result<(Record, Vec<Record>), Fault> {
    let mut header = Record::new();
    for f in &so.children {
        match f.name.as_str() {
            "Lines" | "Payments" => continue,
            "OtherFields" => {
                for field in f.children_named("Field") {
                    let name = field.text_of("MasFieldName").unwrap_or_default();
                    if !name.to_ascii_uppercase().starts_with("UDF_") {
                        return Err(fault("CI_Invalid", format!("Could not set SO_SalesOrder_Bus column {name}: Column {name} not found.")));
                    }
                    header.insert(
                        name.to_ascii_uppercase(),
                        json!(field.text_of("Value").unwrap_or_default()),
                    );
                }
            }
            name => {
                if f.is_nil() {
                    continue;
                }
                let text = f.text.trim();
                if let Some((_, msg)) = READ_ONLY.iter().find(|(c, _)| *c == name) {
                    if !text.is_empty() && text != NULL_DATE_TIME {
                        return Err(fault(
                            "CI_ReadOnly",
                            format!("Could not set SO_SalesOrder_Bus column {name}: {msg}"),
                        ));
                    }
                    continue;
                }
                if schema::column(schema::SO_HEADER, name).is_none() {
                    continue; // unknown data-contract members are ignored, as WCF does
                }
                header.insert(
                    name.to_string(),
                    json!(from_xs(name, text, schema::SO_HEADER)),
                );
            }
        }
    }
    let mut lines = Vec::new();
    for line in so
        .path(&["Lines"])
        .into_iter()
        .flat_map(|l| l.children_named("SalesOrderLine"))
    {
        let mut rec = Record::new();
        for f in &line.children {
            if f.is_nil() {
                continue;
            }
            let text = f.text.trim();
            if let Some((_, msg)) = READ_ONLY.iter().find(|(c, _)| *c == f.name) {
                if !text.is_empty() && text != "0" {
                    return Err(fault(
                        "CI_ReadOnly",
                        format!(
                            "Could not set SO_SalesOrderDetail_Bus column {}: {msg}",
                            f.name
                        ),
                    ));
                }
                continue;
            }
            if schema::column(schema::SO_DETAIL, &f.name).is_some()
                && !["ExtensionAmt"].contains(&f.name.as_str())
            {
                rec.insert(
                    f.name.clone(),
                    json!(from_xs(&f.name, text, schema::SO_DETAIL)),
                );
            }
        }
        lines.push(rec);
    }
    Ok((header, lines))
}

/// xs:dateTime → `YYYYMMDD` for date columns; other text unchanged.
fn from_xs(col: &str, text: &str, table: &[schema::Column]) -> String {
    if schema::column(table, col).is_some_and(|c| c.kind == schema::Kind::Date) {
        if text.is_empty() || text.starts_with("1753-01-01") {
            return String::new();
        }
        return text
            .get(..10)
            .map(|d| d.replace('-', ""))
            .unwrap_or_default();
    }
    text.to_string()
}
