//! Outgoing calls to peers (ureq, on threads of their own so that a slow or
//! dead peer never blocks the node): two threads per peer, each with a
//! bounded queue ([`Link`]). One sends consensus messages and polls the
//! peer's status every second; the other sends transaction gossip and
//! fetches blocks for sync.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::consensus::Message;
use crate::ledger::{Block, Genesis, Hash32, PublicKey, SignedTx};
use crate::node::{Network, NodeInbox, PeerHead, Request, Role};

/// How long a connection to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a whole call to a peer may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Outgoing items queued per peer; past it, new ones are dropped (the
/// consensus core re-sends, gossip is repeated for stale transactions).
pub const MAX_PEER_QUEUE: usize = 1_024;
/// How often each peer's status is polled.
pub const STATUS_POLL: Duration = Duration::from_secs(1);
/// Transactions per gossip request.
pub const MAX_GOSSIP_BATCH: usize = 1_000;
/// Blocks per sync page.
pub const SYNC_PAGE: u64 = 64;
/// The largest sync page accepted, in bytes.
pub const MAX_SYNC_BODY: u64 = 64 * 1024 * 1024;
/// Blocks fetched per sync request before handing them to the node.
pub const MAX_SYNC_BLOCKS: u64 = 512;

/// What `GET /p2p/status` answers (the seeds' peer_hello plus more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub node_id: PublicKey,
    pub genesis_hash: Hash32,
    pub chain_length: u64,
    pub best_hash: Hash32,
    pub height: u64,
    pub role: String,
    #[serde(default)]
    pub round: u64,
}

/// The body of `POST /p2p/transactions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipBatch {
    pub transactions: Vec<SignedTx>,
    /// Ask a validator to pass the batch on to the other validators.
    #[serde(default)]
    pub relay: bool,
}

/// The body of `GET /p2p/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlocksPage {
    pub blocks: Vec<Block>,
}

/// What this node last learned of a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerState {
    pub url: String,
    pub node_id: Option<PublicKey>,
    pub name: Option<String>,
    pub validator: bool,
    pub reachable: bool,
    pub height: Option<u64>,
    pub best_hash: Option<Hash32>,
    pub last_seen_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub last_error: Option<String>,
    pub dropped: u64,
}

/// Asks one peer for its status and records the answer (or the failure).
pub fn poll_peer(
    agent: &ureq::Agent,
    url: &str,
    chain_id: &Hash32,
    genesis: &Genesis,
    table: &PeerTable,
) {
    let start = Instant::now();
    let r = agent
        .get(format!("{url}/p2p/status"))
        .call()
        .and_then(|mut resp| resp.body_mut().read_json::<StatusReport>());
    match r {
        Ok(s) if &s.genesis_hash != chain_id => {
            let why = format!("peer is on another chain ({})", s.genesis_hash);
            tracing::debug!(peer = %url, "peer status refused: {why}");
            table.update(url, |p| {
                p.reachable = false;
                p.last_error = Some(why);
            });
        }
        Ok(s) => {
            let latency = start.elapsed().as_millis() as u64;
            let name = node_name(genesis, &s.node_id);
            table.update(url, |p| {
                p.node_id = Some(s.node_id);
                p.name = name;
                p.validator = genesis.is_validator(&s.node_id);
                p.reachable = true;
                p.height = Some(s.height);
                p.best_hash = Some(s.best_hash);
                p.last_seen_ms = Some(now_ms());
                p.latency_ms = Some(latency);
                p.last_error = None;
            });
        }
        Err(e) => {
            tracing::debug!(peer = %url, "peer status failed: {e}");
            table.record_failure(url, &e);
        }
    }
}

/// The genesis name of a validator or station.
pub fn node_name(genesis: &Genesis, key: &PublicKey) -> Option<String> {
    let v = genesis.validators.iter().find(|v| &v.public_key == key);
    let s = genesis.stations.iter().find(|s| &s.public_key == key);
    v.map(|v| v.name.clone())
        .or_else(|| s.map(|s| s.name.clone()))
}

/// Every peer's state, shared with the HTTP handlers.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: RwLock<BTreeMap<String, PeerState>>,
}

