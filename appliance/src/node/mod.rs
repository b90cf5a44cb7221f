//! The driver: one thread owns the consensus core and the writing store
//! connection, takes requests from a bounded queue in batches, and carries
//! out what the core decides. HTTP handlers talk to it through
//! [`NodeHandle`].

mod driver;
pub mod status;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::consensus::Message;
use crate::ledger::{Genesis, Hash32, NodeKey, SignedTx};
use crate::store::{MempoolInsert, StoreError};

pub use status::{Counters, NodeStatus, Role};

/// Requests waiting for the node thread; past this, callers get "busy".
pub const MAX_PENDING_REQUESTS: usize = 10_000;
/// Requests handled in one batch (one SQL transaction for the submissions).
pub const MAX_BATCH: usize = 1_000;
/// The longest the node thread sleeps between ticks.
pub const TICK_INTERVAL: Duration = Duration::from_millis(20);

pub type SubmitReply = tokio::sync::oneshot::Sender<Result<MempoolInsert, String>>;

pub enum Request {
    /// A checked, signed transaction for the mempool; the reply comes once
    /// it is durable (or refused).
    Submit {
        stx: Box<SignedTx>,
        tx_hash: Hash32,
        voter: Option<i64>,
        reply: SubmitReply,
    },
    /// A consensus message from a peer.
    Consensus(Box<Message>),
}

/// Where the node's outgoing consensus messages go.
pub trait Transport: Send {
    fn broadcast(&mut self, msg: &Message);
}

/// No peers: a single-validator chain.
pub struct NoPeers;

impl Transport for NoPeers {
    fn broadcast(&mut self, _: &Message) {}
}

pub struct NodeSetup {
    pub genesis: Arc<Genesis>,
    pub key: Arc<NodeKey>,
    pub db_path: PathBuf,
    pub transport: Box<dyn Transport>,
}

#[derive(Debug, thiserror::Error)]
#[error("the node is busy: {MAX_PENDING_REQUESTS} requests are waiting")]
pub struct NodeBusy;

pub struct NodeHandle {
    tx: SyncSender<Request>,
    status: Arc<RwLock<NodeStatus>>,
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NodeHandle {
    /// Starts the node thread.
    pub fn spawn(setup: NodeSetup) -> Result<Self, StoreError> {
        let (tx, rx) = sync_channel(MAX_PENDING_REQUESTS);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let driver = driver::Driver::new(setup, counters.clone())?;
        let status = driver.status_cell();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("evote-node".into())
            .spawn(move || driver.run(rx, &stop2))
            .expect("spawn node thread");
        Ok(Self {
            tx,
            status,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    pub fn try_send(&self, req: Request) -> Result<(), NodeBusy> {
        self.tx.try_send(req).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => NodeBusy,
        })
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
