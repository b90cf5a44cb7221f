//! The cryptography of secret ballots, re-implemented from the section
//! "Encrypted ballots and the tally" of `schema/PROTOCOL.md` (E.1-E.6):
//! points and scalars on the wire, Fiat-Shamir transcripts, the checks of
//! a ballot's proofs, of the trustees' round-1 messages, of a decryption
//! share, and the combination of shares into counts.
//!
//! Verification only needs public values and runs in variable time. The
//! few functions that make proofs ([`prove`]) exist for the auditor's
//! synthetic chains (tests and the verify-rate benchmark); an audit never
//! calls them.

use std::fmt;

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::{
    CompressedRistretto, RistrettoPoint, VartimeRistrettoPrecomputation,
};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{
    Identity, IsIdentity, VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

use crate::protocol::decode_fixed;

/// Candidates per ballot at most (E.6).
pub const MAX_CANDIDATES: usize = 256;
/// Trustees per ceremony at most (E.4).
pub const MAX_TRUSTEES: u32 = 64;
/// Ballots in one tally at most (E.5).
pub const MAX_TALLY: u64 = u32::MAX as u64;
/// The largest baby-step table of the discrete logarithm.
const MAX_BABY_STEPS: u64 = 1 << 20;

pub const TAG_ZERO_ONE: &str = "evote/v1/ballot-01";
pub const TAG_SUM: &str = "evote/v1/ballot-sum";
pub const TAG_POK: &str = "evote/v1/dkg-pok";
pub const TAG_DECRYPTION: &str = "evote/v1/decryption-share";

// ---------------------------------------------------------------- encodings

/// A Ristretto255 point as the wire carries it (E.1): its canonical
/// 32-byte encoding, decoded once when parsed.
#[derive(Clone, Copy)]
pub struct Point {
    enc: [u8; 32],
    p: RistrettoPoint,
}

impl Point {
    /// Decodes a canonical encoding (RFC 9496 §4.3.1); the identity's
    /// encoding (32 zero bytes) is accepted.
    pub fn from_bytes(enc: [u8; 32]) -> Result<Point, String> {
        CompressedRistretto(enc)
            .decompress()
            .map(|p| Point { enc, p })
            .ok_or_else(|| "not the canonical encoding of a Ristretto255 point".to_string())
    }

    pub fn parse(s: &str) -> Result<Point, String> {
        let b = decode_fixed::<32>(s).map_err(|e| e.to_string())?;
        Self::from_bytes(b)
    }

    pub fn from_point(p: RistrettoPoint) -> Point {
        Point {
            enc: p.compress().to_bytes(),
            p,
        }
    }

    pub fn identity() -> Point {
        Point {
            enc: [0; 32],
            p: RistrettoPoint::identity(),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.enc == [0; 32]
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.enc
    }

    pub fn point(&self) -> &RistrettoPoint {
        &self.p
    }

    pub fn to_hex(self) -> String {
        format!("0x{}", hex::encode(self.enc))
    }
}

impl PartialEq for Point {
    fn eq(&self, o: &Point) -> bool {
        self.enc == o.enc
    }
}
impl Eq for Point {}

impl fmt::Debug for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Point::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A scalar as the wire carries it (E.1): 32 bytes little-endian, below ℓ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sc(pub Scalar);

impl Sc {
    pub fn parse(s: &str) -> Result<Sc, String> {
        let b = decode_fixed::<32>(s).map_err(|e| e.to_string())?;
        Option::<Scalar>::from(Scalar::from_canonical_bytes(b))
            .map(Sc)
            .ok_or_else(|| "a scalar at or above the group order is not canonical".to_string())
    }

    pub fn to_hex(self) -> String {
        format!("0x{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for Sc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Sc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Sc::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------- wire objects

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

// ---------------------------------------------------------------- errors

/// Why a check of this section failed; `code()` is the E.6 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    WrongLength {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    BadCandidateCount(usize),
    IdentityPublicKey,
    BadZeroOneProof(usize),
    BadSumProof,
    BadParams(String),
    UnknownTrustee {
        index: u32,
        trustees: u32,
    },
    DuplicateTrustee(u32),
    MissingTrustee(u32),
    BadKnowledgeProof(u32),
    BadDecryptionShare {
        trustee: u32,
        candidate: usize,
    },
    TooFewShares {
        have: usize,
        need: usize,
    },
    BoundTooLarge(u64),
    TallyOutOfRange {
        candidate: usize,
        bound: u64,
    },
    CountMismatch {
        sum: u64,
        ballots: u64,
    },
}

impl CryptoError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength { .. } => "wrong_length",
            Self::BadCandidateCount(_) => "bad_candidate_count",
            Self::IdentityPublicKey => "identity_public_key",
            Self::BadZeroOneProof(_) => "bad_zero_one_proof",
            Self::BadSumProof => "bad_sum_proof",
            Self::BadParams(_) => "bad_params",
            Self::UnknownTrustee { .. } => "unknown_trustee",
            Self::DuplicateTrustee(_) => "duplicate_trustee",
            Self::MissingTrustee(_) => "missing_trustee",
            Self::BadKnowledgeProof(_) => "bad_knowledge_proof",
            Self::BadDecryptionShare { .. } => "bad_decryption_share",
            Self::TooFewShares { .. } => "too_few_shares",
            Self::BoundTooLarge(_) => "bound_too_large",
            Self::TallyOutOfRange { .. } => "tally_out_of_range",
            Self::CountMismatch { .. } => "count_mismatch",
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength {
                what,
                expected,
                found,
            } => write!(f, "{found} {what}, expected {expected}"),
            Self::BadCandidateCount(n) => {
                write!(f, "{n} candidates; a ballot has 1 to {MAX_CANDIDATES}")
            }
            Self::IdentityPublicKey => write!(f, "the election key is the identity"),
            Self::BadZeroOneProof(i) => write!(
                f,
                "the proof that selection {i} encrypts 0 or 1 does not verify"
            ),
            Self::BadSumProof => write!(
                f,
                "the proof that the selections add up to exactly one vote does not verify"
            ),
            Self::BadParams(m) => write!(f, "{m}"),
            Self::UnknownTrustee { index, trustees } => {
                write!(f, "trustee {index} is not one of 1..={trustees}")
            }
            Self::DuplicateTrustee(i) => write!(f, "trustee {i} appears twice"),
            Self::MissingTrustee(i) => write!(f, "trustee {i}'s round-1 message is missing"),
            Self::BadKnowledgeProof(i) => {
                write!(f, "trustee {i}'s proof of knowledge does not verify")
            }
            Self::BadDecryptionShare { trustee, candidate } => write!(
                f,
                "trustee {trustee}'s partial decryption of candidate {candidate} does not verify"
            ),
            Self::TooFewShares { have, need } => {
                write!(f, "{have} decryption share(s); {need} are needed")
            }
            Self::BoundTooLarge(n) => write!(f, "{n} ballots; a tally holds at most 2^32 - 1"),
            Self::TallyOutOfRange { candidate, bound } => write!(
                f,
                "candidate {candidate}'s decrypted total is no integer in 0..={bound}"
            ),
            Self::CountMismatch { sum, ballots } => write!(
                f,
                "the decrypted counts add up to {sum}, the tally holds {ballots} ballots"
            ),
        }
    }
}

// ---------------------------------------------------------------- transcripts

/// A Fiat-Shamir transcript (E.2): fields `u32be(len) || bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript(Vec<u8>);

impl Transcript {
    pub fn new(tag: &str) -> Transcript {
        let mut t = Transcript(Vec::with_capacity(480));
        t.field(tag.as_bytes());
        t
    }

    pub fn field(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    pub fn int(&mut self, v: u64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn pt(&mut self, enc: &[u8; 32]) -> &mut Self {
        self.field(enc)
    }

    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// SHA-512 of the transcript as a little-endian integer, modulo ℓ.
    pub fn challenge(&self) -> Scalar {
        let d: [u8; 64] = Sha512::digest(&self.0).into();
        Scalar::from_bytes_mod_order_wide(&d)
    }
}

/// What a ballot's proofs are bound to (E.2, E.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BallotContext {
    pub chain_id: [u8; 32],
    pub election_id: u64,
    pub nullifier: [u8; 32],
    pub origin: [u8; 32],
}

impl BallotContext {
    fn write(&self, t: &mut Transcript) {
        t.field(&self.chain_id)
            .int(self.election_id)
            .field(&self.nullifier)
            .field(&self.origin);
    }
}

/// `T01(i)` (E.2).
pub fn t01(
    ctx: &BallotContext,
    n: usize,
    i: usize,
    h: &[u8; 32],
    ct: &Ciphertext,
    c: [&[u8; 32]; 4],
) -> Transcript {
    let mut t = Transcript::new(TAG_ZERO_ONE);
    ctx.write(&mut t);
    t.int(n as u64)
        .int(i as u64)
        .pt(h)
        .pt(ct.a.as_bytes())
        .pt(ct.b.as_bytes());
    for p in c {
        t.pt(p);
    }
    t
}

/// `Tsum` (E.2).
pub fn tsum<'a>(
    ctx: &BallotContext,
    h: &[u8; 32],
    cts: impl ExactSizeIterator<Item = &'a Ciphertext>,
    u: &[u8; 32],
    v: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(TAG_SUM);
    ctx.write(&mut t);
    t.int(cts.len() as u64).pt(h);
    for ct in cts {
        t.pt(ct.a.as_bytes()).pt(ct.b.as_bytes());
    }
    t.pt(u).pt(v);
    t
}

/// `Tpok(i)` (E.2).
pub fn tpok(
    election_id: u64,
    trustees: u32,
    threshold: u32,
    index: u32,
    commitments: &[Point],
    u: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(TAG_POK);
    t.int(election_id)
        .int(u64::from(trustees))
        .int(u64::from(threshold))
        .int(u64::from(index));
    for c in commitments {
        t.pt(c.as_bytes());
    }
    t.pt(u);
    t
}

/// `Tdec(j, i)` (E.2).
#[allow(clippy::too_many_arguments)]
pub fn tdec(
    chain_id: &[u8; 32],
    election_id: u64,
    h: &[u8; 32],
    j: u32,
    i: usize,
    ct: &Ciphertext,
    p_j: &[u8; 32],
    d: &[u8; 32],
    u: &[u8; 32],
    v: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(TAG_DECRYPTION);
    t.field(chain_id)
        .int(election_id)
        .pt(h)
        .int(u64::from(j))
        .int(i as u64)
        .pt(ct.a.as_bytes())
        .pt(ct.b.as_bytes())
        .pt(p_j)
        .pt(d)
        .pt(u)
        .pt(v);
    t
}

// ---------------------------------------------------------------- the election key

/// An election's public key data, recomputed from its round-1 messages
/// (E.4), with the precomputation ballot checks use.
pub struct ElectionKey {
    pub election_id: u64,
    pub trustees: u32,
    pub threshold: u32,
    /// `H`.
    pub public_key: Point,
    /// `P_1, ..., P_n`.
    pub public_shares: Vec<Point>,
    /// Tables for `[G, H]`, the two fixed bases of every ballot proof.
    gh: VartimeRistrettoPrecomputation,
}

impl fmt::Debug for ElectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElectionKey")
            .field("election_id", &self.election_id)
            .field("trustees", &self.trustees)
            .field("threshold", &self.threshold)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

fn check_params(trustees: u32, threshold: u32) -> Result<(), CryptoError> {
    if trustees == 0 || trustees > MAX_TRUSTEES {
        return Err(CryptoError::BadParams(format!(
            "a ceremony has 1 to {MAX_TRUSTEES} trustees, not {trustees}"
        )));
    }
    if threshold == 0 || threshold > trustees {
        return Err(CryptoError::BadParams(format!(
            "the threshold must be 1 to {trustees}, not {threshold}"
        )));
    }
    Ok(())
}

/// `Σ_t x^t C_t`.
fn commitment_at(cs: &[RistrettoPoint], x: u32) -> RistrettoPoint {
    let x = Scalar::from(x);
    let mut pow = Scalar::ONE;
    let mut scalars = Vec::with_capacity(cs.len());
    for _ in cs {
        scalars.push(pow);
        pow *= x;
    }
    RistrettoPoint::vartime_multiscalar_mul(scalars, cs)
}

/// Checks one dealer's proof of knowledge (E.4 step 2, after the length).
pub fn verify_pok(
    election_id: u64,
    trustees: u32,
    threshold: u32,
    m: &TrusteeRound1,
) -> Result<(), CryptoError> {
    let c0 = m
        .commitments
        .first()
        .ok_or(CryptoError::BadKnowledgeProof(m.index))?;
    let u =
        RistrettoPoint::vartime_double_scalar_mul_basepoint(&-m.pok.c.0, c0.point(), &m.pok.z.0);
    let t = tpok(
        election_id,
        trustees,
        threshold,
        m.index,
        &m.commitments,
        &u.compress().to_bytes(),
    );
    if t.challenge() != m.pok.c.0 {
        return Err(CryptoError::BadKnowledgeProof(m.index));
    }
    Ok(())
}

impl ElectionKey {
    /// Checks the round-1 messages in the order of E.4 and computes `H`
    /// and every `P_j`.
    pub fn from_round1(election_id: u64, t: &ElectionTrustees) -> Result<ElectionKey, CryptoError> {
        let (n, k) = (t.trustees, t.threshold);
        check_params(n, k)?;
        let mut by_index: Vec<Option<&TrusteeRound1>> = vec![None; n as usize];
        for m in &t.round1 {
            if m.index == 0 || m.index > n {
                return Err(CryptoError::UnknownTrustee {
                    index: m.index,
                    trustees: n,
                });
            }
            let slot = &mut by_index[m.index as usize - 1];
            if slot.is_some() {
                return Err(CryptoError::DuplicateTrustee(m.index));
            }
            *slot = Some(m);
        }
        let mut msgs = Vec::with_capacity(n as usize);
        for (i, m) in by_index.into_iter().enumerate() {
            let m = m.ok_or(CryptoError::MissingTrustee(i as u32 + 1))?;
            if m.commitments.len() != k as usize {
                return Err(CryptoError::WrongLength {
                    what: "dealer commitments",
                    expected: k as usize,
                    found: m.commitments.len(),
                });
            }
            verify_pok(election_id, n, k, m)?;
            msgs.push(m);
        }
        let joint: Vec<RistrettoPoint> = (0..k as usize)
            .map(|t| msgs.iter().map(|m| m.commitments[t].point()).sum())
            .collect();
        let public_key = Point::from_point(joint[0]);
        if public_key.is_identity() {
            return Err(CryptoError::IdentityPublicKey);
        }
        let public_shares = (1..=n)
            .map(|j| Point::from_point(commitment_at(&joint, j)))
            .collect();
        Ok(ElectionKey {
            election_id,
            trustees: n,
            threshold: k,
            gh: VartimeRistrettoPrecomputation::new([
                RISTRETTO_BASEPOINT_POINT,
                *public_key.point(),
            ]),
            public_key,
            public_shares,
        })
    }

    /// `P_j`.
    pub fn public_share(&self, j: u32) -> Result<&Point, CryptoError> {
        if j == 0 || j > self.trustees {
            return Err(CryptoError::UnknownTrustee {
                index: j,
                trustees: self.trustees,
            });
        }
        Ok(&self.public_shares[j as usize - 1])
    }

    /// `g·G + h·H - d·P`, with tables for G and H.
    fn gh_minus(&self, g: Scalar, h: Scalar, d: Scalar, p: &RistrettoPoint) -> RistrettoPoint {
        self.gh.vartime_mixed_multiscalar_mul([g, h], [-d], [p])
    }
}

// ---------------------------------------------------------------- ballots (E.3)

fn check_candidates(n: usize) -> Result<(), CryptoError> {
    if n == 0 || n > MAX_CANDIDATES {
        return Err(CryptoError::BadCandidateCount(n));
    }
    Ok(())
}

/// Verifies a ballot's proofs under the election key, with the result
/// the checks of E.3 give in their order. The 4n + 2 equations are first
/// checked together in one random linear combination (E.3 "Batch
/// verification"); only a ballot that fails it is checked equation by
/// equation, to name the first failing proof.
pub fn verify_ballot(
    ctx: &BallotContext,
    key: &ElectionKey,
    ballot: &EncryptedBallot,
    n: usize,
) -> Result<(), CryptoError> {
    check_candidates(n)?;
    if key.public_key.is_identity() {
        return Err(CryptoError::IdentityPublicKey);
    }
    if ballot.selections.len() != n {
        return Err(CryptoError::WrongLength {
            what: "selections",
            expected: n,
            found: ballot.selections.len(),
        });
    }
    let challenges = Challenges::of(ctx, key, ballot, n);
    if equations_hold_together(ctx, key, ballot, &challenges) {
        return Ok(());
    }
    for (i, s) in ballot.selections.iter().enumerate() {
        if !zero_one_holds(key, s, challenges.zero_one[i]) {
            return Err(CryptoError::BadZeroOneProof(i));
        }
    }
    if !sum_holds(key, ballot, challenges.sum) {
        return Err(CryptoError::BadSumProof);
    }
    Ok(())
}

/// Each 0/1 proof's `(c0, c1)` with `c1 = challenge(T01(i)) - c0`, and the
/// sum proof's `challenge(Tsum)`.
struct Challenges {
    zero_one: Vec<(Scalar, Scalar)>,
    sum: Scalar,
}

impl Challenges {
    fn of(ctx: &BallotContext, key: &ElectionKey, ballot: &EncryptedBallot, n: usize) -> Self {
        let h = key.public_key.as_bytes();
        let zero_one = ballot
            .selections
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = &s.proof;
                let commitments = [
                    p.u0.as_bytes(),
                    p.v0.as_bytes(),
                    p.u1.as_bytes(),
                    p.v1.as_bytes(),
                ];
                let c = t01(ctx, n, i, h, &s.ciphertext, commitments).challenge();
                (p.c0.0, c - p.c0.0)
            })
            .collect();
        let sp = &ballot.sum_proof;
        let cts = ballot.selections.iter().map(|s| &s.ciphertext);
        let sum = tsum(ctx, h, cts, sp.u.as_bytes(), sp.v.as_bytes()).challenge();
        Challenges { zero_one, sum }
    }
}

