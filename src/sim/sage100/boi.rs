//! The simulated BOI backend: COM-shaped objects over the simulator's tables, with injected
//! record locks, session set-up failures and slow calls.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Value};

use super::data::{check_value, Record};
use super::schema::{self, Column, Kind};
use super::{SageFaults, SageSim};
use mlc_agent::boi::{Boi, BoiSession, ObjectId};

/// Sage's text for a record another user holds by default (no verbatim source exists; see
/// ARCHITECTURE.md); `SageConfig::lock_message` words it otherwise, for SOAP and BOI alike.
pub const LOCKED_MESSAGE: &str = "The record is in use by another user.";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Table {
    SoHeader,
    SoDetail,
    Item,
    ItemWarehouse,
    InvoiceHeader,
    InvoiceTracking,
    HistoryHeader,
    HistoryTracking,
}

impl Table {
    fn of(object: &str) -> Option<(Table, bool, &'static str)> {
        // (table, editable, task context an editable object needs)
        Some(match object {
            "SO_SalesOrder_svc" => (Table::SoHeader, false, ""),
            "SO_SalesOrder_bus" => (Table::SoHeader, true, "SO_SalesOrder_ui"),
            "SO_SalesOrderDetail_svc" => (Table::SoDetail, false, ""),
            "CI_ItemCode_svc" => (Table::Item, false, ""),
            "IM_ItemWarehouse_svc" => (Table::ItemWarehouse, false, ""),
            "SO_Invoice_svc" => (Table::InvoiceHeader, false, ""),
            "SO_Invoice_bus" => (Table::InvoiceHeader, true, "SO_Invoice_ui"),
            "SO_InvoiceTracking_bus" => (Table::InvoiceTracking, true, "SO_Invoice_ui"),
            "SO_InvoiceTracking_svc" => (Table::InvoiceTracking, false, ""),
            "AR_InvoiceHistoryInquiry_svc" => (Table::HistoryHeader, false, ""),
            "AR_InvoiceHistoryTracking_svc" => (Table::HistoryTracking, false, ""),
            _ => return None,
        })
    }

    fn key_columns(self) -> &'static [&'static str] {
        match self {
            Table::SoHeader => &["SalesOrderNo"],
            Table::SoDetail => &["SalesOrderNo", "LineKey"],
            Table::Item => &["ItemCode"],
            Table::ItemWarehouse => &["ItemCode", "WarehouseCode"],
            Table::InvoiceHeader => &["InvoiceNo"],
            Table::InvoiceTracking => &["InvoiceNo", "PackageNo"],
            Table::HistoryHeader => &["InvoiceNo", "HeaderSeqNo"],
            Table::HistoryTracking => &["InvoiceNo", "HeaderSeqNo", "PackageNo"],
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Table::SoHeader => schema::SO_HEADER,
            Table::SoDetail => schema::SO_DETAIL,
            Table::Item => schema::CI_ITEM,
            Table::ItemWarehouse => schema::IM_ITEM_WAREHOUSE,
            Table::InvoiceHeader => schema::SO_INVOICE_HEADER,
            Table::HistoryHeader => schema::AR_HISTORY_HEADER,
            Table::InvoiceTracking => schema::INVOICE_TRACKING,
            Table::HistoryTracking => schema::AR_HISTORY_TRACKING,
        }
    }
}

fn key_string(parts: &[String]) -> String {
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    super::data::key(&refs)
}

struct Object {
    table: Table,
    editable: bool,
    key: BTreeMap<String, String>,
    record: Option<Record>,
    is_new: bool,
    filter: String,
    cursor: Vec<String>,
    position: usize,
    last_error: String,
}

pub struct SimBoi {
    sim: SageSim,
}

impl SimBoi {
    pub fn new(sim: SageSim) -> Self {
        Self { sim }
    }
}

