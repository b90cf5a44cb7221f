//! A station's forwarder (the seeds' BlockchainClient): each batch goes to
//! one validator, round-robin over the reachable ones first, failing over
//! to the next on error. A batch no validator takes stays in the mempool
//! and is forwarded again when it goes stale.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use super::client::PeerClient;
use super::{GossipBatch, MAX_GOSSIP_BATCH, PeerState, PeerTable, gossip_batches};
use crate::ledger::SignedTx;

/// Forwarders of a station: batches on their way at once (a validator
/// answers once it has checked a batch, a round trip and more later).
pub const FORWARD_LANES: usize = 2;

pub(super) struct Forwarder {
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    /// The validator the next batch goes to first, shared by the lanes.
    pub next: Arc<AtomicUsize>,
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
                });
            }
        }
    }

    fn forward(&self, batch: GossipBatch) {
        let mut validators: Vec<PeerState> = self
            .table
            .snapshot()
            .into_iter()
            .filter(|p| p.validator)
            .collect();
        if validators.is_empty() {
            return;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % validators.len();
        validators.rotate_left(start);
        validators.sort_by_key(|p| !p.reachable);
        for v in validators {
            let url = format!("{}/p2p/transactions", v.url);
            match self.client.post_json(&url, &batch) {
                Ok(_) => return self.table.taken(&v.url, &batch.transactions),
                Err(e) => self.table.record_failure(&v.url, &e),
            }
        }
        tracing::warn!(
            txs = batch.transactions.len(),
            "no validator took the forwarded ballots; they wait in the mempool"
        );
    }
}
