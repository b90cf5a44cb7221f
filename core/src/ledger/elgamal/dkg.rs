//! The trustees' key ceremony: a dealer-free Pedersen DKG with Feldman
//! commitments, done by exchanging files.
//!
//! Round 1, trustee `i` of `n` with threshold `k`: draws a polynomial
//! `f_i(x) = a_{i,0} + a_{i,1} x + ... + a_{i,k-1} x^{k-1}`, publishes its
//! Feldman commitments `C_{i,t} = a_{i,t} G` with a Schnorr proof of
//! knowledge of `a_{i,0}` ([`TrusteeRound1`]), and hands each trustee `j`
//! the secret share `f_i(j)` ([`SecretShare`], confidentially).
//!
//! Round 2, trustee `j`: checks every round-1 message and every share it
//! received, and keeps `s_j = Σ_i f_i(j)` ([`TrusteeKey`]). Anyone computes
//! the public data from the round-1 messages alone ([`ElectionPublicKey`]):
//! the election key `H = Σ_i C_{i,0}` and each trustee's public share
//! `P_j = Σ_i Σ_t C_{i,t} j^t = s_j G`.
//!
//! Every trustee must take part: a missing or failing dealer aborts the
//! ceremony, which is then run again from the start (see PROTOCOL.md for
//! why this also bounds the Gennaro et al. key-bias issue).

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::ballot::ChallengeResponse;
use super::encoding::{Point, SecretScalar};
use super::error::CryptoError;
use super::random_scalar;
use super::transcript::{TAG_DKG_POK, Transcript};

/// The largest number of trustees of a ceremony.
pub const MAX_TRUSTEES: u32 = 64;

/// A Schnorr proof of knowledge of a dealer's constant term `a_{i,0}`.
pub type KnowledgeProof = ChallengeResponse;

/// The shape of a ceremony: `threshold` (k) of `trustees` (n) can decrypt.
/// Chain-independent: the ceremony runs before the genesis (which holds
/// its result) exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyParams {
    pub election_id: u64,
    pub trustees: u32,
    pub threshold: u32,
}

impl CeremonyParams {
    pub fn new(election_id: u64, trustees: u32, threshold: u32) -> Result<Self, CryptoError> {
        let p = Self {
            election_id,
            trustees,
            threshold,
        };
        p.check()?;
        Ok(p)
    }

    /// `1 <= threshold <= trustees <= MAX_TRUSTEES`.
    pub fn check(&self) -> Result<(), CryptoError> {
        if self.trustees == 0 || self.trustees > MAX_TRUSTEES {
            return Err(CryptoError::BadParams(format!(
                "a ceremony has 1 to {MAX_TRUSTEES} trustees, not {}",
                self.trustees
            )));
        }
        if self.threshold == 0 || self.threshold > self.trustees {
            return Err(CryptoError::BadParams(format!(
                "the threshold must be 1 to {}, not {}",
                self.trustees, self.threshold
            )));
        }
        Ok(())
    }

    pub(crate) fn check_index(&self, index: u32) -> Result<(), CryptoError> {
        if index == 0 || index > self.trustees {
            return Err(CryptoError::UnknownTrustee {
                index,
                trustees: self.trustees,
            });
        }
        Ok(())
    }
}

/// Trustee `index`'s public round-1 message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteeRound1 {
    /// 1-based trustee index.
    pub index: u32,
    /// `C_{i,0}, ..., C_{i,k-1}`.
    pub commitments: Vec<Point>,
    pub pok: KnowledgeProof,
}

/// The share `f_dealer(recipient)`: secret, sent only to `recipient`
/// (its `Debug` prints the value as [`SecretScalar`] does: redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretShare {
    pub dealer: u32,
    pub recipient: u32,
    pub value: SecretScalar,
}

/// Trustee `index`'s public share `P_j = s_j G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicTrusteeShare {
    pub index: u32,
    pub public_share: Point,
}

