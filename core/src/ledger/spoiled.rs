//! Spoiled ballots (PROTOCOL.md §4e): the booth's challenge, "cast or
//! check". A booth encrypts the voter's choice and shows the ballot's
//! tracking code before asking whether to cast it; a ballot the voter
//! checks is spoiled: its ciphertexts, the choice the voter confirmed and
//! the randomness behind each ciphertext go on the chain in a record of
//! their own, signed by the appliance, so that anyone can open it. A
//! spoiled ballot carries neither the ballot's proofs nor its nullifier
//! (the proofs are bound to the voter's credential, which anyone could
//! find by trying the listed credentials), and it never counts.
//!
//! Validators check that a record is well formed (rule 18u). Whether it
//! opens to the stated choice ([`opening`]) is not a reason to refuse it:
//! a record that does not is the appliance's signed statement that its
//! booth encrypted something else than what the voter confirmed, the
//! evidence the auditor names the station with. Refusing it would erase
//! the only public trace a cheating booth leaves.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey};
use super::canonical::{check_safe_integer, hash_of};
use super::elgamal::{Ciphertext, PublicScalar, open_bit};
use super::error::LedgerError;
use super::genesis::Election;
use super::records::made_in_time;

/// A ballot the voter checked instead of casting: its ciphertexts (one
/// per candidate, in genesis order), their tracking code, the candidate
/// the voter confirmed (`choice`, a candidate id) and the randomness of
/// each ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoiledBallotTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub ciphertexts: Vec<Ciphertext>,
    pub tracking_code: Hash32,
    pub choice: u64,
    pub randomness: Vec<PublicScalar>,
    pub spoiled_at_ms: u64,
    /// The appliance whose booth encrypted the ballot, which signs.
    pub origin: PublicKey,
}

#[derive(Serialize)]
struct TrackingInput<'a, I: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    chain_id: &'a Hash32,
    election_id: u64,
    origin: &'a PublicKey,
    ciphertexts: I,
}

/// The tracking code of an encrypted ballot, cast or spoiled:
/// `H({"type": "tracking_code", chain_id, election_id, origin,
/// ciphertexts})`. It covers the ciphertexts (which fix the plaintexts)
/// and not the proofs, so that a spoiled ballot shows it without the
/// proofs that would name the voter's credential.
pub fn tracking_code<'a>(
    chain_id: &Hash32,
    election_id: u64,
    origin: &PublicKey,
    ciphertexts: impl ExactSizeIterator<Item = &'a Ciphertext>,
) -> Hash32 {
    let ciphertexts: Vec<&Ciphertext> = ciphertexts.collect();
    hash_of(&TrackingInput {
        kind: "tracking_code",
        chain_id,
        election_id,
        origin,
        ciphertexts,
    })
    .expect("ciphertexts encode")
}

/// What a spoiled ballot's randomness opens its ciphertexts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Every ciphertext opens, to a vote for the stated choice: the booth
    /// encrypted what the voter confirmed.
    Stated,
    /// Every ciphertext opens, to a vote for another candidate (its id):
    /// the booth encrypted something else.
    Other(u64),
    /// The randomness is not the ciphertexts' or they hold no vote for a
    /// single candidate.
    Nothing,
}

impl Opening {
    /// A stable name for the verdict, as the board and the auditor give it.
    pub fn code(self) -> &'static str {
        match self {
            Opening::Stated => "opens_to_stated_choice",
            Opening::Other(_) => "opens_to_another_choice",
            Opening::Nothing => "opens_to_nothing",
        }
    }
}

impl SpoiledBallotTx {
    /// The tracking code its ciphertexts have (which `tracking_code` must be).
    pub fn computed_tracking_code(&self) -> Hash32 {
        tracking_code(
            &self.chain_id,
            self.election_id,
            &self.origin,
            self.ciphertexts.iter(),
        )
    }

