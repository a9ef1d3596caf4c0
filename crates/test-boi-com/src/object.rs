//! The one COM class behind every object this server hands out (the script, SY_Session,
//! business objects): IDispatch with names resolved from a fixed list of BOI members.

use std::cell::RefCell;

use windows::core::{implement, Interface, GUID, PCWSTR};
use windows::Win32::Foundation::{
    DISP_E_MEMBERNOTFOUND, DISP_E_UNKNOWNNAME, E_NOTIMPL, RPC_E_DISCONNECTED,
};
use windows::Win32::System::Com::{
    IDispatch, IDispatch_Impl, ITypeInfo, DISPATCH_FLAGS, DISPPARAMS, EXCEPINFO,
};
use windows::Win32::System::Variant::VARIANT;

use crate::args::{self, In, Out};
use crate::business::{Business, ComFailure};
use crate::session::{Session, SessionRef};

/// Every member any object answers to; its DISPID is its index + 1. Names are matched without
/// regard to case, as COM does.
const MEMBERS: &[&str] = &[
    "Init",
    "NewObject",
    "sLastErrorMsg",
    "nSetUser",
    "nSetCompany",
    "nSetDate",
    "nSetModule",
    "nLookupTask",
    "nSetProgram",
    "nSetKeyValue",
    "nSetKey",
    "nFind",
    "nSetValue",
    "nGetValue",
    "nWrite",
    "nClear",
    "nDelete",
    "nSetBrowseFilter",
    "nMoveFirst",
    "nMoveNext",
    "nEOF",
];

pub enum Kind {
    Script { last_error: String },
    Session(SessionRef),
    Business(Box<Business>),
}

#[implement(IDispatch)]
pub struct Obj(pub RefCell<Kind>);

impl Obj {
    pub fn script() -> Self {
        Obj(RefCell::new(Kind::Script {
            last_error: String::new(),
        }))
    }
}

/// The session behind an `oSS` argument, when it is one of ours.
fn session_of(d: &IDispatch) -> Option<SessionRef> {
    let obj = d.cast_object_ref::<Obj>().ok()?;
    match &*obj.0.borrow() {
        Kind::Session(s) => Some(s.clone()),
        _ => None,
    }
}

impl Obj {
    fn call(&self, member: &str, args: &[In]) -> Result<Out, windows::core::Error> {
        let mut kind = self.0.borrow_mut();
        match &mut *kind {
            Kind::Script { last_error } => match member {
                "Init" => Ok(Out::Code(1)),
                "sLastErrorMsg" => Ok(Out::Text(last_error.clone())),
                "NewObject" => {
                    let name = args.first().map(In::text).unwrap_or_default();
                    if name == "SY_Session" {
                        return Ok(Out::Object(
                            Obj(RefCell::new(Kind::Session(Session::new()))).into(),
                        ));
                    }
                    let session = args.get(1).and_then(|a| match a {
                        In::Object(d) => session_of(d),
                        _ => None,
                    });
                    let Some(session) = session else {
                        *last_error = format!("{name}: no session object was given.");
                        return Ok(Out::Code(0));
                    };
                    match Business::new(&name, session) {
                        Ok(b) => Ok(Out::Object(
                            Obj(RefCell::new(Kind::Business(Box::new(b)))).into(),
                        )),
                        Err(e) => {
                            *last_error = e;
                            Ok(Out::Code(0))
                        }
                    }
                }
                _ => Err(DISP_E_MEMBERNOTFOUND.into()),
            },
            Kind::Session(s) => s.call(member, args).ok_or(DISP_E_MEMBERNOTFOUND.into()),
            Kind::Business(b) => match b.call(member, args) {
                Some(Ok(out)) => Ok(out),
                Some(Err(ComFailure)) => Err(RPC_E_DISCONNECTED.into()),
                None => Err(DISP_E_MEMBERNOTFOUND.into()),
            },
        }
    }
}

impl IDispatch_Impl for Obj_Impl {
    fn GetTypeInfoCount(&self) -> windows::core::Result<u32> {
        Ok(0)
    }

    fn GetTypeInfo(&self, _itinfo: u32, _lcid: u32) -> windows::core::Result<ITypeInfo> {
        Err(E_NOTIMPL.into())
    }

    fn GetIDsOfNames(
        &self,
        _riid: *const GUID,
        names: *const PCWSTR,
        count: u32,
        _lcid: u32,
        ids: *mut i32,
    ) -> windows::core::Result<()> {
        let mut unknown = false;
        for i in 0..count as usize {
            // SAFETY: `count` names in, `count` ids out.
            let name = unsafe { (*names.add(i)).to_string() }.unwrap_or_default();
            let id = MEMBERS
                .iter()
                .position(|m| m.eq_ignore_ascii_case(&name))
                .map_or(-1, |p| p as i32 + 1);
            unknown |= id < 0;
            // SAFETY: as above.
            unsafe { *ids.add(i) = id };
        }
        if unknown {
            Err(DISP_E_UNKNOWNNAME.into())
        } else {
            Ok(())
        }
    }

    fn Invoke(
        &self,
        id: i32,
        _riid: *const GUID,
        _lcid: u32,
        _flags: DISPATCH_FLAGS,
        params: *const DISPPARAMS,
        result: *mut VARIANT,
        _excep: *mut EXCEPINFO,
        _argerr: *mut u32,
    ) -> windows::core::Result<()> {
        let Some(member) = usize::try_from(id - 1).ok().and_then(|i| MEMBERS.get(i)) else {
            return Err(DISP_E_MEMBERNOTFOUND.into());
        };
        // SAFETY: Invoke's own arguments.
        let args = unsafe { args::read(params) };
        let out = self.call(member, &args)?;
        // SAFETY: as above.
        unsafe { args::write(result, out) };
        Ok(())
    }
}
