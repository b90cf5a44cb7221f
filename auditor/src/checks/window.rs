//! Checks a window of blocks on several threads. The stateless rules of
//! every block header and every transaction in the window are spread over
//! the threads (`std::thread::scope`, an atomic work counter); the results
//! are then put back in block order for [`crate::checks::ChainState`].

use std::sync::atomic::{AtomicUsize, Ordering};

use super::SigCache;
use super::block::{
    CheckedBlock, HeaderCheck, RawBlock, check_header, finish_block, parse_header, unreadable,
};
use super::transaction::{TxCheck, check_txs};
use crate::protocol::BlockHeader;
use crate::protocol::ChainRules;

/// Units of work handed to a thread at a time.
const CHUNK: usize = 2;
/// Below this many units a window is checked on the calling thread.
const PARALLEL_THRESHOLD: usize = 4;
/// Transactions of one block checked together: their ballots' proofs are
/// verified in one batch.
const TX_BATCH: usize = 32;

enum Unit {
    Header(usize),
    /// Block, first transaction, one past the last.
    Txs(usize, usize, usize),
}

/// What one thread did: its outputs by unit index, and the signatures it
/// verified.
type ThreadResult = (Vec<(usize, Output)>, Vec<[u8; 32]>);

enum Output {
    Header(Box<HeaderCheck>),
    Txs(Vec<TxCheck>),
}

/// The stateless checks of `blocks`, in order, using up to `threads`
/// threads. Newly verified signatures are added to `cache` afterwards.
pub fn check_window(
    rules: &ChainRules,
    blocks: &[RawBlock],
    now_ms: u64,
    cache: &mut SigCache,
    threads: usize,
) -> Vec<CheckedBlock> {
    let headers: Vec<Option<Result<BlockHeader, String>>> = blocks
        .iter()
        .map(|b| b.parts.as_ref().ok().map(parse_header))
        .collect();
    let units = units(blocks);
    let shared: &SigCache = cache;
    let run = |u: &Unit, learned: &mut Vec<[u8; 32]>| -> Output {
        match *u {
            Unit::Header(i) => {
                let parts = blocks[i]
                    .parts
                    .as_ref()
                    .expect("units only for readable blocks");
                let header = headers[i].as_ref().expect("parsed for readable blocks");
                Output::Header(Box::new(check_header(
                    rules, parts, header, now_ms, shared, learned,
                )))
            }
            Unit::Txs(i, from, to) => {
                let parts = blocks[i]
                    .parts
                    .as_ref()
                    .expect("units only for readable blocks");
                let time = headers[i]
                    .as_ref()
                    .and_then(|h| h.as_ref().ok())
                    .map(|h| h.timestamp_ms);
                let texts = &parts.transactions[from..to];
                Output::Txs(check_txs(rules, texts, time, shared, learned))
            }
        }
    };
    let threads = threads.max(1);
    let (outputs, learned) = if threads == 1 || units.len() < PARALLEL_THRESHOLD {
        let mut learned = Vec::new();
        let out = units.iter().map(|u| run(u, &mut learned)).collect();
        (out, learned)
    } else {
        on_threads(&units, threads, &run)
    };
    cache.remember(learned);
    assemble(rules, blocks, outputs)
}

/// A header unit for each readable block, then its transactions in
/// batches of [`TX_BATCH`].
fn units(blocks: &[RawBlock]) -> Vec<Unit> {
    let mut units = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if let Ok(p) = &b.parts {
            units.push(Unit::Header(i));
            let n = p.transactions.len();
            units.extend(
                (0..n)
                    .step_by(TX_BATCH)
                    .map(|t| Unit::Txs(i, t, (t + TX_BATCH).min(n))),
            );
        }
    }
    units
}

/// `run` over every unit on `threads` threads, [`CHUNK`] units at a time
/// from a shared counter; the outputs in unit order, and every signature
/// the threads verified.
fn on_threads(
    units: &[Unit],
    threads: usize,
    run: &(dyn Fn(&Unit, &mut Vec<[u8; 32]>) -> Output + Sync),
) -> (Vec<Output>, Vec<[u8; 32]>) {
    let next = AtomicUsize::new(0);
    let parts: Vec<ThreadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    let mut learned = Vec::new();
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        if start >= units.len() {
                            break;
                        }
                        let end = (start + CHUNK).min(units.len());
                        for (k, u) in units[start..end].iter().enumerate() {
                            done.push((start + k, run(u, &mut learned)));
                        }
                    }
                    (done, learned)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    });
    let mut slots: Vec<Option<Output>> = (0..units.len()).map(|_| None).collect();
    let mut all_learned = Vec::new();
    for (done, learned) in parts {
        for (k, o) in done {
            slots[k] = Some(o);
        }
        all_learned.extend(learned);
    }
    let out = slots
        .into_iter()
        .map(|o| o.expect("every unit was run once"))
        .collect();
    (out, all_learned)
}

/// The units' outputs put back together, block by block.
fn assemble(rules: &ChainRules, blocks: &[RawBlock], outputs: Vec<Output>) -> Vec<CheckedBlock> {
    let mut outputs = outputs.into_iter();
    blocks
        .iter()
        .map(|b| match &b.parts {
            Err(e) => unreadable(e.clone()),
            Ok(p) => {
                let Some(Output::Header(hc)) = outputs.next() else {
                    unreachable!("a header unit starts every readable block")
                };
                let mut txs = Vec::with_capacity(p.transactions.len());
                while txs.len() < p.transactions.len() {
                    match outputs.next() {
                        Some(Output::Txs(t)) => txs.extend(t),
                        _ => unreachable!("tx units cover every transaction"),
                    }
                }
                finish_block(rules, *hc, txs)
            }
        })
        .collect()
}
