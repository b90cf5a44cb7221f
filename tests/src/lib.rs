pub mod attacks;
pub mod audit_bin;
pub mod bench;
pub mod cluster;
pub mod linkproxy;
pub mod sim;
pub mod testcert;