/// `z0 G = U0 + c0 A`, `z0 H = V0 + c0 B`, `z1 G = U1 + c1 A`,
/// `z1 H = V1 + c1 (B - G)`, each computed on its own.
fn zero_one_holds(key: &ElectionKey, s: &Selection, (c0, c1): (Scalar, Scalar)) -> bool {
    let (a, b) = (s.ciphertext.a.point(), s.ciphertext.b.point());
    let p = &s.proof;
    let (z0, z1, zero) = (p.z0.0, p.z1.0, Scalar::ZERO);
    key.gh_minus(z0, zero, c0, a) == *p.u0.point()
        && key.gh_minus(zero, z0, c0, b) == *p.v0.point()
        && key.gh_minus(z1, zero, c1, a) == *p.u1.point()
        && key.gh_minus(c1, z1, c1, b) == *p.v1.point()
}

/// `z G = U + c ΣA` and `z H = V + c (ΣB - G)`.
fn sum_holds(key: &ElectionKey, ballot: &EncryptedBallot, c: Scalar) -> bool {
    let sum_a: RistrettoPoint = ballot
        .selections
        .iter()
        .map(|s| s.ciphertext.a.point())
        .sum();
    let sum_b: RistrettoPoint = ballot
        .selections
        .iter()
        .map(|s| s.ciphertext.b.point())
        .sum();
    let sp = &ballot.sum_proof;
    key.gh_minus(sp.z.0, Scalar::ZERO, c, &sum_a) == *sp.u.point()
        && key.gh_minus(c, sp.z.0, c, &sum_b) == *sp.v.point()
}

