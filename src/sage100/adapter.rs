//! Sage 100 as the connector's ERP: reads and invoice writes through our agent, the sales order
//! header write through eBusiness Web Services. Translates Sage's answers into domain types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use mlc_agent_api as api;

use super::{convert, AgentClient, SageError, SoapClient};
use crate::domain::ports::{Erp, ErpError, FeedCursor, OrderWrite, Page};
use crate::domain::{
    ChangeStamp, Invoice, InvoiceNo, InvoiceTrackingUpdate, Item, ItemCode, SalesOrder,
    SalesOrderNo, StockLevel,
};

#[derive(Clone)]
pub struct Sage100 {
    pub agent: AgentClient,
    pub soap: SoapClient,
    /// CI_Item UDFs read with every item (named by the connection's settings).
    pub item_udfs: Vec<String>,
}

impl From<SageError> for ErpError {
    fn from(e: SageError) -> Self {
        let text = e.to_string();
        match e {
            SageError::RecordLocked { .. } => ErpError::RecordLocked(text),
            SageError::Session(_)
            | SageError::Transport(_)
            | SageError::Malformed(_)
            | SageError::NoContract => ErpError::Unavailable(text),
            SageError::Unauthorized => ErpError::Unauthorized(text),
            SageError::Posted(_) => ErpError::Posted(text),
            SageError::NotFound(_) => ErpError::NotFound(text),
            SageError::Fault { .. }
            | SageError::Rejected(_)
            | SageError::Refused(_)
            | SageError::Contract(_) => ErpError::Rejected(text),
        }
    }
}

fn cursor_in(after: Option<&FeedCursor>) -> Result<Option<api::PageCursor>, ErpError> {
    after
        .map(|c| serde_json::from_value(c.0.clone()))
        .transpose()
        .map_err(|e| ErpError::Unavailable(format!("feed cursor unreadable: {e}")))
}

fn cursor_out(next: Option<api::PageCursor>) -> Option<FeedCursor> {
    next.map(|c| FeedCursor(serde_json::to_value(c).unwrap_or_default()))
}

/// Convert a page's rows; rows the agent skipped, and rows that do not convert, are named in
/// `skipped` (the feed goes on past them).
fn page_of<R, T>(
    rows: &[R],
    agent_skipped: Vec<api::SkippedRow>,
    next: Option<api::PageCursor>,
    key: impl Fn(&R) -> String,
    convert: impl Fn(&R) -> Result<T, SageError>,
) -> Page<T> {
    let mut skipped: Vec<String> = agent_skipped
        .into_iter()
        .map(|s| format!("{}: {}", s.key, s.problem))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match convert(r) {
            Ok(t) => out.push(t),
            Err(e) => {
                tracing::warn!(key = %key(r), error = %e, "a Sage record was skipped");
                skipped.push(format!("{}: {e}", key(r)));
            }
        }
    }
    Page {
        rows: out,
        next: cursor_out(next),
        skipped,
    }
}

#[async_trait]
impl Erp for Sage100 {
    async fn changed_orders(
        &self,
        since: &ChangeStamp,
        limit: usize,
        after: Option<&FeedCursor>,
    ) -> Result<Page<SalesOrder>, ErpError> {
        let page = self
            .agent
            .changed_orders(since, limit, cursor_in(after)?.as_ref())
            .await?;
        Ok(page_of(
            &page.sales_orders,
            page.skipped,
            page.next,
            |h| h.sales_order_no.trim().to_string(),
            convert::sales_order,
        ))
    }

