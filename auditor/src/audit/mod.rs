//! The audit: opens every source, picks the reference chain, verifies each
//! source's chain block by block (streamed, checked on several threads),
//! compares the sources with each other and with a previous report, and
//! compares each source's reported results with its chain.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};

use crate::checks::CheckId;
use crate::checks::tally::ElectionDecryption;
use crate::checks::window::check_window;
use crate::checks::{ChainState, Finding, HeightRecord, RawBlock, SigCache};
use crate::protocol::{ChainRules, genesis_problems, parse_genesis};
use crate::protocol::{Genesis, Hash32};
use crate::report::{
    Baseline, CandidateTally, CheckCell, CheckReport, ElectionTally, FailureReport, Outcome,
    REPORT_FORMAT, Reference, Report, SourceReport, TallyReport, Verdict, percentage,
};
use crate::sources::http::Http;
use crate::sources::{Opened, Source, SourceError, SourceKind, normalize_url};

mod derived;

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
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Per check: a cell per source, and the failures.
struct Acc {
    cells: Vec<Cell>,
    failures: Vec<FailureReport>,
    total: u64,
    reason: Option<String>,
}

#[derive(Default, Clone)]
struct Cell {
    checked: u64,
    failed: u64,
    skip: Option<String>,
    note: Option<String>,
}

struct Board {
    checks: BTreeMap<CheckId, Acc>,
    names: Vec<String>,
    max_failures: usize,
}

impl Board {
    fn new(names: Vec<String>, max_failures: usize) -> Self {
        let checks = CheckId::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    Acc {
                        cells: vec![Cell::default(); names.len()],
                        failures: Vec::new(),
                        total: 0,
                        reason: None,
                    },
                )
            })
            .collect();
        Self {
            checks,
            names,
            max_failures,
        }
    }

    fn acc(&mut self, c: CheckId) -> &mut Acc {
        self.checks.get_mut(&c).expect("every check has an entry")
    }

    fn checked(&mut self, c: CheckId, src: usize, n: u64) {
        self.acc(c).cells[src].checked += n;
    }

    fn fail(&mut self, src: usize, f: Finding) {
        let label = self.names[src].clone();
        self.fail_labelled(Some(src), label, f);
    }

    fn fail_labelled(&mut self, src: Option<usize>, label: String, f: Finding) {
        let c = f.check_id().unwrap_or(CheckId::BlockSchema);
        let max = self.max_failures;
        let acc = self.acc(c);
        if let Some(s) = src {
            acc.cells[s].failed += 1;
            acc.cells[s].checked = acc.cells[s].checked.max(1);
        }
        acc.total += 1;
        if acc.failures.len() < max {
            acc.failures.push(FailureReport {
                source: label,
                finding: f,
            });
        }
    }

    fn skip(&mut self, c: CheckId, src: usize, reason: impl Into<String>) {
        let cell = &mut self.acc(c).cells[src];
        if cell.skip.is_none() {
            cell.skip = Some(reason.into());
        }
    }

    fn skip_all(&mut self, c: CheckId, reason: impl Into<String>) {
        let reason = reason.into();
        let acc = self.acc(c);
        for cell in &mut acc.cells {
            if cell.skip.is_none() && cell.failed == 0 {
                cell.skip = Some(reason.clone());
            }
        }
        acc.reason = Some(reason);
    }

    fn note(&mut self, c: CheckId, src: usize, note: impl Into<String>) {
        self.acc(c).cells[src].note = Some(note.into());
    }

    fn block_checks() -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .into_iter()
            .filter(|c| matches!(c.info().scope, crate::checks::Scope::Block))
    }

    fn tx_checks() -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .into_iter()
            .filter(|c| matches!(c.info().scope, crate::checks::Scope::Transaction))
    }

    fn into_reports(self) -> Vec<CheckReport> {
        let names = self.names;
        self.checks
            .into_iter()
            .map(|(c, acc)| {
                let info = c.info();
                let per_source: Vec<CheckCell> = acc
                    .cells
                    .iter()
                    .zip(&names)
                    .map(|(cell, name)| {
                        let verdict = if cell.failed > 0 {
                            Verdict::Fail
                        } else if cell.skip.is_some() {
                            Verdict::Skip
                        } else {
                            Verdict::Pass
                        };
                        CheckCell {
                            source: name.clone(),
                            verdict,
                            checked: cell.checked,
                            failed: cell.failed,
                            reason: cell.skip.clone().or_else(|| cell.note.clone()),
                        }
                    })
                    .collect();
                let verdict =
                    if acc.total > 0 || per_source.iter().any(|c| c.verdict == Verdict::Fail) {
                        Verdict::Fail
                    } else if per_source.iter().any(|c| c.verdict == Verdict::Pass) {
                        Verdict::Pass
                    } else {
                        Verdict::Skip
                    };
                let reason = match verdict {
                    Verdict::Skip => acc
                        .reason
                        .clone()
                        .or_else(|| per_source.iter().find_map(|c| c.reason.clone())),
                    _ => acc.reason.clone(),
                };
                let shown = acc.failures.len() as u64;
                CheckReport {
                    id: info.id,
                    name: info.name,
                    scope: info.scope,
                    covers: info.covers,
                    verdict,
                    reason,
                    per_source,
                    failures_total: acc.total,
                    failures: acc.failures,
                    failures_omitted: acc.total.saturating_sub(shown),
                }
            })
            .collect()
    }
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

