//! Proof work (encrypting a ballot, checking signatures and ballot proofs)
//! runs on threads of its own, one per core, at a lower scheduling priority
//! ([`PROOF_WORK_NICENESS`]) than the node thread and the HTTP workers. Past
//! them, requests wait their turn without a thread; past [`MAX_WAITING_PROOF_WORK`] they are
//! told the node is busy. An overloaded node must keep CPU for consensus:
//! with proof work unbounded, a testnet accepting more ballots than it could
//! verify starved its consensus messages and stopped committing.
//!
//! Peers' gossip batches run on all threads but one: a batch takes tens of
//! milliseconds, and a voter waiting behind a queue of them was answered
//! late. A voter's own ballot (encrypting it, checking it) always finds a
//! thread after at most the batch that holds it.
//!
//! The lower priority is for a saturated machine: the node thread committed
//! a block in 33 ms of wall time for 13 ms of CPU while it shared the cores
//! with proof work, and every ballot submitted meanwhile waited for it.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::{Semaphore, oneshot};

use super::WorkError;

/// Requests that may wait for a proof-work thread before others are refused.
pub const MAX_WAITING_PROOF_WORK: usize = 1_024;

/// How much nicer than the rest of the appliance proof work runs (added to
/// the `nice` value its threads start with).
pub const PROOF_WORK_NICENESS: i32 = 5;

type Job = Box<dyn FnOnce() + Send>;

pub struct ProofWork {
    threads: Arc<Semaphore>,
    peer_lane: Semaphore,
    waiting: AtomicUsize,
    jobs: mpsc::Sender<Job>,
}

/// Counts a request as waiting until it gets a thread or is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ProofWork {
    /// At most `threads` (at least one) run at once. Fails if a thread
    /// cannot be started: work sent to threads that do not exist would
    /// wait for ever.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        Self::named(threads, "evote-proof", PROOF_WORK_NICENESS)
    }

    /// Like [`ProofWork::new`], with threads called `name-N` that run
    /// `niceness` nicer than the appliance (password hashing runs below
    /// proof work, so that a login flood never delays a voter's ballot).
    pub fn named(threads: usize, name: &'static str, niceness: i32) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&rx, niceness))?;
        }
        Ok(Self {
            threads: Arc::new(Semaphore::new(threads)),
            peer_lane: Semaphore::new((threads - 1).max(1)),
            waiting: AtomicUsize::new(0),
            jobs,
        })
    }

    /// One thread per core.
    pub fn per_core() -> std::io::Result<Self> {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Runs `f` on a proof-work thread once one is free.
    pub async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkError> {
        self.run_in(None, what, f).await
    }

    /// Runs a peer's work on a thread once one is free and fewer than all
    /// threads but one hold peers' work.
    pub async fn run_for_peer<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkError> {
        self.run_in(Some(&self.peer_lane), what, f).await
    }

    async fn run_in<T: Send + 'static>(
        &self,
        lane: Option<&Semaphore>,
        what: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_PROOF_WORK {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(WorkError::Busy(
                "the node is busy checking ballots; try again in a moment",
            ));
        }
        let waiting = Waiting(&self.waiting);
        let lane_permit = match lane {
            Some(l) => Some(
                l.acquire()
                    .await
                    .map_err(|e| WorkError::internal(what, e))?,
            ),
            None => None,
        };
        let permit = self.threads.clone().acquire_owned().await;
        drop(waiting);
        let permit = permit.map_err(|e| WorkError::internal(what, e))?;
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = reply.send(f());
        });
        self.jobs
            .send(job)
            .map_err(|e| WorkError::internal(what, e))?;
        let done = answer.await.map_err(|e| WorkError::internal(what, e));
        drop(lane_permit);
        done
    }
}

/// A proof-work thread: lowers its own priority, then runs jobs until the
/// pool is dropped. A job that panics loses its answer (the caller gets an
/// internal error), not the thread.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, niceness: i32) {
    if let Err(e) = lower_priority(niceness) {
        tracing::warn!("lowering the priority of proof work: {e}");
    }
    loop {
        let next = jobs.lock().map(|rx| rx.recv());
        let Ok(Ok(job)) = next else { return };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Makes this thread `niceness` ([`PROOF_WORK_NICENESS`] for proof work)
/// nicer than it was, which is
/// as nice as the appliance (a thread starts with its creator's value):
/// relative, so that an appliance started with `nice` or systemd's `Nice=`
/// keeps its proof work below itself, not at an absolute 5 above it.
fn lower_priority(niceness: i32) -> rustix::io::Result<()> {
    let tid = rustix::thread::gettid();
    let now = rustix::process::getpriority_process(Some(tid))?;
    rustix::process::setpriority_process(Some(tid), (now + niceness).min(19))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type Task = tokio::task::JoinHandle<Result<(), WorkError>>;

    /// `n` jobs that each sleep `nap` (a peer's when `peer`), and the most
    /// of them that ran at once.
    fn spawn_sleepers(
        pool: &Arc<ProofWork>,
        n: usize,
        nap: Duration,
        peer: bool,
    ) -> (Vec<Task>, Arc<AtomicUsize>) {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks = (0..n)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    let job = move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(nap);
                        running.fetch_sub(1, Ordering::SeqCst);
                    };
                    if peer {
                        pool.run_for_peer("test", job).await
                    } else {
                        pool.run("test", job).await
                    }
                })
            })
            .collect();
        (tasks, most)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_most_its_threads_at_once_and_refuses_past_the_queue() {
        let pool = Arc::new(ProofWork::new(2).unwrap());
        let (tasks, most) = spawn_sleepers(&pool, 8, Duration::from_millis(20), false);
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);

        // A full queue: the next request is refused as busy, at once.
        pool.waiting.store(MAX_WAITING_PROOF_WORK, Ordering::SeqCst);
        let err = pool.run("test", || ()).await.unwrap_err();
        assert!(matches!(err, WorkError::Busy(_)), "{err:?}");
        assert_eq!(pool.waiting.load(Ordering::SeqCst), MAX_WAITING_PROOF_WORK);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn peers_work_leaves_a_thread_for_voters() {
        let pool = Arc::new(ProofWork::new(2).unwrap());
        let (peers, most) = spawn_sleepers(&pool, 4, Duration::from_millis(200), true);
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The peers' four batches take 800 ms one after another; a voter's
        // work runs beside them at once.
        pool.run("test", || ()).await.unwrap();
        assert!(
            !peers.iter().all(|p| p.is_finished()),
            "the voter waited for every peer batch"
        );
        for p in peers {
            p.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "peers held one thread");
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_nicer_and_a_panic_costs_only_its_answer() {
        let pool = ProofWork::new(1).unwrap();
        let nice = pool
            .run("test", || {
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
            })
            .await
            .unwrap();
        let base = rustix::process::getpriority_process(None).unwrap();
        assert_eq!(nice, (base + PROOF_WORK_NICENESS).min(19));
        let err = pool
            .run("test", || -> u8 { panic!("a bug in a check") })
            .await
            .unwrap_err();
        assert!(matches!(err, WorkError::Internal { .. }), "{err:?}");
        assert_eq!(pool.run("test", || 7).await.unwrap(), 7);
    }
}
