//! Connections and the credential vault through the real binary: secrets never readable in the
//! database or in output, master-key rotation, clear errors, and `connection test` against the
//! simulators.

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::sage100::{agent_state, start_rig, AGENT_KEY};
use common::shipstation::start_sim;
use ml_connector::sim::shipstation::SimConfig;
use ml_connector::vault::Vault;

const SECRETS: &[(&str, &str)] = &[
    ("sage_password", "sage-password"),
    ("agent_api_key", AGENT_KEY),
    ("v1_key", "sim-key"),
    ("v1_secret", "sim-secret"),
    ("v2_key", "sim-v2-key"),
];

fn run(
    url: &str,
    master: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(common::binary());
    cmd.args(args)
        .env("DATABASE_URL", url)
        .env_remove("ML_CONNECTOR_MASTER_KEY")
        .env_remove("ML_CONNECTOR_MASTER_KEY_FILE");
    for name in ml_connector::connections::SECRET_NAMES {
        cmd.env_remove(format!("ML_SECRET_{}", name.to_ascii_uppercase()));
    }
    if let Some(m) = master {
        cmd.env("ML_CONNECTOR_MASTER_KEY", m);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// Multi-threaded: the simulators must keep serving while this thread waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_at_rest_rotatable_and_never_shown() {
    let (_pool, url) = common::fresh_db().await;
    let ss = start_sim(SimConfig::default()).await;
    let rig = start_rig().await;
    let _ = agent_state(&rig.sim, None);
    let k1 = Vault::generate_spec("k1");
    let soap_url = format!("{}{}", rig.base, ml_connector::sim::sage100::SOAP_PATH);
    let env: Vec<(String, String)> = SECRETS[..4]
        .iter()
        .map(|(n, v)| {
            (
                format!("ML_SECRET_{}", n.to_ascii_uppercase()),
                v.to_string(),
            )
        })
        .collect();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let add = run(
        &url,
        Some(&k1),
        &[
            "connection",
            "add",
            "acme",
            "--sage-soap-url",
            &soap_url,
            "--sage-user",
            "integration",
            "--company",
            "abc",
            "--agent-url",
            &rig.agent_url,
            "--v1-base-url",
            &ss.base_url(),
            "--v2-base-url",
            &ss.base_url(),
            "--v1-expires",
            "2027-05-01",
        ],
        &env_refs,
        None,
    );
    assert!(add.status.success(), "{}", text(&add));
    // The V2 key arrives on stdin.
    let set = run(
        &url,
        Some(&k1),
        &["connection", "set", "acme", "--secrets-stdin"],
        &[],
        Some("# from the vault\nv2_key=sim-v2-key\n"),
    );
    assert!(set.status.success(), "{}", text(&set));

    let test = run(
        &url,
        Some(&k1),
        &["connection", "test", "acme", "--json"],
        &[],
        None,
    );
    assert!(test.status.success(), "{}", text(&test));
    let report: serde_json::Value = serde_json::from_slice(&test.stdout).unwrap();
    let checks: Vec<(&str, bool)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["ok"] == true))
        .collect();
    assert_eq!(
        checks,
        vec![
            ("sage-wsdl", true),
            ("sage-soap", true),
            ("sage-agent", true),
            ("shipstation-v1", true),
            ("shipstation-webhooks", true),
            ("shipstation-v2", true)
        ]
    );
    assert!(
        text(&add).contains("read the Sage WSDL"),
        "`connection add` reads the WSDL: {}",
        text(&add)
    );

    // The logon is proven, not only the endpoint: a wrong password fails with Sage's own words.
    let set = |secrets: &str| {
        let o = run(
            &url,
            Some(&k1),
            &["connection", "set", "acme", "--secrets-stdin"],
            &[],
            Some(secrets),
        );
        assert!(o.status.success(), "{}", text(&o));
    };
    set("sage_password=not-the-password\n");
    let failed = run(
        &url,
        Some(&k1),
        &["connection", "test", "acme", "--json"],
        &[],
        None,
    );
    assert!(!failed.status.success(), "{}", text(&failed));
    let report: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    let soap = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "sage-soap")
        .unwrap()
        .clone();
    assert_eq!(soap["ok"], false);
    assert!(
        soap["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid Username or Password."),
        "{soap}"
    );
    assert!(
        !text(&failed).contains("not-the-password"),
        "no secret in the output"
    );
    set("sage_password=sage-password\n");

    let show = run(
        &url,
        None,
        &["connection", "show", "acme", "--json"],
        &[],
        None,
    );
    assert!(show.status.success(), "{}", text(&show));
    let shown = text(&show);
    assert!(shown.contains("\"expires_on\": \"2027-05-01\""), "{shown}");
    // Nothing secret anywhere: not in output, not in a dump of the database.
    let bins = ml_connector::pg::ServerBinaries::locate().unwrap();
    let dump = Command::new(bins.bin_dir.join("pg_dump"))
        .arg("--dbname")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("credentials"),
        "the dump has the credentials table"
    );
    for (name, value) in SECRETS {
        assert!(!shown.contains(value), "{name} shown");
        assert!(!dump.contains(value), "{name} readable in a database dump");
        assert!(!text(&test).contains(value), "{name} in test output");
    }

    // Rotation: new primary + old secondary → rewrap; then the old key can go.
    let k2 = Vault::generate_spec("k2");
    let rot = run(
        &url,
        Some(&format!("{k2},{k1}")),
        &["keys", "rotate"],
        &[],
        None,
    );
    assert!(
        rot.status.success()
            && text(&rot).contains("re-wrapped 5 credential(s) under master key k2"),
        "{}",
        text(&rot)
    );
    assert!(
        run(&url, Some(&k2), &["connection", "test", "acme"], &[], None)
            .status
            .success(),
        "works with only the new key"
    );
    let old_only = run(&url, Some(&k1), &["connection", "test", "acme"], &[], None);
    assert!(!old_only.status.success());
    assert!(
        text(&old_only).contains("master key \"k2\", which is not loaded"),
        "{}",
        text(&old_only)
    );
    let wrong = run(
        &url,
        Some(&Vault::generate_spec("k2")),
        &["connection", "test", "acme"],
        &[],
        None,
    );
    assert!(
        text(&wrong).contains("wrong master key"),
        "{}",
        text(&wrong)
    );
    let none = run(&url, None, &["connection", "test", "acme"], &[], None);
    assert!(
        !none.status.success()
            && text(&none).contains("no master key: set ML_CONNECTOR_MASTER_KEY"),
        "{}",
        text(&none)
    );
}

