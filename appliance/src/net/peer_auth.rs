//! Peers prove who they are before they are heard, and what they say about
//! their chain is believed only as far as it is signed.
//!
//! **Signed requests.** Every request to the peer door carries five
//! headers: the sender's node id (`x-evote-node`), the time it was sent
//! (`x-evote-time`, ms since 1970), a random nonce (`x-evote-nonce`, 32 hex
//! digits), the SHA-256 of its body (`x-evote-body-sha256`) and the
//! sender's Ed25519 signature (`x-evote-signature`) over the canonical
//! `{type: "peer_request", chain_id, node, method, path, time_ms, nonce,
//! body_sha256}`, `path` being the path and query from `/p2p/` on. The
//! door checks them before it reads the body beyond its headers: the
//! node must be a validator or station of the genesis, the time within
//! [`MAX_CLOCK_SKEW_MS`] of the door's clock, the nonce unseen within that
//! window, the signature valid; only then is the body read (up to the
//! route's limit) and its hash compared. A request that fails any of it is
//! answered 401 and costs one signature check at most.
//!
//! **Signed status.** `GET /p2p/status` answers a [`StatusReport`] signed
//! by the node (`{type: "peer_status", chain_id, node_id, height,
//! best_hash, round, role, started_at_ms, rpc_url, time_ms}`) with the
//! head block's header and
//! commit seals beside it. A poller believes a peer's height only from a
//! validator of the genesis whose signed status is fresh and whose head
//! header carries Q valid commit seals and hashes to the reported head: a
//! fake peer claiming height 10^9 is ignored, not followed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::SharedState;
use super::error::ApiError;
use super::peers::StatusReport;
use crate::auth::random_bytes;
use crate::clock::now_ms;
use crate::ledger::crypto::verify;
use crate::ledger::validate::check_seals;
use crate::ledger::{
    Block, BlockHeader, CommitSeal, Genesis, Hash32, NodeKey, PublicKey, Signature, sha256,
};

pub const H_NODE: &str = "x-evote-node";
pub const H_TIME: &str = "x-evote-time";
pub const H_NONCE: &str = "x-evote-nonce";
pub const H_BODY: &str = "x-evote-body-sha256";
pub const H_SIGNATURE: &str = "x-evote-signature";

/// How far a signed request's or status's time may be from the receiver's
/// clock; also how long a nonce is remembered. Appliances keep their
/// clocks within this of each other (block timestamps need it too).
pub const MAX_CLOCK_SKEW_MS: u64 = 30_000;
/// Nonces remembered per peer within the window: far above what a peer
/// sends in [`MAX_CLOCK_SKEW_MS`]; past it the peer is answered 503 (its
/// requests are refused, never let through unchecked).
pub const MAX_NONCES_PER_PEER: usize = 200_000;
/// The largest body a peer request may carry once its sender is known
/// (a proposal of a full block).
pub const MAX_PEER_BODY: usize = 32 * 1024 * 1024;

/// What a peer signs for a request.
#[derive(Serialize)]
struct SignedRequest<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chain_id: &'a Hash32,
    node: &'a PublicKey,
    method: &'a str,
    path: &'a str,
    time_ms: u64,
    nonce: &'a str,
    body_sha256: &'a Hash32,
}

/// The part of a URL a request signs: from `/p2p/` on (a relay in front of
/// a peer may add a path prefix of its own).
pub fn signed_path(url: &str) -> &str {
    url.find("/p2p/").map_or(url, |i| &url[i..])
}

/// Signs outgoing peer requests with this node's key.
pub struct Signer {
    key: std::sync::Arc<NodeKey>,
    chain_id: Hash32,
}

impl Signer {
    pub fn new(key: std::sync::Arc<NodeKey>, chain_id: Hash32) -> Self {
        Self { key, chain_id }
    }

    /// The node id requests are signed as.
    pub fn node(&self) -> PublicKey {
        self.key.public()
    }

