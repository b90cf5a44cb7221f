//! The threads that talk to one peer: its status poller, its consensus
//! message senders and its bulk worker (gossip, block sync). Each has its
//! own keep-alive connection, so none waits behind another: a status poll
//! never delays a vote, a gossip batch the peer takes seconds to check
//! never delays either.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{Call, CallError, PeerClient};
use super::compact::compact;
use super::outbox::{Entry, Kind, Outbox, Outgoing};
use super::{
    BlocksPage, GossipBatch, MAX_GOSSIP_BATCH, MAX_MESSAGES_PER_REQUEST, MAX_SYNC_BLOCKS,
    MAX_SYNC_BODY, MessageBatch, MessagesAnswer, Missing, PeerTable, RTT_SAMPLES, STATUS_POLL,
    SYNC_PAGE, SYNC_TIMEOUT, gossip_batches, poll_peer,
};
use crate::consensus::Message;
use crate::ledger::{Genesis, Hash32, PublicKey, SignedTx};
use crate::node::{NodeInbox, Request};

/// What one peer's threads share.
pub(super) struct PeerLink {
    pub url: String,
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    pub stop: Arc<AtomicBool>,
    /// Consensus messages waiting for the peer's acknowledgement.
    pub outbox: Arc<Outbox>,
    /// What this node sent last: the messages of its current height and round.
    pub current: Arc<Mutex<Current>>,
}

impl PeerLink {
    fn failed(&self, e: &CallError) {
        tracing::debug!(peer = %self.url, "peer call failed: {e}");
        self.table.record_failure(&self.url, e);
    }
}

/// Polls the peer's status every [`STATUS_POLL`] and keeps its round-trip
/// estimate: the median of the last [`RTT_SAMPLES`] polls, so that one
/// poll caught in a stall does not move it much. When the status shows
/// that the peer may have lost messages it acknowledged, puts this node's
/// current ones back in its outbox: it restarted (another start time), or
/// it was more than a block behind this node and has caught up (a node
/// drops messages for heights too far ahead of its own).
pub(super) fn poll_loop(link: &PeerLink, chain_id: &Hash32, genesis: &Genesis) {
    let mut samples: VecDeque<u64> = VecDeque::with_capacity(RTT_SAMPLES);
    let mut last: Option<(u64, u64)> = None;
    while !link.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        if let Some((ms, s)) = poll_peer(&link.client, &link.url, chain_id, genesis, &link.table) {
            if samples.len() == RTT_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(ms);
            let mut sorted: Vec<u64> = samples.iter().copied().collect();
            sorted.sort_unstable();
            let median = sorted[sorted.len() / 2];
            link.table.update(&link.url, |p| p.rtt_ms = Some(median));
            let now = (s.started_at_ms, s.height);
            if last.is_some_and(|(started, _)| started != s.started_at_ms) {
                link.table.forget_taken(&link.url);
            }
            let current = link.current.lock().expect("current messages").clone();
            if genesis.is_validator(&s.node_id) && current.needed_again(last, now) {
                tracing::debug!(peer = %link.url, "sending the current messages again");
                for out in current.messages {
                    link.outbox.push(out, Kind::Own);
                }
            }
            last = Some(now);
        }
        std::thread::sleep(STATUS_POLL.saturating_sub(started.elapsed()));
    }
}

/// The messages this node sent at its current height and round.
#[derive(Debug, Clone, Default)]
pub(super) struct Current {
    at: (u64, u64),
    messages: Vec<Arc<Outgoing>>,
}

impl Current {
    /// Notes a message this node broadcasts.
    pub fn note(&mut self, out: &Arc<Outgoing>) {
        let at = (out.msg.height(), out.msg.round());
        if at > self.at {
            self.at = at;
            self.messages.clear();
        }
        if at == self.at {
            self.messages.push(out.clone());
        }
    }

    /// Whether a peer whose status went from `before` to `now` (its start
    /// time and committed height) needs these messages again.
    pub fn needed_again(&self, before: Option<(u64, u64)>, now: (u64, u64)) -> bool {
        let Some((started, height)) = before else {
            return false;
        };
        let restarted = started != now.0;
        let parent = self.at.0.saturating_sub(1);
        let caught_up = height < parent && now.1 == parent;
        !self.messages.is_empty() && (restarted || caught_up)
    }
}

