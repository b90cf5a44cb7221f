//! Where chains come from: a running appliance over HTTP (`--nodes`) or an
//! appliance's SQLite file (`--db`). Both are read block by block, in
//! windows, so memory stays bounded however long the chain is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{Http, HttpError};
use crate::rules::{RawBlock, RawParts};
use crate::wire::{Hash32, PublicKey, Signature};

/// Blocks per `GET /p2p/blocks` page (the appliance serves at most 64).
pub const BLOCKS_PER_PAGE: u64 = 64;
/// A database window stops growing once it holds this many transactions.
pub const MAX_WINDOW_TXS: u64 = 16_384;
/// Blocks per database window at most.
const DB_WINDOW_BLOCKS: i64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Node,
    Db,
}

/// Why a source could not be read (the audit of that source stops; the
/// others go on; the exit status is 2 unless a discrepancy was found).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{path} is not an evote appliance database: {reason}")]
    NotAppliance { path: String, reason: String },
    #[error("reading {path}: {reason}")]
    Sql { path: String, reason: String },
}

/// What a source says about itself when it is opened.
#[derive(Debug, Clone)]
pub struct Opened {
    pub kind: SourceKind,
    pub location: String,
    pub node_id: Option<PublicKey>,
    pub role: Option<String>,
    /// The chain id the source states (status `genesis_hash`, or the
    /// database's `meta.chain_id`).
    pub stated_chain_id: Option<Result<Hash32, String>>,
    /// The height and head hash a node's status reports.
    pub stated_height: Option<u64>,
    pub stated_head: Option<Hash32>,
    pub stated_chain_length: Option<u64>,
    pub genesis_text: String,
    /// The highest block the source holds (a node's status height; a
    /// database's highest row), for the progress bar and as the target.
    pub height_hint: u64,
    pub notes: Vec<String>,
    /// A database's `PRAGMA quick_check` outcome.
    pub integrity: Option<Result<(), String>>,
}

/// Results as a source reports them: per (election, candidate) the count
/// it shows, for the elections it was asked about.
#[derive(Debug, Clone, Default)]
pub struct ReportedResults {
    /// election_id → its answer.
    pub elections: BTreeMap<u64, ElectionResults>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ElectionResults {
    /// candidate_id → (votes, percentage when the source gives one).
    pub counts: BTreeMap<u64, (u64, Option<f64>)>,
    pub total: u64,
    /// The chain height the results refer to, when the source says.
    pub at_height: Option<u64>,
    /// What the node itself says of its chain (`verification.chain_valid`).
    pub node_says_valid: Option<bool>,
}

/// Whether a source holds a fallback chain the auditor can check.
#[derive(Debug, Clone)]
pub enum FallbackProbe {
    /// The source has no fallback chains (the endpoint or the tables are absent).
    Absent(String),
    /// It has them, in a form PROTOCOL.md does not specify yet.
    Unspecified(String),
    Error(String),
}

pub enum Source {
    Node(NodeSource),
    Db(DbSource),
}

impl Source {
    pub fn open_node(url: &str, http: &Http) -> Result<(Source, Opened), SourceError> {
        NodeSource::open(url, http).map(|(s, o)| (Source::Node(s), o))
    }

    pub fn open_db(path: &Path) -> Result<(Source, Opened), SourceError> {
        DbSource::open(path).map(|(s, o)| (Source::Db(s), o))
    }

    /// The next blocks of the chain, at most up to height `up_to`; empty at
    /// the end.
    pub fn next_window(&mut self, up_to: Option<u64>) -> Result<Vec<RawBlock>, SourceError> {
        match self {
            Source::Node(n) => n.next_window(up_to),
            Source::Db(d) => d.next_window(up_to),
        }
    }

    /// Where the next window starts.
    pub fn cursor(&self) -> u64 {
        match self {
            Source::Node(n) => n.next,
            Source::Db(d) => d.next,
        }
    }

    pub fn results(&mut self, election_ids: &[u64]) -> Result<ReportedResults, SourceError> {
        match self {
            Source::Node(n) => n.results(election_ids),
            Source::Db(d) => d.results(election_ids),
        }
    }

