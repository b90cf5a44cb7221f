//! Attacks from the network, each run against real appliance processes,
//! and what must still hold while it runs: `/health` and a voter's submit
//! answer within [`LIVENESS`] (a liveness bound, not a speed target), the
//! process stays within a memory bound, and a panic ends the process.
//! SECURITY.md lists each attack with the defence and the test here.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use evote_tests::attacks::{
    addr_of, chain_check_flood, raise_fd_limit, slowloris, stalled_uploads,
};
use evote_tests::bench::stats::peak_rss_mb;

fn peak_rss_mib(pid: u32) -> u64 {
    peak_rss_mb(pid).expect("the node's peak memory") as u64
}
use evote_tests::cluster::{Cluster, Timing, Voters, in_threads, one_shot_agent};
use serde_json::json;

/// How long `/health` and a voter's submit may take to answer while an
/// attack runs: generous, for a loaded test machine; an appliance that is
/// down or starved does not answer at all.
const LIVENESS: Duration = Duration::from_secs(20);

/// A cluster of one validator, started, with `voters` checked in.
fn one_node(voters: usize) -> (Cluster, Vec<String>) {
    let c = Cluster::create(1, 0, Timing::default());
    c.start_all();
    let tokens = check_in(&c, 0, voters);
    (c, tokens)
}

/// Checks `n` of the roll's voters in at node `i`: their booth passes.
fn check_in(c: &Cluster, i: usize, n: usize) -> Vec<String> {
    c.check_in_many(i, n, &format!("attack-{i}"))
}

/// An agent of its own (the cluster's may wait longer), one connection per
/// request.
fn liveness_agent() -> ureq::Agent {
    one_shot_agent(LIVENESS)
}