impl Boi for SimBoi {
    fn open_session(
        &self,
        user: &str,
        password: &str,
        company: &str,
    ) -> Result<Box<dyn BoiSession>, String> {
        let faults = self.sim.faults();
        slow(&faults);
        if faults.session_fail_rate > 0.0 && rand::random::<f64>() < faults.session_fail_rate {
            return Err(
                "Unable to create the session: ProvideX.Script COM object not registered.".into(),
            );
        }
        if user != self.sim.cfg.username || password != self.sim.cfg.password {
            return Err("Invalid User Logon.".into());
        }
        if !self
            .sim
            .data
            .lock()
            .unwrap()
            .companies
            .contains_key(&company.to_ascii_uppercase())
        {
            return Err(format!("Company {company} is not a valid company code."));
        }
        Ok(Box::new(SimSession {
            sim: self.sim.clone(),
            company: company.to_ascii_uppercase(),
            module: String::new(),
            program: String::new(),
            objects: HashMap::new(),
            next: 1,
        }))
    }

    fn describe(&self) -> String {
        "simulated Business Object Interface".into()
    }
}

fn slow(f: &SageFaults) {
    if f.slow_ms > 0 {
        std::thread::sleep(Duration::from_millis(f.slow_ms));
    }
}

struct SimSession {
    sim: SageSim,
    company: String,
    module: String,
    program: String,
    objects: HashMap<ObjectId, Object>,
    next: ObjectId,
}

impl SimSession {
    fn obj(&mut self, o: ObjectId) -> Option<&mut Object> {
        self.objects.get_mut(&o)
    }

    /// Column name as addressed: strings need `$`, numbers must not have it.
    fn resolve_column(table: Table, addressed: &str) -> Result<(String, Column), String> {
        let bare = addressed.trim_end_matches('$');
        let spec = schema::column(table.columns(), bare)
            .ok_or_else(|| format!("Column {addressed} not found."))?;
        let wants_dollar = !matches!(spec.kind, Kind::Number);
        if wants_dollar != addressed.ends_with('$') {
            return Err(format!("Column {addressed} not found."));
        }
        let name = if spec.name == "UDF" {
            bare.to_ascii_uppercase()
        } else {
            spec.name.to_string()
        };
        Ok((name, spec))
    }

    fn with_table<R>(&self, table: Table, f: impl FnOnce(&mut super::data::Table) -> R) -> R {
        let mut data = self.sim.data.lock().unwrap();
        let co = data
            .companies
            .get_mut(&self.company)
            .expect("company exists");
        f(match table {
            Table::SoHeader => &mut co.so_header,
            Table::SoDetail => &mut co.so_detail,
            Table::Item => &mut co.ci_item,
            Table::ItemWarehouse => &mut co.im_item_warehouse,
            Table::InvoiceHeader => &mut co.so_invoice_header,
            Table::InvoiceTracking => &mut co.so_invoice_tracking,
            Table::HistoryHeader => &mut co.ar_history_header,
            Table::HistoryTracking => &mut co.ar_history_tracking,
        })
    }

    fn current_key(obj: &Object) -> Option<String> {
        let parts: Option<Vec<String>> = obj
            .table
            .key_columns()
            .iter()
            .map(|c| obj.key.get(*c).cloned())
            .collect();
        parts.map(|p| key_string(&p))
    }

    /// Whether another user holds the record (a held key or an injected lock); if so, the object's
    /// last error says it in the simulated Sage's wording.
    fn held_by_another(&mut self, o: ObjectId, table: Table, key: &str) -> bool {
        let f = self.sim.faults();
        let held = (f.lock_rate > 0.0 && rand::random::<f64>() < f.lock_rate)
            || self.sim.is_locked(&format!("{table:?}:{key}"));
        if held {
            self.obj(o).unwrap().last_error = self.sim.cfg.lock_message.clone();
        }
        held
    }
}

impl BoiSession for SimSession {
    fn set_module(&mut self, module: &str) -> i32 {
        if ["S/O", "A/R", "C/I", "I/M"].contains(&module) {
            self.module = module.to_string();
            1
        } else {
            0
        }
    }

    fn set_program(&mut self, task: &str) -> i32 {
        self.program = task.to_string();
        1
    }

