//! A station's forwarder (the seeds' BlockchainClient): each batch goes to
//! one validator, round-robin over the reachable ones first, failing over
//! to the next on error. A validator that has not answered within
//! [`hedge_after`] its measured round trip (a stalled link holds a request
//! for seconds without failing it) is not waited for alone: the batch goes
//! to the next validator too. A batch no validator takes stays in the
//! mempool and is forwarded again when it goes stale.
//!
//! A batch that reaches two validators is harmless: each takes a ballot
//! once by its hash (a second copy, by relay or by hedge, is answered
//! "already pending" and not relayed again), and the ledger takes one
//! ballot per nullifier, so no vote can count twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::PeerClient;
use super::{GossipBatch, MAX_GOSSIP_BATCH, PeerState, PeerTable, gossip_batches};
use crate::ledger::SignedTx;
use crate::node::DEFAULT_ROUND_TRIP_MS;

/// Forwarders of a station: batches on their way at once (a validator
/// answers once it has checked a batch, a round trip and more later).
pub const FORWARD_LANES: usize = 2;
/// Round trips a validator's answer to a forwarded batch may take before
/// the batch goes to another validator too: one for the request, one for
/// the jitter of a slow link.
pub const HEDGE_ROUND_TRIPS: u64 = 2;
/// What a validator may take to check a batch, beyond the round trips.
pub const HEDGE_CHECK: Duration = Duration::from_millis(250);
/// The longest wait before a hedge, whatever the round trip measured.
pub const MAX_HEDGE_AFTER: Duration = Duration::from_secs(3);
/// Forwarding calls under way at once, over every lane: a hedge is sent
/// only below it (a call to a stalled validator lasts until the stall ends
/// or the call times out).
pub const MAX_FORWARD_CALLS: usize = 4 * FORWARD_LANES;

/// How long a forwarded batch waits for a validator whose status polls
/// measured `rtt_ms` (the median of the last ones) before it goes to the
/// next validator too.
pub fn hedge_after(rtt_ms: Option<u64>) -> Duration {
    let rtt = Duration::from_millis(rtt_ms.unwrap_or(DEFAULT_ROUND_TRIP_MS));
    (rtt * HEDGE_ROUND_TRIPS as u32 + HEDGE_CHECK).min(MAX_HEDGE_AFTER)
}

pub(super) struct Forwarder {
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    /// The validator the next batch goes to first, shared by the lanes.
    pub next: Arc<AtomicUsize>,
    /// Forwarding calls under way, shared by the lanes.
    pub in_flight: Arc<AtomicUsize>,
}

impl Forwarder {
    /// One lane: takes what waits in the shared queue and forwards it.
    pub fn run(self, rx: &Mutex<Receiver<Arc<Vec<SignedTx>>>>) {
        loop {
            let txs = {
                let rx = rx.lock().expect("forward queue");
                let Ok(first) = rx.recv() else { return };
                let mut txs: Vec<SignedTx> = first.as_ref().clone();
                while txs.len() < MAX_GOSSIP_BATCH {
                    match rx.try_recv() {
                        Ok(more) => txs.extend(more.iter().cloned()),
                        Err(_) => break,
                    }
                }
                txs
            };
            // A validator that took a transaction passes it on to the
            // others: a re-gossip of what waits sends only the rest.
            let validators = self.table.snapshot();
            let mut txs = txs;
            txs.retain(|t| !validators.iter().any(|v| self.table.has_taken(&v.url, t)));
            for transactions in gossip_batches(txs) {
                self.forward(GossipBatch {
                    transactions,
                    relay: true,
                    relay_to: None,
                });
            }
        }
    }

    /// The validators in the order this batch tries them: round-robin,
    /// the reachable ones first.
    fn order(&self) -> Vec<PeerState> {
        let mut validators: Vec<PeerState> = (self.table.snapshot().into_iter())
            .filter(|p| p.validator)
            .collect();
        if validators.is_empty() {
            return validators;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % validators.len();
        validators.rotate_left(start);
        validators.sort_by_key(|p| !p.reachable);
        validators
    }

    /// Forwards `batch` until a validator takes it: to the next validator
    /// when one fails, and when one has not answered within
    /// [`hedge_after`] its round trip.
    pub fn forward(&self, batch: GossipBatch) {
        let batch = Arc::new(batch);
        let (done_tx, done) = mpsc::channel();
        let mut order = self.order().into_iter();
        let waiting = std::cell::Cell::new(0usize);
        let mut hedge_at = None;
        let launch = |v: PeerState| {
            let started = self.call(v.url.clone(), batch.clone(), done_tx.clone());
            waiting.set(waiting.get() + usize::from(started));
            started.then(|| Instant::now() + hedge_after(v.rtt_ms))
        };
        if let Some(v) = order.next() {
            hedge_at = launch(v);
        }
        while waiting.get() > 0 {
            let answer = match hedge_at {
                Some(at) => done.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => done.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match answer {
                Ok(true) => return,
                Ok(false) => {
                    waiting.set(waiting.get() - 1);
                    hedge_at = order.next().and_then(&launch);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let room = self.in_flight.load(Ordering::SeqCst) < MAX_FORWARD_CALLS;
                    hedge_at = order.next().filter(|_| room).and_then(&launch);
                    if hedge_at.is_some() {
                        tracing::debug!(
                            "a validator is slow to take a forwarded batch; sent to the next too"
                        );
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        tracing::warn!(
            txs = batch.transactions.len(),
            "no validator took the forwarded ballots; they wait in the mempool"
        );
    }

    /// Posts `batch` to the validator at `url` on a thread of its own, and
    /// says on `done` whether it took it (a lane that has moved on no
    /// longer listens; what the validator took is recorded all the same).
    /// Whether the call started.
    fn call(&self, url: String, batch: Arc<GossipBatch>, done: mpsc::Sender<bool>) -> bool {
        let (client, table) = (self.client.clone(), self.table.clone());
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("evote-forward".into())
            .spawn(move || {
                let took = match client.post_json(&format!("{url}/p2p/transactions"), &*batch) {
                    Ok(_) => {
                        table.taken(&url, &batch.transactions);
                        true
                    }
                    Err(e) => {
                        table.record_failure(&url, &e);
                        false
                    }
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = done.send(took);
            });
        if spawned.is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("could not start a forwarding call");
        }
        spawned.is_ok()
    }
}