/// One of the peer's consensus senders: takes the messages due in the
/// peer's outbox and sends them in one request, proposals by the names of
/// their transactions. The senders of a peer share its outbox, so while
/// one request is on its way the next messages go out beside it on another
/// connection. What the peer acknowledged leaves the outbox; what it did
/// not goes again after a backoff.
pub(super) fn send_loop(link: &PeerLink) {
    let url = format!("{}/p2p/messages", link.url);
    while let Some(entries) = link.outbox.take(MAX_MESSAGES_PER_REQUEST) {
        let mut batch = MessageBatch {
            relay_to: entries.first().and_then(Entry::relay_to),
            ..MessageBatch::default()
        };
        for e in &entries {
            match &e.out.msg {
                Message::Proposal(p) => {
                    let mut carry = e.carry.clone();
                    carry.extend(link.table.on_the_way(&link.url, &e.out.refs));
                    batch.proposals.push(compact(p, &e.out.refs, &carry));
                }
                m => batch.messages.push(m.clone()),
            }
        }
        let answer = link.client.post_json(&url, &batch).and_then(|body| {
            serde_json::from_slice::<MessagesAnswer>(&body)
                .map_err(|e| CallError::BadAnswer(e.to_string()))
        });
        match answer {
            Ok(a) => {
                let carried = carry_missing(link, &entries, a.missing);
                let acked: Vec<Entry> = (entries.into_iter())
                    .filter(|e| proposal_hash(e).is_none_or(|h| !carried.contains(&h)))
                    .collect();
                link.outbox.done(&acked);
            }
            // Refused for good (a message the peer will never take).
            Err(
                e @ CallError::Status {
                    status: 400..=499, ..
                },
            ) => {
                link.failed(&e);
                link.outbox.done(&entries);
            }
            Err(e) => {
                link.failed(&e);
                link.outbox.retry(entries);
            }
        }
    }
}

/// Sends again, carrying what the peer lacks, each proposal it could not
/// rebuild (gives up on one it still cannot rebuild with them carried);
/// the hashes of the blocks sent again.
fn carry_missing(link: &PeerLink, entries: &[Entry], missing: Vec<Missing>) -> Vec<Hash32> {
    let mut again = Vec::new();
    for m in missing {
        let Some(e) = entries
            .iter()
            .find(|e| proposal_hash(e) == Some(m.block_hash))
        else {
            continue;
        };
        if m.tx_hashes.iter().all(|h| e.carry.contains(h)) {
            tracing::warn!(peer = %link.url, "the peer cannot rebuild a proposal from what was sent");
            continue;
        }
        link.outbox.carry(e, m.tx_hashes);
        again.push(m.block_hash);
    }
    again
}

fn proposal_hash(e: &Entry) -> Option<Hash32> {
    match &e.out.msg {
        Message::Proposal(p) => Some(p.block.block_hash),
        _ => None,
    }
}

/// An item for the bulk worker.
pub(super) enum Bulk {
    Txs(Arc<Vec<SignedTx>>, PassOn),
    Sync(u64),
}

/// What a gossip batch asks the peer to do with its transactions beyond
/// taking them (`GossipBatch::relay`, `GossipBatch::relay_to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PassOn {
    Nothing,
    /// To this validator, whose link from here is slow to take them.
    To(PublicKey),
    /// To every other validator: more links from here are slow to take
    /// them than not, or batches for two different validators went in
    /// one request.
    Everyone,
}

impl PassOn {
    /// What a request carrying both batches asks: a peer passes on a
    /// little more than one of them needed (copies it takes as known),
    /// rather than a request wait a round trip behind the other.
    fn with(self, other: PassOn) -> PassOn {
        match (self, other) {
            (PassOn::Nothing, p) | (p, PassOn::Nothing) => p,
            (PassOn::To(a), PassOn::To(b)) if a == b => PassOn::To(a),
            _ => PassOn::Everyone,
        }
    }
}

/// A gossip request under way to the peer: when it went, what it carries,
/// and whether it was relayed through another validator already.
pub(super) struct InFlight {
    pub since: Instant,
    pub txs: Arc<Vec<SignedTx>>,
    pub relayed: bool,
}

/// The peer's bulk worker: gossip batches (merging those that wait) and
/// block sync. A gossip request is answered once the peer has checked the
/// batch: the wait is the back-pressure.
pub(super) struct BulkWorker {
    pub link: PeerLink,
    pub inbox: NodeInbox,
    pub syncing: Arc<AtomicBool>,
    /// This node's own gossip under way (not what it relays), for the
    /// relay loop to watch (`relay.rs`).
    pub in_flight: Arc<Mutex<Option<InFlight>>>,
    /// When the last gossip request to the peer started.
    pub last_post: std::cell::Cell<Option<Instant>>,
}

