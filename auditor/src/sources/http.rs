//! Outgoing HTTP: ureq with explicit connect and per-request timeouts and a
//! limit on every response body, so that a node that hangs, drips or sends
//! gigabytes cannot stall or exhaust the auditor. https with rustls,
//! trusting the public web's roots or the certificates of `--ca-file`.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use ureq::tls::{RootCerts, TlsConfig};

/// Largest response body read from a node, by default. A page of
/// `/p2p/blocks` holds at most 64 blocks or 20,000 transactions (about
/// 15 MB); this leaves room for the largest legal block.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// Time to establish a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the response from {url} exceeds the {limit}-byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("the response from {url} is not what the protocol describes: {reason}")]
    Malformed { url: String, reason: String },
}

#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
    max_body: u64,
}

/// The certificates of a PEM file (CA certificates, or a node's own
/// self-signed one), for [`Http::new`].
pub fn read_roots(path: &Path) -> Result<RootCerts, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| e.to_string())? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(RootCerts::new_with_certs(&certs))
}

impl Http {
    /// `timeout` bounds each whole request (connect, send, receive);
    /// `roots`, when given, are the only certificates trusted for https
    /// (otherwise the public web's roots).
    pub fn new(timeout: Duration, max_body: u64, roots: Option<RootCerts>) -> Self {
        let tls = TlsConfig::builder()
            .root_certs(roots.unwrap_or(RootCerts::WebPki))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .user_agent(concat!("evote-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent, max_body }
    }

    /// GET `url`; the status and the body (at most the limit).
    pub fn get(&self, url: &str) -> Result<(u16, Vec<u8>), HttpError> {
        let mut resp = self
            .agent
            .get(url)
            .header("accept", "application/json")
            .call()
            .map_err(|e| HttpError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(limit) => HttpError::TooLarge {
                    url: url.to_string(),
                    limit,
                },
                other => HttpError::Unreachable {
                    url: url.to_string(),
                    reason: format!("reading the response: {other}"),
                },
            })?;
        Ok((status, body))
    }

    /// GET `url` and parse a 200 answer as `T`.
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, HttpError> {
        let (status, body) = self.get(url)?;
        ok_json(url, status, &body)
    }
}

/// A 200 answer's body parsed as `T`; any other status is an error that
/// shows the start of the body.
pub fn ok_json<T: DeserializeOwned>(url: &str, status: u16, body: &[u8]) -> Result<T, HttpError> {
    ok(url, status, body)?;
    serde_json::from_slice(body).map_err(|e| HttpError::Malformed {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// Whether the answer is a 200; otherwise an error that shows the start
/// of the body.
pub fn ok(url: &str, status: u16, body: &[u8]) -> Result<(), HttpError> {
    if status == 200 {
        return Ok(());
    }
    Err(HttpError::Status {
        url: url.to_string(),
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    })
}
