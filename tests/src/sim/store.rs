//! A simulated validator's disk: what the appliance keeps in SQLite (the
//! chain, the mempool, the consensus journal, voters' ballots and codes,
//! the fallback chain and its reconciliation), kept in memory with the
//! same answers, and the driver's store ([`MemStore`]) over it.
//!
//! The disk outlives the driver: a crash drops the driver and keeps the
//! disk, a wipe replaces it. Every write is durable when it returns; a
//! [`Power`] cut in the middle of a step (a crash between two of the
//! driver's effects) makes every later write of that step do nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use evote_appliance::driver::NodeStore;
use evote_appliance::driver::{
    Durability, FallbackBallot, FallbackCounts, Head, MAX_MEMPOOL_TXS, MempoolEntry, MempoolInsert,
    Offered, ReconcileState, StoreError, next_code,
};
use evote_core::consensus::Journal;
use evote_core::ledger::fallback::{FallbackBlock, FallbackTip};
use evote_core::ledger::{
    Block, ChainLookup, CredentialOnChain, DeviceEnd, Hash32, LedgerError, PublicKey, SignedTx,
    TallyState, Transaction,
};

use super::node::short;
use super::rng::Rng;
use super::world::World;

type Result<T> = std::result::Result<T, StoreError>;

/// Whether the node's process is still running within a step: once cut,
/// nothing it writes or sends any more happens.
pub struct Power {
    on: bool,
    /// Chance of a cut before each effect.
    cut_p: f64,
    rng: Rng,
}

impl Power {
    /// Before an effect: whether it happens (the power may go now).
    pub fn effect(&mut self) -> bool {
        if self.on && self.cut_p > 0.0 && self.rng.chance(self.cut_p) {
            self.on = false;
        }
        self.on
    }

    pub fn is_on(&self) -> bool {
        self.on
    }
}

/// A transaction waiting in the mempool.
struct Waiting {
    hash: Hash32,
    stx: SignedTx,
    received_at_ms: u64,
}

/// The durable state of one simulated node.
pub struct Disk<'w> {
    world: &'w World,
    pub power: Power,
    blocks: Vec<Block>,
    txs: BTreeSet<Hash32>,
    /// Decryption shares on the chain: (election, tally height, trustee).
    shares: BTreeSet<(u64, u64, u32)>,
    nullifiers: BTreeMap<(u64, Hash32), Hash32>,
    /// Transactions that will never commit, with the one counted instead.
    rejected: BTreeMap<Hash32, Option<Hash32>>,
    journal: Option<Journal>,
    mempool: BTreeMap<u64, Waiting>,
    pool_by_hash: BTreeMap<Hash32, u64>,
    pool_by_nullifier: BTreeMap<(u64, Hash32), Hash32>,
    next_seq: u64,
    codes: BTreeMap<Hash32, Hash32>,
    last_code: Hash32,
    fallback_tips: BTreeMap<PublicKey, FallbackTip>,
    fallback_closed: BTreeSet<PublicKey>,
    /// Sealed ballots in (origin, seq) order of sealing.
    fallback: Vec<FallbackBallot>,
    /// Blocks appended since the simulator last looked.
    appended: Vec<Block>,
    /// Broken rules the simulator reports.
    pub violations: Vec<String>,
}

/// A disk shared by the driver's store, its network (which checks the
/// journal before a broadcast) and the simulator.
pub type DiskCell<'w> = Arc<Mutex<Disk<'w>>>;

impl<'w> Disk<'w> {
    pub fn new(world: &'w World) -> Self {
        Self {
            world,
            power: Power {
                on: true,
                cut_p: 0.0,
                rng: Rng::new(0),
            },
            blocks: Vec::new(),
            txs: BTreeSet::new(),
            shares: BTreeSet::new(),
            nullifiers: BTreeMap::new(),
            rejected: BTreeMap::new(),
            journal: None,
            mempool: BTreeMap::new(),
            pool_by_hash: BTreeMap::new(),
            pool_by_nullifier: BTreeMap::new(),
            next_seq: 0,
            codes: BTreeMap::new(),
            last_code: Hash32::ZERO,
            fallback_tips: BTreeMap::new(),
            fallback_closed: BTreeSet::new(),
            fallback: Vec::new(),
            appended: Vec::new(),
            violations: Vec::new(),
        }
    }

