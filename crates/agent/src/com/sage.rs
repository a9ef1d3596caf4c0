//! ProvideX.Script and one SY_Session, on the session's STA thread: the bootstrap of
//! ../shared/reference/sage100.md §2.1 and the business objects' members, by late binding.

use std::collections::HashMap;

use serde_json::Value;
use windows::core::w;
use windows::Win32::System::Com::{CLSIDFromProgID, CoCreateInstance, IDispatch, CLSCTX_ALL};
use windows::Win32::System::SystemInformation::GetLocalTime;

use super::dispatch::{vals, Arg, ComError, Dispatch};
use super::variant::Variant;
use crate::boi::ObjectId;

/// What a session is opened with. The password is used for `nSetUser` and nowhere else.
pub struct Logon {
    pub home: Option<String>,
    pub user: String,
    pub password: mlc_secret::Secret,
    pub company: String,
}

pub struct Sage {
    script: Dispatch,
    session: Dispatch,
    objects: HashMap<ObjectId, Dispatch>,
    next: ObjectId,
    /// The COM failure of an object's last call (BOI's own message is in sLastErrorMsg).
    failures: HashMap<ObjectId, String>,
    /// The COM failure that broke this session: no further call is made on it, and the pool
    /// recycles it.
    pub broken: Option<String>,
}

fn text(s: &str) -> Variant {
    Variant::text(s)
}

/// The site's date as Sage takes it (YYYYMMDD, local time).
fn today() -> String {
    // SAFETY: no arguments; returns a plain struct.
    let t = unsafe { GetLocalTime() };
    format!("{:04}{:02}{:02}", t.wYear, t.wMonth, t.wDay)
}

impl Sage {
    /// `CreateObject("ProvideX.Script")`, `Init(home)`, `NewObject("SY_Session")`, `nSetUser`,
    /// `nSetCompany`, `nSetDate`, `nSetModule("S/O")`. The error names the step and gives
    /// `sLastErrorMsg`.
    pub fn open(logon: Logon) -> Result<Self, String> {
        // SAFETY: COM is initialised on this thread (StaSession::start).
        let clsid = unsafe { CLSIDFromProgID(w!("ProvideX.Script")) }
            .map_err(|_| "ProvideX.Script COM object not registered: is Sage 100's workstation software installed on this server?".to_string())?;
        // SAFETY: as above.
        let script: IDispatch = unsafe { CoCreateInstance(&clsid, None, CLSCTX_ALL) }
            .map_err(|e| format!("cannot start ProvideX.Script: {}", e.message()))?;
        let script = Dispatch(script);
        let com = |e: ComError| e.to_string();
        if let Some(home) = &logon.home {
            script.call("Init", &mut vals([text(home)])).map_err(com)?;
        }
        let session = script
            .call("NewObject", &mut vals([text("SY_Session")]))
            .map_err(com)?
            .to_dispatch()
            .ok_or("NewObject(\"SY_Session\") returned no object")?;
        let session = Dispatch(session);
        let step = |what: &str, rc: Result<Variant, ComError>| -> Result<(), String> {
            let rc = rc.map_err(com)?.to_i32();
            if rc == 1 {
                return Ok(());
            }
            let why = session
                .get("sLastErrorMsg")
                .map(|v| v.to_text())
                .unwrap_or_default();
            Err(format!("{what} failed: {why}"))
        };
        step(
            "nSetUser",
            session.call(
                "nSetUser",
                &mut vals([text(&logon.user), text(logon.password.expose())]),
            ),
        )?;
        step(
            "nSetCompany",
            session.call("nSetCompany", &mut vals([text(&logon.company)])),
        )?;
        step(
            "nSetDate",
            session.call("nSetDate", &mut vals([text("S/O"), text(&today())])),
        )?;
        step(
            "nSetModule",
            session.call("nSetModule", &mut vals([text("S/O")])),
        )?;
        Ok(Self {
            script,
            session,
            objects: HashMap::new(),
            next: 1,
            failures: HashMap::new(),
            broken: None,
        })
    }

    /// A COM failure: remembered for `last_error`, and the session marked for recycling.
    fn failed(&mut self, o: ObjectId, e: ComError) -> i32 {
        tracing::warn!(error = %e, "BOI call failed");
        let message = e.to_string();
        self.broken = Some(message.clone());
        self.failures.insert(o, message);
        0
    }

