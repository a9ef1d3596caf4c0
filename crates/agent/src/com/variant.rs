//! An owned VARIANT (windows' `VARIANT` clears itself on drop: VariantClear) and the conversions BOI's arguments and answers need:
//! strings (BSTR), numbers, objects (IDispatch), and a by-reference slot for `nGetValue`.

use serde_json::Value;
use windows::core::BSTR;
use windows::Win32::System::Com::IDispatch;
use windows::Win32::System::Variant::{
    VariantChangeType, VARENUM, VARIANT, VAR_CHANGE_FLAGS, VT_BOOL, VT_BSTR, VT_DISPATCH, VT_EMPTY,
    VT_I2, VT_I4, VT_I8, VT_NULL, VT_R4, VT_R8,
};

pub struct Variant(pub VARIANT);

impl Variant {
    pub fn empty() -> Self {
        Self(VARIANT::default())
    }

    fn vt(&self) -> VARENUM {
        // SAFETY: `vt` is valid in every VARIANT.
        unsafe { self.0.Anonymous.Anonymous.vt }
    }

    pub fn text(s: &str) -> Self {
        let mut v = VARIANT::default();
        // SAFETY: writing the tag and its matching member of a zeroed VARIANT.
        unsafe {
            let inner = &mut *v.Anonymous.Anonymous;
            inner.vt = VT_BSTR;
            inner.Anonymous.bstrVal = std::mem::ManuallyDrop::new(BSTR::from(s));
        }
        Self(v)
    }

    pub fn number(n: f64) -> Self {
        let mut v = VARIANT::default();
        // SAFETY: as above.
        unsafe {
            let inner = &mut *v.Anonymous.Anonymous;
            inner.vt = VT_R8;
            inner.Anonymous.dblVal = n;
        }
        Self(v)
    }

    pub fn object(d: &IDispatch) -> Self {
        let mut v = VARIANT::default();
        // SAFETY: as above; the clone is an AddRef that VariantClear releases.
        unsafe {
            let inner = &mut *v.Anonymous.Anonymous;
            inner.vt = VT_DISPATCH;
            inner.Anonymous.pdispVal = std::mem::ManuallyDrop::new(Some(d.clone()));
        }
        Self(v)
    }

    /// A JSON value as BOI's SetValue takes it: text as a string, numbers as a double.
    pub fn from_json(v: &Value) -> Self {
        match v {
            Value::Number(n) => Self::number(n.as_f64().unwrap_or_default()),
            Value::String(s) => Self::text(s),
            Value::Bool(b) => Self::text(if *b { "Y" } else { "N" }),
            Value::Null => Self::text(""),
            other => Self::text(&other.to_string()),
        }
    }

    /// The answer as an integer (BOI's return codes), 0 when it is not a number.
    pub fn to_i32(&self) -> i32 {
        match self.to_json() {
            Value::Number(n) => n.as_f64().map(|f| f as i32).unwrap_or(0),
            Value::String(s) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    pub fn to_text(&self) -> String {
        match self.to_json() {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    pub fn to_dispatch(&self) -> Option<IDispatch> {
        if self.vt() != VT_DISPATCH {
            return None;
        }
        // SAFETY: the tag says pdispVal is the live member.
        unsafe { (*self.0.Anonymous.Anonymous.Anonymous.pdispVal).clone() }
    }

    /// Strings as JSON strings, numbers as JSON numbers, empty as null; other types through
    /// VariantChangeType to a string.
    pub fn to_json(&self) -> Value {
        let vt = self.vt();
        // SAFETY: each arm reads the member its tag names.
        unsafe {
            let a = &self.0.Anonymous.Anonymous.Anonymous;
            match vt {
                VT_EMPTY | VT_NULL => Value::Null,
                VT_BSTR => Value::String(a.bstrVal.to_string()),
                VT_I4 => Value::from(a.lVal),
                VT_I2 => Value::from(a.iVal),
                VT_I8 => Value::from(a.llVal),
                VT_R8 => serde_json::Number::from_f64(a.dblVal).map_or(Value::Null, Value::Number),
                VT_R4 => serde_json::Number::from_f64(f64::from(a.fltVal))
                    .map_or(Value::Null, Value::Number),
                VT_BOOL => Value::from(i32::from(a.boolVal.0 != 0)),
                _ => {
                    let mut out = Variant::empty();
                    match VariantChangeType(&mut out.0, &self.0, VAR_CHANGE_FLAGS(0), VT_BSTR) {
                        Ok(()) => out.to_json(),
                        Err(_) => Value::Null,
                    }
                }
            }
        }
    }
}
