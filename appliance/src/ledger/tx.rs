//! Transactions. Today there is one kind, `ballot`; later kinds add new
//! `type` values, and a transaction of an unknown type is refused by serde,
//! never ignored.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::{check_safe_integer, hash_of};
use super::crypto::{NodeKey, verify};
use super::error::LedgerError;
use super::genesis::{Election, Genesis};
use super::validate::MAX_FUTURE_DRIFT_MS;

/// Upper bound on the opaque `encrypted_vote` payload, in bytes.
pub const MAX_ENCRYPTED_VOTE_LEN: usize = 4096;
/// How long after an election closes a ballot accepted while it was open
/// may still enter a block (a vote cast in the last second must not be
/// lost because the next block came after the close). Ballots recorded
/// offline carry a fallback reference and are exempt: they may arrive days
/// later on a USB stick.
pub const LATE_BALLOT_GRACE_MS: u64 = 10 * 60 * 1000;

/// What the voter chose, as the seeds' clients send it: a candidate and an
/// opaque payload. (Not secret yet: a known, temporary weakness the
/// secret-ballot work removes.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ballot {
    pub candidate_id: u64,
    pub encrypted_vote: String,
}

/// Where a ballot first recorded offline was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackRef {
    pub origin: PublicKey,
    pub block_hash: Hash32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub nullifier: Hash32,
    pub ballot: Ballot,
    pub ballot_hash: Hash32,
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

/// An optional field that, when present, may not be `null`: `null` and
/// absence would hash differently, so only one spelling is allowed.
fn present_only<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// The body that is hashed and signed; `type` is the serde tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transaction {
    Ballot(BallotTx),
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
        hash_of(self)
    }

    pub fn origin(&self) -> &PublicKey {
        match self {
            Transaction::Ballot(b) => &b.origin,
        }
    }

    pub fn chain_id(&self) -> &Hash32 {
        match self {
            Transaction::Ballot(b) => &b.chain_id,
        }
    }

    /// The (election, nullifier) pair that may appear once on the chain.
    pub fn nullifier(&self) -> Option<(u64, Hash32)> {
        match self {
            Transaction::Ballot(b) => Some((b.election_id, b.nullifier)),
        }
    }

    pub fn as_ballot(&self) -> Option<&BallotTx> {
        match self {
            Transaction::Ballot(b) => Some(b),
        }
    }
}