    /// A broken session answers every call with its failure instead of calling COM again.
    fn refuse(&mut self, o: ObjectId) -> Option<i32> {
        let reason = self.broken.clone()?;
        self.failures.insert(o, reason);
        Some(0)
    }

    /// A session member returning BOI's code.
    fn session_rc(&mut self, member: &str, args: &mut [Arg<'_>]) -> i32 {
        if let Some(rc) = self.refuse(0) {
            return rc;
        }
        match self.session.call(member, args) {
            Ok(v) => v.to_i32(),
            Err(e) => self.failed(0, e),
        }
    }

    /// An object's member returning BOI's code.
    pub fn rc(&mut self, o: ObjectId, member: &str, args: &mut [Arg<'_>]) -> i32 {
        self.failures.remove(&o);
        if let Some(rc) = self.refuse(o) {
            return rc;
        }
        let Some(obj) = self.objects.get(&o) else {
            return 0;
        };
        match obj.call(member, args) {
            Ok(v) => v.to_i32(),
            Err(e) => self.failed(o, e),
        }
    }

    pub fn set_module(&mut self, module: &str) -> i32 {
        self.session_rc("nSetModule", &mut vals([text(module)]))
    }

    /// `nSetProgram(nLookupTask(task))`.
    pub fn set_program(&mut self, task: &str) -> i32 {
        if let Some(rc) = self.refuse(0) {
            return rc;
        }
        let id = match self.session.call("nLookupTask", &mut vals([text(task)])) {
            Ok(v) => v,
            Err(e) => return self.failed(0, e),
        };
        self.session_rc("nSetProgram", &mut [Arg::Value(id)])
    }

    /// `NewObject(name, oSS)`.
    pub fn new_object(&mut self, name: &str) -> Result<ObjectId, String> {
        if let Some(reason) = &self.broken {
            return Err(reason.clone());
        }
        let made = self.script.call(
            "NewObject",
            &mut vals([text(name), Variant::object(&self.session.0)]),
        );
        match made {
            Ok(v) => match v.to_dispatch() {
                Some(d) => {
                    let id = self.next;
                    self.next += 1;
                    self.objects.insert(id, Dispatch(d));
                    Ok(id)
                }
                None => {
                    let why = self
                        .script
                        .get("sLastErrorMsg")
                        .map(|v| v.to_text())
                        .unwrap_or_default();
                    Err(if why.is_empty() {
                        format!("Unable to create object {name}.")
                    } else {
                        why
                    })
                }
            },
            Err(e) => {
                let message = e.to_string();
                self.failed(0, e);
                Err(message)
            }
        }
    }

    pub fn drop_object(&mut self, o: ObjectId) {
        self.objects.remove(&o);
        self.failures.remove(&o);
    }

    /// `nGetValue(column, byref value)`.
    pub fn get_value(&mut self, o: ObjectId, column: &str) -> (i32, Value) {
        let mut out = Variant::empty();
        let rc = self.rc(
            o,
            "nGetValue",
            &mut [Arg::Value(text(column)), Arg::Out(&mut out)],
        );
        (rc, if rc == 1 { out.to_json() } else { Value::Null })
    }

    /// `nEOF` (a property: 1 at the end).
    pub fn eof(&mut self, o: ObjectId) -> bool {
        let Some(obj) = self.objects.get(&o).filter(|_| self.broken.is_none()) else {
            return true;
        };
        match obj.get("nEOF") {
            Ok(v) => v.to_i32() != 0,
            Err(e) => {
                self.failed(o, e);
                true
            }
        }
    }

    /// The COM failure of the object's last call, else its `sLastErrorMsg`.
    pub fn last_error(&mut self, o: ObjectId) -> String {
        if let Some(f) = self.failures.get(&o) {
            return f.clone();
        }
        match self.objects.get(&o).map(|obj| obj.get("sLastErrorMsg")) {
            Some(Ok(v)) => v.to_text(),
            Some(Err(e)) => {
                let message = e.to_string();
                self.failed(o, e);
                message
            }
            None => String::new(),
        }
    }
}
