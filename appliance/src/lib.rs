//! evote appliance: a polling-station node of the evote election ledger.
//!
//! `ledger` and `consensus` are pure (no IO, no clock, no OS randomness);
//! `store` is the only module that knows SQL and `net` the only one that
//! knows HTTP; `node` drives the consensus core with the store and the
//! network.

// The pure core lives in its own crate (evote-core); `crate::ledger` and
// `crate::consensus` name it here.
use evote_core::{consensus, ledger};

mod app;
mod auth;
mod chaincheck;
pub mod cli;
mod clock;
mod config;
pub mod fuzzing;
mod keyfile;
mod net;
mod node;
mod notify;
mod store;
mod submission;
mod web;

// The modules are private, so that the compiler reports what nothing uses;
// other crates (the end-to-end tests, benches and load tools, the fuzz
// targets, the docs generator) reach only what follows, `cli` and `fuzzing`.
pub use app::load_genesis;
pub use auth::{OsRandom, pbkdf2_hash};
pub use clock::{TEST_CLOCK_AHEAD, now_ms};
pub use config::{Config, TlsFiles};
pub use keyfile::read_node_key;
pub use net::bootnode;
pub use net::peer_auth::{HeadProof, Signer, StatusFields};
/// How long the public door holds a 429 before sending it.
pub use net::server::TOO_FAST_HOLD;
/// What https calls trust (`--ca-file`), and a door's certificate.
pub use net::tls;
pub use node::NODE_PAGE_CACHE_MIB;
pub use store::{DB_FILE, Store, packed};

/// The node's driver and what it is generic over, for the simulator
/// (tests/src/sim): it steps the appliance's own driver on a store in
/// memory, a simulated network and virtual time.
pub mod driver {
    pub use crate::clock::Clock;
    pub use crate::node::{
        Counters, DEFAULT_ROUND_TRIP_MS, Driver, DriverSetup, FallbackReason, MAX_BATCH, Network,
        NodeStatus, NodeStore, PeerHead, Request, Source, Submission, SubmitOutcome,
    };
    pub use crate::store::{
        Durability, FallbackBallot, FallbackCounts, Head, MAX_MEMPOOL_TXS, MempoolEntry,
        MempoolInsert, Offered, ReconcileState, StoreError, next_code,
    };
}
