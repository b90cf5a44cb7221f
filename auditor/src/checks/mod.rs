//! The checks: PROTOCOL.md's rules applied to what the sources hold, each
//! broken rule a [`Finding`] under a stable [`CheckId`].
//!
//! A block is checked in two steps. [`block::check_header`] and
//! [`transaction::check_txs`] need only the genesis and the block itself
//! (hashes, signatures, ballot proofs, limits), so [`window`] runs them on
//! many threads; [`ChainState::apply`] ([`chain`], §7) then adds what needs
//! the chain so far (height, link, timestamp order, repeated transactions,
//! nullifiers and ciphertexts, decryption shares against the tally) in
//! block order, and adds each ballot to its election's encrypted tally.
//! [`tally`] decrypts the totals and compares them with what sources
//! report (E.5); [`fallback`] checks fallback chains (§7a).
//!
//! Unlike the reference implementation, which stops at the first broken
//! rule, the auditor reports every broken rule of a block, except where a
//! rule cannot be judged once an earlier one failed (an unknown proposer
//! has no turn to check; a transaction that failed one of 18a-18m is not
//! also reported under 19-21). For a block that breaks one rule, the one
//! finding is exactly the code PROTOCOL.md names.

pub mod block;
pub mod chain;
pub mod codes;
pub mod fallback;
mod finding;
mod ids;
mod sig_cache;
mod spoiled;
pub mod stations;
pub mod tally;
pub mod transaction;
pub mod window;

pub use block::{RawBlock, RawParts};
pub use chain::{ChainState, FirstUse, HeightRecord};
pub use finding::Finding;
pub use ids::{CheckId, Scope};
pub use sig_cache::{DEFAULT_SIG_CACHE, SigCache};

#[cfg(test)]
mod vectors;
