//! The ledger: wire types, canonical encoding, hashes, signatures and the
//! validity rules. No IO, no clock, no OS randomness: everything it needs
//! comes in as arguments.

pub mod block;
pub mod bytes;
pub mod canonical;
pub mod canonical_ballot;
pub mod credential;
pub mod crypto;
pub mod elgamal;
pub mod error;
pub mod fallback;
pub mod genesis;
pub mod memchain;
pub mod merkle;
pub mod nullifier;
pub mod records;
pub mod roll;
pub mod spoiled;
pub mod tally;
pub mod tx;
pub mod validate;
mod verified;

pub use block::{Block, BlockHeader, CommitSeal, Vote, VoteKind, merkle_root, tx_root};
pub use bytes::{Hash32, HexError, PublicKey, Signature};
pub use canonical::{canonical_bytes, hash_of, sha256};
pub use crypto::{NodeKey, address_of, verify, verify_digest};
pub use error::LedgerError;
pub use genesis::{
    Candidate, Election, Eligibility, Genesis, Params, RollCommitment, StationInfo, ValidatorInfo,
    quorum,
};
pub use records::{CheckInTx, CodeChainHead, CredentialReplacementTx, DeviceCloseTx, FallbackEnd};
pub use spoiled::{Opening, SpoiledBallotTx, tracking_code};
pub use tally::{ElectionTrustees, TallyState};
pub use tx::{Ballot, BallotTx, DecryptionShareTx, FallbackRef, SignedTx, Transaction, check_tx};
pub use validate::{ChainLookup, CredentialOnChain, DeviceEnd, InBlock, Parent};
