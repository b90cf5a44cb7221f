//! The node: one thread owns the consensus core and the writing store
//! connection, takes requests from a bounded queue in batches, and carries
//! out what the core decides. HTTP handlers and the network's peer threads
//! talk to it through [`NodeInbox`]; it talks to peers through a
//! [`Network`]. Its logic is [`Driver`], generic over its store, network
//! and clock and stepped from outside: `thread.rs` runs it on SQLite, HTTP
//! and the wall clock, the simulator (tests/src/sim) on memory, a simulated
//! network and virtual time.

mod driver;
#[cfg(debug_assertions)]
pub mod fault;
pub mod status;
mod store;
mod thread;
mod verified;

pub use driver::{Driver, DriverSetup};
pub use store::NodeStore;
pub use verified::VerifiedCache;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::WallClock;
use crate::consensus::Message;
use crate::ledger::{Block, Genesis, Hash32, NodeKey, PublicKey, SignedTx};
use crate::store::{MempoolInsert, Store, StoreError};

pub use status::{Counters, FallbackReason, NodeStatus, Role};

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
/// The longest the driver sleeps with nothing to do: its view of the
/// peers (their heads and whether they answer, polled once a second) and
/// the fallback ballots to reconcile are looked at this often. Otherwise
/// it wakes for a request or for the next deadline of its core or its own
/// timers ([`Driver::next_wake`]).
pub const IDLE_WAKE_MS: u64 = 1_000;
/// A block decided without this node (see [`Network::fetch_decided`]) is
/// asked for again if it has not come this long after the last request.
pub const REFETCH_DECIDED_MS: u64 = 2_000;
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

/// A checked, signed transaction for the mempool (or, in fallback mode,
/// the fallback chain), and whom to answer once it is durable or refused.
pub struct Submission {
    pub stx: Box<SignedTx>,
    /// Computed when it came in.
    pub tx_hash: Hash32,
    pub source: Source,
    pub reply: SubmitReply,
}

impl Submission {
    fn answer(self, outcome: Result<SubmitOutcome, String>) {
        // A caller that stopped waiting (a closed connection) is no error.
        let _ = self.reply.send(outcome);
    }
}

/// How often sealed fallback ballots are checked against the main chain.
pub const RECONCILE_INTERVAL_MS: u64 = 1_000;
/// Sealed ballots handled per reconciliation round.
pub const MAX_RECONCILE: u64 = 2_000;
/// A node does not judge quorum reachability before its peers were polled.
pub const FALLBACK_STARTUP_GRACE_MS: u64 = 3_000;
/// With a quorum of validators answering, ballots may wait this many round
/// trips (to the farthest validator of the nearest quorum) for a block
/// before the node declares a stall and enters fallback mode, and never
/// less than the genesis' `fallback_after_ms`. A height takes a few round
/// trips (three message delays, a round or two more when round timers are
/// short for the network), so a slow network that commits stays out of
/// fallback; one that answers but cannot commit goes in.
pub const STALL_ROUND_TRIPS: u64 = 40;
/// The round trip a network assumes to a validator it has not measured:
/// long, so that round timers start long rather than short, and a node
/// with no measurements waits longer, not shorter, before declaring a
/// stall.
pub const DEFAULT_ROUND_TRIP_MS: u64 = 1_000;

/// Where a submitted transaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A voter through the voter API.
    Voter(i64),
    /// JSON-RPC `eth_sendTransaction`.
    Rpc,
    /// Gossip from a peer (what a validator passes on of it, it passes on
    /// where it takes it: `net/p2p.rs`).
    Peer,
}

