//! Schema migrations, applied in order by `PRAGMA user_version`, all of
//! them in one transaction.

use rusqlite::Connection;

use super::{Result, StoreError};

/// The migrations this binary knows, in order; never edit one once released.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial",
        include_str!("../../../migrations/0001_initial.sql"),
    ),
    (
        "0002_fallback",
        include_str!("../../../migrations/0002_fallback.sql"),
    ),
    (
        "0003_encrypted_tally",
        include_str!("../../../migrations/0003_encrypted_tally.sql"),
    ),
    (
        "0004_packed_ballots",
        include_str!("../../../migrations/0004_packed_ballots.sql"),
    ),
    (
        "0005_smaller_rows",
        include_str!("../../../migrations/0005_smaller_rows.sql"),
    ),
    (
        "0006_journal_blocks",
        include_str!("../../../migrations/0006_journal_blocks.sql"),
    ),
    (
        "0007_packed_mempool",
        include_str!("../../../migrations/0007_packed_mempool.sql"),
    ),
    (
        "0008_sealed_ids",
        include_str!("../../../migrations/0008_sealed_ids.sql"),
    ),
    (
        "0009_eligibility_records",
        include_str!("../../../migrations/0009_eligibility_records.sql"),
    ),
    (
        "0010_spoiled_ballots",
        include_str!("../../../migrations/0010_spoiled_ballots.sql"),
    ),
    (
        "0011_roll_and_poll_book",
        include_str!("../../../migrations/0011_roll_and_poll_book.sql"),
    ),
    (
        "0012_roll_rows_and_pass_expiry",
        include_str!("../../../migrations/0012_roll_rows_and_pass_expiry.sql"),
    ),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Refuses a database written by a newer binary, before anything is written.
pub fn refuse_newer(conn: &Connection) -> Result<()> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another process may have migrated.
    let current = user_version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (_, sql) in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
