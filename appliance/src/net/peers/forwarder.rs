//! A station's forwarder (the seeds' BlockchainClient): each batch goes to
//! one validator, round-robin over the reachable ones first, failing over
//! to the next on error. A batch no validator takes stays in the mempool
//! and is forwarded again when it goes stale.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::client::PeerClient;
use super::{GossipBatch, MAX_GOSSIP_BATCH, PeerState, PeerTable, gossip_batches};
use crate::ledger::SignedTx;

pub(super) struct Forwarder {
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    pub next: usize,
}

impl Forwarder {
    pub fn run(mut self, rx: Receiver<Arc<Vec<SignedTx>>>) {
        while let Ok(first) = rx.recv() {
            let mut txs: Vec<SignedTx> = first.as_ref().clone();
            while txs.len() < MAX_GOSSIP_BATCH {
                match rx.try_recv() {
                    Ok(more) => txs.extend(more.iter().cloned()),
                    Err(_) => break,
                }
            }
            for transactions in gossip_batches(txs) {
                self.forward(GossipBatch {
                    transactions,
                    relay: true,
                });
            }
        }
    }

    fn forward(&mut self, batch: GossipBatch) {
        let mut validators: Vec<PeerState> = self
            .table
            .snapshot()
            .into_iter()
            .filter(|p| p.validator)
            .collect();
        if validators.is_empty() {
            return;
        }
        let start = self.next % validators.len();
        self.next = self.next.wrapping_add(1);
        validators.rotate_left(start);
        validators.sort_by_key(|p| !p.reachable);
        for v in validators {
            let url = format!("{}/p2p/transactions", v.url);
            match self.client.post_json(&url, &batch) {
                Ok(_) => return,
                Err(e) => self.table.record_failure(&v.url, &e),
            }
        }
        tracing::warn!(
            txs = batch.transactions.len(),
            "no validator took the forwarded ballots; they wait in the mempool"
        );
    }
}
