//! Making proofs, for the auditor's synthetic chains. Randomness is
//! derived from a seed by SHA-512, so synthetic chains are reproducible;
//! this is **not** how a real ballot may be made (its randomness must be
//! fresh and secret).

use super::*;
use curve25519_dalek::ristretto::RistrettoBasepointTable;

/// A deterministic "random" scalar from a seed and labels.
pub fn scalar(seed: &[u8], label: &str, i: u64) -> Scalar {
    let mut h = Sha512::new();
    h.update(seed);
    h.update((label.len() as u32).to_be_bytes());
    h.update(label.as_bytes());
    h.update(i.to_be_bytes());
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// Encrypts ballots under a fixed key with fixed-base tables for `G`
/// and `H` (the prover knows every exponent, so no variable-base
/// multiplication is needed).
pub struct Encryptor {
    h: Point,
    h_table: RistrettoBasepointTable,
}

impl Encryptor {
    pub fn new(h: Point) -> Encryptor {
        Encryptor {
            h_table: RistrettoBasepointTable::create(h.point()),
            h,
        }
    }

    /// `(xG + yH) / 2`: halved, for `double_and_compress_batch`.
    fn gh_half(&self, x: &Scalar, y: &Scalar) -> RistrettoPoint {
        let half = *HALF;
        &(x * half) * RISTRETTO_BASEPOINT_TABLE + &(y * half) * &self.h_table
    }

    /// The points `2 * halves[k]`, doubled and encoded in one batch.
    fn doubled(halves: &[RistrettoPoint]) -> Vec<Point> {
        let enc = RistrettoPoint::double_and_compress_batch(halves);
        (enc.iter().zip(halves))
            .map(|(e, half)| Point {
                enc: e.to_bytes(),
                p: half + half,
            })
            .collect()
    }

    /// A ballot for `choice` (0-based) of `n`, proofs bound to `ctx`.
    pub fn ballot(
        &self,
        ctx: &BallotContext,
        choice: usize,
        n: usize,
        seed: &[u8],
    ) -> EncryptedBallot {
        let mut r_sum = Scalar::ZERO;
        let mut selections = Vec::with_capacity(n);
        for i in 0..n {
            let r = scalar(seed, "r", i as u64);
            selections.push(self.selection(ctx, n, i, i == choice, &r, seed));
            r_sum += r;
        }
        let sum_proof = self.sum_proof(ctx, &selections, &r_sum, seed);
        EncryptedBallot {
            selections,
            sum_proof,
        }
    }

    /// Candidate `i`'s selection (of `n`): 1 if `chosen`, else 0, encrypted
    /// with randomness `r`, and its 0/1 proof.
    fn selection(
        &self,
        ctx: &BallotContext,
        n: usize,
        i: usize,
        chosen: bool,
        r: &Scalar,
        seed: &[u8],
    ) -> Selection {
        let r = *r;
        let m = u64::from(chosen);
        let ms = Scalar::from(m);
        let (u, cs, zs) = (
            scalar(seed, "u", i as u64),
            scalar(seed, "c", i as u64),
            scalar(seed, "z", i as u64),
        );
        // A = rG, B = mG + rH; real branch m: (uG, uH); simulated
        // branch s = 1 - m: U_s = (z_s - c_s r)G,
        // V_s = (z_s - c_s r)H - c_s (m - s) G.
        let w = zs - cs * r;
        let sign = if m == 1 { -cs } else { cs }; // -c_s (m - s)
        let points = Self::doubled(&[
            self.gh_half(&r, &Scalar::ZERO),
            self.gh_half(&ms, &r),
            self.gh_half(&u, &Scalar::ZERO),
            self.gh_half(&Scalar::ZERO, &u),
            self.gh_half(&w, &Scalar::ZERO),
            self.gh_half(&sign, &w),
        ]);
        let point = |k: usize| points[k];
        let ct = Ciphertext {
            a: point(0),
            b: point(1),
        };
        // Branch 0 is the real one when m = 0.
        let (b0, b1) = if m == 0 { (2, 4) } else { (4, 2) };
        let [u0, v0, u1, v1] = [point(b0), point(b0 + 1), point(b1), point(b1 + 1)];
        let commit = [u0.as_bytes(), v0.as_bytes(), u1.as_bytes(), v1.as_bytes()];
        let c = t01(ctx, n, i, self.h.as_bytes(), &ct, commit).challenge();
        let c_real = c - cs;
        let z_real = u + c_real * r;
        let (c0, z0, z1) = if m == 0 {
            (c_real, z_real, zs)
        } else {
            (cs, zs, z_real)
        };
        let proof = ZeroOneProof {
            u0,
            v0,
            u1,
            v1,
            c0: Sc(c0),
            z0: Sc(z0),
            z1: Sc(z1),
        };
        Selection {
            ciphertext: ct,
            proof,
        }
    }

    /// The proof that the selections encrypt one choice in all, their
    /// randomness summing to `r_sum`.
    fn sum_proof(
        &self,
        ctx: &BallotContext,
        selections: &[Selection],
        r_sum: &Scalar,
        seed: &[u8],
    ) -> SumProof {
        let u = scalar(seed, "sum", 0);
        let points = Self::doubled(&[
            self.gh_half(&u, &Scalar::ZERO),
            self.gh_half(&Scalar::ZERO, &u),
        ]);
        let [big_u, big_v] = [points[0], points[1]];
        let c = tsum(
            ctx,
            self.h.as_bytes(),
            selections.iter().map(|s| &s.ciphertext),
            big_u.as_bytes(),
            big_v.as_bytes(),
        )
        .challenge();
        SumProof {
            u: big_u,
            v: big_v,
            z: Sc(u + c * r_sum),
        }
    }
}

/// A whole key ceremony run in one place: the round-1 messages and
/// every trustee's secret share `s_j`.
pub fn ceremony(
    election_id: u64,
    trustees: u32,
    threshold: u32,
    seed: &[u8],
) -> (ElectionTrustees, Vec<Scalar>) {
    let mut round1 = Vec::new();
    let mut polys = Vec::new();
    for i in 1..=trustees {
        let coeffs: Vec<Scalar> = (0..threshold)
            .map(|t| scalar(seed, "coefficient", u64::from(i) << 32 | u64::from(t)))
            .collect();
        let commitments: Vec<Point> = coeffs
            .iter()
            .map(|a| Point::from_point(a * RISTRETTO_BASEPOINT_TABLE))
            .collect();
        let u = scalar(seed, "pok", u64::from(i));
        let big_u = (&u * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes();
        let c = tpok(election_id, trustees, threshold, i, &commitments, &big_u).challenge();
        round1.push(TrusteeRound1 {
            index: i,
            commitments,
            pok: ChallengeResponse {
                c: Sc(c),
                z: Sc(u + c * coeffs[0]),
            },
        });
        polys.push(coeffs);
    }
    let secrets = (1..=trustees)
        .map(|j| {
            let x = Scalar::from(j);
            polys
                .iter()
                .map(|p| p.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a))
                .sum()
        })
        .collect();
    (
        ElectionTrustees {
            trustees,
            threshold,
            round1,
        },
        secrets,
    )
}

/// Trustee `j`'s decryption share of `aggregate` with secret `s_j`.
pub fn decryption_share(
    chain_id: &[u8; 32],
    key: &ElectionKey,
    j: u32,
    s_j: &Scalar,
    aggregate: &[Ciphertext],
    seed: &[u8],
) -> DecryptionShare {
    let p_j = key.public_shares[j as usize - 1];
    let shares = aggregate
        .iter()
        .enumerate()
        .map(|(i, ct)| {
            let d = Point::from_point(ct.a.point() * s_j);
            let u = scalar(seed, "decrypt", (u64::from(j) << 32) | i as u64);
            let big_u = (&u * RISTRETTO_BASEPOINT_TABLE).compress().to_bytes();
            let big_v = (ct.a.point() * u).compress().to_bytes();
            let c = tdec(
                chain_id,
                key.election_id,
                key.public_key.as_bytes(),
                j,
                i,
                ct,
                p_j.as_bytes(),
                d.as_bytes(),
                &big_u,
                &big_v,
            )
            .challenge();
            PartialDecryption {
                d,
                proof: ChallengeResponse {
                    c: Sc(c),
                    z: Sc(u + c * s_j),
                },
            }
        })
        .collect();
    DecryptionShare {
        trustee_index: j,
        shares,
    }
}
