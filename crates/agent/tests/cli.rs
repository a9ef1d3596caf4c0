//! The agent program as a site runs it: its settings file, its start-up refusals, and `check`
//! naming what is missing in words a Sage partner can act on.

use std::path::PathBuf;
use std::process::Command;

fn settings(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agent-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ml-connector-agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn agent(config: &PathBuf, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ml-connector-agent"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("ML_AGENT_SAGE_PASSWORD", "s3cret-Passw0rd")
        .env("ML_AGENT_API_KEY", "key")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const BASE: &str = "listen = \"127.0.0.1:0\"\ncompanies = [\"ABC\"]\nsage_user = \"integration\"\nplain_http = true\n";

#[test]
fn a_missing_dsn_is_named_with_what_to_install() {
    let path = settings(
        "dsn",
        &format!("{BASE}[odbc]\nconnection = \"DSN=NO_SUCH_DSN_MLC;COMPANY={{company}}\"\n"),
    );
    let (ok, text) = agent(&path, &["check"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "company ABC: The ODBC data source or driver for company ABC is not installed"
        ),
        "{text}"
    );
    assert!(text.contains("System DSN"), "{text}");
    assert!(
        !text.contains("s3cret-Passw0rd"),
        "the password never appears: {text}"
    );
}

#[test]
fn settings_that_would_leak_or_expose_are_refused() {
    for (name, extra, expected) in [
        (
            "pwd",
            "[odbc]\nconnection = \"DSN=X;PWD=hunter2\"\n",
            "leave the password out",
        ),
        (
            "backend",
            "backend = \"odbc+com\"\n[odbc]\nconnection = \"DSN=X\"\n",
            "it runs on Windows only",
        ),
        ("company", "[odbc]\nconnection = \"DSN=X\"\n", ""),
    ] {
        let text_in = if name == "company" {
            format!("listen = \"127.0.0.1:0\"\ncompanies = [\"ABCD\"]\nsage_user = \"u\"\nplain_http = true\n{extra}")
        } else {
            format!("{BASE}{extra}")
        };
        let (ok, text) = agent(&settings(name, &text_in), &["check"]);
        assert!(!ok, "{name}: {text}");
        let expected = if name == "company" {
            "is not a Sage company code"
        } else {
            expected
        };
        assert!(text.contains(expected), "{name}: {text}");
    }
    let no_tls = "listen = \"10.1.2.3:8443\"\ncompanies = [\"ABC\"]\nsage_user = \"u\"\n[odbc]\nconnection = \"DSN=X\"\n";
    let (ok, text) = agent(&settings("tls", no_tls), &["check"]);
    assert!(!ok);
    assert!(text.contains("give a [tls] section"), "{text}");
}

#[cfg(unix)]
#[test]
fn a_secret_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let path = settings(
        "secretfile",
        &format!("{BASE}sage_password_file = \"pw.txt\"\n[odbc]\nconnection = \"DSN=X\"\n"),
    );
    let pw = path.with_file_name("pw.txt");
    std::fs::write(&pw, "hunter2\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, text) = agent(&path, &["check"]);
    assert!(!ok);
    assert!(text.contains("can be read by other users"), "{text}");
    assert!(!text.contains("hunter2"));
}

#[test]
fn the_command_line_backend_replaces_the_files_and_install_is_for_windows() {
    let path = settings(
        "backendflag",
        &format!("{BASE}backend = \"odbc\"\n[odbc]\nconnection = \"DSN=X\"\n"),
    );
    let (ok, text) = agent(&path, &["--backend", "odbc+com", "check"]);
    assert!(!ok, "{text}");
    assert!(text.contains("it runs on Windows only"), "{text}");
    let (ok, text) = agent(&path, &["--backend", "nope", "check"]);
    assert!(!ok);
    assert!(text.contains("is not one of odbc, odbc+com, com"), "{text}");
    for command in ["install", "uninstall"] {
        let (ok, text) = agent(&path, &[command]);
        assert!(!ok, "{command}: {text}");
        assert!(text.contains("Windows service"), "{command}: {text}");
    }
}