impl PeerTable {
    /// Polls every peer now, in parallel, and waits for the answers.
    pub fn refresh(&self, chain_id: &Hash32, genesis: &Genesis) {
        let urls: Vec<String> = self.snapshot().into_iter().map(|p| p.url).collect();
        let agent = agent();
        std::thread::scope(|scope| {
            for url in &urls {
                let agent = &agent;
                scope.spawn(move || poll_peer(agent, url, chain_id, genesis, self));
            }
        });
    }

    pub fn snapshot(&self) -> Vec<PeerState> {
        self.peers
            .read()
            .expect("peer table")
            .values()
            .cloned()
            .collect()
    }

    /// Records that a call to `url` failed. Only a failure to reach the
    /// peer makes it unreachable: a peer that answered with an error status
    /// (503 when its queue is full, 4xx for a message it refused) is on the
    /// network, and counting it out would put a node under load into
    /// fallback mode as if the network had failed. A peer that answers but
    /// cannot take part stops commits, which `fallback_after_ms` covers.
    pub fn record_failure(&self, url: &str, e: &ureq::Error) {
        let answered = matches!(e, ureq::Error::StatusCode(_));
        let why = e.to_string();
        self.update(url, |p| {
            p.reachable &= answered;
            p.last_error = Some(why);
        });
    }

    fn update(&self, url: &str, f: impl FnOnce(&mut PeerState)) {
        if let Some(p) = self.peers.write().expect("peer table").get_mut(url) {
            f(p);
        }
    }

    fn insert(&self, p: PeerState) {
        self.peers
            .write()
            .expect("peer table")
            .entry(p.url.clone())
            .or_insert(p);
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(CALL_TIMEOUT))
        .http_status_as_error(true)
        .build()
        .into()
}

enum Outgoing {
    Message(Arc<Message>),
    Txs(Arc<Vec<SignedTx>>, bool),
    Sync(u64),
}

/// The two queues to one peer, each with a thread of its own: consensus
/// messages, and the bulk (gossip, sync). A gossip request is answered once
/// the peer has checked the batch, which takes seconds on a loaded peer;
/// consensus messages queued behind it arrived after their round had timed
/// out, and a 5-validator testnet under load spent most of its time in
/// round changes.
struct Link {
    url: String,
    messages: SyncSender<Outgoing>,
    bulk: SyncSender<Outgoing>,
}

/// The peers as the node sees them.
pub struct HttpNetwork {
    genesis: Arc<Genesis>,
    role: Role,
    links: Vec<Link>,
    table: Arc<PeerTable>,
    forwarder: Option<SyncSender<Arc<Vec<SignedTx>>>>,
    syncing: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

/// The peer URLs to talk to: every validator of the genesis but this node
/// (at its genesis p2p URL unless `overrides` names it), and the
/// configured peers.
pub fn peer_urls(
    genesis: &Genesis,
    me: &PublicKey,
    overrides: &BTreeMap<String, String>,
    extra: &[String],
) -> Vec<(String, Option<PublicKey>)> {
    let mut out: Vec<(String, Option<PublicKey>)> = genesis
        .validators
        .iter()
        .filter(|v| &v.public_key != me)
        .map(|v| {
            let url = overrides.get(&v.name).unwrap_or(&v.p2p_url);
            (url.trim_end_matches('/').to_string(), Some(v.public_key))
        })
        .collect();
    for u in extra {
        let u = u.trim_end_matches('/').to_string();
        if !out.iter().any(|(x, _)| x == &u) {
            out.push((u, None));
        }
    }
    out
}

impl HttpNetwork {
    pub fn start(
        genesis: Arc<Genesis>,
        me: PublicKey,
        urls: Vec<(String, Option<PublicKey>)>,
        table: Arc<PeerTable>,
        inbox: NodeInbox,
    ) -> Self {
        let chain_id = genesis.chain_id().expect("genesis hashes");
        let syncing = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let mut links = Vec::new();
        for (url, node_id) in urls {
            let name = node_id.and_then(|k| node_name(&genesis, &k));
            table.insert(PeerState {
                url: url.clone(),
                node_id,
                name,
                validator: node_id.is_some_and(|k| genesis.is_validator(&k)),
                reachable: false,
                height: None,
                best_hash: None,
                last_seen_ms: None,
                latency_ms: None,
                last_error: None,
                dropped: 0,
            });
            let lane = |polls: bool, name: &str| {
                let (tx, rx) = sync_channel(MAX_PEER_QUEUE);
                let worker = Worker {
                    url: url.clone(),
                    me,
                    chain_id,
                    genesis: genesis.clone(),
                    agent: agent(),
                    table: table.clone(),
                    inbox: inbox.clone(),
                    syncing: syncing.clone(),
                    polls,
                };
                std::thread::Builder::new()
                    .name(format!("evote-{name} {url}"))
                    .spawn(move || worker.run(rx))
                    .expect("spawn peer thread");
                tx
            };
            let messages = lane(true, "peer");
            let bulk = lane(false, "gossip");
            links.push(Link {
                url,
                messages,
                bulk,
            });
        }
        let role = if genesis.is_validator(&me) {
            Role::Validator
        } else {
            Role::Station
        };
        let forwarder = (role == Role::Station).then(|| {
            let (tx, rx) = sync_channel(MAX_PEER_QUEUE);
            let f = Forwarder {
                me,
                agent: agent(),
                table: table.clone(),
                next: 0,
            };
            std::thread::Builder::new()
                .name("evote-forwarder".into())
                .spawn(move || f.run(rx))
                .expect("spawn forwarder thread");
            tx
        });
        Self {
            genesis,
            role,
            links,
            table,
            forwarder,
            syncing,
            dropped,
        }
    }

