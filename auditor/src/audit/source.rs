//! The audit of one source: its genesis, what it states about itself, its
//! chain block by block (streamed, checked on several threads), then what
//! it derives from the chain ([`super::derived`]).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Audited, Board, derived, now_ms};
use crate::checks::window::check_window;
use crate::checks::{ChainState, CheckId, Finding, HeightRecord, RawBlock, SigCache};
use crate::protocol::{ChainRules, Hash32, genesis_problems};
use crate::sources::{Opened, Source, SourceError, SourceKind};

/// What every source's audit shares.
pub(super) struct Setup {
    /// The reference chain id, if there is one.
    pub reference: Option<Hash32>,
    /// Whether the reference comes from `--genesis`.
    pub given_genesis: bool,
    /// `--now-ms`; otherwise the clock when each window arrives.
    pub fixed_now: Option<u64>,
    pub threads: usize,
    pub progress: bool,
}

impl Setup {
    pub(super) fn progress(progress: bool) -> bool {
        progress && std::io::stderr().is_terminal()
    }
}

/// Audits source `i`: every check on it alone, and its chain kept in `a`
/// for the checks across sources.
pub(super) fn audit_source(
    i: usize,
    a: &mut Audited,
    genesis_error: Option<&str>,
    setup: &Setup,
    board: &mut Board,
    cache: &mut SigCache,
) {
    let Some(opened) = a.opened.clone() else {
        let why = format!(
            "{} could not be read: {}",
            a.name,
            a.error.as_deref().unwrap_or("unknown error")
        );
        for c in CheckId::ALL {
            board.skip(c, i, why.clone());
        }
        return;
    };
    if !genesis_valid(i, a, genesis_error, board) {
        return;
    }
    let rules = a
        .rules
        .clone()
        .expect("rules exist when the genesis parsed");
    trustees(i, &rules, board);
    same_genesis(i, &rules, setup, board);
    stated_chain_id(i, &opened, &rules, board);
    integrity(i, &opened, board);

    let source = a.source.take().expect("an opened source");
    let mut chain = Chain::new(i, &rules, source, cache, setup, &opened, &a.name);
    let target = match opened.kind {
        SourceKind::Node => opened.stated_height,
        SourceKind::Db => None,
    };
    let complete = match chain.advance(board, target) {
        Ok(()) => true,
        Err(e) => {
            a.status = "incomplete";
            a.error = Some(format!("stopped after height {}: {e}", chain.height()));
            false
        }
    };
    chain.progress.finish_and_clear();
    if complete {
        status_agrees(i, &opened, &rules, &chain.records, board);
    }
    derived::tally_checks(a, &opened, &mut chain, board, complete);
    derived::fallback_checks(a, &opened, &mut chain, board, complete);
    derived::station_checks(&chain, board, complete);
    derived::code_checks(a, &mut chain, board, complete);
    a.records = chain.records;
    a.state = Some(chain.state);
    a.source = Some(chain.source);
}

/// genesis.valid; `false` when the genesis cannot be read, and the source's
/// other checks are skipped.
fn genesis_valid(
    i: usize,
    a: &mut Audited,
    genesis_error: Option<&str>,
    board: &mut Board,
) -> bool {
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
            true
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
            for c in CheckId::ALL
                .into_iter()
                .filter(|c| *c != CheckId::GenesisValid)
            {
                board.skip(c, i, why);
            }
            a.status = "incomplete";
            false
        }
    }
}

/// genesis.trustees: each election key is recomputed from the round-1
/// messages (never taken from anywhere else), whose proofs must verify.
fn trustees(i: usize, rules: &ChainRules, board: &mut Board) {
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
}

/// genesis.same: the source holds the reference genesis.
fn same_genesis(i: usize, rules: &ChainRules, setup: &Setup, board: &mut Board) {
    let Some(r) = setup.reference else {
        return;
    };
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
                if setup.given_genesis {
                    "the source holds another genesis than the --genesis file"
                } else {
                    "the source holds another genesis than the other sources"
                },
            ),
        );
    }
}

/// source.consistent: the chain id the source states is its genesis' hash.
fn stated_chain_id(i: usize, opened: &Opened, rules: &ChainRules, board: &mut Board) {
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
}

/// source.integrity: SQLite's own check of a database file.
fn integrity(i: usize, opened: &Opened, board: &mut Board) {
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
}

/// source.consistent: what a node's status said against what it served.
fn status_agrees(
    i: usize,
    opened: &Opened,
    rules: &ChainRules,
    records: &[HeightRecord],
    board: &mut Board,
) {
    let (Some(h), Some(head)) = (opened.stated_height, opened.stated_head) else {
        return;
    };
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
        return;
    }
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

/// A source's chain as the audit reads and checks it.
pub(super) struct Chain<'a> {
    /// The source's column on the board.
    pub i: usize,
    pub rules: &'a ChainRules,
    pub source: Source,
    pub state: ChainState,
    pub records: Vec<HeightRecord>,
    pub cache: &'a mut SigCache,
    fixed_now: Option<u64>,
    threads: usize,
    progress: ProgressBar,
}

impl<'a> Chain<'a> {
    fn new(
        i: usize,
        rules: &'a ChainRules,
        source: Source,
        cache: &'a mut SigCache,
        setup: &Setup,
        opened: &Opened,
        name: &str,
    ) -> Self {
        let progress = if setup.progress {
            let pb = ProgressBar::new(opened.height_hint);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>16} [{bar:30}] {pos}/{len} blocks, {msg}, eta {eta}",
            ) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.set_prefix(name.to_string());
            pb
        } else {
            ProgressBar::hidden()
        };
        Self {
            i,
            rules,
            source,
            state: ChainState::new(rules),
            records: Vec::new(),
            cache,
            fixed_now: setup.fixed_now,
            threads: setup.threads,
            progress,
        }
    }

    pub(super) fn height(&self) -> u64 {
        self.records.len() as u64
    }

    /// Reads and checks the chain on, up to height `up_to` (to its end
    /// when `None`).
    pub(super) fn advance(
        &mut self,
        board: &mut Board,
        up_to: Option<u64>,
    ) -> Result<(), SourceError> {
        let Chain {
            i,
            rules,
            source,
            state,
            records,
            cache,
            fixed_now,
            threads,
            progress,
        } = self;
        let mut on_window = |blocks: Vec<RawBlock>| {
            let n = blocks.len() as u64;
            // The clock when the window arrived: nodes keep adding blocks
            // while a long audit runs, stamped after the audit began.
            let now = fixed_now.unwrap_or_else(now_ms);
            let checked = check_window(rules, &blocks, now, cache, *threads);
            drop(blocks);
            for cb in checked {
                let ntx = cb.txs.len() as u64;
                let (findings, record) = state.apply(rules, cb);
                records.push(record);
                for c in Board::block_checks() {
                    board.checked(c, *i, 1);
                }
                for c in Board::tx_checks() {
                    board.checked(c, *i, ntx);
                }
                for f in findings {
                    board.fail(*i, f);
                }
            }
            progress.inc(n);
            let secs = progress.elapsed().as_secs_f64().max(0.001);
            progress.set_message(format!(
                "{} ballots, {:.0} ballots/s",
                state.transactions,
                state.transactions as f64 / secs
            ));
        };
        stream(source, up_to, &mut on_window)
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
