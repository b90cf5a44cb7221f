//! A deterministic simulator of the appliance's validators (in the manner
//! of TigerBeetle's VOPR): n validators run in one thread on virtual time,
//! each the appliance's own node driver (`evote_appliance::driver::Driver`)
//! with the real consensus core, on a simulated disk ([`store`]), a
//! simulated network ([`io`] for what the driver sees: its outbox and the
//! peers' status polls) and a virtual clock. One seeded PRNG decides every
//! message delay, drop, duplicate and reordering, every partition and heal,
//! every crash (also between two effects of one step of a driver, e.g.
//! after a journal write and before the broadcast it protects), restart and
//! disk loss, and the stream of votes (and double votes). So the driver's
//! own decisions run here too: batching, proposal selection, catching up,
//! fallback mode and the reconciliation of fallback ballots.
//!
//! Messages travel as the appliance's peer layer sends them
//! ([`net::Wire`]): a consensus message whose delivery fails (a cut link, a
//! lost request, a peer that is down) is sent again after a wait until it
//! arrives or its sender moved on; a validator that restarts, or catches up
//! from far behind, gets the others' current messages again. Links take
//! the delays of [`net::Latency`] (1-200 ms by default; wide-area delays,
//! jitter and stalls on request).
//!
//! A run has two phases. In the first, faults come and go freely, with
//! more than f validators down at times. Then the last fault: the network
//! heals and stops losing messages, every validator is started from what it
//! kept, and no new votes arrive; within [`liveness_bound`] (derived from
//! the highest round a validator is in then, the heartbeat and the backlog)
//! every acknowledged vote must be committed on every validator, every
//! fallback ballot settled, and all heads must agree.
//!
//! Checked throughout: no two validators commit different blocks at one
//! height; every committed block carries Q valid distinct seals; no ballot
//! (hash or nullifier) is committed twice on a chain; every broadcast is
//! in the journal persisted before it; no validator that kept its disk
//! sends two different messages of one type for one height and round, or is
//! reported for equivocation by another; no driver asks again and again to
//! be woken at once (its thread would spin). At the end: every acknowledged
//! vote (in the mempool or sealed in a fallback chain) is committed exactly
//! once, or rejected as a double vote naming the ballot that was counted.
//! The healthy-network configurations ([`Config::idle`], [`Config::slow`])
//! also require that no validator ever enters fallback mode.

mod engine;
mod io;
pub mod net;
mod node;
mod rng;
mod store;
mod world;

pub use engine::{
    Config, Failure, LIVENESS_SLACK_MS, Outcome, describe, liveness_bound, replay_command, run,
};
pub use rng::Rng;
pub use world::{CALM, PARAMS, START_MS, World};
