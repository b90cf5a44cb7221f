//! The committed chain as block validation reads it (PROTOCOL.md §7),
//! kept in memory: the nullifiers taken, each election's encrypted tally
//! after every block, the decryption shares recorded and the head. For
//! checkers without a database (the test vectors, the fuzz harnesses); the
//! store answers the same questions from SQLite.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Block, ChainLookup, CredentialOnChain, DeviceEnd, Genesis, Hash32, LedgerError, Parent,
    PublicKey, TallyState, Transaction,
};

#[derive(Debug, Clone)]
pub struct MemChain {
    parent: Parent,
    used: BTreeSet<(u64, Hash32)>,
    running: BTreeMap<u64, TallyState>,
    tallies: BTreeMap<(u64, u64), (u64, TallyState)>,
    shares: BTreeSet<(u64, u64, u32)>,
    credentials: BTreeMap<(u64, PublicKey), CredentialOnChain>,
    check_ins: BTreeSet<(u64, Hash32)>,
    closes: BTreeMap<(u64, PublicKey), DeviceEnd>,
}

impl MemChain {
    /// The chain of `g` (whose id is `chain_id`) before its first block.
    pub fn new(g: &Genesis, chain_id: Hash32) -> Self {
        Self {
            parent: Parent {
                height: 0,
                hash: chain_id,
                timestamp_ms: g.created_at_ms,
            },
            used: BTreeSet::new(),
            running: g
                .elections
                .iter()
                .map(|e| (e.id, TallyState::empty(e.id, e.candidates.len())))
                .collect(),
            tallies: BTreeMap::new(),
            shares: BTreeSet::new(),
            credentials: BTreeMap::new(),
            check_ins: BTreeSet::new(),
            closes: BTreeMap::new(),
        }
    }

    /// What the next block builds on.
    pub fn parent(&self) -> Parent {
        self.parent
    }

    /// Records a committed block (checked by the caller), as the store does.
    pub fn add(&mut self, b: &Block) {
        for t in &b.transactions {
            match &t.tx {
                Transaction::Ballot(bt) => {
                    self.used.insert((bt.election_id, bt.nullifier));
                    if let Some(tally) = self.running.get_mut(&bt.election_id) {
                        tally
                            .add([&bt.ballot])
                            .expect("a checked ballot's points decode");
                    }
                }
                Transaction::DecryptionShare(d) => {
                    self.shares
                        .insert((d.election_id, d.tally_height, d.share.trustee_index));
                }
                Transaction::CheckIn(c) => {
                    let leaf = c.leaf().expect("a checked check-in encodes");
                    self.check_ins.insert((c.election_id, leaf));
                }
                Transaction::CredentialReplacement(r) => {
                    let e = r.election_id;
                    self.credentials.entry((e, r.revoked)).or_default().revoked = true;
                    self.credentials
                        .entry((e, r.replacement))
                        .or_default()
                        .replacement = true;
                }
                Transaction::DeviceClose(d) => {
                    let end = DeviceEnd {
                        fallback: d.fallback,
                    };
                    self.closes.insert((d.election_id, d.origin), end);
                }
                // Never counted: a spoiled ballot changes no state the
                // rules read (PROTOCOL.md §4e).
                Transaction::SpoiledBallot(_) => {}
            }
        }
        let (height, time) = (b.header.height, b.header.timestamp_ms);
        for (id, tally) in &mut self.running {
            tally.height = height;
            self.tallies.insert((*id, height), (time, tally.clone()));
        }
        self.parent = Parent {
            height,
            hash: b.block_hash,
            timestamp_ms: time,
        };
    }
}

impl ChainLookup for MemChain {
    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError> {
        Ok(self.used.contains(&(election_id, *nullifier)))
    }

    fn credential_on_chain(
        &self,
        election_id: u64,
        credential: &PublicKey,
    ) -> Result<CredentialOnChain, LedgerError> {
        Ok(self
            .credentials
            .get(&(election_id, *credential))
            .copied()
            .unwrap_or_default())
    }

    fn is_checked_in(&self, election_id: u64, leaf: &Hash32) -> Result<bool, LedgerError> {
        Ok(self.check_ins.contains(&(election_id, *leaf)))
    }

    fn device_end(
        &self,
        election_id: u64,
        origin: &PublicKey,
    ) -> Result<Option<DeviceEnd>, LedgerError> {
        Ok(self.closes.get(&(election_id, *origin)).copied())
    }

    fn tally_at(
        &self,
        election_id: u64,
        height: u64,
    ) -> Result<Option<(u64, TallyState)>, LedgerError> {
        Ok(self.tallies.get(&(election_id, height)).cloned())
    }

    fn share_recorded(
        &self,
        election_id: u64,
        tally_height: u64,
        trustee: u32,
    ) -> Result<bool, LedgerError> {
        Ok(self.shares.contains(&(election_id, tally_height, trustee)))
    }
}
