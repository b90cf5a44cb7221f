//! Fallback voting on real processes: votes recorded locally while the
//! network is gone, kept across a crash, handed back when it returns; a
//! double vote at two isolated stations counted once; a station that never
//! gets its network back, and one offline by design, reconciled by export
//! and import; a tampered export refused.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::time::Duration;

use evote_tests::cluster::{Cluster, Timing, voters, wait_until};
use serde_json::Value;

fn in_fallback(c: &Cluster, i: usize) -> bool {
    c.get(i, "/health").1["fallback"] == true
}

fn confirmed(c: &Cluster, node: usize, tx: &str) -> bool {
    matches!(c.tx_status(node, tx).as_str(), "confirmed" | "finalized")
}

#[test]
fn votes_survive_a_lost_quorum_and_a_crash_and_a_double_vote_counts_once() {
    let c = Cluster::create(3, 2, Timing::default());
    let (v1, v2, v3, s1, s2) = (0, 1, 2, 3, 4);
    c.start_all();
    let ballots = voters(&c, &[v1], 100, "f");

    c.kill(v2);
    c.kill(v3);
    wait_until(
        "fallback at the remaining validator",
        Duration::from_secs(20),
        || in_fallback(&c, v1),
    );
    wait_until("fallback at the stations", Duration::from_secs(20), || {
        in_fallback(&c, s1) && in_fallback(&c, s2)
    });
    // The same voter checked in at both stations while they cannot see
    // each other's poll books.
    let at_s1 = c.voter(s1, "twice");
    let at_s2 = c.voter(s2, "twice");
    let another = c.voter(s1, "another");
    let mut sealed = Vec::new();
    for (k, (node, token)) in ballots.iter().enumerate() {
        let v = c.vote_answer(*node, token, 1 + k as u64 % 3);
        assert_eq!(v["status"], "fallback", "{v}");
        assert!(v["warning"].as_str().unwrap().contains("recorded"), "{v}");
        sealed.push(v["transaction_id"].as_str().unwrap().to_string());
    }
    assert_eq!(c.tx_status(v1, &sealed[0]), "fallback");
    let a = c.vote_answer(s1, &at_s1, 1);
    let b = c.vote_answer(s2, &at_s2, 2);
    assert_eq!(
        (&a["status"], &b["status"]),
        (&Value::from("fallback"), &Value::from("fallback"))
    );
    // Another voter's pass with the first voter's card: the credential has
    // a ballot in this station's fallback chain already.
    let body = c.vote_body(&at_s1, 3);
    let (code, v) = c.post(s1, "/api/votes/submit", &body, Some(&another));
    assert_eq!(
        code, 409,
        "a second vote with the same card at the same station is refused even offline: {v}"
    );
    let (code, v) = c.check_in(s1, "twice");
    assert_eq!(code, 409, "a voter is checked in once at a station: {v}");
    let (_, m) = c.get_text(v1, "/metrics");
    assert!(
        m.contains("evote_fallback_active 1"),
        "metrics show fallback"
    );

    // kill -9 and restart: the sealed ballots are still there.
    c.kill(v1);
    c.start(v1);
    c.wait_up(v1);
    assert_eq!(c.tx_status(v1, &sealed[99]), "fallback");

    // The network returns: every sealed ballot reaches the main chain.
    c.start(v2);
    c.start(v3);
    c.wait_up(v2);
    c.wait_up(v3);
    for tx in &sealed {
        wait_until(
            "a fallback ballot to be confirmed",
            Duration::from_secs(120),
            || confirmed(&c, v1, tx),
        );
    }
    // The voter who voted at both stations is counted once; the other
    // ballot is rejected as a double vote, naming the one that counted.
    let (ta, tb) = (
        a["transaction_id"].as_str().unwrap(),
        b["transaction_id"].as_str().unwrap(),
    );
    wait_until(
        "both station ballots to settle",
        Duration::from_secs(120),
        || {
            let (sa, sb) = (c.tx_status(s1, ta), c.tx_status(s2, tb));
            let done = |s: &str| matches!(s, "confirmed" | "finalized" | "rejected");
            done(&sa) && done(&sb)
        },
    );
    let (_, sa) = c.get(
        s1,
        &format!("/api/votes/transaction-status?transaction_id={ta}"),
    );
    let (_, sb) = c.get(
        s2,
        &format!("/api/votes/transaction-status?transaction_id={tb}"),
    );
    let (winner, loser) = if sa["status"] == "rejected" {
        (&sb, &sa)
    } else {
        (&sa, &sb)
    };
    assert!(
        matches!(winner["status"].as_str(), Some("confirmed" | "finalized")),
        "{winner}"
    );
    assert_eq!(loser["status"], "rejected", "{loser}");
    assert_eq!(
        loser["conflicting_transaction"],
        winner["main_transaction_id"]
    );
    let loser_node = if sa["status"] == "rejected" { s1 } else { s2 };
    wait_until(
        "the conflict to show in /metrics",
        Duration::from_secs(10),
        || {
            c.get_text(loser_node, "/metrics")
                .1
                .contains("evote_fallback_conflicts 1")
        },
    );

    // Counted once: 100 fallback ballots + 1.
    c.wait_agree(1, Duration::from_secs(60));
    let (_, r) = c.get(v1, "/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 101, "{r}");
    let txs = c.committed_txs(v1);
    assert_eq!(txs.iter().collect::<BTreeSet<_>>().len(), txs.len());
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[test]
fn offline_and_lost_stations_are_reconciled_by_export_and_import() {
    let c = Cluster::create(3, 2, Timing::default());
    let (v1, s_lost, s_offline) = (0, 3, 4);
    for i in 0..4 {
        c.start(i);
    }
    c.start_with(s_offline, &["--offline"]);
    for i in 0..5 {
        c.wait_up(i);
    }
    let lost_voters = voters(&c, &[s_lost], 10, "lost");
    let offline_voters = voters(&c, &[s_offline], 10, "off");
    // Offline by design: every ballot is recorded in the device chain.
    let mut expect = Vec::new();
    for (node, token) in &offline_voters {
        let v = c.vote_answer(*node, token, 2);
        assert_eq!(v["status"], "fallback", "{v}");
        expect.push(v["transaction_id"].as_str().unwrap().to_string());
    }
    // A station whose network is gone for good: validators unreachable.
    for i in 0..3 {
        c.kill(i);
    }
    wait_until(
        "fallback at the cut-off station",
        Duration::from_secs(20),
        || in_fallback(&c, s_lost),
    );
    for (node, token) in &lost_voters {
        let v = c.vote_answer(*node, token, 3);
        assert_eq!(v["status"], "fallback", "{v}");
        expect.push(v["transaction_id"].as_str().unwrap().to_string());
    }
    c.kill(s_lost);
    c.kill(s_offline);
    for i in 0..3 {
        c.start(i);
    }
    for i in 0..3 {
        c.wait_up(i);
    }

    let cfg = |i: usize| c.nodes[i].config.clone().into_os_string();
    let dir = c.dir.path();
    // Close the offline station's day, export both chains.
    let (code, out, err) = c.cli(&[os("fallback"), os("close"), os("--config"), &cfg(s_offline)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10 ballots"), "{out}");
    let (code, _, err) = c.cli(&[os("fallback"), os("close"), os("--config"), &cfg(s_offline)]);
    assert_eq!(code, 1, "closing twice is refused: {err}");
    let (code, out, _) = c.cli(&[
        os("fallback"),
        os("status"),
        os("--config"),
        &cfg(s_offline),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("closed:     10 ballots"), "{out}");
    let off_file = dir.join("offline.json");
    let lost_file = dir.join("lost.json");
    for (node, file) in [(s_offline, &off_file), (s_lost, &lost_file)] {
        let (code, _, err) = c.cli(&[
            os("fallback"),
            os("export"),
            os("--config"),
            &cfg(node),
            os("--out"),
            file.as_os_str(),
        ]);
        assert_eq!(code, 0, "{err}");
    }

    // A ballot removed from the export is caught; nothing is imported.
    let mut tampered: Value =
        serde_json::from_str(&std::fs::read_to_string(&off_file).unwrap()).unwrap();
    tampered["blocks"][0]["transactions"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    tampered["copies"][0].as_array_mut().unwrap().remove(0);
    let bad_file = dir.join("tampered.json");
    std::fs::write(&bad_file, tampered.to_string()).unwrap();
    let (code, _, err) = c.cli(&[
        os("fallback"),
        os("import"),
        bad_file.as_os_str(),
        os("--config"),
        &cfg(v1),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("REFUSED"), "{err}");

    // Import both on a connected validator: every ballot is confirmed.
    for file in [&off_file, &lost_file] {
        let (code, out, err) = c.cli(&[
            os("fallback"),
            os("import"),
            file.as_os_str(),
            os("--config"),
            &cfg(v1),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("verified 10 ballots"), "{out}");
    }
    for tx in &expect {
        wait_until(
            "an imported ballot to be confirmed",
            Duration::from_secs(120),
            || confirmed(&c, v1, tx),
        );
    }
    let (_, r) = c.get(v1, "/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 20, "{r}");
    // Importing again changes nothing.
    let (code, out, _) = c.cli(&[
        os("fallback"),
        os("import"),
        off_file.as_os_str(),
        os("--config"),
        &cfg(v1),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("0 new"), "{out}");
}