    /// The headers that authenticate a request of `method` to `url` with
    /// `body`.
    pub fn headers(&self, method: &str, url: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        self.headers_at(method, url, body, now_ms())
    }

    /// [`Signer::headers`] as if sent at `time_ms`.
    pub fn headers_at(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
        time_ms: u64,
    ) -> Vec<(&'static str, String)> {
        let node = self.key.public();
        let nonce = hex::encode(random_bytes::<16>());
        let body_sha256 = sha256(body);
        let msg = SignedRequest {
            kind: "peer_request",
            chain_id: &self.chain_id,
            node: &node,
            method,
            path: signed_path(url),
            time_ms,
            nonce: &nonce,
            body_sha256: &body_sha256,
        };
        let signature = self.key.sign(&msg).expect("a request signs");
        vec![
            (H_NODE, node.to_hex()),
            (H_TIME, time_ms.to_string()),
            (H_NONCE, nonce),
            (H_BODY, body_sha256.to_hex()),
            (H_SIGNATURE, signature.to_hex()),
        ]
    }

    /// A signed GET.
    pub fn get(
        &self,
        agent: &ureq::Agent,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut req = agent.get(url);
        for (k, v) in self.headers("GET", url, b"") {
            req = req.header(k, v);
        }
        req.call()
    }

    /// A signed POST of `body` as JSON.
    pub fn post_json<T: Serialize + ?Sized>(
        &self,
        agent: &ureq::Agent,
        url: &str,
        body: &T,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let bytes = serde_json::to_vec(body).expect("a peer message encodes");
        let mut req = agent.post(url).header("content-type", "application/json");
        for (k, v) in self.headers("POST", url, &bytes) {
            req = req.header(k, v);
        }
        req.send(&bytes[..])
    }
}

/// A request's authentication headers, parsed.
#[derive(Debug)]
struct Claimed {
    node: PublicKey,
    time_ms: u64,
    nonce: String,
    body_sha256: Hash32,
    signature: Signature,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthenticated(format!("missing header {name}")))
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "peer_unauthenticated", message)
}

impl Claimed {
    fn parse(h: &HeaderMap) -> Result<Self, ApiError> {
        let bad = |what: &str| unauthenticated(format!("malformed header {what}"));
        let nonce = header(h, H_NONCE)?;
        if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(H_NONCE));
        }
        Ok(Self {
            node: PublicKey::parse(header(h, H_NODE)?).map_err(|_| bad(H_NODE))?,
            time_ms: header(h, H_TIME)?.parse().map_err(|_| bad(H_TIME))?,
            nonce: nonce.to_ascii_lowercase(),
            body_sha256: Hash32::parse(header(h, H_BODY)?).map_err(|_| bad(H_BODY))?,
            signature: Signature::parse(header(h, H_SIGNATURE)?).map_err(|_| bad(H_SIGNATURE))?,
        })
    }
}

/// The nonces each peer used within the window, oldest first.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<BTreeMap<PublicKey, PeerNonces>>,
}

