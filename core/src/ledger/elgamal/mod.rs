//! Encrypted ballots and the threshold tally: the cryptographic core.
//!
//! - Group: Ristretto255 (prime order ℓ = 2^252 + 27742317777372353535851937790883648493),
//!   generator `G` = the Ristretto basepoint.
//! - Exponential ElGamal under the election key `H`:
//!   `Enc_H(m; r) = (A, B) = (rG, mG + rH)`; ciphertexts add up
//!   homomorphically ([`Ciphertext::add`], [`aggregate`]).
//! - A ballot ([`EncryptedBallot`]) holds one ciphertext per candidate with
//!   a disjunctive Chaum–Pedersen proof that it encrypts 0 or 1, and a
//!   Chaum–Pedersen proof that the ciphertexts sum to an encryption of 1,
//!   both in commitment form so that many ballots are checked in one
//!   batch ([`verify`]).
//!   Every proof is bound by Fiat–Shamir to the [`BallotContext`] (chain,
//!   election, nullifier, origin appliance).
//! - The key is made by the trustees in a dealer-free Pedersen DKG with
//!   Feldman commitments ([`dkg`]); `k` of `n` trustees decrypt the
//!   aggregate with proven partial decryptions ([`decrypt`]); a bounded
//!   discrete logarithm gives each count ([`dlog`]).
//!
//! The written rules, precise enough to re-implement, are the section
//! "Encrypted ballots and the tally" of `schema/PROTOCOL.md`.
//!
//! Pure: no IO, no clock. Randomness comes in as an argument
//! (`rng: &mut (impl RngCore + CryptoRng)`). Secret scalars (encryption
//! randomness, polynomial coefficients, shares, key shares) are zeroized
//! when dropped and never printed. Operations on secrets are constant time
//! (dalek's constant-time arithmetic, `subtle` selections); verification is
//! variable time, since everything it touches is public.

pub mod ballot;
pub mod decrypt;
pub mod dkg;
pub mod dlog;
pub mod encoding;
pub mod error;
pub mod memo;
pub mod transcript;
pub mod verify;

#[cfg(test)]
mod tests;

use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

pub use ballot::{
    BallotContext, ChallengeResponse, Ciphertext, EncryptedBallot, EncryptionKey, Selection,
    SumProof, ZeroOneProof, aggregate, encrypt_ballot, encrypt_ballot_opened, open_bit,
};
pub use decrypt::{
    DecryptionProof, DecryptionShare, PartialDecryption, TallyContext, combine_decryption_shares,
    decryption_share, verify_decryption_share,
};
pub use dkg::{
    CeremonyParams, ElectionPublicKey, KnowledgeProof, MAX_TRUSTEES, PublicTrusteeShare,
    SecretShare, TrusteeKey, TrusteeRound1, round1, round2, verify_round1, verify_share,
};
pub use dlog::{DlogTable, MAX_TALLY};
pub use encoding::{EncodingError, Point, PublicScalar, SecretScalar};
pub use error::CryptoError;
pub use verify::{verify_ballot, verify_ballots};

/// The most candidates an election may have (as in the genesis rules).
pub const MAX_CANDIDATES: usize = 256;

pub(crate) fn check_candidate_count(candidates: usize) -> Result<(), CryptoError> {
    if candidates == 0 || candidates > MAX_CANDIDATES {
        return Err(CryptoError::BadCandidateCount {
            max: MAX_CANDIDATES,
            found: candidates,
        });
    }
    Ok(())
}

/// A uniformly random scalar: 64 bytes from `rng` reduced modulo ℓ (bias
/// below 2^-250). The buffer is zeroized.
pub(crate) fn random_scalar(rng: &mut (impl RngCore + CryptoRng)) -> Scalar {
    let mut bytes = [0u8; 64];
    rng.fill_bytes(&mut bytes);
    let s = Scalar::from_bytes_mod_order_wide(&bytes);
    bytes.zeroize();
    s
}

/// Parses a wire object (a ballot, a round-1 message, a share, a
/// decryption share, ...) from JSON, mapping every refusal (unknown
/// member, bad hex, non-canonical scalar, invalid point) to
/// [`CryptoError::Encoding`].
pub fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, CryptoError> {
    serde_json::from_str(json).map_err(|e| CryptoError::Encoding {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

/// [`from_json`] for an already parsed JSON value.
pub fn from_value<T: serde::de::DeserializeOwned>(
    what: &str,
    value: &serde_json::Value,
) -> Result<T, CryptoError> {
    T::deserialize(value).map_err(|e| CryptoError::Encoding {
        what: what.to_string(),
        detail: e.to_string(),
    })
}
