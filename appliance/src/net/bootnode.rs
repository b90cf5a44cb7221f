//! The bootnode: the seeds' discovery service (`evote-appliance bootnode`).
//!
//! Appliances register their base URL with `POST /register_peer` and learn
//! each other's with `GET /discover?node_id=`; `GET /peers` lists the table
//! and `GET /health` answers liveness. Nothing here is durable or trusted: a
//! registration is a hint where a node may be reached, and the peer protocol
//! checks whoever answers there (its node id and genesis) itself.
//!
//! Limits: a peer not re-registered for [`PEER_TTL_MS`] is dropped; the table
//! holds at most [`MAX_PEERS`] (when full, a new node is answered 503 `busy`,
//! a known one may still re-register); bodies are at most
//! [`BOOTNODE_BODY_LIMIT`]; URLs at most [`MAX_URL_LEN`]. Connections and
//! request time are capped as for every server (`server::serve`,
//! `server::REQUEST_TIMEOUT`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use super::error::{ApiError, ApiJson, ApiQuery, not_found};
use super::server;
use crate::clock::now_ms;
use crate::ledger::{Hash32, PublicKey};

/// A peer not seen (re-registered) for this long is dropped.
pub const PEER_TTL_MS: u64 = 60_000;
/// Peers the registry holds at most; past it new nodes are refused.
pub const MAX_PEERS: usize = 10_000;
/// Longest `url` a peer may register.
pub const MAX_URL_LEN: usize = 2_048;
/// Largest request body the bootnode reads.
pub const BOOTNODE_BODY_LIMIT: usize = 16 * 1024;
/// How often the background task drops expired peers (every request also
/// does).
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

/// What a peer says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Validator,
    Station,
}

/// A node id as the bootnode takes it: an appliance's public key
/// (`0x` + 64 lowercase hex digits) or a name such as the seeds'
/// `validator-1`.
pub type NodeId = String;

/// Longest node name.
pub const MAX_NAME_LEN: usize = 64;

/// One registration, already validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub node_id: NodeId,
    pub public_key: Option<PublicKey>,
    pub url: String,
    pub ip: String,
    pub p2p_port: u16,
    pub rpc_port: u16,
    pub role: Option<Role>,
    pub genesis_hash: Option<Hash32>,
}

/// A registered peer, as `/discover` and `/peers` answer it: the seeds'
/// `node_id`, `ip`, `p2p_port`, `rpc_port`, `public_key`, and the base
/// `url` evote's appliances use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    #[serde(flatten)]
    pub registration: Registration,
    pub last_seen_ms: u64,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("the peer table is full ({0} peers); try again later")]
    Full(usize),
}

/// The peer table. Pure: the time comes in as `now_ms`, and every call first
/// drops the peers that expired by then.
#[derive(Debug, Clone)]
pub struct Registry {
    peers: BTreeMap<NodeId, Peer>,
    /// (last_seen_ms, node_id) of every peer: the oldest first, for pruning.
    by_seen: BTreeSet<(u64, NodeId)>,
    max_peers: usize,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty table of at most [`MAX_PEERS`].
    pub fn new() -> Self {
        Self::with_capacity(MAX_PEERS)
    }

    /// An empty table of at most `max_peers`.
    pub fn with_capacity(max_peers: usize) -> Self {
        Self {
            peers: BTreeMap::new(),
            by_seen: BTreeSet::new(),
            max_peers,
        }
    }

    /// Adds or refreshes a peer; answers how many peers are live now.
    pub fn register(&mut self, reg: Registration, now_ms: u64) -> Result<usize, RegistryError> {
        self.prune(now_ms);
        match self.peers.get(&reg.node_id) {
            Some(old) => {
                self.by_seen
                    .remove(&(old.last_seen_ms, reg.node_id.clone()));
            }
            None if self.peers.len() >= self.max_peers => {
                return Err(RegistryError::Full(self.max_peers));
            }
            None => {}
        }
        self.by_seen.insert((now_ms, reg.node_id.clone()));
        self.peers.insert(
            reg.node_id.clone(),
            Peer {
                registration: reg,
                last_seen_ms: now_ms,
            },
        );
        Ok(self.peers.len())
    }