impl BallotTx {
    /// Builds a ballot transaction with its `ballot_hash` filled in.
    pub fn new(
        chain_id: Hash32,
        election_id: u64,
        nullifier: Hash32,
        ballot: Ballot,
        submitted_at_ms: u64,
        origin: PublicKey,
    ) -> Result<Self, LedgerError> {
        let ballot_hash = hash_of(&ballot)?;
        Ok(Self {
            chain_id,
            election_id,
            nullifier,
            ballot,
            ballot_hash,
            submitted_at_ms,
            origin,
            fallback: None,
        })
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

/// Checks a transaction on its own: chain, encoding limits, hashes,
/// origin and signature, election and candidate, and timing: the election
/// was open when the ballot was accepted (`submitted_at_ms`), the ballot was
/// not accepted after `at_ms` (the block's time, plus the clock drift
/// allowance), and, unless it was recorded offline, `at_ms` is within
/// [`LATE_BALLOT_GRACE_MS`] of the close. Returns the transaction hash.
///
/// Uniqueness of the nullifier needs the chain and is checked by the
/// callers (`validate::check_block_txs`, the mempool).
pub fn check_tx(
    genesis: &Genesis,
    chain_id: &Hash32,
    stx: &SignedTx,
    at_ms: u64,
) -> Result<Hash32, LedgerError> {
    let Transaction::Ballot(b) = &stx.tx;
    if &b.chain_id != chain_id {
        return Err(LedgerError::WrongChain {
            expected: *chain_id,
            found: b.chain_id,
        });
    }
    check_safe_integer("election_id", b.election_id)?;
    check_safe_integer("submitted_at_ms", b.submitted_at_ms)?;
    check_safe_integer("candidate_id", b.ballot.candidate_id)?;
    if b.ballot.encrypted_vote.len() > MAX_ENCRYPTED_VOTE_LEN {
        return Err(LedgerError::BadTx(format!(
            "encrypted_vote is longer than {MAX_ENCRYPTED_VOTE_LEN} bytes"
        )));
    }
    let ballot_hash = hash_of(&b.ballot)?;
    if ballot_hash != b.ballot_hash {
        return Err(LedgerError::WrongHash {
            what: "ballot",
            expected: ballot_hash,
            found: b.ballot_hash,
        });
    }
    if !genesis.is_origin(&b.origin) {
        return Err(LedgerError::UnknownOrigin(b.origin));
    }
    let tx_hash = stx.tx.hash()?;
    if !verify(&b.origin, &stx.tx, &stx.signature)? {
        return Err(LedgerError::BadSignature {
            what: "transaction",
        });
    }
    let election = genesis
        .election(b.election_id)
        .ok_or(LedgerError::UnknownElection(b.election_id))?;
    if election.candidate(b.ballot.candidate_id).is_none() {
        return Err(LedgerError::UnknownCandidate {
            election_id: b.election_id,
            candidate_id: b.ballot.candidate_id,
        });
    }
    check_timing(election, b, at_ms)?;
    Ok(tx_hash)
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
    let deadline = election.closes_at.saturating_add(LATE_BALLOT_GRACE_MS);
    if b.fallback.is_none() && at_ms >= deadline {
        return Err(not_open(at_ms));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::Genesis;

    /// A ballot for `candidate` signed by the appliance with test key `origin_seed`.
    pub fn ballot(g: &Genesis, origin_seed: u8, voter: u8, candidate: u64) -> SignedTx {
        let k = key(origin_seed);
        let tx = BallotTx::new(
            g.chain_id().unwrap(),
            1,
            Hash32([voter; 32]),
            Ballot {
                candidate_id: candidate,
                encrypted_vote: "b3BhcXVl".into(),
            },
            5_000,
            k.public(),
        )
        .unwrap();
        SignedTx::sign(Transaction::Ballot(tx), &k).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::ballot;
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;

    const AT: u64 = 5_000;

    fn resign(mut stx: SignedTx, seed: u8) -> SignedTx {
        let Transaction::Ballot(b) = &mut stx.tx;
        b.ballot_hash = hash_of(&b.ballot).unwrap();
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
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx;
        b.ballot.candidate_id = 3;
        assert_eq!(err(&t, AT), "wrong_hash");
        // changed ballot, hash fixed, signature not
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx;
        b.ballot.candidate_id = 3;
        b.ballot_hash = hash_of(&b.ballot).unwrap();
        assert_eq!(err(&t, AT), "bad_signature");
        // origin not in genesis
        let outsider = ballot(&g, 50, 7, 2);
        assert_eq!(err(&outsider, AT), "unknown_origin");
        // unknown candidate, election; closed election
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx;
        b.ballot.candidate_id = 99;
        assert_eq!(err(&resign(t, 1), AT), "unknown_candidate");
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx;
        b.election_id = 42;
        assert_eq!(err(&resign(t, 1), AT), "unknown_election");
        // accepted at 100_000; a block far before that is refused
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx;
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
        let Transaction::Ballot(b) = &mut t.tx;
        b.submitted_at_ms = 500;
        assert_eq!(err(&resign(t, 1), AT), "election_not_open");
        // oversized payload, unsafe integer
        let mut t = good.clone();
        let Transaction::Ballot(b) = &mut t.tx;
        b.ballot.encrypted_vote = "a".repeat(MAX_ENCRYPTED_VOTE_LEN + 1);
        assert_eq!(err(&resign(t, 1), AT), "bad_tx");
        let mut t = good;
        let Transaction::Ballot(b) = &mut t.tx;
        b.submitted_at_ms = 1 << 60;
        assert_eq!(err(&resign(t, 1), AT), "integer_too_large");
    }

    #[test]
    fn a_fallback_ballot_may_arrive_long_after_the_close() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let mut t = ballot(&g, 1, 7, 2);
        let Transaction::Ballot(b) = &mut t.tx;
        b.fallback = Some(FallbackRef {
            origin: key(1).public(),
            block_hash: Hash32([4; 32]),
        });
        let t = resign(t, 1);
        let days_later = g.elections[0].closes_at + 3 * 86_400_000;
        assert!(check_tx(&g, &id, &t, days_later).is_ok());
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
