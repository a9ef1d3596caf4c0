//! The Business Object Interface as the agent uses it, behind a trait. Return codes follow BOI:
//! 1 ok, 0 failure, -1 warning; `set_key` answers 1 for an existing record, 2 for a new one, 0 on
//! failure; the reason is in `last_error` (`sLastErrorMsg`). String columns are addressed with a
//! `$` suffix (`ItemCode$`), numeric ones without. Calls are synchronous, as COM is.
//!
//! The simulator implements it (`sim`, the demo's); on the customer's Windows server [`crate::com`]
//! implements it over `ProvideX.Script` by late binding (`com`, `odbc+com`).

use serde_json::Value;

pub type ObjectId = usize;

pub trait Boi: Send + Sync + 'static {
    /// `NewObject("SY_Session")`, `nSetUser`, `nSetCompany`, `nSetDate`. Err carries sLastErrorMsg.
    fn open_session(
        &self,
        user: &str,
        password: &str,
        company: &str,
    ) -> Result<Box<dyn BoiSession>, String>;
    /// What the backend is (for health answers).
    fn describe(&self) -> String;
}

pub trait BoiSession: Send {
    /// `nSetModule("S/O")` etc.
    fn set_module(&mut self, module: &str) -> i32;
    /// `nSetProgram(nLookupTask(task))`, e.g. `SO_Invoice_ui`.
    fn set_program(&mut self, task: &str) -> i32;
    /// `NewObject(name, oSS)`; entry (`_bus`) objects need the matching task context.
    fn new_object(&mut self, name: &str) -> Result<ObjectId, String>;
    fn drop_object(&mut self, o: ObjectId);
    fn set_key_value(&mut self, o: ObjectId, column: &str, value: &str) -> i32;
    /// Lock/load the keyed record: 1 existing, 2 new, 0 failed.
    fn set_key(&mut self, o: ObjectId) -> i32;
    /// Read the keyed record without editing: 1 found, 0 not.
    fn find(&mut self, o: ObjectId) -> i32;
    fn set_value(&mut self, o: ObjectId, column: &str, value: &Value) -> i32;
    fn get_value(&mut self, o: ObjectId, column: &str) -> (i32, Value);
    fn write(&mut self, o: ObjectId) -> i32;
    fn clear(&mut self, o: ObjectId) -> i32;
    fn delete(&mut self, o: ObjectId) -> i32;
    /// Restrict browsing to keys starting with `prefix` (e.g. a SalesOrderNo for its lines).
    fn set_browse_filter(&mut self, o: ObjectId, prefix: &str) -> i32;
    fn move_first(&mut self, o: ObjectId) -> i32;
    fn move_next(&mut self, o: ObjectId) -> i32;
    fn eof(&self, o: ObjectId) -> bool;
    fn last_error(&self, o: ObjectId) -> String;
    /// The session cannot be trusted any more (a COM call failed, its thread ended): the pool
    /// drops it instead of reusing it.
    fn broken(&self) -> bool {
        false
    }
}
