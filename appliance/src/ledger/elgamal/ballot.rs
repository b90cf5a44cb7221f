//! Encrypted ballots: exponential ElGamal on Ristretto255, a disjunctive
//! Chaum–Pedersen proof that each ciphertext encrypts 0 or 1, and a
//! Chaum–Pedersen proof that the ciphertexts sum to an encryption of 1.
//!
//! Proofs are in the compact challenge/response form: the verifier
//! recomputes the commitments from (challenge, response) and checks that
//! hashing them gives back the challenge.

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, MultiscalarMul, VartimeMultiscalarMul};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

use super::encoding::{Point, PublicScalar};
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
    fn write(&self, t: &mut Transcript) {
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
    /// `(rG, mG + rH)`, in constant time in `m` and `r`.
    pub fn encrypt(pk: &RistrettoPoint, m: &Scalar, r: &Scalar) -> Self {
        let a = r * RISTRETTO_BASEPOINT_TABLE;
        let b = RistrettoPoint::multiscalar_mul([*m, *r], [RISTRETTO_BASEPOINT_POINT, *pk]);
        Self {
            a: Point::from_point(a),
            b: Point::from_point(b),
        }
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
    pub fn add(&self, other: &Ciphertext) -> Ciphertext {
        Self {
            a: Point::from_point(self.a.point() + other.a.point()),
            b: Point::from_point(self.b.point() + other.b.point()),
        }
    }

    fn write(&self, t: &mut Transcript) {
        t.point(&self.a).point(&self.b);
    }
}

/// Proof that a ciphertext encrypts 0 or 1: `c0 + c1` is the challenge,
/// `(c_j, z_j)` answers the branch "encrypts j".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroOneProof {
    pub c0: PublicScalar,
    pub c1: PublicScalar,
    pub z0: PublicScalar,
    pub z1: PublicScalar,
}

/// A challenge and a response: the sum proof, a partial-decryption proof,
/// a dealer's proof of knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeResponse {
    pub c: PublicScalar,
    pub z: PublicScalar,
}

/// Proof that the ciphertexts of a ballot sum to an encryption of 1.
pub type SumProof = ChallengeResponse;

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

/// Proves that `ct = Enc_pk(m; r)` encrypts `m ∈ {0, 1}` (`m` is 1 when
/// `is_one` is set). Constant time in `is_one` and `r`: both branches are
/// computed with the same operations, the real one selected with `subtle`.
///
/// If `ct` does not encrypt `m` with `r`, the proof does not verify.
#[allow(clippy::too_many_arguments)]
pub fn prove_zero_one(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    pk: &Point,
    ct: &Ciphertext,
    is_one: Choice,
    r: &Scalar,
    rng: &mut (impl RngCore + CryptoRng),
) -> ZeroOneProof {
    let g = RISTRETTO_BASEPOINT_POINT;
    let h = *pk.point();
    let a = *ct.a.point();
    let b = *ct.b.point();
    let b_minus_g = b - g;

    let mut u = random_scalar(rng);
    let mut c_sim = random_scalar(rng);
    let mut z_sim = random_scalar(rng);
    let mut neg_c_sim = -c_sim;
    // Branch j commits to x_j G + y_j A and x_j H + y_j (B - jG): the real
    // branch with (u, 0), the simulated one with (z_sim, -c_sim).
    let mut x0 = Scalar::conditional_select(&u, &z_sim, is_one);
    let mut y0 = Scalar::conditional_select(&Scalar::ZERO, &neg_c_sim, is_one);
    let mut x1 = Scalar::conditional_select(&z_sim, &u, is_one);
    let mut y1 = Scalar::conditional_select(&neg_c_sim, &Scalar::ZERO, is_one);
    let u0 = Point::from_point(RistrettoPoint::multiscalar_mul([x0, y0], [g, a]));
    let v0 = Point::from_point(RistrettoPoint::multiscalar_mul([x0, y0], [h, b]));
    let u1 = Point::from_point(RistrettoPoint::multiscalar_mul([x1, y1], [g, a]));
    let v1 = Point::from_point(RistrettoPoint::multiscalar_mul([x1, y1], [h, b_minus_g]));

    let c = zero_one_transcript(ctx, candidates, index, pk, ct, [&u0, &v0, &u1, &v1]).challenge();
    let mut c_real = c - c_sim;
    let mut z_real = u + c_real * r;
    let proof = ZeroOneProof {
        c0: Scalar::conditional_select(&c_real, &c_sim, is_one).into(),
        c1: Scalar::conditional_select(&c_sim, &c_real, is_one).into(),
        z0: Scalar::conditional_select(&z_real, &z_sim, is_one).into(),
        z1: Scalar::conditional_select(&z_sim, &z_real, is_one).into(),
    };
    for s in [
        &mut u,
        &mut c_sim,
        &mut z_sim,
        &mut neg_c_sim,
        &mut x0,
        &mut y0,
        &mut x1,
        &mut y1,
        &mut c_real,
        &mut z_real,
    ] {
        s.zeroize();
    }
    proof
}