pub enum Request {
    /// A checked, signed transaction for the mempool; the reply comes once
    /// it is durable (or refused).
    Submit(Submission),
    /// A consensus message from a peer.
    Consensus(Box<Message>),
    /// Committed blocks fetched from a peer, in height order, unverified.
    Synced(Vec<Block>),
    /// Nothing to handle: the node thread wakes and looks again (at its
    /// timers, its peers, and whether it is asked to stop).
    Wake,
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
    /// Transactions newly in this node's mempool (or waiting in it too
    /// long), for every validator.
    fn gossip(&mut self, txs: &[SignedTx]);
    /// The peers' last reported heads.
    fn peer_heads(&self) -> Vec<PeerHead>;
    /// Fetch committed blocks above `height` from a peer that has them;
    /// they come back as [`Request::Synced`]. False if none is ahead or a
    /// fetch is already under way.
    fn request_sync(&mut self, height: u64) -> bool;
    /// Fetch the committed block at `height` from one of `holders`, the
    /// validators whose COMMITs decided it while its proposal never
    /// reached this node; it comes back as [`Request::Synced`].
    fn fetch_decided(&mut self, height: u64, holders: &[PublicKey]);
    /// The other validators that answer now (a peer that answers with an
    /// error is on the network; one that cannot be reached is not).
    fn reachable_validators(&self) -> Vec<PublicKey>;
    /// The round trip to a validator as measured lately, or a conservative
    /// default ([`DEFAULT_ROUND_TRIP_MS`]) where nothing is measured.
    fn round_trip_ms(&self, validator: &PublicKey) -> u64;
}

impl<T: Network + ?Sized> Network for Box<T> {
    fn broadcast(&mut self, msg: &Message) {
        (**self).broadcast(msg)
    }
    fn gossip(&mut self, txs: &[SignedTx]) {
        (**self).gossip(txs)
    }
    fn peer_heads(&self) -> Vec<PeerHead> {
        (**self).peer_heads()
    }
    fn request_sync(&mut self, height: u64) -> bool {
        (**self).request_sync(height)
    }
    fn fetch_decided(&mut self, height: u64, holders: &[PublicKey]) {
        (**self).fetch_decided(height, holders)
    }
    fn reachable_validators(&self) -> Vec<PublicKey> {
        (**self).reachable_validators()
    }
    fn round_trip_ms(&self, validator: &PublicKey) -> u64 {
        (**self).round_trip_ms(validator)
    }
}

/// No peers: a single-validator chain.
pub struct NoPeers;

impl Network for NoPeers {
    fn broadcast(&mut self, _: &Message) {}
    fn gossip(&mut self, _: &[SignedTx]) {}
    fn peer_heads(&self) -> Vec<PeerHead> {
        Vec::new()
    }
    fn request_sync(&mut self, _: u64) -> bool {
        false
    }
    fn fetch_decided(&mut self, _: u64, _: &[PublicKey]) {}
    fn reachable_validators(&self) -> Vec<PublicKey> {
        Vec::new()
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
    /// Opens the database and starts the node thread; `network` is built
    /// with the node's inbox so that peer threads can hand it what they
    /// fetch.
    pub fn spawn(
        setup: NodeSetup,
        network: impl FnOnce(NodeInbox) -> Box<dyn Network>,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = sync_channel(MAX_PENDING_REQUESTS);
        let inbox = NodeInbox(tx);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut store = Store::open(&setup.db_path)?;
        store.set_page_cache_mib(NODE_PAGE_CACHE_MIB)?;
        store.set_lock_wait(crate::store::NODE_BUSY_TIMEOUT)?;
        let identity = DriverSetup {
            chain_id: setup.genesis.chain_id()?,
            genesis: setup.genesis,
            key: setup.key,
            offline: setup.offline,
        };
        let network = network(inbox.clone());
        let driver = Driver::new(identity, store, network, WallClock, counters.clone())?;
        let status = driver.status_cell();
        let verified = driver.verified_cache();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("evote-node".into())
            .spawn(move || thread::run(driver, rx, &stop2))
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
        // Ends its wait; a full inbox ends it anyway.
        let _ = self.inbox.try_send(Request::Wake);
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
