//! Checking ballots: each proof's equations exactly, or many ballots'
//! equations at once in one random linear combination (batch
//! verification).
//!
//! Every check of a ballot is an equation `x·G + y·H = Σ kᵢ·Pᵢ` between
//! public points. A batch multiplies each equation by its own 128-bit
//! weight and adds them up; the sum holds for every weight only if every
//! equation holds, and a false equation slips through with probability
//! at most 2^-128. The weights come from SHA-512 over everything the
//! equations contain (keys, contexts, ciphertexts, commitments, responses),
//! so a prover cannot choose its proof after seeing them. One multiscalar
//! multiplication of a batch costs much less than the two per equation of
//! checking proofs one by one; when a batch fails, each ballot is checked
//! on its own and a failing one exactly, proof by proof, so that the error
//! names the first failing proof as PROTOCOL.md E.3 orders them.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use super::ballot::{
    BallotContext, Ciphertext, EncryptedBallot, SumProof, ZeroOneProof, sum_transcript,
    zero_one_transcript,
};
use super::check_candidate_count;
use super::encoding::Point;
use super::error::CryptoError;

/// Tag of the hash the batch weights come from.
const TAG_WEIGHTS: &[u8] = b"evote/v1/batch-weights";
/// Ballots in one multiscalar multiplication at most: past a few hundred
/// points Pippenger's method gains little more, and a failed batch is
/// checked again ballot by ballot.
pub const MAX_BATCH: usize = 256;

/// `c1 = c - c0`: branch 1's challenge.
fn zero_one_challenges(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    pk: &Point,
    ct: &Ciphertext,
    proof: &ZeroOneProof,
) -> (Scalar, Scalar) {
    let c = zero_one_transcript(ctx, candidates, index, pk, ct, proof.commitments()).challenge();
    let c0 = proof.c0.0;
    (c0, c - c0)
}

/// One selection's points, decoded: `A, B, U0, V0, U1, V1`.
type SelectionPoints = [RistrettoPoint; 6];

fn selection_points(ct: &Ciphertext, p: &ZeroOneProof) -> Result<SelectionPoints, CryptoError> {
    let (a, b) = (ct.a.decode()?, ct.b.decode()?);
    // The running tally adds the ciphertext when its block commits.
    super::memo::remember(&[(*ct.a.as_bytes(), a), (*ct.b.as_bytes(), b)]);
    Ok([
        a,
        b,
        p.u0.decode()?,
        p.v0.decode()?,
        p.u1.decode()?,
        p.v1.decode()?,
    ])
}

/// A ballot's points, decoded once for all its checks: every selection's,
/// then the sum proof's `U, V`.
struct BallotPoints {
    selections: Vec<SelectionPoints>,
    sum: [RistrettoPoint; 2],
}

fn ballot_points(ballot: &EncryptedBallot) -> Result<BallotPoints, CryptoError> {
    Ok(BallotPoints {
        selections: ballot
            .selections
            .iter()
            .map(|s| selection_points(&s.ciphertext, &s.proof))
            .collect::<Result<_, _>>()?,
        sum: [ballot.sum_proof.u.decode()?, ballot.sum_proof.v.decode()?],
    })
}

/// `z0 G = U0 + c0 A`, `z0 H = V0 + c0 B`, `z1 G = U1 + c1 A`,
/// `z1 H = V1 + c1 (B - G)`, each computed on its own.
fn zero_one_holds(
    h: &RistrettoPoint,
    pts: &SelectionPoints,
    proof: &ZeroOneProof,
    c1: Scalar,
) -> bool {
    let [a, b, u0, v0, u1, v1] = pts;
    let (c0, z0, z1) = (proof.c0.0, proof.z0.0, proof.z1.0);
    RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c0, a, &z0) == *u0
        && RistrettoPoint::vartime_multiscalar_mul([z0, -c0], [*h, *b]) == *v0
        && RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c1, a, &z1) == *u1
        && RistrettoPoint::vartime_multiscalar_mul([z1, -c1, c1], [*h, *b, G]) == *v1
}