    /// Live peers for `asker`: all but the asker itself, and if the asker
    /// registered a genesis hash, only peers of that genesis or of none.
    pub fn discover(&mut self, asker: Option<&str>, now_ms: u64) -> Vec<Peer> {
        self.prune(now_ms);
        let genesis = asker
            .and_then(|id| self.peers.get(id))
            .and_then(|p| p.registration.genesis_hash);
        self.peers
            .values()
            .filter(|p| Some(p.registration.node_id.as_str()) != asker)
            .filter(|p| match (genesis, p.registration.genesis_hash) {
                (Some(mine), Some(theirs)) => mine == theirs,
                _ => true,
            })
            .cloned()
            .collect()
    }

    /// Every live peer, by node id.
    pub fn list(&mut self, now_ms: u64) -> Vec<Peer> {
        self.prune(now_ms);
        self.peers.values().cloned().collect()
    }

    /// How many peers are live.
    pub fn count(&mut self, now_ms: u64) -> usize {
        self.prune(now_ms);
        self.peers.len()
    }

    /// Drops the peers not seen for [`PEER_TTL_MS`]; answers how many.
    pub fn prune(&mut self, now_ms: u64) -> usize {
        let mut dropped = 0;
        while let Some((seen, _)) = self.by_seen.first() {
            if now_ms.saturating_sub(*seen) < PEER_TTL_MS {
                break;
            }
            if let Some((_, id)) = self.by_seen.pop_first() {
                self.peers.remove(&id);
            }
            dropped += 1;
        }
        dropped
    }
}

/// The registry as the handlers share it. The lock is never held across an
/// `.await`.
pub type SharedRegistry = Arc<Mutex<Registry>>;

fn lock(r: &SharedRegistry) -> MutexGuard<'_, Registry> {
    // No call panics while holding the lock, and the table stays consistent
    // between calls, so a poisoned lock is still usable.
    r.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bootnode's routes, limits and error shape.
pub fn router(state: SharedRegistry) -> Router {
    Router::new()
        .route("/register_peer", post(register_peer))
        .route("/discover", get(discover))
        .route("/peers", get(peers))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BOOTNODE_BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            server::REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// Binds `listen` and serves the bootnode until `shutdown` completes.
pub async fn run(
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    serve(listener, shutdown).await
}

/// Serves the bootnode on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!("bootnode listening on http://{}", listener.local_addr()?);
    let state = SharedRegistry::default();
    let pruner = tokio::spawn(prune_forever(state.clone()));
    let served = server::serve(listener, router(state), server::PUBLIC_DOOR, None, shutdown).await;
    pruner.abort();
    served
}

async fn prune_forever(state: SharedRegistry) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let dropped = lock(&state).prune(now_ms());
        if dropped > 0 {
            tracing::debug!("bootnode dropped {dropped} expired peers");
        }
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that HTTP method",
    )
}

