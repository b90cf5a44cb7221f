//! Outgoing calls to peers (ureq, on threads of their own so that a slow or
//! dead peer never blocks the node). Per peer: a status poller, a few
//! consensus message senders sharing one bounded queue, and a bulk worker
//! for transaction gossip and block sync (`lanes.rs`), each on a
//! keep-alive connection of its own; a station's followers
//! (`follower.rs`). Every request is built in one place,
//! [`PeerClient::call`] (`client.rs`).

mod client;
pub mod compact;
mod follower;
mod lanes;
mod outbox;
pub mod passon;
mod relay;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use client::{CALL_TIMEOUT, CONNECT_TIMEOUT, CallError, PeerClient};
use compact::CompactProposal;
use lanes::{Bulk, BulkWorker, Current, InFlight, PassOn, PeerLink};
use outbox::{Kind, Outbox, Outgoing};

use crate::clock::now_ms;
use crate::consensus::Message;
use crate::ledger::{Block, Genesis, Hash32, NodeKey, PublicKey, Signature, SignedTx};
use crate::node::{DEFAULT_ROUND_TRIP_MS, Network, NodeInbox, PeerHead, Role};

use super::peer_auth::check_status;

/// Outgoing items queued per peer and lane; past it, new ones are dropped
/// (consensus messages of the current round come again when the peer
/// restarts or catches up, gossip is repeated for stale transactions).
pub const MAX_PEER_QUEUE: usize = 1_024;
/// How often each peer's status is polled.
pub const STATUS_POLL: Duration = Duration::from_secs(1);
/// Status polls the round-trip estimate is the median of.
pub const RTT_SAMPLES: usize = 8;
/// Consensus senders per peer: requests to one peer in flight at once.
pub const MESSAGE_LANES: usize = 3;
/// Consensus messages per `POST /p2p/messages`.
pub const MAX_MESSAGES_PER_REQUEST: usize = 64;
/// Transactions per gossip request.
pub const MAX_GOSSIP_BATCH: usize = 1_000;
/// Blocks per sync page.
pub const SYNC_PAGE: u64 = 64;
/// The largest sync page accepted, in bytes.
pub const MAX_SYNC_BODY: u64 = 64 * 1024 * 1024;
/// How long a sync page may take: pages are large, and a thin uplink
/// carries one slowly.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a validator one block behind a peer waits for that block by
/// consensus before it fetches it (see `HttpNetwork::request_sync`).
pub const SYNC_GRACE: Duration = Duration::from_secs(2);
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
    /// When the node's process started (ms since the epoch): a peer that
    /// reports another start time has restarted, and may have lost the
    /// messages it acknowledged before.
    #[serde(default)]
    pub started_at_ms: u64,
    /// Where voters and observers reach the node (its public door): the
    /// seeds' `rpc_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// When the node signed this status (ms since 1970).
    #[serde(default)]
    pub time_ms: u64,
    /// The head block's header and commit seals (none at the genesis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<super::peer_auth::HeadProof>,
    /// The node's signature over the status (`peer_auth::StatusFields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::ledger::Signature>,
}

/// The body of `POST /p2p/transactions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipBatch {
    pub transactions: Vec<SignedTx>,
    /// Ask a validator to pass the batch on to every other validator: more
    /// of the sender's links to validators are slow to take it than not
    /// (stations of earlier versions asked it of every batch).
    #[serde(default)]
    pub relay: bool,
    /// Ask a validator to pass the batch on to this validator (the
    /// sender's own link to it is slow to take it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_to: Option<PublicKey>,
}

/// The body of `POST /p2p/messages`: consensus messages, in the order
/// sent, and proposals by the names of their transactions (`compact.rs`).
/// With `relay_to`, the receiving validator passes every message of the
/// batch that verifies on to that validator too (once: it never relays a
/// relayed message again): the sender's own link to it is slow to take
/// them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<CompactProposal>,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_to: Option<PublicKey>,
}

/// The answer to `POST /p2p/messages`: how many messages went to the node,
/// and the proposals that could not be rebuilt, with the transactions the
/// peer lacks (the sender sends those proposals again, carrying them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessagesAnswer {
    pub accepted: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Missing {
    pub block_hash: Hash32,
    pub tx_hashes: Vec<Hash32>,
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
    /// The last status poll's round trip.
    pub latency_ms: Option<u64>,
    /// The median round trip of the last [`RTT_SAMPLES`] status polls.
    pub rtt_ms: Option<u64>,
    pub last_error: Option<String>,
    pub dropped: u64,
    /// The public door the peer reports.
    pub rpc_url: Option<String>,
}

