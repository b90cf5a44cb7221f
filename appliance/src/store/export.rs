//! The chain alone, for observers (`evote-appliance chain export`): a copy
//! of the database that keeps the tables of the chain and drops everything
//! else: the voters' accounts and sessions, the roll and the poll book, the
//! booth passes, the mempool and this node's own state. A table added later
//! is dropped unless it is listed here (STORAGE.md, "What an observer is
//! given").

use std::path::Path;

use rusqlite::Connection;
#[cfg(test)]
use rusqlite::OptionalExtension;

use super::{Result, Store, StoreError};

/// The tables an exported chain keeps: the chain, its fallback chains and
/// what is derived from them alone.
pub const CHAIN_TABLES: &[&str] = &[
    "meta",
    "elections",
    "candidates",
    "blocks",
    "transactions",
    "election_tallies",
    "decryption_shares",
    "confirmation_codes",
    "sealed_ids",
    "credential_records",
    "committed_check_ins",
    "device_closes",
    "spoiled_ballots",
    "fallback_blocks",
    "fallback_closes",
    "fallback_ballots",
];

/// The `meta` key an exported chain carries (value `chain-only`).
pub const EXPORT_META_KEY: &str = "export";

impl Store {
    /// Writes the chain alone to `out` (a new file): a consistent copy of
    /// the database (`VACUUM INTO`), every table not in [`CHAIN_TABLES`]
    /// dropped, and vacuumed again so that no dropped row survives in a
    /// free page. Returns the tables it dropped.
    pub fn export_chain(&self, out: &Path) -> Result<Vec<String>> {
        if out.exists() {
            return Err(StoreError::Corrupt(format!(
                "{} exists: the export never overwrites a file",
                out.display()
            )));
        }
        let partial = out.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let target = partial
            .to_str()
            .ok_or_else(|| StoreError::Corrupt("the export path is not UTF-8".into()))?
            .to_string();
        self.conn.execute("VACUUM INTO ?1", [&target])?;
        let dropped = strip(&partial);
        let dropped = match dropped {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, out)
            .map_err(|e| StoreError::Corrupt(format!("writing {}: {e}", out.display())))?;
        Ok(dropped)
    }
}

fn strip(path: &Path) -> Result<Vec<String>> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut dropped = Vec::new();
    for t in tables {
        if !CHAIN_TABLES.contains(&t.as_str()) {
            conn.execute_batch(&format!("DROP TABLE \"{}\"", t.replace('"', "\"\"")))?;
            dropped.push(t);
        }
    }
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, 'chain-only')",
        [EXPORT_META_KEY],
    )?;
    conn.execute_batch("VACUUM")?;
    Ok(dropped)
}

/// Whether the database at `conn` is an export (the chain alone).
#[cfg(test)]
fn is_export(conn: &Connection) -> Result<bool> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [EXPORT_META_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.as_deref() == Some("chain-only"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::genesis::fixtures::genesis;

    #[test]
    fn an_export_keeps_the_chain_and_no_personal_table_or_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("evote.db")).unwrap();
        s.init_genesis(&genesis(3)).unwrap();
        let voter = crate::store::NewVoter {
            email: "ada.secret@example.org",
            name: "Ada Secret",
            password_hash: b"hash",
            salt: &[],
            iterations: 0,
        };
        s.create_voter(&voter, 1).unwrap();
        let out = dir.path().join("chain.db");
        let dropped = s.export_chain(&out).unwrap();
        for t in [
            "voters",
            "sessions",
            "rolls",
            "roll_entries",
            "poll_book",
            "mempool",
        ] {
            assert!(dropped.iter().any(|d| d == t), "{t} dropped: {dropped:?}");
        }
        let bytes = std::fs::read(&out).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("ada.secret"), "no personal row in any page");
        let c = Connection::open(&out).unwrap();
        assert!(is_export(&c).unwrap());
        let g: String = c
            .query_row("SELECT value FROM meta WHERE key = 'genesis'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(g.contains("protocol"));
        assert!(s.export_chain(&out).is_err(), "never overwrites");
    }
}
