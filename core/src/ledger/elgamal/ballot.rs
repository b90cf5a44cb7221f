//! Encrypted ballots: exponential ElGamal on Ristretto255, a disjunctive
//! Chaum–Pedersen proof that each ciphertext encrypts 0 or 1, and a
//! Chaum–Pedersen proof that the ciphertexts sum to an encryption of 1.
//!
//! Proofs are in commitment form: they carry their commitments, and the
//! verifier recomputes the Fiat–Shamir challenge from them. Verifying is
//! in `verify.rs`.

use std::sync::LazyLock;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE as G_TABLE;
use curve25519_dalek::ristretto::{RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

use super::encoding::{Point, PublicScalar, SecretScalar};
use super::error::CryptoError;
use super::transcript::{TAG_SUM, TAG_ZERO_ONE, Transcript};
use super::{MAX_CANDIDATES, check_candidate_count, random_scalar};
use crate::ledger::bytes::{Hash32, PublicKey};

/// What every proof of a ballot is bound to: a ballot (or one of its
/// proofs) copied to another chain, election, voter or appliance does not
/// verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotContext {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub nullifier: Hash32,
    /// The Ed25519 public key of the appliance that accepts the ballot.
    pub origin: PublicKey,
}

impl BallotContext {
    pub(crate) fn write(&self, t: &mut Transcript) {
        t.field(self.chain_id.as_bytes())
            .u64(self.election_id)
            .field(self.nullifier.as_bytes())
            .field(self.origin.as_bytes());
    }
}

/// An exponential-ElGamal ciphertext `(A, B) = (rG, mG + rH)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ciphertext {
    pub a: Point,
    pub b: Point,
}

impl Ciphertext {
    /// `(rG, mG + rH)` for any `m` (tests build invalid ballots with it).
    pub fn encrypt(key: &EncryptionKey, m: &Scalar, r: &Scalar) -> Self {
        Self {
            a: Point::from_point(r * G_TABLE),
            b: Point::from_point(m * G_TABLE + key.mul(r)),
        }
    }

    /// `(rG, mG + rH)` for `m` = 1 if `is_one` else 0, in constant time in
    /// `is_one` and `r`.
    pub fn encrypt_bit(key: &EncryptionKey, is_one: Choice, r: &Scalar) -> Self {
        let m_g_half =
            RistrettoPoint::conditional_select(&RistrettoPoint::identity(), &G_HALF, is_one);
        let r_half = r * *HALF;
        let [a, b] = Point::doubles_of(&[&r_half * G_TABLE, m_g_half + key.mul(&r_half)])[..]
        else {
            unreachable!("two points in, two out")
        };
        Self { a, b }
    }

    /// The encryption of 0 with randomness 0: the neutral element of
    /// [`Ciphertext::add`].
    pub fn zero() -> Self {
        Self {
            a: Point::identity(),
            b: Point::identity(),
        }
    }

    /// The homomorphic sum: it encrypts the sum of the plaintexts.
    pub fn add(&self, other: &Ciphertext) -> Result<Ciphertext, CryptoError> {
        Ok(Self {
            a: Point::from_point(self.a.decode()? + other.a.decode()?),
            b: Point::from_point(self.b.decode()? + other.b.decode()?),
        })
    }

    pub(crate) fn write(&self, t: &mut Transcript) {
        t.point(&self.a).point(&self.b);
    }
}

/// An election public key `H` with its table of multiples, for making
/// ballots: a multiple of `H` from the table takes a third of the time of
/// a variable-base multiplication (the table costs about a millisecond to
/// build, so it is built once per election and shared).
#[derive(Clone)]
pub struct EncryptionKey {
    point: Point,
    table: RistrettoBasepointTable,
}

impl EncryptionKey {
    /// Refuses the identity, under which every ciphertext is readable.
    pub fn new(pk: &Point) -> Result<Self, CryptoError> {
        check_public_key(pk)?;
        Ok(Self {
            point: *pk,
            table: RistrettoBasepointTable::create(&pk.decode()?),
        })
    }

    pub fn point(&self) -> &Point {
        &self.point
    }

