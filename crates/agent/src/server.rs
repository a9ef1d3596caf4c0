//! Serving the agent API: HTTPS with rustls (optionally requiring a client certificate signed by
//! a given CA: mTLS), or plain HTTP on loopback only (demos, tests of the API itself).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use std::future::Future;

#[derive(Debug, Clone)]
pub enum Transport {
    /// Loopback-only plain HTTP.
    PlainLoopback,
    Tls {
        cert: PathBuf,
        key: PathBuf,
        client_ca: Option<PathBuf>,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading client CA {}", ca.display()))?
            {
                roots
                    .add(c.context("parsing client CA")?)
                    .context("adding client CA")?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(certs, key)?)
}

/// How long a client may take for the TLS handshake, and to send a request's headers: a peer
/// that connects and then says nothing is dropped instead of holding a connection forever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// HTTP/1.1 only (our client speaks nothing else), with the header-read timeout.
fn http() -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new()).http1_only();
    b.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    b
}

/// The agent never runs without authentication: plain HTTP (loopback trials) needs the API key
/// (a client CA means nothing without TLS); HTTPS needs the API key, a client CA (mTLS), or both.
pub fn check_authentication(transport: &Transport, api_key_set: bool) -> anyhow::Result<()> {
    match transport {
        Transport::PlainLoopback if !api_key_set => anyhow::bail!(
            "plain HTTP needs ML_AGENT_API_KEY: without TLS a client CA cannot authenticate anyone"
        ),
        Transport::Tls {
            client_ca: None, ..
        } if !api_key_set => anyhow::bail!(
            "set ML_AGENT_API_KEY or --client-ca: the agent never runs without authentication"
        ),
        _ => Ok(()),
    }
}

/// Serve until shutdown; returns the bound address through `bound`.
pub async fn serve(
    app: axum::Router,
    addr: SocketAddr,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
) -> anyhow::Result<()> {
    if matches!(transport, Transport::PlainLoopback) && !addr.ip().is_loopback() {
        anyhow::bail!(
            "plain HTTP is allowed on loopback only; give --tls-cert/--tls-key to listen on {addr}"
        );
    }
    let acceptor = match &transport {
        Transport::Tls {
            cert,
            key,
            client_ca,
        } => Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(
            cert,
            key,
            client_ca.as_deref(),
        )?))),
        Transport::PlainLoopback => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the agent to {addr}"))?;
    let _ = bound.send(listener.local_addr()?);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => r?,
            _ = &mut shutdown => return Ok(()),
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app);
            let result = match acceptor {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => http().serve_connection(TokioIo::new(tls), service).await,
                        Ok(Err(e)) => {
                            tracing::warn!(%peer, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => http().serve_connection(TokioIo::new(tcp), service).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "agent connection ended");
            }
        });
    }
}

/// The agent over a given backend; returns once shutdown is triggered.
pub async fn serve_agent(
    state: super::api::AgentState,
    addr: SocketAddr,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    check_authentication(&transport, state.api_key.is_some())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let app = super::api::router(state);
    let task = tokio::spawn(serve(app, addr, transport, shutdown, tx));
    let bound = rx.await.context("agent did not start")?;
    Ok((bound, task))
}