/// Every equation of the ballot times its own 128-bit weight, added up:
/// the sum is the identity when they all hold, and otherwise with
/// probability 2^-128. The weights come from SHA-512 over every value the
/// equations hold, so the prover cannot aim at them.
fn equations_hold_together(
    ctx: &BallotContext,
    key: &ElectionKey,
    ballot: &EncryptedBallot,
    ch: &Challenges,
) -> bool {
    let mut sum = WeightedSum::new(key, std::slice::from_ref(&(*ctx, ballot)));
    sum.add(ballot, ch);
    sum.holds(key)
}

/// Whether every equation of every ballot of `items` holds, checked in one
/// multiscalar multiplication (E.3 "Batch verification"). The ballots'
/// shapes must have been checked (`n` selections each). `false` says only
/// that some equation is false: [`verify_ballot`] on each tells which.
pub fn ballots_hold_together(
    items: &[(BallotContext, &EncryptedBallot)],
    key: &ElectionKey,
    n: usize,
) -> bool {
    if key.public_key.is_identity() || items.iter().any(|(_, b)| b.selections.len() != n) {
        return false;
    }
    let mut sum = WeightedSum::new(key, items);
    for (ctx, ballot) in items {
        sum.add(ballot, &Challenges::of(ctx, key, ballot, n));
    }
    sum.holds(key)
}

