//! evote-audit: the observers' auditor of evote election ledgers.
//!
//! It re-implements the rules of `schema/PROTOCOL.md` without using the
//! appliance's code, reads chains from running appliances (`/p2p/...`) or
//! from their SQLite files, and reports every check by a stable id with a
//! PASS, FAIL or SKIP verdict. The binary (`src/main.rs`) is a thin shell
//! over [`cli::main`].
//!
//! - [`wire`]: the protocol's objects, strict hex, canonical hashing;
//!   [`canon`]: a direct canonical writer for the objects hashed most.
//! - [`elgamal`]: encrypted ballots, the key ceremony's public record,
//!   decryption shares and the tally (PROTOCOL.md E.1-E.6).
//! - [`genesis`]: genesis validity and the look-ups the rules need.
//! - [`rules`]: PROTOCOL.md §6, block by block; [`state`]: what §7
//!   carries from block to block (links, nullifiers, shares, tallies).
//! - [`engine`]: the stateless rules of a window of blocks on many threads.
//! - [`tally`]: the encrypted totals, the decryption, and the comparison
//!   with what sources report; [`fallback`]: fallback chains (§7a).
//! - [`source`]: nodes over HTTP and database files, read in windows.
//! - [`audit`]: the whole audit; [`report`]: its result, as text or JSON.
//! - [`synth`]: synthetic appliance databases for tests and benchmarks.

pub mod audit;
pub mod canon;
pub mod checks;
pub mod cli;
pub mod elgamal;
pub mod engine;
pub mod fallback;
pub mod genesis;
pub mod http;
pub mod packed;
pub mod report;
pub mod rules;
pub mod source;
pub mod state;
pub mod synth;
pub mod tally;
pub mod wire;

pub use audit::{AuditError, AuditOptions, run_audit};
pub use checks::CheckId;
pub use report::{Outcome, Report, Verdict};

/// Exit status: everything verified.
pub const EXIT_VERIFIED: i32 = 0;
/// Exit status: at least one discrepancy was found.
pub const EXIT_DISCREPANCY: i32 = 1;
/// Exit status: the audit could not run, or not on every source (bad usage,
/// an unreachable node, an unreadable file), and nothing failed.
pub const EXIT_CANNOT_RUN: i32 = 2;