    /// Opens the ciphertexts with the randomness under the election's key
    /// (PROTOCOL.md §4e). The record must be well formed (rule 18u).
    pub fn opening(&self, election: &Election) -> Result<Opening, LedgerError> {
        let key = election.public_key()?.public_key;
        let mut one = None;
        for (i, (ct, r)) in self.ciphertexts.iter().zip(&self.randomness).enumerate() {
            match open_bit(&key, ct, r.scalar()).map_err(bad)? {
                None => return Ok(Opening::Nothing),
                Some(false) => {}
                Some(true) if one.is_none() => one = Some(i),
                Some(true) => return Ok(Opening::Nothing),
            }
        }
        let Some(index) = one else {
            return Ok(Opening::Nothing);
        };
        let opened = election.candidates[index].id;
        Ok(if opened == self.choice {
            Opening::Stated
        } else {
            Opening::Other(opened)
        })
    }
}

fn bad(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::BadSpoiledBallot(e.to_string())
}

/// Rule 18u: a spoiled ballot is well formed: its integers fit, its
/// tracking code is its ciphertexts', it was spoiled while the election
/// was open and not after the block, it has one ciphertext and one
/// randomness per candidate, states a candidate of the election, and every
/// point decodes.
pub(super) fn check_spoiled(
    election: &Election,
    s: &SpoiledBallotTx,
    at_ms: u64,
) -> Result<(), LedgerError> {
    check_safe_integer("choice", s.choice)?;
    check_safe_integer("spoiled_at_ms", s.spoiled_at_ms)?;
    let code = s.computed_tracking_code();
    if code != s.tracking_code {
        return Err(LedgerError::WrongHash {
            what: "tracking_code",
            expected: code,
            found: s.tracking_code,
        });
    }
    let open = election.is_open_at(s.spoiled_at_ms);
    made_in_time(open, s.election_id, "spoiled_at_ms", s.spoiled_at_ms, at_ms)?;
    let n = election.candidates.len();
    if s.ciphertexts.len() != n || s.randomness.len() != n {
        return Err(bad(format!(
            "{} ciphertexts and {} randomness values for {n} candidates",
            s.ciphertexts.len(),
            s.randomness.len()
        )));
    }
    if election.candidate_index(s.choice).is_none() {
        return Err(bad(format!(
            "candidate {} is not standing in election {}",
            s.choice, s.election_id
        )));
    }
    for ct in &s.ciphertexts {
        ct.a.decode().map_err(bad)?;
        ct.b.decode().map_err(bad)?;
    }
    Ok(())
}