#[derive(Default)]
struct PeerNonces {
    order: VecDeque<(u64, String)>,
    set: BTreeSet<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Fresh {
    Yes,
    Replayed,
    Full,
}

impl ReplayGuard {
    /// Records `nonce` of `node` sent at `time_ms`; whether it is new.
    fn admit(&self, node: &PublicKey, nonce: &str, time_ms: u64, now: u64) -> Fresh {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let peer = seen.entry(*node).or_default();
        while let Some((t, _)) = peer.order.front() {
            if t.saturating_add(2 * MAX_CLOCK_SKEW_MS) >= now {
                break;
            }
            let (_, old) = peer.order.pop_front().expect("front exists");
            peer.set.remove(&old);
        }
        if peer.set.contains(nonce) {
            return Fresh::Replayed;
        }
        if peer.set.len() >= MAX_NONCES_PER_PEER {
            return Fresh::Full;
        }
        peer.set.insert(nonce.to_string());
        peer.order.push_back((time_ms.max(now), nonce.to_string()));
        Fresh::Yes
    }
}

/// Checks a request's headers against the genesis, the clock, the nonces
/// seen and the signature; the sender on success.
fn check_headers(
    genesis: &Genesis,
    chain_id: &Hash32,
    replay: &ReplayGuard,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    now: u64,
) -> Result<Claimed, ApiError> {
    let c = Claimed::parse(headers)?;
    if !genesis.is_origin(&c.node) {
        return Err(unauthenticated(
            "the sender is not an appliance of this genesis",
        ));
    }
    if c.time_ms.abs_diff(now) > MAX_CLOCK_SKEW_MS {
        return Err(unauthenticated(format!(
            "the request's time is more than {MAX_CLOCK_SKEW_MS} ms from this node's clock"
        )));
    }
    let msg = SignedRequest {
        kind: "peer_request",
        chain_id,
        node: &c.node,
        method,
        path,
        time_ms: c.time_ms,
        nonce: &c.nonce,
        body_sha256: &c.body_sha256,
    };
    if !verify(&c.node, &msg, &c.signature).unwrap_or(false) {
        return Err(unauthenticated("bad request signature"));
    }
    match replay.admit(&c.node, &c.nonce, c.time_ms, now) {
        Fresh::Yes => Ok(c),
        Fresh::Replayed => Err(unauthenticated("a replayed request (its nonce was used)")),
        Fresh::Full => Err(ApiError::busy("too many requests from this peer")),
    }
}

/// Checks a request's authentication headers given as `name: value` lines
/// (lines that are no header are skipped), as the peer door does: for the
/// fuzz harnesses.
pub fn check_header_lines(
    genesis: &Genesis,
    chain_id: &Hash32,
    method: &str,
    path: &str,
    lines: &str,
    now: u64,
) -> Result<PublicKey, ApiError> {
    let mut headers = HeaderMap::new();
    for line in lines.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.trim().as_bytes()),
            axum::http::HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let replay = ReplayGuard::default();
    check_headers(genesis, chain_id, &replay, method, path, &headers, now).map(|c| c.node)
}

/// The peer door's guard: a request is heard only once its sender proved
/// it holds a key of the genesis; its body is read only then.
pub async fn require_peer(
    State(s): State<SharedState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str())
        .to_string();
    let claimed = check_headers(
        &s.genesis,
        &s.chain_id,
        &s.peer_nonces,
        parts.method.as_str(),
        &path,
        &parts.headers,
        now_ms(),
    )?;
    let bytes = axum::body::to_bytes(body, MAX_PEER_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("a peer request's body is at most {MAX_PEER_BODY} bytes"),
            )
        })?;
    if sha256(&bytes) != claimed.body_sha256 {
        return Err(unauthenticated("the body does not match its signed hash"));
    }
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

/// A head block's header and commit seals: the proof of a reported height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadProof {
    pub header: BlockHeader,
    pub seals: Vec<CommitSeal>,
}

/// What a node signs about its chain in its status.
#[derive(Serialize)]
struct SignedStatus<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chain_id: &'a Hash32,
    node_id: &'a PublicKey,
    height: u64,
    best_hash: &'a Hash32,
    round: u64,
    role: &'a str,
    started_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rpc_url: Option<&'a str>,
    time_ms: u64,
}

/// The fields of a status that its signature covers: all of it but the
/// head proof (which carries signatures of its own) and the values derived
/// from these (`genesis_hash` is `chain_id`, `chain_length` is
/// `height + 1`). `started_at_ms` tells a poller the peer restarted (and
/// may have lost the messages it acknowledged); `rpc_url` is where voters'
/// code lookups go; neither may be changed on the way.
pub struct StatusFields<'a> {
    pub chain_id: &'a Hash32,
    pub node_id: &'a PublicKey,
    pub height: u64,
    pub best_hash: &'a Hash32,
    pub round: u64,
    pub role: &'a str,
    pub started_at_ms: u64,
    pub rpc_url: Option<&'a str>,
    pub time_ms: u64,
}

