//! The audit: opens every source, picks the reference chain, verifies each
//! source's chain block by block (streamed, checked on several threads),
//! compares the sources with each other and with a previous report, and
//! compares each source's reported results with its chain.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::checks::tally::ElectionDecryption;
use crate::checks::{ChainState, CheckId, HeightRecord, SigCache};
use crate::protocol::{ChainRules, Genesis, Hash32, parse_genesis};
use crate::report::{Baseline, Reference, Report};
use crate::sources::http::Http;
use crate::sources::{Opened, Source, SourceError, SourceKind, normalize_url};

mod board;
mod cross;
mod derived;
mod source;
mod summary;

use board::Board;
use source::{Setup, audit_source};

/// How an audit runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Node base URLs (`http://host:port`).
    pub nodes: Vec<String>,
    /// Appliance database files.
    pub dbs: Vec<PathBuf>,
    /// The genesis every source must hold.
    pub genesis: Option<PathBuf>,
    /// A previous `--json` report whose heads must still be on the chains.
    pub baseline: Option<PathBuf>,
    /// The clock for the "not in the future" rule; the system clock if unset.
    pub now_ms: Option<u64>,
    /// Per HTTP request.
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// Verification threads; 0 means one per core.
    pub threads: usize,
    /// Failures listed per check (all are counted).
    pub max_failures: usize,
    /// A progress bar on stderr when it is a terminal.
    pub progress: bool,
    /// Verified signatures remembered across sources.
    pub sig_cache: usize,
    /// `verify` or `tally`, for the report.
    pub command: String,
    /// Certificates trusted for https nodes (a PEM file); the public web's
    /// roots if unset.
    pub ca_file: Option<PathBuf>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            dbs: Vec::new(),
            genesis: None,
            baseline: None,
            now_ms: None,
            timeout: Duration::from_secs(30),
            max_response_bytes: crate::sources::http::DEFAULT_MAX_RESPONSE_BYTES,
            threads: 0,
            max_failures: 50,
            progress: false,
            sig_cache: crate::checks::DEFAULT_SIG_CACHE,
            command: "verify".into(),
            ca_file: None,
        }
    }
}

/// The audit could not run at all (exit status 2). A source that cannot
/// be read is not this: it is reported and the others are audited.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("nothing to audit: give --nodes URL[,URL...] and/or --db FILE")]
    NoSources,
    #[error("{0}")]
    BadUrl(String),
    #[error("--genesis {path}: {reason}")]
    Genesis { path: String, reason: String },
    #[error("--baseline {path}: {reason}")]
    Baseline { path: String, reason: String },
    #[error("--ca-file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One source during the audit.
struct Audited {
    name: String,
    kind: SourceKind,
    location: String,
    source: Option<Source>,
    opened: Option<Opened>,
    status: &'static str,
    error: Option<String>,
    genesis: Option<Genesis>,
    rules: Option<ChainRules>,
    records: Vec<HeightRecord>,
    state: Option<ChainState>,
    notes: Vec<String>,
    lag: Option<u64>,
    diverges_at: Option<u64>,
    /// Each election's decryption from the chain, once it is read.
    decryptions: Vec<ElectionDecryption>,
}

impl Audited {
    fn chain_id(&self) -> Option<Hash32> {
        self.rules.as_ref().map(|r| r.chain_id)
    }

    fn head(&self) -> Option<Hash32> {
        match self.records.last() {
            Some(r) => Some(r.hash),
            None => self.chain_id(),
        }
    }
}

fn host_of(url: &str) -> String {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_string()
}

fn db_label(path: &Path) -> String {
    let comps: Vec<_> = path.components().collect();
    if comps.len() <= 3 {
        return path.display().to_string();
    }
    let tail: PathBuf = comps[comps.len() - 3..].iter().collect();
    format!("…/{}", tail.display())
}

impl Audited {
    fn new(name: String, kind: SourceKind, location: String) -> Self {
        Self {
            name,
            kind,
            location,
            source: None,
            opened: None,
            status: "audited",
            error: None,
            genesis: None,
            rules: None,
            records: Vec::new(),
            state: None,
            notes: Vec::new(),
            lag: None,
            diverges_at: None,
            decryptions: Vec::new(),
        }
    }

    /// The source as it was opened, or `status` and why it could not be.
    fn opened(
        mut self,
        result: Result<(Source, Opened), SourceError>,
        status: &'static str,
    ) -> Self {
        match result {
            Ok((s, o)) => {
                self.source = Some(s);
                self.opened = Some(o);
            }
            Err(e) => {
                self.status = status;
                self.error = Some(e.to_string());
            }
        }
        self
    }
}

