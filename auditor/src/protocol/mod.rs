//! The objects of `schema/PROTOCOL.md` and their encodings, as the auditor
//! reads them: strict lowercase `0x` hex, closed objects
//! (`deny_unknown_fields`), the SHA-256 over the canonical form that every
//! object is known by, and the ElGamal cryptography of encrypted ballots.
//! One file per section: [`encoding`] (§1, §2), [`genesis`] (§3),
//! [`transaction`] (§4), [`block`] (§5), [`elgamal`] (E.1-E.6); [`canon`]
//! writes the canonical form of the objects hashed most, [`packed`] reads
//! the ballots an appliance's database stores packed (schema/STORAGE.md).
//!
//! These types are written from the protocol text, not shared with the
//! appliance: the auditor must catch an appliance that drifted from it.

pub mod block;
pub mod canon;
pub mod elgamal;
pub mod encoding;
pub mod genesis;
pub mod packed;
pub mod transaction;

pub use block::*;
pub use encoding::*;
pub use genesis::*;
pub use transaction::*;
