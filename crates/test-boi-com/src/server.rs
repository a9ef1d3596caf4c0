//! The DLL's exports: the class factory for ProvideX.Script's class id.

use std::ffi::c_void;

use windows::core::{implement, Interface, Ref, BOOL, GUID, HRESULT};
use windows::Win32::Foundation::{
    CLASS_E_CLASSNOTAVAILABLE, CLASS_E_NOAGGREGATION, E_POINTER, S_FALSE,
};
use windows::Win32::System::Com::{IClassFactory, IClassFactory_Impl, IDispatch};

use crate::object::Obj;

/// The class id the test's .reg file gives ProvideX.Script (tests/connector/agent_windows_com.rs).
pub const CLSID: GUID = GUID::from_u128(0x6c1f0e2a_9d4b_4f6e_8a51_3b7c2d9e4f10);

#[implement(IClassFactory)]
struct Factory;

impl IClassFactory_Impl for Factory_Impl {
    fn CreateInstance(
        &self,
        outer: Ref<'_, windows::core::IUnknown>,
        iid: *const GUID,
        object: *mut *mut c_void,
    ) -> windows::core::Result<()> {
        if !outer.is_null() {
            return Err(CLASS_E_NOAGGREGATION.into());
        }
        let script: IDispatch = Obj::script().into();
        // SAFETY: the caller's iid and out pointer, as COM passes them.
        unsafe { script.query(iid, object).ok() }
    }

    fn LockServer(&self, _lock: BOOL) -> windows::core::Result<()> {
        Ok(())
    }
}

/// # Safety
/// Called by COM with valid pointers.
#[no_mangle]
pub unsafe extern "system" fn DllGetClassObject(
    clsid: *const GUID,
    iid: *const GUID,
    out: *mut *mut c_void,
) -> HRESULT {
    if out.is_null() || clsid.is_null() {
        return E_POINTER;
    }
    // SAFETY: checked non-null above.
    if unsafe { *clsid } != CLSID {
        return CLASS_E_CLASSNOTAVAILABLE;
    }
    let factory: IClassFactory = Factory.into();
    // SAFETY: as above.
    unsafe { factory.query(iid, out) }
}

/// Never unloaded while the process runs (the objects hold ODBC connections).
#[no_mangle]
pub extern "system" fn DllCanUnloadNow() -> HRESULT {
    S_FALSE
}
