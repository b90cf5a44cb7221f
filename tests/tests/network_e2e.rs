//! The peer protocol, catch-up and the operator endpoints, on real processes.

use std::time::{Duration, Instant};

use evote_tests::cluster::{Cluster, Timing, voters, wait_until};
use serde_json::json;

fn vote_and_wait(c: &Cluster, node: usize, tag: &str, n: usize) {
    let ballots = voters(c, &[node], n, tag);
    let txs: Vec<String> = ballots.iter().map(|(i, t)| c.vote(*i, t, 1)).collect();
    for tx in &txs {
        wait_until("a vote to commit", Duration::from_secs(60), || {
            matches!(c.tx_status(node, tx).as_str(), "confirmed" | "finalized")
        });
    }
}

#[test]
fn a_validator_whose_data_was_wiped_catches_up_and_votes_again() {
    let c = Cluster::create(3, 0, Timing::default());
    c.start_all();
    vote_and_wait(&c, 0, "a", 20);
    c.kill(2);
    std::fs::remove_dir_all(c.nodes[2].config.with_file_name("data")).unwrap();
    vote_and_wait(&c, 0, "b", 20);
    c.start(2);
    c.wait_up(2);
    let (h, _) = c.wait_agree(1, Duration::from_secs(60));
    assert!(h >= 2);
    // With validator 1 down, commits need the wiped one: it must take part.
    c.kill(0);
    vote_and_wait(&c, 1, "c", 10);
    let (h2, _) = c.wait_agree(h + 1, Duration::from_secs(60));
    assert!(h2 > h);
    // Its votes count: the finalized status reaches it too.
    let (_, health) = c.get(2, "/health");
    assert_eq!(health["role"], "validator");
}

