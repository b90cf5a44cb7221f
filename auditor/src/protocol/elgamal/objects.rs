//! The objects of E.3-E.5 as the wire carries them: ciphertexts, proofs, ballots, the trustees' round-1 messages and decryption shares.

use super::*;

/// `(A, B) = (rG, mG + rH)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ciphertext {
    pub a: Point,
    pub b: Point,
}

impl Ciphertext {
    /// `(O, O)`: the total of no ballots.
    pub fn zero() -> Ciphertext {
        Ciphertext {
            a: Point::identity(),
            b: Point::identity(),
        }
    }
}

/// A 0/1 proof in commitment form (E.3): `c1` is not sent, it is the
/// transcript's challenge minus `c0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroOneProof {
    pub u0: Point,
    pub v0: Point,
    pub u1: Point,
    pub v1: Point,
    pub c0: Sc,
    pub z0: Sc,
    pub z1: Sc,
}

/// A sum proof in commitment form (E.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumProof {
    pub u: Point,
    pub v: Point,
    pub z: Sc,
}

/// A challenge and a response: a proof of knowledge, a partial
/// decryption's proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResponse {
    pub c: Sc,
    pub z: Sc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub ciphertext: Ciphertext,
    pub proof: ZeroOneProof,
}

/// An encrypted ballot (E.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedBallot {
    pub selections: Vec<Selection>,
    pub sum_proof: SumProof,
}

/// A trustee's public round-1 message (E.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteeRound1 {
    pub index: u32,
    pub commitments: Vec<Point>,
    pub pok: ChallengeResponse,
}

/// An election's trustees as its genesis records them (§3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionTrustees {
    pub trustees: u32,
    pub threshold: u32,
    pub round1: Vec<TrusteeRound1>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialDecryption {
    pub d: Point,
    pub proof: ChallengeResponse,
}

/// Trustee `trustee_index`'s decryption share of an aggregate (E.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionShare {
    pub trustee_index: u32,
    pub shares: Vec<PartialDecryption>,
}