    /// `x·H`, in constant time in `x`.
    fn mul(&self, x: &Scalar) -> RistrettoPoint {
        x * &self.table
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({})", self.point)
    }
}

/// Proof that a ciphertext `(A, B)` encrypts 0 or 1, in commitment form:
/// branch `j` claims `log_G A = log_H (B - jG)` with commitments `(U_j, V_j)`,
/// challenge `c_j` and response `z_j`. `c0` is sent; `c1 = c - c0`, where
/// `c` is the challenge of the transcript over the commitments. Sending the
/// commitments (rather than recomputing them from the challenges) is what
/// lets a verifier check many proofs in one multiscalar multiplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroOneProof {
    pub u0: Point,
    pub v0: Point,
    pub u1: Point,
    pub v1: Point,
    pub c0: PublicScalar,
    pub z0: PublicScalar,
    pub z1: PublicScalar,
}

/// A challenge and a response: a partial-decryption proof, a dealer's
/// proof of knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResponse {
    pub c: PublicScalar,
    pub z: PublicScalar,
}

/// Proof that the ciphertexts of a ballot sum to an encryption of 1, in
/// commitment form: `(U, V)` commit to the summed randomness `R` with
/// `ΣA = RG` and `ΣB - G = RH`; `z` answers the transcript's challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumProof {
    pub u: Point,
    pub v: Point,
    pub z: PublicScalar,
}

/// One candidate's ciphertext and its 0/1 proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub ciphertext: Ciphertext,
    pub proof: ZeroOneProof,
}

/// An encrypted ballot: one selection per candidate, in genesis order, and
/// the proof that exactly one of them encrypts 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedBallot {
    pub selections: Vec<Selection>,
    pub sum_proof: SumProof,
}

impl EncryptedBallot {
    pub fn ciphertexts(&self) -> impl ExactSizeIterator<Item = &Ciphertext> {
        self.selections.iter().map(|s| &s.ciphertext)
    }
}

impl ZeroOneProof {
    pub fn commitments(&self) -> [&Point; 4] {
        [&self.u0, &self.v0, &self.u1, &self.v1]
    }
}

/// The transcript of a 0/1 proof, up to and including its commitments
/// `U0, V0, U1, V1`.
pub fn zero_one_transcript(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    pk: &Point,
    ct: &Ciphertext,
    commitments: [&Point; 4],
) -> Transcript {
    let mut t = Transcript::new(TAG_ZERO_ONE);
    ctx.write(&mut t);
    t.u64(candidates as u64).u64(index as u64).point(pk);
    ct.write(&mut t);
    for p in commitments {
        t.point(p);
    }
    t
}

/// The transcript of a sum proof, up to and including its commitments
/// `U, V`.
pub fn sum_transcript<'a>(
    ctx: &BallotContext,
    pk: &Point,
    cts: impl ExactSizeIterator<Item = &'a Ciphertext>,
    commitments: [&Point; 2],
) -> Transcript {
    let mut t = Transcript::new(TAG_SUM);
    ctx.write(&mut t);
    t.u64(cts.len() as u64).point(pk);
    for ct in cts {
        ct.write(&mut t);
    }
    for p in commitments {
        t.point(p);
    }
    t
}

/// 1/2 mod ℓ: a point computed halved is encoded with its double in a
/// batch ([`Point::doubles_of`]), so every point a prover makes is computed
/// from halved scalars.
static HALF: LazyLock<Scalar> = LazyLock::new(|| Scalar::from(2u64).invert());
/// `G / 2`.
static G_HALF: LazyLock<RistrettoPoint> = LazyLock::new(|| &*HALF * G_TABLE);