/// Test fixtures, for this crate's tests and, with the `fixtures`
/// feature, for the appliance's.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot_opened};
    use crate::ledger::genesis::Genesis;
    use crate::ledger::tx::{SignedTx, Transaction};

    /// A spoiled ballot of election 1 made by the appliance with test key
    /// `origin_seed`, encrypting candidate `encrypted` while the voter
    /// confirmed `stated` (ids; the same for an honest booth), at 5000.
    pub fn spoiled(
        g: &Genesis,
        origin_seed: u8,
        seed: u64,
        stated: u64,
        encrypted: u64,
    ) -> SignedTx {
        use rand_core::SeedableRng;
        let k = key(origin_seed);
        let chain_id = g.chain_id().unwrap();
        let e = g.election(1).unwrap();
        let ctx = BallotContext {
            chain_id,
            election_id: 1,
            nullifier: Hash32([7; 32]),
            origin: k.public(),
        };
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let pk = EncryptionKey::new(&e.public_key().unwrap().public_key).unwrap();
        let index = e.candidate_index(encrypted).unwrap();
        let (ballot, r) =
            encrypt_ballot_opened(&ctx, &pk, index, e.candidates.len(), &mut rng).unwrap();
        let ciphertexts: Vec<Ciphertext> = ballot.ciphertexts().copied().collect();
        let tx = SpoiledBallotTx {
            chain_id,
            election_id: 1,
            tracking_code: tracking_code(&chain_id, 1, &k.public(), ciphertexts.iter()),
            ciphertexts,
            choice: stated,
            randomness: r.iter().map(|r| PublicScalar::from(*r.expose())).collect(),
            spoiled_at_ms: 5_000,
            origin: k.public(),
        };
        SignedTx::sign(Transaction::SpoiledBallot(tx), &k).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::spoiled;
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::{SignedTx, Transaction, check_tx};
    use crate::ledger::validate::MAX_FUTURE_DRIFT_MS;

    fn record(stx: &SignedTx) -> &SpoiledBallotTx {
        match &stx.tx {
            Transaction::SpoiledBallot(s) => s,
            _ => unreachable!(),
        }
    }

    fn resign(mut stx: SignedTx, f: impl FnOnce(&mut SpoiledBallotTx)) -> SignedTx {
        if let Transaction::SpoiledBallot(s) = &mut stx.tx {
            f(s);
        }
        SignedTx::sign(stx.tx, &key(1)).unwrap()
    }

    #[test]
    fn an_honest_record_opens_to_its_choice_and_a_cheating_one_to_another() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let e = g.election(1).unwrap();
        let (a, b) = (e.candidates[0].id, e.candidates[1].id);
        let honest = spoiled(&g, 1, 1, a, a);
        assert!(check_tx(&g, &id, &honest, 5_000).is_ok());
        assert_eq!(record(&honest).opening(e).unwrap(), Opening::Stated);
        // The booth encrypted b while the voter confirmed a: well formed,
        // and its opening says so.
        let cheat = spoiled(&g, 1, 2, a, b);
        assert!(check_tx(&g, &id, &cheat, 5_000).is_ok());
        assert_eq!(record(&cheat).opening(e).unwrap(), Opening::Other(b));
        // Randomness that is not the ciphertexts' opens nothing.
        let other = record(&spoiled(&g, 1, 3, a, a)).randomness.clone();
        let forged = resign(honest.clone(), |s| s.randomness = other);
        assert!(check_tx(&g, &id, &forged, 5_000).is_ok());
        assert_eq!(record(&forged).opening(e).unwrap(), Opening::Nothing);
    }

    #[test]
    fn malformed_records_are_refused_with_their_codes() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let e = g.election(1).unwrap();
        let good = spoiled(&g, 1, 1, e.candidates[0].id, e.candidates[0].id);
        let err = |stx: &SignedTx, at| check_tx(&g, &id, stx, at).unwrap_err().code();
        let wrong = resign(good.clone(), |s| s.tracking_code = Hash32([1; 32]));
        assert_eq!(err(&wrong, 5_000), "wrong_hash");
        let short = resign(good.clone(), |s| {
            s.randomness.pop();
        });
        assert_eq!(err(&short, 5_000), "bad_spoiled_ballot");
        let nobody = resign(good.clone(), |s| s.choice = 9_999);
        assert_eq!(err(&nobody, 5_000), "bad_spoiled_ballot");
        let early = resign(good.clone(), |s| s.spoiled_at_ms = 500);
        assert_eq!(err(&early, 5_000), "election_not_open");
        let later = resign(good.clone(), |s| s.spoiled_at_ms = 30_000);
        assert_eq!(err(&later, 30_000 - MAX_FUTURE_DRIFT_MS - 1), "bad_tx");
        assert!(check_tx(&g, &id, &later, 30_000 - MAX_FUTURE_DRIFT_MS).is_ok());
        let big = resign(good.clone(), |s| s.choice = 1 << 60);
        assert_eq!(err(&big, 5_000), "integer_too_large");
        let outsider = SignedTx::sign(
            Transaction::SpoiledBallot(SpoiledBallotTx {
                origin: key(50).public(),
                ..record(&good).clone()
            }),
            &key(50),
        )
        .unwrap();
        assert_eq!(err(&outsider, 5_000), "unknown_origin");
        // A point that decodes to no group element.
        let mut text = serde_json::to_value(&good).unwrap();
        text["tx"]["ciphertexts"][0]["a"] = format!("0x{}", "ff".repeat(32)).into();
        let undecodable: SignedTx = serde_json::from_value(text).unwrap();
        let undecodable = resign(undecodable, |s| {
            s.tracking_code = s.computed_tracking_code();
        });
        assert_eq!(err(&undecodable, 5_000), "bad_spoiled_ballot");
    }

    #[test]
    fn the_tracking_code_is_a_ballots_too() {
        let g = genesis(3);
        let stx = crate::ledger::tx::fixtures::ballot(&g, 1, 7, 2);
        let b = stx.tx.as_ballot().unwrap();
        let code = b.tracking_code();
        assert_eq!(
            code,
            tracking_code(&b.chain_id, 1, &b.origin, b.ballot.ciphertexts())
        );
        let other = crate::ledger::tx::fixtures::ballot(&g, 2, 7, 2);
        assert_ne!(other.tx.as_ballot().unwrap().tracking_code(), code);
    }
}