/// While transactions keep coming, a peer's gossip requests start at
/// most this often: what comes meanwhile waits and goes in the next one,
/// so that under load one authenticated request (a signature made, one
/// checked, a connection's turn) carries many ballots, not one each. A
/// link idle for this long sends at once; a proposal carries whole what
/// still waits here (`PeerTable::on_the_way`), so no block waits for it.
pub const GOSSIP_LINGER: Duration = Duration::from_millis(50);

/// The gossip to send with `txs`: what waits in `rx` and, until `due`,
/// what comes, up to [`MAX_GOSSIP_BATCH`], with what the request asks the
/// peer to pass on ([`PassOn::with`]); and where a sync taken meanwhile
/// starts (every gossip batch merges: only a sync ends the batch), to
/// handle after.
fn take_gossip(
    rx: &Receiver<Bulk>,
    mut txs: Vec<SignedTx>,
    mut pass: PassOn,
    due: Option<Instant>,
) -> (Vec<SignedTx>, PassOn, Option<u64>) {
    while txs.len() < MAX_GOSSIP_BATCH {
        let left = due.and_then(|d| d.checked_duration_since(Instant::now()));
        let next = match left {
            Some(wait) => rx.recv_timeout(wait).ok(),
            None => rx.try_recv().ok(),
        };
        match next {
            Some(Bulk::Txs(more, p)) => {
                txs.extend(more.iter().cloned());
                pass = pass.with(p);
            }
            Some(Bulk::Sync(from)) => return (txs, pass, Some(from)),
            None => break,
        }
    }
    (txs, pass, None)
}

impl BulkWorker {
    pub fn run(self, rx: Receiver<Bulk>) {
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Bulk::Txs(txs, pass)) => self.gossip(&rx, txs, pass),
                Ok(Bulk::Sync(from)) => self.sync_now(from),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn sync_now(&self, from: u64) {
        self.sync(from);
        self.syncing.store(false, Ordering::SeqCst);
    }

    /// Sends a gossip batch with whatever other batches wait or come
    /// within [`GOSSIP_LINGER`] of the last request to the peer.
    fn gossip(&self, rx: &Receiver<Bulk>, first: Arc<Vec<SignedTx>>, pass: PassOn) {
        let due = self.last_post.get().map(|t| t + GOSSIP_LINGER);
        let (txs, pass, sync) = take_gossip(rx, first.as_ref().clone(), pass, due);
        self.post_txs(txs, pass);
        // Keep order simple: what was sent first, then what came after it.
        if let Some(from) = sync {
            self.sync_now(from);
        }
    }

    /// Sends what the peer has not taken yet (a re-gossip of waiting
    /// transactions finds most of them taken), or, for it to pass on to
    /// other validators, everything.
    fn post_txs(&self, mut txs: Vec<SignedTx>, pass: PassOn) {
        self.last_post.set(Some(Instant::now()));
        let table = &self.link.table;
        if pass == PassOn::Nothing {
            txs.retain(|t| !table.has_taken(&self.link.url, t));
        }
        let url = format!("{}/p2p/transactions", self.link.url);
        for transactions in gossip_batches(txs) {
            let batch = GossipBatch {
                transactions,
                relay: pass == PassOn::Everyone,
                relay_to: match pass {
                    PassOn::To(k) => Some(k),
                    PassOn::Nothing | PassOn::Everyone => None,
                },
            };
            let own = batch.relay_to.is_none();
            if own {
                *self.in_flight.lock().expect("in flight") = Some(InFlight {
                    since: Instant::now(),
                    txs: Arc::new(batch.transactions.clone()),
                    relayed: false,
                });
            }
            let answer = self.link.client.post_json(&url, &batch);
            if own {
                *self.in_flight.lock().expect("in flight") = None;
            }
            match answer {
                Ok(_) => table.taken(&self.link.url, &batch.transactions),
                Err(e) => self.link.failed(&e),
            }
        }
    }

