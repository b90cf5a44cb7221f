//! `evote-bench flood`: a voter's submit latency on an idle appliance and
//! while each flood of issue 21 runs against it (slowloris at the public
//! door, abandoned chain checks, a login flood, stalled unauthenticated
//! uploads to the peer door). One validator on loopback; voters submit in
//! a closed loop from `concurrency` clients, each vote a fresh voter.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::stats::percentile;
use crate::attacks::{
    addr_of, chain_check_flood, login_flood, raise_fd_limit, slowloris, stalled_uploads,
};
use crate::cluster::{Cluster, Timing, Voters};

#[derive(Debug, Clone)]
pub struct FloodArgs {
    /// Measured time per phase.
    pub duration: Duration,
    /// Voters submitting at once.
    pub concurrency: usize,
}

/// The phases, in order: no attack first, then one flood each.
pub const PHASES: [&str; 5] = ["idle", "slowloris", "chain_check", "logins", "peer_bodies"];
/// Votes checked in per phase (more than a phase can use).
const VOTERS_PER_PHASE: usize = 20_000;
/// How long a flood runs before the measurement starts.
const RAMP: Duration = Duration::from_secs(3);
const FLOOD_EMAIL: &str = "flood@example.org";
const FLOOD_PASSWORD: &str = "correct horse";

/// Runs every phase; one JSON object per phase.
pub fn run(a: &FloodArgs) -> Result<Vec<Value>, String> {
    raise_fd_limit();
    // The login flood needs e-mail accounts: open registration, as in the
    // `dev` demo (an election with a roll has no logins to flood).
    let c = Cluster::create_with(1, 0, Timing::default(), None, Voters::OpenRegistration);
    c.start_all();
    let (code, v) = c.post(
        0,
        "/api/auth/register",
        &json!({"email": FLOOD_EMAIL, "password": FLOOD_PASSWORD}),
        None,
    );
    if code != 201 {
        return Err(format!("registering the flood's account: {code} {v}"));
    }
    let mut rows = Vec::new();
    for phase in PHASES {
        let tokens = check_in(&c, phase)?;
        let stop = Arc::new(AtomicBool::new(false));
        let attack = start(&c, phase, stop.clone());
        std::thread::sleep(RAMP);
        let (latencies, errors) = measure(c.url(0), tokens, a);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for h in attack {
            let _ = h.join();
        }
        let mut ms = latencies;
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&mut ms, 50.0), percentile(&mut ms, 99.0));
        eprintln!("flood {phase}: {} votes, {errors} errors", ms.len());
        rows.push(json!({
            "phase": phase,
            "seconds": a.duration.as_secs(),
            "votes": ms.len(),
            "errors": errors,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": ms.last().copied(),
        }));
    }
    let idle = rows[0]["p99_ms"].as_f64().unwrap_or(f64::NAN);
    for r in &mut rows {
        let p99 = r["p99_ms"].as_f64().unwrap_or(f64::NAN);
        r["p99_vs_idle"] = json!((p99 / idle * 100.0).round() / 100.0);
    }
    Ok(rows)
}

/// Starts the attack of `phase` (none for "idle").
fn start(c: &Cluster, phase: &str, stop: Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    let public = c.url(0).to_string();
    match phase {
        "slowloris" => vec![slowloris(
            addr_of(&public),
            [127, 0, 0, 2].into(),
            1_100,
            stop,
            Arc::new(AtomicUsize::new(0)),
        )],
        "chain_check" => chain_check_flood(public, 48, Duration::from_millis(300), stop),
        "logins" => login_flood(public, FLOOD_EMAIL.into(), FLOOD_PASSWORD.into(), 64, stop),
        "peer_bodies" => vec![stalled_uploads(addr_of(&c.nodes[0].peer_url), 48, stop)],
        _ => Vec::new(),
    }
}

fn check_in(c: &Cluster, phase: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::with_capacity(VOTERS_PER_PHASE);
    while tokens.len() < VOTERS_PER_PHASE {
        let batch: Vec<Value> = (tokens.len()..tokens.len() + 1_000)
            .map(|k| json!({"email": format!("flood-{phase}-{k}@example.org")}))
            .collect();
        let (code, v) = c.post_with_token(
            0,
            "/api/admin/voters/check-in",
            &json!({"voters": batch}),
            &c.admin_token(0),
        );
        if code != 200 {
            return Err(format!("check-in: {code} {v}"));
        }
        for s in v["sessions"].as_array().into_iter().flatten() {
            tokens.push(s["access_token"].as_str().unwrap_or_default().to_string());
        }
    }
    Ok(tokens)
}

/// Submits votes from `a.concurrency` clients for `a.duration`: each
/// answered submit's latency in ms, and how many failed.
fn measure(url: &str, tokens: Vec<String>, a: &FloodArgs) -> (Vec<f64>, u64) {
    let tokens = Mutex::new(tokens);
    let out = Mutex::new((Vec::new(), 0u64));
    let until = Instant::now() + a.duration;
    std::thread::scope(|s| {
        for _ in 0..a.concurrency {
            s.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                while Instant::now() < until {
                    let Some(token) = tokens.lock().unwrap().pop() else {
                        return;
                    };
                    let start = Instant::now();
                    let r = agent
                        .post(format!("{url}/api/votes/submit"))
                        .header("authorization", format!("Bearer {token}"))
                        .send_json(json!({"election_id": 1, "candidate_id": 2}));
                    let ms = start.elapsed().as_secs_f64() * 1_000.0;
                    let mut o = out.lock().unwrap();
                    match r {
                        Ok(r) if r.status() == 200 => o.0.push(ms),
                        _ => o.1 += 1,
                    }
                }
            });
        }
    });
    out.into_inner().unwrap()
}
