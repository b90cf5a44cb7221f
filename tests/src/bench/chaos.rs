//! `evote-bench chaos`: a 3-validator, 2-station testnet under a steady
//! stream of votes while, every few seconds, a random node is killed
//! (SIGKILL) and restarted, or frozen (SIGSTOP) and thawed, or the links
//! between two random groups of nodes are cut and healed (every node
//! reaches the validators through a fault-injecting proxy on loopback). At the end every acknowledged vote must be confirmed exactly
//! once, every node must hold the same chain, and `evote-audit verify`
//! must find nothing wrong.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{Cluster, Timing, Voters, agent};
use crate::sim::Rng;

const VALIDATORS: usize = 3;
const STATIONS: usize = 2;
/// How long acknowledged votes may take to settle once the faults stop.
const SETTLE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone)]
pub struct ChaosArgs {
    pub duration: Duration,
    /// Votes per second.
    pub rate: f64,
    /// Seconds between faults (lower and upper bound).
    pub every: (u64, u64),
    pub seed: u64,
}

struct Ack {
    node: usize,
    tx: String,
}

#[derive(Default)]
struct Tally {
    acks: Mutex<Vec<Ack>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn run(a: &ChaosArgs) -> Result<Value, String> {
    let t = Timing {
        block_period_ms: 250,
        round_timeout_ms: 1_000,
        empty_block_period_ms: 5_000,
        fallback_after_ms: 5_000,
    };
    let voters = (a.rate * a.duration.as_secs_f64() * 1.2) as usize + 100;
    let roll = voters.div_ceil(VALIDATORS + STATIONS) * (VALIDATORS + STATIONS);
    let mut c = Cluster::create_with(VALIDATORS, STATIONS, t, None, Voters::Roll(Some(roll)));
    c.route_through_proxies();
    c.start_all();
    let tokens = check_in_tokens(&c, voters.div_ceil(c.nodes.len()), "chaos")?;
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let mut faults = Faults::default();
    eprintln!(
        "chaos for {:?} at {} votes/s, seed {}",
        a.duration, a.rate, a.seed
    );
    std::thread::scope(|s| {
        let load = s.spawn(|| vote_stream(&c, &tokens, a.rate, &tally, &stop));
        faults = inject_faults(&c, a);
        stop.store(true, Ordering::SeqCst);
        let _ = load.join();
    });
    for i in 0..c.nodes.len() {
        if !c.is_running(i) {
            c.start(i);
        }
    }
    for i in 0..c.nodes.len() {
        c.wait_up(i);
    }
    c.links.heal_all();
    let report = verdict(&c, &tally, faults);
    if report["ok"] != true {
        // Kept for a look: the nodes' databases and logs, and the genesis.
        c.keep();
    }
    Ok(report)
}

/// Checks `per` of the roll's voters in at every node: each node's booth
/// passes (each casts one ballot, with its voter's card).
pub fn check_in_tokens(
    c: &Cluster,
    per: usize,
    tag: &str,
) -> Result<Vec<Mutex<Vec<String>>>, String> {
    Ok((0..c.nodes.len())
        .map(|i| Mutex::new(c.check_in_many(i, per, &format!("{tag}-{i}"))))
        .collect())
}

fn vote_stream(
    c: &Cluster,
    tokens: &[Mutex<Vec<String>>],
    rate: f64,
    tally: &Tally,
    stop: &AtomicBool,
) {
    let agent = agent();
    let start = Instant::now();
    let mut k = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let due = Duration::from_secs_f64(k as f64 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let node = (k as usize) % c.nodes.len();
        k += 1;
        let Some(token) = tokens[node].lock().unwrap().pop() else {
            continue;
        };
        let r = agent
            .post(format!("{}/api/votes/submit", c.url(node)))
            .header("authorization", format!("Bearer {token}"))
            .send_json(c.vote_body(&token, 1 + k % 3));
        let kind = match r {
            Ok(mut resp) if resp.status() == 200 => {
                let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
                if let Some(tx) = v["transaction_id"].as_str() {
                    tally.acks.lock().unwrap().push(Ack {
                        node,
                        tx: tx.into(),
                    });
                }
                continue;
            }
            Ok(resp) => format!("http_{}", resp.status().as_u16()),
            // A killed or frozen node: the vote was never acknowledged.
            Err(_) => "unreachable".to_string(),
        };
        *tally.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
}

/// What the fault schedule did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    pub kills: u64,
    /// Links cut between two random groups of nodes, then healed.
    pub partitions: u64,
    /// Nodes stopped with SIGSTOP (alive, silent), then thawed.
    pub freezes: u64,
}

/// A fault in place until `until`.
enum Active {
    Killed(usize),
    Frozen(u32),
}

/// Every few seconds a new fault: a node killed (SIGKILL) and restarted, a
/// node frozen and thawed, or the links between two random groups of nodes
/// cut and healed. At most one node is down and one partition in place at
/// a time, but the two may overlap.
fn inject_faults(c: &Cluster, a: &ChaosArgs) -> Faults {
    let mut rng = Rng::new(a.seed);
    let mut f = Faults::default();
    let end = Instant::now() + a.duration;
    let mut next = Instant::now() + Duration::from_secs(rng.range(a.every.0, a.every.1));
    let mut down: Option<(Active, Instant)> = None;
    let mut partition: Option<Instant> = None;
    while Instant::now() < end || down.is_some() || partition.is_some() {
        let now = Instant::now();
        if down.as_ref().is_some_and(|(_, until)| now >= *until) {
            match down.take().map(|d| d.0) {
                Some(Active::Killed(i)) => c.start(i),
                Some(Active::Frozen(pid)) => signal(pid, "CONT"),
                None => {}
            }
        }
        if partition.is_some_and(|until| now >= until) {
            c.links.heal_all();
            partition = None;
            eprintln!("healed every link");
        }
        if now >= next && now < end {
            next = now + Duration::from_secs(rng.range(a.every.0, a.every.1));
            let roll = rng.next_u64() % 20;
            if roll < 14 && down.is_none() {
                let i = (rng.next_u64() % c.nodes.len() as u64) as usize;
                let until = now + Duration::from_millis(rng.range(500, 4_000));
                if roll < 11 {
                    c.kill(i);
                    f.kills += 1;
                    eprintln!("killed {}", c.nodes[i].name);
                    down = Some((Active::Killed(i), until));
                } else if let Some(pid) = c.pid(i) {
                    signal(pid, "STOP");
                    f.freezes += 1;
                    eprintln!("froze {}", c.nodes[i].name);
                    down = Some((Active::Frozen(pid), until));
                }
            } else if partition.is_none() && !c.links.proxies.is_empty() {
                let side = random_sides(&mut rng, c.nodes.len());
                let cut = c.links.cut_between(&side);
                f.partitions += 1;
                eprintln!("cut {cut} links between {side:?}");
                partition = Some(now + Duration::from_millis(rng.range(1_000, 8_000)));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f
}

/// Two non-empty groups of `n` nodes: `true` marks one of them.
fn random_sides(rng: &mut Rng, n: usize) -> Vec<bool> {
    loop {
        let side: Vec<bool> = (0..n).map(|_| rng.next_u64().is_multiple_of(2)).collect();
        if side.iter().any(|&x| x) && side.iter().any(|&x| !x) {
            return side;
        }
    }
}

/// Waits for every acknowledged vote to settle and judges the run.
fn verdict(c: &Cluster, tally: &Tally, faults: Faults) -> Value {
    let acks = tally.acks.lock().unwrap();
    let deadline = Instant::now() + SETTLE;
    let mut pending: Vec<&Ack> = acks.iter().collect();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|a| {
            !matches!(
                c.tx_status(a.node, &a.tx).as_str(),
                "confirmed" | "finalized"
            )
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let agree = c.wait_agree_within(1, Duration::from_secs(60));
    let txs = c.committed_txs(0);
    let unique: std::collections::BTreeSet<&String> = txs.iter().collect();
    let duplicated = txs.len() - unique.len();
    let (_, results) = c.get(0, "/api/votes/results?election_id=1");
    let counted = results["total_votes"].as_u64().unwrap_or(0);
    let confirmed = acks.len() - pending.len();
    // A vote may be recorded although its answer never reached the voter
    // (the node was killed in between): counted may exceed acknowledged by
    // at most the submissions that went unanswered.
    let unanswered: u64 = tally
        .errors
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() == "unreachable" || k.starts_with("transport"))
        .map(|(_, n)| n)
        .sum();
    let acknowledged = acks.len() as u64;
    let counted_ok = counted >= acknowledged && counted - acknowledged <= unanswered;
    let audit = audit(c);
    json!({
        "acknowledged": acks.len(),
        "confirmed": confirmed,
        "lost": pending.len(),
        "duplicated": duplicated,
        "counted": counted,
        "kills": faults.kills,
        "partitions": faults.partitions,
        "freezes": faults.freezes,
        "nodes_agree": agree,
        "errors": *tally.errors.lock().unwrap(),
        "audit_exit_code": audit.0,
        "audit": audit.1,
        "audit_failures": audit.2,
        "testnet": c.net_dir(),
        "ok": pending.is_empty() && duplicated == 0 && agree && counted_ok && audit.0 == Some(0),
    })
}

/// Runs `evote-audit verify` on every node against the testnet's genesis:
/// its exit code, its summary line and the checks that failed.
fn audit(c: &Cluster) -> (Option<i32>, String, Value) {
    let urls: Vec<&str> = (0..c.nodes.len()).map(|i| c.url(i)).collect();
    let out = std::process::Command::new(crate::cluster::audit_bin())
        .args([
            "verify",
            "--no-progress",
            "--json",
            "--nodes",
            &urls.join(","),
        ])
        .arg("--genesis")
        .arg(c.net_dir().join("genesis.json"))
        .output();
    match out {
        Ok(o) => {
            let report: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            let summary = report["summary"].as_str().map_or_else(
                || String::from_utf8_lossy(&o.stderr).into_owned(),
                str::to_string,
            );
            let failed: Vec<Value> = report["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|k| k["verdict"] == "FAIL")
                .cloned()
                .collect();
            (o.status.code(), summary, Value::Array(failed))
        }
        Err(e) => (None, format!("could not run evote-audit: {e}"), Value::Null),
    }
}
