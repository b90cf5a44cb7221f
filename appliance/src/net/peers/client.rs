//! Every request this node makes to a peer is built and sent by
//! [`PeerClient::call`]: the one place that names this node to the peer
//! and signs the request (`peer_auth::Signer`: node id, time, nonce, body
//! hash and signature headers, which the peer checks before it reads the
//! body). Every answer is
//! read to its end, error answers too: ureq puts a connection back in its
//! pool only then, and the next request to that peer goes out on it (one
//! round trip, not two: a new connection costs one more).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::super::peer_auth::Signer;
use crate::ledger::{Hash32, NodeKey};

/// How long a connection to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a whole call to a peer may take, beyond its body's time on
/// the wire ([`call_timeout`]).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The slowest a request body is expected to move, in bytes per second:
/// 256 kbit/s, a quarter of a 1 Mbit/s uplink (a validator sends to three
/// others and a station at once).
pub const MIN_BODY_RATE: u64 = 32 * 1024;
/// The longest answer body kept of an error answer (the rest is read and dropped).
const MAX_ERROR_BODY: usize = 4 * 1024;
/// The largest answer read by default.
pub const MAX_ANSWER: u64 = 1024 * 1024;
/// Idle connections kept per peer (one per sender thread and the poller).
const IDLE_PER_PEER: usize = 8;
/// How long an idle connection is kept (a peer polled every second never
/// lets its connection idle that long).
const IDLE_FOR: Duration = Duration::from_secs(30);

/// How long a call sending `body_len` bytes may take: [`CALL_TIMEOUT`]
/// and the body's time at [`MIN_BODY_RATE`]. A call given up is sent
/// again whole after a backoff, and the bytes of the first try were spent
/// on the uplink for nothing: a fixed bound shorter than a large body's
/// time on a thin uplink failed that body every time, and its retries took
/// the uplink from everything else until no call finished at all.
pub fn call_timeout(body_len: usize) -> Duration {
    let on_the_wire = Duration::from_millis(body_len as u64 * 1000 / MIN_BODY_RATE);
    CALL_TIMEOUT + on_the_wire
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer: the peer could not be reached, or did not answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// The peer answered with an error status (503 when busy, 4xx for a
    /// request it refused): it is on the network.
    #[error("answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The peer answered, but not with what was asked for.
    #[error("unreadable answer: {0}")]
    BadAnswer(String),
}

impl CallError {
    /// Whether the peer answered at all.
    pub fn answered(&self) -> bool {
        !matches!(self, CallError::Unreachable(_))
    }
}

/// A request to a peer: a GET, or a POST of a JSON body.
pub enum Call<'a> {
    Get,
    Post(&'a [u8]),
}

/// Calls to peers, on pooled keep-alive connections.
#[derive(Clone)]
pub struct PeerClient {
    agent: ureq::Agent,
    signer: Arc<Signer>,
}

impl PeerClient {
    pub fn new(key: Arc<NodeKey>, chain_id: Hash32) -> Self {
        let agent = ureq::Agent::config_builder()
            .tls_config(crate::net::tls::trusted())
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(CALL_TIMEOUT))
            .http_status_as_error(false)
            .max_idle_connections(256)
            .max_idle_connections_per_host(IDLE_PER_PEER)
            .max_idle_age(IDLE_FOR)
            .build()
            .into();
        Self {
            agent,
            signer: Arc::new(Signer::new(key, chain_id)),
        }
    }

    /// Sends `call` to `url` and reads the whole answer, up to `limit`
    /// bytes, within `timeout`. A 2xx answer's body is returned.
    pub fn call(
        &self,
        url: &str,
        call: Call<'_>,
        limit: u64,
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let started = std::time::Instant::now();
        let sent = match call {
            Call::Get => {
                let mut req = self.agent.get(url);
                for (k, v) in self.signer.headers("GET", url, b"") {
                    req = req.header(k, v);
                }
                req.config().timeout_global(Some(timeout)).build().call()
            }
            Call::Post(body) => {
                let mut req = self
                    .agent
                    .post(url)
                    .header("content-type", "application/json");
                for (k, v) in self.signer.headers("POST", url, body) {
                    req = req.header(k, v);
                }
                req.config()
                    .timeout_global(Some(timeout))
                    .build()
                    .send(body)
            }
        };
        // Each call's path, size and time until the answer's head, at trace
        // level: what a saturated uplink spends its time on.
        let sent_len = match call {
            Call::Get => 0,
            Call::Post(b) => b.len(),
        };
        tracing::trace!(
            url,
            bytes = sent_len,
            ms = started.elapsed().as_millis() as u64,
            ok = sent.is_ok(),
            "peer call"
        );
        let mut resp = sent.map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| CallError::Unreachable(format!("reading the answer: {e}")))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            let end = body.len().min(MAX_ERROR_BODY);
            Err(CallError::Status {
                status,
                body: String::from_utf8_lossy(&body[..end]).into_owned(),
            })
        }
    }

    /// GETs `url` and reads its JSON answer.
    pub fn get_json<T: DeserializeOwned>(&self, url: &str, limit: u64) -> Result<T, CallError> {
        let body = self.call(url, Call::Get, limit, CALL_TIMEOUT)?;
        serde_json::from_slice(&body).map_err(|e| CallError::BadAnswer(e.to_string()))
    }

    /// POSTs `body` as JSON to `url`; the answer's body.
    pub fn post_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<Vec<u8>, CallError> {
        let bytes = serde_json::to_vec(body).expect("peer requests encode");
        let timeout = call_timeout(bytes.len());
        self.call(url, Call::Post(&bytes), MAX_ANSWER, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_may_take_its_bodys_time_on_a_thin_uplink_and_more() {
        assert_eq!(call_timeout(0), CALL_TIMEOUT);
        // A block of a backlog carried whole, 1.3 MB: 40 s at 256 kbit/s
        // beyond the base, where 10 s failed it on every try.
        let big = call_timeout(1_310_720);
        assert_eq!(big, CALL_TIMEOUT + Duration::from_secs(40));
    }
}
