pub mod ledger;
pub mod store;
