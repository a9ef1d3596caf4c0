//! Where the agent's reads come from. The questions the connector asks (changed orders, one order,
//! items, stock, an order's invoices) are answered once, in [`queries`], over [`CompanyFiles`]: the
//! handful of table accesses a backend provides for one company. ODBC answers them with SQL (by key
//! where Sage has a key); the Business Object Interface by finding and browsing records.

pub mod boi;
pub mod feed;
pub mod queries;

use std::sync::mpsc;

use serde_json::{Map, Value};

use crate::failure::Failure;

/// A record as BOI's `GetValue` gives it: column name (`$` on string columns) → value.
pub type Row = Map<String, Value>;

/// The Sage 100 tables the agent reads, with their keys (../shared/reference/sage100.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SageTable {
    SalesOrderHeader,
    SalesOrderDetail,
    Item,
    ItemWarehouse,
    InvoiceHeader,
    InvoiceTracking,
    HistoryHeader,
    HistoryTracking,
}

impl SageTable {
    /// The table's name in SQL (ProvideX ODBC and SQL Server alike).
    pub fn sql_name(self) -> &'static str {
        match self {
            Self::SalesOrderHeader => "SO_SalesOrderHeader",
            Self::SalesOrderDetail => "SO_SalesOrderDetail",
            Self::Item => "CI_Item",
            Self::ItemWarehouse => "IM_ItemWarehouse",
            Self::InvoiceHeader => "SO_InvoiceHeader",
            Self::InvoiceTracking => "SO_InvoiceTracking",
            Self::HistoryHeader => "AR_InvoiceHistoryHeader",
            Self::HistoryTracking => "AR_InvoiceHistoryTracking",
        }
    }

    /// The read-only business object over the table.
    pub fn boi_object(self) -> &'static str {
        match self {
            Self::SalesOrderHeader => "SO_SalesOrder_svc",
            Self::SalesOrderDetail => "SO_SalesOrderDetail_svc",
            Self::Item => "CI_ItemCode_svc",
            Self::ItemWarehouse => "IM_ItemWarehouse_svc",
            Self::InvoiceHeader => "SO_Invoice_svc",
            Self::InvoiceTracking => "SO_InvoiceTracking_svc",
            Self::HistoryHeader => "AR_InvoiceHistoryInquiry_svc",
            Self::HistoryTracking => "AR_InvoiceHistoryTracking_svc",
        }
    }

    /// The primary key's columns, in key order.
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Self::SalesOrderHeader => &["SalesOrderNo"],
            Self::SalesOrderDetail => &["SalesOrderNo", "LineKey"],
            Self::Item => &["ItemCode"],
            Self::ItemWarehouse => &["ItemCode", "WarehouseCode"],
            Self::InvoiceHeader => &["InvoiceNo"],
            Self::InvoiceTracking => &["InvoiceNo", "PackageNo"],
            Self::HistoryHeader => &["InvoiceNo", "HeaderSeqNo"],
            Self::HistoryTracking => &["InvoiceNo", "HeaderSeqNo", "PackageNo"],
        }
    }
}

/// A posted invoice's key in A/R history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostedInvoice {
    pub invoice_no: String,
    pub header_seq_no: String,
}

/// One company's files, through one session or connection. Calls are synchronous (COM and ODBC
/// are); `cols` are contract column names (`$` on strings) and every row answers exactly those
/// the backend has.
pub trait CompanyFiles {
    /// Rows whose key starts with `key`: every key column gives one record, fewer a key range (an
    /// order's lines), in key order.
    fn by_key(
        &mut self,
        table: SageTable,
        key: &[&str],
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure>;
    /// Rows whose DateUpdated is on or after `date` (`YYYYMMDD`); time is compared by the caller.
    fn updated_since(
        &mut self,
        table: SageTable,
        date: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure>;
    /// Open (unposted) invoices of a sales order.
    fn open_invoices_of(
        &mut self,
        sales_order_no: &str,
        cols: &[&str],
    ) -> Result<Vec<Row>, Failure>;
    /// Posted invoices of a sales order.
    fn posted_invoices_of(&mut self, sales_order_no: &str) -> Result<Vec<PostedInvoice>, Failure>;
}

/// A work item for one company's files; it sends its own result.
pub type Work = Box<dyn FnOnce(&mut dyn CompanyFiles) + Send>;

/// A read backend: opens (or reuses) a company's session and runs work on a blocking thread.
#[async_trait::async_trait]
pub trait ReadBackend: Send + Sync + 'static {
    /// What the backend is (health answers).
    fn describe(&self) -> String;
    /// Run `work` with `company`'s files; Err when no session or connection could be had.
    async fn with_files(&self, company: &str, work: Work) -> Result<(), Failure>;
}

/// Run `f` over `company`'s files and return its result.
pub async fn run<R: Send + 'static>(
    backend: &dyn ReadBackend,
    company: &str,
    f: impl FnOnce(&mut dyn CompanyFiles) -> Result<R, Failure> + Send + 'static,
) -> Result<R, Failure> {
    let (tx, rx) = mpsc::channel();
    backend
        .with_files(
            company,
            Box::new(move |files| {
                let _ = tx.send(f(files));
            }),
        )
        .await?;
    rx.try_recv()
        .unwrap_or_else(|_| Err(Failure::session("the read was not carried out")))
}
