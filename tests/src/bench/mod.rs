//! `evote-bench`: the load generator, the chaos soak and the wide-area
//! runs. Each starts its own local testnet (or targets `--nodes`), sends
//! traffic only to loopback addresses it was given, and stops by itself.

pub mod board;
pub mod bound;
pub mod chaos;
pub mod credentials;
pub mod flood;
pub mod growth;
pub mod load;
pub mod stats;
pub mod wan;
pub mod watch;
