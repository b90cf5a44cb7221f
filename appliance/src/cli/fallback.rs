//! `evote-appliance fallback`: status, close, export and import of fallback
//! chains, for election officials. These work on the appliance's database
//! directly, whether or not the appliance is running.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::files::write_new;
use crate::app::{AppError, load_genesis};
use crate::clock::now_ms;
use crate::config::Config;
use crate::keyfile;
use crate::ledger::fallback::{FallbackClose, FallbackCloseType, FallbackExport, SignedClose};
use crate::ledger::{Hash32, PublicKey};
use crate::store::Store;

/// Blocks read from the database at a time when exporting.
const EXPORT_PAGE: u64 = 256;

#[derive(Debug, Subcommand)]
pub enum FallbackCommand {
    /// Show this appliance's fallback chain and the chains it imported.
    Status {
        #[arg(long)]
        config: PathBuf,
    },
    /// Seal this appliance's fallback chain at poll close with a signed
    /// record (ballot count, last hash). It takes no more ballots after.
    Close {
        #[arg(long)]
        config: PathBuf,
    },
    /// Write this appliance's fallback chain as a signed JSON file.
    Export {
        #[arg(long)]
        config: PathBuf,
        /// The file to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify another appliance's export and hand its ballots to the main
    /// chain through this appliance.
    Import {
        /// The export file.
        file: PathBuf,
        #[arg(long)]
        config: PathBuf,
    },
}

pub fn run(cmd: FallbackCommand) -> Result<(), AppError> {
    match cmd {
        FallbackCommand::Status { config } => status(&Config::load(&config)?),
        FallbackCommand::Close { config } => close(&Config::load(&config)?),
        FallbackCommand::Export { config, out } => export(&Config::load(&config)?, &out),
        FallbackCommand::Import { file, config } => import(&Config::load(&config)?, &file),
    }
}

fn open(cfg: &Config) -> Result<(Store, crate::ledger::Genesis, Hash32), AppError> {
    let genesis = load_genesis(&cfg.genesis)?;
    let mut store = Store::open(&cfg.db_path())?;
    let chain_id = store.init_genesis(&genesis)?;
    Ok((store, genesis, chain_id))
}

fn status(cfg: &Config) -> Result<(), AppError> {
    let (store, _, _) = open(cfg)?;
    let me = keyfile::read_node_key(&cfg.key)?.public();
    let mut origins = store.fallback_origins()?;
    if !origins.contains(&me) {
        origins.insert(0, me);
    }
    for origin in origins {
        let label = if origin == me {
            "this appliance"
        } else {
            "imported"
        };
        let c = store.fallback_counts(Some(&origin))?;
        let tip = store.fallback_tip(&origin)?;
        let closed = store.fallback_close(&origin)?;
        println!("fallback chain of {origin} ({label})");
        println!("  blocks:     {}", tip.map_or(0, |t| t.seq));
        println!(
            "  ballots:    {} (waiting {}, on the main chain {}, rejected as double votes {})",
            c.total(),
            c.open(),
            c.confirmed,
            c.rejected
        );
        match closed {
            Some(r) => println!(
                "  closed:     {} ballots, last block {} ({})",
                r.close.ballot_count, r.close.last_seq, r.close.last_hash
            ),
            None => println!("  closed:     no"),
        }
    }
    Ok(())
}

fn close(cfg: &Config) -> Result<(), AppError> {
    let (mut store, _, chain_id) = open(cfg)?;
    let key = keyfile::read_node_key(&cfg.key)?;
    let record = close_chain(&mut store, &key, chain_id)?;
    println!(
        "closed: {} ballots in {} blocks, last hash {}",
        record.close.ballot_count, record.close.last_seq, record.close.last_hash
    );
    println!("next: evote-appliance fallback export --config ... --out FILE");
    Ok(())
}

/// Seals this appliance's fallback chain with its signed closing record
/// (the command line's `fallback close` and the console's "close the polls").
pub(crate) fn close_chain(
    store: &mut Store,
    key: &crate::ledger::NodeKey,
    chain_id: Hash32,
) -> Result<SignedClose, AppError> {
    let me = key.public();
    Ok(store.close_fallback(&me, |tip, count| {
        let close = FallbackClose {
            kind: FallbackCloseType::FallbackClose,
            chain_id,
            origin: me,
            ballot_count: count,
            last_seq: tip.map_or(0, |t| t.seq),
            last_hash: tip.map_or(Hash32::ZERO, |t| t.hash),
            closed_at_ms: now_ms(),
        };
        SignedClose::sign(close, key)
    })?)
}

fn export(cfg: &Config, out: &Path) -> Result<(), AppError> {
    let (mut store, genesis, chain_id) = open(cfg)?;
    let key = keyfile::read_node_key(&cfg.key)?;
    let (e, ballots) = export_chain(&mut store, &genesis, chain_id, &key)?;
    let text = serde_json::to_string_pretty(&e).expect("export encodes");
    write_new(out, &text)?;
    println!(
        "exported {ballots} ballots in {} blocks to {}{}",
        e.blocks.len(),
        out.display(),
        if e.close.is_some() {
            ""
        } else {
            " (the chain is not closed)"
        }
    );
    Ok(())
}

/// This appliance's fallback chain as a signed export, checked as an
/// importer will check it: (the export, its ballot count). It carries the
/// check-ins and closing records waiting in this appliance's mempool, after
/// making the closing record of each election closed by now.
pub(crate) fn export_chain(
    store: &mut Store,
    genesis: &crate::ledger::Genesis,
    chain_id: Hash32,
    key: &crate::ledger::NodeKey,
) -> Result<(FallbackExport, u64), AppError> {
    let me = key.public();
    crate::net::closing::close_closed_elections(store, genesis, chain_id, key, now_ms())?;
    let (blocks, copies) = read_chain(store, &me)?;
    let close = store.fallback_close(&me)?;
    let records = store.mempool_records_of(&me)?;
    let e = FallbackExport::sign(chain_id, blocks, copies, close, now_ms(), key)
        .map_err(|e| AppError::Setup(e.to_string()))?
        .with_records(records);
    let ballots = e.verify(genesis, &chain_id).map_err(|err| {
        AppError::Setup(format!(
            "this appliance's own fallback chain does not verify: {err}"
        ))
    })?;
    Ok((e, ballots))
}

/// The whole fallback chain of `origin`, with each block's copies.
fn read_chain(
    store: &Store,
    origin: &PublicKey,
) -> Result<
    (
        Vec<crate::ledger::fallback::FallbackBlock>,
        Vec<Vec<crate::ledger::SignedTx>>,
    ),
    AppError,
> {
    let mut blocks = Vec::new();
    let mut from = 1;
    loop {
        let page = store.fallback_blocks(origin, from, EXPORT_PAGE)?;
        if page.is_empty() {
            break;
        }
        from = page.last().expect("non-empty").header.seq + 1;
        blocks.extend(page);
    }
    let total: u64 = blocks.iter().map(|b| b.transactions.len() as u64).sum();
    let ballots = store.fallback_ballots(origin, 1, total)?;
    let mut copies: Vec<Vec<crate::ledger::SignedTx>> = blocks.iter().map(|_| Vec::new()).collect();
    for b in ballots {
        let i = (b.seq - 1) as usize;
        copies[i].push(b.main_tx);
    }
    Ok((blocks, copies))
}

fn import(cfg: &Config, file: &Path) -> Result<(), AppError> {
    let (mut store, genesis, chain_id) = open(cfg)?;
    let text = std::fs::read_to_string(file).map_err(|source| AppError::Io {
        context: format!("reading {}", file.display()),
        source,
    })?;
    let e: FallbackExport = serde_json::from_str(&text).map_err(|err| {
        AppError::Setup(format!("{}: not a fallback export: {err}", file.display()))
    })?;
    let ballots = e.verify(&genesis, &chain_id).map_err(|err| {
        AppError::Setup(format!(
            "{}: REFUSED, the export does not verify: {err}",
            file.display()
        ))
    })?;
    let added = store.import_fallback(&e.blocks, &e.copies, e.close.as_ref(), now_ms())?;
    let mut records = 0;
    for r in &e.records {
        let hash = r.hash().map_err(|err| AppError::Setup(err.to_string()))?;
        if store.mempool_insert(r, &hash, None, now_ms())? == crate::store::MempoolInsert::Inserted
        {
            records += 1;
        }
    }
    println!(
        "verified {ballots} ballots from {} ({}); {added} new and {records} new check-in or \
         closing records, handed to the main chain when this appliance runs",
        e.summary.origin,
        if e.close.is_some() {
            "closed"
        } else {
            "not closed"
        }
    );
    Ok(())
}
