//! evote appliance: a polling-station node of the evote election ledger.
//!
//! `ledger` and `consensus` are pure (no IO, no clock, no OS randomness);
//! `store` is the only module that knows SQL and `net` the only one that
//! knows HTTP; `node` drives the consensus core with the store and the
//! network.

// The pure core lives in its own crate (evote-core); `crate::ledger` and
// `crate::consensus` name it here.
use evote_core::{consensus, ledger};

pub mod app;
pub mod auth;
pub mod chaincheck;
pub mod cli;
pub mod clock;
pub mod config;
pub mod fuzzing;
pub mod keyfile;
pub mod net;
pub mod node;
pub mod notify;
pub mod store;
pub mod submission;
