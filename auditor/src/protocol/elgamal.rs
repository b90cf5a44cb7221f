//! The cryptography of secret ballots, re-implemented from the section
//! "Encrypted ballots and the tally" of `schema/PROTOCOL.md` (E.1-E.6):
//! points and scalars on the wire, Fiat-Shamir transcripts, the checks of
//! a ballot's proofs, of the trustees' round-1 messages, of a decryption
//! share, and the combination of shares into counts.
//!
//! A file per section: `group.rs` (E.1), `transcript.rs` (E.2), `ballot.rs`
//! (E.3), `ceremony.rs` (E.4), `tally.rs` (E.5), `error.rs` (E.6's codes);
//! `objects.rs` holds the objects they read.
//!
//! Verification only needs public values and runs in variable time. The
//! few functions that make proofs ([`prove`]) exist for the auditor's
//! synthetic chains (tests and the verify-rate benchmark); an audit never
//! calls them.

use std::fmt;

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::{
    CompressedRistretto, RistrettoPoint, VartimeRistrettoPrecomputation,
};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{
    Identity, IsIdentity, VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

use crate::protocol::decode_fixed;

/// Candidates per ballot at most (E.6).
pub const MAX_CANDIDATES: usize = 256;
/// Trustees per ceremony at most (E.4).
pub const MAX_TRUSTEES: u32 = 64;
/// Ballots in one tally at most (E.5).
pub const MAX_TALLY: u64 = u32::MAX as u64;
/// The largest baby-step table of the discrete logarithm.
const MAX_BABY_STEPS: u64 = 1 << 20;

pub const TAG_ZERO_ONE: &str = "evote/v1/ballot-01";
pub const TAG_SUM: &str = "evote/v1/ballot-sum";
pub const TAG_POK: &str = "evote/v1/dkg-pok";
pub const TAG_DECRYPTION: &str = "evote/v1/decryption-share";

mod ballot;
mod ceremony;
mod error;
mod group;
mod objects;
mod tally;
mod transcript;

pub use ballot::*;
pub use ceremony::*;
pub use error::*;
pub use group::*;
pub use objects::*;
pub use tally::*;
pub use transcript::*;

/// Making proofs, for the auditor's synthetic chains and tests only.
#[cfg(any(test, feature = "test-support"))]
pub mod prove;

#[cfg(test)]
mod vectors;

#[cfg(test)]
mod tests;
