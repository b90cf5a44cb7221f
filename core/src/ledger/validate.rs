//! Block validity: header, proposer, seals and contents. Storage reads come
//! in through [`ChainLookup`]; the clock comes in as `now_ms`.

use std::collections::{BTreeMap, BTreeSet};

use super::block::{Block, CommitSeal, Vote, VoteKind, check_tx_root, tx_hashes};
use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::check_safe_integer;
use super::crypto::verify_digest;
use super::elgamal::{TallyContext, verify_decryption_share};
use super::error::LedgerError;
use super::genesis::Genesis;
use super::records::FallbackEnd;
use super::tally::TallyState;
use super::tx::{BallotTx, DecryptionShareTx, SignedTx, ToCheck, Transaction, check_txs};

/// How far ahead of the checker's clock a block timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 15_000;

/// What a block is checked against: its parent on this chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub height: u64,
    pub hash: Hash32,
    pub timestamp_ms: u64,
}

/// What the committed replacement records say of a credential.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CredentialOnChain {
    /// A replacement record named it as a voter's new credential.
    pub replacement: bool,
    /// A replacement record revoked it.
    pub revoked: bool,
}

/// An appliance's committed closing record of an election, as the rules
/// need it: where its fallback chain ended, if it had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceEnd {
    pub fallback: Option<FallbackEnd>,
}

/// What block validation needs to know of the committed chain below the
/// block being checked.
pub trait ChainLookup {
    /// Whether a nullifier is already used.
    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError>;

    /// What committed replacement records say of a credential.
    fn credential_on_chain(
        &self,
        election_id: u64,
        credential: &PublicKey,
    ) -> Result<CredentialOnChain, LedgerError>;

    /// Whether a roll entry (its leaf) is already checked in.
    fn is_checked_in(&self, election_id: u64, leaf: &Hash32) -> Result<bool, LedgerError>;

    /// The appliance's committed closing record of the election, if any.
    fn device_end(
        &self,
        election_id: u64,
        origin: &PublicKey,
    ) -> Result<Option<DeviceEnd>, LedgerError>;

    /// The timestamp of block `height` and the election's encrypted tally as
    /// it stood after that block; `None` if there is no such block.
    fn tally_at(
        &self,
        _election_id: u64,
        _height: u64,
    ) -> Result<Option<(u64, TallyState)>, LedgerError> {
        Ok(None)
    }

    /// Whether this node already verified this transaction's signature and
    /// proofs (the same transaction with the same signature): its costly
    /// checks are then not done again.
    fn verified(&self, _tx_hash: &Hash32, _signature: &Signature) -> bool {
        false
    }

    /// Whether the trustee's share of this tally is already on the chain.
    fn share_recorded(
        &self,
        _election_id: u64,
        _tally_height: u64,
        _trustee: u32,
    ) -> Result<bool, LedgerError> {
        Ok(false)
    }
}

/// Checks the header against the parent and the genesis, the block hash,
/// the proposer and its signature, and the transaction count and root.
/// Returns the transactions' hashes (the root's leaves), for
/// [`check_block_txs_hashed`]: a block's transactions are hashed once.
pub fn check_header(
    genesis: &Genesis,
    chain_id: &Hash32,
    parent: &Parent,
    block: &Block,
    now_ms: u64,
) -> Result<Vec<Hash32>, LedgerError> {
    let h = &block.header;
    LedgerError::same_chain(chain_id, &h.chain_id)?;
    for (field, v) in [
        ("height", h.height),
        ("round", h.round),
        ("timestamp_ms", h.timestamp_ms),
        ("tx_count", h.tx_count),
    ] {
        check_safe_integer(field, v)?;
    }
    if h.height != parent.height + 1 {
        return Err(LedgerError::WrongHeight {
            expected: parent.height + 1,
            found: h.height,
        });
    }
    if h.prev_hash != parent.hash {
        return Err(LedgerError::WrongPrevHash {
            expected: parent.hash,
            found: h.prev_hash,
        });
    }
    if h.timestamp_ms < parent.timestamp_ms {
        return Err(LedgerError::TimestampBackwards {
            parent: parent.timestamp_ms,
            found: h.timestamp_ms,
        });
    }
    if h.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return Err(LedgerError::TimestampInFuture {
            now: now_ms,
            found: h.timestamp_ms,
        });
    }
    let computed = h.hash()?;
    if computed != block.block_hash {
        return Err(LedgerError::WrongHash {
            what: "block",
            expected: computed,
            found: block.block_hash,
        });
    }
    check_proposer(genesis, block)?;
    check_tx_list_shape(genesis, block)
}

