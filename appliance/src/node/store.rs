//! What the driver asks of its storage: the domain operations it uses,
//! no more. The appliance gives it SQLite (`crate::store::Store`, whose
//! implementation is below and holds no SQL of its own); the simulator
//! (tests/src/sim) gives it memory. Every write is durable when it returns,
//! except a mempool batch written `Durability::WithNextSync`.

use crate::consensus::Journal;
use crate::ledger::fallback::{FallbackBlock, FallbackTip};
use crate::ledger::{Block, ChainLookup, Hash32, LedgerError, PublicKey, SignedTx};
use crate::store::{
    Durability, FallbackBallot, FallbackCounts, Head, MempoolEntry, Offered, ReconcileState, Store,
    StoreError,
};

type Result<T> = std::result::Result<T, StoreError>;

/// The node's storage. [`ChainLookup`] answers block validation's
/// questions about the committed chain.
pub trait NodeStore: ChainLookup {
    /// The last committed block (height 0 and the chain id before any).
    fn head(&self) -> Result<Head>;
    /// Stores a checked block that extends the head, with its
    /// transactions; drops them from the mempool and, with them, waiting
    /// transactions that reuse one of their nullifiers (recorded as
    /// rejected, naming the one committed). One atomic write.
    fn append_block(&mut self, block: &Block, now_ms: u64) -> Result<()>;
    /// Whether this transaction is on the chain.
    fn is_committed(&self, tx_hash: &Hash32) -> Result<bool>;
    /// The committed transaction that used this nullifier.
    fn nullifier_tx(&self, election_id: u64, nullifier: &Hash32) -> Result<Option<Hash32>>;

    /// The consensus journal last saved.
    fn load_consensus_state(&self) -> Result<Option<Journal>>;
    /// Makes the journal durable (before any message it holds is sent).
    fn save_consensus_state(&mut self, journal: &Journal) -> Result<()>;

    /// Offers checked transactions to the mempool in one write; a voter's
    /// ballot newly inserted is recorded as theirs with its confirmation
    /// code.
    fn mempool_insert_batch(
        &mut self,
        entries: &[MempoolEntry<'_>],
        now_ms: u64,
        durability: Durability,
    ) -> Result<Vec<Offered>>;
    /// Up to `limit` waiting transactions with their hashes, oldest first.
    fn mempool_take(&self, limit: u64) -> Result<Vec<(Hash32, SignedTx)>>;
    /// Up to `limit` transactions received before `before_ms`, oldest first.
    fn mempool_older_than(&self, before_ms: u64, limit: u64) -> Result<Vec<SignedTx>>;
    fn mempool_len(&self) -> Result<u64>;
    fn mempool_contains(&self, tx_hash: &Hash32) -> Result<bool>;
    /// Records why a waiting transaction can never commit and drops it.
    fn mempool_reject(&mut self, tx_hash: &Hash32, err: &LedgerError, now_ms: u64) -> Result<()>;

    /// Whether `origin`'s fallback chain is closed (it seals no more).
    fn fallback_closed(&self, origin: &PublicKey) -> Result<bool>;
    /// The last block of `origin`'s fallback chain.
    fn fallback_tip(&self, origin: &PublicKey) -> Result<Option<FallbackTip>>;
    /// The ballot `origin` already sealed for this voter.
    fn fallback_nullifier(
        &self,
        origin: &PublicKey,
        election_id: u64,
        nullifier: &Hash32,
    ) -> Result<Option<Hash32>>;
    /// Stores a sealed fallback block with the main-chain copies of its
    /// ballots, in one write; refused once the chain is
    /// closed.
    fn seal_fallback(
        &mut self,
        block: &FallbackBlock,
        copies: &[SignedTx],
        now_ms: u64,
    ) -> Result<()>;
    /// Sealed ballots (of every origin held) by reconciliation state.
    fn fallback_counts(&self) -> Result<FallbackCounts>;
    /// Up to `limit` sealed ballots not yet settled, oldest first.
    fn fallback_open(&self, limit: u64) -> Result<Vec<FallbackBallot>>;
    fn set_fallback_state(
        &mut self,
        main_tx_hash: &Hash32,
        state: ReconcileState,
        conflicting: Option<&Hash32>,
        now_ms: u64,
    ) -> Result<()>;
}

impl NodeStore for Store {
    fn head(&self) -> Result<Head> {
        Store::head(self)
    }

    fn append_block(&mut self, block: &Block, now_ms: u64) -> Result<()> {
        Store::append_block(self, block, now_ms)
    }

    fn is_committed(&self, tx_hash: &Hash32) -> Result<bool> {
        Ok(self.committed_tx(tx_hash)?.is_some())
    }

    fn nullifier_tx(&self, election_id: u64, nullifier: &Hash32) -> Result<Option<Hash32>> {
        Store::nullifier_tx(self, election_id, nullifier)
    }

    fn load_consensus_state(&self) -> Result<Option<Journal>> {
        Store::load_consensus_state(self)
    }

    fn save_consensus_state(&mut self, journal: &Journal) -> Result<()> {
        Store::save_consensus_state(self, journal)
    }

    fn mempool_insert_batch(
        &mut self,
        entries: &[MempoolEntry<'_>],
        now_ms: u64,
        durability: Durability,
    ) -> Result<Vec<Offered>> {
        Store::mempool_insert_batch(self, entries, now_ms, durability)
    }

    fn mempool_take(&self, limit: u64) -> Result<Vec<(Hash32, SignedTx)>> {
        Store::mempool_take(self, limit)
    }

    fn mempool_older_than(&self, before_ms: u64, limit: u64) -> Result<Vec<SignedTx>> {
        Store::mempool_older_than(self, before_ms, limit)
    }

    fn mempool_len(&self) -> Result<u64> {
        Store::mempool_len(self)
    }

    fn mempool_contains(&self, tx_hash: &Hash32) -> Result<bool> {
        Store::mempool_contains(self, tx_hash)
    }

    fn mempool_reject(&mut self, tx_hash: &Hash32, err: &LedgerError, now_ms: u64) -> Result<()> {
        self.mark_rejected(tx_hash, err, None, now_ms)?;
        self.mempool_remove(tx_hash)
    }

    fn fallback_closed(&self, origin: &PublicKey) -> Result<bool> {
        Ok(self.fallback_close(origin)?.is_some())
    }

    fn fallback_tip(&self, origin: &PublicKey) -> Result<Option<FallbackTip>> {
        Store::fallback_tip(self, origin)
    }

    fn fallback_nullifier(
        &self,
        origin: &PublicKey,
        election_id: u64,
        nullifier: &Hash32,
    ) -> Result<Option<Hash32>> {
        Store::fallback_nullifier(self, origin, election_id, nullifier)
    }

    fn seal_fallback(
        &mut self,
        block: &FallbackBlock,
        copies: &[SignedTx],
        now_ms: u64,
    ) -> Result<()> {
        Store::seal_fallback(self, block, copies, now_ms)
    }

    fn fallback_counts(&self) -> Result<FallbackCounts> {
        Store::fallback_counts(self, None)
    }

    fn fallback_open(&self, limit: u64) -> Result<Vec<FallbackBallot>> {
        Store::fallback_open(self, limit)
    }

    fn set_fallback_state(
        &mut self,
        main_tx_hash: &Hash32,
        state: ReconcileState,
        conflicting: Option<&Hash32>,
        now_ms: u64,
    ) -> Result<()> {
        Store::set_fallback_state(self, main_tx_hash, state, conflicting, now_ms)
    }
}
