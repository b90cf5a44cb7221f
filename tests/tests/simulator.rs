//! The deterministic consensus simulator (tests/src/sim).
//!
//! - `cargo test -p evote-tests --test simulator`: 200 seeds for n = 3 and
//!   200 for n = 4 (the two run on two test threads).
//! - `EVOTE_SIM_SEEDS=N`: N seeds per validator count; `EVOTE_SIM_SEED_BASE=B`
//!   starts at seed B instead of 0 (for soaks over fresh seeds).
//! - `EVOTE_SIM_SEED=S [EVOTE_SIM_N=n] ... -- --nocapture --exact replay`:
//!   replays one seed and prints every event.
//! - `EVOTE_SIM_SAFETY_S=20-60`: a longer safety phase (seconds of virtual
//!   time, drawn per seed) than the default 8-16, for soaks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use evote_tests::sim::net::Latency;
use evote_tests::sim::{self, Config, Failure, Outcome, World};

const DEFAULT_SEEDS: u64 = 200;
/// Stop a sweep after this many failing seeds (a systematic bug fails all);
/// `EVOTE_SIM_MAX_FAILURES` changes it.
const MAX_FAILURES: usize = 5;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be an integer, not {v:?}")),
    )
}

/// The standard configuration; `EVOTE_SIM_SAFETY_S=LO-HI` draws the safety
/// phase from LO to HI seconds instead (longer soaks).
fn config() -> Config {
    let mut cfg = Config::standard();
    if let Ok(v) = std::env::var("EVOTE_SIM_SAFETY_S") {
        let parsed = v.split_once('-').and_then(|(a, b)| {
            Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
        });
        match parsed {
            Some((lo, hi)) if 0 < lo && lo <= hi => cfg.safety_ms = (lo * 1000, hi * 1000),
            _ => panic!("EVOTE_SIM_SAFETY_S must look like 20-60, not {v:?}"),
        }
    }
    if let Ok(v) = std::env::var("EVOTE_SIM_WAN") {
        cfg = Config::wan(parse_wan(&v));
    }
    cfg
}

/// `ONE_WAY,JITTER[,QUIET_LO-QUIET_HI]` (ms): a fault-free wide-area run,
/// with 2-5 s stalls after the quiet times given.
fn parse_wan(v: &str) -> Latency {
    let bad =
        || -> ! { panic!("EVOTE_SIM_WAN must look like 150,50 or 150,50,5000-20000, not {v:?}") };
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| bad());
    let (one_way, jitter) = match parts.as_slice() {
        [a, b] | [a, b, _] => (num(a), num(b)),
        _ => bad(),
    };
    let latency = Latency::wan(one_way, jitter);
    match parts.get(2).map(|q| q.split_once('-')) {
        None => latency,
        Some(Some((lo, hi))) => latency.with_stalls((num(lo), num(hi))),
        Some(None) => bad(),
    }
}

/// One seed; a panic inside the core or the simulator is a failure too.
fn run_one(world: &World, cfg: &Config, seed: u64) -> Result<Outcome, Failure> {
    match catch_unwind(AssertUnwindSafe(|| sim::run(world, cfg, seed))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(Failure {
                seed,
                n: world.n,
                at_ms: 0,
                message: format!("panic: {what}"),
                replay: sim::replay_command(seed, world.n, cfg),
            })
        }
    }
}

