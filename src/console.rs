//! The ops console at `/console`: a single-page app (console/, built with Vite into console/dist,
//! committed) whose files are compiled into the binary by build.rs. It talks to the GraphQL API
//! on the same listener only; the Content-Security-Policy allows nothing else. Paths that name no
//! file get index.html (the app routes them), except under `assets/` (a missing bundle is a 404,
//! not a page).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// Where the console lives.
pub const PATH: &str = "/console/";

/// The console's routes (stateless; merged into the API router).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent(PATH) }))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
}

/// A built file by its path under console/dist.
pub fn asset(name: &str) -> Option<&'static [u8]> {
    embedded::ASSETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Same-origin only; the WebSocket of the subscription is named by the request's host (a CSP
/// `'self'` does not cover ws: in every browser).
fn csp(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
    let sockets = host
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{sockets}; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

fn respond(headers: &HeaderMap, name: &str, body: &'static [u8]) -> Response {
    // Bundles carry a content hash in their names: cached for good. The page itself is
    // revalidated, so a new binary's page (naming new bundles) is seen at once.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp(headers)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

async fn index(headers: HeaderMap) -> Response {
    match asset("index.html") {
        Some(body) => respond(&headers, "index.html", body),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the console was not built into this binary (console/dist was missing at build time: scripts/build-console)\n",
        )
            .into_response(),
    }
}

async fn file(headers: HeaderMap, Path(path): Path<String>) -> Response {
    if let Some(body) = asset(&path) {
        return respond(&headers, &path, body);
    }
    if path.starts_with("assets/") || path.contains("..") {
        return (StatusCode::NOT_FOUND, "no such console file\n").into_response();
    }
    index(headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_policy() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/x.css"), "text/css; charset=utf-8");
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let p = csp(&h);
        assert!(p.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        assert!(p.starts_with("default-src 'self';"));
        // A host that could smuggle a directive is left out.
        h.insert(header::HOST, HeaderValue::from_static("evil; script-src *"));
        assert!(csp(&h).contains("connect-src 'self';"));
    }
}