/// Checks a 0/1 proof exactly: `z0 G = U0 + c0 A`, `z0 H = V0 + c0 B`,
/// `z1 G = U1 + c1 A`, `z1 H = V1 + c1 (B - G)`. A point that decodes to
/// no group element fails it.
pub fn verify_zero_one(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    pk: &Point,
    ct: &Ciphertext,
    proof: &ZeroOneProof,
) -> bool {
    let (Ok(h), Ok(pts)) = (pk.decode(), selection_points(ct, proof)) else {
        return false;
    };
    let (_, c1) = zero_one_challenges(ctx, candidates, index, pk, ct, proof);
    zero_one_holds(&h, &pts, proof, c1)
}

/// `z G = U + c ΣA` and `z H = V + c (ΣB - G)`.
fn sum_holds(
    h: &RistrettoPoint,
    sums: [RistrettoPoint; 2],
    uv: [RistrettoPoint; 2],
    z: Scalar,
    c: Scalar,
) -> bool {
    let [a, b] = sums;
    RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &a, &z) == uv[0]
        && RistrettoPoint::vartime_multiscalar_mul([z, -c, c], [*h, b, G]) == uv[1]
}

/// Checks a sum proof exactly: `z G = U + c ΣA`, `z H = V + c (ΣB - G)`.
/// A point that decodes to no group element fails it.
pub fn verify_sum(ctx: &BallotContext, pk: &Point, cts: &[&Ciphertext], proof: &SumProof) -> bool {
    let decoded = || -> Result<_, CryptoError> {
        let mut sums = [RistrettoPoint::identity(); 2];
        for ct in cts {
            sums[0] += ct.a.decode()?;
            sums[1] += ct.b.decode()?;
        }
        Ok((pk.decode()?, sums, [proof.u.decode()?, proof.v.decode()?]))
    };
    let Ok((h, sums, uv)) = decoded() else {
        return false;
    };
    let c = sum_transcript(ctx, pk, cts.iter().copied(), [&proof.u, &proof.v]).challenge();
    sum_holds(&h, sums, uv, proof.z.0, c)
}

/// The shape checks of E.3, steps 1-3.
fn check_shape(pk: &Point, ballot: &EncryptedBallot, candidates: usize) -> Result<(), CryptoError> {
    check_candidate_count(candidates)?;
    if pk.is_identity() {
        return Err(CryptoError::IdentityPublicKey);
    }
    if ballot.selections.len() != candidates {
        return Err(CryptoError::WrongLength {
            what: "ballot selections",
            expected: candidates,
            found: ballot.selections.len(),
        });
    }
    Ok(())
}

/// Checks a ballot's proofs one by one, in the order of E.3; the first
/// failure is the error.
fn verify_exactly(
    ctx: &BallotContext,
    pk: &Point,
    h: &RistrettoPoint,
    ballot: &EncryptedBallot,
    pts: &BallotPoints,
    candidates: usize,
) -> Result<(), CryptoError> {
    for (i, (s, p)) in ballot.selections.iter().zip(&pts.selections).enumerate() {
        let (_, c1) = zero_one_challenges(ctx, candidates, i, pk, &s.ciphertext, &s.proof);
        if !zero_one_holds(h, p, &s.proof, c1) {
            return Err(CryptoError::BadZeroOneProof { index: i });
        }
    }
    let cts: Vec<&Ciphertext> = ballot.ciphertexts().collect();
    let sp = &ballot.sum_proof;
    let c = sum_transcript(ctx, pk, cts.iter().copied(), [&sp.u, &sp.v]).challenge();
    let mut sums = [RistrettoPoint::identity(); 2];
    for p in &pts.selections {
        sums[0] += p[0];
        sums[1] += p[1];
    }
    if !sum_holds(h, sums, pts.sum, sp.z.0, c) {
        return Err(CryptoError::BadSumProof);
    }
    Ok(())
}

/// The weighted sum of many ballots' equations, as the scalars of `G` and
/// `H` and a list of (scalar, point) terms; it is the identity if every
/// equation holds.
struct Batch {
    g: Scalar,
    h: Scalar,
    terms: Vec<(Scalar, RistrettoPoint)>,
    weights: Weights,
}