/// The commitments `[U0, V0, U1, V1]` a verifier recomputes from a 0/1
/// proof: `U_j = z_j G - c_j A`, `V_0 = z_0 H - c_0 B`,
/// `V_1 = z_1 H - c_1 (B - G)` (variable time: everything is public).
pub fn zero_one_commitments(pk: &Point, ct: &Ciphertext, proof: &ZeroOneProof) -> [Point; 4] {
    let g = RISTRETTO_BASEPOINT_POINT;
    let h = *pk.point();
    let (a, b) = (ct.a.point(), ct.b.point());
    let (c0, c1) = (proof.c0.0, proof.c1.0);
    let (z0, z1) = (proof.z0.0, proof.z1.0);
    let u0 = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c0, a, &z0);
    let v0 = RistrettoPoint::vartime_multiscalar_mul([z0, -c0], [h, *b]);
    let u1 = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c1, a, &z1);
    let v1 = RistrettoPoint::vartime_multiscalar_mul([z1, -c1, c1], [h, *b, g]);
    [u0, v0, u1, v1].map(Point::from_point)
}

/// Checks a 0/1 proof: `c0 + c1` must equal the challenge of the
/// transcript over the recomputed commitments.
pub fn verify_zero_one(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    pk: &Point,
    ct: &Ciphertext,
    proof: &ZeroOneProof,
) -> bool {
    let [u0, v0, u1, v1] = zero_one_commitments(pk, ct, proof);
    let c = zero_one_transcript(ctx, candidates, index, pk, ct, [&u0, &v0, &u1, &v1]).challenge();
    proof.c0.0 + proof.c1.0 == c
}

fn sum_of(cts: &[&Ciphertext]) -> (RistrettoPoint, RistrettoPoint) {
    let a = cts.iter().map(|ct| ct.a.point()).sum();
    let b = cts.iter().map(|ct| ct.b.point()).sum();
    (a, b)
}

/// Proves that the ciphertexts sum to an encryption of 1 under the summed
/// randomness `r_sum`: knowledge of `R` with `ΣA = RG` and `ΣB - G = RH`.
pub fn prove_sum(
    ctx: &BallotContext,
    pk: &Point,
    cts: &[&Ciphertext],
    r_sum: &Scalar,
    rng: &mut (impl RngCore + CryptoRng),
) -> SumProof {
    let mut u = random_scalar(rng);
    let big_u = Point::from_point(&u * RISTRETTO_BASEPOINT_TABLE);
    let big_v = Point::from_point(pk.point() * u);
    let c = sum_transcript(ctx, pk, cts.iter().copied(), [&big_u, &big_v]).challenge();
    let z = u + c * r_sum;
    u.zeroize();
    ChallengeResponse {
        c: c.into(),
        z: z.into(),
    }
}

/// The commitments `[U, V]` a verifier recomputes from a sum proof:
/// `U = zG - c ΣA`, `V = zH - c (ΣB - G)` (variable time).
pub fn sum_commitments(pk: &Point, cts: &[&Ciphertext], proof: &SumProof) -> [Point; 2] {
    let (a, b) = sum_of(cts);
    let (c, z) = (proof.c.0, proof.z.0);
    let big_u = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &a, &z);
    let big_v = RistrettoPoint::vartime_multiscalar_mul(
        [z, -c, c],
        [*pk.point(), b, RISTRETTO_BASEPOINT_POINT],
    );
    [big_u, big_v].map(Point::from_point)
}

