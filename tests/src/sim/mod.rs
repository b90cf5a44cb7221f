//! A deterministic simulator of the QBFT consensus core (in the manner of
//! TigerBeetle's VOPR): n validators run in one thread on virtual time, and
//! one seeded PRNG decides every message delay, drop, duplicate and
//! reordering, every partition and heal, every crash (also between two
//! actions of one action list, e.g. after a Persist and before its
//! Broadcast), restart and disk loss, and the stream of votes.
//!
//! Messages travel as the appliance's peer layer sends them
//! ([`net::Wire`]): a consensus message whose delivery fails (a cut link, a
//! lost request, a peer that is down) is sent again after a wait until it
//! arrives or its sender moved on; a validator that restarts, or catches up
//! from far behind, gets the others' current messages again. Links take
//! the delays of [`net::Latency`] (1-200 ms by default; wide-area delays,
//! jitter and stalls on request).
//!
//! A run has two phases. In the safety phase faults come and go freely,
//! with more than f validators down at times. Then the last fault: the
//! network heals and stops losing messages, every validator restarts from
//! what it kept, and no new votes arrive; within [`liveness_bound`] (derived
//! from the highest round a validator is in then, the heartbeat and the
//! backlog) every accepted vote must be committed on every validator and all
//! heads must agree.
//!
//! Checked throughout: no two validators commit different blocks at one
//! height; every committed block carries Q valid distinct seals; no ballot
//! (hash or nullifier) is committed twice on a chain; every broadcast is
//! in the journal persisted before it; no validator that kept its disk
//! sends two different messages of one type for one height and round, or is
//! reported for equivocation by another; synced blocks from honest peers
//! pass `check_committed_block`.

mod engine;
pub mod net;
mod node;
mod rng;
mod world;

pub use engine::{
    Config, Failure, LIVENESS_SLACK_MS, Outcome, describe, liveness_bound, replay_command, run,
};
pub use rng::Rng;
pub use world::{PARAMS, START_MS, World};
