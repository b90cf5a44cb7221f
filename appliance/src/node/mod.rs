//! The driver: one thread owns the consensus core and the writing store
//! connection, takes requests from a bounded queue in batches, and carries
//! out what the core decides. HTTP handlers and the network's peer threads
//! talk to it through [`NodeInbox`]; it talks to peers through a
//! [`Network`].

mod driver;
#[cfg(debug_assertions)]
pub mod fault;
pub mod status;
mod verified;

pub use verified::VerifiedCache;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::consensus::Message;
use crate::ledger::{Block, Genesis, Hash32, NodeKey, PublicKey, SignedTx};
use crate::store::{MempoolInsert, StoreError};

pub use status::{Counters, NodeStatus, Role};

/// Requests waiting for the node thread; past this, callers get "busy".
pub const MAX_PENDING_REQUESTS: usize = 10_000;
/// Requests handled in one batch (one SQL transaction for the submissions).
pub const MAX_BATCH: usize = 1_000;
/// Database pages the node thread's connection keeps in memory. Every
/// submission looks its hash and nullifier up in the chain's indexes and
/// every commit adds to them: with SQLite's default 2 MiB those pages were
/// read from the file again and again (a 16 KB copy each time).
pub const NODE_PAGE_CACHE_MIB: u32 = 16;
/// How long a batch holding submissions waits for more before its SQL
/// transaction (see `Driver::gather`).
pub const SUBMIT_LINGER: Duration = Duration::from_millis(5);
/// The longest the node thread sleeps between ticks.
pub const TICK_INTERVAL: Duration = Duration::from_millis(20);
/// A transaction still pending after this long is sent to peers again.
pub const REGOSSIP_AFTER_MS: u64 = 5_000;
/// Pending transactions re-sent per re-gossip round.
pub const MAX_REGOSSIP: u64 = 2_000;

/// What became of a submitted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Offered to the mempool (see the insert's own outcome).
    Mempool(MempoolInsert),
    /// A voter's ballot newly in the mempool, with its confirmation code
    /// made durable in the same transaction.
    Confirmed { code: Hash32 },
    /// The network is down: sealed, durable, in this appliance's fallback
    /// chain; it goes to the main chain when the network returns.
    Fallback { block_hash: Hash32 },
    /// The voter already has a ballot in this appliance's fallback chain.
    FallbackDuplicate(Hash32),
    /// This device's fallback chain is closed: it takes no more ballots.
    Closed,
}

pub type SubmitReply = tokio::sync::oneshot::Sender<Result<SubmitOutcome, String>>;

/// A submission waiting in a batch: the transaction, its hash, where it
/// came from and whom to answer.
pub(crate) type Submission = (Box<SignedTx>, Hash32, Source, SubmitReply);

/// How often sealed fallback ballots are checked against the main chain.
pub const RECONCILE_INTERVAL_MS: u64 = 1_000;
/// Sealed ballots handled per reconciliation round.
pub const MAX_RECONCILE: u64 = 2_000;
/// The round trip a network assumes to a validator it has not measured:
/// long, so that round timers start long rather than short.
pub const DEFAULT_ROUND_TRIP_MS: u64 = 1_000;
/// A node does not judge quorum reachability before its peers were polled.
pub const FALLBACK_STARTUP_GRACE_MS: u64 = 3_000;

/// Where a submitted transaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A voter through the voter API.
    Voter(i64),
    /// JSON-RPC `eth_sendTransaction`.
    Rpc,
    /// Gossip from a peer; `relay` asks this node to pass it to the other
    /// validators (a station's forward), otherwise the sender already did.
    Peer { relay: bool },
}

pub enum Request {
    /// A checked, signed transaction for the mempool; the reply comes once
    /// it is durable (or refused).
    Submit {
        stx: Box<SignedTx>,
        tx_hash: Hash32,
        source: Source,
        reply: SubmitReply,
    },
    /// A consensus message from a peer.
    Consensus(Box<Message>),
    /// Committed blocks fetched from a peer, in height order, unverified.
    Synced(Vec<Block>),
}

