//! Rules every outbound HTTP client of ours follows: it never follows a redirect (a redirect could
//! carry credentials to another origin), it talks plain HTTP only to loopback, and it reads at
//! most a bounded number of bytes from any answer.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("{what} {url:?} is not a valid URL")]
    BadUrl { what: &'static str, url: String },
    #[error("{what} {url:?} must use https (plain http is allowed only on loopback)")]
    NotHttps { what: &'static str, url: String },
    #[error("the answer is larger than {max} bytes: refused")]
    TooLarge { max: usize },
    #[error(
        "refused to follow a redirect (HTTP {status}): credentials never leave for another address"
    )]
    Redirect { status: u16 },
    #[error("{0}")]
    Transport(String),
}

/// The endpoint is https, or plain http on a loopback address (`localhost`, 127.0.0.0/8, ::1).
pub fn check_endpoint(what: &'static str, url: &str) -> Result<url::Url, NetError> {
    let parsed = url::Url::parse(url).map_err(|_| NetError::BadUrl {
        what,
        url: url.to_string(),
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        _ => Err(NetError::NotHttps {
            what,
            url: url.to_string(),
        }),
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A client builder with the house rules: no redirects, no proxy from the environment.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// A 3xx answer is an error (the client never follows it).
pub fn refuse_redirect(status: reqwest::StatusCode) -> Result<(), NetError> {
    if status.is_redirection() {
        Err(NetError::Redirect {
            status: status.as_u16(),
        })
    } else {
        Ok(())
    }
}

/// Read an answer's body, at most `max` bytes (a longer one is refused, whatever its
/// Content-Length says).
pub async fn read_body(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, NetError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(NetError::TooLarge { max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| NetError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(NetError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The same, as text (invalid UTF-8 replaced: the parsers then refuse what they cannot read).
pub async fn read_text(resp: reqwest::Response, max: usize) -> Result<String, NetError> {
    let body = read_body(resp, max).await?;
    Ok(String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "https://sage.example.com/x",
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9/x",
            "http://localhost/x",
            "http://[::1]:80/x",
        ] {
            assert!(check_endpoint("SOAP URL", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://sage.example.com/x",
            "http://10.0.0.5/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(check_endpoint("SOAP URL", bad).is_err(), "{bad}");
        }
    }
}