    fn send(&self, link: &Link, item: Outgoing) {
        let queue = match item {
            Outgoing::Message(_) => &link.messages,
            Outgoing::Txs(..) | Outgoing::Sync(_) => &link.bulk,
        };
        match queue.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.table.update(&link.url, |p| p.dropped += 1);
            }
        }
    }

    fn state_of(&self, url: &str) -> Option<PeerState> {
        self.table
            .peers
            .read()
            .expect("peer table")
            .get(url)
            .cloned()
    }

    fn is_validator_link(&self, link: &Link) -> bool {
        self.state_of(&link.url).is_some_and(|p| p.validator)
    }
}

impl Network for HttpNetwork {
    fn broadcast(&mut self, msg: &Message) {
        let msg = Arc::new(msg.clone());
        for link in &self.links {
            if self.is_validator_link(link) {
                self.send(link, Outgoing::Message(msg.clone()));
            }
        }
    }

    fn gossip(&mut self, txs: &[SignedTx], relay: bool) {
        for chunk in txs.chunks(MAX_GOSSIP_BATCH) {
            let batch = Arc::new(chunk.to_vec());
            if self.role == Role::Validator {
                for link in &self.links {
                    if self.is_validator_link(link) {
                        self.send(link, Outgoing::Txs(batch.clone(), relay));
                    }
                }
                continue;
            }
            // A station hands each batch to the forwarder, which tries the
            // validators round-robin with failover.
            if let Some(f) = &self.forwarder
                && f.try_send(batch).is_err()
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn peer_heads(&self) -> Vec<PeerHead> {
        self.table
            .snapshot()
            .into_iter()
            .filter_map(|p| {
                Some(PeerHead {
                    node_id: p.node_id?,
                    height: p.height?,
                    reachable: p.reachable,
                })
            })
            .collect()
    }

    fn request_sync(&mut self, height: u64) -> bool {
        if self.syncing.load(Ordering::SeqCst) {
            return false;
        }
        let ahead = self.table.snapshot().into_iter().find(|p| {
            p.reachable && p.height.is_some_and(|h| h > height) && self.genesis.chain_id().is_ok()
        });
        let Some(peer) = ahead else {
            return false;
        };
        let Some(link) = self.links.iter().find(|l| l.url == peer.url) else {
            return false;
        };
        self.syncing.store(true, Ordering::SeqCst);
        if link.bulk.try_send(Outgoing::Sync(height + 1)).is_err() {
            self.syncing.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }
}

/// A station's forwarder (the seeds' BlockchainClient): each batch goes to
/// one validator, round-robin over the reachable ones first, failing over
/// to the next on error. A batch no validator takes stays in the mempool
/// and is forwarded again when it goes stale.
struct Forwarder {
    me: PublicKey,
    agent: ureq::Agent,
    table: Arc<PeerTable>,
    next: usize,
}

impl Forwarder {
    fn run(mut self, rx: Receiver<Arc<Vec<SignedTx>>>) {
        while let Ok(first) = rx.recv() {
            let mut txs: Vec<SignedTx> = first.as_ref().clone();
            while txs.len() < MAX_GOSSIP_BATCH {
                match rx.try_recv() {
                    Ok(more) => txs.extend(more.iter().cloned()),
                    Err(_) => break,
                }
            }
            for transactions in gossip_batches(txs) {
                self.forward(GossipBatch {
                    transactions,
                    relay: true,
                });
            }
        }
    }

    fn forward(&mut self, batch: GossipBatch) {
        let mut validators: Vec<PeerState> = self
            .table
            .snapshot()
            .into_iter()
            .filter(|p| p.validator)
            .collect();
        if validators.is_empty() {
            return;
        }
        let start = self.next % validators.len();
        self.next = self.next.wrapping_add(1);
        validators.rotate_left(start);
        validators.sort_by_key(|p| !p.reachable);
        for v in validators {
            let r = self
                .agent
                .post(format!("{}/p2p/transactions", v.url))
                .header("x-evote-node", self.me.to_hex())
                .send_json(&batch);
            match r {
                Ok(_) => return,
                Err(e) => self.table.record_failure(&v.url, &e),
            }
        }
        tracing::warn!(
            txs = batch.transactions.len(),
            "no validator took the forwarded ballots; they wait in the mempool"
        );
    }
}

/// `txs` cut into requests a peer takes: merging queued batches may go past
/// [`MAX_GOSSIP_BATCH`], and a peer refuses a larger request whole.
fn gossip_batches(mut txs: Vec<SignedTx>) -> impl Iterator<Item = Vec<SignedTx>> {
    std::iter::from_fn(move || {
        if txs.is_empty() {
            return None;
        }
        let rest = txs.split_off(txs.len().min(MAX_GOSSIP_BATCH));
        Some(std::mem::replace(&mut txs, rest))
    })
}

/// The thread that talks to one peer.
struct Worker {
    url: String,
    me: PublicKey,
    chain_id: Hash32,
    genesis: Arc<Genesis>,
    agent: ureq::Agent,
    table: Arc<PeerTable>,
    inbox: NodeInbox,
    syncing: Arc<AtomicBool>,
    /// Whether this thread also polls the peer's status.
    polls: bool,
}

impl Worker {
    fn run(self, rx: Receiver<Outgoing>) {
        let mut last_poll = Instant::now() - STATUS_POLL;
        loop {
            let wait = if self.polls {
                STATUS_POLL.saturating_sub(last_poll.elapsed())
            } else {
                Duration::MAX
            };
            match rx.recv_timeout(wait) {
                Ok(Outgoing::Message(m)) => self.post("/p2p/message", &*m),
                Ok(Outgoing::Txs(txs, relay)) => self.gossip(&rx, txs, relay),
                Ok(Outgoing::Sync(from)) => {
                    self.sync(from);
                    self.syncing.store(false, Ordering::SeqCst);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.polls && last_poll.elapsed() >= STATUS_POLL {
                last_poll = Instant::now();
                self.poll_status();
            }
        }
    }

    fn post<T: Serialize + ?Sized>(&self, path: &str, body: &T) {
        let r = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("x-evote-node", self.me.to_hex())
            .send_json(body);
        if let Err(e) = r {
            self.failed(&e);
        }
    }

    /// Sends a gossip batch, merging whatever other batches already wait.
    fn gossip(&self, rx: &Receiver<Outgoing>, first: Arc<Vec<SignedTx>>, relay: bool) {
        let mut txs: Vec<SignedTx> = first.as_ref().clone();
        while txs.len() < MAX_GOSSIP_BATCH {
            match rx.try_recv() {
                Ok(Outgoing::Txs(more, r)) if r == relay => txs.extend(more.iter().cloned()),
                Ok(other) => {
                    // Keep order simple: send what we have, then handle it.
                    self.post_txs(txs, relay);
                    return self.handle_late(other);
                }
                Err(_) => break,
            }
        }
        self.post_txs(txs, relay);
    }

    fn post_txs(&self, txs: Vec<SignedTx>, relay: bool) {
        for transactions in gossip_batches(txs) {
            self.post(
                "/p2p/transactions",
                &GossipBatch {
                    transactions,
                    relay,
                },
            );
        }
    }

    fn handle_late(&self, item: Outgoing) {
        match item {
            Outgoing::Message(m) => self.post("/p2p/message", &*m),
            Outgoing::Txs(txs, relay) => self.post_txs(txs.as_ref().clone(), relay),
            Outgoing::Sync(from) => {
                self.sync(from);
                self.syncing.store(false, Ordering::SeqCst);
            }
        }
    }

    fn poll_status(&self) {
        poll_peer(
            &self.agent,
            &self.url,
            &self.chain_id,
            &self.genesis,
            &self.table,
        );
    }

    fn failed(&self, e: &ureq::Error) {
        tracing::debug!(peer = %self.url, "peer call failed: {e}");
        self.table.record_failure(&self.url, e);
    }

    /// Fetches committed blocks from `from` on and hands them to the node,
    /// which verifies every one before storing it.
    fn sync(&self, from: u64) {
        let mut blocks = Vec::new();
        let mut next = from;
        while (blocks.len() as u64) < MAX_SYNC_BLOCKS {
            let url = format!("{}/p2p/blocks?from={next}&limit={SYNC_PAGE}", self.url);
            let page = self.agent.get(url).call().and_then(|mut r| {
                r.body_mut()
                    .with_config()
                    .limit(MAX_SYNC_BODY)
                    .read_json::<BlocksPage>()
            });
            match page {
                Ok(p) if p.blocks.is_empty() => break,
                Ok(p) => {
                    next += p.blocks.len() as u64;
                    blocks.extend(p.blocks);
                }
                Err(e) => {
                    self.failed(&e);
                    break;
                }
            }
        }
        if !blocks.is_empty() && self.inbox.try_send(Request::Synced(blocks)).is_err() {
            tracing::debug!("node busy; synced blocks dropped, will fetch again");
        }
    }
}

/// How often an appliance re-registers with its bootnode (well inside the
/// bootnode's peer time-to-live).
pub const BOOTNODE_REFRESH: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
struct Discovered {
    peers: Vec<DiscoveredPeer>,
}

#[derive(Deserialize)]
struct DiscoveredPeer {
    url: String,
}

/// Registers this appliance with a bootnode and returns the URLs of the
/// other appliances it knows. A peer found this way is trusted for
/// nothing: its status poll must show this chain before it counts.
pub fn bootnode_exchange(
    bootnode: &str,
    me: &PublicKey,
    my_url: &str,
    role: Role,
    chain_id: &Hash32,
) -> Result<Vec<String>, String> {
    let a = agent();
    let base = bootnode.trim_end_matches('/');
    let body = serde_json::json!({
        "node_id": me, "url": my_url, "role": role.as_str(), "genesis_hash": chain_id,
    });
    a.post(format!("{base}/register_peer"))
        .send_json(&body)
        .map_err(|e| format!("registering with {base}: {e}"))?;
    let found: Discovered = a
        .get(format!("{base}/discover?node_id={me}"))
        .call()
        .and_then(|mut r| r.body_mut().read_json())
        .map_err(|e| format!("discovering peers at {base}: {e}"))?;
    Ok(found.peers.into_iter().map(|p| p.url).collect())
}

/// Keeps this appliance registered with its bootnode, in the background.
pub fn keep_registered(
    bootnode: String,
    me: PublicKey,
    my_url: String,
    role: Role,
    chain_id: Hash32,
) {
    std::thread::Builder::new()
        .name("evote-bootnode".into())
        .spawn(move || {
            loop {
                std::thread::sleep(BOOTNODE_REFRESH);
                if let Err(e) = bootnode_exchange(&bootnode, &me, &my_url, role, &chain_id) {
                    tracing::warn!("{e}");
                }
            }
        })
        .expect("spawn bootnode thread");
}

#[cfg(test)]
mod tests;