    fn new_object(&mut self, name: &str) -> Result<ObjectId, String> {
        slow(&self.sim.faults());
        let (table, editable, task) =
            Table::of(name).ok_or_else(|| format!("Unable to create object {name}."))?;
        if editable && self.program != task {
            return Err(format!(
                "{name}: the task context {task} is not set (nSetProgram)."
            ));
        }
        let id = self.next;
        self.next += 1;
        self.objects.insert(
            id,
            Object {
                table,
                editable,
                key: BTreeMap::new(),
                record: None,
                is_new: false,
                filter: String::new(),
                cursor: vec![],
                position: 0,
                last_error: String::new(),
            },
        );
        Ok(id)
    }

    fn drop_object(&mut self, o: ObjectId) {
        self.objects.remove(&o);
    }

    fn set_key_value(&mut self, o: ObjectId, column: &str, value: &str) -> i32 {
        let Some(obj) = self.obj(o) else { return 0 };
        let bare = column.trim_end_matches('$');
        if !obj.table.key_columns().contains(&bare) || !column.ends_with('$') {
            obj.last_error = format!("Column {column} is not a key column.");
            return 0;
        }
        obj.key.insert(bare.to_string(), value.to_string());
        1
    }

    fn set_key(&mut self, o: ObjectId) -> i32 {
        slow(&self.sim.faults());
        let Some(obj) = self.objects.get(&o) else {
            return 0;
        };
        let (table, editable) = (obj.table, obj.editable);
        let Some(key) = Self::current_key(obj) else {
            self.obj(o).unwrap().last_error = "The key is not complete.".into();
            return 0;
        };
        if !editable {
            self.obj(o).unwrap().last_error = "This object is read only.".into();
            return 0;
        }
        if self.held_by_another(o, table, &key) {
            return 0;
        }
        let existing = self.with_table(table, |t| t.get(&key).cloned());
        let obj = self.obj(o).unwrap();
        match existing {
            Some(rec) => {
                obj.record = Some(rec);
                obj.is_new = false;
                1
            }
            None => {
                let mut rec = Record::new();
                for (k, v) in &obj.key {
                    rec.insert(k.clone(), json!(v));
                }
                obj.record = Some(rec);
                obj.is_new = true;
                2
            }
        }
    }

    fn find(&mut self, o: ObjectId) -> i32 {
        let Some(obj) = self.objects.get(&o) else {
            return 0;
        };
        let table = obj.table;
        let Some(key) = Self::current_key(obj) else {
            return 0;
        };
        let found = self.with_table(table, |t| t.get(&key).cloned());
        let obj = self.obj(o).unwrap();
        match found {
            Some(r) => {
                obj.record = Some(r);
                1
            }
            None => {
                obj.last_error = "Record not found.".into();
                0
            }
        }
    }

    fn set_value(&mut self, o: ObjectId, column: &str, value: &Value) -> i32 {
        let Some(obj) = self.obj(o) else { return 0 };
        let table = obj.table;
        let (name, _) = match Self::resolve_column(table, column) {
            Ok(x) => x,
            Err(e) => {
                obj.last_error = e;
                return 0;
            }
        };
        if obj.record.is_none() || !obj.editable {
            obj.last_error = "No record is being edited (call SetKey first).".into();
            return 0;
        }
        match check_value(table.columns(), &name, value) {
            Ok(v) => {
                obj.record.as_mut().unwrap().insert(name, v);
                1
            }
            Err(e) => {
                obj.last_error = e;
                0
            }
        }
    }

    fn get_value(&mut self, o: ObjectId, column: &str) -> (i32, Value) {
        let Some(obj) = self.obj(o) else {
            return (0, Value::Null);
        };
        let (name, spec) = match Self::resolve_column(obj.table, column) {
            Ok(x) => x,
            Err(e) => {
                obj.last_error = e;
                return (0, Value::Null);
            }
        };
        let Some(rec) = obj.record.as_ref() else {
            obj.last_error = "No current record.".into();
            return (0, Value::Null);
        };
        let default = if matches!(spec.kind, Kind::Number) {
            json!(0)
        } else {
            json!("")
        };
        (1, rec.get(&name).cloned().unwrap_or(default))
    }

