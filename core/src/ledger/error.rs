//! Why a ledger object was refused. Every rule of the validity checks has
//! its own variant so callers (the API, the auditor's vectors, the tests)
//! can tell them apart.

use super::bytes::{Hash32, PublicKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot encode object: {0}")]
    Encoding(String),
    #[error("integer field `{field}` is above 2^53-1")]
    IntegerTooLarge { field: &'static str },
    #[error("key error: {0}")]
    Key(String),
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    #[error("wrong chain id: expected {expected}, found {found}")]
    WrongChain { expected: Hash32, found: Hash32 },
    #[error("wrong {what} hash: expected {expected}, found {found}")]
    WrongHash {
        what: &'static str,
        expected: Hash32,
        found: Hash32,
    },
    #[error("bad signature on {what}")]
    BadSignature { what: &'static str },
    #[error("wrong prev_hash: expected {expected}, found {found}")]
    WrongPrevHash { expected: Hash32, found: Hash32 },
    #[error("wrong height: expected {expected}, found {found}")]
    WrongHeight { expected: u64, found: u64 },
    #[error("proposer {0} is not a validator")]
    UnknownProposer(PublicKey),
    #[error("wrong proposer for height {height} round {round}: expected {expected}, found {found}")]
    WrongProposer {
        height: u64,
        round: u64,
        expected: PublicKey,
        found: PublicKey,
    },
    #[error("too few commit seals: {have} valid, {need} needed")]
    TooFewSeals { have: usize, need: usize },
    #[error("commit seal from {0} appears twice")]
    DuplicateSeal(PublicKey),
    #[error("commit seal from {0}, which is not a validator")]
    SealFromNonValidator(PublicKey),
    #[error("commit seal from {0} does not verify")]
    BadSeal(PublicKey),
    #[error("block timestamp {found} is before its parent's {parent}")]
    TimestampBackwards { parent: u64, found: u64 },
    #[error("block timestamp {found} is too far in the future (now {now})")]
    TimestampInFuture { now: u64, found: u64 },
    #[error("tx_count {header} does not match {found} transactions")]
    TxCountMismatch { header: u64, found: u64 },
    #[error("block holds {found} transactions, more than the limit of {limit}")]
    TooManyTxs { limit: u64, found: u64 },
    #[error("bad transaction: {0}")]
    BadTx(String),
    #[error("transaction origin {0} is not an appliance named in the genesis")]
    UnknownOrigin(PublicKey),
    #[error("nullifier {nullifier} was already used in election {election_id}")]
    DuplicateNullifier { election_id: u64, nullifier: Hash32 },
    #[error("transaction {0} appears twice")]
    DuplicateTx(Hash32),
    #[error("unknown election {0}")]
    UnknownElection(u64),
    #[error("election {election_id} is not open at {at_ms}")]
    ElectionNotOpen { election_id: u64, at_ms: u64 },
    #[error("chain look-up failed: {0}")]
    Lookup(String),
    #[error("{message}")]
    Crypto { code: &'static str, message: String },
    #[error("bad ballot: {0}")]
    BadBallot(String),
    #[error("bad decryption share: {0}")]
    BadDecryptionShare(String),
    #[error("bad fallback proof: {0}")]
    BadFallbackProof(String),
    #[error("credential not listed: {0}")]
    UnknownCredential(String),
    #[error("credential {0} was revoked")]
    RevokedCredential(PublicKey),
    #[error("credential {0} has already cast a ballot: it can no longer be revoked")]
    CredentialUsed(PublicKey),
    #[error("credential {0} is already listed or already replaces another")]
    DuplicateCredential(PublicKey),
    #[error("not on the roll: {0}")]
    NotOnRoll(String),
    #[error("the roll assigns this voter to station {assigned}, not {found}")]
    WrongStation {
        assigned: PublicKey,
        found: PublicKey,
    },
    #[error("roll entry {leaf} of election {election_id} is already checked in")]
    DuplicateCheckIn { election_id: u64, leaf: Hash32 },
    #[error("bad spoiled ballot: {0}")]
    BadSpoiledBallot(String),
    #[error("bad closing record: {0}")]
    BadDeviceClose(String),
    #[error("appliance {origin} already closed election {election_id}")]
    DuplicateDeviceClose { election_id: u64, origin: PublicKey },
    #[error("appliance {origin} closed election {election_id}: {detail}")]
    DeviceClosed {
        election_id: u64,
        origin: PublicKey,
        detail: String,
    },
}

impl LedgerError {
    /// `WrongChain` unless `found` is `expected`.
    pub fn same_chain(expected: &Hash32, found: &Hash32) -> Result<(), LedgerError> {
        if found != expected {
            return Err(LedgerError::WrongChain {
                expected: *expected,
                found: *found,
            });
        }
        Ok(())
    }

    /// A stable, machine-readable name for the rule that failed.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Encoding(_) => "encoding",
            Self::IntegerTooLarge { .. } => "integer_too_large",
            Self::Key(_) => "key",
            Self::InvalidGenesis(_) => "invalid_genesis",
            Self::WrongChain { .. } => "wrong_chain",
            Self::WrongHash { .. } => "wrong_hash",
            Self::BadSignature { .. } => "bad_signature",
            Self::WrongPrevHash { .. } => "wrong_prev_hash",
            Self::WrongHeight { .. } => "wrong_height",
            Self::UnknownProposer(_) => "unknown_proposer",
            Self::WrongProposer { .. } => "wrong_proposer",
            Self::TooFewSeals { .. } => "too_few_seals",
            Self::DuplicateSeal(_) => "duplicate_seal",
            Self::SealFromNonValidator(_) => "seal_from_non_validator",
            Self::BadSeal(_) => "bad_seal",
            Self::TimestampBackwards { .. } => "timestamp_backwards",
            Self::TimestampInFuture { .. } => "timestamp_in_future",
            Self::TxCountMismatch { .. } => "tx_count_mismatch",
            Self::TooManyTxs { .. } => "too_many_txs",
            Self::BadTx(_) => "bad_tx",
            Self::UnknownOrigin(_) => "unknown_origin",
            Self::DuplicateNullifier { .. } => "duplicate_nullifier",
            Self::DuplicateTx(_) => "duplicate_tx",
            Self::UnknownElection(_) => "unknown_election",
            Self::ElectionNotOpen { .. } => "election_not_open",
            Self::Lookup(_) => "lookup",
            Self::Crypto { code, .. } => code,
            Self::BadBallot(_) => "bad_ballot",
            Self::BadDecryptionShare(_) => "bad_decryption_share",
            Self::BadFallbackProof(_) => "bad_fallback_proof",
            Self::UnknownCredential(_) => "unknown_credential",
            Self::RevokedCredential(_) => "revoked_credential",
            Self::CredentialUsed(_) => "credential_used",
            Self::DuplicateCredential(_) => "duplicate_credential",
            Self::NotOnRoll(_) => "not_on_roll",
            Self::WrongStation { .. } => "wrong_station",
            Self::DuplicateCheckIn { .. } => "duplicate_check_in",
            Self::BadDeviceClose(_) => "bad_device_close",
            Self::BadSpoiledBallot(_) => "bad_spoiled_ballot",
            Self::DuplicateDeviceClose { .. } => "duplicate_device_close",
            Self::DeviceClosed { .. } => "device_closed",
        }
    }
}