fn check_proposer(genesis: &Genesis, block: &Block) -> Result<(), LedgerError> {
    let h = &block.header;
    if !genesis.is_validator(&h.proposer) {
        return Err(LedgerError::UnknownProposer(h.proposer));
    }
    let expected = genesis.proposer(h.height, h.round);
    if expected != &h.proposer {
        return Err(LedgerError::WrongProposer {
            height: h.height,
            round: h.round,
            expected: *expected,
            found: h.proposer,
        });
    }
    let vote = Vote::for_header(VoteKind::Proposal, h, block.block_hash);
    if !verify_digest(&h.proposer, &vote.digest()?, &block.proposer_signature) {
        return Err(LedgerError::BadSignature { what: "proposal" });
    }
    Ok(())
}

fn check_tx_list_shape(genesis: &Genesis, block: &Block) -> Result<Vec<Hash32>, LedgerError> {
    let h = &block.header;
    let found = block.transactions.len() as u64;
    if h.tx_count != found {
        return Err(LedgerError::TxCountMismatch {
            header: h.tx_count,
            found,
        });
    }
    if found > genesis.params.max_block_txs {
        return Err(LedgerError::TooManyTxs {
            limit: genesis.params.max_block_txs,
            found,
        });
    }
    let hashes = tx_hashes(&block.transactions)?;
    check_tx_root("tx_root", &hashes, h.tx_root)?;
    Ok(hashes)
}

/// Checks that `seals` hold at least Q distinct, valid commit signatures
/// from validators over the block's commit statement.
pub fn check_seals(
    genesis: &Genesis,
    block: &Block,
    seals: &[CommitSeal],
) -> Result<(), LedgerError> {
    let digest = block.commit_vote().digest()?;
    let mut seen = BTreeSet::new();
    for seal in seals {
        if !genesis.is_validator(&seal.validator) {
            return Err(LedgerError::SealFromNonValidator(seal.validator));
        }
        if !seen.insert(seal.validator) {
            return Err(LedgerError::DuplicateSeal(seal.validator));
        }
        if !verify_digest(&seal.validator, &digest, &seal.signature) {
            return Err(LedgerError::BadSeal(seal.validator));
        }
    }
    let need = genesis.quorum();
    if seen.len() < need {
        return Err(LedgerError::TooFewSeals {
            have: seen.len(),
            need,
        });
    }
    Ok(())
}

/// Drops seals that are not distinct, valid commit signatures of
/// validators. Seals are not part of the block hash, so a relaying peer
/// could append junk ones; a receiver keeps the good ones and then checks
/// that Q remain.
pub fn retain_valid_seals(genesis: &Genesis, block: &mut Block) {
    let Ok(digest) = block.commit_vote().digest() else {
        block.seals.clear();
        return;
    };
    let mut seen = BTreeSet::new();
    block.seals.retain(|s| {
        genesis.is_validator(&s.validator)
            && !seen.contains(&s.validator)
            && verify_digest(&s.validator, &digest, &s.signature)
            && seen.insert(s.validator)
    });
}

/// Checks every transaction at the block's timestamp (rules 18), then,
/// in block order, the rules between transactions and the chain (19-24,
/// [`InBlock`]). Returns the transaction hashes in block order.
pub fn check_block_txs(
    genesis: &Genesis,
    chain_id: &Hash32,
    block: &Block,
    chain: &dyn ChainLookup,
) -> Result<Vec<Hash32>, LedgerError> {
    let hashes = block.transactions.iter().map(|stx| stx.tx.hash().ok());
    check_block_txs_with(genesis, chain_id, block, hashes, chain)
}

