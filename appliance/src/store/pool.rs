//! A small pool of read (and light write) connections for the HTTP
//! handlers. The node thread has its own connection; WAL lets readers run
//! beside its writes.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Result, Store};

pub struct StorePool {
    conns: Vec<Mutex<Store>>,
    next: AtomicUsize,
}

impl StorePool {
    pub fn open(path: &Path, size: usize) -> Result<Self> {
        let conns = (0..size.max(1))
            .map(|_| Store::open(path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a free connection (blocking; call from a blocking thread).
    pub fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        for c in &self.conns {
            if let Ok(mut s) = c.try_lock() {
                return f(&mut s);
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let mut s = self.conns[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }
}