impl PeerState {
    fn new(url: String, node_id: Option<PublicKey>, genesis: &Genesis) -> Self {
        Self {
            name: node_id.and_then(|k| node_name(genesis, &k)),
            validator: node_id.is_some_and(|k| genesis.is_validator(&k)),
            url,
            node_id,
            reachable: false,
            height: None,
            best_hash: None,
            last_seen_ms: None,
            latency_ms: None,
            rtt_ms: None,
            last_error: None,
            dropped: 0,
            rpc_url: None,
        }
    }
}

/// Asks one peer for its status and records the answer (or the failure);
/// the round trip in ms and the status if the peer answered on this chain.
pub fn poll_peer(
    client: &PeerClient,
    url: &str,
    chain_id: &Hash32,
    genesis: &Genesis,
    table: &PeerTable,
) -> Option<(u64, StatusReport)> {
    let start = Instant::now();
    let r = client.get_json::<StatusReport>(&format!("{url}/p2p/status"), client::MAX_ANSWER);
    // Only a validator's signed status whose head carries its commit seals
    // moves the height this node acts on.
    let r = r.map(|s| (check_status(&s, genesis, chain_id, now_ms()), s));
    match r {
        Ok((Err(why), _)) => {
            tracing::debug!(peer = %url, "peer status refused: {why}");
            table.update(url, |p| {
                p.reachable = false;
                p.last_error = Some(why);
            });
            None
        }
        Ok((Ok(height), s)) => {
            let latency = start.elapsed().as_millis() as u64;
            let name = node_name(genesis, &s.node_id);
            table.update(url, |p| {
                p.node_id = Some(s.node_id);
                p.name = name;
                p.validator = genesis.is_validator(&s.node_id);
                p.reachable = true;
                p.height = height;
                p.best_hash = height.map(|_| s.best_hash);
                p.last_seen_ms = Some(now_ms());
                p.latency_ms = Some(latency);
                p.last_error = None;
                p.rpc_url = s.rpc_url.clone();
            });
            Some((latency, s))
        }
        Err(e) => {
            tracing::debug!(peer = %url, "peer status failed: {e}");
            table.record_failure(url, &e);
            None
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
#[derive(Default)]
pub struct PeerTable {
    peers: RwLock<BTreeMap<String, PeerState>>,
    /// Per peer, the transactions it acknowledged by gossip (by signature).
    acked: Mutex<BTreeMap<String, Acked>>,
    /// Per peer, the transactions this node's gossip is carrying to it and
    /// it has not acknowledged yet.
    on_the_way: Mutex<BTreeMap<String, Acked>>,
    /// Each validator's queues, for the messages and transactions this
    /// node relays to it (`MessageBatch::relay_to`, `GossipBatch::relay_to`).
    outboxes: RwLock<BTreeMap<PublicKey, Queues>>,
    /// The consensus messages this node passed on.
    passed: passon::Seen,
}

/// A validator's URL, consensus outbox and bulk queue.
struct Queues {
    url: String,
    outbox: Arc<Outbox>,
    bulk: SyncSender<Bulk>,
}

impl std::fmt::Debug for PeerTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTable")
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

/// Transactions of a peer, by signature (unique per transaction, no
/// hashing needed), the oldest forgotten first past [`MAX_ACKED_PER_PEER`].
#[derive(Debug, Default)]
struct Acked {
    set: std::collections::BTreeSet<Signature>,
    order: std::collections::VecDeque<Signature>,
}

impl Acked {
    fn add(&mut self, txs: &[SignedTx]) {
        for stx in txs {
            if self.set.insert(stx.signature) {
                self.order.push_back(stx.signature);
            }
            while self.order.len() > MAX_ACKED_PER_PEER {
                let old = self.order.pop_front().expect("not empty");
                self.set.remove(&old);
            }
        }
    }
}

/// Transactions remembered per peer as acknowledged.
pub const MAX_ACKED_PER_PEER: usize = 50_000;

impl PeerTable {
    /// Polls every peer now, in parallel, and waits for the answers.
    pub fn refresh(&self, key: &Arc<NodeKey>, chain_id: &Hash32, genesis: &Genesis) {
        let urls: Vec<String> = self.snapshot().into_iter().map(|p| p.url).collect();
        let client = PeerClient::new(key.clone(), *chain_id);
        std::thread::scope(|scope| {
            for url in &urls {
                let client = &client;
                scope.spawn(move || poll_peer(client, url, chain_id, genesis, self));
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

    /// Whether the peer at `url` took this transaction by gossip (since it
    /// last started: a peer that restarts may have lost gossip it had not
    /// written to disk yet, and is sent it again).
    pub fn has_taken(&self, url: &str, stx: &SignedTx) -> bool {
        let acked = self.acked.lock().expect("acked");
        acked
            .get(url)
            .is_some_and(|a| a.set.contains(&stx.signature))
    }

    /// The peer at `url` took these transactions.
    pub fn taken(&self, url: &str, txs: &[SignedTx]) {
        let mut acked = self.acked.lock().expect("acked");
        acked.entry(url.to_string()).or_default().add(txs);
        drop(acked);
        if let Some(w) = self.on_the_way.lock().expect("on the way").get_mut(url) {
            for stx in txs {
                w.set.remove(&stx.signature);
            }
        }
    }

    /// This node's gossip is taking these transactions to the peer at `url`.
    fn sending(&self, url: &str, txs: &[SignedTx]) {
        let mut w = self.on_the_way.lock().expect("on the way");
        w.entry(url.to_string()).or_default().add(txs);
    }

    /// The hashes of the transactions among `refs` that this node's gossip
    /// is still taking to the peer at `url`: a proposal naming them carries
    /// them whole, rather than have the peer wait for that gossip and ask
    /// (a block proposed right after its proposer took a batch, say a
    /// station's, that it passes on).
    pub fn on_the_way(&self, url: &str, refs: &[compact::TxRef]) -> Vec<Hash32> {
        let w = self.on_the_way.lock().expect("on the way");
        let Some(w) = w.get(url) else {
            return Vec::new();
        };
        (refs.iter())
            .filter(|r| w.set.contains(&r.signature))
            .map(|r| r.tx_hash)
            .collect()
    }

    /// The peer at `url` restarted: what it took is no longer sure.
    pub fn forget_taken(&self, url: &str) {
        self.acked.lock().expect("acked").remove(url);
    }

    /// Passes another node's consensus message on to validator `to`, once
    /// (`MessageBatch::relay_to`). False if this node has no link to it or
    /// its outbox is full.
    pub fn relay(&self, to: &PublicKey, msg: Message) -> bool {
        let outboxes = self.outboxes.read().expect("outboxes");
        let Some(Queues { outbox, .. }) = outboxes.get(to) else {
            return false;
        };
        outbox.push(Outgoing::of(msg), Kind::Relayed)
    }

    /// Passes a validator's consensus message on to every other validator
    /// this node has a link to, the first time this node sees it
    /// ([`passon::Seen`]); how many outboxes were full.
    pub fn pass_on(&self, msg: &Message, committed: u64) -> usize {
        if !self.passed.first_time(msg, committed) {
            return 0;
        }
        let out = Outgoing::of(msg.clone());
        let outboxes = self.outboxes.read().expect("outboxes");
        (outboxes.iter())
            .filter(|(id, _)| *id != msg.sender())
            .filter(|(_, q)| !q.outbox.push(out.clone(), Kind::PassedOn))
            .count()
    }

    /// Passes transactions this node took from another node's gossip on to
    /// validator `to`, once (`GossipBatch::relay_to`, `p2p.rs`). False if
    /// this node has no link to it or its queue is full.
    pub fn relay_txs(&self, to: &PublicKey, txs: Arc<Vec<SignedTx>>) -> bool {
        let outboxes = self.outboxes.read().expect("outboxes");
        let Some(Queues { url, bulk, .. }) = outboxes.get(to) else {
            return false;
        };
        self.sending(url, &txs);
        bulk.try_send(Bulk::Txs(txs, PassOn::Nothing)).is_ok()
    }

    /// The height the peer at `url` last reported.
    pub fn height_of(&self, url: &str) -> Option<u64> {
        self.peers.read().expect("peer table").get(url)?.height
    }

    /// Records that a call to `url` failed. Only a failure to reach the
    /// peer makes it unreachable: a peer that answered with an error status
    /// (503 when its queue is full, 4xx for a message it refused) is on the
    /// network, and counting it out would put a node under load into
    /// fallback mode as if the network had failed. A peer that answers but
    /// cannot take part stops commits, which the stall rule covers.
    pub fn record_failure(&self, url: &str, e: &CallError) {
        let answered = e.answered();
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

/// A ureq agent for calls that are not to peers (the command line's, the
/// bootnode's).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(super::tls::trusted())
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(CALL_TIMEOUT))
        .http_status_as_error(true)
        .build()
        .into()
}

/// The queues to one peer: its consensus outbox (taken by
/// [`MESSAGE_LANES`] senders), and the bulk (gossip, sync). A gossip
/// request is answered once the peer has checked the batch, which takes
/// seconds on a loaded peer; consensus messages queued behind it arrived
/// after their round had timed out.
struct Link {
    url: String,
    /// The validator behind the link, if it is one.
    validator: Option<PublicKey>,
    outbox: Arc<Outbox>,
    bulk: SyncSender<Bulk>,
    /// This node's gossip request to it under way.
    gossip: Arc<Mutex<Option<InFlight>>>,
}

impl Link {
    /// Whether the link looks stalled ([`relay::looks_stalled`]).
    fn stalled(&self) -> bool {
        relay::looks_stalled(&self.outbox, &self.gossip)
    }
}

/// The peers as the node sees them.
pub struct HttpNetwork {
    role: Role,
    links: Vec<Link>,
    table: Arc<PeerTable>,
    syncing: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    /// Set when the network is dropped: the pollers stop.
    stop: Arc<AtomicBool>,
    /// The messages of this node's current height and round.
    current: Arc<Mutex<Current>>,
    /// A station's follower's place in the chain.
    follow: Option<Arc<follower::Cursor>>,
    /// Since when a peer has been ahead of this node's height.
    behind_since: Option<(u64, Instant)>,
    client: PeerClient,
    inbox: NodeInbox,
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

fn spawn(name: String, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .expect("spawn peer thread");
}

impl HttpNetwork {
    pub fn start(
        genesis: Arc<Genesis>,
        key: Arc<NodeKey>,
        urls: Vec<(String, Option<PublicKey>)>,
        table: Arc<PeerTable>,
        inbox: NodeInbox,
    ) -> Self {
        let me = key.public();
        let chain_id = genesis.chain_id().expect("genesis hashes");
        let client = PeerClient::new(key, chain_id);
        let syncing = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let current = Arc::new(Mutex::new(Current::default()));
        let mut links = Vec::new();
        let mut targets = Vec::new();
        for (url, node_id) in urls {
            table.insert(PeerState::new(url.clone(), node_id, &genesis));
            let outbox = Arc::new(Outbox::new(MAX_PEER_QUEUE));
            let link = || PeerLink {
                url: url.clone(),
                client: client.clone(),
                table: table.clone(),
                stop: stop.clone(),
                outbox: outbox.clone(),
                current: current.clone(),
            };
            let (poller, g) = (link(), genesis.clone());
            spawn(format!("evote-poll {url}"), move || {
                lanes::poll_loop(&poller, &chain_id, &g)
            });
            for lane in 0..MESSAGE_LANES {
                let sender = link();
                spawn(format!("evote-peer{lane} {url}"), move || {
                    lanes::send_loop(&sender)
                });
            }
            let (bulk, rx) = sync_channel(MAX_PEER_QUEUE);
            let in_flight = Arc::new(Mutex::new(None));
            let worker = BulkWorker {
                link: link(),
                inbox: inbox.clone(),
                syncing: syncing.clone(),
                in_flight: in_flight.clone(),
                last_post: Default::default(),
            };
            spawn(format!("evote-gossip {url}"), move || worker.run(rx));
            let validator = node_id.filter(|k| genesis.is_validator(k));
            if let Some(node_id) = validator {
                let mut outboxes = table.outboxes.write().expect("outboxes");
                outboxes.insert(
                    node_id,
                    Queues {
                        url: url.clone(),
                        outbox: outbox.clone(),
                        bulk: bulk.clone(),
                    },
                );
                targets.push(relay::Target {
                    node_id,
                    url: url.clone(),
                    outbox: outbox.clone(),
                    bulk: bulk.clone(),
                    gossip: in_flight.clone(),
                });
            }
            links.push(Link {
                url,
                validator,
                outbox,
                bulk,
                gossip: in_flight,
            });
        }
        // A station's gossip goes around a stalled validator too.
        let (relay_table, relay_stop) = (table.clone(), stop.clone());
        spawn("evote-relay".into(), move || {
            relay::relay_loop(&targets, &relay_table, &relay_stop)
        });
        let role = if genesis.is_validator(&me) {
            Role::Validator
        } else {
            Role::Station
        };
        let follow = (role == Role::Station).then(|| {
            let cursor = Arc::new(follower::Cursor::default());
            let (turn, asking) = (Arc::default(), Arc::default());
            for lane in 0..follower::FOLLOWERS {
                let f = follower::Follower {
                    client: client.clone(),
                    table: table.clone(),
                    inbox: inbox.clone(),
                    cursor: cursor.clone(),
                    stop: stop.clone(),
                    turn: Arc::clone(&turn),
                    asking: Arc::clone(&asking),
                };
                spawn(format!("evote-follower{lane}"), move || f.run());
            }
            cursor
        });
        Self {
            role,
            links,
            table,
            syncing,
            dropped,
            stop,
            current,
            follow,
            behind_since: None,
            client,
            inbox,
        }
    }

    fn count_drop(&self, link: &Link) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.table.update(&link.url, |p| p.dropped += 1);
    }

    fn send_bulk(&self, link: &Link, item: Bulk) {
        if let Bulk::Txs(txs, _) = &item {
            self.table.sending(&link.url, txs);
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = link.bulk.try_send(item)
        {
            self.count_drop(link);
        }
    }

    /// Gossips `batch` to every validator. While a link looks stalled
    /// ([`Link::stalled`]), the batch also goes around it: a validator
    /// whose link does not look stalled is asked to pass it on, in the
    /// request that brings it the batch anyway, so that the ballots reach a
    /// proposer behind a stalled link in time for its block. Each stalled
    /// link has its own such validator, the same from batch to batch while
    /// the links stay as they are; with more stalled links than open ones,
    /// the open ones are asked to pass it on to everyone. Never a request
    /// more: a peer's batches go one request at a time, and only those
    /// passed on alike merge, so a second request to the same validator
    /// would double its requests, and ballots would wait a round trip
    /// more at each.
    fn gossip_to_validators(&self, batch: &Arc<Vec<SignedTx>>) {
        let links: Vec<&Link> = (self.links.iter())
            .filter(|l| self.is_validator_link(l))
            .collect();
        let (stalled, open): (Vec<&Link>, Vec<&Link>) = links.iter().partition(|l| l.stalled());
        let mut around = (stalled.iter()).filter_map(|l| l.validator);
        for link in &stalled {
            self.send_bulk(link, Bulk::Txs(batch.clone(), PassOn::Nothing));
        }
        let everyone = stalled.len() > open.len();
        for link in &open {
            let pass = match around.next() {
                _ if everyone => PassOn::Everyone,
                Some(to) => PassOn::To(to),
                None => PassOn::Nothing,
            };
            self.send_bulk(link, Bulk::Txs(batch.clone(), pass));
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

impl Drop for HttpNetwork {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for link in &self.links {
            link.outbox.stop();
        }
    }
}

impl Network for HttpNetwork {
    /// Queues `msg` in every validator's outbox, where it waits until that
    /// validator acknowledges it.
    fn broadcast(&mut self, msg: &Message) {
        let out = Outgoing::of(msg.clone());
        self.current.lock().expect("current messages").note(&out);
        for link in &self.links {
            if self.is_validator_link(link) && !link.outbox.push(out.clone(), Kind::Own) {
                self.count_drop(link);
            }
        }
    }

    /// A station gossips its voters' ballots as a validator gossips its
    /// own: to every validator, each on its own link (one copy per
    /// validator, none passed on between them), around a stalled one.
    fn gossip(&mut self, txs: &[SignedTx]) {
        for chunk in txs.chunks(MAX_GOSSIP_BATCH) {
            self.gossip_to_validators(&Arc::new(chunk.to_vec()));
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

    fn reachable_validators(&self) -> Vec<PublicKey> {
        let peers = self.table.peers.read().expect("peer table");
        (peers.values())
            .filter(|p| p.validator && p.reachable)
            .filter_map(|p| p.node_id)
            .collect()
    }

    /// The median of the last status polls' round trips (`lanes::poll_loop`).
    fn round_trip_ms(&self, validator: &PublicKey) -> u64 {
        let peers = self.table.peers.read().expect("peer table");
        (peers.values())
            .find(|p| p.node_id.as_ref() == Some(validator))
            .and_then(|p| p.rtt_ms)
            .unwrap_or(DEFAULT_ROUND_TRIP_MS)
    }

    /// Asks the nearest holder at once, and the next one too if the first
    /// has not answered within [`relay::hedge_after`] its round trip
    /// (a stalled link is why the block is missing here).
    fn fetch_decided(&mut self, height: u64, holders: &[PublicKey]) {
        let peers = self.nearest(holders);
        let (Some(first), second) = (peers.first().cloned(), peers.get(1).cloned()) else {
            return;
        };
        let (client, inbox) = (self.client.clone(), self.inbox.clone());
        spawn("evote-fetch".into(), move || {
            let got = Arc::new(AtomicBool::new(false));
            let hedge = second.map(|p| {
                let (client, inbox, got) = (client.clone(), inbox.clone(), got.clone());
                let after = relay::hedge_after(first.rtt_ms);
                std::thread::spawn(move || {
                    std::thread::sleep(after);
                    if !got.load(Ordering::SeqCst) {
                        fetch_from(&client, &inbox, &p.url, height);
                    }
                })
            });
            got.store(
                fetch_from(&client, &inbox, &first.url, height),
                Ordering::SeqCst,
            );
            if let Some(h) = hedge {
                let _ = h.join();
            }
        });
    }

    /// A station's followers fetch what its node lacks (`follower.rs`); a
    /// validator, and a station whose followers are both held by stalled
    /// links, asks a peer that is ahead.
    fn request_sync(&mut self, height: u64) -> bool {
        if let Some(cursor) = &self.follow {
            cursor.node_at(height);
        }
        if self.syncing.load(Ordering::SeqCst) {
            return false;
        }
        let ahead: Vec<PeerState> = (self.table.snapshot().into_iter())
            .filter(|p| p.reachable && p.height.is_some_and(|h| h > height))
            .collect();
        let Some(peer) = ahead.iter().max_by_key(|p| p.height).cloned() else {
            return false;
        };
        // One block behind is what a node sees for a moment at every
        // height (commits reach validators a message delay apart, and a
        // station's followers bring each block one message delay after
        // its commit): that block is on its way, and fetching it would send
        // it over a thin uplink twice. Only a peer one block ahead for a
        // grace, or more than one block ahead, is caught up with: a
        // validator's is `SYNC_GRACE`, a station's what a follower's answer
        // may take over a link that is not stalled.
        let grace = match self.role {
            Role::Validator => SYNC_GRACE,
            Role::Station => relay::hedge_after(peer.rtt_ms),
        };
        let since = match self.behind_since {
            Some((h, t)) if h == height => t,
            _ => self.behind_since.insert((height, Instant::now())).1,
        };
        let far = peer.height.is_some_and(|h| h > height + 1);
        if !far && since.elapsed() < grace {
            return false;
        }
        let Some(link) = self.links.iter().find(|l| l.url == peer.url) else {
            return false;
        };
        self.syncing.store(true, Ordering::SeqCst);
        if link.bulk.try_send(Bulk::Sync(height + 1)).is_err() {
            self.syncing.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }
}

/// How long a request for a block decided without this node waits at the
/// validator for its commit there (it sent its COMMIT, and commits as soon
/// as it holds a quorum of them).
pub const FETCH_DECIDED_WAIT_MS: u64 = 2_000;

impl HttpNetwork {
    /// The validators among `holders` to ask, the nearest first.
    fn nearest(&self, holders: &[PublicKey]) -> Vec<PeerState> {
        let mut peers: Vec<PeerState> = (self.table.snapshot().into_iter())
            .filter(|p| p.node_id.is_some_and(|k| holders.contains(&k)))
            .collect();
        peers.sort_by_key(|p| (!p.reachable, p.rtt_ms.unwrap_or(DEFAULT_ROUND_TRIP_MS)));
        peers
    }
}

/// Fetches the blocks from `height` on at `url` (waiting there for the
/// first) and hands them to the node; whether it got any.
fn fetch_from(client: &PeerClient, inbox: &NodeInbox, url: &str, height: u64) -> bool {
    let call =
        format!("{url}/p2p/blocks?from={height}&limit={SYNC_PAGE}&wait_ms={FETCH_DECIDED_WAIT_MS}");
    let timeout = SYNC_TIMEOUT + Duration::from_millis(FETCH_DECIDED_WAIT_MS);
    let page = client
        .call(&call, client::Call::Get, MAX_SYNC_BODY, timeout)
        .and_then(|body| {
            serde_json::from_slice::<BlocksPage>(&body)
                .map_err(|e| CallError::BadAnswer(e.to_string()))
        });
    match page {
        Ok(p) if !p.blocks.is_empty() => {
            let _ = inbox.try_send(crate::node::Request::Synced(p.blocks));
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::debug!(peer = %url, "fetching a decided block failed: {e}");
            false
        }
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