/// [`check_block_txs`] with the transactions' hashes known
/// ([`check_header`] gave them): the same rules, no hashing again.
pub fn check_block_txs_hashed(
    genesis: &Genesis,
    chain_id: &Hash32,
    block: &Block,
    tx_hashes: &[Hash32],
    chain: &dyn ChainLookup,
) -> Result<Vec<Hash32>, LedgerError> {
    assert_eq!(
        tx_hashes.len(),
        block.transactions.len(),
        "one hash per transaction"
    );
    let hashes = tx_hashes.iter().copied().map(Some);
    check_block_txs_with(genesis, chain_id, block, hashes, chain)
}

fn check_block_txs_with(
    genesis: &Genesis,
    chain_id: &Hash32,
    block: &Block,
    tx_hashes: impl Iterator<Item = Option<Hash32>>,
    chain: &dyn ChainLookup,
) -> Result<Vec<Hash32>, LedgerError> {
    let at = (block.header.height, block.header.timestamp_ms);
    let mut hashes = Vec::with_capacity(block.transactions.len());
    let mut in_block = InBlock::default();
    // Every transaction's own rules first (ballot proofs in batches), then
    // the rules between them in block order: the first error is the one
    // checking them one by one would give.
    let checks: Vec<ToCheck<'_>> = block
        .transactions
        .iter()
        .zip(tx_hashes)
        .map(|(stx, hash)| {
            let known = hash.is_some_and(|h| chain.verified(&h, &stx.signature));
            ToCheck { stx, hash, known }
        })
        .collect();
    let verdicts = check_txs(genesis, chain_id, &checks, at.1);
    for (stx, verdict) in block.transactions.iter().zip(verdicts) {
        let hash = verdict?;
        in_block.admit(genesis, chain_id, at, stx, hash, chain)?;
        hashes.push(hash);
    }
    Ok(hashes)
}

/// What the transactions already admitted to a block changed, so that the
/// next one is checked against the chain as it will be (rules 19-24).
#[derive(Debug, Default)]
pub struct InBlock {
    txs: BTreeSet<Hash32>,
    nullifiers: BTreeSet<(u64, Hash32)>,
    shares: BTreeSet<(u64, u64, u32)>,
    check_ins: BTreeSet<(u64, Hash32)>,
    credentials: BTreeMap<(u64, PublicKey), CredentialOnChain>,
    closes: BTreeMap<(u64, PublicKey), DeviceEnd>,
}

impl InBlock {
    /// Rules 19-24 for a transaction whose own rules (18) hold, in block
    /// `at = (height, timestamp_ms)`; on success it counts as in the block.
    pub fn admit(
        &mut self,
        genesis: &Genesis,
        chain_id: &Hash32,
        at: (u64, u64),
        stx: &SignedTx,
        hash: Hash32,
        chain: &dyn ChainLookup,
    ) -> Result<(), LedgerError> {
        if self.txs.contains(&hash) {
            return Err(LedgerError::DuplicateTx(hash));
        }
        match &stx.tx {
            Transaction::Ballot(b) => self.admit_ballot(genesis, b, chain)?,
            Transaction::DecryptionShare(d) => {
                let key = (d.election_id, d.tally_height, d.share.trustee_index);
                if self.shares.contains(&key) {
                    return Err(LedgerError::BadDecryptionShare(format!(
                        "trustee {} already gave a share of this tally",
                        key.2
                    )));
                }
                check_share_on_chain(genesis, chain_id, at, d, chain)?;
                self.shares.insert(key);
            }
            Transaction::CheckIn(c) => {
                let key = (c.election_id, c.leaf()?);
                if self.check_ins.contains(&key) || chain.is_checked_in(key.0, &key.1)? {
                    return Err(LedgerError::DuplicateCheckIn {
                        election_id: key.0,
                        leaf: key.1,
                    });
                }
                self.check_ins.insert(key);
            }
            Transaction::CredentialReplacement(r) => {
                let e = r.election_id;
                let old = self.credential(e, &r.revoked, chain)?;
                if !(genesis
                    .election(e)
                    .is_some_and(|el| el.lists_credential(&r.revoked))
                    || old.replacement)
                {
                    return Err(LedgerError::UnknownCredential(format!(
                        "{} is not a credential of election {e}",
                        r.revoked
                    )));
                }
                if old.revoked {
                    return Err(LedgerError::RevokedCredential(r.revoked));
                }
                let used = Hash32(r.revoked.0);
                if self.nullifiers.contains(&(e, used)) || chain.is_used(e, &used)? {
                    return Err(LedgerError::CredentialUsed(r.revoked));
                }
                let new = self.credential(e, &r.replacement, chain)?;
                let listed = genesis
                    .election(e)
                    .is_some_and(|el| el.lists_credential(&r.replacement));
                if listed || new.replacement || new.revoked {
                    return Err(LedgerError::DuplicateCredential(r.replacement));
                }
                self.credentials
                    .entry((e, r.revoked))
                    .or_insert(old)
                    .revoked = true;
                self.credentials
                    .entry((e, r.replacement))
                    .or_insert(new)
                    .replacement = true;
            }
            Transaction::DeviceClose(d) => {
                let key = (d.election_id, d.origin);
                if self.device_end(key.0, &key.1, chain)?.is_some() {
                    return Err(LedgerError::DuplicateDeviceClose {
                        election_id: key.0,
                        origin: key.1,
                    });
                }
                self.closes.insert(
                    key,
                    DeviceEnd {
                        fallback: d.fallback,
                    },
                );
            }
            // A spoiled ballot uses no credential and never counts: no rule
            // between it and the chain but rule 19 (PROTOCOL.md §4e).
            Transaction::SpoiledBallot(_) => {}
        }
        self.txs.insert(hash);
        Ok(())
    }

