//! Transactions: `ballot` (an encrypted vote, signed by the voter's
//! credential and by the appliance that accepted it), `decryption_share`
//! (a trustee's share of an election's tally), and the records of
//! `records`: `check_in`, `credential_replacement`, `device_close`; and
//! `spoiled_ballot` (`spoiled`: a ballot the voter checked instead of
//! casting, opened). A transaction of an unknown type is refused by serde,
//! never ignored.
//!
//! Adding a kind: a section in PROTOCOL.md §4 and its rules in §6, a
//! variant here with its shape in transaction.schema.json, its own rules in
//! `check_rules` (no chain) and `validate::InBlock` (the chain), the
//! store's record of it, and the auditor's check.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::{check_safe_integer, hash_of, sha256};
use super::canonical_ballot;
use super::crypto::NodeKey;
use std::collections::BTreeMap;

use super::elgamal::{
    BallotContext, DecryptionShare, EncryptedBallot, verify_ballot, verify_ballots,
};
use super::error::LedgerError;
use super::fallback::FallbackHeader;
use super::genesis::{Election, Genesis};
use super::merkle::verify_inclusion;
pub use super::records::{CheckInTx, CredentialReplacementTx, DeviceCloseTx};
pub use super::spoiled::SpoiledBallotTx;
use super::validate::MAX_FUTURE_DRIFT_MS;

/// How long after an election closes a ballot accepted while it was open
/// may still enter a block (a vote cast in the last second must not be
/// lost because the next block came after the close). Ballots recorded
/// offline carry a fallback reference and are exempt: they may arrive days
/// later on a USB stick.
pub const LATE_BALLOT_GRACE_MS: u64 = 10 * 60 * 1000;

/// The voter's choice, encrypted: one ciphertext per candidate with its
/// proofs (see `elgamal`). No plaintext choice is ever in a transaction.
pub type Ballot = EncryptedBallot;

/// Where a ballot first recorded offline was sealed, and the proof of it:
/// the fallback block's signed header and the sealed ballot's inclusion
/// proof in the block's `tx_root` (PROTOCOL.md §7a).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackRef {
    pub header: FallbackHeader,
    /// The origin's signature over the header's hash.
    pub signature: Signature,
    /// The sealed ballot's position in the fallback block.
    pub index: u64,
    pub path: Vec<Hash32>,
}

impl FallbackRef {
    /// The appliance whose fallback chain holds the sealed ballot.
    pub fn origin(&self) -> &PublicKey {
        &self.header.origin
    }

    /// The fallback block's hash.
    pub fn block_hash(&self) -> Result<Hash32, LedgerError> {
        hash_of(&self.header)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    /// The voter's public credential for this election (its 32 bytes): at
    /// most one ballot per nullifier and election counts.
    pub nullifier: Hash32,
    pub ballot: Ballot,
    pub ballot_hash: Hash32,
    /// The credential's signature over the ballot (`credential::sign_ballot`).
    pub credential_signature: Signature,
    pub submitted_at_ms: u64,
    /// The appliance that accepted the ballot and signs it.
    pub origin: PublicKey,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_only"
    )]
    pub fallback: Option<FallbackRef>,
}

/// A trustee's decryption share of an election's tally as it stood after
/// the block at `tally_height` (`ballot_count` ballots), carried onto the
/// chain by an appliance. The share's own proofs show which trustee made
/// it; the appliance's signature shows who carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionShareTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub tally_height: u64,
    pub ballot_count: u64,
    pub share: DecryptionShare,
    pub submitted_at_ms: u64,
    pub origin: PublicKey,
}

/// An optional field that, when present, may not be `null`: `null` and
/// absence would hash differently, so only one spelling is allowed.
pub(super) fn present_only<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The body that is hashed and signed; `type` is the serde tag.
// Nearly every transaction is a ballot: boxing it would cost an allocation
// on the common path to save memory on the rare decryption share.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transaction {
    Ballot(BallotTx),
    DecryptionShare(DecryptionShareTx),
    CheckIn(CheckInTx),
    CredentialReplacement(CredentialReplacementTx),
    DeviceClose(DeviceCloseTx),
    SpoiledBallot(SpoiledBallotTx),
}

/// `$e` over whichever kind `$tx` holds, bound as `$t`: the fields every
/// kind carries under one name (a function cannot, the kinds sharing no
/// type).
macro_rules! every_kind {
    ($tx:expr, $t:ident => $e:expr) => {
        match $tx {
            Transaction::Ballot($t) => $e,
            Transaction::DecryptionShare($t) => $e,
            Transaction::CheckIn($t) => $e,
            Transaction::CredentialReplacement($t) => $e,
            Transaction::DeviceClose($t) => $e,
            Transaction::SpoiledBallot($t) => $e,
        }
    };
}

