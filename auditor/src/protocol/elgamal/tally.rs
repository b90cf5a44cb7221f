//! E.5: decryption shares checked, combined into counts by a bounded discrete logarithm.

use super::*;

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