    /// Rule 20: a listed, unrevoked credential; not from an appliance that
    /// closed the election (but for fallback ballots it sealed before); the
    /// nullifier's first ballot.
    fn admit_ballot(
        &mut self,
        genesis: &Genesis,
        b: &BallotTx,
        chain: &dyn ChainLookup,
    ) -> Result<(), LedgerError> {
        let e = b.election_id;
        let election = genesis.election(e).ok_or(LedgerError::UnknownElection(e))?;
        if !election.open_registration() {
            let credential = b.credential();
            let state = self.credential(e, &credential, chain)?;
            if !(election.lists_credential(&credential) || state.replacement) {
                return Err(LedgerError::UnknownCredential(format!(
                    "{credential} is not a credential of election {e}"
                )));
            }
            if state.revoked {
                return Err(LedgerError::RevokedCredential(credential));
            }
        }
        if let Some(end) = self.device_end(e, &b.origin, chain)? {
            check_sealed_before_close(b, &end)?;
        }
        let key = (e, b.nullifier);
        if self.nullifiers.contains(&key) || chain.is_used(e, &b.nullifier)? {
            return Err(LedgerError::DuplicateNullifier {
                election_id: e,
                nullifier: b.nullifier,
            });
        }
        self.nullifiers.insert(key);
        Ok(())
    }

    fn credential(
        &self,
        election_id: u64,
        credential: &PublicKey,
        chain: &dyn ChainLookup,
    ) -> Result<CredentialOnChain, LedgerError> {
        match self.credentials.get(&(election_id, *credential)) {
            Some(state) => Ok(*state),
            None => chain.credential_on_chain(election_id, credential),
        }
    }

    fn device_end(
        &self,
        election_id: u64,
        origin: &PublicKey,
        chain: &dyn ChainLookup,
    ) -> Result<Option<DeviceEnd>, LedgerError> {
        match self.closes.get(&(election_id, *origin)) {
            Some(end) => Ok(Some(*end)),
            None => chain.device_end(election_id, origin),
        }
    }
}

/// After an appliance's closing record, only ballots it had sealed in its
/// fallback chain by then may still come from it.
fn check_sealed_before_close(b: &BallotTx, end: &DeviceEnd) -> Result<(), LedgerError> {
    let closed = |detail: String| {
        Err(LedgerError::DeviceClosed {
            election_id: b.election_id,
            origin: b.origin,
            detail,
        })
    };
    let Some(f) = &b.fallback else {
        return closed("a ballot it accepted after its closing record".into());
    };
    let Some(last) = &end.fallback else {
        return closed("its closing record says it sealed no fallback block".into());
    };
    let seq = f.header.seq;
    if seq > last.last_seq || (seq == last.last_seq && f.block_hash()? != last.last_hash) {
        return closed(format!(
            "fallback block {seq} is not one it had sealed when it closed (last {})",
            last.last_seq
        ));
    }
    Ok(())
}