/// `/health` answers 200 and a voter's submit is answered 200, each
/// within [`LIVENESS`].
fn assert_serving(c: &Cluster, i: usize, voter_token: &str, during: &str) {
    let agent = liveness_agent();
    let start = Instant::now();
    let health = agent.get(format!("{}/health", c.url(i))).call();
    let code = health.map(|r| r.status().as_u16());
    assert!(
        matches!(code, Ok(200)),
        "/health during {during}: {code:?} after {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    let submit = agent
        .post(format!("{}/api/votes/submit", c.url(i)))
        .header("authorization", format!("Bearer {voter_token}"))
        .send_json(c.vote_body(voter_token, 2));
    let code = submit.map(|r| r.status().as_u16());
    assert!(
        matches!(code, Ok(200)),
        "a voter's submit during {during}: {code:?} after {:?}",
        start.elapsed()
    );
}

#[test]
fn slowloris_at_the_public_door_leaves_voters_served() {
    raise_fd_limit();
    let (c, tokens) = one_node(3);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    // More connections than the public door ever holds, from one address.
    let attacker: IpAddr = [127, 0, 0, 2].into();
    let attack = slowloris(
        addr_of(c.url(0)),
        attacker,
        1_100,
        stop.clone(),
        rounds.clone(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while rounds.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the attacker never got going");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Across more than one header timeout: the attacker reconnects.
    for (k, token) in tokens.iter().enumerate() {
        assert_serving(&c, 0, token, &format!("slowloris, check {k}"));
        std::thread::sleep(Duration::from_secs(5));
    }
    stop.store(true, Ordering::SeqCst);
    attack.join().unwrap();
}

#[test]
fn out_of_range_query_parameters_are_refused_with_400() {
    let (c, tokens) = one_node(1);
    for path in [
        "/p2p/blocks?from=18446744073709551615",
        "/p2p/blocks?from=9007199254740992",
        "/p2p/blocks?from=1&limit=18446744073709551615",
        "/p2p/fallback?from_seq=18446744073709551615",
        "/blockchain?from=",
        "/blockchain?from=18446744073709551615",
        "/blockchain?limit=-1",
        "/blockchain?election_id=18446744073709551616",
    ] {
        let (code, v) = c.get(0, path);
        assert_eq!(code, 400, "{path}: {v}");
        assert_eq!(v["error"]["code"], "invalid_query", "{path}: {v}");
    }
    assert_serving(&c, 0, &tokens[0], "out-of-range queries");
    assert!(c.is_running(0));
}

#[test]
fn a_panic_in_the_node_thread_ends_the_process() {
    let c = Cluster::create(1, 0, Timing::default());
    // Debug builds only: the node thread panics once the head reaches 1.
    c.start_with_env(0, &[], &[("EVOTE_FAULT_NODE_PANIC_AT_HEIGHT", "1")]);
    c.wait_up(0);
    let tokens = check_in(&c, 0, 1);
    // The vote makes the block at height 1; the answer may or may not come.
    let _ = liveness_agent()
        .post(format!("{}/api/votes/submit", c.url(0)))
        .header("authorization", format!("Bearer {}", tokens[0]))
        .send_json(c.vote_body(&tokens[0], 1));
    let status = c.wait_exit(0, Duration::from_secs(60));
    let Some(status) = status else {
        let health = c.try_get(0, "/health");
        panic!("the process outlived its node thread; /health: {health:?}");
    };
    assert_eq!(status.code(), Some(101), "exit status of a panic: {status}");
    assert!(c.log(0).contains("injected fault"), "{}", c.log(0));
}

#[test]
fn stalled_unauthenticated_uploads_to_the_peer_door_cost_no_memory() {
    let (c, tokens) = one_node(2);
    let pid = c.pid(0).unwrap();
    let before = peak_rss_mib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let attack = stalled_uploads(addr_of(&c.nodes[0].peer_url), 48, stop.clone());
    std::thread::sleep(Duration::from_secs(10));
    assert_serving(&c, 0, &tokens[0], "stalled uploads to the peer door");
    std::thread::sleep(Duration::from_secs(5));
    assert_serving(&c, 0, &tokens[1], "stalled uploads to the peer door");
    let peak = peak_rss_mib(pid);
    stop.store(true, Ordering::SeqCst);
    attack.join().unwrap();
    // 48 bodies of 24 MiB held would be more than 1 GiB.
    assert!(
        peak < before + 256,
        "peak memory {peak} MiB (before: {before} MiB)"
    );
}

/// A fake peer at `addr` speaking for validator `as_node` of `c`: its
/// status is signed with that validator's key and claims height 10^9 with
/// a head header that carries no valid seals; everything else it is sent
/// it takes (202).
fn fake_validator(c: &Cluster, as_node: usize, addr: SocketAddr) -> std::thread::JoinHandle<()> {
    use evote_appliance::{HeadProof, StatusFields};
    use evote_core::ledger::{BlockHeader, Hash32};
    use std::io::{BufRead, BufReader, Read};
    let key = evote_appliance::read_node_key(&c.home(as_node).join("node.key")).unwrap();
    let genesis = evote_appliance::load_genesis(&c.net_dir().join("genesis.json")).unwrap();
    let chain_id = genesis.chain_id().unwrap();
    let listener =
        std::net::TcpListener::bind(addr).expect("the fake takes the absent validator's port");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut r = BufReader::new(conn);
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len.min(64 << 20)];
            let _ = r.read_exact(&mut body);
            let (code, answer) = if line.contains("/p2p/status") {
                let now = evote_appliance::now_ms();
                let header = BlockHeader {
                    chain_id,
                    height: 1_000_000_000,
                    round: 0,
                    prev_hash: Hash32([7; 32]),
                    timestamp_ms: now,
                    proposer: key.public(),
                    tx_root: Hash32([0; 32]),
                    tx_count: 0,
                };
                let best = header.hash().unwrap();
                let me = key.public();
                let signature = StatusFields {
                    chain_id: &chain_id,
                    node_id: &me,
                    height: header.height,
                    best_hash: &best,
                    round: 0,
                    role: "validator",
                    started_at_ms: now,
                    rpc_url: None,
                    time_ms: now,
                }
                .sign(&key);
                let status = json!({
                    "node_id": me, "genesis_hash": chain_id, "chain_length": header.height + 1,
                    "best_hash": best, "height": header.height, "role": "validator", "round": 0,
                    "started_at_ms": now, "time_ms": now, "signature": signature,
                    "head": HeadProof { header, seals: vec![] },
                });
                ("200 OK", status.to_string())
            } else {
                ("202 Accepted", "{}".to_string())
            };
            let mut conn = r.into_inner();
            let _ = write!(
                conn,
                "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    })
}

#[test]
fn a_fake_validator_claiming_a_high_head_does_not_stop_the_chain() {
    let c = Cluster::create(3, 0, Timing::default());
    // Validator 3 stays down; a fake speaks for it at its peer door.
    let _fake = fake_validator(&c, 2, addr_of(&c.nodes[2].peer_url));
    c.start(0);
    c.start(1);
    c.wait_up(0);
    c.wait_up(1);
    let tokens = check_in(&c, 0, 3);
    let (start, _) = c.head(0);
    for (k, token) in tokens.iter().enumerate() {
        assert_serving(&c, 0, token, &format!("a fake peer's high head, vote {k}"));
    }
    // The two honest validators keep committing: every vote confirms, and
    // nobody went into fallback mode.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (_, health) = c.get(0, "/health");
    assert_eq!(health["fallback"], false, "{health}");
    loop {
        let (h, _) = c.head(0);
        let (_, v) = c.get(0, "/blockchain?election_id=1");
        let votes: usize = v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["transactions"].as_array().unwrap())
            .filter(|t| t["tx"]["type"] == "ballot")
            .count();
        if h > start && votes >= tokens.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the chain stopped at height {h} with {votes} votes committed; log:\n{}",
            c.log(0)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, peers) = c.get_with(
        0,
        "/api/admin/validators/health",
        "x-admin-token",
        &c.admin_token(0),
    );
    let fake = &peers["validators"][2];
    assert_ne!(fake["block_height"], json!(1_000_000_000), "{fake}");
}

#[test]
fn three_hundred_concurrent_guesses_are_held_to_the_account_limit() {
    // E-mail accounts exist only where an election has open registration.
    let c = Cluster::create_with(1, 0, Timing::default(), None, Voters::OpenRegistration);
    c.start_all();
    let voter = c.account(0, "voter@example.org");
    let (code, v) = c.post(
        0,
        "/api/auth/register",
        &json!({"email": "target@example.org", "password": "correct horse"}),
        None,
    );
    assert_eq!(code, 201, "{v}");
    // 50 clients (well within the public door's connections per client
    // address), six guesses each, all let go at once. Each guess waits for
    // its answer however long a loaded machine takes: what counts is which
    // answers come, not when (GUESS_WAIT only guards against a hang).
    const GUESS_WAIT: Duration = Duration::from_secs(300);
    let start = std::sync::Barrier::new(50);
    let url = format!("{}/api/auth/login", c.url(0));
    let answers: Vec<Result<u16, String>> = in_threads(0..50, |k| {
        let agent = one_shot_agent(GUESS_WAIT);
        start.wait();
        (0..6)
            .map(|n| {
                let guess = format!("guess {k}-{n}");
                let r = agent
                    .post(&url)
                    .send_json(json!({"email": "target@example.org", "password": guess}));
                r.map(|r| r.status().as_u16()).map_err(|e| e.to_string())
            })
            .collect()
    });
    let evaluated = answers.iter().filter(|a| **a == Ok(401)).count();
    let refused = answers.iter().filter(|a| **a == Ok(429)).count();
    // 10 guesses per account per quarter hour (and 30 failures per client
    // per minute): no more may be checked, however many arrive at once.
    assert!(
        evaluated <= 10,
        "{evaluated} guesses were checked ({refused} refused): {answers:?}"
    );
    assert_eq!(
        evaluated + refused,
        300,
        "every guess answered 401 or 429: {answers:?}"
    );
    assert_serving(&c, 0, &voter, "after a burst of guesses");
}

#[test]
fn a_flood_of_abandoned_chain_checks_leaves_voters_served() {
    let (c, tokens) = one_node(303);
    // A chain with some ballots to check.
    std::thread::scope(|s| {
        for chunk in tokens[3..].chunks(38) {
            let c = &c;
            s.spawn(move || {
                for t in chunk {
                    c.vote(0, t, 1);
                }
            });
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let attack = chain_check_flood(
        c.url(0).to_string(),
        48,
        Duration::from_millis(300),
        stop.clone(),
    );
    for (k, token) in tokens[..3].iter().enumerate() {
        std::thread::sleep(Duration::from_secs(5));
        assert_serving(&c, 0, token, &format!("abandoned chain checks, check {k}"));
    }
    stop.store(true, Ordering::SeqCst);
    for a in attack {
        a.join().unwrap();
    }
    let (code, v) = c.post(0, "/api/votes/verify-blockchain", &json!({}), None);
    assert_eq!((code, &v["chain_valid"]), (200, &json!(true)), "{v}");
}