/// 128-bit weights drawn from a SHA-512 seed, one hash per weight.
struct Weights {
    seed: [u8; 64],
    next: u64,
}

impl Weights {
    fn next(&mut self) -> Scalar {
        let d = Sha512::new()
            .chain_update(self.seed)
            .chain_update(self.next.to_be_bytes())
            .finalize();
        self.next += 1;
        let mut w = [0u8; 32];
        w[..16].copy_from_slice(&d[..16]);
        Scalar::from_bytes_mod_order(w)
    }
}

/// The seed: every byte of every equation of the batch.
fn seed(pk: &Point, items: &[(BallotContext, &EncryptedBallot)], candidates: usize) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(TAG_WEIGHTS);
    h.update(pk.as_bytes());
    h.update((candidates as u64).to_be_bytes());
    for (ctx, ballot) in items {
        h.update(ctx.chain_id.as_bytes());
        h.update(ctx.election_id.to_be_bytes());
        h.update(ctx.nullifier.as_bytes());
        h.update(ctx.origin.as_bytes());
        for s in &ballot.selections {
            let p = &s.proof;
            for pt in [&s.ciphertext.a, &s.ciphertext.b, &p.u0, &p.v0, &p.u1, &p.v1] {
                h.update(pt.as_bytes());
            }
            for x in [&p.c0, &p.z0, &p.z1] {
                h.update(x.0.as_bytes());
            }
        }
        let sp = &ballot.sum_proof;
        h.update(sp.u.as_bytes());
        h.update(sp.v.as_bytes());
        h.update(sp.z.0.as_bytes());
    }
    h.finalize().into()
}

impl Batch {
    fn new(seed: [u8; 64], ballots: usize, candidates: usize) -> Self {
        Self {
            g: Scalar::ZERO,
            h: Scalar::ZERO,
            terms: Vec::with_capacity(ballots * (6 * candidates + 2)),
            weights: Weights { seed, next: 0 },
        }
    }

    /// Adds the 4n + 2 equations of one ballot (its shape checked, its
    /// points decoded).
    fn add(
        &mut self,
        ctx: &BallotContext,
        pk: &Point,
        ballot: &EncryptedBallot,
        pts: &BallotPoints,
    ) {
        let n = ballot.selections.len();
        let cts: Vec<&Ciphertext> = ballot.ciphertexts().collect();
        let sp = &ballot.sum_proof;
        let c = sum_transcript(ctx, pk, cts.iter().copied(), [&sp.u, &sp.v]).challenge();
        // z G = U + c ΣA and z H = V + c (ΣB - G): the c ΣA and c ΣB terms
        // are spread over the ciphertexts below.
        let (ws1, ws2) = (self.weights.next(), self.weights.next());
        self.g += ws1 * sp.z.0 + ws2 * c;
        self.h += ws2 * sp.z.0;
        self.terms.push((-ws1, pts.sum[0]));
        self.terms.push((-ws2, pts.sum[1]));
        for (i, (s, p)) in ballot.selections.iter().zip(&pts.selections).enumerate() {
            let proof = &s.proof;
            let (c0, c1) = zero_one_challenges(ctx, n, i, pk, &s.ciphertext, proof);
            let w: [Scalar; 4] = std::array::from_fn(|_| self.weights.next());
            let (z0, z1) = (proof.z0.0, proof.z1.0);
            self.g += w[0] * z0 + w[2] * z1 + w[3] * c1;
            self.h += w[1] * z0 + w[3] * z1;
            for k in 0..4 {
                self.terms.push((-w[k], p[2 + k]));
            }
            let on_a = w[0] * c0 + w[2] * c1 + ws1 * c;
            let on_b = w[1] * c0 + w[3] * c1 + ws2 * c;
            self.terms.push((-on_a, p[0]));
            self.terms.push((-on_b, p[1]));
        }
    }

