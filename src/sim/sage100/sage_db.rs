//! The simulator's company file copied into a PostgreSQL database shaped like Sage 100's (tables and
//! columns named and typed as Sage's, from the simulator's layouts), for the agent's ODBC backend in tests and benchmarks:
//! read through unixODBC and the PostgreSQL ODBC driver, it stands in for the ProvideX DSN.

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use super::data::{Company, Table};
use super::schema::{self, Column, Kind};

/// A Sage table: its SQL name, layout and primary key.
pub struct SageTableDef {
    pub name: &'static str,
    pub columns: &'static [Column],
    pub key: &'static [&'static str],
}

pub const TABLES: &[SageTableDef] = &[
    SageTableDef {
        name: "SO_SalesOrderHeader",
        columns: schema::SO_HEADER,
        key: &["SalesOrderNo"],
    },
    SageTableDef {
        name: "SO_SalesOrderDetail",
        columns: schema::SO_DETAIL,
        key: &["SalesOrderNo", "LineKey"],
    },
    SageTableDef {
        name: "CI_Item",
        columns: schema::CI_ITEM,
        key: &["ItemCode"],
    },
    SageTableDef {
        name: "IM_ItemWarehouse",
        columns: schema::IM_ITEM_WAREHOUSE,
        key: &["ItemCode", "WarehouseCode"],
    },
    SageTableDef {
        name: "SO_InvoiceHeader",
        columns: schema::SO_INVOICE_HEADER,
        key: &["InvoiceNo"],
    },
    SageTableDef {
        name: "SO_InvoiceTracking",
        columns: schema::INVOICE_TRACKING,
        key: &["InvoiceNo", "PackageNo"],
    },
    SageTableDef {
        name: "AR_InvoiceHistoryHeader",
        columns: schema::AR_HISTORY_HEADER,
        key: &["InvoiceNo", "HeaderSeqNo"],
    },
    SageTableDef {
        name: "AR_InvoiceHistoryTracking",
        columns: schema::AR_HISTORY_TRACKING,
        key: &["InvoiceNo", "HeaderSeqNo", "PackageNo"],
    },
    SageTableDef {
        name: "SO_ARInvoiceHistoryLink",
        columns: schema::SO_AR_HISTORY_LINK,
        key: &[
            "SalesOrderNo",
            "SequenceNo",
            "InvoiceNo",
            "InvoiceHistoryHeaderSeqNo",
            "InvoiceHistoryDetailSeqNo",
        ],
    },
];

fn sql_type(kind: Kind) -> String {
    match kind {
        Kind::Char(n) => format!("varchar({})", n.max(1)),
        Kind::Date => "date".into(),
        Kind::Number => "numeric(17,6)".into(),
    }
}

/// `CREATE TABLE` for every Sage table the agent reads (names unquoted: PostgreSQL folds them,
/// and so do the agent's unquoted statements).
pub fn ddl() -> Vec<String> {
    TABLES
        .iter()
        .map(|t| {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("{} {}", c.name, sql_type(c.kind)))
                .collect();
            format!(
                "CREATE TABLE {} ({}, PRIMARY KEY ({}))",
                t.name,
                cols.join(", "),
                t.key.join(", ")
            )
        })
        .collect()
}

fn table_of<'a>(co: &'a Company, name: &str) -> &'a Table {
    match name {
        "SO_SalesOrderHeader" => &co.so_header,
        "SO_SalesOrderDetail" => &co.so_detail,
        "CI_Item" => &co.ci_item,
        "IM_ItemWarehouse" => &co.im_item_warehouse,
        "SO_InvoiceHeader" => &co.so_invoice_header,
        "SO_InvoiceTracking" => &co.so_invoice_tracking,
        "AR_InvoiceHistoryHeader" => &co.ar_history_header,
        "AR_InvoiceHistoryTracking" => &co.ar_history_tracking,
        "SO_ARInvoiceHistoryLink" => &co.so_ar_history_link,
        other => unreachable!("no table {other}"),
    }
}

/// A simulator value as SQL text: `None` is NULL (an empty date is NULL in SQL).
fn sql_text(kind: Kind, v: Option<&Value>) -> Option<String> {
    let text = match v? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "Y" } else { "N" }.to_string(),
        _ => return None,
    };
    match kind {
        Kind::Date if text.trim().is_empty() => None,
        Kind::Number if text.trim().is_empty() => Some("0".into()),
        _ => Some(text),
    }
}

fn placeholder(kind: Kind, n: usize) -> String {
    match kind {
        Kind::Char(_) => format!("${n}"),
        Kind::Date => format!("to_date(${n}, 'YYYYMMDD')"),
        Kind::Number => format!("${n}::numeric"),
    }
}

/// Create the tables in the (empty) database at `url` and copy one simulated company into them.
pub async fn load_company(url: &str, company: &Company) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    for stmt in ddl() {
        sqlx::query(&stmt).execute(&mut conn).await?;
    }
    // A connection of its own, not pooled: given up early, it closes with its transaction.
    #[allow(clippy::disallowed_methods)]
    let mut tx = conn.begin().await?;
    for t in TABLES {
        let names: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        let holders: Vec<String> = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| placeholder(c.kind, i + 1))
            .collect();
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            t.name,
            names.join(", "),
            holders.join(", ")
        );
        for row in table_of(company, t.name).values() {
            let mut q = sqlx::query(&insert);
            for c in t.columns {
                q = q.bind(sql_text(c.kind, row.get(c.name)));
            }
            q.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// The pieces of a PostgreSQL URL an ODBC connection string needs.
pub struct OdbcTarget {
    /// The database's URL (for loading and changing it with sqlx).
    pub url: String,
    /// Host name, or the socket folder of a local server.
    pub server: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
}

impl OdbcTarget {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let u = url::Url::parse(url)?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let server = match u.host_str() {
            Some(h) if !h.is_empty() => decode(h),
            _ => u
                .query_pairs()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| "localhost".into()),
        };
        Ok(Self {
            url: url.to_string(),
            server,
            port: u.port().unwrap_or(5432),
            database: u.path().trim_start_matches('/').to_string(),
            user: decode(u.username()),
            password: u.password().map(decode).unwrap_or_default(),
        })
    }

    /// The attributes of a psqlODBC data source (a DSN section, or a DSN-less string), without
    /// the user and password (the agent adds those as UID and PWD).
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Servername", self.server.clone()),
            ("Port", self.port.to_string()),
            ("Database", self.database.clone()),
        ]
    }

    /// A DSN-less connection string through the driver named in /etc/odbcinst.ini.
    pub fn connection_string(&self) -> String {
        let mut s = "Driver={PostgreSQL Unicode};".to_string();
        for (k, v) in self.attributes() {
            s.push_str(&format!("{k}={v};"));
        }
        s
    }
}
