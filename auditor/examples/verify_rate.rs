//! The auditor's verify rate from a local database file: builds an
//! appliance-format database of synthetic encrypted ballots (100,000 by
//! default, 3 candidates, each with its 0/1 and sum proofs, validly
//! signed) and times `evote-audit verify --db` on it, on every core and,
//! for comparison, on one.
//!
//!     cargo run --release -p evote-audit --example verify_rate -- \
//!         [--votes N] [--block-txs K] [--threads T] [--keep PATH] [--no-single]
//!
//! It prints the ballots verified per second. Every ballot costs its proofs
//! (one 0/1 proof per candidate and a sum proof: 2 (n + 1) double-base
//! multiplications and point compressions, which dominate), one Ed25519
//! verification (the origin's signature), parsing and hashing; every block
//! adds a proposer signature and its commit seals. Ballots are independent
//! of one another, so the engine verifies them on all threads
//! (`std::thread::scope`, an atomic work counter over each window's
//! transactions); the per-block chain state (links, nullifiers, the
//! running encrypted tally) is applied in order on one thread.

use std::path::PathBuf;
use std::time::Instant;

use evote_audit::synth::{SynthSpec, write_db};
use evote_audit::{AuditOptions, run_audit};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
        })
        .unwrap_or(default)
}

/// Audits `path` on `threads` threads; returns the ballots per second.
fn time_audit(path: &std::path::Path, threads: usize, votes: u64) -> f64 {
    let opts = AuditOptions {
        dbs: vec![path.to_path_buf()],
        threads,
        ..AuditOptions::default()
    };
    let t = Instant::now();
    let report = run_audit(&opts).expect("the audit runs");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        report.exit_code, 0,
        "the synthetic chain must verify: {}",
        report.summary
    );
    let checked = report.sources[0].transactions_checked;
    assert_eq!(checked, votes);
    let rate = checked as f64 / secs;
    println!(
        "verified {checked} encrypted ballots in {secs:.2} s on {threads} thread(s): {rate:.0} ballots/s"
    );
    rate
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let votes: usize = arg(&args, "--votes", 100_000);
    let block_txs: usize = arg(&args, "--block-txs", 500);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: usize = arg(&args, "--threads", cores);
    let single = !args.iter().any(|a| a == "--no-single");
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);

    let tmp = std::env::temp_dir().join(format!("evote-verify-rate-{}", std::process::id()));
    if keep.is_none() {
        std::fs::create_dir_all(&tmp).expect("a temporary directory");
    }
    let path = keep.clone().unwrap_or_else(|| tmp.join("evote.sqlite3"));
    if path.exists() {
        std::fs::remove_file(&path).expect("remove the old file");
    }
    let spec = SynthSpec {
        votes,
        block_txs,
        threads: cores,
        created_at_ms: evote_audit::synth::now_ms() - 86_400_000,
        ..SynthSpec::default()
    };
    let t = Instant::now();
    let made = write_db(&path, &spec).expect("write the database");
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "built {} ({} encrypted ballots of 3 candidates in {} blocks of up to {block_txs}, {:.1} MB) in {:.1} s",
        path.display(),
        made.votes,
        made.blocks,
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let rate = time_audit(&path, threads, made.votes);
    if single && threads > 1 {
        let one = time_audit(&path, 1, made.votes);
        println!(
            "speed-up on {threads} threads: {:.2}x ({cores} core(s) available)",
            rate / one
        );
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
