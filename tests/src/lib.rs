pub mod bench;
pub mod cluster;
