//! One simulated validator: what survives a crash (its committed chain, its
//! last persisted journal and its mempool, which the real appliance keeps in
//! SQLite) and what does not (the consensus core and the actions it had not
//! carried out yet).

use std::collections::BTreeSet;
use std::sync::Arc;

use evote_core::consensus::{ChainView, Core, Journal};
use evote_core::ledger::validate::check_block_txs;
use evote_core::ledger::{Block, ChainLookup, Hash32, LedgerError, NodeKey, Parent, SignedTx};

use super::world::World;

/// A node's committed chain (durable).
#[derive(Default)]
pub struct Chain {
    pub blocks: Vec<Block>,
    nullifiers: BTreeSet<(u64, Hash32)>,
    txs: BTreeSet<Hash32>,
}

impl ChainLookup for Chain {
    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError> {
        Ok(self.nullifiers.contains(&(election_id, *nullifier)))
    }
}

impl Chain {
    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    pub fn head(&self, world: &World) -> Parent {
        match self.blocks.last() {
            None => world.genesis_head,
            Some(b) => Parent {
                height: b.header.height,
                hash: b.block_hash,
                timestamp_ms: b.header.timestamp_ms,
            },
        }
    }

    pub fn has_nullifier(&self, n: &(u64, Hash32)) -> bool {
        self.nullifiers.contains(n)
    }

    pub fn has_tx(&self, hash: &Hash32) -> bool {
        self.txs.contains(hash)
    }

    /// Appends a block that must extend the head; a ballot already on the
    /// chain (by hash or nullifier) is a safety violation.
    pub fn append(&mut self, world: &World, block: Block) -> Result<(), String> {
        let head = self.head(world);
        let h = &block.header;
        if h.height != head.height + 1 || h.prev_hash != head.hash {
            return Err(format!(
                "block {} at height {} (prev {}) does not extend the head {} at height {}",
                short(&block.block_hash),
                h.height,
                short(&h.prev_hash),
                short(&head.hash),
                head.height
            ));
        }
        let mut hashes = Vec::with_capacity(block.transactions.len());
        for stx in &block.transactions {
            let hash = world.tx_hash(stx);
            let null = stx.tx.nullifier().expect("ballots carry a nullifier");
            if self.txs.contains(&hash) || hashes.iter().any(|(x, _)| x == &hash) {
                return Err(format!(
                    "ballot {} committed twice (again at height {})",
                    short(&hash),
                    h.height
                ));
            }
            if self.nullifiers.contains(&null) || hashes.iter().any(|(_, n)| n == &null) {
                return Err(format!(
                    "nullifier {} committed twice (again at height {}, tx {})",
                    short(&null.1),
                    h.height,
                    short(&hash)
                ));
            }
            hashes.push((hash, null));
        }
        for (hash, null) in hashes {
            self.txs.insert(hash);
            self.nullifiers.insert(null);
        }
        self.blocks.push(block);
        Ok(())
    }
}

/// What the core sees of the chain: contents are valid on top of this
/// node's committed chain.
pub struct View<'a> {
    pub world: &'a World,
    pub chain: &'a Chain,
}

impl ChainView for View<'_> {
    fn check_contents(&self, block: &Block) -> Result<(), LedgerError> {
        check_block_txs(&self.world.genesis, &self.world.chain_id, block, self).map(|_| ())
    }
}

impl ChainLookup for View<'_> {
    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError> {
        self.chain.is_used(election_id, nullifier)
    }

    fn verified(&self, tx_hash: &Hash32, signature: &evote_core::ledger::Signature) -> bool {
        self.world.is_pool_tx(tx_hash, signature)
    }
}

/// One mempool entry; `vote` indexes the run's table of votes.
pub struct Entry {
    pub vote: usize,
    pub hash: Hash32,
    pub nullifier: (u64, Hash32),
    pub stx: Arc<SignedTx>,
}

/// Pending ballots in arrival order (durable, like the appliance's SQLite
/// mempool).
#[derive(Default)]
pub struct Mempool {
    pub entries: Vec<Entry>,
}

impl Mempool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Admits a ballot unless it, or another ballot with its nullifier, is
    /// already pending or committed here (the appliance refuses a second
    /// vote of one voter at the door).
    pub fn admit(&mut self, chain: &Chain, entry: Entry) -> bool {
        let dup = self
            .entries
            .iter()
            .any(|e| e.hash == entry.hash || e.nullifier == entry.nullifier);
        if dup || chain.has_tx(&entry.hash) || chain.has_nullifier(&entry.nullifier) {
            return false;
        }
        self.entries.push(entry);
        true
    }

    /// Drops what the chain now holds, and double votes whose nullifier the
    /// chain used for another ballot.
    pub fn purge(&mut self, chain: &Chain) {
        self.entries
            .retain(|e| !chain.has_tx(&e.hash) && !chain.has_nullifier(&e.nullifier));
    }

    /// Up to `max` ballots for a proposal, oldest first, one per nullifier.
    /// (Every simulated ballot is well formed and timely, so the appliance's
    /// per-transaction re-check at selection is left to the receivers.)
    pub fn select(&self, chain: &Chain, max: usize) -> Vec<SignedTx> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for e in &self.entries {
            if out.len() >= max {
                break;
            }
            if chain.has_nullifier(&e.nullifier) || !seen.insert(e.nullifier) {
                continue;
            }
            out.push((*e.stx).clone());
        }
        out
    }
}

pub struct Node {
    pub key: Arc<NodeKey>,
    /// This node's clock runs ahead of virtual time by this much.
    pub skew_ms: u64,
    /// `None` while the node is down.
    pub core: Option<Core>,
    pub chain: Chain,
    pub journal: Option<Journal>,
    pub mempool: Mempool,
    /// Bumped at every crash, so that a stale restart timer does nothing.
    pub incarnation: u64,
    /// The node lost its disk at least once; from then on it may
    /// contradict what it said before (amnesia), like a faulty validator.
    pub wiped: bool,
}

impl Node {
    pub fn new(key: Arc<NodeKey>, skew_ms: u64) -> Self {
        Self {
            key,
            skew_ms,
            core: None,
            chain: Chain::default(),
            journal: None,
            mempool: Mempool::default(),
            incarnation: 0,
            wiped: false,
        }
    }

    pub fn is_up(&self) -> bool {
        self.core.is_some()
    }
}

/// The first 8 hex digits of a hash, for traces and messages.
pub fn short(h: &Hash32) -> String {
    h.0[..4].iter().map(|b| format!("{b:02x}")).collect()
}
