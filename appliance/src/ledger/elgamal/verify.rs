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
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
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

/// Checks a 0/1 proof exactly: `z0 G = U0 + c0 A`, `z0 H = V0 + c0 B`,
/// `z1 G = U1 + c1 A`, `z1 H = V1 + c1 (B - G)`.
pub fn verify_zero_one(
    ctx: &BallotContext,
    candidates: usize,
    index: usize,
    pk: &Point,
    ct: &Ciphertext,
    proof: &ZeroOneProof,
) -> bool {
    let (c0, c1) = zero_one_challenges(ctx, candidates, index, pk, ct, proof);
    let (h, a, b) = (*pk.point(), *ct.a.point(), *ct.b.point());
    let (z0, z1) = (proof.z0.0, proof.z1.0);
    RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c0, &a, &z0) == *proof.u0.point()
        && RistrettoPoint::vartime_multiscalar_mul([z0, -c0], [h, b]) == *proof.v0.point()
        && RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c1, &a, &z1) == *proof.u1.point()
        && RistrettoPoint::vartime_multiscalar_mul([z1, -c1, c1], [h, b, G]) == *proof.v1.point()
}

fn sum_of(cts: &[&Ciphertext]) -> (RistrettoPoint, RistrettoPoint) {
    let a = cts.iter().map(|ct| ct.a.point()).sum();
    let b = cts.iter().map(|ct| ct.b.point()).sum();
    (a, b)
}

/// Checks a sum proof exactly: `z G = U + c ΣA`, `z H = V + c (ΣB - G)`.
pub fn verify_sum(ctx: &BallotContext, pk: &Point, cts: &[&Ciphertext], proof: &SumProof) -> bool {
    let c = sum_transcript(ctx, pk, cts.iter().copied(), [&proof.u, &proof.v]).challenge();
    let (a, b) = sum_of(cts);
    let z = proof.z.0;
    RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &a, &z) == *proof.u.point()
        && RistrettoPoint::vartime_multiscalar_mul([z, -c, c], [*pk.point(), b, G])
            == *proof.v.point()
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
    ballot: &EncryptedBallot,
    candidates: usize,
) -> Result<(), CryptoError> {
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

    /// Adds the 4n + 2 equations of one ballot (its shape already checked).
    fn add(&mut self, ctx: &BallotContext, pk: &Point, ballot: &EncryptedBallot, n: usize) {
        let cts: Vec<&Ciphertext> = ballot.ciphertexts().collect();
        let sp = &ballot.sum_proof;
        let c = sum_transcript(ctx, pk, cts.iter().copied(), [&sp.u, &sp.v]).challenge();
        // z G = U + c ΣA and z H = V + c (ΣB - G): the c ΣA and c ΣB terms
        // are spread over the ciphertexts below.
        let (ws1, ws2) = (self.weights.next(), self.weights.next());
        self.g += ws1 * sp.z.0 + ws2 * c;
        self.h += ws2 * sp.z.0;
        self.terms.push((-ws1, *sp.u.point()));
        self.terms.push((-ws2, *sp.v.point()));
        for (i, s) in ballot.selections.iter().enumerate() {
            let p = &s.proof;
            let (c0, c1) = zero_one_challenges(ctx, n, i, pk, &s.ciphertext, p);
            let w: [Scalar; 4] = std::array::from_fn(|_| self.weights.next());
            let (z0, z1) = (p.z0.0, p.z1.0);
            self.g += w[0] * z0 + w[2] * z1 + w[3] * c1;
            self.h += w[1] * z0 + w[3] * z1;
            for (k, u) in [&p.u0, &p.v0, &p.u1, &p.v1].into_iter().enumerate() {
                self.terms.push((-w[k], *u.point()));
            }
            let on_a = w[0] * c0 + w[2] * c1 + ws1 * c;
            let on_b = w[1] * c0 + w[3] * c1 + ws2 * c;
            self.terms.push((-on_a, *s.ciphertext.a.point()));
            self.terms.push((-on_b, *s.ciphertext.b.point()));
        }
    }

    fn holds(self, pk: &Point) -> bool {
        let scalars = [self.g, self.h]
            .into_iter()
            .chain(self.terms.iter().map(|t| t.0));
        let points = [G, *pk.point()]
            .into_iter()
            .chain(self.terms.iter().map(|t| t.1));
        RistrettoPoint::vartime_multiscalar_mul(scalars, points).is_identity()
    }
}

/// Whether every equation of `items` holds (their shapes already checked).
fn batch_holds(pk: &Point, items: &[(BallotContext, &EncryptedBallot)], candidates: usize) -> bool {
    let mut batch = Batch::new(seed(pk, items, candidates), items.len(), candidates);
    for (ctx, ballot) in items {
        batch.add(ctx, pk, ballot, candidates);
    }
    batch.holds(pk)
}

/// Verifies a ballot for an election with `candidates` candidates under
/// the election public key `pk`. Needs nothing secret, so it accepts
/// ballots encrypted anywhere (an appliance, a voter's device).
///
/// Checks, in order: the candidate count is in 1..=256, `pk` is not the
/// identity, there is one selection per candidate, each 0/1 proof in
/// candidate order, then the sum proof. The first failure is returned.
/// The proofs are checked as one batch; only a ballot that fails it is
/// checked proof by proof, to name the failure.
pub fn verify_ballot(
    ctx: &BallotContext,
    pk: &Point,
    ballot: &EncryptedBallot,
    candidates: usize,
) -> Result<(), CryptoError> {
    check_shape(pk, ballot, candidates)?;
    if batch_holds(pk, &[(*ctx, ballot)], candidates) {
        return Ok(());
    }
    // The exact checks are the definition (a batch of true equations
    // always holds); they also name the proof that failed.
    verify_exactly(ctx, pk, ballot, candidates)
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
    let mut out: Vec<Result<(), CryptoError>> = items
        .iter()
        .map(|(_, b)| check_shape(pk, b, candidates))
        .collect();
    let well_formed: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_ok()).collect();
    for chunk in well_formed.chunks(MAX_BATCH) {
        let batch: Vec<(BallotContext, &EncryptedBallot)> =
            chunk.iter().map(|&i| items[i]).collect();
        if chunk.len() > 1 && batch_holds(pk, &batch, candidates) {
            continue;
        }
        for &i in chunk {
            out[i] = verify_ballot(&items[i].0, pk, items[i].1, candidates);
        }
    }
    out
}
