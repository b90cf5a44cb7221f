//! Why a check of E.1-E.5 failed; `code()` is the E.6 code.

use super::*;

/// Why a check of this section failed; `code()` is the E.6 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    WrongLength {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    BadCandidateCount(usize),
    IdentityPublicKey,
    BadZeroOneProof(usize),
    BadSumProof,
    BadParams(String),
    UnknownTrustee {
        index: u32,
        trustees: u32,
    },
    DuplicateTrustee(u32),
    MissingTrustee(u32),
    BadKnowledgeProof(u32),
    BadDecryptionShare {
        trustee: u32,
        candidate: usize,
    },
    TooFewShares {
        have: usize,
        need: usize,
    },
    BoundTooLarge(u64),
    TallyOutOfRange {
        candidate: usize,
        bound: u64,
    },
    CountMismatch {
        sum: u64,
        ballots: u64,
    },
}

impl CryptoError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength { .. } => "wrong_length",
            Self::BadCandidateCount(_) => "bad_candidate_count",
            Self::IdentityPublicKey => "identity_public_key",
            Self::BadZeroOneProof(_) => "bad_zero_one_proof",
            Self::BadSumProof => "bad_sum_proof",
            Self::BadParams(_) => "bad_params",
            Self::UnknownTrustee { .. } => "unknown_trustee",
            Self::DuplicateTrustee(_) => "duplicate_trustee",
            Self::MissingTrustee(_) => "missing_trustee",
            Self::BadKnowledgeProof(_) => "bad_knowledge_proof",
            Self::BadDecryptionShare { .. } => "bad_decryption_share",
            Self::TooFewShares { .. } => "too_few_shares",
            Self::BoundTooLarge(_) => "bound_too_large",
            Self::TallyOutOfRange { .. } => "tally_out_of_range",
            Self::CountMismatch { .. } => "count_mismatch",
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength {
                what,
                expected,
                found,
            } => write!(f, "{found} {what}, expected {expected}"),
            Self::BadCandidateCount(n) => {
                write!(f, "{n} candidates; a ballot has 1 to {MAX_CANDIDATES}")
            }
            Self::IdentityPublicKey => write!(f, "the election key is the identity"),
            Self::BadZeroOneProof(i) => write!(
                f,
                "the proof that selection {i} encrypts 0 or 1 does not verify"
            ),
            Self::BadSumProof => write!(
                f,
                "the proof that the selections add up to exactly one vote does not verify"
            ),
            Self::BadParams(m) => write!(f, "{m}"),
            Self::UnknownTrustee { index, trustees } => {
                write!(f, "trustee {index} is not one of 1..={trustees}")
            }
            Self::DuplicateTrustee(i) => write!(f, "trustee {i} appears twice"),
            Self::MissingTrustee(i) => write!(f, "trustee {i}'s round-1 message is missing"),
            Self::BadKnowledgeProof(i) => {
                write!(f, "trustee {i}'s proof of knowledge does not verify")
            }
            Self::BadDecryptionShare { trustee, candidate } => write!(
                f,
                "trustee {trustee}'s partial decryption of candidate {candidate} does not verify"
            ),
            Self::TooFewShares { have, need } => {
                write!(f, "{have} decryption share(s); {need} are needed")
            }
            Self::BoundTooLarge(n) => write!(f, "{n} ballots; a tally holds at most 2^32 - 1"),
            Self::TallyOutOfRange { candidate, bound } => write!(
                f,
                "candidate {candidate}'s decrypted total is no integer in 0..={bound}"
            ),
            Self::CountMismatch { sum, ballots } => write!(
                f,
                "the decrypted counts add up to {sum}, the tally holds {ballots} ballots"
            ),
        }
    }
}
