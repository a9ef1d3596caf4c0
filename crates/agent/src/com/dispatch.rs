//! Late binding over IDispatch, as a script host calls ProvideX.Script: a member's DISPID by name
//! (`GetIDsOfNames`), then `Invoke` with the arguments in reverse order (COM's rule).

use std::mem::ManuallyDrop;

use windows::core::{GUID, HSTRING, PCWSTR};
use windows::Win32::System::Com::{
    IDispatch, DISPATCH_FLAGS, DISPATCH_METHOD, DISPATCH_PROPERTYGET, DISPPARAMS, EXCEPINFO,
};
use windows::Win32::System::Variant::{VARIANT, VT_BYREF, VT_VARIANT};

use super::variant::Variant;

/// A failed COM call: the member and the HRESULT's text (never an argument: one is a password).
#[derive(Debug, thiserror::Error)]
#[error("COM call {member} failed: {message}")]
pub struct ComError {
    pub member: String,
    pub message: String,
}

/// One argument: by value, or by reference (the server fills the caller's VARIANT).
pub enum Arg<'a> {
    Value(Variant),
    Out(&'a mut Variant),
}

pub struct Dispatch(pub IDispatch);

/// LOCALE_USER_DEFAULT.
const LCID: u32 = 0x0400;

impl Dispatch {
    fn dispid(&self, member: &str) -> Result<i32, ComError> {
        let name = HSTRING::from(member);
        let names = [PCWSTR(name.as_ptr())];
        let mut id = 0i32;
        // SAFETY: one name in, one DISPID out; both live across the call.
        unsafe {
            self.0
                .GetIDsOfNames(&GUID::zeroed(), names.as_ptr(), 1, LCID, &mut id)
        }
        .map_err(|e| ComError {
            member: member.to_string(),
            message: e.message(),
        })?;
        Ok(id)
    }

    fn invoke(
        &self,
        member: &str,
        flags: DISPATCH_FLAGS,
        args: &mut [Arg<'_>],
    ) -> Result<Variant, ComError> {
        let id = self.dispid(member)?;
        // The VARIANTs handed to Invoke: copies of ours (still owned and cleared by them) or
        // VT_BYREF|VT_VARIANT pointers at the caller's slot. `VARIANT` clears itself on drop,
        // so the copies are never dropped: clearing a copy would release an object twice.
        let mut raw: Vec<ManuallyDrop<VARIANT>> = args
            .iter_mut()
            .rev()
            .map(|a| match a {
                // SAFETY: a bitwise copy the server only reads; the owner clears the original.
                Arg::Value(v) => ManuallyDrop::new(unsafe { std::mem::transmute_copy(&v.0) }),
                Arg::Out(slot) => {
                    let mut r = VARIANT::default();
                    // SAFETY: tagging a zeroed VARIANT as a reference to the caller's slot.
                    unsafe {
                        let inner = &mut *r.Anonymous.Anonymous;
                        inner.vt = VT_BYREF | VT_VARIANT;
                        inner.Anonymous.pvarVal = &mut slot.0;
                    }
                    ManuallyDrop::new(r)
                }
            })
            .collect();
        let params = DISPPARAMS {
            // ManuallyDrop is transparent: the same layout as VARIANT.
            rgvarg: raw.as_mut_ptr().cast::<VARIANT>(),
            rgdispidNamedArgs: std::ptr::null_mut(),
            cArgs: raw.len() as u32,
            cNamedArgs: 0,
        };
        let mut result = Variant::empty();
        let mut excep = EXCEPINFO::default();
        // SAFETY: every pointer lives until Invoke returns; the copies in `raw` are never cleared.
        let called = unsafe {
            self.0.Invoke(
                id,
                &GUID::zeroed(),
                LCID,
                flags,
                &params,
                Some(&mut result.0),
                Some(&mut excep),
                None,
            )
        };
        called.map_err(|e| {
            let detail = excep.bstrDescription.to_string();
            ComError {
                member: member.to_string(),
                message: if detail.is_empty() {
                    e.message()
                } else {
                    detail
                },
            }
        })?;
        Ok(result)
    }

    /// A method call, e.g. `nSetKey()`.
    pub fn call(&self, member: &str, args: &mut [Arg<'_>]) -> Result<Variant, ComError> {
        self.invoke(member, DISPATCH_METHOD, args)
    }

    /// A property read, e.g. `sLastErrorMsg`.
    pub fn get(&self, member: &str) -> Result<Variant, ComError> {
        self.invoke(member, DISPATCH_PROPERTYGET, &mut [])
    }
}

/// Arguments by value, for brevity.
pub fn vals<const N: usize>(v: [Variant; N]) -> [Arg<'static>; N] {
    v.map(Arg::Value)
}