/// A random linear combination of ballots' equations being built: the
/// coefficients of `G` and `H` and the other terms.
struct WeightedSum {
    seed: [u8; 64],
    next: u64,
    g: Scalar,
    h: Scalar,
    scalars: Vec<Scalar>,
    points: Vec<RistrettoPoint>,
}

impl WeightedSum {
    /// The weights' seed hashes every value of every ballot in `items`.
    fn new(key: &ElectionKey, items: &[(BallotContext, &EncryptedBallot)]) -> Self {
        let mut seed = Sha512::new();
        seed.update(b"evote-audit/ballot-weights");
        seed.update(key.public_key.as_bytes());
        let mut terms = 0;
        for (ctx, ballot) in items {
            seed.update(ctx.chain_id);
            seed.update(ctx.election_id.to_be_bytes());
            seed.update(ctx.nullifier);
            seed.update(ctx.origin);
            for s in &ballot.selections {
                let p = &s.proof;
                for pt in [&s.ciphertext.a, &s.ciphertext.b, &p.u0, &p.v0, &p.u1, &p.v1] {
                    seed.update(pt.as_bytes());
                }
                for x in [&p.c0, &p.z0, &p.z1] {
                    seed.update(x.0.as_bytes());
                }
            }
            let sp = &ballot.sum_proof;
            for bytes in [sp.u.as_bytes(), sp.v.as_bytes(), sp.z.0.as_bytes()] {
                seed.update(bytes);
            }
            terms += 6 * ballot.selections.len() + 2;
        }
        WeightedSum {
            seed: seed.finalize().into(),
            next: 0,
            g: Scalar::ZERO,
            h: Scalar::ZERO,
            scalars: Vec::with_capacity(terms),
            points: Vec::with_capacity(terms),
        }
    }

