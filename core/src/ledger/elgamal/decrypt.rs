//! Threshold decryption of the aggregate: each trustee publishes
//! `D_j = s_j A` for every candidate's aggregate `(A, B)` with a
//! Chaum–Pedersen proof that `log_G P_j = log_A D_j`; any `k` valid shares
//! give `M = B - Σ λ_j D_j = tally·G` (Lagrange coefficients at 0), and a
//! bounded discrete logarithm gives the tally.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::ballot::{ChallengeResponse, Ciphertext};
use super::check_candidate_count;
use super::dkg::{ElectionPublicKey, TrusteeKey};
use super::dlog::{DlogTable, MAX_TALLY};
use super::encoding::Point;
use super::error::CryptoError;
use super::random_scalar;
use super::transcript::{TAG_DECRYPTION, Transcript};
use crate::ledger::bytes::Hash32;

/// What a decryption share is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TallyContext {
    pub chain_id: Hash32,
    pub election_id: u64,
}

/// Proof that `log_G P_j = log_A D_j`.
pub type DecryptionProof = ChallengeResponse;

/// One candidate's partial decryption `D = s_j A` and its proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialDecryption {
    pub d: Point,
    pub proof: DecryptionProof,
}

/// Trustee `trustee_index`'s decryption share of an aggregate: one partial
/// decryption per candidate, in candidate order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionShare {
    pub trustee_index: u32,
    pub shares: Vec<PartialDecryption>,
}

/// The transcript of a partial-decryption proof, up to and including its
/// commitments `U = uG`, `V = uA`.
#[allow(clippy::too_many_arguments)]
pub fn decryption_transcript(
    ctx: &TallyContext,
    public_key: &Point,
    trustee: u32,
    candidate: usize,
    ct: &Ciphertext,
    public_share: &Point,
    d: &Point,
    commitments: [&Point; 2],
) -> Transcript {
    let mut t = Transcript::new(TAG_DECRYPTION);
    t.field(ctx.chain_id.as_bytes())
        .u64(ctx.election_id)
        .point(public_key)
        .u64(u64::from(trustee))
        .u64(candidate as u64)
        .point(&ct.a)
        .point(&ct.b)
        .point(public_share)
        .point(d);
    for p in commitments {
        t.point(p);
    }
    t
}

/// The commitments `[U, V]` a verifier recomputes from a partial
/// decryption of `ct` by the trustee with public share `P_j`:
/// `U = zG - c P_j`, `V = zA - c D` (variable time).
pub fn decryption_commitments(
    public_share: &Point,
    ct: &Ciphertext,
    pd: &PartialDecryption,
) -> Result<[Point; 2], CryptoError> {
    let (c, z) = (pd.proof.c.0, pd.proof.z.0);
    let p_j = public_share.decode()?;
    let big_u = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, &p_j, &z);
    let big_v = RistrettoPoint::vartime_multiscalar_mul([z, -c], [ct.a.decode()?, pd.d.decode()?]);
    Ok([big_u, big_v].map(Point::from_point))
}

fn check_election(ctx: &TallyContext, election_id: u64) -> Result<(), CryptoError> {
    if ctx.election_id != election_id {
        return Err(CryptoError::BadParams(format!(
            "key of election {election_id} used for election {}",
            ctx.election_id
        )));
    }
    Ok(())
}

