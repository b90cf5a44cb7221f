//! One simulated validator: the appliance's own driver over a simulated
//! disk, network and clock. What survives a crash is its disk (the chain,
//! the journal, the mempool, the fallback chain, as the appliance's SQLite
//! does); the driver, its inbox and everything in flight do not.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use evote_appliance::driver::{Counters, Driver, DriverSetup, NodeStatus, Request, SubmitOutcome};
use evote_core::ledger::{Hash32, NodeKey, Signature};
use tokio::sync::oneshot;

use super::io::{SimClock, SimNet};
use super::store::{Disk, DiskCell, MemStore};
use super::world::World;

pub type SimDriver<'w> = Driver<MemStore<'w>, SimNet<'w>, SimClock>;

/// A voter's submission waiting for the node's answer.
pub struct Asked {
    pub vote: usize,
    pub answer: oneshot::Receiver<Result<SubmitOutcome, String>>,
}

pub struct Node<'w> {
    pub key: Arc<NodeKey>,
    /// This node's clock runs ahead of virtual time by this much.
    pub skew_ms: u64,
    pub disk: DiskCell<'w>,
    /// `None` while the node is down.
    pub driver: Option<SimDriver<'w>>,
    /// Requests that arrived and wait for the driver's next step.
    pub inbox: VecDeque<Request>,
    /// When the node's next wake-up is scheduled (virtual time).
    pub wake_at: Option<u64>,
    /// The batch in the inbox lingers for more submissions.
    pub lingering: bool,
    /// Steps in a row the driver asked for at once.
    pub steps_at_once: u32,
    pub asked: Vec<Asked>,
    /// Bumped at every crash, so that stale events for a past life do
    /// nothing.
    pub incarnation: u64,
    /// The node lost its disk at least once; from then on it may
    /// contradict what it said before (amnesia), like a faulty validator.
    pub wiped: bool,
    /// Whether the driver was in fallback mode after its last step.
    pub in_fallback: bool,
    pub fallback_entries: u64,
}

impl<'w> Node<'w> {
    pub fn new(world: &'w World, key: Arc<NodeKey>, skew_ms: u64) -> Self {
        Self {
            key,
            skew_ms,
            disk: Disk::cell(world),
            driver: None,
            inbox: VecDeque::new(),
            wake_at: None,
            lingering: false,
            steps_at_once: 0,
            asked: Vec::new(),
            incarnation: 0,
            wiped: false,
            in_fallback: false,
            fallback_entries: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.driver.is_some()
    }

    /// Starts the appliance's driver on what this node kept; `known` are
    /// the ballots cast so far (each checked once when the pool was made,
    /// which is what the appliance's verified cache remembers for what it
    /// checked before: the driver does not check them again).
    pub fn start<'a>(
        &mut self,
        world: &'w World,
        now: Rc<Cell<u64>>,
        known: impl Iterator<Item = &'a (Hash32, Signature)>,
    ) -> Result<(), String> {
        let setup = DriverSetup {
            genesis: world.genesis.clone(),
            chain_id: world.chain_id,
            key: self.key.clone(),
            offline: false,
        };
        let validators = world.keys.iter().map(|k| k.public()).collect();
        let net = SimNet::new(self.disk.clone(), validators);
        let clock = SimClock {
            now,
            skew_ms: self.skew_ms,
        };
        let store = MemStore(self.disk.clone());
        let counters = Arc::new(Counters::default());
        let driver = Driver::new(setup, store, net, clock, counters)
            .map_err(|e| format!("cannot start: {e}"))?;
        let cache = driver.verified_cache();
        for (hash, signature) in known {
            cache.insert(hash, signature);
        }
        self.driver = Some(driver);
        self.in_fallback = false;
        Ok(())
    }

    /// Drops the driver and all in flight; the disk stays.
    pub fn stop(&mut self) {
        self.driver = None;
        self.inbox.clear();
        self.asked.clear();
        self.wake_at = None;
        self.lingering = false;
        self.incarnation += 1;
    }

    pub fn status(&self) -> Option<NodeStatus> {
        let d = self.driver.as_ref()?;
        Some(d.status_cell().read().expect("status").clone())
    }

    pub fn height(&self) -> u64 {
        self.disk.lock().expect("disk").height()
    }

    pub fn head_hash(&self) -> Option<Hash32> {
        self.disk.lock().expect("disk").head_hash()
    }
}

/// The first 8 hex digits of a hash, for traces and messages.
pub fn short(h: &Hash32) -> String {
    h.0[..4].iter().map(|b| format!("{b:02x}")).collect()
}
