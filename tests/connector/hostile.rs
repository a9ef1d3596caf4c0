//! Hostile answers from the other side: a SOAP answer nested 10,000 deep or larger than any real
//! one, and redirects that would carry credentials elsewhere. Each is a clear error; nothing
//! crashes, and nothing reaches the other address.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common;
use std::sync::Arc;
use std::time::Duration;

use ml_connector::sage100::{AgentClient, AgentConfig, SageError, SoapClient, SoapConfig};
use ml_connector::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback HTTP server that answers every request with `answer` and counts requests.
async fn server(answer: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = tokio::time::timeout(Duration::from_secs(2), sock.read(&mut buf)).await;
                let _ = sock.write_all(&answer).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (base, hits)
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// A client with a real contract (the simulator's WSDL) pointed at a hostile endpoint.
async fn soap(endpoint: &str) -> SoapClient {
    let rig = crate::common::sage100::start_rig().await;
    SoapClient::new(SoapConfig {
        endpoint: endpoint.into(),
        contract: Some(crate::common::sage100::contract(&rig).await),
        username: "integration".into(),
        password: Secret::new("sage-password"),
        company: "ABC".into(),
        timeout: Duration::from_secs(10),
        faults: Default::default(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_deeply_nested_soap_answer_is_an_error_not_a_crash() {
    let body = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}{}</s:Body></s:Envelope>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    let (base, _) = server(http(
        "200 OK",
        "Content-Type: text/xml\r\n",
        body.as_bytes(),
    ))
    .await;
    match soap(&format!("{base}/svc"))
        .await
        .get_sales_order("0000001")
        .await
    {
        Err(SageError::Malformed(m)) => assert!(m.contains("deeper than"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let body = vec![b'x'; 9 << 20];
    let (base, _) = server(http("200 OK", "Content-Type: text/xml\r\n", &body)).await;
    match soap(&format!("{base}/svc"))
        .await
        .get_sales_order("0000001")
        .await
    {
        Err(SageError::Malformed(m)) => assert!(m.contains("larger than"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn redirects_never_carry_credentials_elsewhere() {
    let (elsewhere, hits) = server(http("200 OK", "", b"{}")).await;
    // The SOAP endpoint answers 307 (a replayed POST would carry the Sage password).
    let (soap_base, _) = server(http(
        "307 Temporary Redirect",
        &format!("Location: {elsewhere}/steal\r\n"),
        b"",
    ))
    .await;
    match soap(&format!("{soap_base}/svc"))
        .await
        .get_sales_order("0000001")
        .await
    {
        Err(e @ SageError::Refused(_)) => assert!(e.to_string().contains("redirect"), "{e}"),
        other => panic!("{other:?}"),
    }
    // The agent answers 302 (a followed GET would carry the agent key header).
    let (agent_base, _) = server(http(
        "302 Found",
        &format!("Location: {elsewhere}/steal\r\n"),
        b"",
    ))
    .await;
    let mut cfg = AgentConfig::new(agent_base, "ABC");
    cfg.api_key = Some(Secret::new("agent-key"));
    cfg.lock_retry.max_attempts = 1;
    match AgentClient::new(cfg).unwrap().health().await {
        Err(e @ SageError::Refused(_)) => assert!(e.to_string().contains("redirect"), "{e}"),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the other address"
    );
}

#[test]
fn remote_endpoints_must_use_https() {
    let cfg = SoapConfig {
        endpoint: "http://sage.example.com/svc".into(),
        contract: None,
        username: "u".into(),
        password: Secret::new("p"),
        company: "ABC".into(),
        timeout: Duration::from_secs(1),
        faults: Default::default(),
    };
    assert!(matches!(SoapClient::new(cfg), Err(SageError::Refused(_))));
    let agent = AgentConfig::new("http://sage.example.com:8443", "ABC");
    assert!(matches!(
        AgentClient::new(agent),
        Err(SageError::Refused(_))
    ));
    assert!(AgentClient::new(AgentConfig::new("https://sage.example.com:8443", "ABC")).is_ok());
}

#[test]
fn the_agent_never_runs_unauthenticated() {
    let dir = common::temp_path("agent-ca");
    std::fs::create_dir_all(&dir).unwrap();
    let pki = ml_connector::testkit::pki::TestPki::generate(&["localhost"]).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    // Plain HTTP with a client CA and no API key used to start, unauthenticated.
    for extra in [vec!["--client-ca", ca.to_str().unwrap()], vec![]] {
        let out = std::process::Command::new(common::binary())
            .args([
                "agent",
                "--backend",
                "sim",
                "--plain-http",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(&extra)
            .env_remove("ML_AGENT_API_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("ML_AGENT_API_KEY") || err.contains("--client-ca needs"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_silent_client_is_dropped_by_the_agent() {
    let rig = common::sage100::start_rig().await;
    let addr = rig.agent_url.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    // Connect, send nothing: the agent closes the connection after its header-read timeout.
    let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut buf))
        .await
        .expect("the agent hung up on a silent client")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// The Kubernetes manifests hold the pod to the least it needs.
#[test]
fn kubernetes_manifests_run_with_least_privilege() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let read = |f: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let d = read("deployment.yaml");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["automountServiceAccountToken"],
        serde_yaml::Value::Bool(false)
    );
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0]["securityContext"];
    assert_eq!(
        c["allowPrivilegeEscalation"],
        serde_yaml::Value::Bool(false)
    );
    assert_eq!(c["readOnlyRootFilesystem"], serde_yaml::Value::Bool(true));
    let np = read("networkpolicy.yaml");
    assert_eq!(np["kind"], "NetworkPolicy");
    let types: Vec<&str> = np["spec"]["policyTypes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(types.contains(&"Egress"), "an egress policy");
}

#[tokio::test]
async fn empty_secrets_are_refused() {
    use ml_connector::connections::{self, Settings};
    use ml_connector::vault::Vault;
    let (pool, _) = common::fresh_db().await;
    let vault = Vault::from_spec(&Vault::generate_spec("k1")).unwrap();
    let mut s = Settings::default();
    s.sage.company = "ABC".into();
    s.sage.soap_url = "https://sage.example/svc".into();
    s.sage.agent_url = "https://sage.example:8443".into();
    let id = connections::add(&pool, "empty", &s).await.unwrap();
    for value in ["", "   "] {
        let err = connections::set_secret(
            &pool,
            &vault,
            id,
            "webhook_token",
            &Secret::new(value),
            None,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
    }
    assert!(connections::secret(&pool, &vault, id, "webhook_token")
        .await
        .unwrap()
        .is_none());
}

/// A loopback JWKS server whose answer can change, counting fetches.
async fn jwks_server(answer: Arc<std::sync::Mutex<String>>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = answer.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(&http(
                        "200 OK",
                        "Content-Type: application/json\r\n",
                        body.as_bytes(),
                    ))
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn unknown_key_ids_cost_one_jwks_fetch_and_refreshes_keep_good_keys() {
    use base64::Engine as _;
    use ml_connector::shipstation::webhook::{V2Signature, V2Verifier};
    use rsa::pkcs1v15::SigningKey;
    use rsa::sha2::Sha256;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;

    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = serde_json::json!({"keys": [{"kid": "k1", "kty": "RSA",
        "n": b64.encode(private.n().to_bytes_be()), "e": b64.encode(private.e().to_bytes_be())}]});
    let answer = Arc::new(std::sync::Mutex::new(jwk.to_string()));
    let (url, fetches) = jwks_server(answer.clone()).await;
    let now = chrono::Utc::now();
    let ts = now.to_rfc3339();
    let body = br#"{"event":"track"}"#;
    let mut message = ts.as_bytes().to_vec();
    message.push(b'.');
    message.extend_from_slice(body);
    let signature = base64::engine::general_purpose::STANDARD
        .encode(SigningKey::<Sha256>::new(private).sign(&message).to_bytes());
    let sig = |kid: &'static str| V2Signature {
        key_id: Some(kid),
        signature: Some(signature.as_str()),
        timestamp: Some(ts.as_str()),
    };

    // 30 deliveries with an unknown key id, at once: one fetch, not 30.
    let verifier = Arc::new(V2Verifier::new(url.clone()));
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let v = verifier.clone();
        let sig = sig("nope");
        let (ts, signature) = (
            sig.timestamp.unwrap().to_string(),
            sig.signature.unwrap().to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let s = V2Signature {
                key_id: Some("nope"),
                signature: Some(&signature),
                timestamp: Some(&ts),
            };
            v.verify(&s, body, now).await.is_err()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap(), "an unknown key id is refused");
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "single flight, minimum interval"
    );

    // A refresh that answers no keys keeps the key that verified before.
    let mut v = V2Verifier::new(url);
    v.min_refresh = Duration::ZERO;
    v.verify(&sig("k1"), body, now).await.expect("k1 verifies");
    *answer.lock().unwrap() = r#"{"keys": []}"#.into();
    assert!(v.verify(&sig("other"), body, now).await.is_err());
    v.verify(&sig("k1"), body, now)
        .await
        .expect("k1 still verifies after an empty key set");
}

#[tokio::test]
async fn retention_prunes_old_deliveries_and_finished_audit_rows_only() {
    use ml_connector::engine::{NewWorkflow, Status};
    let (pool, _) = common::fresh_db().await;
    sqlx::query(
        "INSERT INTO webhook_deliveries (connection_name, api, verified, result, http_status, body, received_at)
         VALUES ('x', 'v1', false, 'rejected', 404, '', now() - interval '100 days'),
                ('x', 'v1', false, 'rejected', 404, '', now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let mut ids = Vec::new();
    for key in ["done", "open"] {
        let new = NewWorkflow {
            kind: "probe".into(),
            connection_id: 0,
            business_key: key.into(),
            initial_state: "first".into(),
            context: serde_json::json!({}),
            run_at: None,
        };
        ids.push(
            ml_connector::engine::store::create(&mut conn, &new, "t")
                .await
                .unwrap()
                .0,
        );
    }
    drop(conn);
    sqlx::query("UPDATE workflows SET status = $2 WHERE id = $1")
        .bind(ids[0])
        .bind(Status::Completed.as_str())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE workflow_events SET at = now() - interval '100 days'")
        .execute(&pool)
        .await
        .unwrap();
    let pruned = ml_connector::ops::retention::prune(&pool, 90)
        .await
        .unwrap();
    assert_eq!((pruned.webhook_deliveries, pruned.audit_events), (1, 1));
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workflow_events WHERE workflow_id = $1")
            .bind(ids[1])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 1, "an open workflow keeps its trail whatever its age");

    // Finished runs of scheduled kinds go whole: probes and alert checks after a day, polls after
    // the retention period; orders never (their rows keep their keys idempotent), nor open runs.
    let mut conn = pool.acquire().await.unwrap();
    let mut runs = Vec::new();
    for (kind, key, age_days, status) in [
        ("orders_probe", "old", 2, Status::Completed),
        ("orders_probe", "new", 0, Status::Completed),
        ("alerts_check", "old", 2, Status::Completed),
        ("orders_poll", "recent", 2, Status::Completed),
        ("orders_poll", "old", 100, Status::Completed),
        ("orders_poll", "failed", 100, Status::Failed),
        ("order", "0000042", 100, Status::Completed),
    ] {
        let new = NewWorkflow {
            kind: kind.into(),
            connection_id: 0,
            business_key: key.into(),
            initial_state: "x".into(),
            context: serde_json::json!({}),
            run_at: None,
        };
        let id = ml_connector::engine::store::create(&mut conn, &new, "t")
            .await
            .unwrap()
            .0;
        sqlx::query(
            "UPDATE workflows SET status = $2, updated_at = now() - make_interval(days => $3) WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(age_days)
        .execute(&pool)
        .await
        .unwrap();
        runs.push((kind, key, id));
    }
    drop(conn);
    let pruned = ml_connector::ops::retention::prune(&pool, 90)
        .await
        .unwrap();
    assert_eq!(pruned.finished_runs, 3, "{pruned:?}");
    let mut kept: Vec<String> = sqlx::query_scalar(
        "SELECT kind || ':' || business_key FROM workflows WHERE kind <> 'probe' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    kept.sort();
    assert_eq!(
        kept,
        vec![
            "order:0000042",
            "orders_poll:failed",
            "orders_poll:recent",
            "orders_probe:new"
        ]
    );
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflow_events e WHERE NOT EXISTS (SELECT 1 FROM workflows w WHERE w.id = e.workflow_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "their events went with them");
}

/// The embedded PostgreSQL accepts only its superuser's random password, kept in a 0600 file the
/// server's account (shared `nobody` when started as root) cannot read; it used to trust anyone
/// who reached its socket.
#[tokio::test]
async fn the_embedded_database_refuses_connections_without_its_password() {
    use sqlx::Connection;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;

    // Short, under the system temp dir: the socket's path must stay under 107 bytes wherever the
    // checkout lives.
    let dir = std::env::temp_dir().join(format!(
        "mlc-pgauth-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut child = tokio::process::Command::new(common::binary())
        .args(["postgres", "--data-dir", dir.to_str().unwrap()])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("DATABASE_URL=") {
                return url.to_string();
            }
        }
        panic!("no DATABASE_URL printed");
    })
    .await
    .expect("the embedded server started");
    let file = dir.join(ml_connector::pg::PASSWORD_FILE);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(
        url.contains(&format!("postgres:{password}@")),
        "the URL carries the password"
    );
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });

    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("the password opens the database");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    let hba = std::fs::read_to_string(dir.join("data/pg_hba.conf")).unwrap();
    assert!(!hba
        .lines()
        .any(|l| !l.trim_start().starts_with('#') && l.contains("trust")));

    for (label, attempt) in [
        ("no password", url.replace(&format!(":{password}@"), "@")),
        (
            "a wrong password",
            url.replace(&format!(":{password}@"), ":guess@"),
        ),
    ] {
        let refused = sqlx::PgConnection::connect(&attempt).await;
        let err = refused.err().unwrap_or_else(|| panic!("{label} connected"));
        assert!(err.to_string().contains("password"), "{label}: {err}");
    }

    // As root the server runs as another account: that account cannot read the password.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let server = std::fs::metadata(dir.join("data")).unwrap();
        assert_ne!(server.uid(), 0);
        let read = std::process::Command::new("cat")
            .arg(&file)
            .uid(server.uid())
            .gid(server.gid())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!read.success(), "the server's account read the password");
    }
    conn.close().await.unwrap();
    // SAFETY: kill(2) on our own child; SIGTERM stops it and its server in order.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The webhook resource policy's test mode is an explicit setting: a production connection whose
/// resource domain differs only in case used to switch it on (fetching wherever v1_base_url
/// pointed, on any port); now it stays production, the settings say why, and test mode fetches
/// only from the simulator's own port.
#[test]
fn the_test_resource_policy_is_explicit_and_pins_the_port() {
    use ml_connector::connections::{ResourcePolicyMode, Settings};
    use ml_connector::flows::deps::resource_policy;
    let mut s = Settings::default();
    s.sage.company = "ABC".into();
    s.sage.soap_url = "https://sage.example/svc".into();
    s.sage.agent_url = "https://sage.example:8443".into();
    s.shipstation.v1_base_url = "http://127.0.0.1:18090".into();
    for domain in ["ShipStation.com", "SHIPSTATION.COM"] {
        s.shipstation.resource_domain = domain.into();
        let policy = resource_policy(&s);
        for url in [
            "http://ssapi.shipstation.com:18090/shipments",
            "https://ssapi.shipstation.com:18090/shipments",
        ] {
            assert!(policy.check(url).is_err(), "{domain}: {url}");
        }
        assert!(policy
            .check("https://ssapi6.shipstation.com/shipments")
            .is_ok());
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        // Test mode is never for shipstation.com, whatever its case.
        s.shipstation.resource_policy = ResourcePolicyMode::Simulator;
        assert!(
            s.problems().iter().any(|p| p.contains("cannot be used")),
            "{:?}",
            s.problems()
        );
        assert!(resource_policy(&s)
            .check("http://ssapi.shipstation.com:18090/shipments")
            .is_err());
        s.shipstation.resource_policy = ResourcePolicyMode::Production;
    }
    // A test domain needs the explicit setting.
    s.shipstation.resource_domain = "shipstation.test".into();
    assert!(s
        .problems()
        .iter()
        .any(|p| p.contains("resource_policy \"simulator\"")));
    assert!(resource_policy(&s)
        .check("http://ssapi.shipstation.test:18090/shipments")
        .is_err());
    s.shipstation.resource_policy = ResourcePolicyMode::Simulator;
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    let policy = resource_policy(&s);
    assert!(policy
        .check("http://ssapi3.SHIPSTATION.test:18090/shipments?batchId=1")
        .is_ok());
    for other_port in [
        "http://ssapi3.shipstation.test:5432/",
        "http://ssapi3.shipstation.test/",
        "https://ssapi3.shipstation.test/",
    ] {
        assert!(policy.check(other_port).is_err(), "{other_port}");
    }
    // Stored settings without the field read as production.
    let stored: Settings =
        serde_json::from_value(serde_json::json!({"shipstation": {"resource_domain": "x.test"}}))
            .unwrap();
    assert_eq!(
        stored.shipstation.resource_policy,
        ResourcePolicyMode::Production
    );
}

/// docker-compose.yml publishes nothing beyond this host's loopback unless told to, and has no
/// default database password (it used to publish 0.0.0.0:8080 with the password `change-me`).
#[test]
fn docker_compose_defaults_are_closed() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Compose's interpolation with nothing set: `${V:-d}` → d, `${V:?msg}` → an error, `${V}` → "".
    fn interpolate(text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let inner = &rest[start + 2..end];
            if let Some((_, default)) = inner.split_once(":-") {
                out.push_str(default);
            } else if let Some((var, msg)) = inner.split_once(":?") {
                return Err(format!("{var}: {msg}"));
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
    let services = &compose["services"];
    for (name, service) in services.as_mapping().unwrap() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let published = interpolate(port.as_str().unwrap()).unwrap();
            assert!(
                published.starts_with("127.0.0.1:"),
                "{name:?} publishes {published} beyond loopback by default"
            );
        }
    }
    for (service, var) in [
        ("postgres", "POSTGRES_PASSWORD"),
        ("connector", "DATABASE_URL"),
    ] {
        let value = services[service]["environment"][var].as_str().unwrap();
        let err = interpolate(value).expect_err(var);
        assert!(err.contains("POSTGRES_PASSWORD"), "{service}.{var}: {err}");
    }
    assert!(!std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")
    )
    .unwrap()
    .contains("change-me"));
}