    pub fn fallback_probe(&mut self) -> FallbackProbe {
        match self {
            Source::Node(n) => n.fallback_probe(),
            Source::Db(d) => d.fallback_probe(),
        }
    }
}

// ---------------------------------------------------------------- nodes

#[derive(Deserialize)]
struct StatusAnswer {
    node_id: PublicKey,
    genesis_hash: String,
    best_hash: Hash32,
    height: u64,
    #[serde(default)]
    chain_length: Option<u64>,
    #[serde(default)]
    role: Option<String>,
}

#[derive(Deserialize)]
struct PageAnswer {
    blocks: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct ResultsAnswer {
    election_id: u64,
    results: Vec<ResultRow>,
    total_votes: u64,
    #[serde(default)]
    verification: Option<VerificationAnswer>,
}

#[derive(Deserialize)]
struct ResultRow {
    candidate_id: u64,
    vote_count: u64,
    #[serde(default)]
    percentage: Option<f64>,
}

#[derive(Deserialize)]
struct VerificationAnswer {
    #[serde(default)]
    head_height: Option<u64>,
    #[serde(default)]
    chain_valid: Option<bool>,
}

pub struct NodeSource {
    base: String,
    http: Http,
    next: u64,
    /// Consecutive pages without one block at the height asked for.
    pages_astray: u32,
}

/// Pages of unreadable blocks read in a row before a node is given up on.
const MAX_PAGES_ASTRAY: u32 = 3;

/// A node URL without a trailing slash; only http and https.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let u = url.trim();
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!(
            "{u:?} is not a node URL: it must start with http:// or https://"
        ));
    }
    Ok(u.trim_end_matches('/').to_string())
}

impl NodeSource {
    fn open(url: &str, http: &Http) -> Result<(NodeSource, Opened), SourceError> {
        let base = url.to_string();
        let status: StatusAnswer = http.get_json(&format!("{base}/p2p/status"))?;
        let (code, body) = http.get(&format!("{base}/p2p/genesis"))?;
        if code != 200 {
            return Err(HttpError::Status {
                url: format!("{base}/p2p/genesis"),
                status: code,
                body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            }
            .into());
        }
        let genesis_text = String::from_utf8(body).map_err(|_| HttpError::Malformed {
            url: format!("{base}/p2p/genesis"),
            reason: "the genesis is not UTF-8".into(),
        })?;
        let opened = Opened {
            kind: SourceKind::Node,
            location: base.clone(),
            node_id: Some(status.node_id),
            role: status.role.clone(),
            stated_chain_id: Some(
                Hash32::parse(&status.genesis_hash)
                    .map_err(|e| format!("status genesis_hash {:?}: {e}", status.genesis_hash)),
            ),
            stated_height: Some(status.height),
            stated_head: Some(status.best_hash),
            stated_chain_length: status.chain_length,
            genesis_text,
            height_hint: status.height,
            notes: Vec::new(),
            integrity: None,
        };
        Ok((
            NodeSource {
                base,
                http: http.clone(),
                next: 1,
                pages_astray: 0,
            },
            opened,
        ))
    }

    fn next_window(&mut self, up_to: Option<u64>) -> Result<Vec<RawBlock>, SourceError> {
        let mut limit = BLOCKS_PER_PAGE;
        if let Some(top) = up_to {
            if self.next > top {
                return Ok(Vec::new());
            }
            limit = limit.min(top - self.next + 1);
        }
        let url = format!("{}/p2p/blocks?from={}&limit={limit}", self.base, self.next);
        let page: PageAnswer = self.http.get_json(&url)?;
        // A node that ignores `from` could keep the auditor busy forever:
        // a page none of whose blocks is at the height asked for ends it.
        if !page.blocks.is_empty() {
            let heights: Vec<Option<u64>> = page
                .blocks
                .iter()
                .take(limit as usize)
                .map(|b| {
                    serde_json::from_str::<serde_json::Value>(b.get())
                        .ok()
                        .and_then(|v| v["header"]["height"].as_u64())
                })
                .collect();
            let any_right = heights
                .iter()
                .enumerate()
                .any(|(k, h)| *h == Some(self.next + k as u64));
            let any_readable = heights.iter().any(Option::is_some);
            self.pages_astray = if any_right { 0 } else { self.pages_astray + 1 };
            if !any_right && (any_readable || self.pages_astray > MAX_PAGES_ASTRAY) {
                return Err(HttpError::Malformed {
                    url,
                    reason: format!(
                        "asked for blocks from height {}, got heights {:?}",
                        self.next,
                        heights.iter().take(5).collect::<Vec<_>>()
                    ),
                }
                .into());
            }
        }
        let mut blocks: Vec<RawBlock> = page
            .blocks
            .iter()
            .take(limit as usize)
            .map(|b| RawBlock::from_wire(b.get()))
            .collect();
        blocks.shrink_to_fit();
        self.next += blocks.len() as u64;
        Ok(blocks)
    }

