//! Why an encrypted ballot, a key-ceremony message or a decryption share
//! was refused. Each variant has a stable code (`CryptoError::code`), the
//! one the test vectors in `schema/vectors/crypto/` name.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A list has the wrong number of entries (ciphertexts of a ballot,
    /// commitments of a dealer, partial decryptions of a share, ...).
    #[error("{what}: expected {expected} entries, found {found}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// A point or scalar is not a canonical encoding.
    #[error("bad encoding of {what}: {detail}")]
    Encoding { what: String, detail: String },
    /// The number of candidates is outside 1..=MAX_CANDIDATES.
    #[error("an election has 1 to {max} candidates, not {found}")]
    BadCandidateCount { max: usize, found: usize },
    /// The chosen candidate index is not below the number of candidates.
    #[error("candidate index {index} is out of range for {candidates} candidates")]
    CandidateOutOfRange { index: usize, candidates: usize },
    /// The election public key is the identity element (it would encrypt
    /// nothing).
    #[error("the election public key is the identity element")]
    IdentityPublicKey,
    #[error("the 0/1 proof of candidate {index} does not verify")]
    BadZeroOneProof { index: usize },
    #[error("the proof that the ballot's ciphertexts sum to one does not verify")]
    BadSumProof,
    /// Key-ceremony parameters out of range (1 <= k <= n <= MAX_TRUSTEES)
    /// or a message for another election / ceremony shape.
    #[error("bad ceremony parameters: {0}")]
    BadParams(String),
    /// A trustee index outside 1..=n.
    #[error("trustee index {index} is out of range for {trustees} trustees")]
    UnknownTrustee { index: u32, trustees: u32 },
    /// The same trustee (or dealer) appears twice.
    #[error("trustee {index} appears twice")]
    DuplicateTrustee { index: u32 },
    /// A dealer's round-1 message is missing.
    #[error("round-1 message of trustee {index} is missing")]
    MissingTrustee { index: u32 },
    /// A dealer's proof of knowledge of its constant term does not verify.
    #[error("the proof of knowledge of trustee {index} does not verify")]
    BadKnowledgeProof { index: u32 },
    /// A secret share does not match its dealer's Feldman commitments.
    #[error(
        "the share from trustee {dealer} to trustee {recipient} does not match the commitments"
    )]
    BadShare { dealer: u32, recipient: u32 },
    /// A partial decryption's Chaum-Pedersen proof does not verify.
    #[error("the decryption share of trustee {trustee} for candidate {candidate} does not verify")]
    BadDecryptionShare { trustee: u32, candidate: usize },
    /// Fewer than k decryption shares.
    #[error("{have} decryption shares, at least {need} needed")]
    TooFewShares { have: usize, need: usize },
    /// The bound of the discrete-logarithm search is above MAX_TALLY.
    #[error("tally bound {bound} is above the supported maximum {max}")]
    BoundTooLarge { bound: u64, max: u64 },
    /// No integer in 0..=bound decrypts the candidate's aggregate.
    #[error("the tally of candidate {candidate} is not in 0..={bound}")]
    TallyOutOfRange { candidate: usize, bound: u64 },
    /// The decrypted counts do not add up to the number of ballots.
    #[error("the counts add up to {sum}, but {ballots} ballots were aggregated")]
    CountMismatch { sum: u64, ballots: u64 },
}

impl CryptoError {
    /// A stable, machine-readable name for the check that failed.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength { .. } => "wrong_length",
            Self::Encoding { .. } => "encoding",
            Self::BadCandidateCount { .. } => "bad_candidate_count",
            Self::CandidateOutOfRange { .. } => "candidate_out_of_range",
            Self::IdentityPublicKey => "identity_public_key",
            Self::BadZeroOneProof { .. } => "bad_zero_one_proof",
            Self::BadSumProof => "bad_sum_proof",
            Self::BadParams(_) => "bad_params",
            Self::UnknownTrustee { .. } => "unknown_trustee",
            Self::DuplicateTrustee { .. } => "duplicate_trustee",
            Self::MissingTrustee { .. } => "missing_trustee",
            Self::BadKnowledgeProof { .. } => "bad_knowledge_proof",
            Self::BadShare { .. } => "bad_share",
            Self::BadDecryptionShare { .. } => "bad_decryption_share",
            Self::TooFewShares { .. } => "too_few_shares",
            Self::BoundTooLarge { .. } => "bound_too_large",
            Self::TallyOutOfRange { .. } => "tally_out_of_range",
            Self::CountMismatch { .. } => "count_mismatch",
        }
    }
}

/// A received point that decodes to no group element, found when used.
impl From<super::encoding::EncodingError> for CryptoError {
    fn from(e: super::encoding::EncodingError) -> Self {
        Self::Encoding {
            what: "point".into(),
            detail: e.to_string(),
        }
    }
}