/// A peer's last reported head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHead {
    pub node_id: PublicKey,
    pub height: u64,
    pub reachable: bool,
}

/// Everything the node asks of the network. Implementations must never
/// block the node thread: they queue (bounded) and return.
pub trait Network: Send {
    /// A consensus message for every other validator.
    fn broadcast(&mut self, msg: &Message);
    /// Transactions newly in this node's mempool, to pass on.
    fn gossip(&mut self, txs: &[SignedTx], relay: bool);
    /// The peers' last reported heads.
    fn peer_heads(&self) -> Vec<PeerHead>;
    /// Fetch committed blocks above `height` from a peer that has them;
    /// they come back as [`Request::Synced`]. False if none is ahead or a
    /// fetch is already under way.
    fn request_sync(&mut self, height: u64) -> bool;
    /// The round trip to a validator as measured lately, or a conservative
    /// default ([`DEFAULT_ROUND_TRIP_MS`]) where nothing is measured.
    fn round_trip_ms(&self, validator: &PublicKey) -> u64;
}

/// No peers: a single-validator chain.
pub struct NoPeers;

impl Network for NoPeers {
    fn broadcast(&mut self, _: &Message) {}
    fn gossip(&mut self, _: &[SignedTx], _: bool) {}
    fn peer_heads(&self) -> Vec<PeerHead> {
        Vec::new()
    }
    fn request_sync(&mut self, _: u64) -> bool {
        false
    }
    fn round_trip_ms(&self, _: &PublicKey) -> u64 {
        DEFAULT_ROUND_TRIP_MS
    }
}

pub struct NodeSetup {
    pub genesis: Arc<Genesis>,
    pub key: Arc<NodeKey>,
    pub db_path: PathBuf,
    /// Record every ballot in the fallback (device) chain, never in the mempool.
    pub offline: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the node is busy: {MAX_PENDING_REQUESTS} requests are waiting")]
pub struct NodeBusy;

/// A cloneable way to hand requests to the node thread.
#[derive(Clone)]
pub struct NodeInbox(SyncSender<Request>);

impl NodeInbox {
    /// An inbox with no node behind it, and its other end.
    #[cfg(test)]
    pub fn for_tests(capacity: usize) -> (Self, std::sync::mpsc::Receiver<Request>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        (Self(tx), rx)
    }

    pub fn try_send(&self, req: Request) -> Result<(), NodeBusy> {
        self.0.try_send(req).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => NodeBusy,
        })
    }
}

pub struct NodeHandle {
    inbox: NodeInbox,
    status: Arc<RwLock<NodeStatus>>,
    verified: Arc<VerifiedCache>,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NodeHandle {
    /// Starts the node thread; `network` is built with the node's inbox so
    /// that peer threads can hand it what they fetch.
    pub fn spawn(
        setup: NodeSetup,
        network: impl FnOnce(NodeInbox) -> Box<dyn Network>,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = sync_channel(MAX_PENDING_REQUESTS);
        let inbox = NodeInbox(tx);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let driver = driver::Driver::new(setup, network(inbox.clone()), counters.clone())?;
        let status = driver.status_cell();
        let verified = driver.verified_cache();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("evote-node".into())
            .spawn(move || driver.run(rx, &stop2))
            .expect("spawn node thread");
        Ok(Self {
            inbox,
            status,
            verified,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    pub fn try_send(&self, req: Request) -> Result<(), NodeBusy> {
        self.inbox.try_send(req)
    }

    /// The transactions this node has checked in full (signature, proofs).
    pub fn verified(&self) -> &VerifiedCache {
        &self.verified
    }

    pub fn status(&self) -> NodeStatus {
        self.status.read().expect("status lock").clone()
    }

    /// Stops the node thread after its current batch.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
