//! The agent as a Windows service: `install` registers it with the service manager (automatic
//! start, `run` as its command), `uninstall` stops and removes it, and `run` started by the
//! service manager reports its state and stops cleanly when asked.

use std::ffi::OsString;
use std::sync::OnceLock;
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

pub const NAME: &str = "MLConnectorAgent";
const DISPLAY: &str = "ml-connector agent for Sage 100";

/// What the service runs once the service manager has started it: the agent, until the future
/// it is given completes.
pub type Body = Box<
    dyn FnOnce(
            std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
        ) -> anyhow::Result<()>
        + Send,
>;

static BODY: OnceLock<std::sync::Mutex<Option<Body>>> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// Hand the process to the service manager. `Ok(false)`: not started by it (a console run).
pub fn dispatch(body: Body) -> anyhow::Result<bool> {
    let _ = BODY.set(std::sync::Mutex::new(Some(body)));
    match service_dispatcher::start(NAME, ffi_service_main) {
        Ok(()) => Ok(true),
        // ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: started from a console, not by the SCM.
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(1063) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("the service dispatcher failed: {e}")),
    }
}

fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(10),
        process_id: None,
    }
}

fn service_main(_args: Vec<OsString>) {
    let Some(body) = BODY.get().and_then(|b| b.lock().ok()?.take()) else {
        return;
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            tracing::info!("the service manager asked the agent to stop");
            if let Some(tx) = stop_tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = match service_control_handler::register(NAME, handler) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the service control handler");
            return;
        }
    };
    let accept = ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN;
    let _ = handle.set_service_status(status(ServiceState::Running, accept, 0));
    let stopped = Box::pin(async move {
        let _ = stop_rx.await;
    });
    let code = match body(stopped) {
        Ok(()) => {
            tracing::info!("the agent stopped");
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "the agent failed");
            1
        }
    };
    let _ = handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
    ));
}

/// Register the service: automatic start, this executable with `--config <settings>
/// [--backend B] run`, under `account` (none: LocalSystem).
pub fn install(
    settings: &std::path::Path,
    backend: Option<&str>,
    account: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<()> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(|e| failed("cannot reach the service manager", &e))?;
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: std::env::current_exe()?,
        launch_arguments: launch_arguments(settings, backend),
        dependencies: vec![],
        account_name: account.map(OsString::from),
        account_password: password.map(OsString::from),
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(|e| failed(&format!("cannot create the service {NAME}"), &e))?;
    let _ = service.set_description(
        "Answers ml-connector's questions about Sage 100 (ODBC) and writes tracking back (Business Object Interface).",
    );
    Ok(())
}

fn launch_arguments(settings: &std::path::Path, backend: Option<&str>) -> Vec<OsString> {
    let mut args = vec!["--config".into(), settings.as_os_str().to_owned()];
    if let Some(b) = backend {
        args.extend(["--backend".into(), b.into()]);
    }
    args.push("run".into());
    args
}

/// Stop the service if it runs, then remove it.
pub fn uninstall() -> anyhow::Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(|e| failed("cannot reach the service manager", &e))?;
    let service = manager
        .open_service(
            NAME,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .map_err(|e| failed(&format!("cannot open the service {NAME}"), &e))?;
    if service.query_status()?.current_state != ServiceState::Stopped {
        let _ = service.stop();
        for _ in 0..60 {
            if service.query_status()?.current_state == ServiceState::Stopped {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    service
        .delete()
        .map_err(|e| failed(&format!("cannot remove the service {NAME}"), &e))?;
    Ok(())
}

/// The service manager's refusal as a sentence: the crate's own text ("IO error in winapi
/// call") names neither the cause nor the remedy.
fn failed(what: &str, e: &windows_service::Error) -> anyhow::Error {
    let windows_service::Error::Winapi(io) = e else {
        return anyhow::anyhow!("{what}: {e}");
    };
    let reason = match io.raw_os_error() {
        Some(5) => "access denied: run it from an administrator's command prompt".to_string(),
        Some(1060) => "it is not installed".to_string(),
        Some(1072) => {
            "it is marked for deletion: close the Services window (services.msc) and try again"
                .to_string()
        }
        Some(1073) => {
            "a service of that name is already installed (uninstall it first)".to_string()
        }
        _ => io.to_string(),
    };
    anyhow::anyhow!("{what}: {reason}")
}