/// A public key (`0x` + 64 lowercase hex digits) or a name of 1 to
/// [`MAX_NAME_LEN`] letters, digits, `.`, `_` or `-`.
fn check_node_id(s: &str) -> Result<NodeId, ApiError> {
    let bad = |why: String| ApiError::bad_request("invalid_node_id", why);
    if s.starts_with("0x") {
        return PublicKey::parse(s).map(|k| k.to_hex()).map_err(|e| {
            bad(format!(
                "a node_id starting 0x must be 0x and 64 lowercase hex digits: {e}"
            ))
        });
    }
    let name_ok = !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !name_ok {
        return Err(bad(format!(
            "node_id must be a public key or a name of 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(s.to_string())
}

fn check_public_key(s: &str) -> Result<PublicKey, ApiError> {
    PublicKey::parse(s).map_err(|e| {
        ApiError::bad_request(
            "invalid_public_key",
            format!("public_key must be 0x and 64 lowercase hex digits: {e}"),
        )
    })
}

fn check_genesis_hash(s: &str) -> Result<Hash32, ApiError> {
    Hash32::parse(s).map_err(|e| {
        ApiError::bad_request(
            "invalid_genesis_hash",
            format!("genesis_hash must be 0x and 64 lowercase hex digits: {e}"),
        )
    })
}

/// An absolute `http(s)://host:port[/path]` URL, without user info or query.
fn check_url(s: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::bad_request("invalid_url", format!("url {why}"));
    if s.len() > MAX_URL_LEN {
        return Err(bad(&format!("is longer than {MAX_URL_LEN} bytes")));
    }
    let uri: Uri = s.parse().map_err(|_| bad("is not a valid absolute URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("must start with http:// or https://"));
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(bad("must not carry user info"));
    }
    if authority.host().is_empty() || authority.host() == "[]" {
        return Err(bad("has no host"));
    }
    match authority.port_u16() {
        Some(p) if p != 0 => {}
        _ => return Err(bad("must name a port, e.g. http://host:8001")),
    }
    if uri.query().is_some() {
        return Err(bad("must not carry a query"));
    }
    Ok(s.to_string())
}

/// evote's appliances send `node_id`, `url`, `role`, `genesis_hash`; the
/// seeds' validators send `node_id`, `ip`, `p2p_port`, `rpc_port`,
/// `public_key`. Either is taken.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    node_id: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    p2p_port: Option<u16>,
    #[serde(default)]
    rpc_port: Option<u16>,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    genesis_hash: Option<String>,
}

/// (url, ip, p2p_port, rpc_port) from either form of registration.
fn check_address(body: &RegisterBody) -> Result<(String, String, u16, u16), ApiError> {
    if let Some(url) = &body.url {
        let url = check_url(url)?;
        let uri: Uri = url.parse().map_err(|_| ApiError::internal("url", &url))?;
        let authority = uri
            .authority()
            .ok_or_else(|| ApiError::internal("url", &url))?;
        let port = authority.port_u16().unwrap_or_default();
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        return Ok((
            url.clone(),
            host.to_string(),
            body.p2p_port.unwrap_or(port),
            body.rpc_port.unwrap_or(port),
        ));
    }
    let (Some(ip), Some(rpc_port)) = (&body.ip, body.rpc_port) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "give url, or ip and rpc_port (with p2p_port)",
        ));
    };
    let host = if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.clone()
    };
    let url = check_url(&format!("http://{host}:{rpc_port}")).map_err(|_| {
        ApiError::bad_request("invalid_ip", "ip must be a host name or an IP address")
    })?;
    Ok((url, ip.clone(), body.p2p_port.unwrap_or(rpc_port), rpc_port))
}

