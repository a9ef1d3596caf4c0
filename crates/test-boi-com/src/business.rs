//! Business objects (`_bus` to edit, `_svc` to read) over one table: keys, edit buffer, write,
//! delete, browse; return codes and messages as BOI gives them (sage100.md §2.2).

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use crate::args::{self, In, Out};
use crate::session::SessionRef;
use crate::store::{quote, ColKind, Record, Store, StoreError};

/// The simulator's text for a record another user holds (the agent's retry keys on it).
pub const LOCKED: &str = "The record is in use by another user.";

/// A key value that makes the call fail at the COM level (an HRESULT, no BOI answer), as a
/// crashed or hung ProvideX server does: the agent must drop that session.
pub const COM_FAILURE_KEY: &str = "COM-ERR";

/// A call that fails below BOI (the caller sees an HRESULT).
pub struct ComFailure;

/// object → (table, key columns, editable, the task an editable object needs)
fn object(name: &str) -> Option<(&'static str, &'static [&'static str], bool, &'static str)> {
    Some(match name {
        "SO_SalesOrder_svc" => ("SO_SalesOrderHeader", &["SalesOrderNo"], false, ""),
        "SO_SalesOrder_bus" => (
            "SO_SalesOrderHeader",
            &["SalesOrderNo"],
            true,
            "SO_SalesOrder_ui",
        ),
        "SO_SalesOrderDetail_svc" => (
            "SO_SalesOrderDetail",
            &["SalesOrderNo", "LineKey"],
            false,
            "",
        ),
        "CI_ItemCode_svc" => ("CI_Item", &["ItemCode"], false, ""),
        "IM_ItemWarehouse_svc" => (
            "IM_ItemWarehouse",
            &["ItemCode", "WarehouseCode"],
            false,
            "",
        ),
        "SO_Invoice_svc" => ("SO_InvoiceHeader", &["InvoiceNo"], false, ""),
        "SO_Invoice_bus" => ("SO_InvoiceHeader", &["InvoiceNo"], true, "SO_Invoice_ui"),
        "SO_InvoiceTracking_svc" => ("SO_InvoiceTracking", &["InvoiceNo", "PackageNo"], false, ""),
        "SO_InvoiceTracking_bus" => (
            "SO_InvoiceTracking",
            &["InvoiceNo", "PackageNo"],
            true,
            "SO_Invoice_ui",
        ),
        "AR_InvoiceHistoryInquiry_svc" => (
            "AR_InvoiceHistoryHeader",
            &["InvoiceNo", "HeaderSeqNo"],
            false,
            "",
        ),
        "AR_InvoiceHistoryTracking_svc" => (
            "AR_InvoiceHistoryTracking",
            &["InvoiceNo", "HeaderSeqNo", "PackageNo"],
            false,
            "",
        ),
        _ => return None,
    })
}

pub struct Business {
    _session: SessionRef,
    store: Rc<Store>,
    table: &'static str,
    keys: &'static [&'static str],
    editable: bool,
    columns: Vec<(String, ColKind)>,
    key: HashMap<String, String>,
    record: Option<Record>,
    is_new: bool,
    changed: BTreeSet<String>,
    filter: String,
    rows: Vec<Record>,
    position: usize,
    last_error: String,
}

impl Business {
    pub fn new(name: &str, session: SessionRef) -> Result<Self, String> {
        let (table, keys, editable, task) =
            object(name).ok_or_else(|| format!("Unable to create object {name}."))?;
        if editable && *session.program.borrow() != task {
            return Err(format!(
                "{name}: the task context {task} is not set (nSetProgram)."
            ));
        }
        let store = session
            .store
            .borrow()
            .clone()
            .ok_or("No company is open (nSetCompany).")?;
        let columns = store.columns(table).map_err(|e| e.message)?;
        Ok(Self {
            _session: session,
            store,
            table,
            keys,
            editable,
            columns,
            key: HashMap::new(),
            record: None,
            is_new: false,
            changed: BTreeSet::new(),
            filter: String::new(),
            rows: vec![],
            position: 0,
            last_error: String::new(),
        })
    }

    fn fail(&mut self, message: impl Into<String>) -> Option<Out> {
        self.last_error = message.into();
        Some(Out::Code(0))
    }

    fn store_failed(&mut self, e: StoreError) -> Option<Out> {
        self.fail(if e.locked {
            LOCKED.to_string()
        } else {
            e.message
        })
    }