/// A decryption share may enter block `header` only after its election
/// closed, for a tally of a committed block stamped after the close, with
/// that tally's ballot count, and with proofs that hold against it.
pub fn check_share_on_chain(
    genesis: &Genesis,
    chain_id: &Hash32,
    (height, timestamp_ms): (u64, u64),
    d: &DecryptionShareTx,
    chain: &dyn ChainLookup,
) -> Result<(), LedgerError> {
    let bad = |m: String| Err(LedgerError::BadDecryptionShare(m));
    let election = genesis
        .election(d.election_id)
        .ok_or(LedgerError::UnknownElection(d.election_id))?;
    if timestamp_ms < election.closes_at {
        return bad("a tally can be decrypted only after the election closed".into());
    }
    if d.tally_height >= height {
        return bad(format!(
            "the share decrypts the tally at height {}, which is not below this block ({height})",
            d.tally_height
        ));
    }
    let Some((tally_time, tally)) = chain.tally_at(d.election_id, d.tally_height)? else {
        return bad(format!("no committed block {} to tally", d.tally_height));
    };
    if tally_time < election.closes_at {
        return bad(format!(
            "block {} is from before the election closed: its tally is partial",
            d.tally_height
        ));
    }
    if tally.ballot_count != d.ballot_count {
        return bad(format!(
            "the tally at {} holds {} ballots, the share says {}",
            d.tally_height, tally.ballot_count, d.ballot_count
        ));
    }
    if chain.share_recorded(d.election_id, d.tally_height, d.share.trustee_index)? {
        return bad(format!(
            "trustee {} already gave a share of this tally",
            d.share.trustee_index
        ));
    }
    let key = election.public_key()?;
    let ctx = TallyContext {
        chain_id: *chain_id,
        election_id: d.election_id,
    };
    verify_decryption_share(&ctx, &key, &tally.aggregate, &d.share)
        .map_err(|e| LedgerError::BadDecryptionShare(format!("{}: {e}", e.code())))
}

/// Every rule for a committed block: header, seals and contents.
pub fn check_committed_block(
    genesis: &Genesis,
    chain_id: &Hash32,
    parent: &Parent,
    block: &Block,
    chain: &dyn ChainLookup,
    now_ms: u64,
) -> Result<Vec<Hash32>, LedgerError> {
    let hashes = check_header(genesis, chain_id, parent, block, now_ms)?;
    check_seals(genesis, block, &block.seals)?;
    check_block_txs_hashed(genesis, chain_id, block, &hashes, chain)
}