/// The public outcome of a ceremony, computable by anyone from the
/// round-1 messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionPublicKey {
    pub election_id: u64,
    pub trustees: u32,
    pub threshold: u32,
    /// `H`, the key ballots are encrypted under.
    pub public_key: Point,
    /// `P_1, ..., P_n`, in index order.
    pub trustee_shares: Vec<PublicTrusteeShare>,
}

/// What trustee `index` keeps after the ceremony. Its secret share is
/// zeroized on drop and never printed (a [`SecretScalar`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrusteeKey {
    pub election_id: u64,
    pub trustees: u32,
    pub threshold: u32,
    pub index: u32,
    /// `s_j = Σ_i f_i(j)`.
    pub secret_share: SecretScalar,
    /// `P_j = s_j G`.
    pub public_share: Point,
    /// `H`.
    pub public_key: Point,
}

impl TrusteeKey {
    pub fn params(&self) -> CeremonyParams {
        CeremonyParams {
            election_id: self.election_id,
            trustees: self.trustees,
            threshold: self.threshold,
        }
    }

    /// Checks a key read from a file: valid parameters and index, `H` not
    /// the identity, and `s_j G = P_j` (so a damaged file cannot produce
    /// decryption shares that fail their proofs).
    pub fn check(&self) -> Result<(), CryptoError> {
        let params = self.params();
        params.check()?;
        params.check_index(self.index)?;
        if self.public_key.is_identity() {
            return Err(CryptoError::IdentityPublicKey);
        }
        if Point::from_point(self.secret_share.expose() * RISTRETTO_BASEPOINT_TABLE)
            != self.public_share
        {
            return Err(CryptoError::BadParams(format!(
                "trustee {}'s secret share does not match its public share",
                self.index
            )));
        }
        Ok(())
    }
}

/// A dealer's secret polynomial; zeroized on drop.
struct Polynomial(Vec<Scalar>);

impl Polynomial {
    /// `f(x)` by Horner's rule (constant time in the coefficients).
    fn eval(&self, x: u32) -> Scalar {
        let x = Scalar::from(x);
        let mut acc = Scalar::ZERO;
        for a in self.0.iter().rev() {
            acc = acc * x + a;
        }
        acc
    }
}

impl Drop for Polynomial {
    fn drop(&mut self) {
        for a in &mut self.0 {
            a.zeroize();
        }
    }
}

/// The transcript of a dealer's proof of knowledge, up to and including
/// its commitment `U`.
pub fn knowledge_transcript(
    params: &CeremonyParams,
    index: u32,
    commitments: &[Point],
    big_u: &Point,
) -> Transcript {
    let mut t = Transcript::new(TAG_DKG_POK);
    t.u64(params.election_id)
        .u64(u64::from(params.trustees))
        .u64(u64::from(params.threshold))
        .u64(u64::from(index));
    for c in commitments {
        t.point(c);
    }
    t.point(big_u);
    t
}

/// Round 1 for trustee `index`: the public message and the `n` secret
/// shares `f_index(1), ..., f_index(n)` (the one for `index` itself
/// included), in recipient order.
pub fn round1(
    params: &CeremonyParams,
    index: u32,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(TrusteeRound1, Vec<SecretShare>), CryptoError> {
    params.check()?;
    params.check_index(index)?;
    let poly = Polynomial((0..params.threshold).map(|_| random_scalar(rng)).collect());
    let commitments: Vec<Point> = poly
        .0
        .iter()
        .map(|a| Point::from_point(a * RISTRETTO_BASEPOINT_TABLE))
        .collect();
    let mut u = random_scalar(rng);
    let big_u = Point::from_point(&u * RISTRETTO_BASEPOINT_TABLE);
    let c = knowledge_transcript(params, index, &commitments, &big_u).challenge();
    let z = u + c * poly.0[0];
    u.zeroize();
    let shares = (1..=params.trustees)
        .map(|j| SecretShare {
            dealer: index,
            recipient: j,
            value: SecretScalar::new(poly.eval(j)),
        })
        .collect();
    let msg = TrusteeRound1 {
        index,
        commitments,
        pok: ChallengeResponse {
            c: c.into(),
            z: z.into(),
        },
    };
    Ok((msg, shares))
}

/// The commitment `U = zG - c C_{i,0}` a verifier recomputes from a
/// dealer's proof of knowledge (variable time); `None` without commitments.
pub fn knowledge_commitment(msg: &TrusteeRound1) -> Result<Option<Point>, CryptoError> {
    let (c, z) = (msg.pok.c.0, msg.pok.z.0);
    let Some(c0) = msg.commitments.first() else {
        return Ok(None);
    };
    Ok(Some(Point::from_point(
        RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &c0.decode()?, &z),
    )))
}

