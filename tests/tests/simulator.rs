//! The deterministic simulator (tests/src/sim): the appliance's own node
//! driver, with the real consensus core, on simulated disks, network and
//! time.
//!
//! - `cargo test -p evote-tests --test simulator`: 200 seeds of the
//!   standard (chaotic) configuration for each validator count from 1 to
//!   5, seeds of an idle and of a slow healthy network that no node may
//!   enter fallback mode on, and the wide-area sweeps.
//! - `EVOTE_SIM_SEEDS=N`: N seeds per validator count; `EVOTE_SIM_SEED_BASE=B`
//!   starts at seed B instead of 0 (for soaks over fresh seeds).
//! - `EVOTE_SIM_SEED=S [EVOTE_SIM_N=n] [EVOTE_SIM_SCENARIO=idle|slow] ...
//!   -- --nocapture --exact replay`: replays one seed and prints every
//!   event, with the driver's log.
//! - `EVOTE_SIM_SAFETY_S=20-60`: a longer safety phase (seconds of virtual
//!   time, drawn per seed) than the default 8-16, for soaks.
//! - `EVOTE_SIM_WAN=ONE_WAY,JITTER[,QUIET_LO-QUIET_HI]`: a fault-free
//!   wide-area run instead of the standard one (replays a seed of the
//!   wide-area sweeps); `EVOTE_SIM_WAN_SEEDS=N` seeds per latency there.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::Instant;

use evote_tests::sim::net::Latency;
use evote_tests::sim::{self, Config, Failure, Outcome, World};

const DEFAULT_SEEDS: u64 = 200;
/// The largest validator count the tests run.
const MAX_N: usize = 5;
/// Seeds of each healthy-network scenario per validator count.
const CALM_SEEDS: u64 = 30;
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

/// The configuration of a scenario; for the standard one,
/// `EVOTE_SIM_SAFETY_S=LO-HI` draws the safety phase from LO to HI seconds
/// instead (longer soaks).
fn config(scenario: &str) -> Config {
    let mut cfg = match scenario {
        "standard" => Config::standard(),
        "idle" => Config::idle(),
        "slow" => Config::slow(),
        other => panic!("EVOTE_SIM_SCENARIO must be standard, idle or slow, not {other:?}"),
    };
    if let Ok(v) = std::env::var("EVOTE_SIM_SAFETY_S")
        && scenario == "standard"
    {
        let parsed = v.split_once('-').and_then(|(a, b)| {
            Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
        });
        match parsed {
            Some((lo, hi)) if 0 < lo && lo <= hi => cfg.safety_ms = (lo * 1000, hi * 1000),
            _ => panic!("EVOTE_SIM_SAFETY_S must look like 20-60, not {v:?}"),
        }
    }
    if let Ok(v) = std::env::var("EVOTE_SIM_WAN")
        && scenario == "standard"
    {
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

/// The world a scenario runs in (the healthy ones on calm timers), made
/// once per validator count for all the tests of this binary: its ballots
/// are encrypted and signed then.
fn world(n: usize, scenario: &str) -> &'static World {
    static STANDARD: [OnceLock<World>; MAX_N + 1] = [const { OnceLock::new() }; MAX_N + 1];
    static CALM: [OnceLock<World>; MAX_N + 1] = [const { OnceLock::new() }; MAX_N + 1];
    match scenario {
        "standard" => STANDARD[n].get_or_init(|| World::new(n)),
        _ => CALM[n].get_or_init(|| World::calm(n)),
    }
}

/// One seed; a panic inside the driver, the core or the simulator is a
/// failure too.
fn run_one(world: &World, cfg: &Config, seed: u64, scenario: &str) -> Result<Outcome, Failure> {
    match catch_unwind(AssertUnwindSafe(|| sim::run(world, cfg, seed, scenario))) {
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
                replay: sim::replay_command(seed, world.n, cfg, scenario),
            })
        }
    }
}

