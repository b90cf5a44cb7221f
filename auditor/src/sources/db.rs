//! An appliance's SQLite file (`--db`), read-only, laid out as
//! schema/STORAGE.md describes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Deserialize;

use super::{
    ElectionResults, FallbackBallotState, FallbackData, Fallbacks, Opened, ReportedResults,
    SourceError, SourceKind, StatedTotals,
};
use crate::checks::{RawBlock, RawParts};
use crate::protocol::elgamal::{Ciphertext, combine};
use crate::protocol::packed;
use crate::protocol::{ChainRules, Hash32, PublicKey, Signature};

/// A database window stops growing once it holds this many transactions.
pub const MAX_WINDOW_TXS: u64 = 16_384;
/// Blocks per database window at most.
const DB_WINDOW_BLOCKS: i64 = 64;
/// The newest appliance schema version this auditor was written against;
/// a newer file is read as this one lays out its tables, with a note.
pub const KNOWN_SCHEMA_VERSION: i64 = 11;

/// Tables of an appliance's database that hold personal data (voters,
/// sessions, the roll and the poll book): never in a chain export.
const PERSONAL_TABLES: &[&str] = &[
    "voters",
    "sessions",
    "rolls",
    "roll_entries",
    "poll_book",
    "booth_passes",
];

/// A `confirmation_codes` row: seq, code, tx_hash, ballot_hash.
type CodeRow = (i64, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// A private directory removed when dropped (for reading a copy of a
/// database and its write-ahead log without touching the original).
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..100u32 {
            let dir = base.join(format!(
                "evote-audit-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            let mut b = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            match b.create(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(
            "could not create a private temporary directory",
        ))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct DbSource {
    path: String,
    conn: Connection,
    next: u64,
    /// `meta.chain_id`: the chain id a packed ballot body leaves out.
    chain_id: Option<Hash32>,
    _copy: Option<PrivateDir>,
}

/// `file:` URI of a path, percent-encoding everything but unreserved bytes.
fn file_uri(path: &Path) -> String {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().as_bytes().to_vec();
    let mut out = String::from("file:");
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A text column as a string; anything else (a tampered type) as a string
/// that does not parse, so it is reported where it is.
fn text_of(v: rusqlite::types::ValueRef<'_>, column: &str) -> String {
    match v {
        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        other => format!("<{:?} in the {column} column>", other.data_type()),
    }
}

/// A transaction row's body (`body, nullifier, origin` from column 1) as
/// JSON text: text as it is, a packed ballot (schema version 4) unpacked
/// with the row's nullifier and origin and the database's chain id.
/// Anything else is passed on as text that does not parse, so it is
/// reported as that transaction's finding.
fn body_text(r: &rusqlite::Row<'_>, chain_id: Option<Hash32>) -> String {
    match r.get_ref(1) {
        Ok(rusqlite::types::ValueRef::Blob(b)) => {
            let Some(chain_id) = chain_id else {
                return "<a packed body in a database that states no chain id>".into();
            };
            let nullifier = r.get_ref(2).ok().and_then(|v| v.as_blob().ok());
            let origin = r
                .get_ref(3)
                .ok()
                .and_then(|v| v.as_blob().ok())
                .unwrap_or(&[]);
            let row = packed::Row {
                chain_id,
                nullifier,
                origin,
            };
            packed::to_json(b, &row).unwrap_or_else(|e| format!("<unreadable packed body: {e}>"))
        }
        Ok(v) => text_of(v, "body"),
        Err(e) => format!("<unreadable body: {e}>"),
    }
}

/// A blob column's bytes (empty when it is not a blob, which then fails as
/// a 32-byte hash).
fn blob_of(v: rusqlite::types::ValueRef<'_>) -> Vec<u8> {
    match v {
        rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// Opens the file read-only, or a private copy of it and its write-ahead
/// log when the log holds anything (the copy's directory is kept with the
/// connection).
fn connect(
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(Connection, Option<PrivateDir>), SourceError> {
    let file_err = |reason: String| SourceError::File {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| file_err(e.to_string()))?;
    if !meta.is_file() {
        return Err(file_err("not a regular file".into()));
    }
    std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if wal_len == 0 {
        let abs = std::path::absolute(path).map_err(|e| file_err(e.to_string()))?;
        let uri = format!("{}?mode=ro&immutable=1", file_uri(&abs));
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| file_err(e.to_string()))?;
        return Ok((conn, None));
    }
    // Committed blocks may still be in the write-ahead log (the appliance
    // was stopped hard, or still runs). Read a private copy of both files
    // so the original is never written to.
    let dir = PrivateDir::new().map_err(|e| file_err(format!("temporary copy: {e}")))?;
    let db_copy = dir.0.join("audit.sqlite3");
    std::fs::copy(path, &db_copy).map_err(|e| file_err(format!("copying: {e}")))?;
    std::fs::copy(&wal, dir.0.join("audit.sqlite3-wal"))
        .map_err(|e| file_err(format!("copying the write-ahead log: {e}")))?;
    notes.push(format!(
        "the database had an unmerged write-ahead log ({wal_len} bytes); the auditor read a private copy of both files"
    ));
    let conn = Connection::open_with_flags(
        &db_copy,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| file_err(e.to_string()))?;
    Ok((conn, Some(dir)))
}

/// The file is an appliance's database: SQLite, with the tables the
/// auditor reads; a schema newer than it knows is noted.
fn check_schema(
    conn: &Connection,
    shown: &str,
    notes: &mut Vec<String>,
) -> Result<(), SourceError> {
    let not_ours = |reason: String| SourceError::NotAppliance {
        path: shown.to_string(),
        reason,
    };
    // Reading the schema is the first access: a file that is not SQLite
    // at all fails here.
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| not_ours(e.to_string()))?;
    for t in ["meta", "blocks", "transactions"] {
        if !tables.iter().any(|x| x == t) {
            return Err(not_ours(format!("it has no table {t:?}")));
        }
    }
    // An appliance's own database holds personal data beside the chain;
    // observers are meant to get `evote-appliance chain export` (the chain
    // alone). The auditor reads neither kind of table, but says so.
    let personal: Vec<&str> = PERSONAL_TABLES
        .iter()
        .copied()
        .filter(|t| tables.iter().any(|x| x == t))
        .collect();
    if !personal.is_empty() {
        notes.push(format!(
            "this file is an appliance's whole database: it holds personal data (tables {}) \
             the auditor does not read; give observers `evote-appliance chain export` instead",
            personal.join(", ")
        ));
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| SourceError::Sql {
            path: shown.to_string(),
            reason: e.to_string(),
        })?;
    // Versions 5 to 7 changed nothing the auditor reads (STORAGE.md).
    if version > KNOWN_SCHEMA_VERSION {
        notes.push(format!(
            "schema version {version} is newer than this auditor knows \
             ({KNOWN_SCHEMA_VERSION}); it reads the tables as version {KNOWN_SCHEMA_VERSION} lays them out"
        ));
    }
    Ok(())
}

/// A block's row: height, hash, header, proposer signature, seals.
type BlockRow = (i64, Vec<u8>, String, String, String);

impl DbSource {
    pub(super) fn open(path: &Path) -> Result<(DbSource, Opened), SourceError> {
        let shown = path.display().to_string();
        let mut notes = Vec::new();
        let (conn, copy) = connect(path, &mut notes)?;
        let sql = |e: rusqlite::Error| SourceError::Sql {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let not_ours = |reason: String| SourceError::NotAppliance {
            path: shown.clone(),
            reason,
        };
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        let _ = conn.pragma_update(None, "query_only", true);
        check_schema(&conn, &shown, &mut notes)?;
        let meta = |key: &str| -> Result<Option<String>, SourceError> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(sql)
        };
        let genesis_text =
            meta("genesis")?.ok_or_else(|| not_ours("meta holds no genesis".into()))?;
        let stated = meta("chain_id")?
            .map(|s| Hash32::parse(&s).map_err(|e| format!("meta.chain_id {s:?}: {e}")));
        let top: Option<i64> = conn
            .query_row("SELECT MAX(height) FROM blocks", [], |r| r.get(0))
            .map_err(sql)?;
        let check: Vec<String> = conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sql)?;
        let integrity = if check.len() == 1 && check[0] == "ok" {
            Ok(())
        } else {
            Err(check.join("; "))
        };
        let chain_id = stated.as_ref().and_then(|s| s.as_ref().ok()).copied();
        let opened = Opened {
            kind: SourceKind::Db,
            node_id: None,
            role: None,
            stated_chain_id: stated,
            stated_height: None,
            stated_head: None,
            stated_chain_length: None,
            genesis_text,
            height_hint: top.map_or(0, |t| t.max(0) as u64),
            notes,
            integrity: Some(integrity),
        };
        Ok((
            DbSource {
                path: shown,
                conn,
                next: 1,
                chain_id,
                _copy: copy,
            },
            opened,
        ))
    }

    fn sql_err(&self, e: rusqlite::Error) -> SourceError {
        SourceError::Sql {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    pub(super) fn next_window(&mut self, up_to: Option<u64>) -> Result<Vec<RawBlock>, SourceError> {
        let Ok(from) = i64::try_from(self.next) else {
            return Ok(Vec::new());
        };
        let top = up_to.map_or(i64::MAX, |t| i64::try_from(t).unwrap_or(i64::MAX));
        if from > top {
            return Ok(Vec::new());
        }
        let rows = self.block_rows(from, top)?;
        let Some(last) = rows.last() else {
            return Ok(Vec::new());
        };
        // Keep the window's transactions bounded: count them first.
        let counts = self.tx_counts(rows[0].0, last.0)?;
        let mut keep = 0;
        let mut txs = 0u64;
        for r in &rows {
            let n = counts.get(&r.0).copied().unwrap_or(0);
            if keep > 0 && txs + n > MAX_WINDOW_TXS {
                break;
            }
            txs += n;
            keep += 1;
        }
        let rows = &rows[..keep];
        let (lo, hi) = (rows[0].0, rows[keep - 1].0);
        let mut bodies = self.bodies(lo, hi)?;
        let blocks = rows
            .iter()
            .map(|(h, hash, header, sig, seals)| RawBlock {
                parts: Ok(RawParts {
                    header: header.clone(),
                    block_hash: Hash32::from_slice(hash).ok_or_else(|| {
                        format!("the block_hash column holds {} bytes, not 32", hash.len())
                    }),
                    proposer_signature: Signature::parse(sig)
                        .map_err(|e| format!("proposer_signature {sig:?}: {e}")),
                    seals: seals.clone(),
                    transactions: bodies.remove(h).unwrap_or_default(),
                }),
            })
            .collect();
        self.next = u64::try_from(hi).map_or(u64::MAX, |h| h.saturating_add(1));
        Ok(blocks)
    }

    /// Up to a window of blocks from height `from` to `top`: (height, hash,
    /// header, proposer signature, seals).
    fn block_rows(&self, from: i64, top: i64) -> Result<Vec<BlockRow>, SourceError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT height, block_hash, header, proposer_signature, seals FROM blocks \
                 WHERE height >= ?1 AND height <= ?2 ORDER BY height LIMIT ?3",
            )
            .map_err(|e| self.sql_err(e))?;
        stmt.query_map(rusqlite::params![from, top, DB_WINDOW_BLOCKS], |r| {
            Ok((
                r.get(0)?,
                blob_of(r.get_ref(1)?),
                text_of(r.get_ref(2)?, "header"),
                text_of(r.get_ref(3)?, "proposer_signature"),
                text_of(r.get_ref(4)?, "seals"),
            ))
        })
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| self.sql_err(e))
    }

    /// The transactions of each block from `lo` to `hi`, counted.
    fn tx_counts(&self, lo: i64, hi: i64) -> Result<BTreeMap<i64, u64>, SourceError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT block_height, COUNT(*) FROM transactions \
                 WHERE block_height >= ?1 AND block_height <= ?2 GROUP BY block_height",
            )
            .map_err(|e| self.sql_err(e))?;
        stmt.query_map(rusqlite::params![lo, hi], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })
        .and_then(|it| it.collect::<Result<BTreeMap<_, _>, _>>())
        .map_err(|e| self.sql_err(e))
    }

    /// The transactions of each block from `lo` to `hi` as JSON text, in
    /// order (packed ballots unpacked).
    fn bodies(&self, lo: i64, hi: i64) -> Result<BTreeMap<i64, Vec<String>>, SourceError> {
        let mut bodies: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT block_height, body, nullifier, origin FROM transactions \
                 WHERE block_height >= ?1 AND block_height <= ?2 \
                 ORDER BY block_height, position",
            )
            .map_err(|e| self.sql_err(e))?;
        let mut q = stmt
            .query(rusqlite::params![lo, hi])
            .map_err(|e| self.sql_err(e))?;
        while let Some(r) = q.next().map_err(|e| self.sql_err(e))? {
            let h: i64 = r.get(0).map_err(|e| self.sql_err(e))?;
            let body = body_text(r, self.chain_id);
            bodies.entry(h).or_default().push(body);
        }
        Ok(bodies)
    }

    fn has_table(&self, name: &str) -> Result<bool, SourceError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.sql_err(e))
    }

    /// The newest stored running tally of an election at or below `height`.
    fn stored_tally(
        &self,
        election_id: u64,
        height: Option<u64>,
    ) -> Result<Option<StoredRow>, SourceError> {
        let top = height.map_or(i64::MAX, |h| i64::try_from(h).unwrap_or(i64::MAX));
        self.conn
            .query_row(
                "SELECT height, state FROM election_tallies WHERE election_id = ?1 AND height <= ?2 \
                 ORDER BY height DESC LIMIT 1",
                rusqlite::params![election_id as i64, top],
                |r| Ok((r.get::<_, i64>(0)?, text_of(r.get_ref(1)?, "state"))),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
            .map(|o| {
                o.map(|(h, text)| {
                    (
                        h.max(0) as u64,
                        serde_json::from_str::<StoredTally>(&text)
                            .map_err(|e| format!("election_tallies row at height {h}: {e}")),
                    )
                })
            })
    }

    /// What an appliance serving this file would report
    /// (`/api/votes/results`): `total_votes` counts the ballot rows; the
    /// counts come from the newest tally with at least k rows in
    /// `decryption_shares`, combined with the stored running tally at that
    /// height (net/tally.rs, store/chain.rs).
    pub(super) fn results(&mut self, rules: &ChainRules) -> Result<ReportedResults, SourceError> {
        let mut out = ReportedResults::default();
        let tables = self.has_table("decryption_shares")? && self.has_table("election_tallies")?;
        for e in &rules.genesis.elections {
            let total: i64 = self
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM transactions WHERE election_id = ?1 AND kind = 'ballot'",
                    [e.id as i64],
                    |r| r.get(0),
                )
                .map_err(|err| self.sql_err(err))?;
            let mut r = ElectionResults {
                total: total.max(0) as u64,
                status: Some("pending".into()),
                counts: e.candidates.iter().map(|c| (c.id, (None, None))).collect(),
                ..ElectionResults::default()
            };
            if tables {
                self.decrypt_stored(rules, e, &mut r)?;
            }
            out.elections.insert(e.id, r);
        }
        Ok(out)
    }

    fn decrypt_stored(
        &self,
        rules: &ChainRules,
        e: &crate::protocol::Election,
        r: &mut ElectionResults,
    ) -> Result<(), SourceError> {
        let k = i64::from(e.trustees.threshold);
        let th: Option<i64> = self
            .conn
            .query_row(
                "SELECT tally_height FROM decryption_shares WHERE election_id = ?1 \
                 GROUP BY tally_height HAVING COUNT(*) >= ?2 ORDER BY tally_height DESC LIMIT 1",
                rusqlite::params![e.id as i64, k],
                |row| row.get(0),
            )
            .optional()
            .map_err(|err| self.sql_err(err))?;
        let Some(th) = th else { return Ok(()) };
        let th = th.max(0) as u64;
        r.status = Some("decrypted".into());
        r.tally_height = Some(th);
        let rows: Vec<(Vec<u8>, String)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT tx_hash, share FROM decryption_shares WHERE election_id = ?1 \
                     AND tally_height = ?2 ORDER BY trustee_index",
                )
                .map_err(|err| self.sql_err(err))?;
            stmt.query_map(rusqlite::params![e.id as i64, th as i64], |row| {
                Ok((blob_of(row.get_ref(0)?), text_of(row.get_ref(1)?, "share")))
            })
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|err| self.sql_err(err))?
        };
        let mut shares = Vec::new();
        for (hash, text) in &rows {
            match serde_json::from_str::<crate::protocol::DecryptionShareTx>(text) {
                Ok(d) => {
                    r.shares
                        .push((d.share.trustee_index, Hash32::from_slice(hash)));
                    shares.push(d.share);
                }
                Err(err) => {
                    r.failure = Some(format!("a decryption_shares row does not parse: {err}"));
                    return Ok(());
                }
            }
        }
        let (count, aggregate) = match self.stored_tally(e.id, Some(th))? {
            Some((_, Ok(t))) => (t.ballot_count, t.aggregate),
            Some((_, Err(err))) => {
                r.failure = Some(err);
                return Ok(());
            }
            None => (0, vec![Ciphertext::zero(); e.candidates.len()]),
        };
        r.ballots_in_tally = Some(count);
        let Some(Ok(key)) = rules.election_key(e.id) else {
            r.failure = Some("the election has no valid key".into());
            return Ok(());
        };
        match combine(&rules.chain_id.0, key, &aggregate, &shares, count) {
            Ok(counts) => {
                for (c, n) in e.candidates.iter().zip(counts) {
                    r.counts
                        .insert(c.id, (Some(n), Some(crate::report::percentage(n, count))));
                }
            }
            Err(err) => {
                r.failure = Some(format!(
                    "its stored shares and running tally at height {th} do not combine: {}: {err}",
                    err.code()
                ));
            }
        }
        Ok(())
    }

    /// The running tallies the file stores: the latest of each election
    /// (the tally at its head), and the one each decrypted tally uses.
    pub(super) fn totals(
        &mut self,
        rules: &ChainRules,
    ) -> Result<Option<Vec<StatedTotals>>, SourceError> {
        if !self.has_table("election_tallies")? {
            return Ok(None);
        }
        let shares = self.has_table("decryption_shares")?;
        let mut out = Vec::new();
        for e in &rules.genesis.elections {
            let push = |row: Option<StoredRow>,
                        height: Option<u64>,
                        out: &mut Vec<StatedTotals>|
             -> Result<(), SourceError> {
                let Some((h, t)) = row else { return Ok(()) };
                let t = t.map_err(|reason| SourceError::Sql {
                    path: self.path.clone(),
                    reason,
                })?;
                out.push(StatedTotals {
                    election_id: e.id,
                    height: height.unwrap_or(h),
                    ballot_count: t.ballot_count,
                    aggregate: t.aggregate,
                    what: match height {
                        None => format!("the latest election_tallies row (height {h})"),
                        Some(th) => format!(
                            "the election_tallies row at height {h}, the tally at height {th} its decryption shares refer to"
                        ),
                    },
                    at_head: height.is_none(),
                });
                Ok(())
            };
            push(self.stored_tally(e.id, None)?, None, &mut out)?;
            if shares {
                let ths: Vec<i64> = {
                    let mut stmt = self
                        .conn
                        .prepare(
                            "SELECT DISTINCT tally_height FROM decryption_shares \
                             WHERE election_id = ?1 ORDER BY tally_height",
                        )
                        .map_err(|err| self.sql_err(err))?;
                    stmt.query_map([e.id as i64], |r| r.get(0))
                        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                        .map_err(|err| self.sql_err(err))?
                };
                for th in ths {
                    let th = th.max(0) as u64;
                    push(self.stored_tally(e.id, Some(th))?, Some(th), &mut out)?;
                }
            }
        }
        Ok(Some(out))
    }

    /// The file's confirmation codes (its appliance's chain of codes) and
    /// the appliance that issued them, from its first code's ballot on the
    /// chain.
    pub(super) fn codes(&mut self) -> Result<super::Codes, SourceError> {
        if !self.has_table("confirmation_codes")? {
            return Ok(super::Codes::Absent(
                "the database has no confirmation_codes table".into(),
            ));
        }
        // A database older than schema version 8 kept no ballot hash.
        let kept: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('confirmation_codes') \
                 WHERE name = 'ballot_hash'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))?;
        let ballot = if kept > 0 { "ballot_hash" } else { "NULL" };
        let rows: Vec<CodeRow> = {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT seq, code, tx_hash, {ballot} FROM confirmation_codes ORDER BY seq"
                ))
                .map_err(|e| self.sql_err(e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.sql_err(e))?
        };
        let bad = |what: &str| SourceError::Sql {
            path: self.path.clone(),
            reason: format!("a confirmation_codes row with {what}"),
        };
        let hash =
            |b: &[u8], what: &str| <[u8; 32]>::try_from(b).map(Hash32).map_err(|_| bad(what));
        let mut codes = Vec::with_capacity(rows.len());
        for (seq, code, _, ballot) in &rows {
            codes.push(super::ServedCode {
                seq: u64::try_from(*seq).map_err(|_| bad("a negative seq"))?,
                code: hash(code, "a code of the wrong length")?,
                ballot_hash: ballot
                    .as_deref()
                    .map(|b| hash(b, "a ballot hash of the wrong length"))
                    .transpose()?,
            });
        }
        let origin = match rows.first() {
            None => None,
            Some((_, _, tx, _)) => self
                .conn
                .query_row(
                    "SELECT origin FROM transactions WHERE tx_hash = ?1",
                    [tx],
                    |r| Ok(blob_of(r.get_ref(0)?)),
                )
                .optional()
                .map_err(|e| self.sql_err(e))?
                .and_then(|o| PublicKey::from_slice(&o)),
        };
        Ok(super::Codes::Chain { origin, codes })
    }

    pub(super) fn fallbacks(&mut self) -> Result<Fallbacks, SourceError> {
        if !self.has_table("fallback_blocks")? {
            return Ok(Fallbacks::Absent(
                "the database has no fallback tables: it predates fallback chains".into(),
            ));
        }
        let origins: Vec<Vec<u8>> = {
            let mut stmt = self
                .conn
                .prepare("SELECT DISTINCT origin FROM fallback_blocks ORDER BY origin")
                .map_err(|e| self.sql_err(e))?;
            stmt.query_map([], |r| Ok(blob_of(r.get_ref(0)?)))
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.sql_err(e))?
        };
        if origins.is_empty() {
            return Ok(Fallbacks::Absent(
                "the database holds no fallback block".into(),
            ));
        }
        let mut chains = Vec::new();
        for o in origins {
            let Some(origin) = PublicKey::from_slice(&o) else {
                return Err(SourceError::Sql {
                    path: self.path.clone(),
                    reason: format!("a fallback_blocks origin of {} bytes", o.len()),
                });
            };
            let blocks: Vec<String> = {
                let mut stmt = self
                    .conn
                    .prepare("SELECT body FROM fallback_blocks WHERE origin = ?1 ORDER BY seq")
                    .map_err(|e| self.sql_err(e))?;
                stmt.query_map([&o], |r| Ok(text_of(r.get_ref(0)?, "body")))
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| self.sql_err(e))?
            };
            type Row = (i64, Vec<u8>, Vec<u8>, String, Option<Vec<u8>>);
            let rows: Vec<Row> = {
                let mut stmt = self
                    .conn
                    .prepare(
                        "SELECT seq, sealed_tx_hash, main_tx_hash, state, conflicting_tx \
                         FROM fallback_ballots WHERE origin = ?1 ORDER BY seq, rowid",
                    )
                    .map_err(|e| self.sql_err(e))?;
                stmt.query_map([&o], |r| {
                    Ok((
                        r.get(0)?,
                        blob_of(r.get_ref(1)?),
                        blob_of(r.get_ref(2)?),
                        text_of(r.get_ref(3)?, "state"),
                        match r.get_ref(4)? {
                            rusqlite::types::ValueRef::Null => None,
                            v => Some(blob_of(v)),
                        },
                    ))
                })
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.sql_err(e))?
            };
            let mut ballots = Vec::new();
            for (seq, sealed, main, state, conflicting) in rows {
                let (Some(sealed), Some(main)) =
                    (Hash32::from_slice(&sealed), Hash32::from_slice(&main))
                else {
                    return Err(SourceError::Sql {
                        path: self.path.clone(),
                        reason: "a fallback_ballots hash is not 32 bytes".into(),
                    });
                };
                ballots.push(FallbackBallotState {
                    seq: seq.max(0) as u64,
                    sealed_tx_hash: sealed,
                    main_tx_hash: main,
                    state,
                    conflicting_tx: conflicting.and_then(|c| Hash32::from_slice(&c)),
                });
            }
            let close: Option<String> = self
                .conn
                .query_row(
                    "SELECT record FROM fallback_closes WHERE origin = ?1",
                    [&o],
                    |r| Ok(text_of(r.get_ref(0)?, "record")),
                )
                .optional()
                .map_err(|e| self.sql_err(e))?;
            chains.push(FallbackData {
                origin,
                blocks,
                ballots,
                close,
            });
        }
        Ok(Fallbacks::Chains(chains))
    }
}

/// An `election_tallies` row: its height, and its state or why that does
/// not parse.
type StoredRow = (u64, Result<StoredTally, String>);

/// An appliance's stored running tally (`election_tallies.state`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredTally {
    // Named so that the row parses (closed object); the row's own columns
    // say which election and height it is.
    #[allow(dead_code)]
    pub election_id: u64,
    #[allow(dead_code)]
    pub height: u64,
    pub ballot_count: u64,
    pub aggregate: Vec<Ciphertext>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_sqlite_would_misread() {
        assert_eq!(
            file_uri(Path::new("/tmp/a b/x?y#z%.db")),
            "file:/tmp/a%20b/x%3Fy%23z%25.db"
        );
    }
}