/// The hash of a ballot's canonical form (its `ballot_hash`).
pub fn ballot_hash(b: &Ballot) -> Hash32 {
    sha256(&canonical_ballot::ballot_bytes(b))
}

/// A transaction with its origin's signature over its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTx {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Transaction {
    pub fn hash(&self) -> Result<Hash32, LedgerError> {
        match self {
            Transaction::Ballot(b) => match canonical_ballot::ballot_tx_bytes(b) {
                Some(bytes) => Ok(sha256(&bytes)),
                None => hash_of(self),
            },
            _ => hash_of(self),
        }
    }

    /// Who signs the transaction: the appliance that accepted or carried
    /// it, or (for a credential replacement) the credential authority.
    pub fn origin(&self) -> &PublicKey {
        every_kind!(self, t => &t.origin)
    }

    pub fn chain_id(&self) -> &Hash32 {
        every_kind!(self, t => &t.chain_id)
    }

    pub fn election_id(&self) -> u64 {
        every_kind!(self, t => t.election_id)
    }

    /// The `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Transaction::Ballot(_) => "ballot",
            Transaction::DecryptionShare(_) => "decryption_share",
            Transaction::CheckIn(_) => "check_in",
            Transaction::CredentialReplacement(_) => "credential_replacement",
            Transaction::DeviceClose(_) => "device_close",
            Transaction::SpoiledBallot(_) => "spoiled_ballot",
        }
    }

    /// When the signer made it (accepted, checked in, issued, closed).
    pub fn made_at_ms(&self) -> u64 {
        match self {
            Transaction::Ballot(b) => b.submitted_at_ms,
            Transaction::DecryptionShare(d) => d.submitted_at_ms,
            Transaction::CheckIn(c) => c.checked_in_at_ms,
            Transaction::CredentialReplacement(r) => r.issued_at_ms,
            Transaction::DeviceClose(d) => d.closed_at_ms,
            Transaction::SpoiledBallot(s) => s.spoiled_at_ms,
        }
    }

    /// The (election, nullifier) pair that may appear once on the chain.
    pub fn nullifier(&self) -> Option<(u64, Hash32)> {
        self.as_ballot().map(|b| (b.election_id, b.nullifier))
    }

    pub fn as_ballot(&self) -> Option<&BallotTx> {
        match self {
            Transaction::Ballot(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_share(&self) -> Option<&DecryptionShareTx> {
        match self {
            Transaction::DecryptionShare(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_spoiled(&self) -> Option<&SpoiledBallotTx> {
        match self {
            Transaction::SpoiledBallot(s) => Some(s),
            _ => None,
        }
    }
}

impl BallotTx {
    /// Builds a ballot transaction with its `ballot_hash` filled in, signed
    /// by the voter's `credential`.
    pub fn new(
        chain_id: Hash32,
        election_id: u64,
        credential: &NodeKey,
        ballot: Ballot,
        submitted_at_ms: u64,
        origin: PublicKey,
    ) -> Result<Self, LedgerError> {
        let ballot_hash = ballot_hash(&ballot);
        let credential_signature =
            super::credential::sign_ballot(credential, &chain_id, election_id, &ballot_hash)?;
        Ok(Self {
            chain_id,
            election_id,
            nullifier: Hash32(credential.public().0),
            ballot,
            ballot_hash,
            credential_signature,
            submitted_at_ms,
            origin,
            fallback: None,
        })
    }

    /// A ballot transaction whose credential signature was made elsewhere
    /// (a voter's own device).
    pub fn with_credential_signature(
        chain_id: Hash32,
        election_id: u64,
        nullifier: Hash32,
        ballot: Ballot,
        credential_signature: Signature,
        submitted_at_ms: u64,
        origin: PublicKey,
    ) -> Self {
        Self {
            chain_id,
            election_id,
            nullifier,
            ballot_hash: ballot_hash(&ballot),
            ballot,
            credential_signature,
            submitted_at_ms,
            origin,
            fallback: None,
        }
    }

    /// The voter's public credential (the nullifier, as a key).
    pub fn credential(&self) -> PublicKey {
        PublicKey(self.nullifier.0)
    }

    /// The transaction as it was sealed in a fallback block: without its
    /// fallback reference.
    pub fn sealed(&self) -> Self {
        Self {
            fallback: None,
            ..self.clone()
        }
    }

    /// The ballot's tracking code (PROTOCOL.md §4e), which the booth showed
    /// the voter before they chose to cast it.
    pub fn tracking_code(&self) -> Hash32 {
        super::spoiled::tracking_code(
            &self.chain_id,
            self.election_id,
            &self.origin,
            self.ballot.ciphertexts(),
        )
    }

    /// What the ballot's proofs are bound to.
    pub fn context(&self) -> BallotContext {
        BallotContext {
            chain_id: self.chain_id,
            election_id: self.election_id,
            nullifier: self.nullifier,
            origin: self.origin,
        }
    }
}

impl SignedTx {
    /// Signs `tx` with the origin's key.
    pub fn sign(tx: Transaction, key: &NodeKey) -> Result<Self, LedgerError> {
        if tx.origin() != &key.public() {
            return Err(LedgerError::Key("signing key is not the origin".into()));
        }
        let signature = key.sign_digest(&tx.hash()?);
        Ok(Self { tx, signature })
    }

    pub fn hash(&self) -> Result<Hash32, LedgerError> {
        self.tx.hash()
    }
}

/// Checks a transaction on its own: chain, integer limits, origin and
/// signature, election, and then what its kind needs. For a ballot: its
/// hash, its proofs (bound to chain, election, nullifier and origin) and
/// its timing: the election was open when the ballot was accepted
/// (`submitted_at_ms`), the ballot was not accepted after `at_ms` (the
/// block's time, plus the clock drift allowance), and, unless it was
/// recorded offline, `at_ms` is within [`LATE_BALLOT_GRACE_MS`] of the
/// close. For a decryption share: its shape; its proofs are checked against
/// the tally it names, which needs the chain (`validate::check_block_txs`).
/// Returns the transaction hash.
///
/// Uniqueness of the nullifier needs the chain and is checked by the
/// callers (`validate::check_block_txs`, the mempool).
pub fn check_tx(
    genesis: &Genesis,
    chain_id: &Hash32,
    stx: &SignedTx,
    at_ms: u64,
) -> Result<Hash32, LedgerError> {
    check_tx_with(genesis, chain_id, stx, at_ms, false)
}

/// [`check_tx`], skipping the signature and ballot proofs when the caller
/// has already verified this very transaction and signature
/// (`crypto_checked`): the costly part, done once per node.
pub fn check_tx_with(
    genesis: &Genesis,
    chain_id: &Hash32,
    stx: &SignedTx,
    at_ms: u64,
    crypto_checked: bool,
) -> Result<Hash32, LedgerError> {
    check_tx_hashed(genesis, chain_id, stx, None, at_ms, crypto_checked)
}

/// [`check_tx_with`] for a caller that already computed the transaction's
/// hash (`known_hash`): hashing a ballot means encoding it canonically,
/// which costs more than every rule but the cryptographic ones.
pub fn check_tx_hashed(
    genesis: &Genesis,
    chain_id: &Hash32,
    stx: &SignedTx,
    known_hash: Option<Hash32>,
    at_ms: u64,
    crypto_checked: bool,
) -> Result<Hash32, LedgerError> {
    let crypto = if crypto_checked {
        Crypto::Skip
    } else {
        Crypto::All
    };
    check_rules(genesis, chain_id, stx, known_hash, at_ms, crypto)
}

/// A transaction for [`check_txs`]: its hash if the caller computed it,
/// and whether this node already verified this very transaction and
/// signature.
#[derive(Debug, Clone, Copy)]
pub struct ToCheck<'a> {
    pub stx: &'a SignedTx,
    pub hash: Option<Hash32>,
    pub known: bool,
}

/// [`check_tx_hashed`] on many transactions: one result per transaction,
/// in order, the same as checking them one by one. The ballot proofs,
/// which come last in the order of the checks, are verified together,
/// election by election, in batches (`elgamal::verify_ballots`): a batch
/// costs a fraction of checking each proof on its own.
pub fn check_txs(
    genesis: &Genesis,
    chain_id: &Hash32,
    txs: &[ToCheck<'_>],
    at_ms: u64,
) -> Vec<Result<Hash32, LedgerError>> {
    let mut out = Vec::with_capacity(txs.len());
    // Per election, the ballots whose proofs are still to be checked.
    let mut pending: BTreeMap<u64, Vec<(usize, &BallotTx)>> = BTreeMap::new();
    for (i, t) in txs.iter().enumerate() {
        let crypto = if t.known {
            Crypto::Skip
        } else {
            Crypto::SignatureOnly
        };
        let r = check_rules(genesis, chain_id, t.stx, t.hash, at_ms, crypto);
        if let (Ok(_), false, Transaction::Ballot(b)) = (&r, t.known, &t.stx.tx) {
            pending.entry(b.election_id).or_default().push((i, b));
        }
        out.push(r);
    }
    for (election_id, ballots) in pending {
        let Some(election) = genesis.election(election_id) else {
            continue; // refused above: check_rules found no such election
        };
        let verdicts = match election.public_key() {
            Ok(key) => {
                let items: Vec<_> = ballots
                    .iter()
                    .map(|(_, b)| (b.context(), &b.ballot))
                    .collect();
                verify_ballots(&items, &key.public_key, election.candidates.len())
                    .into_iter()
                    .map(|r| r.map_err(bad_ballot))
                    .collect()
            }
            Err(e) => vec![Err(e); ballots.len()],
        };
        for ((i, _), verdict) in ballots.iter().zip(verdicts) {
            if let Err(e) = verdict {
                out[*i] = Err(e);
            }
        }
    }
    out
}

/// Which of the costly checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crypto {
    /// This very transaction and signature were verified before.
    Skip,
    /// The signature; the ballot proofs are the caller's (a batch).
    SignatureOnly,
    All,
}

fn check_rules(
    genesis: &Genesis,
    chain_id: &Hash32,
    stx: &SignedTx,
    known_hash: Option<Hash32>,
    at_ms: u64,
    crypto: Crypto,
) -> Result<Hash32, LedgerError> {
    let tx = &stx.tx;
    LedgerError::same_chain(chain_id, tx.chain_id())?;
    let signer_ok = match tx {
        Transaction::CredentialReplacement(_) => tx.origin() == &genesis.credential_authority,
        _ => genesis.is_origin(tx.origin()),
    };
    if !signer_ok {
        return Err(LedgerError::UnknownOrigin(*tx.origin()));
    }
    check_safe_integer("election_id", tx.election_id())?;
    let tx_hash = match known_hash {
        Some(h) => h,
        None => tx.hash()?,
    };
    if crypto != Crypto::Skip
        && !super::crypto::verify_digest(tx.origin(), &tx_hash, &stx.signature)
    {
        return Err(LedgerError::BadSignature {
            what: "transaction",
        });
    }
    let election = genesis
        .election(tx.election_id())
        .ok_or(LedgerError::UnknownElection(tx.election_id()))?;
    match tx {
        Transaction::Ballot(b) => check_ballot(election, b, at_ms, crypto)?,
        Transaction::DecryptionShare(d) => check_share_shape(election, d)?,
        Transaction::CheckIn(c) => super::records::check_check_in(election, c, at_ms)?,
        Transaction::CredentialReplacement(r) => {
            super::records::check_replacement(election, r, at_ms)?;
        }
        Transaction::DeviceClose(d) => super::records::check_device_close(election, d, at_ms)?,
        Transaction::SpoiledBallot(s) => super::spoiled::check_spoiled(election, s, at_ms)?,
    }
    Ok(tx_hash)
}

fn bad_ballot(e: super::elgamal::CryptoError) -> LedgerError {
    LedgerError::BadBallot(format!("{}: {e}", e.code()))
}

fn check_ballot(
    election: &Election,
    b: &BallotTx,
    at_ms: u64,
    crypto: Crypto,
) -> Result<(), LedgerError> {
    check_safe_integer("submitted_at_ms", b.submitted_at_ms)?;
    // A transaction verified before had its ballot hash checked then (the
    // transaction hash covers both): encoding the ballot again is skipped.
    if crypto != Crypto::Skip {
        let ballot_hash = ballot_hash(&b.ballot);
        if ballot_hash != b.ballot_hash {
            return Err(LedgerError::WrongHash {
                what: "ballot",
                expected: ballot_hash,
                found: b.ballot_hash,
            });
        }
    }
    check_timing(election, b, at_ms)?;
    if crypto != Crypto::Skip {
        check_credential(b)?;
        if let Some(f) = &b.fallback {
            check_fallback_proof(b, f)?;
        }
    }
    check_grace(election, b, at_ms)?;
    if crypto != Crypto::All {
        return Ok(());
    }
    let key = election.public_key()?;
    verify_ballot(
        &b.context(),
        &key.public_key,
        &b.ballot,
        election.candidates.len(),
    )
    .map_err(bad_ballot)
}

fn check_share_shape(election: &Election, d: &DecryptionShareTx) -> Result<(), LedgerError> {
    for (field, v) in [
        ("tally_height", d.tally_height),
        ("ballot_count", d.ballot_count),
        ("submitted_at_ms", d.submitted_at_ms),
    ] {
        check_safe_integer(field, v)?;
    }
    let n = election.trustees.trustees;
    if d.share.trustee_index == 0 || d.share.trustee_index > n {
        return Err(LedgerError::BadDecryptionShare(format!(
            "trustee {} is not one of the election's {n}",
            d.share.trustee_index
        )));
    }
    if d.share.shares.len() != election.candidates.len() {
        return Err(LedgerError::BadDecryptionShare(format!(
            "{} partial decryptions for {} candidates",
            d.share.shares.len(),
            election.candidates.len()
        )));
    }
    Ok(())
}

fn check_timing(election: &Election, b: &BallotTx, at_ms: u64) -> Result<(), LedgerError> {
    let not_open = |at_ms| LedgerError::ElectionNotOpen {
        election_id: b.election_id,
        at_ms,
    };
    if !election.is_open_at(b.submitted_at_ms) {
        return Err(not_open(b.submitted_at_ms));
    }
    if b.submitted_at_ms > at_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return Err(LedgerError::BadTx(format!(
            "submitted_at_ms {} is after the block time {at_ms}",
            b.submitted_at_ms
        )));
    }
    Ok(())
}

/// Rule 18j: the voter's credential signed the ballot.
fn check_credential(b: &BallotTx) -> Result<(), LedgerError> {
    let ok = super::credential::verify_ballot_signature(
        &b.credential(),
        &b.chain_id,
        b.election_id,
        &b.ballot_hash,
        &b.credential_signature,
    )?;
    if !ok {
        return Err(LedgerError::BadSignature { what: "credential" });
    }
    Ok(())
}

/// Rule 18k: the fallback block is this chain's and the origin's, signed
/// by it, holds the sealed ballot, and was sealed no earlier than the
/// ballot was accepted.
fn check_fallback_proof(b: &BallotTx, f: &FallbackRef) -> Result<(), LedgerError> {
    let bad = |m: String| Err(LedgerError::BadFallbackProof(m));
    let h = &f.header;
    for (field, v) in [
        ("fallback.header.seq", h.seq),
        ("fallback.header.anchor_height", h.anchor_height),
        ("fallback.header.timestamp_ms", h.timestamp_ms),
        ("fallback.header.tx_count", h.tx_count),
        ("fallback.index", f.index),
    ] {
        check_safe_integer(field, v)?;
    }
    if h.chain_id != b.chain_id {
        return bad("the fallback block belongs to another chain".into());
    }
    if h.origin != b.origin {
        return bad(format!(
            "the fallback block is {}'s, the ballot {}'s",
            h.origin, b.origin
        ));
    }
    let block_hash = f.block_hash()?;
    if !super::crypto::verify_digest(&h.origin, &block_hash, &f.signature) {
        return bad(format!(
            "the fallback block {block_hash} is not signed by its origin"
        ));
    }
    let sealed = Transaction::Ballot(b.sealed()).hash()?;
    if !verify_inclusion(&sealed, f.index, h.tx_count, &f.path, &h.tx_root) {
        return bad(format!(
            "the sealed ballot {sealed} is not proved to be ballot {} of fallback block {block_hash}",
            f.index
        ));
    }
    if b.submitted_at_ms > h.timestamp_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return bad(format!(
            "accepted at {}, after its fallback block was sealed at {}",
            b.submitted_at_ms, h.timestamp_ms
        ));
    }
    Ok(())
}

/// Rule 18l: the ballot reached a block, or (with a proven fallback
/// reference) a fallback block, within the grace period after the close.
fn check_grace(election: &Election, b: &BallotTx, at_ms: u64) -> Result<(), LedgerError> {
    let recorded = b.fallback.as_ref().map_or(at_ms, |f| f.header.timestamp_ms);
    let deadline = election.closes_at.saturating_add(LATE_BALLOT_GRACE_MS);
    if recorded >= deadline {
        return Err(LedgerError::ElectionNotOpen {
            election_id: b.election_id,
            at_ms: recorded,
        });
    }
    Ok(())
}

/// Test fixtures, for this crate's tests and, with the `fixtures`
/// feature, for the appliance's.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::Genesis;

    /// An encrypted ballot for `candidate` (its id) of election 1, accepted
    /// at time 5000 and signed by the appliance with test key `origin_seed`.
    pub fn ballot(g: &Genesis, origin_seed: u8, voter: u8, candidate: u64) -> SignedTx {
        ballot_at(g, origin_seed, voter, candidate, 5_000)
    }

    pub fn ballot_at(g: &Genesis, origin_seed: u8, voter: u8, candidate: u64, at: u64) -> SignedTx {
        use rand_core::SeedableRng;
        let k = key(origin_seed);
        let chain_id = g.chain_id().unwrap();
        let e = g.election(1).unwrap();
        let credential = crate::ledger::genesis::fixtures::card(voter).key(1);
        let ctx = BallotContext {
            chain_id,
            election_id: 1,
            nullifier: Hash32(credential.public().0),
            origin: k.public(),
        };
        let seed = u64::from(origin_seed) << 16 | u64::from(voter) << 8 | candidate;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let index = e.candidate_index(candidate).unwrap();
        let key = e.public_key().unwrap().public_key;
        let key = crate::ledger::elgamal::EncryptionKey::new(&key).unwrap();
        let enc =
            crate::ledger::elgamal::encrypt_ballot(&ctx, &key, index, e.candidates.len(), &mut rng)
                .unwrap();
        let tx = BallotTx::new(chain_id, 1, &credential, enc, at, k.public()).unwrap();
        SignedTx::sign(Transaction::Ballot(tx), &k).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::ballot;
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::fallback::FallbackBlock;
    use crate::ledger::genesis::fixtures::genesis;

    const AT: u64 = 5_000;

    /// Signs a changed transaction again, as its origin (and, for a
    /// ballot, the voter's device) could.
    fn resign(mut stx: SignedTx, seed: u8) -> SignedTx {
        if let Transaction::Ballot(b) = &mut stx.tx {
            b.ballot_hash = hash_of(&b.ballot).unwrap();
            if let Some(k) = credential_of(&b.nullifier) {
                b.credential_signature =
                    crate::ledger::credential::sign_ballot(&k, &b.chain_id, 1, &b.ballot_hash)
                        .unwrap();
            }
        }
        let k = key(seed);
        stx.signature = k.sign_digest(&stx.tx.hash().unwrap());
        stx
    }

    #[test]
    fn accepts_a_well_formed_ballot_from_a_validator_or_station() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        for origin in [1, 2, 3, 100] {
            let stx = ballot(&g, origin, 7, 2);
            assert_eq!(check_tx(&g, &id, &stx, AT).unwrap(), stx.hash().unwrap());
        }
    }

    #[test]
    fn checking_many_at_once_gives_what_checking_one_by_one_gives() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let mut txs: Vec<SignedTx> = (0..12).map(|v| ballot(&g, 1 + v % 3, v, 1)).collect();
        // A ballot whose proof no longer holds, signed again by its origin.
        if let Transaction::Ballot(b) = &mut txs[2].tx {
            let p = &mut b.ballot.selections[1].proof;
            p.z0 = (p.z0.0 + curve25519_dalek::scalar::Scalar::ONE).into();
        }
        txs[2] = resign(txs[2].clone(), 3);
        // A forged signature, a stranger's ballot, and both a bad proof
        // and a bad signature (the signature is checked first).
        txs[5].signature = txs[6].signature;
        txs[8] = ballot(&g, 50, 8, 1);
        txs[10] = txs[2].clone();
        txs[10].signature = txs[9].signature;
        let checks: Vec<ToCheck<'_>> = txs
            .iter()
            .enumerate()
            .map(|(i, stx)| ToCheck {
                stx,
                hash: None,
                // Known ones skip their proofs, as the verified cache says.
                known: i == 11,
            })
            .collect();
        let many = check_txs(&g, &id, &checks, AT);
        for (i, stx) in txs.iter().enumerate() {
            let one = check_tx_with(&g, &id, stx, AT, i == 11);
            assert_eq!(many[i], one, "transaction {i}");
        }
        let codes: Vec<&str> = many
            .iter()
            .map(|r| r.as_ref().map_or_else(|e| e.code(), |_| "ok"))
            .collect();
        assert_eq!(codes[2], "bad_ballot");
        assert_eq!(codes[5], "bad_signature");
        assert_eq!(codes[8], "unknown_origin");
        assert_eq!(codes[10], "bad_signature");
        assert_eq!(codes.iter().filter(|c| **c == "ok").count(), 8);
    }

    #[test]
    fn wire_form_has_type_and_refuses_unknown_types_and_fields() {
        let g = genesis(3);
        let stx = ballot(&g, 1, 7, 2);
        let v = serde_json::to_value(&stx).unwrap();
        assert_eq!(v["tx"]["type"], "ballot");
        let mut unknown = v.clone();
        unknown["tx"]["type"] = "mint".into();
        assert!(serde_json::from_value::<SignedTx>(unknown).is_err());
        let mut extra = v.clone();
        extra["tx"]["extra"] = 1.into();
        assert!(serde_json::from_value::<SignedTx>(extra).is_err());
        let mut wrong_type = v;
        wrong_type["tx"]["election_id"] = "1".into();
        assert!(serde_json::from_value::<SignedTx>(wrong_type).is_err());
    }

    #[test]
    fn refuses_each_broken_rule() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let good = ballot(&g, 1, 7, 2);

        let err = |stx: &SignedTx, at| check_tx(&g, &id, stx, at).unwrap_err().code();

        // another chain
        assert_eq!(
            check_tx(&g, &Hash32([9; 32]), &good, AT)
                .unwrap_err()
                .code(),
            "wrong_chain"
        );
        // changed ballot without fixing ballot_hash
        let other = ballot(&g, 1, 8, 3);
        let Transaction::Ballot(ob) = &other.tx else {
            unreachable!()
        };
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.ballot.selections[0] = ob.ballot.selections[0];
        assert_eq!(err(&t, AT), "bad_signature");
        // ... re-signed by its origin, ballot_hash not fixed
        let mut signed = t.clone();
        signed.signature = key(1).sign_digest(&signed.tx.hash().unwrap());
        assert_eq!(err(&signed, AT), "wrong_hash");
        // re-signed by its origin: the proofs no longer hold
        assert_eq!(err(&resign(t, 1), AT), "bad_ballot");
        // a whole ballot of another voter, re-signed: bound to the other nullifier
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.ballot = ob.ballot.clone();
        assert_eq!(err(&resign(t, 1), AT), "bad_ballot");
        // one selection too few
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.ballot.selections.pop();
        assert_eq!(err(&resign(t, 1), AT), "bad_ballot");
        // origin not in genesis
        let outsider = ballot(&g, 50, 7, 2);
        assert_eq!(err(&outsider, AT), "unknown_origin");
        // unknown election
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.election_id = 42;
        assert_eq!(err(&resign(t, 1), AT), "unknown_election");
        // accepted at 100_000; a block far before that is refused
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.submitted_at_ms = 100_000;
        assert_eq!(err(&resign(t, 1), 10), "bad_tx");
        // a block after the close and its grace period
        let closes = g.elections[0].closes_at;
        assert_eq!(
            err(&good, closes + LATE_BALLOT_GRACE_MS),
            "election_not_open"
        );
        // a block just after the close still takes a ballot accepted while open
        assert!(check_tx(&g, &id, &good, closes + 1).is_ok());
        // accepted before the election opened
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.submitted_at_ms = 500;
        assert_eq!(err(&resign(t, 1), AT), "election_not_open");
        // unsafe integer
        let mut t = good;
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.submitted_at_ms = 1 << 60;
        assert_eq!(err(&resign(t, 1), AT), "integer_too_large");
    }

    /// The key of fixture voter card whose credential is `nullifier`.
    fn credential_of(nullifier: &Hash32) -> Option<NodeKey> {
        (0..=255u8)
            .map(|v| crate::ledger::genesis::fixtures::card(v).key(1))
            .find(|k| k.public().0 == nullifier.0)
    }

    /// Ballots sealed by station 100 in a fallback block stamped `sealed_at`,
    /// and their copies for the main chain.
    fn sealed(g: &Genesis, sealed_at: u64, voters: &[u8]) -> (FallbackBlock, Vec<SignedTx>) {
        use crate::ledger::fallback::{FallbackTip, reconciliation_txs};
        let id = g.chain_id().unwrap();
        let txs = voters.iter().map(|v| ballot(g, 100, *v, 2)).collect();
        let tip = FallbackTip { seq: 0, hash: id };
        let block = FallbackBlock::seal(id, tip, (0, id), sealed_at, txs, &key(100)).unwrap();
        let copies = reconciliation_txs(&block, &key(100)).unwrap();
        (block, copies)
    }

    #[test]
    fn a_proven_fallback_ballot_may_arrive_long_after_the_close() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let (_, copies) = sealed(&g, 6_000, &[7, 8, 9]);
        let days_later = g.elections[0].closes_at + 3 * 86_400_000;
        for copy in &copies {
            assert!(check_tx(&g, &id, copy, days_later).is_ok());
        }
        // (the ballot's proofs do not cover the fallback reference: a sealed
        // ballot and its copy carry the same encrypted ballot)
        let err = |t: &SignedTx| check_tx(&g, &id, t, days_later).unwrap_err().code();
        let with = |f: &dyn Fn(&mut FallbackRef)| {
            let mut t = copies[1].clone();
            let Transaction::Ballot(b) = &mut t.tx else {
                unreachable!()
            };
            f(b.fallback.as_mut().unwrap());
            resign(t, 100)
        };
        // another index, a path of another ballot, a header changed
        assert_eq!(err(&with(&|f| f.index = 0)), "bad_fallback_proof");
        let other_path = copies[0]
            .tx
            .as_ballot()
            .unwrap()
            .fallback
            .clone()
            .unwrap()
            .path;
        assert_eq!(
            err(&with(&|f| f.path = other_path.clone())),
            "bad_fallback_proof"
        );
        assert_eq!(
            err(&with(&|f| f.header.timestamp_ms += 1)),
            "bad_fallback_proof"
        );
        // a block signed by another appliance (a validator re-signs the copy)
        let mut t = copies[1].clone();
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.origin = key(1).public();
        assert_eq!(err(&resign(t, 1)), "bad_fallback_proof");
        // the header of a block sealed after the grace period: a backdated
        // fallback block would have to be stamped before it
        let closes = g.elections[0].closes_at;
        let (_, late) = sealed(&g, closes + LATE_BALLOT_GRACE_MS, &[7]);
        assert_eq!(err(&late[0]), "election_not_open");
        let (_, in_time) = sealed(&g, closes + LATE_BALLOT_GRACE_MS - 1, &[7]);
        assert!(check_tx(&g, &id, &in_time[0], days_later).is_ok());
    }

    #[test]
    fn a_ballot_needs_its_credential_signature() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        // an appliance signs with its own key in place of the voter's
        let mut t = ballot(&g, 1, 7, 2);
        let Transaction::Ballot(b) = &mut t.tx else {
            unreachable!()
        };
        b.credential_signature =
            crate::ledger::credential::sign_ballot(&key(1), &id, 1, &b.ballot_hash).unwrap();
        t.signature = key(1).sign_digest(&t.tx.hash().unwrap());
        let e = check_tx(&g, &id, &t, AT).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().contains("credential")),
            ("bad_signature", true)
        );
        // the signature of another ballot of the same voter
        let other = ballot(&g, 1, 7, 3);
        let mut t = ballot(&g, 1, 7, 2);
        if let (Transaction::Ballot(b), Transaction::Ballot(o)) = (&mut t.tx, &other.tx) {
            b.credential_signature = o.credential_signature;
        }
        t.signature = key(1).sign_digest(&t.tx.hash().unwrap());
        assert_eq!(
            check_tx(&g, &id, &t, AT).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn fallback_may_be_absent_but_not_null() {
        let g = genesis(3);
        let mut v = serde_json::to_value(ballot(&g, 1, 7, 2)).unwrap();
        assert!(v["tx"].get("fallback").is_none());
        v["tx"]["fallback"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<SignedTx>(v).is_err());
    }

    #[test]
    fn only_the_origin_may_sign() {
        let g = genesis(3);
        let stx = ballot(&g, 1, 7, 2);
        assert!(SignedTx::sign(stx.tx, &key(2)).is_err());
    }
}