    /// A column as addressed: strings and dates take `$`, numbers must not.
    fn column(&self, addressed: &str) -> Result<(String, ColKind), String> {
        let bare = addressed.trim_end_matches('$').to_ascii_lowercase();
        let (name, kind) = self
            .columns
            .iter()
            .find(|(n, _)| *n == bare)
            .ok_or_else(|| format!("Column {addressed} not found."))?;
        if (*kind == ColKind::Number) == addressed.ends_with('$') {
            return Err(format!("Column {addressed} not found."));
        }
        Ok((name.clone(), *kind))
    }

    fn where_key(&self) -> Option<String> {
        let parts: Option<Vec<String>> = self
            .keys
            .iter()
            .map(|k| {
                let v = self.key.get(&k.to_ascii_lowercase())?;
                Some(format!("{k} = {}", quote(v)))
            })
            .collect();
        parts.map(|p| p.join(" AND "))
    }

    /// Another transaction holding the row makes this fail at once (NOWAIT).
    fn check_lock(&self, cond: &str) -> Result<(), StoreError> {
        self.store
            .any(&format!(
                "SELECT 1 FROM {} WHERE {cond} FOR UPDATE NOWAIT",
                self.table
            ))
            .map(|_| ())
    }

    fn literal(kind: ColKind, value: &Option<String>) -> String {
        match (kind, value.as_deref()) {
            (_, None) | (ColKind::Date, Some("")) => "NULL".into(),
            (ColKind::Number, Some("")) => "0".into(),
            (_, Some(v)) => quote(v),
        }
    }

    fn kind_of(&self, col: &str) -> ColKind {
        self.columns
            .iter()
            .find(|(n, _)| n == col)
            .map_or(ColKind::Text, |(_, k)| *k)
    }

    fn value_out(kind: ColKind, v: Option<&Option<String>>) -> Out {
        let text = v.cloned().flatten().unwrap_or_default();
        match kind {
            ColKind::Number => Out::Number(text.trim().parse().unwrap_or(0.0)),
            ColKind::Date => Out::Text(text.chars().filter(char::is_ascii_digit).take(8).collect()),
            ColKind::Text => Out::Text(text.trim_end().to_string()),
        }
    }

    /// `None`: not a member of this object. `Some(Err)`: the call failed at the COM level.
    pub fn call(&mut self, member: &str, args: &[In]) -> Option<Result<Out, ComFailure>> {
        if member == "nSetKeyValue" && args.get(1).map(In::text).as_deref() == Some(COM_FAILURE_KEY)
        {
            return Some(Err(ComFailure));
        }
        self.member(member, args).map(Ok)
    }