/// Runs an audit and returns its report.
pub fn run_audit(opts: &AuditOptions) -> Result<Report, AuditError> {
    let started = now_ms();
    let now = opts.now_ms.unwrap_or(started);
    if opts.nodes.is_empty() && opts.dbs.is_empty() {
        return Err(AuditError::NoSources);
    }
    let urls = opts
        .nodes
        .iter()
        .map(|u| normalize_url(u).map_err(AuditError::BadUrl))
        .collect::<Result<Vec<_>, _>>()?;
    let given_genesis = opts
        .genesis
        .as_ref()
        .map(|p| {
            let err = |reason: String| AuditError::Genesis {
                path: p.display().to_string(),
                reason,
            };
            let text = std::fs::read_to_string(p).map_err(|e| err(e.to_string()))?;
            let g = parse_genesis(&text).map_err(err)?;
            ChainRules::new(g).map_err(|e| err(format!("invalid: {e}")))
        })
        .transpose()?;
    let baseline = opts
        .baseline
        .as_ref()
        .map(|p| {
            let err = |reason: String| AuditError::Baseline {
                path: p.display().to_string(),
                reason,
            };
            let text = std::fs::read_to_string(p).map_err(|e| err(e.to_string()))?;
            Baseline::parse(&text).map_err(err)
        })
        .transpose()?;
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let http = Http::new(opts.timeout, opts.max_response_bytes);

    // Open every source.
    let mut sources: Vec<Audited> = Vec::new();
    for url in &urls {
        let mut a = Audited {
            name: host_of(url),
            kind: SourceKind::Node,
            location: url.clone(),
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
        };
        match Source::open_node(url, &http) {
            Ok((s, o)) => {
                a.source = Some(s);
                a.opened = Some(o);
            }
            Err(e) => {
                a.status = "unreachable";
                a.error = Some(e.to_string());
            }
        }
        sources.push(a);
    }
    for path in &opts.dbs {
        let mut a = Audited {
            name: db_label(path),
            kind: SourceKind::Db,
            location: path.display().to_string(),
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
        };
        match Source::open_db(path) {
            Ok((s, o)) => {
                a.source = Some(s);
                a.opened = Some(o);
            }
            Err(e) => {
                a.status = "unreadable";
                a.error = Some(e.to_string());
            }
        }
        sources.push(a);
    }

    // Genesis of each source; names of nodes from it.
    let mut genesis_errors: Vec<Option<String>> = vec![None; sources.len()];
    for (i, a) in sources.iter_mut().enumerate() {
        let Some(o) = &a.opened else { continue };
        a.notes.extend(o.notes.iter().cloned());
        match parse_genesis(&o.genesis_text) {
            Ok(g) => {
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
                    Err(e) => genesis_errors[i] = Some(e.to_string()),
                }
                a.genesis = Some(g);
            }
            Err(e) => genesis_errors[i] = Some(e),
        }
    }
    // Unique names.
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
    let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut board = Board::new(names.clone(), opts.max_failures);

    // The reference chain.
    let mut counts: Vec<(Hash32, usize)> = Vec::new();
    for a in &sources {
        if let Some(id) = a.chain_id() {
            match counts.iter_mut().find(|(c, _)| *c == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
    }
    let readable = sources.iter().filter(|a| a.rules.is_some()).count();
    let (reference, reference_name, basis) = match &given_genesis {
        Some(r) => (
            Some(r.chain_id),
            Some(r.genesis.chain_name.clone()),
            format!(
                "from --genesis {}",
                opts.genesis
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        ),
        None => match counts.iter().max_by_key(|(_, n)| *n) {
            // max_by_key keeps the last maximum; prefer the first source's.
            Some(&(_, best)) => {
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
                (Some(id), name, basis)
            }
            None => (None, None, "no source's genesis could be read".to_string()),
        },
    };

    // Per-source checks.
    let mut cache = SigCache::new(opts.sig_cache);
    let show_progress = opts.progress && std::io::stderr().is_terminal();
    for i in 0..sources.len() {
        audit_source(
            i,
            &mut sources[i],
            genesis_errors[i].as_deref(),
            reference,
            given_genesis.is_some(),
            &mut board,
            &mut cache,
            opts.now_ms,
            threads,
            show_progress,
        );
    }
    if given_genesis.is_none() && readable < 2 {
        board.skip_all(
            CheckId::GenesisSame,
            "only one source's genesis was read and no --genesis was given: nothing to compare",
        );
    }

    cross_source(&mut sources, reference, &mut board);
    match &baseline {
        Some(b) => check_baseline(&sources, reference, b, &mut board),
        None => board.skip_all(CheckId::BaselineAppendOnly, "no --baseline report given"),
    }

    // The report.
    let checks = board.into_reports();
    let any_fail = checks.iter().any(|c| c.verdict == Verdict::Fail);
    let any_error = sources.iter().any(|a| a.error.is_some());
    let (outcome, exit_code) = if any_fail {
        (Outcome::Discrepancies, 1)
    } else if any_error {
        (Outcome::Incomplete, 2)
    } else {
        (Outcome::Verified, 0)
    };
    let mut tallies = Vec::new();
    let mut source_reports = Vec::new();
    for a in &sources {
        if let (Some(state), Some(rules)) = (&a.state, &a.rules) {
            tallies.push(tally_report(
                &a.name,
                rules,
                state,
                a.head(),
                &a.decryptions,
            ));
        }
        let o = a.opened.as_ref();
        source_reports.push(SourceReport {
            name: a.name.clone(),
            kind: a.kind,
            location: a.location.clone(),
            node_id: o.and_then(|o| o.node_id),
            role: o.and_then(|o| o.role.clone()),
            status: a.status.to_string(),
            error: a.error.clone(),
            chain_id: a.chain_id(),
            chain_name: a.genesis.as_ref().map(|g| g.chain_name.clone()),
            on_reference_chain: reference.is_some() && a.chain_id() == reference,
            height: a.records.len() as u64,
            head_hash: if a.state.is_some() { a.head() } else { None },
            stated_height: o.and_then(|o| o.stated_height),
            lag: a.lag,
            diverges_at: a.diverges_at,
            blocks_checked: a.state.as_ref().map_or(0, |s| s.blocks),
            transactions_checked: a.state.as_ref().map_or(0, |s| s.transactions),
            notes: a.notes.clone(),
        });
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} ({})", c.id, c.failures_total))
        .collect();
    let passed = checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
    let skipped = checks.iter().filter(|c| c.verdict == Verdict::Skip).count();
    let ballots: u64 = sources
        .iter()
        .filter_map(|a| a.state.as_ref().map(|s| s.ballots))
        .max()
        .unwrap_or(0);
    let height = sources.iter().map(|a| a.records.len()).max().unwrap_or(0);
    let unread: Vec<&str> = sources
        .iter()
        .filter(|a| a.error.is_some())
        .map(|a| a.name.as_str())
        .collect();
    let summary = match outcome {
        Outcome::Verified => format!(
            "VERIFIED: every chain is sound{} ({} source(s), height {height}, {ballots} ballot(s); {passed} checks passed, {skipped} not applicable)",
            if sources.len() > 1 {
                " and the sources agree"
            } else {
                ""
            },
            sources.len()
        ),
        Outcome::Discrepancies => {
            let mut s = format!(
                "DISCREPANCIES FOUND: {} check(s) failed: {}",
                failed.len(),
                failed.join(", ")
            );
            if !unread.is_empty() {
                s.push_str(&format!("; not audited (fully): {}", unread.join(", ")));
            }
            s
        }
        Outcome::Incomplete => format!(
            "INCOMPLETE: nothing failed on what was audited, but {} could not be audited (fully)",
            unread.join(", ")
        ),
    };
    Ok(Report {
        format: REPORT_FORMAT,
        tool: format!("evote-audit {}", env!("CARGO_PKG_VERSION")),
        command: opts.command.clone(),
        started_at_ms: started,
        finished_at_ms: now_ms(),
        now_ms: now,
        outcome,
        exit_code,
        summary,
        reference: Reference {
            chain_id: reference,
            chain_name: reference_name,
            basis,
        },
        sources: source_reports,
        checks,
        tallies,
    })
}

fn tally_report(
    name: &str,
    rules: &ChainRules,
    state: &ChainState,
    head: Option<Hash32>,
    decryptions: &[ElectionDecryption],
) -> TallyReport {
    let elections = rules
        .genesis
        .elections
        .iter()
        .zip(decryptions)
        .map(|(e, d)| {
            let result = d.result();
            let counts = result.and_then(|t| t.result.as_ref().ok());
            let (status, reason) = match (result, counts) {
                (Some(_), Some(_)) => ("decrypted", None),
                (Some(t), None) => (
                    "failed",
                    t.result.as_ref().err().map(|err| {
                        format!(
                            "the shares of the tally at height {} do not combine: {}: {err}",
                            t.tally_height,
                            err.code()
                        )
                    }),
                ),
                (None, _) => ("pending", d.pending.clone()),
            };
            let in_tally = result.map(|t| t.ballot_count);
            let candidates = e
                .candidates
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let votes = counts.and_then(|v| v.get(k).copied());
                    CandidateTally {
                        candidate_id: c.id,
                        name: c.name.clone(),
                        votes,
                        percentage: votes.map(|n| percentage(n, in_tally.unwrap_or(0))),
                    }
                })
                .collect();
            ElectionTally {
                election_id: e.id,
                name: e.name.clone(),
                total: d.ballots,
                status,
                reason,
                tally_height: result.map(|t| t.tally_height),
                ballots_in_tally: in_tally,
                trustees: result.map_or_else(Vec::new, |t| t.shares.iter().map(|s| s.0).collect()),
                candidates,
            }
        })
        .collect();
    TallyReport {
        source: name.to_string(),
        height: state.parent.height,
        head_hash: head,
        elections,
    }
}

