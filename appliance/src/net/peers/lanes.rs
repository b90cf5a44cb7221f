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
use super::{
    BlocksPage, GossipBatch, MAX_GOSSIP_BATCH, MAX_MESSAGES_PER_REQUEST, MAX_SYNC_BLOCKS,
    MAX_SYNC_BODY, MessageBatch, PeerTable, RTT_SAMPLES, STATUS_POLL, SYNC_PAGE, SYNC_TIMEOUT,
    gossip_batches, poll_peer,
};
use crate::consensus::Message;
use crate::ledger::{Genesis, Hash32, SignedTx};
use crate::node::{NodeInbox, Request};

/// What one peer's threads share.
pub(super) struct PeerLink {
    pub url: String,
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    pub stop: Arc<AtomicBool>,
}

impl PeerLink {
    fn failed(&self, e: &CallError) {
        tracing::debug!(peer = %self.url, "peer call failed: {e}");
        self.table.record_failure(&self.url, e);
    }
}

/// Polls the peer's status every [`STATUS_POLL`] and keeps its round-trip
/// estimate: the median of the last [`RTT_SAMPLES`] polls, so that one
/// poll caught in a stall does not move it much.
pub(super) fn poll_loop(link: &PeerLink, chain_id: &Hash32, genesis: &Genesis) {
    let mut samples: VecDeque<u64> = VecDeque::with_capacity(RTT_SAMPLES);
    while !link.stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        if let Some(ms) = poll_peer(&link.client, &link.url, chain_id, genesis, &link.table) {
            if samples.len() == RTT_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(ms);
            let mut sorted: Vec<u64> = samples.iter().copied().collect();
            sorted.sort_unstable();
            let median = sorted[sorted.len() / 2];
            link.table.update(&link.url, |p| p.rtt_ms = Some(median));
        }
        std::thread::sleep(STATUS_POLL.saturating_sub(started.elapsed()));
    }
}

/// One of the peer's consensus senders: takes the next message, and every
/// other one waiting behind it, and sends them in one request. The
/// senders of a peer share its queue, so while one request is on its way
/// the next messages go out beside it on another connection.
pub(super) fn send_loop(link: &PeerLink, queue: &Mutex<Receiver<Arc<Message>>>) {
    loop {
        let batch = {
            let rx = queue.lock().expect("message queue");
            let Ok(first) = rx.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_MESSAGES_PER_REQUEST {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            batch
        };
        let body = MessageBatch {
            messages: batch.iter().map(|m| m.as_ref().clone()).collect(),
        };
        let url = format!("{}/p2p/messages", link.url);
        if let Err(e) = link.client.post_json(&url, &body) {
            link.failed(&e);
        }
    }
}

/// An item for the bulk worker.
pub(super) enum Bulk {
    Txs(Arc<Vec<SignedTx>>, bool),
    Sync(u64),
}

/// The peer's bulk worker: gossip batches (merging those that wait) and
/// block sync. A gossip request is answered once the peer has checked the
/// batch: the wait is the back-pressure.
pub(super) struct BulkWorker {
    pub link: PeerLink,
    pub inbox: NodeInbox,
    pub syncing: Arc<AtomicBool>,
}

impl BulkWorker {
    pub fn run(self, rx: Receiver<Bulk>) {
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Bulk::Txs(txs, relay)) => self.gossip(&rx, txs, relay),
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

    /// Sends a gossip batch, merging whatever other batches already wait.
    fn gossip(&self, rx: &Receiver<Bulk>, first: Arc<Vec<SignedTx>>, relay: bool) {
        let mut txs: Vec<SignedTx> = first.as_ref().clone();
        while txs.len() < MAX_GOSSIP_BATCH {
            match rx.try_recv() {
                Ok(Bulk::Txs(more, r)) if r == relay => txs.extend(more.iter().cloned()),
                Ok(other) => {
                    // Keep order simple: send what we have, then handle it.
                    self.post_txs(txs, relay);
                    return match other {
                        Bulk::Txs(more, r) => self.post_txs(more.as_ref().clone(), r),
                        Bulk::Sync(from) => self.sync_now(from),
                    };
                }
                Err(_) => break,
            }
        }
        self.post_txs(txs, relay);
    }

    fn post_txs(&self, txs: Vec<SignedTx>, relay: bool) {
        let url = format!("{}/p2p/transactions", self.link.url);
        for transactions in gossip_batches(txs) {
            let batch = GossipBatch {
                transactions,
                relay,
            };
            if let Err(e) = self.link.client.post_json(&url, &batch) {
                self.link.failed(&e);
            }
        }
    }

    /// Fetches committed blocks from `from` on and hands them to the node,
    /// which verifies every one before storing it.
    fn sync(&self, from: u64) {
        let mut blocks = Vec::new();
        let mut next = from;
        while (blocks.len() as u64) < MAX_SYNC_BLOCKS {
            let url = format!("{}/p2p/blocks?from={next}&limit={SYNC_PAGE}", self.link.url);
            let page = self
                .link
                .client
                .call(&url, Call::Get, MAX_SYNC_BODY, SYNC_TIMEOUT)
                .and_then(|body| {
                    serde_json::from_slice::<BlocksPage>(&body)
                        .map_err(|e| CallError::BadAnswer(e.to_string()))
                });
            match page {
                Ok(p) if p.blocks.is_empty() => break,
                Ok(p) => {
                    next += p.blocks.len() as u64;
                    blocks.extend(p.blocks);
                }
                Err(e) => {
                    self.link.failed(&e);
                    break;
                }
            }
        }
        if !blocks.is_empty() && self.inbox.try_send(Request::Synced(blocks)).is_err() {
            tracing::debug!("node busy; synced blocks dropped, will fetch again");
        }
    }
}