#[test]
fn peers_operators_and_metrics_get_what_they_should_and_nothing_else() {
    let c = Cluster::create(3, 1, Timing::default());
    c.start_all();
    vote_and_wait(&c, 3, "s", 5);

    // /p2p/status speaks the seeds' peer_hello.
    let (code, s) = c.get(0, "/p2p/status");
    assert_eq!(code, 200);
    for k in [
        "node_id",
        "genesis_hash",
        "chain_length",
        "best_hash",
        "role",
    ] {
        assert!(!s[k].is_null(), "{k} in {s}");
    }
    // Blocks for sync, paged.
    let (code, b) = c.get(0, "/p2p/blocks?from=1&limit=2");
    assert_eq!(code, 200);
    assert!(b["blocks"].as_array().unwrap().len() <= 2);
    let (code, _) = c.get(0, "/p2p/blocks?from=abc");
    assert_eq!(code, 400);
    let (code, _) = c.get(0, "/p2p/blocks?from=1&wait_ms=abc");
    assert_eq!(code, 400);
    // Asked for a block it does not have, with a wait, a validator waits
    // (and then answers an empty page)...
    let asked = Instant::now();
    let (code, far) = c.get(0, "/p2p/blocks?from=1000000&wait_ms=300");
    assert_eq!(
        (code, far["blocks"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    assert!(asked.elapsed() >= Duration::from_millis(300));
    // ...and answers the next block once it is committed (as a station's
    // follower asks).
    let (h, _) = c.wait_agree(1, Duration::from_secs(60));
    let next = std::thread::scope(|s| {
        let waiting = s.spawn(|| c.get(0, &format!("/p2p/blocks?from={}&wait_ms=5000", h + 1)));
        vote_and_wait(&c, 1, "w", 1);
        waiting.join().unwrap()
    });
    // The vote may have taken longer than the wait: then the page is empty.
    assert_eq!(next.0, 200, "{next:?}");
    let heights: Vec<u64> = next.1["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["header"]["height"].as_u64().unwrap())
        .collect();
    assert!(heights.iter().all(|&x| x > h), "{heights:?} after {h}");

    // A consensus message from a station key, or garbage, is refused.
    let (_, blocks) = c.get(0, "/p2p/blocks?from=1&limit=1");
    let block = blocks["blocks"][0].clone();
    let station_id = c.get(3, "/p2p/status").1["node_id"].clone();
    let mut forged = json!({"kind": "prepare", "vote": {"type": "prepare",
        "chain_id": block["header"]["chain_id"], "height": 1, "round": 0,
        "block_hash": block["block_hash"]}, "sender": station_id,
        "signature": format!("0x{}", "00".repeat(64))});
    // Unsigned, it is not heard at all.
    let (code, v) = c.post(0, "/p2p/message", &forged, None);
    assert_eq!(
        (code, &v["error"]["code"]),
        (401, &json!("peer_unauthenticated")),
        "{v}"
    );
    // Signed by the station (an appliance of the genesis, not a validator).
    let (code, v) = c.peer_post(0, "/p2p/message", &forged, 3);
    assert_eq!(code, 403, "{v}");
    assert_eq!(v["error"]["code"], "not_a_validator");
    // From a validator key but with a bad signature: accepted for checking,
    // then dropped and counted.
    forged["sender"] = c.get(1, "/p2p/status").1["node_id"].clone();
    forged["vote"]["height"] = json!(1_000_000);
    let (code, _) = c.peer_post(0, "/p2p/message", &forged, 3);
    assert_eq!(code, 202);
    let (code, _) = c.peer_post(0, "/p2p/message", &json!({"kind": "nonsense"}), 3);
    assert_eq!(code, 422);
    // The same in a batch: one refused message refuses the request whole.
    let mut from_station = forged.clone();
    from_station["sender"] = station_id.clone();
    let (code, v) = c.peer_post(
        0,
        "/p2p/messages",
        &json!({"messages": [forged, from_station]}),
        3,
    );
    assert_eq!(code, 403, "{v}");
    let (code, v) = c.peer_post(0, "/p2p/messages", &json!({"messages": [forged]}), 3);
    assert_eq!((code, v["accepted"].as_u64()), (202, Some(1)), "{v}");
    // Messages and transactions are passed on only to another validator:
    // naming a station, or the node itself, refuses the request whole.
    let own_id = c.get(0, "/p2p/status").1["node_id"].clone();
    for to in [&station_id, &own_id] {
        let batch = json!({"messages": [forged], "relay_to": to});
        let (code, v) = c.peer_post(0, "/p2p/messages", &batch, 3);
        assert_eq!(
            (code, &v["error"]["code"]),
            (400, &json!("bad_relay")),
            "{v}"
        );
        let batch = json!({"transactions": [], "relay_to": to});
        let (code, v) = c.peer_post(0, "/p2p/transactions", &batch, 3);
        assert_eq!(
            (code, &v["error"]["code"]),
            (400, &json!("bad_relay")),
            "{v}"
        );
    }
    let too_many: Vec<_> = (0..65).map(|_| forged.clone()).collect();
    let (code, v) = c.peer_post(0, "/p2p/messages", &json!({"messages": too_many}), 3);
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "batch_too_large");
    let (code, _) = c.peer_post(0, "/p2p/messages", &json!({"messages": [{"kind": 1}]}), 3);
    assert_eq!(code, 422);
    // A proposal by its transactions' names, naming more than a block holds.
    let zeros = format!("0x{}", "00".repeat(64));
    let refs: Vec<_> = (0..2_001)
        .map(|_| json!({"tx_hash": block["block_hash"], "signature": zeros}))
        .collect();
    let compact = json!({"header": block["header"], "block_hash": block["block_hash"],
        "proposer_signature": block["proposer_signature"], "transactions": refs});
    let (code, v) = c.peer_post(0, "/p2p/messages", &json!({"proposals": [compact]}), 3);
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "too_many_transactions");
    let (code, v) = c.peer_post(
        0,
        "/p2p/transactions",
        &json!({"transactions": [{"tx": 1}]}),
        3,
    );
    assert_eq!(code, 422, "{v}");
    wait_until(
        "the forged message to be counted",
        Duration::from_secs(10),
        || {
            let (_, m) = c.get_text(0, "/metrics");
            m.contains("evote_messages_dropped_total{reason=\"too_far_ahead\"}")
                || m.contains("evote_messages_dropped_total{reason=\"bad_signature\"}")
        },
    );

    // A validator passes consensus messages on to the others, but only
    // those whose signatures hold: a forged PREPARE "of validator 2" for
    // the height under way, brought by the station, stops at validator 1.
    let (head, _) = c.head(0);
    let mut forged_now = forged.clone();
    forged_now["vote"]["height"] = json!(head + 1);
    let bad = |i: usize| {
        let (_, m) = c.get_text(i, "/metrics");
        let line = "evote_messages_dropped_total{reason=\"bad_signature\"} ";
        (m.lines().find_map(|l| l.strip_prefix(line)))
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let before = (bad(0), bad(2));
    let (code, _) = c.peer_post(0, "/p2p/messages", &json!({"messages": [forged_now]}), 3);
    assert_eq!(code, 202);
    wait_until(
        "validator 1 to drop the forgery",
        Duration::from_secs(10),
        || bad(0) > before.0,
    );
    // Passed on, it would reach validator 3 within milliseconds.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(bad(2), before.1, "a forged message was passed on");

    // Validators pass on the ballots of peers' gossip too, but only those
    // that hold: a committed transaction with a forged signature, brought
    // by the station and asked to be passed on to every validator, stops
    // at validator 1 (it refuses it; the others never see it).
    let refused = |i: usize| {
        let (_, m) = c.get_text(i, "/metrics");
        (m.lines()
            .find_map(|l| l.strip_prefix("evote_gossip_refused_total ")))
        .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let before: Vec<f64> = (0..3).map(refused).collect();
    let mut stx = (b["blocks"].as_array().unwrap().iter())
        .chain(blocks["blocks"].as_array().unwrap())
        .find_map(|b| b["transactions"].as_array()?.first().cloned())
        .expect("a committed transaction");
    stx["signature"] = json!(format!("0x{}", "11".repeat(64)));
    let batch = json!({"transactions": [stx], "relay": true});
    let (code, v) = c.peer_post(0, "/p2p/transactions", &batch, 3);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["refused"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(refused(0), before[0] + 1.0);
    // Passed on, it would reach the others within milliseconds.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        (refused(1), refused(2)),
        (before[1], before[2]),
        "a forged ballot was passed on"
    );

    // /metrics in Prometheus text.
    let (code, m) = c.get_text(0, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "evote_height",
        "evote_round",
        "evote_peers_up",
        "evote_mempool_size",
        "evote_votes_accepted_total",
        "evote_votes_committed_total",
        "evote_commit_latency_ms_bucket",
        "evote_messages_dropped_total",
    ] {
        assert!(m.contains(name), "{name} missing from /metrics");
    }

    // Validator health without a token is the public part (the seeds call
    // it so); the details and refresh-status need the admin token.
    let token = std::fs::read_to_string(c.nodes[0].config.with_file_name("admin.token")).unwrap();
    let (code, public) = c.get(0, "/api/admin/validators/health");
    assert_eq!(code, 200, "{public}");
    assert_eq!(public["summary"]["total"], 3);
    assert!(
        public.get("peers").is_none() && public.get("node").is_none(),
        "{public}"
    );
    assert!(public["validators"][1].get("error").is_none(), "{public}");
    let (code, _) = c.post(
        0,
        "/api/admin/validators/refresh-status",
        &serde_json::json!({}),
        None,
    );
    assert_eq!(code, 401);
    let (code, _) = c.get_with(0, "/api/admin/validators/health", "x-admin-token", "wrong");
    assert_eq!(code, 401);
    let (code, h) = c.get_with(
        0,
        "/api/admin/validators/health",
        "x-admin-token",
        token.trim(),
    );
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["summary"]["total"], 3);
    c.kill(2);
    let auth = format!("Bearer {}", token.trim());
    wait_until(
        "the dead validator to be reported",
        Duration::from_secs(15),
        || {
            let (code, h) = c.post_with(
                0,
                "/api/admin/validators/refresh-status",
                "authorization",
                &auth,
            );
            assert_eq!(code, 200);
            h["summary"]["unreachable"] == 1 && h["summary"]["healthy"] == 2
        },
    );
}