    fn member(&mut self, member: &str, args: &[In]) -> Option<Out> {
        let arg = |i: usize| args.get(i).map(In::text).unwrap_or_default();
        match member {
            "sLastErrorMsg" => Some(Out::Text(self.last_error.clone())),
            "nEOF" => Some(Out::Code(i32::from(self.position >= self.rows.len()))),
            "nSetKeyValue" => {
                let (column, value) = (arg(0), arg(1));
                let bare = column.trim_end_matches('$');
                if !column.ends_with('$') || !self.keys.iter().any(|k| k.eq_ignore_ascii_case(bare))
                {
                    return self.fail(format!("Column {column} is not a key column."));
                }
                self.key.insert(bare.to_ascii_lowercase(), value);
                Some(Out::Code(1))
            }
            "nSetKey" => {
                let Some(cond) = self.where_key() else {
                    return self.fail("The key is not complete.");
                };
                if !self.editable {
                    return self.fail("This object is read only.");
                }
                if let Err(e) = self.check_lock(&cond) {
                    return self.store_failed(e);
                }
                let found = match self
                    .store
                    .select(self.table, &self.columns, Some(&cond), "")
                {
                    Ok(rows) => rows.into_iter().next(),
                    Err(e) => return self.store_failed(e),
                };
                self.changed.clear();
                match found {
                    Some(rec) => {
                        self.record = Some(rec);
                        self.is_new = false;
                        Some(Out::Code(1))
                    }
                    None => {
                        let rec = self
                            .key
                            .iter()
                            .map(|(k, v)| (k.clone(), Some(v.clone())))
                            .collect();
                        self.record = Some(rec);
                        self.is_new = true;
                        self.changed = self.key.keys().cloned().collect();
                        Some(Out::Code(2))
                    }
                }
            }
            "nFind" => {
                let Some(cond) = self.where_key() else {
                    return self.fail("The key is not complete.");
                };
                match self
                    .store
                    .select(self.table, &self.columns, Some(&cond), "")
                {
                    Ok(rows) => match rows.into_iter().next() {
                        Some(r) => {
                            self.record = Some(r);
                            Some(Out::Code(1))
                        }
                        None => self.fail("Record not found."),
                    },
                    Err(e) => self.store_failed(e),
                }
            }
            "nSetValue" => {
                let (name, _) = match self.column(&arg(0)) {
                    Ok(c) => c,
                    Err(e) => return self.fail(e),
                };
                if !self.editable || self.record.is_none() {
                    return self.fail("No record is being edited (call SetKey first).");
                }
                self.record.as_mut()?.insert(name.clone(), Some(arg(1)));
                self.changed.insert(name);
                Some(Out::Code(1))
            }
            "nGetValue" => {
                let (name, kind) = match self.column(&arg(0)) {
                    Ok(c) => c,
                    Err(e) => return self.fail(e),
                };
                let Some(rec) = &self.record else {
                    return self.fail("No current record.");
                };
                let value = Self::value_out(kind, rec.get(&name));
                if let Some(In::Out(slot)) = args.get(1) {
                    // SAFETY: the caller's VT_BYREF|VT_VARIANT slot.
                    unsafe { args::write(*slot, value) };
                }
                Some(Out::Code(1))
            }
            "nWrite" => self.write(),
            "nClear" => {
                self.record = None;
                self.key.clear();
                self.changed.clear();
                Some(Out::Code(1))
            }
            "nDelete" => {
                let Some(cond) = self.where_key() else {
                    return self.fail("The key is not complete.");
                };
                if !self.editable {
                    return self.fail("This object is read only.");
                }
                if let Err(e) = self.check_lock(&cond) {
                    return self.store_failed(e);
                }
                let exists = match self
                    .store
                    .any(&format!("SELECT 1 FROM {} WHERE {cond}", self.table))
                {
                    Ok(found) => found,
                    Err(e) => return self.store_failed(e),
                };
                self.record = None;
                if !exists {
                    return self.fail("Record not found.");
                }
                match self
                    .store
                    .execute(&format!("DELETE FROM {} WHERE {cond}", self.table))
                {
                    Ok(()) => Some(Out::Code(1)),
                    Err(e) => self.store_failed(e),
                }
            }
            "nSetBrowseFilter" => {
                self.filter = arg(0);
                Some(Out::Code(1))
            }
            "nMoveFirst" => {
                let order = self.keys.join(", ");
                let rows = match self.store.select(self.table, &self.columns, None, &order) {
                    Ok(r) => r,
                    Err(e) => return self.store_failed(e),
                };
                let first = self.keys[0].to_ascii_lowercase();
                let filter = self.filter.clone();
                self.rows = rows
                    .into_iter()
                    .filter(|r| {
                        r.get(&first)
                            .cloned()
                            .flatten()
                            .unwrap_or_default()
                            .starts_with(&filter)
                    })
                    .collect();
                self.position = 0;
                self.record = self.rows.first().cloned();
                Some(Out::Code(i32::from(self.record.is_some())))
            }
            "nMoveNext" => {
                self.position += 1;
                self.record = self.rows.get(self.position).cloned();
                Some(Out::Code(i32::from(self.record.is_some())))
            }
            _ => None,
        }
    }

    fn write(&mut self) -> Option<Out> {
        let (Some(cond), Some(rec)) = (self.where_key(), self.record.clone()) else {
            return self.fail("No record is being edited.");
        };
        if !self.editable {
            return self.fail("This object is read only.");
        }
        if let Err(e) = self.check_lock(&cond) {
            return self.store_failed(e);
        }
        let sql = if self.is_new {
            let cols: Vec<&String> = self.changed.iter().collect();
            let values: Vec<String> = cols
                .iter()
                .map(|c| Self::literal(self.kind_of(c), rec.get(*c).unwrap_or(&None)))
                .collect();
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                self.table,
                cols.iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                values.join(", ")
            )
        } else if self.changed.is_empty() {
            String::new()
        } else {
            let sets: Vec<String> = self
                .changed
                .iter()
                .map(|c| {
                    format!(
                        "{c} = {}",
                        Self::literal(self.kind_of(c), rec.get(c).unwrap_or(&None))
                    )
                })
                .collect();
            format!("UPDATE {} SET {} WHERE {cond}", self.table, sets.join(", "))
        };
        if !sql.is_empty() {
            if let Err(e) = self.store.execute(&sql) {
                return self.store_failed(e);
            }
        }
        self.record = None;
        self.is_new = false;
        self.changed.clear();
        Some(Out::Code(1))
    }
}
