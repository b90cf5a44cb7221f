//! Consensus messages around a stalled link. A wide-area link stalls now
//! and then: for seconds it holds what it carries without failing it, so a
//! message waits at the far end of the link and nothing tells the sender.
//! A validator that misses one message (a proposal, a vote) holds up its
//! height, and if it is needed for the quorum, everyone's. So a message of
//! this node's own that a validator has not acknowledged within a bound
//! measured from its round trip ([`relay_after`]) goes to each other
//! validator too, asking it to pass the message on
//! (`MessageBatch::relay_to`): another path, whose links are most likely
//! not stalled at the same moment. The copies are harmless: a message is
//! signed by its sender and a node takes it once. A relayed message is
//! never relayed again, so a message costs at most n - 1 more sends, and
//! only when a link is slow.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lanes::{Bulk, InFlight, PassOn};
use super::outbox::{Kind, Outbox, Outgoing};
use super::{PeerState, PeerTable};
use crate::consensus::Message;
use crate::ledger::{PublicKey, SignedTx};
use crate::net::p2p::MISSING_WAIT;
use crate::node::DEFAULT_ROUND_TRIP_MS;

/// Round trips a validator may take to acknowledge a message before it is
/// relayed: one for the request and its answer, one for a slow link's
/// jitter.
pub const RELAY_ROUND_TRIPS: u32 = 2;
/// What a validator may take to take a message in, beyond the round trips.
pub const RELAY_SLACK: Duration = Duration::from_millis(100);
/// The longest wait before a message is relayed, whatever the round trip.
pub const MAX_RELAY_AFTER: Duration = Duration::from_secs(3);
/// How often the outboxes are looked at for overdue messages.
pub const RELAY_TICK: Duration = Duration::from_millis(25);

/// How long a validator whose status polls measured `rtt_ms` may take to
/// acknowledge `msg` before it is relayed. A proposal may wait at the peer
/// up to [`MISSING_WAIT`] for the gossip of its transactions.
pub fn relay_after(rtt_ms: Option<u64>, msg: &Message) -> Duration {
    let rtt = Duration::from_millis(rtt_ms.unwrap_or(DEFAULT_ROUND_TRIP_MS));
    let wait = match msg {
        Message::Proposal(_) => MISSING_WAIT,
        _ => Duration::ZERO,
    };
    (rtt * RELAY_ROUND_TRIPS + RELAY_SLACK + wait).min(MAX_RELAY_AFTER)
}

/// Round trips a validator's answer to a gossip batch (or to a request
/// for a block) may take before the batch goes around it (the block is
/// asked of another too): one for the request, one for the jitter of a
/// slow link.
pub const HEDGE_ROUND_TRIPS: u64 = 2;
/// What a validator may take to check a batch, beyond the round trips.
pub const HEDGE_CHECK: Duration = Duration::from_millis(250);
/// The longest wait before a hedge, whatever the round trip measured.
pub const MAX_HEDGE_AFTER: Duration = Duration::from_secs(3);

/// How long a gossip batch waits for a validator whose status polls
/// measured `rtt_ms` (the median of the last ones) before it goes around
/// it.
pub fn hedge_after(rtt_ms: Option<u64>) -> Duration {
    let rtt = Duration::from_millis(rtt_ms.unwrap_or(DEFAULT_ROUND_TRIP_MS));
    (rtt * HEDGE_ROUND_TRIPS as u32 + HEDGE_CHECK).min(MAX_HEDGE_AFTER)
}

/// A validator this node sends consensus messages and gossip to.
pub(super) struct Target {
    pub node_id: PublicKey,
    pub url: String,
    pub outbox: Arc<Outbox>,
    pub bulk: SyncSender<Bulk>,
    /// This node's gossip request to it under way.
    pub gossip: Arc<Mutex<Option<InFlight>>>,
}

/// Until `stop`: relays every overdue message of a reachable validator's
/// outbox through the other validators (one that cannot be reached at
/// all is not on a stalled link: it is down, and its messages wait).
pub(super) fn relay_loop(targets: &[Target], table: &PeerTable, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(RELAY_TICK);
        let peers = table.snapshot();
        for t in targets {
            let Some(state) = peers.iter().find(|p| p.url == t.url) else {
                continue;
            };
            if !state.reachable {
                continue;
            }
            let late = t.outbox.overdue(|out| relay_after(state.rtt_ms, &out.msg));
            for out in late {
                relay_through_others(targets, t, &out);
            }
            let bound = hedge_after(state.rtt_ms);
            if let Some(txs) = overdue_gossip(&t.gossip, bound) {
                relay_gossip(targets, t, txs, &peers);
            }
        }
    }
}

/// Whether a validator's link looks stalled: its consensus messages wait
/// past their bound, or this node's gossip request under way to it was
/// relayed (it waited past its bound) and is still not answered; the next
/// gossip to it waits behind that request.
pub(super) fn looks_stalled(outbox: &Outbox, gossip: &Mutex<Option<InFlight>>) -> bool {
    outbox.stalled() || (gossip.lock().expect("in flight").as_ref()).is_some_and(|f| f.relayed)
}

/// The transactions of a gossip request under way longer than `bound`,
/// once.
fn overdue_gossip(gossip: &Mutex<Option<InFlight>>, bound: Duration) -> Option<Arc<Vec<SignedTx>>> {
    let mut g = gossip.lock().expect("in flight");
    let f = g
        .as_mut()
        .filter(|f| !f.relayed && f.since.elapsed() >= bound)?;
    f.relayed = true;
    Some(f.txs.clone())
}

/// Sends a gossip batch `to` is slow to take through the nearest other
/// validator whose link does not look stalled, asking it to pass it on.
fn relay_gossip(targets: &[Target], to: &Target, txs: Arc<Vec<SignedTx>>, peers: &[PeerState]) {
    let rtt = |t: &Target| {
        (peers.iter().find(|p| p.url == t.url))
            .and_then(|p| p.rtt_ms)
            .unwrap_or(DEFAULT_ROUND_TRIP_MS)
    };
    let via = (targets.iter())
        .filter(|o| o.node_id != to.node_id && !looks_stalled(&o.outbox, &o.gossip))
        .min_by_key(|o| rtt(o));
    if let Some(via) = via {
        tracing::debug!(peer = %to.url, txs = txs.len(), "a validator is slow to take gossip; relayed");
        let _ = via.bulk.try_send(Bulk::Txs(txs, PassOn::To(to.node_id)));
    }
}

fn relay_through_others(targets: &[Target], to: &Target, out: &Arc<Outgoing>) {
    tracing::debug!(
        peer = %to.url,
        height = out.msg.height(),
        round = out.msg.round(),
        kind = ?out.msg.kind(),
        "a validator is slow to take a message; relayed through the others"
    );
    for other in targets.iter().filter(|o| o.node_id != to.node_id) {
        other.outbox.push(out.clone(), Kind::Via(to.node_id));
    }
}