fn sweep(n: usize) {
    let count = env_u64("EVOTE_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let base = env_u64("EVOTE_SIM_SEED_BASE").unwrap_or(0);
    let max_failures = env_u64("EVOTE_SIM_MAX_FAILURES").map_or(MAX_FAILURES, |m| m as usize);
    let world = World::new(n);
    let cfg = config();
    let started = Instant::now();
    let mut failures: Vec<Failure> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for seed in base..base + count {
        match run_one(&world, &cfg, seed) {
            Ok(o) => outcomes.push(o),
            Err(f) => {
                eprintln!("{f}");
                failures.push(f);
                if failures.len() >= max_failures {
                    break;
                }
            }
        }
    }
    summarize(n, &outcomes, started.elapsed().as_secs_f64());
    if let Some(first) = failures.first() {
        let seeds: Vec<String> = failures.iter().map(|f| f.seed.to_string()).collect();
        panic!(
            "{} seed(s) failed for n={n} (seeds {}; each replays with its own command above)\n\
             first: {first}",
            failures.len(),
            seeds.join(", "),
        );
    }
}

fn summarize(n: usize, outcomes: &[Outcome], secs: f64) {
    if outcomes.is_empty() {
        return;
    }
    let k = outcomes.len() as f64;
    let avg = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>() as f64 / k;
    let max = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).max().unwrap_or(0);
    let mut live: Vec<u64> = outcomes.iter().map(|o| o.liveness_ms).collect();
    live.sort_unstable();
    let pct = |p: usize| live[(live.len() - 1) * p / 100];
    let ratio = |o: &Outcome| o.liveness_ms as f64 / o.liveness_bound_ms as f64;
    let tightest = outcomes
        .iter()
        .max_by(|a, b| ratio(a).total_cmp(&ratio(b)))
        .expect("not empty");
    println!(
        "n={n}: {} seeds passed in {secs:.1} s wall ({:.0} ms per seed)\n  \
         per seed: virtual safety phase {:.1} s, final height {:.1}, votes accepted {:.1} \
         ({:.1} double), crashes {:.1} ({:.2} between two actions), disk wipes {:.2}, \
         partitions {:.1}, messages {:.0} ({:.0} lost), blocks synced {:.1}, round changes {:.1}\n  \
         highest round reached {}; liveness after the last fault: median {} ms, p99 {} ms, \
         max {} ms; closest to its bound: seed {} ({} of {} ms; largest bound {} ms)",
        outcomes.len(),
        secs * 1000.0 / k,
        avg(|o| o.safety_ms) / 1000.0,
        avg(|o| o.height),
        avg(|o| o.votes_accepted),
        avg(|o| o.double_votes_accepted),
        avg(|o| o.crashes),
        avg(|o| o.crashes_between_actions),
        avg(|o| o.wipes),
        avg(|o| o.partitions),
        avg(|o| o.messages_sent),
        avg(|o| o.messages_dropped),
        avg(|o| o.blocks_synced),
        avg(|o| o.round_changes),
        max(|o| o.max_round),
        pct(50),
        pct(99),
        live[live.len() - 1],
        tightest.seed,
        tightest.liveness_ms,
        tightest.liveness_bound_ms,
        max(|o| o.liveness_bound_ms),
    );
}

#[test]
fn seeds_n3() {
    sweep(3);
}

#[test]
fn seeds_n4() {
    sweep(4);
}

/// Replays `EVOTE_SIM_SEED` verbosely (for `EVOTE_SIM_N`, or both counts).
/// Without the variable it does nothing.
#[test]
fn replay() {
    let Some(seed) = env_u64("EVOTE_SIM_SEED") else {
        return;
    };
    let ns = match env_u64("EVOTE_SIM_N") {
        Some(n) => vec![n as usize],
        None => vec![3, 4],
    };
    let mut cfg = config();
    cfg.verbose = true;
    for n in ns {
        let world = World::new(n);
        match run_one(&world, &cfg, seed) {
            Ok(o) => println!("seed {seed} n={n} passed: {o:?}"),
            Err(f) => panic!("{f}"),
        }
    }
}

