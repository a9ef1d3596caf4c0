//! Reading `Invoke`'s arguments (given in reverse order) and writing its answer.

use windows::core::BSTR;
use windows::Win32::System::Com::{IDispatch, DISPPARAMS};
use windows::Win32::System::Variant::{
    VariantChangeType, VariantClear, VARIANT, VAR_CHANGE_FLAGS, VT_BSTR, VT_BYREF, VT_DISPATCH,
    VT_I4, VT_R8, VT_VARIANT,
};

/// One argument as this server understands it.
pub enum In {
    Text(String),
    Object(IDispatch),
    /// VT_BYREF | VT_VARIANT: the caller's slot to fill (nGetValue).
    Out(*mut VARIANT),
}

/// An answer.
pub enum Out {
    Code(i32),
    Number(f64),
    Text(String),
    Object(IDispatch),
}

impl In {
    pub fn text(&self) -> String {
        match self {
            In::Text(s) => s.clone(),
            _ => String::new(),
        }
    }
}

/// The arguments in call order.
///
/// # Safety
/// `params` is Invoke's DISPPARAMS.
pub unsafe fn read(params: *const DISPPARAMS) -> Vec<In> {
    let Some(p) = (unsafe { params.as_ref() }) else {
        return vec![];
    };
    let mut out = Vec::with_capacity(p.cArgs as usize);
    for i in (0..p.cArgs as usize).rev() {
        // SAFETY: cArgs VARIANTs at rgvarg.
        let v = unsafe { &*p.rgvarg.add(i) };
        out.push(unsafe { one(v) });
    }
    out
}

unsafe fn one(v: &VARIANT) -> In {
    // SAFETY: each arm reads the member its tag names.
    unsafe {
        let inner = &v.Anonymous.Anonymous;
        if inner.vt == VT_BYREF | VT_VARIANT {
            return In::Out(inner.Anonymous.pvarVal);
        }
        if inner.vt == VT_DISPATCH {
            if let Some(d) = (*inner.Anonymous.pdispVal).clone() {
                return In::Object(d);
            }
        }
        if inner.vt == VT_BSTR {
            return In::Text(inner.Anonymous.bstrVal.to_string());
        }
        // Numbers and the rest: as text, as ProvideX coerces them.
        let mut text = VARIANT::default();
        if VariantChangeType(&mut text, v, VAR_CHANGE_FLAGS(0), VT_BSTR).is_ok() {
            // `text` clears itself on drop.
            return In::Text(text.Anonymous.Anonymous.Anonymous.bstrVal.to_string());
        }
        In::Text(String::new())
    }
}

/// Write `value` into a VARIANT the caller owns (clearing what it held).
///
/// # Safety
/// `slot` is null or a valid VARIANT.
pub unsafe fn write(slot: *mut VARIANT, value: Out) {
    let Some(slot) = (unsafe { slot.as_mut() }) else {
        return;
    };
    // SAFETY: clearing the caller's VARIANT, then setting a tag and its member.
    unsafe {
        let _ = VariantClear(slot);
        let inner = &mut *slot.Anonymous.Anonymous;
        match value {
            Out::Code(n) => {
                inner.vt = VT_I4;
                inner.Anonymous.lVal = n;
            }
            Out::Number(n) => {
                inner.vt = VT_R8;
                inner.Anonymous.dblVal = n;
            }
            Out::Text(s) => {
                inner.vt = VT_BSTR;
                inner.Anonymous.bstrVal = std::mem::ManuallyDrop::new(BSTR::from(s.as_str()));
            }
            Out::Object(d) => {
                inner.vt = VT_DISPATCH;
                inner.Anonymous.pdispVal = std::mem::ManuallyDrop::new(Some(d));
            }
        }
    }
}