/// Streams blocks from `source` up to `up_to`, reading the next window on
/// another thread while the current one is checked.
fn stream(
    source: &mut Source,
    up_to: Option<u64>,
    on_window: &mut dyn FnMut(Vec<RawBlock>),
) -> Result<(), SourceError> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<RawBlock>, SourceError>>(1);
        s.spawn(move || {
            loop {
                let w = source.next_window(up_to);
                let last = !matches!(&w, Ok(v) if !v.is_empty());
                if tx.send(w).is_err() || last {
                    break;
                }
            }
        });
        for w in rx {
            match w {
                Ok(v) if v.is_empty() => return Ok(()),
                Ok(v) => on_window(v),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn audit_source(
    i: usize,
    a: &mut Audited,
    genesis_error: Option<&str>,
    reference: Option<Hash32>,
    given_genesis: bool,
    board: &mut Board,
    cache: &mut SigCache,
    fixed_now: Option<u64>,
    threads: usize,
    show_progress: bool,
) {
    let all: Vec<CheckId> = CheckId::ALL.to_vec();
    let Some(opened) = a.opened.clone() else {
        let why = format!(
            "{} could not be read: {}",
            a.name,
            a.error.as_deref().unwrap_or("unknown error")
        );
        for c in all {
            board.skip(c, i, why.clone());
        }
        return;
    };
    // genesis.valid
    match (&a.genesis, genesis_error) {
        (Some(g), None) => {
            board.checked(CheckId::GenesisValid, i, 1);
            for p in genesis_problems(g) {
                board.fail(
                    i,
                    Finding::new(
                        CheckId::GenesisValid,
                        "invalid_genesis",
                        "a genesis that follows PROTOCOL.md §3",
                        p,
                        "the genesis breaks a rule of PROTOCOL.md §3",
                    ),
                );
            }
        }
        (_, err) => {
            board.fail(
                i,
                Finding::new(
                    CheckId::GenesisValid,
                    "invalid_genesis",
                    "a genesis that follows PROTOCOL.md §3",
                    err.unwrap_or("unreadable").to_string(),
                    "the genesis cannot be read, so the chain cannot be checked",
                ),
            );
            let why = "the source's genesis could not be read";
            for c in all.iter().copied().filter(|c| *c != CheckId::GenesisValid) {
                board.skip(c, i, why);
            }
            a.status = "incomplete";
            return;
        }
    }
    let rules = a
        .rules
        .clone()
        .expect("rules exist when the genesis parsed");
    // genesis.trustees: each election key is recomputed from the round-1
    // messages (never taken from anywhere else), whose proofs must verify.
    for e in &rules.genesis.elections {
        board.checked(CheckId::GenesisTrustees, i, 1);
        if let Some(Err(err)) = rules.election_key(e.id) {
            board.fail(
                i,
                Finding::new(
                    CheckId::GenesisTrustees,
                    err.code(),
                    format!(
                        "round-1 messages of {} trustees (threshold {}) whose proofs of knowledge verify",
                        e.trustees.trustees, e.trustees.threshold
                    ),
                    format!("{}: {err}", err.code()),
                    format!(
                        "election {}: its key cannot be recomputed from the genesis, so none of its ballots or shares can be checked",
                        e.id
                    ),
                ),
            );
        }
    }
    if rules.genesis.elections.is_empty() {
        board.skip(CheckId::GenesisTrustees, i, "the genesis holds no election");
    }
    // genesis.same
    if let Some(r) = reference {
        board.checked(CheckId::GenesisSame, i, 1);
        if rules.chain_id != r {
            board.fail(
                i,
                Finding::new(
                    CheckId::GenesisSame,
                    "wrong_chain",
                    format!("genesis with chain id {r}"),
                    format!(
                        "genesis {:?} with chain id {}",
                        rules.genesis.chain_name, rules.chain_id
                    ),
                    if given_genesis {
                        "the source holds another genesis than the --genesis file"
                    } else {
                        "the source holds another genesis than the other sources"
                    },
                ),
            );
        }
    }
    // source.consistent (stated chain id)
    board.checked(CheckId::SourceConsistent, i, 1);
    match &opened.stated_chain_id {
        Some(Ok(id)) if *id != rules.chain_id => board.fail(
            i,
            Finding::new(
                CheckId::SourceConsistent,
                "wrong_chain",
                format!("{} (the hash of the genesis it serves)", rules.chain_id),
                id.to_hex(),
                match opened.kind {
                    SourceKind::Node => {
                        "the chain id in /p2p/status is not the hash of /p2p/genesis"
                    }
                    SourceKind::Db => "meta.chain_id is not the hash of meta.genesis",
                },
            ),
        ),
        Some(Err(e)) => board.fail(
            i,
            Finding::new(
                CheckId::SourceConsistent,
                "schema",
                "a chain id as 0x and 64 lowercase hex digits",
                e.clone(),
                "the stated chain id is malformed",
            ),
        ),
        None if opened.kind == SourceKind::Db => board.fail(
            i,
            Finding::new(
                CheckId::SourceConsistent,
                "schema",
                "meta.chain_id",
                "absent",
                "the database does not state its chain id",
            ),
        ),
        _ => {}
    }
    // source.integrity
    match &opened.integrity {
        None => board.skip(CheckId::SourceIntegrity, i, "not a database file"),
        Some(Ok(())) => board.checked(CheckId::SourceIntegrity, i, 1),
        Some(Err(e)) => board.fail(
            i,
            Finding::new(
                CheckId::SourceIntegrity,
                "integrity",
                "ok",
                e.clone(),
                "SQLite's quick_check reports a damaged database file",
            ),
        ),
    }

    // The chain, block by block.
    let mut source = a.source.take().expect("an opened source");
    let mut state = ChainState::new(&rules);
    let mut records: Vec<HeightRecord> = Vec::new();
    let target = match opened.kind {
        SourceKind::Node => opened.stated_height,
        SourceKind::Db => None,
    };
    let pb = if show_progress {
        let pb = ProgressBar::new(opened.height_hint);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>16} [{bar:30}] {pos}/{len} blocks, {msg}, eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_prefix(a.name.clone());
        pb
    } else {
        ProgressBar::hidden()
    };
    let advance = |source: &mut Source,
                   state: &mut ChainState,
                   records: &mut Vec<HeightRecord>,
                   board: &mut Board,
                   cache: &mut SigCache,
                   up_to: Option<u64>|
     -> Result<(), SourceError> {
        let mut on_window = |blocks: Vec<RawBlock>| {
            let n = blocks.len() as u64;
            // The clock when the window arrived: nodes keep adding blocks
            // while a long audit runs, stamped after the audit began.
            let now = fixed_now.unwrap_or_else(now_ms);
            let checked = check_window(&rules, &blocks, now, cache, threads);
            drop(blocks);
            for cb in checked {
                let ntx = cb.txs.len() as u64;
                let (findings, record) = state.apply(&rules, cb);
                records.push(record);
                for c in Board::block_checks() {
                    board.checked(c, i, 1);
                }
                for c in Board::tx_checks() {
                    board.checked(c, i, ntx);
                }
                for f in findings {
                    board.fail(i, f);
                }
            }
            pb.inc(n);
            let secs = pb.elapsed().as_secs_f64().max(0.001);
            pb.set_message(format!(
                "{} ballots, {:.0} ballots/s",
                state.transactions,
                state.transactions as f64 / secs
            ));
        };
        stream(source, up_to, &mut on_window)
    };
    let mut complete = true;
    if let Err(e) = advance(&mut source, &mut state, &mut records, board, cache, target) {
        a.status = "incomplete";
        a.error = Some(format!("stopped after height {}: {e}", records.len()));
        complete = false;
    }
    pb.finish_and_clear();

    // source.consistent (what a node's status said against what it served)
    if complete && let (Some(h), Some(head)) = (opened.stated_height, opened.stated_head) {
        let served = records.len() as u64;
        if served < h {
            board.fail(
                i,
                Finding::new(
                    CheckId::SourceConsistent,
                    "missing_blocks",
                    format!("blocks 1 to {h} (the height /p2p/status reports)"),
                    format!("blocks 1 to {served}"),
                    "the node reports a longer chain than it serves",
                )
                .at(served + 1),
            );
        } else {
            let at = if h == 0 {
                Some(rules.chain_id)
            } else {
                records.get(h as usize - 1).map(|r| r.hash)
            };
            if at != Some(head) {
                board.fail(
                    i,
                    Finding::new(
                        CheckId::SourceConsistent,
                        "wrong_head",
                        format!(
                            "{} (the block it serves at height {h})",
                            at.map_or_else(|| "-".into(), |x| x.to_hex())
                        ),
                        head.to_hex(),
                        "the head hash in /p2p/status is not the block the node serves at that height",
                    )
                    .at(h),
                );
            }
            if let Some(len) = opened.stated_chain_length
                && len != h + 1
            {
                board.fail(
                    i,
                    Finding::new(
                        CheckId::SourceConsistent,
                        "wrong_length",
                        (h + 1).to_string(),
                        len.to_string(),
                        "chain_length in /p2p/status is not height + 1",
                    ),
                );
            }
        }
    }

    // tally.* and fallback.*
    let mut chain = derived::Chain {
        source: &mut source,
        state: &mut state,
        records: &mut records,
        cache,
    };
    derived::tally_checks(i, a, &opened, &rules, &mut chain, board, &advance, complete);
    derived::fallback_checks(i, a, &opened, &rules, &mut chain, board, complete);

    a.records = records;
    a.state = Some(state);
    a.source = Some(source);
}

/// chain.agreement and consensus.no_equivocation.
fn cross_source(sources: &mut [Audited], reference: Option<Hash32>, board: &mut Board) {
    let eligible: Vec<usize> = (0..sources.len())
        .filter(|&i| {
            sources[i].state.is_some() && reference.is_some() && sources[i].chain_id() == reference
        })
        .collect();
    for (i, a) in sources.iter().enumerate() {
        if a.state.is_some() && !eligible.contains(&i) {
            let why = "the source is on another chain (see genesis.same)";
            board.skip(CheckId::ChainAgreement, i, why);
            board.skip(CheckId::NoEquivocation, i, why);
        }
    }
    if eligible.len() < 2 {
        let why = "fewer than two sources on the reference chain: nothing to compare";
        board.skip_all(CheckId::ChainAgreement, why);
        board.skip_all(CheckId::NoEquivocation, why);
        return;
    }
    let first_diff = |a: &[HeightRecord], b: &[HeightRecord]| {
        a.iter()
            .zip(b)
            .position(|(x, y)| x.hash != y.hash)
            .map(|p| p as u64 + 1)
    };
    // The reference: the chain most sources are compatible with (one is a
    // prefix of the other), then the longer; the longest compatible chain
    // is what the others are compared with.
    let compatible =
        |i: usize, j: usize| first_diff(&sources[i].records, &sources[j].records).is_none();
    let anchor = eligible
        .iter()
        .copied()
        .max_by_key(|&i| {
            let support = eligible.iter().filter(|&&j| compatible(i, j)).count();
            (support, sources[i].records.len(), std::cmp::Reverse(i))
        })
        .expect("at least two eligible sources");
    let longest = eligible
        .iter()
        .copied()
        .filter(|&j| compatible(anchor, j))
        .max_by_key(|&j| (sources[j].records.len(), std::cmp::Reverse(j)))
        .expect("the anchor is compatible with itself");
    let max_len = sources[longest].records.len();
    let lname = sources[longest].name.clone();
    let support = eligible.iter().filter(|&&j| compatible(longest, j)).count();
    let outcomes: Vec<(usize, Option<u64>)> = eligible
        .iter()
        .map(|&i| {
            (
                i,
                first_diff(&sources[i].records, &sources[longest].records),
            )
        })
        .collect();
    for (i, diff) in outcomes {
        board.checked(CheckId::ChainAgreement, i, 1);
        let len = sources[i].records.len();
        sources[i].lag = Some(max_len.saturating_sub(len) as u64);
        match diff {
            None => {
                let lag = max_len.saturating_sub(len);
                if lag > 0 {
                    board.note(
                        CheckId::ChainAgreement,
                        i,
                        format!("a prefix of {lname}'s chain, {lag} block(s) behind"),
                    );
                }
            }
            Some(h) => {
                sources[i].diverges_at = Some(h);
                let mine = sources[i].records[h as usize - 1].hash;
                let theirs = sources[longest].records[h as usize - 1].hash;
                let name = sources[i].name.clone();
                let finding = Finding::new(
                    CheckId::ChainAgreement,
                    "fork",
                    format!("{theirs} (the block {lname} holds)"),
                    format!("{mine} (the block {name} holds)"),
                    format!(
                        "{name} and {lname} differ first at height {h}: their chains fork there ({name} is at height {len}, {lname} at height {max_len}; {support} of {} sources hold {lname}'s chain)",
                        eligible.len()
                    ),
                )
                .at(h);
                board.fail(i, finding);
            }
        }
    }

    // Equivocation: at each height where sources hold different blocks,
    // a validator whose valid seal (or proposal in the same round) is on two
    // of them signed both.
    let names: Vec<String> = sources.iter().map(|a| a.name.clone()).collect();
    let rules = sources[eligible[0]]
        .rules
        .clone()
        .expect("eligible sources have rules");
    for &i in &eligible {
        board.checked(CheckId::NoEquivocation, i, 1);
    }
    let top = eligible
        .iter()
        .map(|&i| sources[i].records.len())
        .max()
        .unwrap_or(0);
    for h in 0..top {
        let here: Vec<(usize, HeightRecord)> = eligible
            .iter()
            .filter_map(|&i| sources[i].records.get(h).map(|r| (i, *r)))
            .collect();
        if here.iter().all(|(_, r)| r.hash == here[0].1.hash) {
            continue;
        }
        let mut blocks: Vec<(HeightRecord, Vec<usize>)> = Vec::new();
        for (i, r) in here {
            match blocks.iter_mut().find(|(b, _)| b.hash == r.hash) {
                Some((b, holders)) => {
                    b.valid_sealers |= r.valid_sealers;
                    if b.proposer.is_none() {
                        b.proposer = r.proposer;
                    }
                    holders.push(i);
                }
                None => blocks.push((r, vec![i])),
            }
        }
        let height = h as u64 + 1;
        for x in 0..blocks.len() {
            for y in x + 1..blocks.len() {
                let (a, ha) = &blocks[x];
                let (b, hb) = &blocks[y];
                let held = |hs: &Vec<usize>| {
                    hs.iter()
                        .map(|&i| names[i].clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let involved: Vec<usize> = ha.iter().chain(hb).copied().collect();
                let common = a.valid_sealers & b.valid_sealers;
                for v in 0..rules.validator_count().min(64) {
                    if common & (1 << v) == 0 {
                        continue;
                    }
                    let f = Finding::new(
                        CheckId::NoEquivocation,
                        "equivocation",
                        "one committed block per height: a validator seals only one",
                        format!(
                            "valid commit seals by {} on {} (held by {}) and on {} (held by {})",
                            rules.describe(rules.validator_key(v)),
                            a.hash,
                            held(ha),
                            b.hash,
                            held(hb)
                        ),
                        format!(
                            "validator {} signed commit seals for two different blocks at height {height}",
                            rules.validator_name(v)
                        ),
                    )
                    .at(height);
                    for &i in &involved[1..] {
                        board.acc(CheckId::NoEquivocation).cells[i].failed += 1;
                    }
                    board.fail(involved[0], f);
                }
                if let (Some(pa), Some(pb)) = (a.proposer, b.proposer)
                    && pa == pb
                    && a.round == b.round
                {
                    let v = pa as usize;
                    let f = Finding::new(
                        CheckId::NoEquivocation,
                        "equivocation",
                        "one proposal per height and round",
                        format!(
                            "proposals by {} of {} (held by {}) and {} (held by {}) in round {}",
                            rules.describe(rules.validator_key(v)),
                            a.hash,
                            held(ha),
                            b.hash,
                            held(hb),
                            a.round
                        ),
                        format!(
                            "validator {} proposed two different blocks at height {height}, round {}",
                            rules.validator_name(v),
                            a.round
                        ),
                    )
                    .at(height);
                    for &i in &involved[1..] {
                        board.acc(CheckId::NoEquivocation).cells[i].failed += 1;
                    }
                    board.fail(involved[0], f);
                }
            }
        }
    }
}

/// baseline.append_only: the heads a previous report saw are still there.
fn check_baseline(
    sources: &[Audited],
    reference: Option<Hash32>,
    baseline: &Baseline,
    board: &mut Board,
) {
    let heads: Vec<_> = baseline
        .sources
        .iter()
        .filter(|b| b.height > 0 && b.head_hash.is_some())
        .filter(|b| b.chain_id.is_some() && b.chain_id == reference)
        .collect();
    if heads.is_empty() {
        board.skip_all(
            CheckId::BaselineAppendOnly,
            "the baseline report records no head on the reference chain",
        );
        return;
    }
    for (i, a) in sources.iter().enumerate() {
        if a.state.is_none() {
            continue;
        }
        if a.chain_id() != reference {
            board.skip(
                CheckId::BaselineAppendOnly,
                i,
                "the source is on another chain (see genesis.same)",
            );
            continue;
        }
        for b in &heads {
            let want = b.head_hash.expect("filtered");
            board.checked(CheckId::BaselineAppendOnly, i, 1);
            let same_source = match (a.opened.as_ref().and_then(|o| o.node_id), b.node_id) {
                (Some(x), Some(y)) => x == y,
                _ => a.location == b.location,
            };
            match a.records.get(b.height as usize - 1) {
                Some(r) if r.hash == want => {}
                Some(r) => board.fail(
                    i,
                    Finding::new(
                        CheckId::BaselineAppendOnly,
                        "history_changed",
                        format!("{want} (the head of {} in the baseline)", b.name),
                        r.hash.to_hex(),
                        format!(
                            "the block at height {} is not the one the baseline recorded: the chain was rewritten",
                            b.height
                        ),
                    )
                    .at(b.height),
                ),
                None if same_source && a.error.is_none() => board.fail(
                    i,
                    Finding::new(
                        CheckId::BaselineAppendOnly,
                        "history_lost",
                        format!("height {} or more (as in the baseline)", b.height),
                        format!("height {}", a.records.len()),
                        "the source's chain is shorter than when the baseline was taken: blocks disappeared",
                    )
                    .at(b.height),
                ),
                None => {}
            }
        }
    }
}
