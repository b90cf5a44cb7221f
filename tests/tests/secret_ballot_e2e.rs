//! Secret ballots end to end on a 3-validator testnet: votes go in
//! encrypted, nothing on disk or in the logs reveals a choice, results stay
//! pending until two of three trustees decrypt after the close, a wrong
//! share is refused, and the counts come out right.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use evote_tests::cluster::{Cluster, Timing, voters, wait_until};
use serde_json::Value;

#[test]
fn two_of_three_trustees_decrypt_the_tally_and_nothing_reveals_a_ballot() {
    // The election is open for ten minutes, far more than the 12 votes
    // and the checks before the close take; the test then moves the nodes'
    // clocks past the close rather than wait for it.
    let open_for = Duration::from_secs(600);
    let c = Cluster::create_with_election(3, 1, Timing::default(), Some(open_for));
    c.start_all();
    // 12 voters: 5 for candidate 1, 3 for 2, 4 for 3.
    let choices = [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3];
    let ballots = voters(&c, &[0, 1, 2, 3], choices.len(), "s");
    let mut txs = Vec::new();
    for ((node, token), choice) in ballots.iter().zip(choices) {
        txs.push((*node, c.vote(*node, token, choice)));
    }
    for (node, tx) in &txs {
        wait_until("a vote to commit", Duration::from_secs(30), || {
            matches!(c.tx_status(*node, tx).as_str(), "confirmed" | "finalized")
        });
    }
    let (_, r) = c.get(0, "/api/votes/results?election_id=1");
    assert_eq!(r["total_votes"], 12);
    assert_eq!(r["tally"]["status"], "pending", "{r}");
    assert!(r["results"][0]["vote_count"].is_null());

    // Nothing stored or logged holds a plaintext choice.
    for i in 0..c.nodes.len() {
        let db = rusqlite::Connection::open(c.home(i).join("data/evote.sqlite3")).unwrap();
        // Committed ballots are packed bytes, the rest JSON text.
        let bodies: Vec<String> = db
            .prepare("SELECT body FROM transactions UNION ALL SELECT body FROM mempool")
            .unwrap()
            .query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
            .unwrap()
            .map(|v| match v.unwrap() {
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("a body of type {other:?}"),
            })
            .collect();
        assert!(!bodies.is_empty() || i == 3);
        for b in &bodies {
            assert!(
                !b.contains("candidate"),
                "a stored transaction names a candidate: {b}"
            );
        }
        let cols: Vec<String> = db
            .prepare("SELECT name FROM pragma_table_info('transactions')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!cols.iter().any(|c| c.contains("candidate")), "{cols:?}");
        assert!(
            !c.log(i).contains("candidate_id"),
            "the log of {} names a candidate",
            c.nodes[i].name
        );
    }

    // Decrypting before the close is refused.
    let key = |j: u32| {
        c.net_dir()
            .join(format!("trustees/trustee-{j}.key"))
            .into_os_string()
    };
    let decrypt = |j: u32| {
        c.cli(&[
            OsStr::new("trustee"),
            OsStr::new("decrypt"),
            OsStr::new("--share"),
            &key(j),
            OsStr::new("--node"),
            OsStr::new(c.url(0)),
            OsStr::new("--election"),
            OsStr::new("1"),
        ])
    };
    let (code, _, err) = decrypt(1);
    assert!(c.now_ms() < c.closes_at(), "refused as before the close");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not closed"), "{err}");

    // After the close (and a block stamped after it), trustees decrypt.
    c.pass_close(Duration::from_secs(1));
    wait_until("the election to close", Duration::from_secs(150), || {
        c.get(0, "/api/tally/1").1["closed"] == true
    });
    let (code, out, err) = decrypt(1);
    assert_eq!(code, 0, "{out}{err}");
    let (_, r) = c.get(0, "/api/votes/results?election_id=1");
    assert_eq!(
        r["tally"]["status"], "pending",
        "one share is not enough: {r}"
    );

    // A forged share (trustee 1's share passed off as trustee 3's) is refused.
    let shares = wait_for_share(&c);
    let mut forged = shares.clone();
    forged["share"]["trustee_index"] = Value::from(3);
    let body = serde_json::json!({
        "tally_height": forged["tally_height"], "ballot_count": forged["ballot_count"],
        "share": forged["share"],
    });
    let (code, v) = c.post(0, "/api/tally/1", &body, None);
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "bad_decryption_share", "{v}");

    let (code, out, err) = decrypt(2);
    assert_eq!(code, 0, "{out}{err}");
    wait_until("the counts", Duration::from_secs(30), || {
        c.get(1, "/api/votes/results?election_id=1").1["tally"]["status"] == "decrypted"
    });
    let (_, r) = c.get(1, "/api/votes/results?election_id=1");
    let counts: Vec<u64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["vote_count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![5, 3, 4], "{r}");
    assert_eq!(r["tally"]["shares"].as_array().unwrap().len(), 2);
    // A trustee's second share of the same tally is refused.
    let (code, _, err) = decrypt(1);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already gave a share"), "{err}");
}

/// The first committed decryption share transaction on node 0.
fn wait_for_share(c: &Cluster) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = c.get(0, "/p2p/blocks?from=1&limit=64");
        let mut from = 1;
        let mut blocks = page["blocks"].as_array().cloned().unwrap_or_default();
        while !blocks.is_empty() {
            for b in &blocks {
                for t in b["transactions"].as_array().unwrap() {
                    if t["tx"]["type"] == "decryption_share" {
                        return t["tx"].clone();
                    }
                }
            }
            from += blocks.len();
            blocks = c.get(0, &format!("/p2p/blocks?from={from}&limit=64")).1["blocks"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "no share committed");
        std::thread::sleep(Duration::from_millis(250));
    }
}
