pub mod consensus;
pub mod ledger;
pub mod store;