#[cfg(test)]
mod json_input_rules {
    use super::fixtures::ballot;
    use super::*;
    use crate::ledger::genesis::fixtures::genesis;

    /// PROTOCOL.md §1 "JSON input": what a parser must refuse, checked
    /// against the reference parser (serde_json with the ledger's types).
    #[test]
    fn duplicate_members_and_non_integer_numbers_are_refused() {
        let g = genesis(3);
        let text = serde_json::to_string(&ballot(&g, 1, 7, 2)).unwrap();
        assert!(serde_json::from_str::<SignedTx>(&text).is_ok());
        let refused = |from: &str, to: &str| {
            assert!(text.contains(from), "{from}");
            let r = serde_json::from_str::<SignedTx>(&text.replacen(from, to, 1));
            assert!(r.is_err(), "{to} accepted");
        };
        let id = "\"election_id\":1,";
        // the same member twice, with the same or another value
        refused(id, "\"election_id\":1,\"election_id\":1,");
        refused(id, "\"election_id\":1,\"election_id\":2,");
        // the type twice
        refused(
            "\"type\":\"ballot\"",
            "\"type\":\"ballot\",\"type\":\"ballot\"",
        );
        // integers spelled as other numbers
        for spelling in ["1.0", "1e0", "1E0", "0.1e1", "-1", "+1", "01", "1.5"] {
            refused(id, &format!("\"election_id\":{spelling},"));
        }
        // -0 is an integer in JSON's grammar, but not a non-negative one
        refused(id, "\"election_id\":-0,");
        // a string escape that spells the same member name is the same name
        refused(id, "\"election_id\":1,\"election\\u005fid\":1,");
    }
}
