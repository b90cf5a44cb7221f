//! What a simulated node's driver sees of the network and of time: a
//! [`Network`] that collects what the driver sends for the simulator to
//! deliver (over links that lose, duplicate, delay and cut), with the
//! view of the peers that status polls build (as net/peers.rs does), and a
//! [`Clock`] on virtual time.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use evote_appliance::driver::Clock;
use evote_appliance::driver::{DEFAULT_ROUND_TRIP_MS, Network, PeerHead};
use evote_core::consensus::Message;
use evote_core::ledger::{PublicKey, SignedTx};

use super::engine::describe;
use super::store::DiskCell;

/// Something the driver sent, for the simulator to carry.
pub enum Outgoing {
    Message(Arc<Message>),
    Txs(Arc<Vec<SignedTx>>),
    /// Fetch blocks from `from` on at peer `peer`.
    Sync {
        peer: usize,
        from: u64,
    },
}

/// What the last status poll of a peer told.
#[derive(Debug, Clone, Default)]
pub struct PeerView {
    pub height: Option<u64>,
    pub reachable: bool,
    pub round_trip_ms: Option<u64>,
}

pub struct SimNet<'w> {
    disk: DiskCell<'w>,
    validators: Vec<PublicKey>,
    pub outbox: Vec<Outgoing>,
    /// By validator index; this node's own entry stays empty.
    pub peers: Vec<PeerView>,
    /// A block fetch is under way.
    pub syncing: bool,
}

impl<'w> SimNet<'w> {
    pub fn new(disk: DiskCell<'w>, validators: Vec<PublicKey>) -> Self {
        let peers = vec![PeerView::default(); validators.len()];
        Self {
            disk,
            validators,
            outbox: Vec::new(),
            peers,
            syncing: false,
        }
    }

    /// Whether the node still runs: a cut power sends nothing more.
    fn effect(&self) -> bool {
        self.disk.lock().expect("disk").power.effect()
    }
}

impl Network for SimNet<'_> {
    /// Every broadcast must be in the journal persisted before it.
    fn broadcast(&mut self, msg: &Message) {
        let mut d = self.disk.lock().expect("disk");
        if !d.power.effect() {
            return;
        }
        if !d.journal().is_some_and(|j| j.sent.contains(msg)) {
            let v = format!(
                "broadcast {} before it was in its persisted journal",
                describe(msg)
            );
            d.violations.push(v);
        }
        drop(d);
        self.outbox.push(Outgoing::Message(Arc::new(msg.clone())));
    }

    fn gossip(&mut self, txs: &[SignedTx]) {
        if self.effect() {
            self.outbox.push(Outgoing::Txs(Arc::new(txs.to_vec())));
        }
    }

    fn peer_heads(&self) -> Vec<PeerHead> {
        (self.validators.iter().zip(&self.peers))
            .filter_map(|(k, p)| {
                Some(PeerHead {
                    node_id: *k,
                    height: p.height?,
                    reachable: p.reachable,
                })
            })
            .collect()
    }

    /// From the first reachable peer ahead, as net/peers.rs picks.
    fn request_sync(&mut self, height: u64) -> bool {
        if self.syncing {
            return false;
        }
        let ahead = self
            .peers
            .iter()
            .position(|p| p.reachable && p.height.is_some_and(|h| h > height));
        let Some(peer) = ahead else {
            return false;
        };
        if !self.effect() {
            return false;
        }
        self.syncing = true;
        self.outbox.push(Outgoing::Sync {
            peer,
            from: height + 1,
        });
        true
    }

    /// From the first of the holders that answers, as net/peers.rs asks
    /// the nearest.
    fn fetch_decided(&mut self, height: u64, holders: &[PublicKey]) {
        let holder = (self.validators.iter().zip(&self.peers))
            .position(|(k, p)| p.reachable && holders.contains(k));
        if let Some(peer) = holder.filter(|_| self.effect()) {
            self.outbox.push(Outgoing::Sync { peer, from: height });
        }
    }

    fn reachable_validators(&self) -> Vec<PublicKey> {
        (self.validators.iter().zip(&self.peers))
            .filter(|(_, p)| p.reachable)
            .map(|(k, _)| *k)
            .collect()
    }

    fn round_trip_ms(&self, validator: &PublicKey) -> u64 {
        (self.validators.iter().position(|k| k == validator))
            .and_then(|i| self.peers[i].round_trip_ms)
            .unwrap_or(DEFAULT_ROUND_TRIP_MS)
    }
}

/// Virtual time, shared by the simulator and every node, each node's clock
/// running ahead of it by its skew.
pub struct SimClock {
    pub now: Rc<Cell<u64>>,
    pub skew_ms: u64,
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.now.get() + self.skew_ms
    }
}