    async fn sales_order(&self, no: &SalesOrderNo) -> Result<Option<SalesOrder>, ErpError> {
        match self.agent.sales_order(no.as_str()).await {
            Ok(h) => Ok(Some(convert::sales_order(&h)?)),
            Err(SageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn missing_orders(&self, nos: &[SalesOrderNo]) -> Result<Vec<SalesOrderNo>, ErpError> {
        let asked: Vec<String> = nos.iter().map(ToString::to_string).collect();
        let (_, missing) = self.agent.orders_exist(&asked).await?;
        Ok(missing
            .iter()
            .filter_map(|m| SalesOrderNo::parse(m).ok())
            .collect())
    }

    async fn items(&self, codes: &[ItemCode]) -> Result<Vec<Item>, ErpError> {
        let asked: Vec<String> = codes.iter().map(ToString::to_string).collect();
        let (found, _missing) = self.agent.items(&asked, &self.item_udfs).await?;
        Ok(found.iter().map(convert::item).collect::<Result<_, _>>()?)
    }

    async fn customer_phone(
        &self,
        division: &str,
        customer_no: &str,
    ) -> Result<Option<String>, ErpError> {
        match self.soap.get_customer(division, customer_no).await {
            Ok(c) => Ok(c
                .get("TelephoneNo")
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())),
            Err(SageError::Fault { code, message })
                if self.soap.faults().is_not_on_file(&code, &message) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn changed_stock(
        &self,
        since: &ChangeStamp,
        limit: usize,
        after: Option<&FeedCursor>,
    ) -> Result<Page<StockLevel>, ErpError> {
        let page = self
            .agent
            .changed_item_warehouses(since, limit, cursor_in(after)?.as_ref())
            .await?;
        Ok(page_of(
            &page.item_warehouses,
            page.skipped,
            page.next,
            |r| format!("{}|{}", r.item_code.trim(), r.warehouse_code.trim()),
            convert::stock_level,
        ))
    }

    async fn invoices_of_order(&self, no: &SalesOrderNo) -> Result<Vec<Invoice>, ErpError> {
        Ok(self
            .agent
            .invoices_of_order(no.as_str())
            .await?
            .iter()
            .map(convert::invoice)
            .collect::<Result<_, _>>()?)
    }

    async fn write_invoice_tracking(
        &self,
        invoice: &InvoiceNo,
        update: &InvoiceTrackingUpdate,
    ) -> Result<(), ErpError> {
        let body = api::WriteTracking {
            packages: update
                .packages
                .iter()
                .map(|p| api::PackageRow {
                    package_no: p.package_no.clone(),
                    tracking_id: p.tracking_id.clone(),
                    starship_ship_via: Some(p.ship_via.clone()),
                    comment: Some(p.comment.clone()),
                    weight: None,
                    freight_amt: None,
                })
                .collect(),
            ship_date: update.ship_date.map(|d| d.format("%Y%m%d").to_string()),
            ship_via: update.ship_via.clone(),
            // Through BOI, string columns (UDFs included) are addressed with a trailing `$`.
            udfs: update
                .udfs
                .iter()
                .map(|(k, v)| (format!("{}$", k.trim_end_matches('$')), v.clone()))
                .collect(),
        };
        self.agent.write_tracking(invoice.as_str(), &body).await?;
        Ok(())
    }

    async fn remove_invoice_tracking(
        &self,
        invoice: &InvoiceNo,
        package_no: &str,
    ) -> Result<(), ErpError> {
        Ok(self
            .agent
            .remove_tracking(invoice.as_str(), package_no)
            .await?)
    }

    /// Sage's web services list a header's UDFs in `OtherFields` with the order (an order
    /// without any listed answers "cannot tell": an empty list is not proof of absence).
    async fn order_udf_names(
        &self,
        no: &SalesOrderNo,
    ) -> Result<Option<std::collections::BTreeSet<String>>, ErpError> {
        let order = self.soap.get_sales_order(no.as_str()).await?;
        Ok((!order.udfs.is_empty()).then(|| {
            order
                .udfs
                .into_keys()
                .map(|k| k.trim().to_ascii_uppercase())
                .collect()
        }))
    }

    async fn write_order_tracking(
        &self,
        no: &SalesOrderNo,
        ship_via: Option<&str>,
        udfs: &BTreeMap<String, String>,
    ) -> Result<OrderWrite, ErpError> {
        let mut fields = BTreeMap::new();
        if let Some(v) = ship_via {
            fields.insert("ShipVia".to_string(), v.to_string());
        }
        match self
            .soap
            .update_sales_order_fields(no.as_str(), &fields, udfs)
            .await
        {
            Ok(()) => Ok(OrderWrite::Written),
            Err(SageError::Fault { code, message })
                if self.soap.faults().is_not_on_file(&code, &message) =>
            {
                Ok(OrderWrite::NotOnFile(message))
            }
            Err(e) => Err(e.into()),
        }
    }
}