    fn weight(&mut self) -> Scalar {
        let d = Sha512::new()
            .chain_update(self.seed)
            .chain_update(self.next.to_be_bytes())
            .finalize();
        self.next += 1;
        let mut w = [0u8; 32];
        w[..16].copy_from_slice(&d[..16]);
        Scalar::from_bytes_mod_order(w)
    }

    fn add(&mut self, ballot: &EncryptedBallot, ch: &Challenges) {
        let sp = &ballot.sum_proof;
        let (ws_u, ws_v) = (self.weight(), self.weight());
        self.g += ws_u * sp.z.0 + ws_v * ch.sum;
        self.h += ws_v * sp.z.0;
        self.scalars.extend([-ws_u, -ws_v]);
        self.points.extend([*sp.u.point(), *sp.v.point()]);
        for (s, &(c0, c1)) in ballot.selections.iter().zip(&ch.zero_one) {
            let p = &s.proof;
            let w = [self.weight(), self.weight(), self.weight(), self.weight()];
            self.g += w[0] * p.z0.0 + w[2] * p.z1.0 + w[3] * c1;
            self.h += w[1] * p.z0.0 + w[3] * p.z1.0;
            self.scalars.extend([-w[0], -w[1], -w[2], -w[3]]);
            self.points
                .extend([*p.u0.point(), *p.v0.point(), *p.u1.point(), *p.v1.point()]);
            self.scalars.push(-(w[0] * c0 + w[2] * c1 + ws_u * ch.sum));
            self.points.push(*s.ciphertext.a.point());
            self.scalars.push(-(w[1] * c0 + w[3] * c1 + ws_v * ch.sum));
            self.points.push(*s.ciphertext.b.point());
        }
    }

