//! Password hashing off the async runtime and off the database pool, a few
//! at a time: a login flood costs at most [`PasswordWork`]'s threads, never
//! the database connections or the cores voters' requests need.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::error::ApiError;

/// Logins and registrations waiting for a hashing thread; past it they are
/// answered 503 at once.
pub const MAX_WAITING_PASSWORDS: usize = 256;

pub struct PasswordWork {
    slots: Semaphore,
    waiting: AtomicUsize,
}

impl PasswordWork {
    /// Half the cores (at least one) hash passwords.
    pub fn half_the_cores() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new((cores / 2).max(1))
    }

    pub fn new(threads: usize) -> Self {
        Self {
            slots: Semaphore::new(threads),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Runs `f` (a password hash or check) on a blocking thread once one of
    /// the slots is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_PASSWORDS {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::busy("too many logins at once; try again"));
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|e| ApiError::internal("hashing a password", e))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::internal("hashing a password", e))
    }
}
