//! Storage: the only module that knows SQL. One SQLite file holds the
//! chain, the mempool, voters and sessions, and the consensus journal.
//!
//! Every write that must be atomic runs in a `BEGIN IMMEDIATE` transaction:
//! a deferred one that later upgrades to a write fails with SQLITE_BUSY at
//! once instead of waiting for the busy timeout.

mod chain;
mod codes;
mod consensus;
mod export;
mod fallback;
mod mempool;
mod migrate;
pub mod packed;
mod pool;
mod roll;
mod spoiled;
mod voters;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::types::FromSql;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Params};

use crate::ledger::{Hash32, LedgerError};

pub use chain::{Head, PollCount, TxLocation, lookup};
pub use codes::{ToConfirm, next_code};
pub use fallback::{FallbackBallot, FallbackCounts, ReconcileState};
pub use mempool::{Durability, MAX_MEMPOOL_TXS, MempoolEntry, MempoolInsert, Offered};
pub use pool::StorePool;
pub use roll::RollVoter;
pub use spoiled::SpoiledEntry;
pub use voters::{NewVoter, Voter};

/// The file name of the database inside a data directory.
pub const DB_FILE: &str = "evote.sqlite3";
/// How long a connection waits for a lock held by another connection.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the node thread's connection waits: the node stops on a
/// storage error (systemd restarts it), so a write lock held long by a
/// disk stalled in fsync or by a command run beside the appliance should
/// pause consensus, not end the process. A request handler gives up at
/// [`BUSY_TIMEOUT`] and its client is told to try again.
pub const NODE_BUSY_TIMEOUT: Duration = Duration::from_secs(120);
/// The first pause while waiting for such a lock, doubled up to
/// `BUSY_STEP_MAX` (`wait_for_lock`).
const BUSY_STEP_MIN: Duration = Duration::from_micros(50);
const BUSY_STEP_MAX: Duration = Duration::from_micros(800);
/// The page size of a new database. A committed ballot's row is about
/// 1.2 KB packed (3 candidates; `packed.rs`), a mempool row the same: SQLite's
/// default 4 KB pages hold three with 14% left over, 16 KB pages fourteen
/// with next to nothing (when ballots were JSON, 3 KB, a row took a 4 KB
/// page of its own). Applies only to a database being created: SQLite fixes
/// the page size when the first table is written (an existing file keeps
/// its own).
pub const PAGE_SIZE: u32 = 16 * 1024;
/// Pages the write-ahead log may hold before a commit copies them into the
/// database file (SQLite's default is 1,000). The chain's unique indexes on
/// transaction hash and nullifier take random keys: once they outgrow the
/// page cache, every ballot committed dirties a page of each, and each
/// checkpoint writes those pages again. A longer log lets a page changed by
/// several blocks reach the file once: with 1-2 million ballots on chain, a
/// block of 1,000 took 80-95 ms to commit instead of 110-125 (`evote-bench
/// growth`, docs/benchmarks.md). The log file stays at up to this many
/// pages (128 MiB) once it has grown. Set on every connection: any
/// connection's commit runs the checkpoint once the log is longer than its
/// own limit.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database has schema version {found}, newer than this binary's {supported}; \
         it was left untouched: run a newer evote-appliance"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("the database belongs to chain {stored}, not to this genesis ({given})")]
    GenesisMismatch { stored: Hash32, given: Hash32 },
    #[error("the database holds no genesis")]
    NoGenesis,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("block {height} does not extend the head (height {head})")]
    NotNextBlock { height: u64, head: u64 },
    #[error("this appliance's fallback chain is closed")]
    FallbackClosed,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl StoreError {
    /// Whether another connection held the database's lock for longer than
    /// this one waits: nothing was written, and the same call may succeed
    /// a moment later.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A connection to the appliance's database.
pub struct Store {
    conn: Connection,
    /// The mempool's size as this connection last counted or changed it,
    /// with the `data_version` it was counted at (`mempool.rs`).
    mempool_size: std::cell::Cell<Option<(i64, u64)>>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    /// A database from a newer binary is refused before anything is written.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::setup(conn)
    }

    /// A private in-memory database, for tests and the simulator.
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self> {
        migrate::refuse_newer(&conn)?;
        conn.busy_handler(Some(wait_for_lock(BUSY_TIMEOUT)))?;
        // Before WAL mode: after it, the page size can no longer change.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Query plans do not depend on bound values (there are no
        // statistics to choose by): without this, SQLite's statistics build
        // marks a statement's range and equality parameters as plan-changing
        // and compiles a cached statement again on every run.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        migrate::migrate(&mut conn)?;
        Ok(Self {
            conn,
            mempool_size: Default::default(),
        })
    }

    /// Runs `f` with this connection's commits unsynced (in WAL mode,
    /// synchronous=NORMAL): what they write is on disk for good with the
    /// next commit any connection syncs, since every commit appends to the
    /// one log file. For writes whose caller answers nobody before such a
    /// commit. Back to FULL afterwards, whatever `f` returned.
    pub fn with_next_sync<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let done = f(self);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        done
    }

    /// Makes this connection wait up to `limit` for another's lock.
    pub fn set_lock_wait(&mut self, limit: Duration) -> Result<()> {
        self.conn.busy_handler(Some(wait_for_lock(limit)))?;
        Ok(())
    }

    /// Lets this connection keep up to `mib` MiB of database pages in
    /// memory (SQLite's default is 2 MiB: 128 pages of 16 KB).
    pub fn set_page_cache_mib(&self, mib: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -(i64::from(mib) * 1024))?;
        Ok(())
    }

    /// `PRAGMA quick_check` (or the full `integrity_check`): "ok" or the problems found.
    pub fn integrity_check(&self, full: bool) -> Result<Vec<String>> {
        let pragma = if full {
            "integrity_check"
        } else {
            "quick_check"
        };
        let mut stmt = self.conn.prepare(&format!("PRAGMA {pragma}"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

/// A connection's wait for another's write lock, as SQLite's busy handler:
/// pauses of 50 µs doubling to 800 µs, for `limit` in all. SQLite's
/// own (`busy_timeout`) pauses 1, 2, 5, 10, 15 ms and more, while a write
/// holds the lock for well under a millisecond plus its fsync: with the
/// node, the HTTP handlers (check-ins, booth passes) and the code writer
/// all writing under load, their waits, not the writes, set how long a
/// vote took.
fn wait_for_lock(limit: Duration) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut since = Instant::now();
    move |retries| {
        if retries == 0 {
            since = Instant::now();
        }
        if since.elapsed() >= limit {
            return false;
        }
        let doublings = retries.clamp(0, 4) as u32;
        std::thread::sleep((BUSY_STEP_MIN * (1 << doublings)).min(BUSY_STEP_MAX));
        true
    }
}

/// What `sql`, a `SELECT COUNT`, counts.
fn count(conn: &Connection, sql: &str, params: impl Params) -> Result<u64> {
    let n: i64 = conn.query_row(sql, params, |r| r.get(0))?;
    to_u64(n)
}

/// The first column of the row `sql` selects, if there is one.
fn optional_value<T: FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, |r| r.get(0))
        .optional()?)
}

/// Whether `sql` selects a row.
fn exists(conn: &Connection, sql: &str, params: impl Params) -> Result<bool> {
    Ok(conn.prepare_cached(sql)?.exists(params)?)
}

fn hash_from_blob(blob: Vec<u8>) -> Result<Hash32> {
    let arr: [u8; 32] = blob
        .try_into()
        .map_err(|_| StoreError::Corrupt("a stored hash is not 32 bytes".into()))?;
    Ok(Hash32(arr))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// SQLite integers are i64; every count and height we store is far below.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("value stored in SQLite fits in i64")
}

fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}