/// Runs an audit and returns its report.
pub fn run_audit(opts: &AuditOptions) -> Result<Report, AuditError> {
    let started = now_ms();
    if opts.nodes.is_empty() && opts.dbs.is_empty() {
        return Err(AuditError::NoSources);
    }
    let urls = opts
        .nodes
        .iter()
        .map(|u| normalize_url(u).map_err(AuditError::BadUrl))
        .collect::<Result<Vec<_>, _>>()?;
    let given_genesis = opts.genesis.as_deref().map(read_genesis).transpose()?;
    let baseline = opts.baseline.as_deref().map(read_baseline).transpose()?;
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let roots = opts
        .ca_file
        .as_deref()
        .map(|p| {
            crate::sources::http::read_roots(p).map_err(|reason| AuditError::CaFile {
                path: p.display().to_string(),
                reason,
            })
        })
        .transpose()?;
    let http = Http::new(opts.timeout, opts.max_response_bytes, roots);

    let mut sources = open_sources(&urls, &opts.dbs, &http);
    let genesis_errors = read_geneses(&mut sources);
    name_apart(&mut sources);
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut board = Board::new(names, opts.max_failures);
    let reference = choose_reference(&sources, given_genesis.as_ref(), opts.genesis.as_deref());

    let setup = Setup {
        reference: reference.chain_id,
        given_genesis: given_genesis.is_some(),
        fixed_now: opts.now_ms,
        threads,
        progress: Setup::progress(opts.progress),
    };
    let mut cache = SigCache::new(opts.sig_cache);
    for (i, a) in sources.iter_mut().enumerate() {
        audit_source(
            i,
            a,
            genesis_errors[i].as_deref(),
            &setup,
            &mut board,
            &mut cache,
        );
    }
    let readable = sources.iter().filter(|a| a.rules.is_some()).count();
    if given_genesis.is_none() && readable < 2 {
        board.skip_all(
            CheckId::GenesisSame,
            "only one source's genesis was read and no --genesis was given: nothing to compare",
        );
    }
    cross::cross_source(&mut sources, reference.chain_id, &mut board);
    match &baseline {
        Some(b) => cross::check_baseline(&sources, reference.chain_id, b, &mut board),
        None => board.skip_all(CheckId::BaselineAppendOnly, "no --baseline report given"),
    }
    let times = summary::Times {
        started,
        now: opts.now_ms.unwrap_or(started),
    };
    Ok(summary::report(opts, times, &sources, board, reference))
}

/// The `--genesis` file's rules.
fn read_genesis(path: &Path) -> Result<ChainRules, AuditError> {
    let err = |reason: String| AuditError::Genesis {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let g = parse_genesis(&text).map_err(err)?;
    ChainRules::new(g).map_err(|e| err(format!("invalid: {e}")))
}

/// The `--baseline` report.
fn read_baseline(path: &Path) -> Result<Baseline, AuditError> {
    let err = |reason: String| AuditError::Baseline {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    Baseline::parse(&text).map_err(err)
}

/// Opens every source, nodes first; one that cannot be opened is kept,
/// with why.
fn open_sources(urls: &[String], dbs: &[PathBuf], http: &Http) -> Vec<Audited> {
    let nodes = urls.iter().map(|url| {
        Audited::new(host_of(url), SourceKind::Node, url.clone())
            .opened(Source::open_node(url, http), "unreachable")
    });
    let files = dbs.iter().map(|path| {
        Audited::new(db_label(path), SourceKind::Db, path.display().to_string())
            .opened(Source::open_db(path), "unreadable")
    });
    nodes.chain(files).collect()
}

/// Each source's genesis and rules; a node is named as its genesis names
/// it. Returns why a source's genesis could not be read.
fn read_geneses(sources: &mut [Audited]) -> Vec<Option<String>> {
    let mut errors: Vec<Option<String>> = vec![None; sources.len()];
    for (i, a) in sources.iter_mut().enumerate() {
        let Some(o) = &a.opened else { continue };
        a.notes.extend(o.notes.iter().cloned());
        let g = match parse_genesis(&o.genesis_text) {
            Ok(g) => g,
            Err(e) => {
                errors[i] = Some(e);
                continue;
            }
        };
        if let Some(id) = o.node_id
            && let Some(n) = g
                .validators
                .iter()
                .map(|v| (&v.public_key, &v.name))
                .chain(g.stations.iter().map(|s| (&s.public_key, &s.name)))
                .find(|(k, _)| **k == id)
                .map(|(_, n)| n.clone())
        {
            a.name = n;
        }
        match ChainRules::new_unchecked(g.clone()) {
            Ok(r) => a.rules = Some(r),
            Err(e) => errors[i] = Some(e.to_string()),
        }
        a.genesis = Some(g);
    }
    errors
}

/// Sources that share a name get their position added to it.
fn name_apart(sources: &mut [Audited]) {
    let dups: Vec<bool> = (0..sources.len())
        .map(|i| {
            sources
                .iter()
                .enumerate()
                .any(|(j, s)| j != i && s.name == sources[i].name)
        })
        .collect();
    for (i, dup) in dups.into_iter().enumerate() {
        if dup {
            sources[i].name = format!("{} #{}", sources[i].name, i + 1);
        }
    }
}

/// The reference chain: the `--genesis` file's, or the genesis most
/// readable sources hold (the first source's among equals).
fn choose_reference(
    sources: &[Audited],
    given: Option<&ChainRules>,
    given_path: Option<&Path>,
) -> Reference {
    if let Some(r) = given {
        return Reference {
            chain_id: Some(r.chain_id),
            chain_name: Some(r.genesis.chain_name.clone()),
            basis: format!(
                "from --genesis {}",
                given_path
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        };
    }
    let mut counts: Vec<(Hash32, usize)> = Vec::new();
    for a in sources {
        if let Some(id) = a.chain_id() {
            match counts.iter_mut().find(|(c, _)| *c == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
    }
    let readable = sources.iter().filter(|a| a.rules.is_some()).count();
    // max_by_key keeps the last maximum; prefer the first source's.
    let Some(&(_, best)) = counts.iter().max_by_key(|(_, n)| *n) else {
        return Reference {
            chain_id: None,
            chain_name: None,
            basis: "no source's genesis could be read".to_string(),
        };
    };
    let (id, n) = *counts.iter().find(|(_, n)| *n == best).expect("a maximum");
    let name = sources
        .iter()
        .find(|a| a.chain_id() == Some(id))
        .and_then(|a| a.genesis.as_ref().map(|g| g.chain_name.clone()));
    let basis = if n == readable {
        format!("the genesis of all {n} readable source(s)")
    } else {
        format!("the genesis held by {n} of {readable} readable sources")
    };
    Reference {
        chain_id: Some(id),
        chain_name: name,
        basis,
    }
}