/// Checks a sum proof: `c` must equal the challenge of the transcript over
/// the recomputed commitments.
pub fn verify_sum(ctx: &BallotContext, pk: &Point, cts: &[&Ciphertext], proof: &SumProof) -> bool {
    let [big_u, big_v] = sum_commitments(pk, cts, proof);
    sum_transcript(ctx, pk, cts.iter().copied(), [&big_u, &big_v]).challenge() == proof.c.0
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
    pk: &Point,
    candidate_index: usize,
    candidates: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<EncryptedBallot, CryptoError> {
    check_candidate_count(candidates)?;
    if candidate_index >= candidates {
        return Err(CryptoError::CandidateOutOfRange {
            index: candidate_index,
            candidates,
        });
    }
    check_public_key(pk)?;
    let chosen = candidate_index as u64;
    let mut r_sum = Scalar::ZERO;
    let mut cts = Vec::with_capacity(candidates);
    let mut selections = Vec::with_capacity(candidates);
    for i in 0..candidates {
        let is_one = (i as u64).ct_eq(&chosen);
        let mut m = Scalar::conditional_select(&Scalar::ZERO, &Scalar::ONE, is_one);
        let mut r = random_scalar(rng);
        let ciphertext = Ciphertext::encrypt(pk.point(), &m, &r);
        let proof = prove_zero_one(ctx, candidates, i, pk, &ciphertext, is_one, &r, rng);
        r_sum += r;
        r.zeroize();
        m.zeroize();
        cts.push(ciphertext);
        selections.push(Selection { ciphertext, proof });
    }
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let sum_proof = prove_sum(ctx, pk, &refs, &r_sum, rng);
    r_sum.zeroize();
    Ok(EncryptedBallot {
        selections,
        sum_proof,
    })
}

/// Verifies a ballot for an election with `candidates` candidates under
/// the election public key `pk`. Needs nothing secret, so it accepts
/// ballots encrypted anywhere (an appliance, a voter's device).
///
/// Checks, in order: the candidate count is in 1..=256, `pk` is not the
/// identity, there is one selection per candidate, each 0/1 proof in
/// candidate order, then the sum proof. The first failure is returned.
pub fn verify_ballot(
    ctx: &BallotContext,
    pk: &Point,
    ballot: &EncryptedBallot,
    candidates: usize,
) -> Result<(), CryptoError> {
    check_candidate_count(candidates)?;
    check_public_key(pk)?;
    if ballot.selections.len() != candidates {
        return Err(CryptoError::WrongLength {
            what: "ballot selections",
            expected: candidates,
            found: ballot.selections.len(),
        });
    }
    for (i, s) in ballot.selections.iter().enumerate() {
        if !verify_zero_one(ctx, candidates, i, pk, &s.ciphertext, &s.proof) {
            return Err(CryptoError::BadZeroOneProof { index: i });
        }
    }
    let cts: Vec<&Ciphertext> = ballot.ciphertexts().collect();
    if !verify_sum(ctx, pk, &cts, &ballot.sum_proof) {
        return Err(CryptoError::BadSumProof);
    }
    Ok(())
}

/// Verifies many ballots; one result per ballot, in order.
///
/// This is per-ballot verification, not batch verification: in the compact
/// (challenge, response) form the commitments are not transmitted, so the
/// verifier must compute each one exactly to hash it, and equations of
/// different proofs cannot be merged into one random linear combination.
/// The function is pure and `Sync`-friendly: callers split `items` into
/// chunks and verify them on as many threads as they like.
pub fn verify_ballots(
    items: &[(BallotContext, &EncryptedBallot)],
    pk: &Point,
    candidates: usize,
) -> Vec<Result<(), CryptoError>> {
    items
        .iter()
        .map(|(ctx, ballot)| verify_ballot(ctx, pk, ballot, candidates))
        .collect()
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
            sum.0 += ct.a.point();
            sum.1 += ct.b.point();
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
