pub mod bench;
pub mod cluster;
pub mod sim;