/// The same seed gives the same run, event for event.
#[test]
fn a_seed_replays_exactly() {
    let world = World::new(4);
    let cfg = Config::standard();
    let a = run_one(&world, &cfg, 7).expect("seed 7 passes");
    let b = run_one(&world, &cfg, 7).expect("seed 7 passes");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

/// The checks are not vacuous: a driver that restarts its validators
/// without their journals lets two different blocks commit at one height
/// (n = 3 tolerates no validator that contradicts itself), and runs see it.
#[test]
fn a_driver_that_forgets_its_journal_is_caught() {
    let world = World::new(3);
    let mut cfg = Config::standard();
    cfg.forget_journal_on_restart = true;
    // More crashes between actions than the standard runs, so that a
    // validator often forgets a vote that others already counted.
    cfg.action_crash_p = 0.05;
    let caught = (0..300).find_map(|seed| run_one(&world, &cfg, seed).err());
    let f = caught.expect("300 seeds of an amnesiac driver and no failure");
    println!("caught, seed {}: {}", f.seed, f.message);
    assert!(f.message.contains("FORK"), "caught, but not as a fork: {f}");
}

/// Seeds per latency of the wide-area sweeps (`EVOTE_SIM_WAN_SEEDS`).
const WAN_SEEDS: u64 = 12;

/// Runs `seeds` seeds of a fault-free network on `latency`: the outcomes,
/// or the failures' descriptions.
fn wan_sweep(world: &World, latency: Latency, seeds: u64) -> Vec<Outcome> {
    let cfg = Config::wan(latency);
    let base = env_u64("EVOTE_SIM_SEED_BASE").unwrap_or(0);
    let started = Instant::now();
    let outcomes: Vec<Outcome> = (base..base + seeds)
        .map(|seed| run_one(world, &cfg, seed).unwrap_or_else(|f| panic!("{f}")))
        .collect();
    let changes: u64 = outcomes.iter().map(|o| o.round_changes).sum();
    let heights: u64 = outcomes.iter().map(|o| o.height).sum();
    println!(
        "{:>3} ± {:>3} ms{}: {} seeds in {:.1} s, {heights} heights, {changes} round changes, highest round {}, {} stalls",
        latency.one_way_ms,
        latency.jitter_ms,
        if latency.stall_every_ms.is_some() {
            " with stalls"
        } else {
            ""
        },
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        outcomes.iter().map(|o| o.max_round).max().unwrap_or(0),
        outcomes.iter().map(|o| o.stalls).sum::<u64>(),
    );
    outcomes
}

/// Over links of any one-way delay from 0 to 400 ms (jitter a third of
/// it), every height commits in round 0: the round timeout follows the
/// measured round trips, so no round times out early, and safety and
/// liveness hold as in every run.
#[test]
fn wide_area_links_commit_in_round_zero() {
    let world = World::new(4);
    let seeds = env_u64("EVOTE_SIM_WAN_SEEDS").unwrap_or(WAN_SEEDS);
    for one_way in (0..=400).step_by(50) {
        let latency = Latency::wan(one_way, one_way / 3);
        for o in wan_sweep(&world, latency, seeds) {
            assert_eq!(
                o.round_changes, 0,
                "seed {} at {one_way} ms: {} round changes (highest round {})",
                o.seed, o.round_changes, o.max_round
            );
        }
    }
}

/// With 2-5 s stalls on every link (after 5-20 s of quiet each: a stall
/// somewhere most of the time), a stall may cost the round it hits and the
/// next, never a storm: no validator goes past round 2, and there are no
/// more round changes than two per validator per stall.
#[test]
fn stalls_cost_a_round_or_two_never_a_storm() {
    let world = World::new(4);
    let seeds = env_u64("EVOTE_SIM_WAN_SEEDS").unwrap_or(WAN_SEEDS);
    for (one_way, jitter) in [(150, 50), (300, 100)] {
        let latency = Latency::wan(one_way, jitter).with_stalls((5_000, 20_000));
        for o in wan_sweep(&world, latency, seeds) {
            let most = 2 * world.n as u64 * o.stalls;
            assert!(
                o.max_round <= 2 && o.round_changes <= most,
                "seed {} at {one_way} ms with stalls: highest round {}, {} round changes, {} stalls",
                o.seed,
                o.max_round,
                o.round_changes,
                o.stalls
            );
        }
    }
}
