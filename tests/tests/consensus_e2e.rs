//! Three validators and a station as real processes: votes commit with all
//! up, with one validator killed, stop (without diverging) with two killed,
//! and resume when one returns; a restarted validator catches up.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use evote_tests::cluster::{Cluster, Timing, voters};

const V1: usize = 0;
const V2: usize = 1;
const V3: usize = 2;
const STATION: usize = 3;

fn vote_all(c: &Cluster, ballots: &[(usize, String)], acked: &mut Vec<String>) {
    for (k, (node, token)) in ballots.iter().enumerate() {
        acked.push(c.vote(*node, token, 1 + (k as u64 % 3)));
    }
}

fn wait_committed(c: &Cluster, node: usize, txs: &[String], within: Duration) {
    let missing = missing(c, node, txs, within);
    assert!(
        missing.is_empty(),
        "{} of {} votes not committed on {} within {within:?}: {}",
        missing.len(),
        txs.len(),
        c.nodes[node].name,
        missing
            .iter()
            .map(|tx| format!("{tx} ({})", statuses(c, tx)))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// A vote's status on every node, for a failure message.
fn statuses(c: &Cluster, tx: &str) -> String {
    (0..c.nodes.len())
        .map(|n| format!("{}: {}", c.nodes[n].name, c.tx_status(n, tx)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The main-chain ids of votes cast while the network was up. A node under
/// heavy load may still judge its quorum unreachable for a moment (the
/// testnet's fallback threshold is 3 s) and seal a vote in its fallback
/// chain; it reaches the main chain under a new id once handed back.
fn settle(c: &Cluster, ballots: &[(usize, String)], cast: Vec<String>) -> Vec<String> {
    ballots
        .iter()
        .zip(cast)
        .map(|((node, _), tx)| {
            let (_, v) = c.get(
                *node,
                &format!("/api/votes/transaction-status?transaction_id={tx}"),
            );
            // Handed back already (confirmed under its main-chain id), or
            // still waiting in the fallback chain.
            if v["status"] == "fallback" || v["main_transaction_id"].is_string() {
                println!("vote {tx} went to {}'s fallback chain", c.nodes[*node].name);
                main_chain_id(c, *node, &tx, Duration::from_secs(120))
            } else {
                tx
            }
        })
        .collect()
}

/// The votes of `txs` still not committed on `node` after waiting up to
/// `within` for all of them.
fn missing(c: &Cluster, node: usize, txs: &[String], within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let have: BTreeSet<String> = c.committed_txs(node).into_iter().collect();
        let missing: Vec<String> = txs.iter().filter(|t| !have.contains(*t)).cloned().collect();
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The id under which the vote `tx` accepted by `node` reached the main
/// chain, once it is confirmed there.
fn main_chain_id(c: &Cluster, node: usize, tx: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (_, v) = c.get(
            node,
            &format!("/api/votes/transaction-status?transaction_id={tx}"),
        );
        if matches!(v["status"].as_str(), Some("confirmed" | "finalized")) {
            return v["main_transaction_id"].as_str().unwrap_or(tx).to_string();
        }
        assert!(
            Instant::now() < deadline,
            "vote {tx} on {} not confirmed within {within:?}: {v}",
            c.nodes[node].name
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls a node's height while `f` runs; returns the longest stretch
/// without a new block.
fn longest_commit_gap(c: &Cluster, node: usize, f: impl FnOnce()) -> Duration {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let (mut last_h, mut last_t, mut worst) =
                (c.head(node).0, Instant::now(), Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let h = c.head(node).0;
                if h > last_h {
                    worst = worst.max(last_t.elapsed());
                    last_h = h;
                    last_t = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            worst
        });
        f();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        watcher.join().unwrap()
    })
}

#[test]
fn three_validators_and_a_station_survive_crashes_without_losing_a_vote() {
    let c = Cluster::create(3, 1, Timing::default());
    c.start_all();
    let mut acked = Vec::new();

    // 300 votes round-robin to all four appliances.
    let first = voters(&c, &[V1, V2, V3, STATION], 300, "a");
    let mut cast = Vec::new();
    vote_all(&c, &first, &mut cast);
    acked.extend(settle(&c, &first, cast));
    wait_committed(&c, V1, &acked, Duration::from_secs(60));
    let (h1, _) = c.wait_agree(1, Duration::from_secs(30));

    // kill -9 one validator under a stream of votes: 300 more commit.
    let second = voters(&c, &[V1, V2, STATION], 300, "b");
    // A steady stream (one vote every 20 ms) keeps the mempool from running
    // dry, so a stretch without a block is a stall, not idleness.
    let mut cast = Vec::new();
    let gap = longest_commit_gap(&c, V1, || {
        for (k, (node, token)) in second.iter().enumerate() {
            if k == 100 {
                c.kill(V3);
            }
            cast.push(c.vote(*node, token, 1 + (k as u64 % 3)));
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    acked.extend(settle(&c, &second, cast));
    println!(
        "longest stretch without a commit under a steady stream while a validator was \
         killed: {gap:?} (round timeout {} ms)",
        Timing::default().round_timeout_ms
    );
    // Nearly every vote commits without the dead validator. One the station
    // forwarded to it just before the kill may wait for it (durable in its
    // mempool); the checks after its restart require every vote.
    let stranded = missing(&c, V1, &acked, Duration::from_secs(90));
    assert!(
        stranded.len() <= 2,
        "{} votes not committed without the killed validator",
        stranded.len()
    );
    for tx in &stranded {
        let where_: Vec<String> = [V1, V2, STATION]
            .iter()
            .map(|&n| format!("{}: {}", c.nodes[n].name, c.tx_status(n, tx)))
            .collect();
        println!(
            "vote {tx} waits for the killed validator ({})",
            where_.join(", ")
        );
    }
    let (h2, _) = c.wait_agree(h1 + 1, Duration::from_secs(30));

    // Restart it: it catches up to the same head.
    c.start(V3);
    c.wait_up(V3);
    c.wait_agree(h2, Duration::from_secs(60));

    // Kill two validators: votes are acknowledged but nothing commits, and
    // nothing diverges.
    let third = voters(&c, &[V1, STATION], 20, "c");
    c.kill(V2);
    c.kill(V3);
    let before = c.head(V1);
    let mut stalled = Vec::new();
    vote_all(&c, &third, &mut stalled);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        c.head(V1),
        before,
        "one validator of three must not commit alone"
    );
    assert_eq!(c.head(STATION).0, before.0);
    // Without a quorum the votes wait, either in the mempool or (once the
    // node has noticed it is cut off) in its fallback chain.
    for ((node, _), tx) in third.iter().zip(&stalled) {
        let status = c.tx_status(*node, tx);
        assert!(
            status == "pending" || status == "fallback",
            "a vote without a quorum must wait, not be {status}"
        );
    }

    // Start one again: every pending vote commits, on every running node;
    // a vote that waited in a fallback chain is handed back under a new
    // main-chain transaction id.
    c.start(V2);
    c.wait_up(V2);
    for ((node, _), tx) in third.iter().zip(&stalled) {
        acked.push(main_chain_id(&c, *node, tx, Duration::from_secs(120)));
    }
    wait_committed(&c, V1, &acked, Duration::from_secs(120));
    let (final_h, final_hash) = c.wait_agree(before.0 + 1, Duration::from_secs(60));

    // No acknowledged vote is missing, and none is there twice.
    for node in [V1, V2, STATION] {
        let txs = c.committed_txs(node);
        let unique: BTreeSet<&String> = txs.iter().collect();
        assert_eq!(
            unique.len(),
            txs.len(),
            "a vote committed twice on {}",
            c.nodes[node].name
        );
        for t in &acked {
            assert!(
                unique.contains(t),
                "acknowledged vote {t} missing on {}",
                c.nodes[node].name
            );
        }
    }
    c.start(V3);
    c.wait_up(V3);
    let (h, hash) = c.wait_agree(final_h, Duration::from_secs(60));
    assert!(h >= final_h);
    if h == final_h {
        assert_eq!(hash, final_hash);
    }
    let (_, r) = c.get(V1, "/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"].as_u64().unwrap(), acked.len() as u64);
    assert_eq!(r["verification"]["chain_valid"], true);
}