    /// Fetches committed blocks from `from` on and hands each page to the
    /// node as it comes (the node verifies every block before storing it),
    /// up to the height the peer last reported: no round trip more to learn
    /// that nothing follows.
    fn sync(&self, from: u64) {
        let mut next = from;
        let mut fetched = 0;
        while fetched < MAX_SYNC_BLOCKS {
            let url = format!("{}/p2p/blocks?from={next}&limit={SYNC_PAGE}", self.link.url);
            let page = self
                .link
                .client
                .call(&url, Call::Get, MAX_SYNC_BODY, SYNC_TIMEOUT)
                .and_then(|body| {
                    serde_json::from_slice::<BlocksPage>(&body)
                        .map_err(|e| CallError::BadAnswer(e.to_string()))
                });
            let blocks = match page {
                Ok(p) if p.blocks.is_empty() => return,
                Ok(p) => p.blocks,
                Err(e) => return self.link.failed(&e),
            };
            let last = blocks.last().map_or(next, |b| b.header.height);
            next += blocks.len() as u64;
            fetched += blocks.len() as u64;
            if self.inbox.try_send(Request::Synced(blocks)).is_err() {
                tracing::debug!("node busy; synced blocks dropped, will fetch again");
                return;
            }
            let reported = self.link.table.height_of(&self.link.url);
            if reported.is_none_or(|h| last >= h) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;

    fn ballots(n: u8) -> Vec<SignedTx> {
        let g = genesis(3);
        (1..=n).map(|i| ballot(&g, 1, i, 1)).collect()
    }

    #[test]
    fn gossip_that_comes_before_the_linger_ends_goes_in_the_same_request() {
        let b = ballots(3);
        let (tx, rx) = sync_channel(8);
        let late = b[1..].to_vec();
        let sender = std::thread::spawn(move || {
            for t in late {
                std::thread::sleep(Duration::from_millis(20));
                tx.send(Bulk::Txs(Arc::new(vec![t]), PassOn::Nothing))
                    .unwrap();
            }
            // Dropping the sender ends the wait long before it is due.
        });
        let due = Some(Instant::now() + Duration::from_secs(60));
        let (txs, _, next) = take_gossip(&rx, vec![b[0].clone()], PassOn::Nothing, due);
        sender.join().unwrap();
        assert_eq!(txs, b);
        assert!(next.is_none());
    }

    #[test]
    fn an_idle_link_sends_at_once_with_only_what_waits() {
        let b = ballots(3);
        let (tx, rx) = sync_channel(8);
        tx.send(Bulk::Txs(Arc::new(vec![b[1].clone()]), PassOn::Nothing))
            .unwrap();
        // Kept open: a wait for more would never end.
        let (txs, _, next) = take_gossip(&rx, vec![b[0].clone()], PassOn::Nothing, None);
        assert_eq!(txs, b[..2]);
        assert!(next.is_none());
        drop(tx);
    }

    #[test]
    fn other_work_ends_the_batch_and_is_handled_after_it() {
        let b = ballots(2);
        let (tx, rx) = sync_channel(8);
        tx.send(Bulk::Sync(7)).unwrap();
        tx.send(Bulk::Txs(Arc::new(vec![b[1].clone()]), PassOn::Nothing))
            .unwrap();
        let due = Some(Instant::now() + Duration::from_secs(60));
        let (txs, _, next) = take_gossip(&rx, vec![b[0].clone()], PassOn::Nothing, due);
        assert_eq!(txs, b[..1]);
        assert_eq!(next, Some(7));
        assert!(matches!(rx.try_recv(), Ok(Bulk::Txs(more, _)) if more[..] == b[1..]));
    }

    #[test]
    fn gossip_passed_on_differently_goes_in_one_request_that_asks_for_both() {
        let b = ballots(3);
        let g = genesis(3);
        let (v2, v3) = (g.validators[1].public_key, g.validators[2].public_key);
        let (tx, rx) = sync_channel(8);
        tx.send(Bulk::Txs(Arc::new(vec![b[1].clone()]), PassOn::To(v2)))
            .unwrap();
        let (txs, pass, next) = take_gossip(&rx, vec![b[0].clone()], PassOn::Nothing, None);
        assert_eq!((txs, pass), (b[..2].to_vec(), PassOn::To(v2)));
        assert!(next.is_none());
        tx.send(Bulk::Txs(Arc::new(vec![b[2].clone()]), PassOn::To(v3)))
            .unwrap();
        let (txs, pass, _) = take_gossip(&rx, b[..2].to_vec(), PassOn::To(v2), None);
        assert_eq!((txs, pass), (b.clone(), PassOn::Everyone));
        assert_eq!(PassOn::To(v2).with(PassOn::To(v2)), PassOn::To(v2));
        assert_eq!(PassOn::Everyone.with(PassOn::Nothing), PassOn::Everyone);
    }
}