    fn holds(self, key: &ElectionKey) -> bool {
        key.gh
            .vartime_mixed_multiscalar_mul([self.g, self.h], self.scalars, self.points)
            .is_identity()
    }
}

/// 1/2 mod ℓ: `double_and_compress_batch` of `P/2` encodes `P`, which
/// compresses many points with one field inversion.
static HALF: std::sync::LazyLock<Scalar> = std::sync::LazyLock::new(|| Scalar::from(2u64).invert());

// ---------------------------------------------------------------- the tally (E.5)

/// Trustee `j`'s share, checked against an aggregate (E.5 "Checking a share").
pub fn verify_decryption_share(
    chain_id: &[u8; 32],
    key: &ElectionKey,
    aggregate: &[Ciphertext],
    share: &DecryptionShare,
) -> Result<(), CryptoError> {
    check_candidates(aggregate.len())?;
    let j = share.trustee_index;
    let p_j = key.public_share(j)?;
    if share.shares.len() != aggregate.len() {
        return Err(CryptoError::WrongLength {
            what: "partial decryptions",
            expected: aggregate.len(),
            found: share.shares.len(),
        });
    }
    for (i, (ct, pd)) in aggregate.iter().zip(&share.shares).enumerate() {
        let (c, z) = (pd.proof.c.0, pd.proof.z.0);
        let u = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, p_j.point(), &z);
        let v = RistrettoPoint::vartime_multiscalar_mul([z, -c], [ct.a.point(), pd.d.point()]);
        let t = tdec(
            chain_id,
            key.election_id,
            key.public_key.as_bytes(),
            j,
            i,
            ct,
            p_j.as_bytes(),
            pd.d.as_bytes(),
            &u.compress().to_bytes(),
            &v.compress().to_bytes(),
        );
        if t.challenge() != c {
            return Err(CryptoError::BadDecryptionShare {
                trustee: j,
                candidate: i,
            });
        }
    }
    Ok(())
}