/// Trustee `key.index`'s decryption share of `aggregate` (one ciphertext
/// per candidate), after [`TrusteeKey::check`]. Constant time in the
/// secret share.
pub fn decryption_share(
    ctx: &TallyContext,
    key: &TrusteeKey,
    aggregate: &[Ciphertext],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<DecryptionShare, CryptoError> {
    check_election(ctx, key.election_id)?;
    check_candidate_count(aggregate.len())?;
    key.check()?;
    let s = key.secret_share.expose();
    let shares = aggregate
        .iter()
        .enumerate()
        .map(|(i, ct)| {
            let a = ct.a.decode()?;
            let d = Point::from_point(a * s);
            let mut u = random_scalar(rng);
            let big_u = Point::from_point(&u * RISTRETTO_BASEPOINT_TABLE);
            let big_v = Point::from_point(a * u);
            let c = decryption_transcript(
                ctx,
                &key.public_key,
                key.index,
                i,
                ct,
                &key.public_share,
                &d,
                [&big_u, &big_v],
            )
            .challenge();
            let z = u + c * s;
            u.zeroize();
            Ok(PartialDecryption {
                d,
                proof: ChallengeResponse {
                    c: c.into(),
                    z: z.into(),
                },
            })
        })
        .collect::<Result<_, CryptoError>>()?;
    Ok(DecryptionShare {
        trustee_index: key.index,
        shares,
    })
}

/// Checks a decryption share against the ceremony's public data: the
/// trustee exists, there is one partial decryption per candidate, and each
/// proof verifies (`U = zG - cP_j`, `V = zA - cD` hash back to `c`).
pub fn verify_decryption_share(
    ctx: &TallyContext,
    public: &ElectionPublicKey,
    aggregate: &[Ciphertext],
    share: &DecryptionShare,
) -> Result<(), CryptoError> {
    check_election(ctx, public.election_id)?;
    check_candidate_count(aggregate.len())?;
    let j = share.trustee_index;
    let p_j = public.public_share(j)?;
    if share.shares.len() != aggregate.len() {
        return Err(CryptoError::WrongLength {
            what: "partial decryptions",
            expected: aggregate.len(),
            found: share.shares.len(),
        });
    }
    for (i, (ct, pd)) in aggregate.iter().zip(&share.shares).enumerate() {
        let [big_u, big_v] = decryption_commitments(p_j, ct, pd)?;
        let t = decryption_transcript(
            ctx,
            &public.public_key,
            j,
            i,
            ct,
            p_j,
            &pd.d,
            [&big_u, &big_v],
        );
        if t.challenge() != pd.proof.c.0 {
            return Err(CryptoError::BadDecryptionShare {
                trustee: j,
                candidate: i,
            });
        }
    }
    Ok(())
}

/// The Lagrange coefficients at 0 of the distinct indices `xs`:
/// `λ_j = Π_{m ≠ j} m / (m - j)` over the scalar field.
pub fn lagrange_at_zero(xs: &[u32]) -> Vec<Scalar> {
    xs.iter()
        .map(|&j| {
            let mut num = Scalar::ONE;
            let mut den = Scalar::ONE;
            for &m in xs.iter().filter(|&&m| m != j) {
                num *= Scalar::from(m);
                den *= Scalar::from(m) - Scalar::from(j);
            }
            num * den.invert()
        })
        .collect()
}

/// Combines decryption shares into the counts, one per candidate.
///
/// Checks, in order (the first failure is returned): the context's
/// election is the ceremony's (`bad_params`); 1 to 256 candidates
/// (`bad_candidate_count`); every share, in list order, names a trustee of
/// the ceremony (`unknown_trustee`) not named by an earlier share
/// (`duplicate_trustee`); at least `k` shares (`too_few_shares`);
/// `ballot_count <= MAX_TALLY` (`bound_too_large`); every share verifies,
/// in list order ([`verify_decryption_share`]: `wrong_length`,
/// `bad_decryption_share`). Then, with the Lagrange coefficients at 0 of
/// all the given indices, `M_i = B_i - Σ λ_j D_{j,i}`, whose discrete
/// logarithm must lie in `0..=ballot_count` (`tally_out_of_range`), and
/// the counts must add up to `ballot_count` (`count_mismatch`), since every
/// counted ballot encrypts exactly one 1.
///
/// Strict on purpose: one bad share fails the whole call, naming the
/// trustee. A caller that wants to go on without it checks each share with
/// [`verify_decryption_share`] first and combines the good ones.
pub fn combine_decryption_shares(
    ctx: &TallyContext,
    public: &ElectionPublicKey,
    aggregate: &[Ciphertext],
    shares: &[DecryptionShare],
    ballot_count: u64,
) -> Result<Vec<u64>, CryptoError> {
    check_election(ctx, public.election_id)?;
    check_candidate_count(aggregate.len())?;
    let params = public.params();
    let mut indices: Vec<u32> = Vec::with_capacity(shares.len());
    for s in shares {
        params.check_index(s.trustee_index)?;
        if indices.contains(&s.trustee_index) {
            return Err(CryptoError::DuplicateTrustee {
                index: s.trustee_index,
            });
        }
        indices.push(s.trustee_index);
    }
    if shares.len() < params.threshold as usize {
        return Err(CryptoError::TooFewShares {
            have: shares.len(),
            need: params.threshold as usize,
        });
    }
    if ballot_count > MAX_TALLY {
        return Err(CryptoError::BoundTooLarge {
            bound: ballot_count,
            max: MAX_TALLY,
        });
    }
    for s in shares {
        verify_decryption_share(ctx, public, aggregate, s)?;
    }
    let table = DlogTable::new(ballot_count, aggregate.len())?;
    let lambdas = lagrange_at_zero(&indices);
    let mut counts = Vec::with_capacity(aggregate.len());
    for (i, ct) in aggregate.iter().enumerate() {
        let scalars = std::iter::once(Scalar::ONE).chain(lambdas.iter().map(|l| -l));
        let mut points = vec![ct.b.decode()?];
        for s in shares {
            points.push(s.shares[i].d.decode()?);
        }
        let m = RistrettoPoint::vartime_multiscalar_mul(scalars, points);
        let count = table.solve(&m).ok_or(CryptoError::TallyOutOfRange {
            candidate: i,
            bound: ballot_count,
        })?;
        counts.push(count);
    }
    let sum: u64 = counts.iter().sum();
    if sum != ballot_count {
        return Err(CryptoError::CountMismatch {
            sum,
            ballots: ballot_count,
        });
    }
    Ok(counts)
}