    pub fn cell(world: &'w World) -> DiskCell<'w> {
        Arc::new(Mutex::new(Self::new(world)))
    }

    /// Powers the node for a step; each effect of it may cut the power
    /// with chance `cut_p`, drawn from `seed`.
    pub fn power_on(&mut self, cut_p: f64, seed: u64) {
        self.power = Power {
            on: true,
            cut_p,
            rng: Rng::new(seed),
        };
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn head_hash(&self) -> Option<Hash32> {
        self.blocks.last().map(|b| b.block_hash)
    }

    pub fn take_appended(&mut self) -> Vec<Block> {
        std::mem::take(&mut self.appended)
    }

    pub fn has_tx(&self, hash: &Hash32) -> bool {
        self.txs.contains(hash)
    }

    /// The committed transaction with this nullifier.
    pub fn counted(&self, nullifier: &(u64, Hash32)) -> Option<Hash32> {
        self.nullifiers.get(nullifier).copied()
    }

    pub fn in_mempool(&self, hash: &Hash32) -> bool {
        self.pool_by_hash.contains_key(hash)
    }

    pub fn mempool_size(&self) -> usize {
        self.mempool.len()
    }

    /// Why a transaction was rejected: the one counted instead, if named.
    pub fn rejection(&self, hash: &Hash32) -> Option<Option<Hash32>> {
        self.rejected.get(hash).copied()
    }

    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The amnesiac driver of the checks' own test restarts without it.
    pub fn forget_journal(&mut self) {
        self.journal = None;
    }

    /// The sealed ballot whose sealed transaction is `sealed`.
    pub fn sealed(&self, sealed: &Hash32) -> Option<&FallbackBallot> {
        self.fallback.iter().find(|b| &b.sealed_tx_hash == sealed)
    }

    /// Whether a ballot of this voter waits here: in the mempool or in
    /// the fallback chain.
    pub fn holds_nullifier(&self, nullifier: &(u64, Hash32)) -> bool {
        self.pool_by_nullifier.contains_key(nullifier)
            || (self.fallback.iter()).any(|b| b.main_tx.tx.nullifier() == Some(*nullifier))
    }

    pub fn open_fallback(&self) -> usize {
        self.fallback
            .iter()
            .filter(|b| matches!(b.state, ReconcileState::Waiting | ReconcileState::Submitted))
            .count()
    }

    fn head(&self) -> Head {
        match self.blocks.last() {
            Some(b) => Head {
                height: b.header.height,
                hash: b.block_hash,
                timestamp_ms: b.header.timestamp_ms,
            },
            None => Head {
                height: 0,
                hash: self.world.chain_id,
                timestamp_ms: self.world.genesis.created_at_ms,
            },
        }
    }

    /// Block `height`'s time and the election's tally after it, added up
    /// when asked (the simulator casts no decryption shares, the only
    /// transactions checked against a tally).
    fn tally_at(&self, election_id: u64, height: u64) -> Option<(u64, TallyState)> {
        let election = self.world.genesis.election(election_id)?;
        let upto = self.blocks.get(..height as usize).filter(|_| height > 0)?;
        let mut tally = TallyState::empty(election_id, election.candidates.len());
        for stx in upto.iter().flat_map(|b| &b.transactions) {
            if let Some(b) = stx.tx.as_ballot().filter(|b| b.election_id == election_id) {
                tally
                    .add([&b.ballot])
                    .expect("a committed ballot's points decode");
            }
        }
        tally.height = height;
        Some((upto[upto.len() - 1].header.timestamp_ms, tally))
    }

    fn unpool(&mut self, hash: &Hash32) {
        if let Some(seq) = self.pool_by_hash.remove(hash)
            && let Some(w) = self.mempool.remove(&seq)
            && let Some(n) = w.stx.tx.nullifier()
        {
            self.pool_by_nullifier.remove(&n);
        }
    }

    fn append(&mut self, block: &Block) -> Result<()> {
        let head = self.head();
        if block.header.height != head.height + 1 || block.header.prev_hash != head.hash {
            return Err(StoreError::NotNextBlock {
                height: block.header.height,
                head: head.height,
            });
        }
        for stx in &block.transactions {
            let hash = self.world.tx_hash(stx);
            if !self.txs.insert(hash) {
                self.violations.push(format!(
                    "ballot {} committed twice (again at height {})",
                    short(&hash),
                    block.header.height
                ));
            }
            self.unpool(&hash);
            if let Some(n) = stx.tx.nullifier() {
                if let Some(first) = self.nullifiers.insert(n, hash) {
                    self.violations.push(format!(
                        "nullifier {} committed twice (tx {} at height {}, after {})",
                        short(&n.1),
                        short(&hash),
                        block.header.height,
                        short(&first)
                    ));
                }
                // A waiting ballot of the same voter can never commit now.
                if let Some(twin) = self.pool_by_nullifier.get(&n).copied() {
                    self.rejected.entry(twin).or_insert(Some(hash));
                    self.unpool(&twin);
                }
            }
        }
        for d in block.transactions.iter().filter_map(|t| t.tx.as_share()) {
            (self.shares).insert((d.election_id, d.tally_height, d.share.trustee_index));
        }
        self.blocks.push(block.clone());
        self.appended.push(block.clone());
        Ok(())
    }

    fn insert(&mut self, e: &MempoolEntry<'_>, now_ms: u64) -> Offered {
        let outcome = self.admit(e);
        let mut code = None;
        if outcome == MempoolInsert::Inserted {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.mempool.insert(
                seq,
                Waiting {
                    hash: *e.tx_hash,
                    stx: e.stx.clone(),
                    received_at_ms: now_ms,
                },
            );
            self.pool_by_hash.insert(*e.tx_hash, seq);
            if let Some(n) = e.stx.tx.nullifier() {
                self.pool_by_nullifier.insert(n, *e.tx_hash);
            }
            if let (Some(_), Transaction::Ballot(b)) = (e.voter, &e.stx.tx) {
                code = Some(self.issue_code(e.tx_hash, &b.ballot_hash));
            }
        }
        Offered { outcome, code }
    }

    fn admit(&self, e: &MempoolEntry<'_>) -> MempoolInsert {
        if self.txs.contains(e.tx_hash) {
            return MempoolInsert::AlreadyCommitted;
        }
        if self.pool_by_hash.contains_key(e.tx_hash) {
            return MempoolInsert::AlreadyPending;
        }
        if let Some(n) = e.stx.tx.nullifier() {
            if let Some(h) = self.nullifiers.get(&n) {
                return MempoolInsert::NullifierCommitted(*h);
            }
            if let Some(h) = self.pool_by_nullifier.get(&n) {
                return MempoolInsert::NullifierPending(*h);
            }
        }
        if self.mempool.len() as u64 >= MAX_MEMPOOL_TXS {
            return MempoolInsert::Full;
        }
        MempoolInsert::Inserted
    }

    /// The next code of this node's chain of codes; a ballot keeps the
    /// code it has.
    fn issue_code(&mut self, tx_hash: &Hash32, ballot_hash: &Hash32) -> Hash32 {
        if let Some(code) = self.codes.get(tx_hash) {
            return *code;
        }
        let code = next_code(&self.last_code, ballot_hash);
        self.codes.insert(*tx_hash, code);
        self.last_code = code;
        code
    }
}

/// The driver's store: a handle on the node's disk.
pub struct MemStore<'w>(pub DiskCell<'w>);

impl<'w> MemStore<'w> {
    fn disk(&self) -> MutexGuard<'_, Disk<'w>> {
        self.0.lock().expect("disk")
    }
}

/// The simulated election has open registration and no records but
/// ballots and shares: no credential is replaced, no voter checked in, no
/// device closed.
impl ChainLookup for MemStore<'_> {
    fn is_used(
        &self,
        election_id: u64,
        nullifier: &Hash32,
    ) -> std::result::Result<bool, LedgerError> {
        Ok(self.disk().counted(&(election_id, *nullifier)).is_some())
    }