/// `λ_j = Π_{m ≠ j} m (m - j)^-1` for the distinct indices `xs`.
pub fn lagrange_at_zero(xs: &[u32]) -> Vec<Scalar> {
    xs.iter()
        .map(|&j| {
            let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
            for &m in xs.iter().filter(|&&m| m != j) {
                num *= Scalar::from(m);
                den *= Scalar::from(m) - Scalar::from(j);
            }
            num * den.invert()
        })
        .collect()
}

/// Combines shares into the counts, in the order of E.5 "Combining".
pub fn combine(
    chain_id: &[u8; 32],
    key: &ElectionKey,
    aggregate: &[Ciphertext],
    shares: &[DecryptionShare],
    ballot_count: u64,
) -> Result<Vec<u64>, CryptoError> {
    check_candidates(aggregate.len())?;
    let mut indices: Vec<u32> = Vec::with_capacity(shares.len());
    for s in shares {
        key.public_share(s.trustee_index)?;
        if indices.contains(&s.trustee_index) {
            return Err(CryptoError::DuplicateTrustee(s.trustee_index));
        }
        indices.push(s.trustee_index);
    }
    if shares.len() < key.threshold as usize {
        return Err(CryptoError::TooFewShares {
            have: shares.len(),
            need: key.threshold as usize,
        });
    }
    if ballot_count > MAX_TALLY {
        return Err(CryptoError::BoundTooLarge(ballot_count));
    }
    for s in shares {
        verify_decryption_share(chain_id, key, aggregate, s)?;
    }
    let lambdas = lagrange_at_zero(&indices);
    let targets: Vec<RistrettoPoint> = aggregate
        .iter()
        .enumerate()
        .map(|(i, ct)| {
            let scalars = std::iter::once(Scalar::ONE).chain(lambdas.iter().map(|l| -l));
            let points =
                std::iter::once(*ct.b.point()).chain(shares.iter().map(|s| *s.shares[i].d.point()));
            RistrettoPoint::vartime_multiscalar_mul(scalars, points)
        })
        .collect();
    let counts = Dlog::new(ballot_count, targets.len()).solve_all(&targets)?;
    let sum: u64 = counts.iter().sum();
    if sum != ballot_count {
        return Err(CryptoError::CountMismatch {
            sum,
            ballots: ballot_count,
        });
    }
    Ok(counts)
}

/// Baby-step giant-step for `x ∈ [0, bound]` with `xG = T`.
pub struct Dlog {
    bound: u64,
    m: u64,
    /// (first 8 bytes of the encoding of jG, j), sorted.
    baby: Vec<(u64, u32)>,
    giant: RistrettoPoint,
}

fn prefix(enc: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&enc[..8]);
    u64::from_le_bytes(b)
}

impl Dlog {
    pub fn new(bound: u64, targets: usize) -> Dlog {
        let span = bound + 1;
        let work = span.saturating_mul(targets.max(1) as u64);
        let mut m = work.isqrt();
        if m.saturating_mul(m) < work {
            m += 1;
        }
        let m = m.clamp(1, span.min(MAX_BABY_STEPS));
        // jG/2 for j < m, encoded as jG by double_and_compress_batch.
        let g_half = RISTRETTO_BASEPOINT_POINT * *HALF;
        let mut baby = Vec::with_capacity(m as usize);
        let mut cur = RistrettoPoint::identity();
        let mut j: u64 = 0;
        let mut batch = Vec::with_capacity(1024);
        while j < m {
            batch.clear();
            let first = j;
            while batch.len() < 1024 && j < m {
                batch.push(cur);
                cur += g_half;
                j += 1;
            }
            for (k, c) in RistrettoPoint::double_and_compress_batch(&batch)
                .iter()
                .enumerate()
            {
                baby.push((prefix(c.as_bytes()), (first + k as u64) as u32));
            }
        }
        baby.sort_unstable();
        Dlog {
            bound,
            m,
            baby,
            giant: &Scalar::from(m) * RISTRETTO_BASEPOINT_TABLE,
        }
    }

