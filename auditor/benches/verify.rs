//! The auditor's verify rate per 10,000 encrypted ballots, read from an
//! appliance-format database with every check on, on all cores and on one:
//!
//!     cargo bench -p evote-audit --bench verify
//!
//! `--example verify_rate` measures the same on 100,000 ballots, with all
//! cores and with one.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evote_audit::synth::now_ms;
use evote_audit::synth::{SynthSpec, write_db};
use evote_audit::{AuditOptions, run_audit};

const BALLOTS: usize = 10_000;

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("evote.sqlite3");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spec = SynthSpec {
        votes: BALLOTS,
        block_txs: 500,
        threads: cores,
        created_at_ms: now_ms() - 86_400_000,
        ..SynthSpec::default()
    };
    write_db(&path, &spec).expect("write the database");
    let opts = |threads| AuditOptions {
        dbs: vec![path.clone()],
        threads,
        ..AuditOptions::default()
    };
    let mut group = c.benchmark_group("auditor");
    group.throughput(Throughput::Elements(BALLOTS as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    // On every core, and on one: how well the audit spreads over cores.
    for (name, threads) in [
        ("verify_10000_ballots", cores),
        ("verify_10000_ballots_1_thread", 1),
    ] {
        let opts = opts(threads);
        group.bench_function(name, |b| {
            b.iter(|| {
                let report = run_audit(&opts).expect("the audit runs");
                assert_eq!(report.exit_code, 0, "{}", report.summary);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