/// Proves that `ct = Enc_H(m; r)` encrypts `m ∈ {0, 1}` (`m` is 1 when
/// `is_one` is set). The prover knows `r`, so every commitment is a sum of
/// multiples of `G` and `H` from fixed-base tables: the real branch
/// `(uG, uH)`, the simulated branch `s = 1 - m` with `w = z_s - c_s r`:
/// `U_s = z_s G - c_s A = wG` and `V_s = z_s H - c_s (B - sG) = wH - c_s (m - s) G`.
/// Constant time in `is_one` and `r`: the same operations run whichever
/// branch is real, and `subtle` selections put them in place.
///
/// If `ct` does not encrypt `m` with `r`, the proof does not verify.
#[allow(clippy::too_many_arguments)]
pub fn prove_zero_one(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    key: &EncryptionKey,
    ct: &Ciphertext,
    is_one: Choice,
    r: &Scalar,
    rng: &mut (impl RngCore + CryptoRng),
) -> ZeroOneProof {
    let mut u = random_scalar(rng);
    let mut c_sim = random_scalar(rng);
    let mut z_sim = random_scalar(rng);
    let mut w = z_sim - c_sim * r;
    // -c_s (m - s): c_s when m = 0 (s = 1), -c_s when m = 1 (s = 0).
    let mut k = Scalar::conditional_select(&c_sim, &-c_sim, is_one);
    let half = *HALF;
    let (mut u_h, mut w_h, mut k_h) = (u * half, w * half, k * half);
    let real = [&u_h * G_TABLE, key.mul(&u_h)];
    let sim = [&w_h * G_TABLE, key.mul(&w_h) + &k_h * G_TABLE];
    let pick = |zero: &RistrettoPoint, one: &RistrettoPoint| {
        RistrettoPoint::conditional_select(zero, one, is_one)
    };
    let halves = [
        pick(&real[0], &sim[0]),
        pick(&real[1], &sim[1]),
        pick(&sim[0], &real[0]),
        pick(&sim[1], &real[1]),
    ];
    let [u0, v0, u1, v1] = Point::doubles_of(&halves)[..] else {
        unreachable!("four points in, four out")
    };
    let c = zero_one_transcript(ctx, candidates, index, &key.point, ct, [&u0, &v0, &u1, &v1])
        .challenge();
    let mut c_real = c - c_sim;
    let mut z_real = u + c_real * r;
    let proof = ZeroOneProof {
        u0,
        v0,
        u1,
        v1,
        c0: Scalar::conditional_select(&c_real, &c_sim, is_one).into(),
        z0: Scalar::conditional_select(&z_real, &z_sim, is_one).into(),
        z1: Scalar::conditional_select(&z_sim, &z_real, is_one).into(),
    };
    for s in [
        &mut u,
        &mut c_sim,
        &mut z_sim,
        &mut w,
        &mut k,
        &mut u_h,
        &mut w_h,
        &mut k_h,
        &mut c_real,
        &mut z_real,
    ] {
        s.zeroize();
    }
    proof
}

/// Proves that the ciphertexts sum to an encryption of 1 under the summed
/// randomness `r_sum`: knowledge of `R` with `ΣA = RG` and `ΣB - G = RH`.
pub fn prove_sum(
    ctx: &BallotContext,
    key: &EncryptionKey,
    cts: &[&Ciphertext],
    r_sum: &Scalar,
    rng: &mut (impl RngCore + CryptoRng),
) -> SumProof {
    let mut u = random_scalar(rng);
    let mut u_h = u * *HALF;
    let [big_u, big_v] = Point::doubles_of(&[&u_h * G_TABLE, key.mul(&u_h)])[..] else {
        unreachable!("two points in, two out")
    };
    let c = sum_transcript(ctx, &key.point, cts.iter().copied(), [&big_u, &big_v]).challenge();
    let z = u + c * r_sum;
    u.zeroize();
    u_h.zeroize();
    SumProof {
        u: big_u,
        v: big_v,
        z: z.into(),
    }
}

fn check_public_key(pk: &Point) -> Result<(), CryptoError> {
    if pk.is_identity() {
        return Err(CryptoError::IdentityPublicKey);
    }
    Ok(())
}

