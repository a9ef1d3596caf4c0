//! SY_Session: the logon (`nSetUser`), the company (`nSetCompany`, which opens the company's
//! files), the date, the module and the task context (`nLookupTask` → `nSetProgram`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::args::{In, Out};
use crate::store::Store;

/// The tasks an entry (`_bus`) object may need; `nLookupTask` answers index + 1.
const TASKS: &[&str] = &["SO_SalesOrder_ui", "SO_Invoice_ui", "CI_ItemCode_ui"];

#[derive(Default)]
pub struct Session {
    pub user_ok: RefCell<bool>,
    pub store: RefCell<Option<Rc<Store>>>,
    pub program: RefCell<String>,
    pub last_error: RefCell<String>,
}

pub type SessionRef = Rc<Session>;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

impl Session {
    pub fn new() -> SessionRef {
        Rc::new(Session::default())
    }

    fn fail(&self, message: impl Into<String>) -> Option<Out> {
        *self.last_error.borrow_mut() = message.into();
        Some(Out::Code(0))
    }

    pub fn call(&self, member: &str, args: &[In]) -> Option<Out> {
        let arg = |i: usize| args.get(i).map(In::text).unwrap_or_default();
        match member {
            "sLastErrorMsg" => Some(Out::Text(self.last_error.borrow().clone())),
            "nSetUser" => {
                let ok =
                    arg(0) == env("MLC_TEST_BOI_USER") && arg(1) == env("MLC_TEST_BOI_PASSWORD");
                *self.user_ok.borrow_mut() = ok;
                if ok {
                    Some(Out::Code(1))
                } else {
                    self.fail("Invalid User Logon.")
                }
            }
            "nSetCompany" => {
                if !*self.user_ok.borrow() {
                    return self.fail("The user is not logged on (nSetUser).");
                }
                let company = arg(0).to_ascii_uppercase();
                let connection = env("MLC_TEST_BOI_CONNECTION").replace("{company}", &company);
                match Store::connect(&connection) {
                    Ok(store) => {
                        *self.store.borrow_mut() = Some(Rc::new(store));
                        Some(Out::Code(1))
                    }
                    Err(e) => self.fail(format!(
                        "Company {company} is not a valid company code. ({e})"
                    )),
                }
            }
            "nSetDate" => {
                let date = arg(1);
                if date.len() == 8 && date.chars().all(|c| c.is_ascii_digit()) {
                    Some(Out::Code(1))
                } else {
                    self.fail(format!("{date} is not a valid date."))
                }
            }
            "nSetModule" => {
                if ["S/O", "A/R", "C/I", "I/M"].contains(&arg(0).as_str()) {
                    Some(Out::Code(1))
                } else {
                    self.fail(format!("Module {} is not installed.", arg(0)))
                }
            }
            "nLookupTask" => match TASKS.iter().position(|t| t.eq_ignore_ascii_case(&arg(0))) {
                Some(i) => Some(Out::Code(i as i32 + 1)),
                None => self.fail(format!("Task {} not found.", arg(0))),
            },
            "nSetProgram" => {
                let task = arg(0)
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|n| TASKS.get((n as usize).checked_sub(1)?));
                match task {
                    Some(t) => {
                        *self.program.borrow_mut() = t.to_string();
                        Some(Out::Code(1))
                    }
                    None => self.fail("The program is not valid (nLookupTask failed)."),
                }
            }
            _ => None,
        }
    }
}