    fn results(&mut self, election_ids: &[u64]) -> Result<ReportedResults, SourceError> {
        let mut out = ReportedResults::default();
        for &e in election_ids {
            let url = format!("{}/api/votes/results?election_id={e}", self.base);
            let a: ResultsAnswer = self.http.get_json(&url)?;
            if a.election_id != e {
                return Err(HttpError::Malformed {
                    url,
                    reason: format!("asked for election {e}, answered for {}", a.election_id),
                }
                .into());
            }
            let mut r = ElectionResults {
                total: a.total_votes,
                at_height: a.verification.as_ref().and_then(|v| v.head_height),
                node_says_valid: a.verification.as_ref().and_then(|v| v.chain_valid),
                ..ElectionResults::default()
            };
            for row in a.results {
                if r.counts
                    .insert(row.candidate_id, (row.vote_count, row.percentage))
                    .is_some()
                {
                    return Err(HttpError::Malformed {
                        url,
                        reason: format!("candidate {} is listed twice", row.candidate_id),
                    }
                    .into());
                }
            }
            out.elections.insert(e, r);
        }
        Ok(out)
    }

    fn fallback_probe(&mut self) -> FallbackProbe {
        let url = format!("{}/p2p/fallback", self.base);
        match self.http.get(&url) {
            Ok((404, _)) => FallbackProbe::Absent(
                "the node has no /p2p/fallback endpoint (HTTP 404): it predates fallback chains"
                    .into(),
            ),
            Ok((200, body)) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let blocks = v["blocks"].as_array().map_or(0, Vec::len);
                let origins = v["origins"].as_array().map_or(0, Vec::len);
                if blocks == 0 && origins == 0 {
                    FallbackProbe::Absent("the node holds no fallback chain".into())
                } else {
                    FallbackProbe::Unspecified(format!(
                        "the node serves fallback chains ({origins} appliance(s), {blocks} block(s) of its own on the first page), but schema/PROTOCOL.md does not specify them yet, so this auditor does not check them"
                    ))
                }
            }
            Ok((code, _)) => FallbackProbe::Error(format!("{url} answered HTTP {code}")),
            Err(e) => FallbackProbe::Error(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------- databases

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

/// A blob column's bytes (empty when it is not a blob, which then fails as
/// a 32-byte hash).
fn blob_of(v: rusqlite::types::ValueRef<'_>) -> Vec<u8> {
    match v {
        rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

impl DbSource {
    fn open(path: &Path) -> Result<(DbSource, Opened), SourceError> {
        let shown = path.display().to_string();
        let file_err = |reason: String| SourceError::File {
            path: shown.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| file_err(e.to_string()))?;
        if !meta.is_file() {
            return Err(file_err("not a regular file".into()));
        }
        std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
        let mut notes = Vec::new();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let (conn, copy) = if wal_len > 0 {
            // Committed blocks may still be in the write-ahead log (the
            // appliance was stopped hard, or still runs). Read a private
            // copy of both files so the original is never written to.
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
            (conn, Some(dir))
        } else {
            let abs = std::path::absolute(path).map_err(|e| file_err(e.to_string()))?;
            let uri = format!("{}?mode=ro&immutable=1", file_uri(&abs));
            let conn = Connection::open_with_flags(
                &uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| file_err(e.to_string()))?;
            (conn, None)
        };
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
        // Reading the schema is the first access: a file that is not
        // SQLite at all fails here.
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
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        if version > 2 {
            notes.push(format!(
                "schema version {version} is newer than this auditor knows (2); it reads the tables of version 1"
            ));
        }
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
        let opened = Opened {
            kind: SourceKind::Db,
            location: shown.clone(),
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

    fn next_window(&mut self, up_to: Option<u64>) -> Result<Vec<RawBlock>, SourceError> {
        let Ok(from) = i64::try_from(self.next) else {
            return Ok(Vec::new());
        };
        let top = up_to.map_or(i64::MAX, |t| i64::try_from(t).unwrap_or(i64::MAX));
        if from > top {
            return Ok(Vec::new());
        }
        type Row = (i64, Vec<u8>, String, String, String);
        let rows: Vec<Row> = {
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
            .map_err(|e| self.sql_err(e))?
        };
        let Some(last) = rows.last() else {
            return Ok(Vec::new());
        };
        // Keep the window's transactions bounded: count them first.
        let counts: BTreeMap<i64, u64> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT block_height, COUNT(*) FROM transactions \
                     WHERE block_height >= ?1 AND block_height <= ?2 GROUP BY block_height",
                )
                .map_err(|e| self.sql_err(e))?;
            stmt.query_map(rusqlite::params![rows[0].0, last.0], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .and_then(|it| it.collect::<Result<BTreeMap<_, _>, _>>())
            .map_err(|e| self.sql_err(e))?
        };
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
        let mut bodies: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT block_height, body FROM transactions \
                     WHERE block_height >= ?1 AND block_height <= ?2 \
                     ORDER BY block_height, position",
                )
                .map_err(|e| self.sql_err(e))?;
            let mut q = stmt
                .query(rusqlite::params![lo, hi])
                .map_err(|e| self.sql_err(e))?;
            while let Some(r) = q.next().map_err(|e| SourceError::Sql {
                path: self.path.clone(),
                reason: e.to_string(),
            })? {
                let h: i64 = r.get(0).map_err(|e| SourceError::Sql {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
                // A body that is not text is passed on as unparseable text.
                let body = match r.get_ref(1) {
                    Ok(v) => text_of(v, "body"),
                    Err(e) => format!("<unreadable body: {e}>"),
                };
                bodies.entry(h).or_default().push(body);
            }
        }
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

    /// The tally an appliance serving this file would report: it counts
    /// the `transactions.candidate_id` column (store/chain.rs `tally`).
    fn results(&mut self, election_ids: &[u64]) -> Result<ReportedResults, SourceError> {
        let mut out = ReportedResults::default();
        for &e in election_ids {
            out.elections.insert(e, ElectionResults::default());
        }
        let rows: Vec<(Option<i64>, Option<i64>, i64)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT election_id, candidate_id, COUNT(*) FROM transactions \
                     WHERE kind = 'ballot' GROUP BY election_id, candidate_id",
                )
                .map_err(|e| self.sql_err(e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.sql_err(e))?
        };
        for (e, c, n) in rows {
            let (Some(e), Some(c)) = (e, c) else { continue };
            let (Ok(e), Ok(c)) = (u64::try_from(e), u64::try_from(c)) else {
                continue;
            };
            let Some(r) = out.elections.get_mut(&e) else {
                continue;
            };
            let n = n.max(0) as u64;
            r.counts.insert(c, (n, None));
            r.total += n;
        }
        Ok(out)
    }

    fn fallback_probe(&mut self) -> FallbackProbe {
        let n: Result<Option<i64>, _> = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'fallback_blocks'",
                [],
                |r| r.get(0),
            )
            .optional();
        match n {
            Ok(Some(0)) | Ok(None) => FallbackProbe::Absent(
                "the database has no fallback tables: it predates fallback chains".into(),
            ),
            Ok(Some(_)) => {
                let blocks: i64 = self
                    .conn
                    .query_row("SELECT COUNT(*) FROM fallback_blocks", [], |r| r.get(0))
                    .unwrap_or(0);
                if blocks == 0 {
                    FallbackProbe::Absent("the database holds no fallback block".into())
                } else {
                    FallbackProbe::Unspecified(format!(
                        "the database holds {blocks} fallback block(s), but schema/PROTOCOL.md does not specify fallback chains yet, so this auditor does not check them"
                    ))
                }
            }
            Err(e) => FallbackProbe::Error(e.to_string()),
        }
    }
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

    #[test]
    fn node_urls() {
        assert_eq!(normalize_url("http://a:1/").unwrap(), "http://a:1");
        assert!(normalize_url("ftp://a").is_err());
        assert!(normalize_url("a:1").is_err());
    }
}