async fn register_peer(
    State(s): State<SharedRegistry>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let node_id = check_node_id(&body.node_id)?;
    let mut public_key = body
        .public_key
        .as_deref()
        .map(check_public_key)
        .transpose()?;
    if let Ok(key) = PublicKey::parse(&node_id) {
        if public_key.is_some_and(|k| k != key) {
            return Err(ApiError::bad_request(
                "invalid_public_key",
                "public_key differs from the node_id, which is a key",
            ));
        }
        public_key = Some(key);
    }
    let (url, ip, p2p_port, rpc_port) = check_address(&body)?;
    let reg = Registration {
        node_id: node_id.clone(),
        public_key,
        url,
        ip,
        p2p_port,
        rpc_port,
        role: body.role,
        genesis_hash: body
            .genesis_hash
            .as_deref()
            .map(check_genesis_hash)
            .transpose()?,
    };
    let now = now_ms();
    let mut registry = lock(&s);
    let count = registry
        .register(reg, now)
        .map_err(|e| ApiError::busy(e.to_string()))?;
    let peers = registry.discover(Some(&node_id), now);
    drop(registry);
    tracing::debug!("bootnode registered {node_id}");
    Ok(axum::Json(json!({
        "registered": true,
        "status": "registered",
        "node_id": node_id,
        "peers": peers,
        "count": count,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverQuery {
    #[serde(default)]
    node_id: Option<String>,
}

async fn discover(
    State(s): State<SharedRegistry>,
    ApiQuery(q): ApiQuery<DiscoverQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let asker = q.node_id.as_deref().map(check_node_id).transpose()?;
    let peers = lock(&s).discover(asker.as_deref(), now_ms());
    Ok(axum::Json(json!({ "peers": peers })))
}

async fn peers(State(s): State<SharedRegistry>) -> axum::Json<Value> {
    let peers = lock(&s).list(now_ms());
    let count = peers.len();
    axum::Json(json!({ "peers": peers, "count": count }))
}

async fn health(State(s): State<SharedRegistry>) -> axum::Json<Value> {
    let n = lock(&s).count(now_ms());
    axum::Json(json!({ "status": "healthy", "peers": n }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, header};
    use tower::ServiceExt;

    fn id(n: u8) -> PublicKey {
        PublicKey([n; 32])
    }

    fn id_hex(n: u8) -> String {
        id(n).to_hex()
    }

    fn gen_hash(n: u8) -> Hash32 {
        Hash32([n; 32])
    }

    fn reg(n: u8, genesis: Option<u8>) -> Registration {
        Registration {
            node_id: id_hex(n),
            public_key: Some(id(n)),
            url: format!("http://10.0.0.{n}:8001"),
            ip: format!("10.0.0.{n}"),
            p2p_port: 8001,
            rpc_port: 8001,
            role: Some(Role::Validator),
            genesis_hash: genesis.map(gen_hash),
        }
    }

    fn ids(peers: &[Peer]) -> Vec<String> {
        peers
            .iter()
            .map(|p| p.registration.node_id.clone())
            .collect()
    }

    #[test]
    fn register_adds_and_reregister_updates_url_and_last_seen() {
        let mut r = Registry::new();
        assert_eq!(r.register(reg(1, None), 1_000), Ok(1));
        assert_eq!(r.register(reg(2, None), 1_000), Ok(2));
        let mut again = reg(1, Some(7));
        again.url = "https://node1.example:443/evote".into();
        again.role = Some(Role::Station);
        assert_eq!(r.register(again.clone(), 5_000), Ok(2));
        let list = r.list(5_000);
        assert_eq!(ids(&list), vec![id_hex(1), id_hex(2)]);
        let expected = Peer {
            registration: again,
            last_seen_ms: 5_000,
        };
        assert_eq!(list[0], expected);
        assert_eq!(list[1].last_seen_ms, 1_000);
        // The old last_seen no longer counts: node 1 outlives node 2.
        assert_eq!(ids(&r.list(1_000 + PEER_TTL_MS)), vec![id_hex(1)]);
        assert_eq!(r.by_seen.len(), r.peers.len());
    }

    #[test]
    fn discover_excludes_the_asker_and_other_genesis() {
        let mut r = Registry::new();
        r.register(reg(1, Some(0xaa)), 0).unwrap();
        r.register(reg(2, Some(0xaa)), 0).unwrap();
        r.register(reg(3, Some(0xbb)), 0).unwrap();
        r.register(reg(4, None), 0).unwrap();
        assert_eq!(
            ids(&r.discover(Some(&id_hex(1)), 0)),
            vec![id_hex(2), id_hex(4)]
        );
        assert_eq!(ids(&r.discover(Some(&id_hex(3)), 0)), vec![id_hex(4)]);
        // No genesis of its own: everyone else.
        assert_eq!(
            ids(&r.discover(Some(&id_hex(4)), 0)),
            vec![id_hex(1), id_hex(2), id_hex(3)]
        );
        // Unknown or anonymous asker: everyone.
        assert_eq!(r.discover(Some(&id_hex(9)), 0).len(), 4);
        assert_eq!(r.discover(None, 0).len(), 4);
    }

    #[test]
    fn peers_expire_after_the_ttl_unless_they_reregister() {
        let mut r = Registry::new();
        r.register(reg(1, None), 0).unwrap();
        r.register(reg(2, None), 10_000).unwrap();
        assert_eq!(r.count(PEER_TTL_MS - 1), 2);
        assert_eq!(r.count(PEER_TTL_MS), 1);
        assert_eq!(ids(&r.list(PEER_TTL_MS)), vec![id_hex(2)]);
        r.register(reg(2, None), PEER_TTL_MS + 5_000).unwrap();
        assert_eq!(r.prune(10_000 + PEER_TTL_MS), 0);
        assert_eq!(r.prune(PEER_TTL_MS + 5_000 + PEER_TTL_MS), 1);
        assert_eq!(r.count(u64::MAX), 0);
        assert!(r.by_seen.is_empty());
        // A clock that steps back never drops anyone early.
        r.register(reg(3, None), 100_000).unwrap();
        assert_eq!(r.count(50_000), 1);
    }

    #[test]
    fn a_full_table_refuses_new_nodes_but_not_known_ones() {
        let mut r = Registry::with_capacity(2);
        r.register(reg(1, None), 0).unwrap();
        r.register(reg(2, None), 1).unwrap();
        assert_eq!(r.register(reg(3, None), 2), Err(RegistryError::Full(2)));
        assert_eq!(r.register(reg(1, None), 3), Ok(2));
        // Once a peer expires there is room again.
        assert_eq!(r.register(reg(3, None), 1 + PEER_TTL_MS), Ok(2));
        assert_eq!(ids(&r.list(1 + PEER_TTL_MS)), vec![id_hex(1), id_hex(3)]);
    }

    #[test]
    fn urls_are_checked() {
        for good in [
            "http://127.0.0.1:8001",
            "http://localhost:8001/",
            "https://node.example:443/evote",
            "http://[::1]:8001",
        ] {
            assert_eq!(check_url(good).as_deref(), Ok(good), "{good}");
        }
        let long = format!("http://h:1/{}", "a".repeat(MAX_URL_LEN));
        for bad in [
            "",
            "node:8001",
            "127.0.0.1:8001",
            "ftp://host:21",
            "http://host",
            "http://host:0",
            "http://:8001",
            "http://user:pw@host:8001",
            "http://host:8001/?x=1",
            "http://host:99999",
            "http://ho st:8001",
            "/relative",
            long.as_str(),
        ] {
            let e = check_url(bad).unwrap_err();
            assert_eq!(e.code, "invalid_url", "{bad}");
        }
    }

    /// Registers node `n` with `register_body`.
    async fn register(app: &Router, n: u8, genesis: Option<u8>) -> (u16, Value) {
        call(
            app,
            "POST",
            "/register_peer",
            Some(register_body(n, genesis)),
        )
        .await
    }

    async fn call(app: &Router, method: &str, uri: &str, body: Option<String>) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Body::from(body.unwrap_or_default())).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v)
    }

    fn error_code(v: &Value) -> &str {
        assert!(v["error"]["message"].is_string(), "error shape: {v}");
        v["error"]["code"].as_str().expect("error code")
    }

    fn register_body(n: u8, genesis: Option<u8>) -> String {
        let mut v = json!({"node_id": id_hex(n), "url": format!("http://10.0.0.{n}:8001")});
        if let Some(g) = genesis {
            v["genesis_hash"] = json!(gen_hash(g));
            v["role"] = json!("validator");
        }
        v.to_string()
    }

    #[tokio::test]
    async fn the_routes_register_discover_list_and_report_health() {
        let app = router(SharedRegistry::default());
        let (code, v) = call(&app, "GET", "/health", None).await;
        assert_eq!((code, v), (200, json!({"status": "healthy", "peers": 0})));

        let (code, v) = register(&app, 1, Some(1)).await;
        assert_eq!(
            (code, v),
            (
                200,
                json!({"registered": true, "status": "registered", "node_id": id_hex(1), "peers": [], "count": 1})
            )
        );
        register(&app, 2, Some(1)).await;
        register(&app, 3, Some(2)).await;
        let (code, v) = register(&app, 4, None).await;
        assert_eq!((code, v["count"].as_u64()), (200, Some(4)));

        let (code, v) = call(
            &app,
            "GET",
            &format!("/discover?node_id={}", id_hex(1)),
            None,
        )
        .await;
        assert_eq!(code, 200);
        let peers = v["peers"].as_array().unwrap();
        let got: Vec<&str> = peers
            .iter()
            .map(|p| p["node_id"].as_str().unwrap())
            .collect();
        assert_eq!(got, vec![id_hex(2), id_hex(4)]);
        assert_eq!(peers[0]["url"], "http://10.0.0.2:8001");
        assert_eq!(peers[0]["role"], "validator");
        assert_eq!(peers[0]["genesis_hash"], json!(gen_hash(1)));
        assert!(peers[0]["last_seen_ms"].as_u64().unwrap() > 0);
        assert_eq!(peers[1]["role"], Value::Null);
        assert_eq!(peers[1]["genesis_hash"], Value::Null);

        let (code, v) = call(&app, "GET", "/discover", None).await;
        assert_eq!((code, v["peers"].as_array().unwrap().len()), (200, 4));

        // The seeds' form: a name as node id, ip and ports instead of a URL.
        let seed = json!({"node_id": "validator-1", "ip": "validator-1", "p2p_port": 30303,
            "rpc_port": 8001, "public_key": id_hex(9)});
        let (code, v) = call(&app, "POST", "/register_peer", Some(seed.to_string())).await;
        assert_eq!((code, &v["registered"]), (200, &json!(true)), "{v}");
        assert_eq!(v["peers"].as_array().unwrap().len(), 4, "{v}");
        let (code, v) = call(&app, "GET", "/discover?node_id=validator-1", None).await;
        assert_eq!(code, 200);
        assert_eq!(
            v["peers"].as_array().unwrap().len(),
            4,
            "the asker is left out: {v}"
        );
        let (_, v) = call(&app, "GET", "/discover?node_id=validator-2", None).await;
        let me = v["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["node_id"] == "validator-1")
            .expect("validator-1 is listed")
            .clone();
        assert_eq!(me["ip"], "validator-1");
        assert_eq!(me["p2p_port"], 30303);
        assert_eq!(me["rpc_port"], 8001);
        assert_eq!(me["public_key"], json!(id_hex(9)));
        assert_eq!(me["url"], "http://validator-1:8001");
        call(&app, "GET", "/discover?node_id=validator-1", None).await;
        let (_, v) = call(&app, "GET", "/peers", None).await;
        assert_eq!(v["count"], 5);
        let (_, v) = call(&app, "GET", "/discover", None).await;
        let first = &v["peers"][0];
        assert_eq!(
            (first["ip"].as_str(), first["p2p_port"].as_u64()),
            (Some("10.0.0.1"), Some(8001))
        );

        let (code, v) = call(&app, "GET", "/peers", None).await;
        assert_eq!((code, v["count"].as_u64()), (200, Some(5)));
        assert_eq!(v["peers"].as_array().unwrap().len(), 5);

        let (_, v) = call(&app, "GET", "/health", None).await;
        assert_eq!(v, json!({"status": "healthy", "peers": 5}));
    }

    #[tokio::test]
    async fn bad_input_is_answered_in_the_error_shape() {
        let app = router(SharedRegistry::default());
        let good_id = id_hex(1);
        let cases: Vec<(&str, &str, Option<String>, u16, &str)> = vec![
            (
                "POST",
                "/register_peer",
                Some("{\"node_id\":".into()),
                400,
                "malformed_json",
            ),
            (
                "POST",
                "/register_peer",
                Some("not json".into()),
                400,
                "malformed_json",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": 1, "url": "http://h:1"}).to_string()),
                422,
                "invalid_body",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id}).to_string()),
                422,
                "invalid_body",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id, "url": "http://h:1", "extra": true}).to_string()),
                422,
                "invalid_body",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id, "url": "http://h:1", "role": "king"}).to_string()),
                422,
                "invalid_body",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": "0x1234", "url": "http://h:1"}).to_string()),
                400,
                "invalid_node_id",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": "validator 1", "url": "http://h:1"}).to_string()),
                400,
                "invalid_node_id",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": "v".repeat(MAX_NAME_LEN + 1), "url": "http://h:1"}).to_string()),
                400,
                "invalid_node_id",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": "validator-1", "ip": "validator-1"}).to_string()),
                422,
                "invalid_body",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": "validator-1", "ip": "a b", "rpc_port": 8001}).to_string()),
                400,
                "invalid_ip",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": "validator-1", "ip": "h", "rpc_port": 8001, "public_key": "0x..."}).to_string()),
                400,
                "invalid_public_key",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id, "url": "http://h:1", "public_key": id_hex(2)}).to_string()),
                400,
                "invalid_public_key",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id.to_uppercase(), "url": "http://h:1"}).to_string()),
                400,
                "invalid_node_id",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id, "url": "ftp://h:1"}).to_string()),
                400,
                "invalid_url",
            ),
            (
                "POST",
                "/register_peer",
                Some(json!({"node_id": good_id, "url": "http://h"}).to_string()),
                400,
                "invalid_url",
            ),
            (
                "POST",
                "/register_peer",
                Some(
                    json!({"node_id": good_id, "url": "http://h:1", "genesis_hash": "0xzz"})
                        .to_string(),
                ),
                400,
                "invalid_genesis_hash",
            ),
            (
                "POST",
                "/register_peer",
                Some(
                    json!({
                        "node_id": good_id,
                        "url": format!("http://h:1/{}", "a".repeat(BOOTNODE_BODY_LIMIT)),
                    })
                    .to_string(),
                ),
                413,
                "body_too_large",
            ),
            (
                "POST",
                "/register_peer",
                None,
                415,
                "unsupported_media_type",
            ),
            (
                "GET",
                "/discover?node_id=0xabc",
                None,
                400,
                "invalid_node_id",
            ),
            ("GET", "/discover?node_id=", None, 400, "invalid_node_id"),
            ("GET", "/discover?other=1", None, 400, "invalid_query"),
            ("GET", "/register_peer", None, 405, "method_not_allowed"),
            (
                "POST",
                "/peers",
                Some("{}".into()),
                405,
                "method_not_allowed",
            ),
            ("GET", "/nope", None, 404, "not_found"),
            ("GET", "/api/votes/results", None, 404, "not_found"),
        ];
        for (method, uri, body, status, code) in cases {
            let shown = body
                .as_deref()
                .map(|b| b.chars().take(80).collect::<String>());
            let (got, v) = call(&app, method, uri, body.clone()).await;
            assert_eq!(got, status, "{method} {uri} {shown:?}: {v}");
            assert_eq!(error_code(&v), code, "{method} {uri} {shown:?}");
        }
        // Nothing bad was registered.
        let (_, v) = call(&app, "GET", "/peers", None).await;
        assert_eq!(v["count"], 0);
    }

    #[tokio::test]
    async fn a_full_table_answers_busy_but_known_nodes_still_reregister() {
        let state = Arc::new(Mutex::new(Registry::with_capacity(1)));
        let app = router(state);
        let (code, _) = register(&app, 1, None).await;
        assert_eq!(code, 200);
        let (code, v) = register(&app, 2, None).await;
        assert_eq!((code, error_code(&v)), (503, "busy"));
        let (code, v) = register(&app, 1, None).await;
        assert_eq!((code, v["count"].as_u64()), (200, Some(1)));
    }
}
