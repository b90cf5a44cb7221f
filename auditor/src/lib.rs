//! evote-audit: the observers' auditor of evote election ledgers.
//!
//! It re-implements the rules of `schema/PROTOCOL.md` without using the
//! appliance's code, reads chains from running appliances (`/p2p/...`) or
//! from their SQLite files, and reports every check by a stable id with a
//! PASS, FAIL or SKIP verdict. The binary (`src/main.rs`) is a thin shell
//! over [`main`].
//!
//! - `protocol/`: the protocol's objects and encodings, one file per
//!   section of PROTOCOL.md (encoding, genesis, transaction, block), the
//!   canonical writer, packed ballots as databases store them, and the
//!   ElGamal cryptography of encrypted ballots (E.1-E.6).
//! - `checks/`: the rules: a block's (§6, `block.rs`, `transaction.rs`),
//!   the chain's (§7, `chain.rs`), fallback chains (§7a), the tally (E.5),
//!   the check ids, and `window.rs`, which runs a window's stateless rules
//!   on many threads.
//! - `sources/`: nodes over HTTP and database files, read in windows.
//! - `audit/`: the whole audit, source by source and across sources;
//!   `report/`: its result, as text or JSON; `cli.rs`: the command line.
//! - `synth.rs`: synthetic appliance databases for the auditor's own
//!   tests, benches and examples (feature `test-support`, never shipped).

mod audit;
mod checks;
mod cli;
mod protocol;
mod report;
mod sources;
#[cfg(any(test, feature = "test-support"))]
pub mod synth;

pub use audit::{AuditError, AuditOptions, run_audit};
pub use cli::main;
pub use report::{Outcome, Report, Verdict};

/// Exit status: everything verified.
pub const EXIT_VERIFIED: i32 = 0;
/// Exit status: at least one discrepancy was found.
pub const EXIT_DISCREPANCY: i32 = 1;
/// Exit status: the audit could not run, or not on every source (bad usage,
/// an unreachable node, an unreadable file), and nothing failed.
pub const EXIT_CANNOT_RUN: i32 = 2;
