//! E.4: the key ceremony's public record checked, and the election key recomputed from it.

use super::*;

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
    pub(super) gh: VartimeRistrettoPrecomputation,
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
    pub(super) fn gh_minus(
        &self,
        g: Scalar,
        h: Scalar,
        d: Scalar,
        p: &RistrettoPoint,
    ) -> RistrettoPoint {
        self.gh.vartime_mixed_multiscalar_mul([g, h], [-d], [p])
    }
}