/// Test fixtures, for this crate's tests and, with the `fixtures`
/// feature, for the appliance's.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::tx::SignedTx;

    /// A chain on which nothing is replaced, checked in or closed, and
    /// every nullifier is used or none is.
    pub struct Nullifiers {
        pub used: bool,
    }

    /// An empty chain: nothing used, replaced, checked in or closed.
    pub const NO_NULLIFIERS: Nullifiers = Nullifiers { used: false };

    impl ChainLookup for Nullifiers {
        fn is_used(&self, _: u64, _: &Hash32) -> Result<bool, LedgerError> {
            Ok(self.used)
        }
        fn credential_on_chain(
            &self,
            _: u64,
            _: &PublicKey,
        ) -> Result<CredentialOnChain, LedgerError> {
            Ok(CredentialOnChain::default())
        }
        fn is_checked_in(&self, _: u64, _: &Hash32) -> Result<bool, LedgerError> {
            Ok(false)
        }
        fn device_end(&self, _: u64, _: &PublicKey) -> Result<Option<DeviceEnd>, LedgerError> {
            Ok(None)
        }
    }

    /// A block on top of `parent`, proposed by the right validator (keys
    /// 1..=n, in genesis order) and sealed by the first Q of them.
    pub fn committed_block(g: &Genesis, parent: &Parent, txs: Vec<SignedTx>) -> Block {
        let height = parent.height + 1;
        let idx = g.validator_index(g.proposer(height, 0)).unwrap();
        let proposer = key(idx as u8 + 1);
        let mut b = Block::propose(
            g.chain_id().unwrap(),
            height,
            0,
            parent.hash,
            parent.timestamp_ms + 1_000,
            txs,
            &proposer,
        )
        .unwrap();
        b.seals = (1..=g.quorum() as u8)
            .map(|i| b.seal(&key(i)).unwrap())
            .collect();
        b
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{NO_NULLIFIERS, Nullifiers, committed_block};
    use super::*;
    use crate::ledger::NodeKey;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;

    const NOW: u64 = 100_000;

    fn setup() -> (Genesis, Hash32, Parent) {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let parent = Parent {
            height: 0,
            hash: id,
            timestamp_ms: 4_000,
        };
        (g, id, parent)
    }

    fn check(g: &Genesis, id: &Hash32, p: &Parent, b: &Block) -> Result<Vec<Hash32>, LedgerError> {
        check_committed_block(g, id, p, b, &NO_NULLIFIERS, NOW)
    }

    /// Re-signs the header after a change, as a dishonest proposer could.
    fn reseal(g: &Genesis, b: &mut Block) {
        b.block_hash = b.header.hash().unwrap();
        let idx = g.validator_index(&b.header.proposer).unwrap();
        sign_proposal(b, &key(idx as u8 + 1));
        b.seals = (1..=g.quorum() as u8)
            .map(|i| b.seal(&key(i)).unwrap())
            .collect();
    }

    /// `signer`'s proposal signature over the block's current hash.
    fn sign_proposal(b: &mut Block, signer: &NodeKey) {
        let vote = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
        b.proposer_signature = signer.sign(&vote).unwrap();
    }

    /// A change to a good block.
    type Edit = fn(&Genesis, &Parent, &mut Block);

    /// Each edit of a good block holding `txs` is refused with its code.
    fn each_refused(txs: fn(&Genesis) -> Vec<SignedTx>, cases: &[(&str, Edit)]) {
        let (g, id, p) = setup();
        let good = committed_block(&g, &p, txs(&g));
        for (want, edit) in cases {
            let mut b = good.clone();
            edit(&g, &p, &mut b);
            assert_eq!(code(check(&g, &id, &p, &b)), *want, "{want}");
        }
    }

    fn code(r: Result<Vec<Hash32>, LedgerError>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn accepts_a_good_block_with_and_without_transactions() {
        let (g, id, p) = setup();
        let txs = vec![ballot(&g, 1, 1, 1), ballot(&g, 100, 2, 2)];
        let b = committed_block(&g, &p, txs.clone());
        let hashes = check(&g, &id, &p, &b).unwrap();
        assert_eq!(
            hashes,
            txs.iter().map(|t| t.hash().unwrap()).collect::<Vec<_>>()
        );
        let empty = committed_block(&g, &p, vec![]);
        assert!(check(&g, &id, &p, &empty).unwrap().is_empty());
    }

    #[test]
    fn header_rules() {
        each_refused(
            |g| vec![ballot(g, 1, 1, 1)],
            &[
                // the hash not recomputed
                ("wrong_hash", |_, _, b| b.header.timestamp_ms += 1),
                ("wrong_prev_hash", |g, _, b| {
                    b.header.prev_hash = Hash32([7; 32]);
                    reseal(g, b);
                }),
                ("wrong_height", |_, _, b| b.header.height = 2),
                ("timestamp_backwards", |g, _, b| {
                    b.header.timestamp_ms = 3_000;
                    reseal(g, b);
                }),
                ("timestamp_in_future", |g, _, b| {
                    b.header.timestamp_ms = NOW + MAX_FUTURE_DRIFT_MS + 1;
                    reseal(g, b);
                }),
                ("wrong_chain", |_, _, b| b.header.chain_id = Hash32([3; 32])),
            ],
        );
    }

    #[test]
    fn proposer_rules() {
        each_refused(
            |_| vec![],
            &[
                // signed by a key that is not a validator
                ("unknown_proposer", |_, _, b| {
                    b.header.proposer = key(50).public();
                    b.block_hash = b.header.hash().unwrap();
                    sign_proposal(b, &key(50));
                }),
                // a validator, but not the one whose turn it is
                ("wrong_proposer", |g, _, b| {
                    b.header.proposer = key(1).public();
                    reseal(g, b);
                }),
                // the right proposer, the signature of another key
                ("bad_signature", |_, _, b| sign_proposal(b, &key(1))),
            ],
        );
    }

    #[test]
    fn seal_rules() {
        each_refused(
            |_| vec![],
            &[
                ("too_few_seals", |_, _, b| {
                    b.seals.pop();
                }),
                ("duplicate_seal", |_, _, b| b.seals[1] = b.seals[0].clone()),
                ("seal_from_non_validator", |_, _, b| {
                    b.seals[1] = b.seal(&key(60)).unwrap();
                }),
                // a seal over another block
                ("bad_seal", |g, p, b| {
                    let other = committed_block(g, p, vec![ballot(g, 1, 9, 1)]);
                    b.seals[1] = other.seal(&key(2)).unwrap();
                }),
                // a prepare signature offered as a commit seal
                ("bad_seal", |_, _, b| {
                    let prepare = Vote::for_header(VoteKind::Prepare, &b.header, b.block_hash);
                    b.seals[1].signature = key(2).sign(&prepare).unwrap();
                }),
            ],
        );
        // junk seals next to Q good ones are dropped by a receiver
        let (g, _, p) = setup();
        let good = committed_block(&g, &p, vec![]);
        let mut b = good.clone();
        b.seals.push(b.seal(&key(60)).unwrap());
        b.seals.push(b.seals[0].clone());
        retain_valid_seals(&g, &mut b);
        assert_eq!(b.seals, good.seals);
    }

    #[test]
    fn content_rules() {
        let (g, id, p) = setup();
        let t1 = ballot(&g, 1, 1, 1);

        let mut b = committed_block(&g, &p, vec![t1.clone()]);
        b.transactions.clear();
        assert_eq!(code(check(&g, &id, &p, &b)), "tx_count_mismatch");

        let mut b = committed_block(&g, &p, vec![t1.clone()]);
        b.transactions[0] = ballot(&g, 1, 2, 1);
        assert_eq!(code(check(&g, &id, &p, &b)), "wrong_hash");

        let b = committed_block(&g, &p, vec![t1.clone(), t1.clone()]);
        assert_eq!(code(check(&g, &id, &p, &b)), "duplicate_tx");

        let twin = ballot(&g, 2, 1, 3); // same voter, other appliance
        let b = committed_block(&g, &p, vec![t1.clone(), twin]);
        assert_eq!(code(check(&g, &id, &p, &b)), "duplicate_nullifier");

        let b = committed_block(&g, &p, vec![t1]);
        let r = check_committed_block(&g, &id, &p, &b, &Nullifiers { used: true }, NOW);
        assert_eq!(code(r), "duplicate_nullifier");

        let b = committed_block(&g, &p, vec![ballot(&g, 77, 5, 1)]);
        assert_eq!(code(check(&g, &id, &p, &b)), "unknown_origin");

        let mut g_small = g.clone();
        g_small.params.max_block_txs = 1;
        let b = committed_block(&g, &p, vec![ballot(&g, 1, 1, 1), ballot(&g, 1, 2, 1)]);
        let r = check_committed_block(&g_small, &id, &p, &b, &NO_NULLIFIERS, NOW);
        assert_eq!(code(r), "too_many_txs");
    }

    fn codes_of(g: &Genesis, p: &Parent, txs: Vec<SignedTx>) -> Result<Vec<Hash32>, LedgerError> {
        let id = g.chain_id().unwrap();
        let b = committed_block(g, p, txs);
        let now = b.header.timestamp_ms;
        check_committed_block(g, &id, p, &b, &NO_NULLIFIERS, now)
    }

    #[test]
    fn only_listed_unrevoked_credentials_vote_and_the_roll_is_checked_in_once() {
        use crate::ledger::records::fixtures::{check_in, replacement};
        let (g, _, p) = setup();
        let t = 4_500;
        let run = |txs: Vec<SignedTx>| codes_of(&g, &p, txs).map(|_| ()).map_err(|e| e.code());
        // an invented credential (card 100 is on no list)
        assert_eq!(run(vec![ballot(&g, 1, 100, 1)]), Err("unknown_credential"));
        // check-ins: once per roll entry, at the station the roll names
        assert_eq!(run(vec![check_in(&g, 1, 3, t)]), Ok(()));
        let twice = vec![check_in(&g, 1, 3, t), check_in(&g, 2, 3, t + 1)];
        assert_eq!(run(twice), Err("duplicate_check_in"));
        assert_eq!(run(vec![check_in(&g, 1, 30, t)]), Err("wrong_station"));
        assert_eq!(run(vec![check_in(&g, 100, 30, t)]), Ok(()));
        // revocation and replacement, in block order
        let lost = vec![replacement(&g, 5, 41, t), ballot(&g, 1, 5, 1)];
        assert_eq!(run(lost), Err("revoked_credential"));
        assert_eq!(
            run(vec![replacement(&g, 5, 41, t), ballot(&g, 1, 41, 1)]),
            Ok(())
        );
        let late = vec![ballot(&g, 1, 5, 1), replacement(&g, 5, 41, t)];
        assert_eq!(run(late), Err("credential_used"));
        assert_eq!(
            run(vec![replacement(&g, 5, 6, t)]),
            Err("duplicate_credential")
        );
        assert_eq!(
            run(vec![replacement(&g, 41, 42, t)]),
            Err("unknown_credential")
        );
        let again = vec![replacement(&g, 5, 41, t), replacement(&g, 5, 42, t)];
        assert_eq!(run(again), Err("revoked_credential"));
        // a replacement signed by a validator instead of the credential authority
        let mut forged = replacement(&g, 5, 41, t);
        if let Transaction::CredentialReplacement(r) = &mut forged.tx {
            r.origin = key(1).public();
        }
        let forged = SignedTx::sign(forged.tx, &key(1)).unwrap();
        assert_eq!(run(vec![forged]), Err("unknown_origin"));
    }

    #[test]
    fn after_its_closing_record_an_appliance_adds_only_what_it_had_sealed() {
        use crate::ledger::fallback::{FallbackBlock, FallbackTip, reconciliation_txs};
        use crate::ledger::records::FallbackEnd;
        use crate::ledger::records::fixtures::device_close;
        use crate::ledger::tx::fixtures::ballot_at;
        let (g, id, _) = setup();
        let closes = g.elections[0].closes_at;
        let p = Parent {
            height: 0,
            hash: id,
            timestamp_ms: closes - 2_000,
        };
        let run = |txs: Vec<SignedTx>| codes_of(&g, &p, txs).map(|_| ()).map_err(|e| e.code());
        let late_ballot = || ballot_at(&g, 100, 7, 1, closes - 5_000);
        assert_eq!(run(vec![late_ballot()]), Ok(()));
        let closed = vec![device_close(&g, 100, closes, None), late_ballot()];
        assert_eq!(run(closed), Err("device_closed"));
        assert_eq!(
            run(vec![device_close(&g, 100, closes - 1, None)]),
            Err("bad_device_close")
        );
        let twice = vec![
            device_close(&g, 100, closes, None),
            device_close(&g, 100, closes + 1, None),
        ];
        assert_eq!(run(twice), Err("duplicate_device_close"));
        // ballots sealed in fallback block 1: their copies still count after
        // a closing record naming that block, not after one naming none
        let tip = FallbackTip { seq: 0, hash: id };
        let txs = vec![ballot_at(&g, 100, 8, 1, 4_000)];
        let block = FallbackBlock::seal(id, tip, (0, id), 4_000, txs, &key(100)).unwrap();
        let copy = reconciliation_txs(&block, &key(100)).unwrap().remove(0);
        let end = FallbackEnd {
            last_seq: 1,
            last_hash: block.block_hash,
        };
        let named = vec![device_close(&g, 100, closes, Some(end)), copy.clone()];
        assert_eq!(run(named), Ok(()));
        let none = vec![device_close(&g, 100, closes, None), copy.clone()];
        assert_eq!(run(none), Err("device_closed"));
        let other = FallbackEnd {
            last_seq: 1,
            last_hash: Hash32([1; 32]),
        };
        let forked = vec![device_close(&g, 100, closes, Some(other)), copy];
        assert_eq!(run(forked), Err("device_closed"));
    }
}