/// Checks one round-1 message: index in range, `k` commitments, and the
/// proof of knowledge (`U = zG - c C_{i,0}` hashes back to `c`).
pub fn verify_round1(params: &CeremonyParams, msg: &TrusteeRound1) -> Result<(), CryptoError> {
    params.check()?;
    params.check_index(msg.index)?;
    if msg.commitments.len() != params.threshold as usize {
        return Err(CryptoError::WrongLength {
            what: "dealer commitments",
            expected: params.threshold as usize,
            found: msg.commitments.len(),
        });
    }
    let big_u =
        knowledge_commitment(msg)?.ok_or(CryptoError::BadKnowledgeProof { index: msg.index })?;
    if knowledge_transcript(params, msg.index, &msg.commitments, &big_u).challenge() != msg.pok.c.0
    {
        return Err(CryptoError::BadKnowledgeProof { index: msg.index });
    }
    Ok(())
}

/// `Σ_t C_t x^t`, the commitment to `f(x)`.
fn commitment_at(commitments: &[Point], x: u32) -> Result<RistrettoPoint, CryptoError> {
    let x = Scalar::from(x);
    let mut powers = Vec::with_capacity(commitments.len());
    let mut points = Vec::with_capacity(commitments.len());
    let mut p = Scalar::ONE;
    for c in commitments {
        powers.push(p);
        points.push(c.decode()?);
        p *= x;
    }
    Ok(RistrettoPoint::vartime_multiscalar_mul(powers, points))
}

/// Checks a received share against its dealer's (already verified)
/// round-1 message: `f_i(j) G = Σ_t C_{i,t} j^t`.
pub fn verify_share(
    params: &CeremonyParams,
    dealer: &TrusteeRound1,
    share: &SecretShare,
) -> Result<(), CryptoError> {
    params.check()?;
    params.check_index(share.dealer)?;
    params.check_index(share.recipient)?;
    if share.dealer != dealer.index {
        return Err(CryptoError::BadParams(format!(
            "share from trustee {} checked against trustee {}'s commitments",
            share.dealer, dealer.index
        )));
    }
    if dealer.commitments.len() != params.threshold as usize {
        return Err(CryptoError::WrongLength {
            what: "dealer commitments",
            expected: params.threshold as usize,
            found: dealer.commitments.len(),
        });
    }
    let lhs = share.value.expose() * RISTRETTO_BASEPOINT_TABLE;
    if lhs != commitment_at(&dealer.commitments, share.recipient)? {
        return Err(CryptoError::BadShare {
            dealer: share.dealer,
            recipient: share.recipient,
        });
    }
    Ok(())
}

/// The round-1 messages sorted by index, after checking that there is
/// exactly one per trustee 1..=n and that each verifies.
fn checked_round1<'a>(
    params: &CeremonyParams,
    msgs: &'a [TrusteeRound1],
) -> Result<Vec<&'a TrusteeRound1>, CryptoError> {
    params.check()?;
    let n = params.trustees as usize;
    let mut by_index: Vec<Option<&TrusteeRound1>> = vec![None; n];
    for m in msgs {
        params.check_index(m.index)?;
        let slot = &mut by_index[m.index as usize - 1];
        if slot.is_some() {
            return Err(CryptoError::DuplicateTrustee { index: m.index });
        }
        *slot = Some(m);
    }
    let mut out = Vec::with_capacity(n);
    for (i, m) in by_index.into_iter().enumerate() {
        let m = m.ok_or(CryptoError::MissingTrustee {
            index: i as u32 + 1,
        })?;
        verify_round1(params, m)?;
        out.push(m);
    }
    Ok(out)
}

