//! The COM backend (Windows only): the [`Boi`] traits over Sage's `ProvideX.Script` by late
//! binding. Each session is a ProvideX.Script + SY_Session on its own STA thread ([`sta`]);
//! the pool reuses sessions and drops one after a COM failure ([`BoiSession::broken`]).

mod dispatch;
mod sage;
mod sta;
mod variant;

use serde_json::Value;

use crate::boi::{Boi, BoiSession, ObjectId};
use sage::{Logon, Sage};
use sta::StaSession;
use variant::Variant;

/// Sessions over ProvideX.Script.
pub struct ComBoi {
    /// Sage's `MAS90\Home` folder for `Init` (none: the COM server's own default).
    pub home: Option<String>,
}

impl Boi for ComBoi {
    fn open_session(
        &self,
        user: &str,
        password: &str,
        company: &str,
    ) -> Result<Box<dyn BoiSession>, String> {
        let logon = Logon {
            home: self.home.clone(),
            user: user.to_string(),
            password: mlc_secret::Secret::new(password.to_string()),
            company: company.to_string(),
        };
        let session = StaSession::start(move || Sage::open(logon))?;
        Ok(Box::new(ComSession(session)))
    }

    fn describe(&self) -> String {
        "Business Object Interface over COM (ProvideX.Script)".into()
    }
}

struct ComSession(StaSession);

impl ComSession {
    /// An object member with string arguments, answering BOI's code (0 when the thread is gone).
    fn rc(&self, o: ObjectId, member: &'static str, args: Vec<String>) -> i32 {
        self.0
            .exec(move |s| {
                let mut args: Vec<_> = args
                    .iter()
                    .map(|a| dispatch::Arg::Value(Variant::text(a)))
                    .collect();
                s.rc(o, member, &mut args)
            })
            .unwrap_or(0)
    }
}

impl BoiSession for ComSession {
    fn set_module(&mut self, module: &str) -> i32 {
        let module = module.to_string();
        self.0.exec(move |s| s.set_module(&module)).unwrap_or(0)
    }

    fn set_program(&mut self, task: &str) -> i32 {
        let task = task.to_string();
        self.0.exec(move |s| s.set_program(&task)).unwrap_or(0)
    }

    fn new_object(&mut self, name: &str) -> Result<ObjectId, String> {
        let name = name.to_string();
        self.0
            .exec(move |s| s.new_object(&name))
            .unwrap_or_else(|| Err("the BOI session ended".into()))
    }

    fn drop_object(&mut self, o: ObjectId) {
        self.0.exec(move |s| s.drop_object(o));
    }

    fn set_key_value(&mut self, o: ObjectId, column: &str, value: &str) -> i32 {
        self.rc(o, "nSetKeyValue", vec![column.into(), value.into()])
    }

    fn set_key(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nSetKey", vec![])
    }

    fn find(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nFind", vec![])
    }

    fn set_value(&mut self, o: ObjectId, column: &str, value: &Value) -> i32 {
        let (column, value) = (column.to_string(), value.clone());
        self.0
            .exec(move |s| {
                s.rc(
                    o,
                    "nSetValue",
                    &mut dispatch::vals([Variant::text(&column), Variant::from_json(&value)]),
                )
            })
            .unwrap_or(0)
    }

    fn get_value(&mut self, o: ObjectId, column: &str) -> (i32, Value) {
        let column = column.to_string();
        self.0
            .exec(move |s| s.get_value(o, &column))
            .unwrap_or((0, Value::Null))
    }

    fn write(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nWrite", vec![])
    }

    fn clear(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nClear", vec![])
    }

    fn delete(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nDelete", vec![])
    }

    fn set_browse_filter(&mut self, o: ObjectId, prefix: &str) -> i32 {
        self.rc(o, "nSetBrowseFilter", vec![prefix.into()])
    }

    fn move_first(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nMoveFirst", vec![])
    }

    fn move_next(&mut self, o: ObjectId) -> i32 {
        self.rc(o, "nMoveNext", vec![])
    }

    fn eof(&self, o: ObjectId) -> bool {
        self.0.exec(move |s| s.eof(o)).unwrap_or(true)
    }

    fn last_error(&self, o: ObjectId) -> String {
        self.0
            .exec(move |s| s.last_error(o))
            .unwrap_or_else(|| "the BOI session ended".into())
    }

    fn broken(&self) -> bool {
        self.0.broken()
    }
}