impl StatusFields<'_> {
    fn message(&self) -> SignedStatus<'_> {
        SignedStatus {
            kind: "peer_status",
            chain_id: self.chain_id,
            node_id: self.node_id,
            height: self.height,
            best_hash: self.best_hash,
            round: self.round,
            role: self.role,
            started_at_ms: self.started_at_ms,
            rpc_url: self.rpc_url,
            time_ms: self.time_ms,
        }
    }

    pub fn sign(&self, key: &NodeKey) -> Signature {
        key.sign(&self.message()).expect("a status signs")
    }

    /// Whether `signature` is the node's over these fields, made within
    /// [`MAX_CLOCK_SKEW_MS`] of `now`.
    pub fn verify(&self, signature: &Signature, now: u64) -> Result<(), String> {
        if self.time_ms.abs_diff(now) > MAX_CLOCK_SKEW_MS {
            return Err("its status is stale or from the future".into());
        }
        match verify(self.node_id, &self.message(), signature) {
            Ok(true) => Ok(()),
            _ => Err("its status is not signed by its node id".into()),
        }
    }
}

/// Whether `proof` shows that a block at `height` hashing to `best_hash`
/// is committed on this chain: its header matches and Q validators sealed
/// it.
pub fn check_head(
    genesis: &Genesis,
    chain_id: &Hash32,
    height: u64,
    best_hash: &Hash32,
    proof: &HeadProof,
) -> Result<(), String> {
    let h = &proof.header;
    if &h.chain_id != chain_id || h.height != height {
        return Err("its head header is for another chain or height".into());
    }
    let hash = h.hash().map_err(|e| e.to_string())?;
    if &hash != best_hash {
        return Err("its head header does not hash to its best hash".into());
    }
    // The seals sign the header's commit statement; a block without its
    // transactions carries the same statement.
    let block = Block {
        header: h.clone(),
        block_hash: hash,
        proposer_signature: Signature([0; 64]),
        transactions: Vec::new(),
        seals: Vec::new(),
    };
    check_seals(genesis, &block, &proof.seals).map_err(|e| format!("its head: {e}"))
}

/// What a poller believes of a peer's status: an error if it is not the
/// fresh, signed status of an appliance of this genesis; otherwise the
/// height it may act on: a validator's, proven by its head's commit seals,
/// and none for a station (whose height proves nothing).
pub fn check_status(
    s: &StatusReport,
    genesis: &Genesis,
    chain_id: &Hash32,
    now: u64,
) -> Result<Option<u64>, String> {
    if &s.genesis_hash != chain_id {
        return Err(format!("peer is on another chain ({})", s.genesis_hash));
    }
    if !genesis.is_origin(&s.node_id) {
        return Err("peer is not an appliance of this genesis".into());
    }
    if s.chain_length != s.height.saturating_add(1) {
        return Err("its chain length is not its height + 1".into());
    }
    let signature = s.signature.as_ref().ok_or("its status is not signed")?;
    StatusFields {
        chain_id,
        node_id: &s.node_id,
        height: s.height,
        best_hash: &s.best_hash,
        round: s.round,
        role: &s.role,
        started_at_ms: s.started_at_ms,
        rpc_url: s.rpc_url.as_deref(),
        time_ms: s.time_ms,
    }
    .verify(signature, now)?;
    if !genesis.is_validator(&s.node_id) {
        return Ok(None);
    }
    if s.height == 0 {
        return match &s.best_hash == chain_id {
            true => Ok(Some(0)),
            false => Err("its head at height 0 is not the genesis".into()),
        };
    }
    let proof = s
        .head
        .as_ref()
        .ok_or("its head comes without commit seals")?;
    check_head(genesis, chain_id, s.height, &s.best_hash, proof)?;
    Ok(Some(s.height))
}

#[cfg(test)]
mod tests;