    /// The `x` in `[0, bound]` with `xG = t`, if any.
    pub fn solve(&self, t: &RistrettoPoint) -> Option<u64> {
        let mut cur = *t;
        let mut q: u64 = 0;
        while q * self.m <= self.bound {
            let enc = cur.compress();
            let p = prefix(enc.as_bytes());
            let start = self.baby.partition_point(|e| e.0 < p);
            for &(pp, j) in &self.baby[start..] {
                if pp != p {
                    break;
                }
                let x = q * self.m + u64::from(j);
                if x <= self.bound && &(&Scalar::from(x) * RISTRETTO_BASEPOINT_TABLE) == t {
                    return Some(x);
                }
            }
            cur -= self.giant;
            q += 1;
        }
        None
    }

    fn solve_all(&self, ts: &[RistrettoPoint]) -> Result<Vec<u64>, CryptoError> {
        ts.iter()
            .enumerate()
            .map(|(i, t)| {
                self.solve(t).ok_or(CryptoError::TallyOutOfRange {
                    candidate: i,
                    bound: self.bound,
                })
            })
            .collect()
    }
}

/// The aggregate's homomorphic sum: adds `(A, B)` to a running total.
pub fn add_into(
    total: &mut [(RistrettoPoint, RistrettoPoint)],
    cts: &[(RistrettoPoint, RistrettoPoint)],
) {
    for (t, c) in total.iter_mut().zip(cts) {
        t.0 += c.0;
        t.1 += c.1;
    }
}

/// Running totals as wire ciphertexts.
pub fn to_ciphertexts(total: &[(RistrettoPoint, RistrettoPoint)]) -> Vec<Ciphertext> {
    total
        .iter()
        .map(|(a, b)| Ciphertext {
            a: Point::from_point(*a),
            b: Point::from_point(*b),
        })
        .collect()
}

/// Making proofs, for the auditor's synthetic chains and tests only.
#[cfg(any(test, feature = "test-support"))]
pub mod prove;

#[cfg(test)]
mod vectors;

#[cfg(test)]
mod tests {
    use super::prove::{Encryptor, ceremony};
    use super::*;

    fn ctx(voter: u8) -> BallotContext {
        BallotContext {
            chain_id: [1; 32],
            election_id: 1,
            nullifier: [voter; 32],
            origin: [2; 32],
        }
    }

    #[test]
    fn a_batch_holds_exactly_when_every_ballot_verifies() {
        let (trustees, _) = ceremony(1, 3, 2, b"batch test");
        let key = ElectionKey::from_round1(1, &trustees).unwrap();
        let enc = Encryptor::new(key.public_key);
        let ballots: Vec<(BallotContext, EncryptedBallot)> = (0..20u8)
            .map(|v| (ctx(v), enc.ballot(&ctx(v), usize::from(v) % 3, 3, &[v])))
            .collect();
        fn items(b: &[(BallotContext, EncryptedBallot)]) -> Vec<(BallotContext, &EncryptedBallot)> {
            b.iter().map(|(c, b)| (*c, b)).collect()
        }
        assert!(ballots_hold_together(&items(&ballots), &key, 3));
        assert!(!ballots_hold_together(&items(&ballots), &key, 4));

        // Responses off by +d and -d in two ballots: with equal weights the
        // errors would cancel; the hashed weights differ, so they do not.
        let mut spoiled = ballots.clone();
        let d = Scalar::from(5u64);
        spoiled[4].1.sum_proof.z = Sc(spoiled[4].1.sum_proof.z.0 + d);
        spoiled[9].1.sum_proof.z = Sc(spoiled[9].1.sum_proof.z.0 - d);
        assert!(!ballots_hold_together(&items(&spoiled), &key, 3));
        for (i, (c, b)) in spoiled.iter().enumerate() {
            let alone = verify_ballot(c, &key, b, 3);
            assert_eq!(alone.is_ok(), i != 4 && i != 9, "ballot {i}");
        }
        // One ballot checked in another voter's context.
        let mut moved = items(&ballots);
        moved[7].0 = ctx(200);
        assert!(!ballots_hold_together(&moved, &key, 3));
        assert_eq!(
            verify_ballot(&moved[7].0, &key, moved[7].1, 3),
            Err(CryptoError::BadZeroOneProof(0))
        );
    }
}