    fn credential_on_chain(
        &self,
        _: u64,
        _: &PublicKey,
    ) -> std::result::Result<CredentialOnChain, LedgerError> {
        Ok(CredentialOnChain::default())
    }

    fn is_checked_in(&self, _: u64, _: &Hash32) -> std::result::Result<bool, LedgerError> {
        Ok(false)
    }

    fn device_end(
        &self,
        _: u64,
        _: &PublicKey,
    ) -> std::result::Result<Option<DeviceEnd>, LedgerError> {
        Ok(None)
    }

    fn tally_at(
        &self,
        election_id: u64,
        height: u64,
    ) -> std::result::Result<Option<(u64, TallyState)>, LedgerError> {
        Ok(self.disk().tally_at(election_id, height))
    }

    fn share_recorded(
        &self,
        election_id: u64,
        tally_height: u64,
        trustee: u32,
    ) -> std::result::Result<bool, LedgerError> {
        let share = (election_id, tally_height, trustee);
        Ok(self.disk().shares.contains(&share))
    }
}

impl NodeStore for MemStore<'_> {
    fn head(&self) -> Result<Head> {
        Ok(self.disk().head())
    }

    fn append_block(&mut self, block: &Block, _now_ms: u64) -> Result<()> {
        let mut d = self.disk();
        if !d.power.effect() {
            return Ok(());
        }
        d.append(block)
    }

    fn is_committed(&self, tx_hash: &Hash32) -> Result<bool> {
        Ok(self.disk().txs.contains(tx_hash))
    }

    fn nullifier_tx(&self, election_id: u64, nullifier: &Hash32) -> Result<Option<Hash32>> {
        Ok(self.disk().counted(&(election_id, *nullifier)))
    }

    fn load_consensus_state(&self) -> Result<Option<Journal>> {
        Ok(self.disk().journal.clone())
    }

    /// Kept as the appliance stores it (the blocks apart, by reference,
    /// `store/consensus.rs`) and read back.
    fn save_consensus_state(&mut self, journal: &Journal) -> Result<()> {
        let mut d = self.disk();
        if d.power.effect() {
            match stored_and_read(journal) {
                Ok(j) => d.journal = Some(j),
                Err(e) => d.violations.push(e),
            }
        }
        Ok(())
    }

    fn mempool_insert_batch(
        &mut self,
        entries: &[MempoolEntry<'_>],
        now_ms: u64,
        _durability: Durability,
    ) -> Result<Vec<Offered>> {
        let mut d = self.disk();
        if !d.power.effect() {
            // Nobody hears what a node that lost its power answers.
            return Ok(vec![
                Offered {
                    outcome: MempoolInsert::Full,
                    code: None
                };
                entries.len()
            ]);
        }
        Ok(entries.iter().map(|e| d.insert(e, now_ms)).collect())
    }

    fn mempool_take(&self, limit: u64) -> Result<Vec<(Hash32, SignedTx)>> {
        let d = self.disk();
        Ok(d.mempool
            .values()
            .take(limit as usize)
            .map(|w| (w.hash, w.stx.clone()))
            .collect())
    }

    fn mempool_older_than(&self, before_ms: u64, limit: u64) -> Result<Vec<SignedTx>> {
        let d = self.disk();
        Ok(d.mempool
            .values()
            .filter(|w| w.received_at_ms < before_ms)
            .take(limit as usize)
            .map(|w| w.stx.clone())
            .collect())
    }

    fn mempool_len(&self) -> Result<u64> {
        Ok(self.disk().mempool.len() as u64)
    }

    fn mempool_contains(&self, tx_hash: &Hash32) -> Result<bool> {
        Ok(self.disk().in_mempool(tx_hash))
    }

    fn mempool_reject(&mut self, tx_hash: &Hash32, _err: &LedgerError, _now_ms: u64) -> Result<()> {
        let mut d = self.disk();
        if d.power.effect() {
            d.rejected.entry(*tx_hash).or_insert(None);
            d.unpool(tx_hash);
        }
        Ok(())
    }

    fn fallback_closed(&self, origin: &PublicKey) -> Result<bool> {
        Ok(self.disk().fallback_closed.contains(origin))
    }

    fn fallback_tip(&self, origin: &PublicKey) -> Result<Option<FallbackTip>> {
        Ok(self.disk().fallback_tips.get(origin).cloned())
    }

    fn fallback_nullifier(
        &self,
        origin: &PublicKey,
        election_id: u64,
        nullifier: &Hash32,
    ) -> Result<Option<Hash32>> {
        let d = self.disk();
        let n = Some((election_id, *nullifier));
        Ok(d.fallback
            .iter()
            .find(|b| &b.origin == origin && b.main_tx.tx.nullifier() == n)
            .map(|b| b.sealed_tx_hash))
    }

    fn seal_fallback(
        &mut self,
        block: &FallbackBlock,
        copies: &[SignedTx],
        _now_ms: u64,
    ) -> Result<()> {
        let mut d = self.disk();
        if !d.power.effect() {
            return Ok(());
        }
        let origin = block.header.origin;
        if d.fallback_closed.contains(&origin) {
            return Err(StoreError::FallbackClosed);
        }
        for (sealed, copy) in block.transactions.iter().zip(copies) {
            let sealed_tx_hash = sealed.hash()?;
            d.fallback.push(FallbackBallot {
                main_tx_hash: copy.hash()?,
                sealed_tx_hash,
                origin,
                seq: block.header.seq,
                main_tx: copy.clone(),
                state: ReconcileState::Waiting,
                conflicting_tx: None,
            });
        }
        d.fallback_tips.insert(
            origin,
            FallbackTip {
                seq: block.header.seq,
                hash: block.block_hash,
            },
        );
        Ok(())
    }

    fn fallback_counts(&self) -> Result<FallbackCounts> {
        let mut c = FallbackCounts::default();
        for b in &self.disk().fallback {
            match b.state {
                ReconcileState::Waiting => c.waiting += 1,
                ReconcileState::Submitted => c.submitted += 1,
                ReconcileState::Confirmed => c.confirmed += 1,
                ReconcileState::Rejected => c.rejected += 1,
            }
        }
        Ok(c)
    }

    fn fallback_open(&self, limit: u64) -> Result<Vec<FallbackBallot>> {
        let d = self.disk();
        Ok(d.fallback
            .iter()
            .filter(|b| matches!(b.state, ReconcileState::Waiting | ReconcileState::Submitted))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    fn set_fallback_state(
        &mut self,
        main_tx_hash: &Hash32,
        state: ReconcileState,
        conflicting: Option<&Hash32>,
        _now_ms: u64,
    ) -> Result<()> {
        let mut d = self.disk();
        if !d.power.effect() {
            return Ok(());
        }
        for b in d
            .fallback
            .iter_mut()
            .filter(|b| &b.main_tx_hash == main_tx_hash)
        {
            b.state = state;
            b.conflicting_tx = conflicting.copied();
        }
        Ok(())
    }
}

/// A journal as the appliance stores it and reads it back: blocks apart,
/// by reference.
fn stored_and_read(j: &Journal) -> std::result::Result<Journal, String> {
    let blocks: Vec<_> = j.blocks().into_iter().cloned().collect();
    let back = j
        .record()
        .resolve(|r| blocks.iter().find(|b| r.names(b)).cloned())
        .map_err(|r| format!("the stored journal lost block {r}"))?;
    if &back != j {
        return Err("the stored journal reads back different".into());
    }
    Ok(back)
}
