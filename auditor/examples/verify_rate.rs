//! The auditor's verify rate from a local database file: builds an
//! appliance-format database of synthetic, validly signed ballots (100,000
//! by default) and times `evote-audit verify --db` on it.
//!
//!     cargo run --release -p evote-audit --example verify_rate -- \
//!         [--votes N] [--block-txs K] [--threads T] [--keep PATH]
//!
//! It prints the votes verified per second. Every ballot costs one Ed25519
//! verification (the origin's signature) plus parsing and hashing; every
//! block adds a proposer signature and its commit seals.

use std::path::PathBuf;
use std::time::Instant;

use evote_audit::audit::{AuditOptions, run_audit};
use evote_audit::synth::{SynthSpec, write_db};

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let votes: usize = arg(&args, "--votes", 100_000);
    let block_txs: usize = arg(&args, "--block-txs", 500);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: usize = arg(&args, "--threads", cores);
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);

    let tmp = std::env::temp_dir().join(format!("evote-verify-rate-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("a temporary directory");
    let path = keep.clone().unwrap_or_else(|| tmp.join("evote.sqlite3"));
    if path.exists() {
        std::fs::remove_file(&path).expect("remove the old file");
    }
    let spec = SynthSpec {
        votes,
        block_txs,
        threads: cores,
        created_at_ms: evote_audit::audit::now_ms() - 86_400_000,
        ..SynthSpec::default()
    };
    let t = Instant::now();
    let made = write_db(&path, &spec).expect("write the database");
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "built {} ({} votes in {} blocks of up to {block_txs}, {:.1} MB) in {:.1} s",
        path.display(),
        made.votes,
        made.blocks,
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let opts = AuditOptions {
        dbs: vec![path.clone()],
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
    assert_eq!(checked, made.votes);
    println!("{}", report.summary);
    println!(
        "verified {checked} votes in {secs:.2} s on {threads} thread(s): {:.0} votes/s",
        checked as f64 / secs
    );
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
