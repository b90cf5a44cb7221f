//! `evote-bench`: the load generator and the chaos soak. Both start their
//! own local testnet (or target `--nodes`), send traffic only to loopback
//! addresses they were given, and stop by themselves.

pub mod bound;
pub mod chaos;
pub mod growth;
pub mod load;
pub mod stats;