/// Encrypts a vote for `candidate_index` (0-based, genesis order) among
/// `candidates`, with every proof bound to `ctx`. Constant time in
/// `candidate_index` and in the randomness; all randomness comes from
/// `rng` and is zeroized before returning.
pub fn encrypt_ballot(
    ctx: &BallotContext,
    key: &EncryptionKey,
    candidate_index: usize,
    candidates: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<EncryptedBallot, CryptoError> {
    encrypt_ballot_opened(ctx, key, candidate_index, candidates, rng).map(|(ballot, _)| ballot)
}

/// [`encrypt_ballot`], also returning the randomness `r_i` behind each
/// ciphertext (zeroized when dropped): a booth holds it while the voter
/// decides whether to cast the ballot or to check it, and reveals it only
/// for a ballot checked and so spoiled (PROTOCOL.md §4e).
pub fn encrypt_ballot_opened(
    ctx: &BallotContext,
    key: &EncryptionKey,
    candidate_index: usize,
    candidates: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(EncryptedBallot, Vec<SecretScalar>), CryptoError> {
    check_candidate_count(candidates)?;
    if candidate_index >= candidates {
        return Err(CryptoError::CandidateOutOfRange {
            index: candidate_index,
            candidates,
        });
    }
    let chosen = candidate_index as u64;
    let mut r_sum = Scalar::ZERO;
    let mut cts = Vec::with_capacity(candidates);
    let mut selections = Vec::with_capacity(candidates);
    let mut randomness = Vec::with_capacity(candidates);
    for i in 0..candidates {
        let is_one = (i as u64).ct_eq(&chosen);
        let r = SecretScalar::new(random_scalar(rng));
        let ciphertext = Ciphertext::encrypt_bit(key, is_one, r.expose());
        let proof = prove_zero_one(
            ctx,
            candidates,
            i,
            key,
            &ciphertext,
            is_one,
            r.expose(),
            rng,
        );
        r_sum += r.expose();
        randomness.push(r);
        cts.push(ciphertext);
        selections.push(Selection { ciphertext, proof });
    }
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let sum_proof = prove_sum(ctx, key, &refs, &r_sum, rng);
    r_sum.zeroize();
    let ballot = EncryptedBallot {
        selections,
        sum_proof,
    };
    Ok((ballot, randomness))
}

/// What the randomness `r` opens the ciphertext `(A, B)` to under the
/// election key `pk`: `Some(m)` with `m` 0 or 1 when `A = rG` and
/// `B - rH = mG`, `None` when `r` is not the ciphertext's randomness or
/// the plaintext is neither 0 nor 1. Variable time: it is used on
/// randomness already made public (a spoiled ballot's).
pub fn open_bit(pk: &Point, ct: &Ciphertext, r: &Scalar) -> Result<Option<bool>, CryptoError> {
    let (a, b, h) = (ct.a.decode()?, ct.b.decode()?, pk.decode()?);
    if a != r * G_TABLE {
        return Ok(None);
    }
    let m = b - h * r;
    Ok(if m == RistrettoPoint::identity() {
        Some(false)
    } else if m == G_TABLE.basepoint() {
        Some(true)
    } else {
        None
    })
}

/// The per-candidate homomorphic sum of `ballots`: candidate `i`'s entry
/// encrypts the number of ballots that chose `i`. Callers aggregate only
/// ballots that verified. With no ballots every entry is [`Ciphertext::zero`].
pub fn aggregate<'a>(
    ballots: impl IntoIterator<Item = &'a EncryptedBallot>,
    candidates: usize,
) -> Result<Vec<Ciphertext>, CryptoError> {
    check_candidate_count(candidates)?;
    let mut sums = vec![(RistrettoPoint::identity(), RistrettoPoint::identity()); candidates];
    for ballot in ballots {
        if ballot.selections.len() != candidates {
            return Err(CryptoError::WrongLength {
                what: "ballot selections",
                expected: candidates,
                found: ballot.selections.len(),
            });
        }
        for (sum, ct) in sums.iter_mut().zip(ballot.ciphertexts()) {
            sum.0 += ct.a.decode()?;
            sum.1 += ct.b.decode()?;
        }
    }
    debug_assert!(sums.len() <= MAX_CANDIDATES);
    Ok(sums
        .into_iter()
        .map(|(a, b)| Ciphertext {
            a: Point::from_point(a),
            b: Point::from_point(b),
        })
        .collect())
}