fn sweep(n: usize, scenario: &str, default_seeds: u64) {
    let count = env_u64("EVOTE_SIM_SEEDS").unwrap_or(default_seeds);
    let base = env_u64("EVOTE_SIM_SEED_BASE").unwrap_or(0);
    let max_failures = env_u64("EVOTE_SIM_MAX_FAILURES").map_or(MAX_FAILURES, |m| m as usize);
    let world = world(n, scenario);
    let cfg = config(scenario);
    let started = Instant::now();
    let mut failures: Vec<Failure> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for seed in base..base + count {
        match run_one(world, &cfg, seed, scenario) {
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
    summarize(n, scenario, &outcomes, started.elapsed().as_secs_f64());
    if let Some(first) = failures.first() {
        let seeds: Vec<String> = failures.iter().map(|f| f.seed.to_string()).collect();
        panic!(
            "{} seed(s) failed for n={n} ({scenario}; seeds {}; each replays with its own command above)\n\
             first: {first}",
            failures.len(),
            seeds.join(", "),
        );
    }
}

fn summarize(n: usize, scenario: &str, outcomes: &[Outcome], secs: f64) {
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
        "n={n} {scenario}: {} seeds passed in {secs:.1} s wall ({:.0} ms per seed)\n  \
         per seed: virtual first phase {:.1} s, final height {:.1}, votes accepted {:.1} \
         ({:.1} double, {:.1} sealed in fallback chains), fallback entries {:.2}, \
         crashes {:.1} ({:.2} between two actions), disk wipes {:.2}, \
         partitions {:.1}, messages {:.0} ({:.0} lost), blocks synced {:.1}, round changes {:.1}, \
         driver steps {:.0}\n  \
         highest round reached {}; liveness after the last fault: median {} ms, p99 {} ms, \
         max {} ms; closest to its bound: seed {} ({} of {} ms; largest bound {} ms)",
        outcomes.len(),
        secs * 1000.0 / k,
        avg(|o| o.safety_ms) / 1000.0,
        avg(|o| o.height),
        avg(|o| o.votes_accepted),
        avg(|o| o.double_votes_accepted),
        avg(|o| o.votes_sealed),
        avg(|o| o.fallback_entries),
        avg(|o| o.crashes),
        avg(|o| o.crashes_between_actions),
        avg(|o| o.wipes),
        avg(|o| o.partitions),
        avg(|o| o.messages_sent),
        avg(|o| o.messages_dropped),
        avg(|o| o.blocks_synced),
        avg(|o| o.round_changes),
        avg(|o| o.steps),
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
fn seeds_n1_n2() {
    sweep(1, "standard", DEFAULT_SEEDS);
    sweep(2, "standard", DEFAULT_SEEDS);
}

#[test]
fn seeds_n5() {
    sweep(5, "standard", DEFAULT_SEEDS);
}

#[test]
fn seeds_n3() {
    sweep(3, "standard", DEFAULT_SEEDS);
}

#[test]
fn seeds_n4() {
    sweep(4, "standard", DEFAULT_SEEDS);
}

/// An idle network with every validator reachable never enters fallback
/// mode: not at the first ballot after a long quiet spell either.
#[test]
fn an_idle_network_never_enters_fallback() {
    for n in [3, 4] {
        sweep(n, "idle", CALM_SEEDS);
    }
}

/// A slow network (600 ms round trips, heights that need round changes)
/// that keeps committing never enters fallback mode, so it cannot flap.
#[test]
fn a_slow_network_never_enters_fallback() {
    for n in [3, 4] {
        sweep(n, "slow", CALM_SEEDS);
    }
}

/// Replays `EVOTE_SIM_SEED` verbosely (for `EVOTE_SIM_N`, or n = 3 and 4;
/// `EVOTE_SIM_SCENARIO`, or the standard one), with the driver's log.
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
    let scenario = std::env::var("EVOTE_SIM_SCENARIO").unwrap_or_else(|_| "standard".into());
    let mut cfg = config(&scenario);
    cfg.verbose = true;
    let log = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "evote_appliance=info".into()),
        )
        .without_time()
        .finish();
    let _log = tracing::subscriber::set_default(log);
    for n in ns {
        let world = world(n, &scenario);
        match run_one(world, &cfg, seed, &scenario) {
            Ok(o) => println!("seed {seed} n={n} passed: {o:?}"),
            Err(f) => panic!("{f}"),
        }
    }
}

/// The same seed gives the same run, event for event.
#[test]
fn a_seed_replays_exactly() {
    let world = world(4, "standard");
    let cfg = Config::standard();
    let a = run_one(world, &cfg, 7, "standard").expect("seed 7 passes");
    let b = run_one(world, &cfg, 7, "standard").expect("seed 7 passes");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

/// The checks are not vacuous: a node that restarts its validators
/// without their journals lets two different blocks commit at one height
/// (n = 3 tolerates no validator that contradicts itself), and runs see it.
#[test]
fn a_driver_that_forgets_its_journal_is_caught() {
    let world = world(3, "standard");
    let mut cfg = Config::standard();
    cfg.forget_journal_on_restart = true;
    // More crashes between actions than the standard runs, so that a
    // validator often forgets a vote that others already counted.
    cfg.action_crash_p = 0.05;
    let caught = (0..300).find_map(|seed| run_one(world, &cfg, seed, "standard").err());
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
        .map(|seed| run_one(world, &cfg, seed, "standard").unwrap_or_else(|f| panic!("{f}")))
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
/// it) that lose nothing, every height commits in round 0: the round
/// timeout follows the measured round trips, so no round times out early,
/// and safety and liveness hold as in every run. No node enters fallback
/// mode (the run fails at once if one does, `Config::wan`), so no ballot is
/// sealed in a fallback chain: every acknowledged ballot is committed on
/// the main chain (or refused as a double vote naming the one counted).
#[test]
fn wide_area_links_commit_in_round_zero() {
    let world = world(4, "standard");
    let seeds = env_u64("EVOTE_SIM_WAN_SEEDS").unwrap_or(WAN_SEEDS);
    for one_way in (0..=400).step_by(50) {
        let latency = Latency::wan(one_way, one_way / 3);
        for o in wan_sweep(world, latency, seeds) {
            assert_eq!(
                o.round_changes, 0,
                "seed {} at {one_way} ms: {} round changes (highest round {})",
                o.seed, o.round_changes, o.max_round
            );
            assert_eq!(
                (o.fallback_entries, o.votes_sealed),
                (0, 0),
                "seed {} at {one_way} ms: fallback entries, ballots sealed",
                o.seed
            );
            assert!(o.votes_accepted > 0, "seed {}: no ballot went in", o.seed);
        }
    }
}

/// With 2-5 s stalls on every link (after 5-20 s of quiet each: a stall
/// somewhere most of the time), a stall may cost the round it hits and the
/// next, never a storm: no validator goes past round 2, and there are no
/// more round changes than two per validator per stall.
#[test]
fn stalls_cost_a_round_or_two_never_a_storm() {
    let world = world(4, "standard");
    let seeds = env_u64("EVOTE_SIM_WAN_SEEDS").unwrap_or(WAN_SEEDS);
    for (one_way, jitter) in [(150, 50), (300, 100)] {
        let latency = Latency::wan(one_way, jitter).with_stalls((5_000, 20_000));
        for o in wan_sweep(world, latency, seeds) {
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
