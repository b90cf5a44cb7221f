//! E.3: a ballot's 0/1 and sum proofs, checked alone or many ballots in one batch.

use super::*;

pub(super) fn check_candidates(n: usize) -> Result<(), CryptoError> {
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
pub(super) static HALF: std::sync::LazyLock<Scalar> =
    std::sync::LazyLock::new(|| Scalar::from(2u64).invert());
