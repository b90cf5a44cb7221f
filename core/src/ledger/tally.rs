//! Elections' keys and tallies on the chain: the trustees' key ceremony as
//! the genesis records it, the running encrypted tally, and the rules for a
//! decryption share to enter a block.

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use curve25519_dalek::ristretto::RistrettoPoint;

use super::elgamal::memo;
use super::elgamal::{
    CeremonyParams, Ciphertext, CryptoError, ElectionPublicKey, EncryptedBallot, Point, TrusteeKey,
    TrusteeRound1, round1, round2,
};
use super::error::LedgerError;

/// An election's trustees as the genesis records them: `threshold` of
/// `trustees` can decrypt the tally. The public round-1 message of every
/// trustee is kept, so that anyone recomputes the election key and each
/// trustee's public share instead of trusting a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionTrustees {
    pub trustees: u32,
    pub threshold: u32,
    pub round1: Vec<TrusteeRound1>,
    #[serde(skip)]
    key: KeyMemo,
}

impl ElectionTrustees {
    pub fn new(trustees: u32, threshold: u32, round1: Vec<TrusteeRound1>) -> Self {
        Self {
            trustees,
            threshold,
            round1,
            key: KeyMemo::default(),
        }
    }

    pub fn params(&self, election_id: u64) -> Result<CeremonyParams, LedgerError> {
        CeremonyParams::new(election_id, self.trustees, self.threshold).map_err(crypto)
    }

    /// Verifies the ceremony's public messages and computes the election
    /// key, once: later calls with the same record give the remembered key.
    pub fn public_key(&self, election_id: u64) -> Result<ElectionPublicKey, LedgerError> {
        let shape = (election_id, self.trustees, self.threshold);
        let mut memo = self.key.0.lock().expect("election key memo");
        if let Some(m) = memo.as_ref()
            && m.shape == shape
            && m.round1 == self.round1
        {
            return Ok(m.key.clone());
        }
        let key = ElectionPublicKey::from_round1(&self.params(election_id)?, &self.round1)
            .map_err(crypto)?;
        *memo = Some(Memo {
            shape,
            round1: self.round1.clone(),
            key: key.clone(),
        });
        Ok(key)
    }
}

/// The election key last computed from an [`ElectionTrustees`], with the
/// record it came from. Recomputing it checks every trustee's proof of
/// knowledge and evaluates the joint polynomial: 230 µs, more than a
/// quarter of checking a ballot, on every ballot. The record's fields are
/// public, so the memo is used only while they still match.
#[derive(Default)]
struct KeyMemo(std::sync::Mutex<Option<Memo>>);

struct Memo {
    shape: (u64, u32, u32),
    round1: Vec<TrusteeRound1>,
    key: ElectionPublicKey,
}

impl Clone for KeyMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// A memo is not part of the record: records compare by their fields.
impl PartialEq for KeyMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for KeyMemo {}

impl std::fmt::Debug for KeyMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMemo")
    }
}

pub(crate) fn crypto(e: CryptoError) -> LedgerError {
    LedgerError::Crypto {
        code: e.code(),
        message: e.to_string(),
    }
}

/// Runs every round of a key ceremony in one process and returns the
/// public record and every trustee's key. For development networks and
/// tests only: a real ceremony keeps each trustee's secrets on their own
/// machine (`evote-appliance trustee keygen` / `combine`).
pub fn local_ceremony(
    election_id: u64,
    trustees: u32,
    threshold: u32,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(ElectionTrustees, Vec<TrusteeKey>), LedgerError> {
    let params = CeremonyParams::new(election_id, trustees, threshold).map_err(crypto)?;
    let mut msgs = Vec::new();
    let mut shares = Vec::new();
    for i in 1..=trustees {
        let (msg, out) = round1(&params, i, rng).map_err(crypto)?;
        msgs.push(msg);
        shares.extend(out);
    }
    let keys = (1..=trustees)
        .map(|j| {
            let mine: Vec<_> = shares
                .iter()
                .filter(|s| s.recipient == j)
                .cloned()
                .collect();
            round2(&params, j, &msgs, &mine).map_err(crypto)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ElectionTrustees::new(trustees, threshold, msgs), keys))
}

/// An election's encrypted running tally after the block at `height`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TallyState {
    pub election_id: u64,
    pub height: u64,
    pub ballot_count: u64,
    /// Per candidate, the sum of that candidate's ciphertexts.
    pub aggregate: Vec<Ciphertext>,
}

impl TallyState {
    pub fn empty(election_id: u64, candidates: usize) -> Self {
        Self {
            election_id,
            height: 0,
            ballot_count: 0,
            aggregate: vec![Ciphertext::zero(); candidates],
        }
    }

    /// Adds the ciphertexts of `ballots` (checked ones: their points
    /// decode). The sums are encoded once at the end, not after each ballot.
    pub fn add<'a>(
        &mut self,
        ballots: impl IntoIterator<Item = &'a EncryptedBallot>,
    ) -> Result<(), CryptoError> {
        let mut sums = self
            .aggregate
            .iter()
            .map(|ct| Ok((ct.a.decode()?, ct.b.decode()?)))
            .collect::<Result<Vec<(RistrettoPoint, RistrettoPoint)>, CryptoError>>()?;
        for ballot in ballots {
            // Checked ballots' points were decoded by their check: taken
            // from the memo, not decoded again.
            let points: Vec<&Point> = ballot.ciphertexts().flat_map(|ct| [&ct.a, &ct.b]).collect();
            let decoded = memo::take(&points)?;
            for (sum, ab) in sums.iter_mut().zip(decoded.chunks_exact(2)) {
                sum.0 += ab[0];
                sum.1 += ab[1];
            }
            self.ballot_count += 1;
        }
        self.aggregate = sums
            .into_iter()
            .map(|(a, b)| Ciphertext {
                a: Point::from_point(a),
                b: Point::from_point(b),
            })
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn the_remembered_key_follows_the_record() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let (a, _) = local_ceremony(1, 3, 2, &mut rng).unwrap();
        let (b, _) = local_ceremony(1, 3, 2, &mut rng).unwrap();
        let key_a = a.public_key(1).unwrap();
        assert_eq!(a.public_key(1).unwrap(), key_a);
        // Another election id changes the ceremony's parameters: its proofs
        // of knowledge no longer verify, memo or not.
        assert!(a.public_key(2).is_err());
        assert_eq!(a.public_key(1).unwrap(), key_a);
        // The record's fields are public: a changed record gets its own key.
        let mut changed = a.clone();
        changed.public_key(1).unwrap();
        changed.round1 = b.round1.clone();
        assert_eq!(changed.public_key(1).unwrap(), b.public_key(1).unwrap());
        assert_ne!(changed.public_key(1).unwrap(), key_a);
        assert_eq!(changed, b);
    }
}
