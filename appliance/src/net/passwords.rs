//! Password hashing off the async runtime and off the database pool, on
//! threads of its own (half the cores, at least one) at a priority below
//! proof work's ([`PASSWORD_NICENESS`]), with a bounded wait (`MAX_WAITING_PROOF_WORK`, then 503): a
//! login flood costs at most those threads, never the database connections
//! or the CPU voters' requests and the node thread need first.

use super::error::ApiError;
use crate::submission::ProofWork;

/// How much nicer than the appliance password hashing runs.
pub const PASSWORD_NICENESS: i32 = 10;

pub struct PasswordWork(ProofWork);

impl PasswordWork {
    pub fn half_the_cores() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        ProofWork::named((cores / 2).max(1), "evote-password", PASSWORD_NICENESS).map(Self)
    }

    /// Runs `f` (a password hash or check) once one of the threads is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        Ok(self.0.run("hashing a password", f).await?)
    }
}
