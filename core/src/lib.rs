//! evote's pure core: the ledger (wire types, canonical encoding, hashes,
//! signatures, validity rules, ballot cryptography) and the QBFT-style
//! consensus state machine.
//!
//! Nothing here does IO, reads a clock, draws OS randomness or iterates a
//! hash map: time, randomness and storage reads come in as arguments and
//! effects go out as returned actions. That is what lets the seeded
//! simulator replay any run from one number. The crate's manifest holds
//! the rule: no IO crate is among its dependencies.

pub mod consensus;
pub mod ledger;