impl ElectionPublicKey {
    /// Verifies all `n` round-1 messages (any order, each index once) and
    /// computes `H` and every `P_j`. Needs nothing secret.
    pub fn from_round1(
        params: &CeremonyParams,
        msgs: &[TrusteeRound1],
    ) -> Result<Self, CryptoError> {
        Self::from_checked(params, &checked_round1(params, msgs)?)
    }

    fn from_checked(params: &CeremonyParams, msgs: &[&TrusteeRound1]) -> Result<Self, CryptoError> {
        // E_t = Σ_i C_{i,t}: the commitments of the joint polynomial.
        let joint: Vec<Point> = (0..params.threshold as usize)
            .map(|t| {
                let mut sum = RistrettoPoint::identity();
                for m in msgs {
                    sum += m.commitments[t].decode()?;
                }
                Ok(Point::from_point(sum))
            })
            .collect::<Result<_, CryptoError>>()?;
        let public_key = joint[0];
        if public_key.is_identity() {
            return Err(CryptoError::IdentityPublicKey);
        }
        let trustee_shares = (1..=params.trustees)
            .map(|j| {
                Ok(PublicTrusteeShare {
                    index: j,
                    public_share: Point::from_point(commitment_at(&joint, j)?),
                })
            })
            .collect::<Result<_, CryptoError>>()?;
        Ok(Self {
            election_id: params.election_id,
            trustees: params.trustees,
            threshold: params.threshold,
            public_key,
            trustee_shares,
        })
    }

    pub fn params(&self) -> CeremonyParams {
        CeremonyParams {
            election_id: self.election_id,
            trustees: self.trustees,
            threshold: self.threshold,
        }
    }

    /// `P_index`, if `index` is a trustee.
    pub fn public_share(&self, index: u32) -> Result<&Point, CryptoError> {
        self.params().check_index(index)?;
        self.trustee_shares
            .iter()
            .find(|s| s.index == index)
            .map(|s| &s.public_share)
            .ok_or(CryptoError::MissingTrustee { index })
    }
}

/// Round 2 for trustee `recipient`: checks every round-1 message and the
/// `n` shares it received (one from each dealer, itself included), and
/// returns its key. A failure names the dealer to blame; the ceremony is
/// then run again.
pub fn round2(
    params: &CeremonyParams,
    recipient: u32,
    msgs: &[TrusteeRound1],
    shares: &[SecretShare],
) -> Result<TrusteeKey, CryptoError> {
    let sorted = checked_round1(params, msgs)?;
    let public = ElectionPublicKey::from_checked(params, &sorted)?;
    params.check_index(recipient)?;
    let n = params.trustees as usize;
    let mut seen = vec![false; n];
    for share in shares {
        params.check_index(share.dealer)?;
        if share.recipient != recipient {
            return Err(CryptoError::BadParams(format!(
                "share for trustee {} given to trustee {recipient}",
                share.recipient
            )));
        }
        if std::mem::replace(&mut seen[share.dealer as usize - 1], true) {
            return Err(CryptoError::DuplicateTrustee {
                index: share.dealer,
            });
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(CryptoError::MissingTrustee {
            index: missing as u32 + 1,
        });
    }
    let mut sum = Scalar::ZERO;
    for share in shares {
        verify_share(params, sorted[share.dealer as usize - 1], share)?;
        sum += share.value.expose();
    }
    let secret_share = SecretScalar::new(sum);
    sum.zeroize();
    let public_share = *public.public_share(recipient)?;
    if Point::from_point(secret_share.expose() * RISTRETTO_BASEPOINT_TABLE) != public_share {
        // Unreachable when every share matched its commitments; kept as a
        // check rather than a panic since the inputs come from files.
        return Err(CryptoError::BadShare {
            dealer: 0,
            recipient,
        });
    }
    Ok(TrusteeKey {
        election_id: params.election_id,
        trustees: params.trustees,
        threshold: params.threshold,
        index: recipient,
        secret_share,
        public_share,
        public_key: public.public_key,
    })
}