    fn write(&mut self, o: ObjectId) -> i32 {
        slow(&self.sim.faults());
        let Some(obj) = self.objects.get(&o) else {
            return 0;
        };
        let table = obj.table;
        let (Some(key), Some(mut rec)) = (Self::current_key(obj), obj.record.clone()) else {
            self.obj(o).unwrap().last_error = "No record is being edited.".into();
            return 0;
        };
        if self.held_by_another(o, table, &key) {
            return 0;
        }
        {
            let data = self.sim.data.lock().unwrap();
            if matches!(table, Table::SoHeader | Table::Item | Table::ItemWarehouse) {
                data.touch(&mut rec);
            }
        }
        self.with_table(table, |t| t.insert(key, rec));
        let obj = self.obj(o).unwrap();
        obj.record = None;
        obj.is_new = false;
        1
    }

    fn clear(&mut self, o: ObjectId) -> i32 {
        if let Some(obj) = self.obj(o) {
            obj.record = None;
            obj.key.clear();
        }
        1
    }

    fn delete(&mut self, o: ObjectId) -> i32 {
        let Some(obj) = self.objects.get(&o) else {
            return 0;
        };
        let table = obj.table;
        let Some(key) = Self::current_key(obj) else {
            return 0;
        };
        if !obj.editable {
            self.obj(o).unwrap().last_error = "This object is read only.".into();
            return 0;
        }
        if self.held_by_another(o, table, &key) {
            return 0;
        }
        let removed = self.with_table(table, |t| t.remove(&key));
        let obj = self.obj(o).unwrap();
        obj.record = None;
        if removed.is_some() {
            1
        } else {
            obj.last_error = "Record not found.".into();
            0
        }
    }

    fn set_browse_filter(&mut self, o: ObjectId, prefix: &str) -> i32 {
        match self.obj(o) {
            Some(obj) => {
                obj.filter = prefix.to_string();
                1
            }
            None => 0,
        }
    }

    fn move_first(&mut self, o: ObjectId) -> i32 {
        let Some(obj) = self.objects.get(&o) else {
            return 0;
        };
        let (table, filter) = (obj.table, obj.filter.clone());
        let keys: Vec<String> = self.with_table(table, |t| {
            t.range(filter.clone()..)
                .take_while(|(k, _)| k.starts_with(&filter))
                .map(|(k, _)| k.clone())
                .collect()
        });
        let first = keys.first().cloned();
        let rec = first
            .as_ref()
            .and_then(|k| self.with_table(table, |t| t.get(k).cloned()));
        let obj = self.obj(o).unwrap();
        obj.cursor = keys;
        obj.position = 0;
        obj.record = rec;
        if obj.record.is_some() {
            1
        } else {
            0
        }
    }

    fn move_next(&mut self, o: ObjectId) -> i32 {
        let Some(obj) = self.obj(o) else { return 0 };
        obj.position += 1;
        let (table, key) = (obj.table, obj.cursor.get(obj.position).cloned());
        let rec = key.and_then(|k| self.with_table(table, |t| t.get(&k).cloned()));
        let obj = self.obj(o).unwrap();
        obj.record = rec;
        if obj.record.is_some() {
            1
        } else {
            0
        }
    }

    fn eof(&self, o: ObjectId) -> bool {
        self.objects
            .get(&o)
            .is_none_or(|obj| obj.position >= obj.cursor.len())
    }

    fn last_error(&self, o: ObjectId) -> String {
        self.objects
            .get(&o)
            .map(|obj| obj.last_error.clone())
            .unwrap_or_default()
    }
}

impl SageSim {
    /// The agent over this simulator: reads and writes through the simulated BOI, with the
    /// simulator's Sage user.
    pub fn agent_state(&self, api_key: Option<&str>) -> mlc_agent::api::AgentState {
        let pool = mlc_agent::pool::SessionPool::new(
            std::sync::Arc::new(SimBoi::new(self.clone())),
            self.cfg.username.clone(),
            mlc_secret::Secret::new(self.cfg.password.clone()),
            4,
        );
        mlc_agent::api::AgentState::over_boi(
            pool,
            api_key.map(mlc_secret::Secret::new),
            self.cfg.companies.clone(),
        )
    }
}