const ADD_X: &[&str] = &[
    "connection",
    "add",
    "x",
    "--company",
    "ABC",
    "--sage-soap-url",
    "https://h/s",
    "--agent-url",
    "https://h/a",
];

#[tokio::test]
async fn invalid_settings_and_secret_names_are_refused_clearly() {
    let (_pool, url) = common::fresh_db().await;
    let k = Vault::generate_spec("k1");
    let bad = run(
        &url,
        Some(&k),
        &[
            "connection",
            "add",
            "x",
            "--company",
            "ABCD",
            "--zone",
            "Mars/Olympus",
            "--sage-soap-url",
            "http://h/s",
            "--agent-url",
            "http://h/a",
        ],
        &[],
        None,
    );
    assert!(!bad.status.success());
    let t = text(&bad);
    assert!(
        t.contains("sage.company must be the 3-character Sage company code")
            && t.contains("Mars/Olympus"),
        "{t}"
    );
    let ok = run(&url, Some(&k), ADD_X, &[], None);
    assert!(ok.status.success(), "{}", text(&ok));
    let dup = run(&url, Some(&k), ADD_X, &[], None);
    assert!(
        text(&dup).contains("connection \"x\" already exists"),
        "{}",
        text(&dup)
    );
    let unknown = run(
        &url,
        Some(&k),
        &["connection", "set", "x", "--secrets-stdin"],
        &[],
        Some("v3_key=abc\n"),
    );
    assert!(
        text(&unknown).contains("unknown secret name \"v3_key\""),
        "{}",
        text(&unknown)
    );
    let mapping = run(
        &url,
        Some(&k),
        &[
            "connection",
            "set",
            "x",
            "--settings-json",
            r#"{"mappings": {"warehouses": {"000": {"warehouse_id": 11001}}}, "polls": {"orders_secs": 60}}"#,
        ],
        &[],
        None,
    );
    assert!(mapping.status.success(), "{}", text(&mapping));
    let shown: serde_json::Value = serde_json::from_slice(
        &run(
            &url,
            None,
            &["connection", "show", "x", "--json"],
            &[],
            None,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(
        shown["settings"]["mappings"]["warehouses"]["000"]["warehouse_id"],
        11001
    );
    assert_eq!(shown["settings"]["polls"]["orders_secs"], 60);
    assert_eq!(
        shown["settings"]["polls"]["shipments_secs"], 300,
        "untouched settings keep their values"
    );
}