    fn holds(self, h: &RistrettoPoint) -> bool {
        let scalars = [self.g, self.h]
            .into_iter()
            .chain(self.terms.iter().map(|t| t.0));
        let points = [G, *h].into_iter().chain(self.terms.iter().map(|t| t.1));
        RistrettoPoint::vartime_multiscalar_mul(scalars, points).is_identity()
    }
}

/// Whether every equation of `items` holds (their shapes checked, their
/// points decoded).
fn batch_holds(
    pk: &Point,
    h: &RistrettoPoint,
    items: &[(BallotContext, &EncryptedBallot, &BallotPoints)],
    candidates: usize,
) -> bool {
    let ballots: Vec<(BallotContext, &EncryptedBallot)> =
        items.iter().map(|(c, b, _)| (*c, *b)).collect();
    let mut batch = Batch::new(seed(pk, &ballots, candidates), items.len(), candidates);
    for (ctx, ballot, pts) in items {
        batch.add(ctx, pk, ballot, pts);
    }
    batch.holds(h)
}

/// The checks of E.3 before the proofs, and the ballot's points decoded.
fn prepare(
    pk: &Point,
    ballot: &EncryptedBallot,
    candidates: usize,
) -> Result<BallotPoints, CryptoError> {
    check_shape(pk, ballot, candidates)?;
    ballot_points(ballot)
}

/// Verifies a ballot for an election with `candidates` candidates under
/// the election public key `pk`. Needs nothing secret, so it accepts
/// ballots encrypted anywhere (an appliance, a voter's device).
///
/// Checks, in order: the candidate count is in 1..=256, `pk` is not the
/// identity, there is one selection per candidate, every point decodes,
/// each 0/1 proof in candidate order, then the sum proof. The first
/// failure is returned. The proofs are checked as one batch; only a ballot
/// that fails it is checked proof by proof, to name the failure.
pub fn verify_ballot(
    ctx: &BallotContext,
    pk: &Point,
    ballot: &EncryptedBallot,
    candidates: usize,
) -> Result<(), CryptoError> {
    let pts = prepare(pk, ballot, candidates)?;
    let h = pk.decode()?;
    if batch_holds(pk, &h, &[(*ctx, ballot, &pts)], candidates) {
        return Ok(());
    }
    // The exact checks are the definition (a batch of true equations
    // always holds); they also name the proof that failed.
    verify_exactly(ctx, pk, &h, ballot, &pts, candidates)
}

/// Verifies many ballots of one election; one result per ballot, in
/// order, the same results as [`verify_ballot`] on each.
///
/// Ballots are checked in batches of up to [`MAX_BATCH`]. A batch that
/// fails is checked again ballot by ballot. Pure, so callers may split
/// `items` over threads as they like.
pub fn verify_ballots(
    items: &[(BallotContext, &EncryptedBallot)],
    pk: &Point,
    candidates: usize,
) -> Vec<Result<(), CryptoError>> {
    let h = match pk.decode() {
        Ok(h) => h,
        Err(e) => return vec![Err(e.into()); items.len()],
    };
    let prepared: Vec<Result<BallotPoints, CryptoError>> = items
        .iter()
        .map(|(_, b)| prepare(pk, b, candidates))
        .collect();
    let mut out: Vec<Result<(), CryptoError>> = prepared
        .iter()
        .map(|p| p.as_ref().map(|_| ()).map_err(Clone::clone))
        .collect();
    let ready: Vec<(usize, &BallotPoints)> = prepared
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_ref().ok().map(|p| (i, p)))
        .collect();
    for chunk in ready.chunks(MAX_BATCH) {
        let batch: Vec<(BallotContext, &EncryptedBallot, &BallotPoints)> = chunk
            .iter()
            .map(|&(i, p)| (items[i].0, items[i].1, p))
            .collect();
        if batch_holds(pk, &h, &batch, candidates) {
            continue;
        }
        for &(i, p) in chunk {
            let (ctx, ballot) = items[i];
            out[i] = if batch_holds(pk, &h, &[(ctx, ballot, p)], candidates) {
                Ok(())
            } else {
                verify_exactly(&ctx, pk, &h, ballot, p, candidates)
            };
        }
    }
    out
}
