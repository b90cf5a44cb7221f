//! The `evote-audit` binary, black-box: exit statuses, the report, the
//! database and node sources, bad input. Chains are synthetic (signed by
//! keys of the test's own); nodes are played by a minimal HTTP server.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    FakeNode, Handler, NodeData, bin, chain, chain_from, failures, json_report, tallied, verdict,
    write_db,
};
use evote_audit::synth::{CommitSeal, SignedTx, SynthBlock, SynthChain, Transaction};
use rusqlite::Connection;
use serde_json::{Value, json};

const NOW: &str = "1767300000000";

/// One run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Its `--json` report.
    fn report(&self) -> Value {
        json_report(self.stdout.as_bytes())
    }
}

/// Runs `evote-audit` with `args`.
fn output(args: &[&str]) -> Run {
    let o = bin().args(args).output().expect("run evote-audit");
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `evote-audit` with `args`; it must exit with `code` (what it
/// printed is shown when it does not).
fn run(args: &[&str], code: i32) -> Run {
    let r = output(args);
    assert_eq!(
        r.code,
        Some(code),
        "evote-audit {}\n{}\n{}",
        args.join(" "),
        r.stdout,
        r.stderr
    );
    r
}

/// `verify --json` at the tests' clock, with `args`; it must exit with
/// `code`. Returns the report.
fn verify(args: &[&str], code: i32) -> Value {
    let mut all = vec!["verify", "--json", "--now-ms", NOW];
    all.extend_from_slice(args);
    run(&all, code).report()
}

/// A file as an argument.
fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn help_and_usage_errors() {
    let help = run(&["--help"], 0).stdout;
    for s in [
        "verify",
        "tally",
        "Exit status",
        "discrepancy",
        "could not run",
    ] {
        assert!(help.contains(s), "--help lacks {s:?}:\n{help}");
    }
    for sub in ["verify", "tally"] {
        let h = run(&[sub, "--help"], 0).stdout;
        assert!(h.contains("--nodes") && h.contains("--db") && h.contains("Exit status"));
    }
    run(&[], 2);
    run(&["frobnicate"], 2);
    assert!(run(&["verify"], 2).stderr.contains("nothing to audit"));
    let o = run(&["verify", "--nodes", "localhost:1"], 2);
    assert!(o.stderr.contains("http://"));
}

#[test]
fn a_sound_database_verifies_and_the_report_reads_at_a_glance() {
    let dir = tempfile::tempdir().unwrap();
    let (c, blocks) = chain(30);
    let db = write_db(dir.path(), "evote.sqlite3", &c, &blocks);
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let text = run(&["verify", "--now-ms", NOW, "--db", arg(&db)], 0).stdout;
    for s in [
        "Sources",
        "Checks",
        "block.seals",
        "tx.signature",
        "VERIFIED",
        "exit status 0",
    ] {
        assert!(text.contains(s), "missing {s:?}:\n{text}");
    }
    // The election is still open: 30 encrypted ballots, no counts yet.
    assert!(text.contains("30 ballot(s) on the chain"), "{text}");
    assert!(text.contains("pending"), "{text}");
    // The file was only read: no journal, WAL or SHM appeared beside it.
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after);

    let r = verify(&["--db", arg(&db)], 0);
    assert_eq!(r["format"], "evote-audit/report/1");
    assert_eq!(r["outcome"], "verified");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["sources"][0]["height"], 8);
    assert_eq!(r["sources"][0]["transactions_checked"], 30);
    assert_eq!(r["reference"]["chain_id"], c.chain_id.to_hex());
    for id in [
        "genesis.valid",
        "source.consistent",
        "source.integrity",
        "block.hash",
        "block.seals",
        "tx.signature",
        "tx.nullifier_unique",
        "tx.ballot_proofs",
        "tx.ciphertext_unique",
        "tally.encrypted_totals",
    ] {
        assert_eq!(verdict(&r, id), "PASS", "{id}");
    }
    for id in [
        "chain.agreement",
        "consensus.no_equivocation",
        "baseline.append_only",
        "fallback.chain",
        "fallback.reconciled",
        "tally.decryption",
        "tally.matches",
    ] {
        assert_eq!(verdict(&r, id), "SKIP", "{id}");
        let c = r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        assert!(
            c["reason"].as_str().is_some_and(|s| !s.is_empty()),
            "{id} without a reason"
        );
    }
    let matches = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "tally.matches")
        .unwrap();
    let why = matches["reason"].as_str().unwrap();
    assert!(
        why.contains("tally pending") && why.contains("total_votes 30 compared"),
        "{why}"
    );
    let tally = &r["tallies"][0]["elections"][0];
    assert_eq!(tally["total"], 30);
    assert_eq!(tally["status"], "pending");
    assert!(tally["candidates"][0]["votes"].is_null());

    // tally: the same, as a command of its own.
    let o = run(&["tally", "--now-ms", NOW, "--db", arg(&db)], 0);
    let t = o.stdout;
    assert!(
        t.contains("Candidate 1") && t.contains("pending") && t.contains("verified"),
        "{t}"
    );
    let o = output(&["tally", "--json", "--now-ms", NOW, "--db", arg(&db)]);
    let t = o.report();
    assert_eq!(t["format"], "evote-audit/tally/1");
    assert_eq!(t["tallies"][0]["elections"][0]["total"], 30);
}

/// A copy of a good database, tampered with, and what the audit of it must
/// name (it exits 1).
struct Tampering {
    /// The copy's name, which says what was done.
    file: &'static str,
    /// The good chain.
    chain: fn() -> (SynthChain, Vec<SynthBlock>),
    edit: fn(&Connection, &SynthChain, &[SynthBlock]),
    /// Checks the report, given the chain's blocks.
    caught: fn(&Value, &[SynthBlock]),
}

/// Audits each tampered copy: it must exit 1 and its report must name what
/// was done.
fn all_caught(cases: &[Tampering]) {
    for t in cases {
        let (c, blocks) = (t.chain)();
        let dir = tempfile::tempdir().unwrap();
        let db = write_db(dir.path(), t.file, &c, &blocks);
        {
            let conn = Connection::open(&db).unwrap();
            (t.edit)(&conn, &c, &blocks);
        }
        (t.caught)(&verify(&["--db", arg(&db)], 1), &blocks);
    }
}

/// A transaction as stored: ballots packed (schema version 4), other
/// transactions as JSON text.
fn body(conn: &Connection, height: i64, pos: i64) -> SignedTx {
    let chain_id: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'chain_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let (body, nullifier, origin): (rusqlite::types::Value, Option<Vec<u8>>, Vec<u8>) = conn
        .query_row(
            "SELECT body, nullifier, origin FROM transactions \
             WHERE block_height = ?1 AND position = ?2",
            [height, pos],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let text = match body {
        rusqlite::types::Value::Text(t) => t,
        rusqlite::types::Value::Blob(b) => {
            let row = evote_audit::synth::Row {
                chain_id: evote_audit::synth::Hash32::parse(&chain_id).unwrap(),
                nullifier: nullifier.as_deref(),
                origin: &origin,
            };
            evote_audit::synth::to_json(&b, &row).unwrap()
        }
        other => panic!("a body of type {other:?}"),
    };
    serde_json::from_str(&text).unwrap()
}

fn set_body(conn: &Connection, height: i64, pos: i64, stx: &SignedTx) {
    let body = match evote_audit::synth::pack(stx) {
        Some(b) => rusqlite::types::Value::Blob(b),
        None => rusqlite::types::Value::Text(serde_json::to_string(stx).unwrap()),
    };
    conn.execute(
        "UPDATE transactions SET body = ?1 WHERE block_height = ?2 AND position = ?3",
        rusqlite::params![body, height, pos],
    )
    .unwrap();
}

#[test]
fn tampered_databases_are_caught_precisely() {
    all_caught(&[
        // A changed ballot: the ciphertexts of the first two candidates of
        // transaction 1 in block 3 swapped (a vote moved to another candidate).
        Tampering {
            file: "changed-ballot.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                let mut t = body(conn, 3, 1);
                if let Transaction::Ballot(b) = &mut t.tx {
                    let (first, rest) = b.ballot.selections.split_at_mut(1);
                    std::mem::swap(&mut first[0].ciphertext, &mut rest[0].ciphertext);
                }
                set_body(conn, 3, 1, &t);
            },
            caught: |r, _| {
                // The origin's signature (rule 18d, before the ballot hash) no longer
                // covers the transaction.
                let f = &failures(r, "tx.signature")[0];
                assert_eq!(
                    (f["height"].as_u64(), f["position"].as_u64()),
                    (Some(3), Some(1))
                );
                assert!(f["tx"].is_string());
                assert_eq!(failures(r, "block.tx_root")[0]["height"], 3);
            },
        },
        // A removed transaction.
        Tampering {
            file: "removed-tx.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                conn.execute(
                    "DELETE FROM transactions WHERE block_height = 2 AND position = 0",
                    [],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = &failures(r, "block.tx_count")[0];
                assert_eq!(f["code"], "tx_count_mismatch");
                assert_eq!(f["height"], 2);
                // The appliance's stored running tally still holds the removed ballot.
                let f = &failures(r, "tally.encrypted_totals")[0];
                assert_eq!(f["code"], "totals_mismatch");
                assert!(
                    f["expected"].as_str().unwrap().starts_with("19 ballot(s)"),
                    "{f}"
                );
            },
        },
        // A changed block timestamp.
        Tampering {
            file: "timestamp.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                let h: String = conn
                    .query_row("SELECT header FROM blocks WHERE height = 4", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                let mut v: Value = serde_json::from_str(&h).unwrap();
                v["timestamp_ms"] = json!(v["timestamp_ms"].as_u64().unwrap() + 7);
                conn.execute(
                    "UPDATE blocks SET header = ?1 WHERE height = 4",
                    [v.to_string()],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = &failures(r, "block.hash")[0];
                assert_eq!(
                    (f["height"].as_u64(), f["detail"].as_str()),
                    (Some(4), Some("block"))
                );
            },
        },
        // A seal below quorum and a duplicated seal.
        Tampering {
            file: "one-seal.sqlite3",
            chain: || chain(20),
            edit: |conn, _, blocks| {
                let one = vec![blocks[4].seals[0].clone()];
                conn.execute(
                    "UPDATE blocks SET seals = ?1 WHERE height = 5",
                    [serde_json::to_string(&one).unwrap()],
                )
                .unwrap();
            },
            caught: |r, _| {
                assert_eq!(failures(r, "block.seals")[0]["code"], "too_few_seals");
            },
        },
        Tampering {
            file: "dup-seal.sqlite3",
            chain: || chain(20),
            edit: |conn, _, blocks| {
                let s = &blocks[4].seals;
                let dup: Vec<CommitSeal> = vec![s[0].clone(), s[1].clone(), s[0].clone()];
                conn.execute(
                    "UPDATE blocks SET seals = ?1 WHERE height = 5",
                    [serde_json::to_string(&dup).unwrap()],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = failures(r, "block.seals");
                assert_eq!(f.len(), 1);
                assert_eq!(f[0]["code"], "duplicate_seal");
            },
        },
        // Unparseable JSON in a header and in a body.
        Tampering {
            file: "garbage.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                conn.execute(
                    "UPDATE blocks SET header = '{not json' WHERE height = 5",
                    [],
                )
                .unwrap();
                conn.execute(
                    "UPDATE transactions SET body = '[]' WHERE block_height = 2 AND position = 3",
                    [],
                )
                .unwrap();
            },
            caught: |r, _| {
                assert_eq!(failures(r, "block.schema")[0]["height"], 5);
                assert_eq!(failures(r, "tx.schema")[0]["position"], 3);
            },
        },
        // Packed ballot bodies: a flipped bit inside a ciphertext reads back
        // as another ballot (caught by its signature); a cut body does not
        // read at all.
        Tampering {
            file: "packed.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                let flip = |height: i64, pos: i64, cut: bool| {
                    let mut b: Vec<u8> = conn
                        .query_row(
                            "SELECT body FROM transactions WHERE block_height = ?1 AND position = ?2",
                            [height, pos],
                            |r| r.get(0),
                        )
                        .unwrap();
                    if cut {
                        b.truncate(b.len() - 10);
                    } else {
                        b[275] ^= 1; // the low byte of the first selection's z1
                    }
                    conn.execute(
                        "UPDATE transactions SET body = ?1 WHERE block_height = ?2 AND position = ?3",
                        rusqlite::params![b, height, pos],
                    )
                    .unwrap();
                };
                flip(3, 0, false);
                flip(2, 1, true);
            },
            caught: |r, _| {
                let f = &failures(r, "tx.signature")[0];
                assert_eq!(
                    (f["height"].as_u64(), f["position"].as_u64()),
                    (Some(3), Some(0))
                );
                let f = &failures(r, "tx.schema")[0];
                assert_eq!(
                    (f["height"].as_u64(), f["position"].as_u64()),
                    (Some(2), Some(1))
                );
            },
        },
        // The column a node counts total_votes from, changed behind the bodies.
        Tampering {
            file: "results.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                conn.execute(
                    "UPDATE transactions SET election_id = 7 WHERE block_height = 1",
                    [],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = failures(r, "tally.matches");
                assert_eq!(f.len(), 1, "{f:#?}");
                assert!(f[0]["message"].as_str().unwrap().contains("total"));
                assert_eq!(f[0]["found"], "total_votes 16 reported");
                for id in ["block.hash", "tx.signature", "block.tx_root"] {
                    assert_eq!(verdict(r, id), "PASS", "{id}");
                }
            },
        },
        // The stored running tally (what trustees are shown to decrypt).
        Tampering {
            file: "totals.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                let (h, state): (i64, String) = conn
                    .query_row(
                        "SELECT height, state FROM election_tallies ORDER BY height DESC LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                let mut v: Value = serde_json::from_str(&state).unwrap();
                let agg = v["aggregate"].as_array_mut().unwrap();
                agg.swap(0, 2);
                conn.execute(
                    "UPDATE election_tallies SET state = ?1 WHERE height = ?2",
                    rusqlite::params![v.to_string(), h],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = &failures(r, "tally.encrypted_totals")[0];
                assert!(
                    f["message"]
                        .as_str()
                        .unwrap()
                        .contains("not the homomorphic sums"),
                    "{f}"
                );
            },
        },
        // A deleted block: the chain is broken there.
        Tampering {
            file: "gap.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                conn.execute("DELETE FROM transactions WHERE block_height = 3", [])
                    .unwrap();
                conn.execute("DELETE FROM election_tallies WHERE height = 3", [])
                    .unwrap();
                conn.execute("DELETE FROM blocks WHERE height = 3", [])
                    .unwrap();
            },
            caught: |r, _| {
                let f = &failures(r, "block.height")[0];
                assert_eq!(
                    (f["expected"].as_str(), f["found"].as_str()),
                    (Some("3"), Some("4"))
                );
            },
        },
    ]);
}

#[test]
fn unreadable_sources_exit_2_and_the_rest_is_still_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (c, blocks) = chain(8);
    let good = write_db(dir.path(), "good.sqlite3", &c, &blocks);
    let not_sqlite = dir.path().join("not.sqlite3");
    std::fs::write(&not_sqlite, b"this is not a database").unwrap();
    let r = verify(
        &[
            "--db",
            arg(&good),
            "--db",
            arg(&not_sqlite),
            "--db",
            arg(&dir.path().join("missing.sqlite3")),
            "--nodes",
            "http://127.0.0.1:9",
        ],
        2,
    );
    assert_eq!(r["outcome"], "incomplete");
    let statuses: Vec<&str> = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["unreachable", "audited", "unreadable", "unreadable"]
    );
    assert_eq!(r["sources"][1]["transactions_checked"], 8);
    assert!(
        r["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9")
    );
    // The text report names them too.
    let o = run(&["verify", "--now-ms", NOW, "--db", arg(&not_sqlite)], 2);
    assert!(
        o.stdout.contains("not an evote appliance database"),
        "{}",
        o.stdout
    );
    // A bad --genesis or --baseline file stops the audit before it starts.
    let o = run(
        &["verify", "--genesis", arg(&not_sqlite), "--db", arg(&good)],
        2,
    );
    assert!(o.stderr.contains("--genesis"));
}

#[test]
fn a_write_ahead_log_is_read_without_touching_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let (c, blocks) = chain(12);
    let db = write_db(dir.path(), "evote.sqlite3", &c, &blocks);
    // A writer that keeps its log: the change below is only in the WAL.
    let conn = Connection::open(&db).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    let mut t = body(&conn, 2, 0);
    t.signature = evote_audit::synth::Signature([7; 64]);
    set_body(&conn, 2, 0, &t);
    let wal = dir.path().join("evote.sqlite3-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let r = verify(&["--db", arg(&db)], 1);
    assert_eq!(failures(&r, "tx.signature")[0]["height"], 2);
    let notes = r["sources"][0]["notes"].to_string();
    assert!(notes.contains("write-ahead log"), "{notes}");
    drop(conn);
}

fn node(data: NodeData) -> FakeNode {
    FakeNode::serve(data.handler())
}

#[test]
fn nodes_that_agree_verify_and_one_that_forks_or_misreports_is_named() {
    let (c, blocks) = chain(40);
    let a = node(NodeData::new(&c, &blocks, 0));
    // A lagging node: a prefix of the chain.
    let b = node(NodeData::new(&c, &blocks[..7], 1));
    let r = verify(&["--nodes", &format!("{},{}", a.url, b.url)], 0);
    assert_eq!(r["sources"][0]["name"], "validator-1");
    assert_eq!(r["sources"][1]["lag"], 3);
    assert_eq!(verdict(&r, "chain.agreement"), "PASS");
    assert_eq!(verdict(&r, "tally.encrypted_totals"), "PASS");
    // The election is open: the counts are not compared, and that is said.
    assert_eq!(verdict(&r, "tally.matches"), "SKIP");
    assert_eq!(verdict(&r, "source.consistent"), "PASS");
    let fb = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "fallback.chain")
        .unwrap();
    assert!(fb["reason"].as_str().unwrap().contains("404"), "{fb}");

    // A fork at height 10: the same chain but one ballot fewer in the last
    // block, proposed and sealed by the same validators: they equivocated.
    let (_, forked) = chain(39);
    let f = node(NodeData::new(&c, &forked, 2));
    let r = verify(&["--nodes", &format!("{},{}", a.url, f.url)], 1);
    let fork = &failures(&r, "chain.agreement")[0];
    assert_eq!(fork["source"], "validator-3");
    assert_eq!(fork["height"], 10);
    // Every validator sealed both blocks, and the proposer proposed both.
    let eq = failures(&r, "consensus.no_equivocation");
    assert_eq!(eq.len(), 4, "{eq:#?}");
    assert!(eq.iter().all(|e| e["height"] == 10));
    assert_eq!(r["sources"][1]["diverges_at"], 10);

    // The baseline: validator-1's report. Later validator-1 serves a chain
    // whose block 10 was replaced, or that lost its last blocks.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("baseline.json");
    let o = output(&["verify", "--json", "--now-ms", NOW, "--nodes", &a.url]);
    std::fs::write(&base, &o.stdout).unwrap();
    let r = verify(
        &[
            "--baseline",
            arg(&base),
            "--nodes",
            &format!("{},{}", a.url, b.url),
        ],
        0,
    );
    assert_eq!(verdict(&r, "baseline.append_only"), "PASS");
    let rewritten = node(NodeData::new(&c, &forked, 0));
    let truncated = node(NodeData::new(&c, &blocks[..6], 0));
    for (n, code) in [
        (&rewritten, "history_changed"),
        (&truncated, "history_lost"),
    ] {
        let r = verify(&["--baseline", arg(&base), "--nodes", &n.url], 1);
        let f = &failures(&r, "baseline.append_only")[0];
        assert_eq!(
            (f["code"].as_str(), f["height"].as_u64()),
            (Some(code), Some(10))
        );
    }
}

#[test]
fn a_node_with_another_genesis_is_named() {
    let (c, blocks) = chain(8);
    let a = node(NodeData::new(&c, &blocks, 0));
    let mut other = NodeData::new(&c, &blocks, 1);
    let mut g: Value = serde_json::from_str(&other.genesis).unwrap();
    g["chain_name"] = json!("a different election");
    other.genesis = g.to_string();
    let b = node(other);
    let dir = tempfile::tempdir().unwrap();
    let gfile = dir.path().join("genesis.json");
    std::fs::write(&gfile, serde_json::to_string_pretty(&c.genesis).unwrap()).unwrap();
    let r = verify(
        &[
            "--genesis",
            arg(&gfile),
            "--nodes",
            &format!("{},{}", a.url, b.url),
        ],
        1,
    );
    let f = failures(&r, "genesis.same");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["source"], "validator-2");
    // Its status names the real chain id, which is not its genesis' hash.
    assert_eq!(
        failures(&r, "source.consistent")[0]["source"],
        "validator-2"
    );
}

#[test]
fn nodes_that_answer_badly_do_not_hang_or_crash_the_auditor() {
    let (c, blocks) = chain(8);
    let good = node(NodeData::new(&c, &blocks, 0));
    // Garbage instead of JSON.
    let garbage = FakeNode::serve(Arc::new(|_p: &str| (200, b"<html>hello</html>".to_vec())));
    // A node that never answers (within the test's life).
    let hang = FakeNode::serve(Arc::new(|_p: &str| {
        std::thread::sleep(Duration::from_secs(3_600));
        (200, Vec::new())
    }));
    // A node that sends a huge page.
    let data = NodeData::new(&c, &blocks, 1);
    let inner = data.handler();
    let huge = FakeNode::serve(Arc::new(move |p: &str| {
        if p.starts_with("/p2p/blocks") {
            (200, vec![b' '; 3 * 1024 * 1024])
        } else {
            inner(p)
        }
    }));
    // A page whose blocks are malformed.
    let data = NodeData::new(&c, &blocks, 2);
    let inner = data.handler();
    let bad_block = FakeNode::serve(Arc::new(move |p: &str| {
        if p.starts_with("/p2p/blocks") {
            (200, br#"{"blocks":[{"header":1}, 7]}"#.to_vec())
        } else {
            inner(p)
        }
    }));
    // A node that claims a long chain and serves block 1 whatever is asked.
    let data = NodeData::new(&c, &blocks, 0);
    let inner = data.handler();
    let astray = FakeNode::serve(Arc::new(move |p: &str| {
        if p.starts_with("/p2p/status") {
            let (code, body) = inner(p);
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            v["height"] = json!(1_000_000_000u64);
            (code, serde_json::to_vec(&v).unwrap())
        } else if p.starts_with("/p2p/blocks") {
            inner("/p2p/blocks?from=1&limit=1")
        } else {
            inner(p)
        }
    }));
    let start = Instant::now();
    let o = output(&[
        "verify",
        "--json",
        "--now-ms",
        NOW,
        "--timeout",
        "2",
        "--max-response-mib",
        "1",
        "--nodes",
        &format!(
            "{},{},{},{},{},{}",
            good.url, garbage.url, hang.url, huge.url, bad_block.url, astray.url
        ),
    ]);
    // A hang guard, not a speed bound: without its --timeout the audit
    // would wait the hanging node's hour.
    assert!(
        start.elapsed() < Duration::from_secs(600),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(o.code, Some(1), "{}", o.stdout);
    let r = o.report();
    let src = r["sources"].as_array().unwrap();
    assert_eq!(src[0]["status"], "audited");
    assert!(
        src[1]["error"]
            .as_str()
            .unwrap()
            .contains("not what the protocol describes")
    );
    assert_eq!(src[2]["status"], "unreachable");
    assert!(
        src[3]["error"].as_str().unwrap().contains("limit"),
        "{}",
        src[3]
    );
    // Malformed blocks are discrepancies of that node, reported by height.
    let f = failures(&r, "block.schema");
    assert!(
        f.iter()
            .any(|f| f["source"] == src[4]["name"] && f["height"] == 1)
    );
    assert!(f.iter().any(|f| f["height"] == 2));
    assert_eq!(src[5]["status"], "incomplete");
    assert!(
        src[5]["error"]
            .as_str()
            .unwrap()
            .contains("asked for blocks from height 2"),
        "{}",
        src[5]
    );
}

#[test]
fn the_sig_cache_makes_identical_sources_cheap_and_stays_correct() {
    let dir = tempfile::tempdir().unwrap();
    let (c, blocks) = chain(16);
    let a = write_db(dir.path(), "a.sqlite3", &c, &blocks);
    let b = write_db(dir.path(), "b.sqlite3", &c, &blocks);
    {
        // b: same block, a different (invalid) signature for one ballot.
        let conn = Connection::open(&b).unwrap();
        let mut t = body(&conn, 1, 0);
        t.signature = evote_audit::synth::Signature([9; 64]);
        set_body(&conn, 1, 0, &t);
    }
    let r = verify(&["--db", arg(&a), "--db", arg(&b)], 1);
    let f = failures(&r, "tx.signature");
    assert_eq!(f.len(), 1);
    assert!(f[0]["source"].as_str().unwrap().contains("b.sqlite3"));
    assert_eq!(verdict(&r, "chain.agreement"), "PASS");
}

#[test]
fn a_decrypted_tally_verifies_and_a_node_reporting_other_counts_is_named() {
    let (c, blocks) = tallied(40);
    let honest = node(NodeData::new(&c, &blocks, 0));
    let mut lying = NodeData::new(&c, &blocks, 1);
    let mut res = lying.honest_results();
    let n = res["results"][0]["vote_count"].as_u64().unwrap();
    res["results"][0]["vote_count"] = json!(n + 5);
    lying.results = Some(res);
    let l = node(lying);
    let r = verify(&["--nodes", &honest.url], 0);
    for id in [
        "tally.matches",
        "tally.decryption",
        "tally.encrypted_totals",
    ] {
        assert_eq!(verdict(&r, id), "PASS", "{id}");
    }
    let e = &r["tallies"][0]["elections"][0];
    assert_eq!(
        (
            e["status"].as_str(),
            e["total"].as_u64(),
            e["tally_height"].as_u64()
        ),
        (Some("decrypted"), Some(40), Some(11))
    );
    let votes: Vec<u64> = e["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["votes"].as_u64().unwrap())
        .collect();
    assert_eq!(votes, vec![14, 13, 13]);
    assert_eq!(e["trustees"], json!([1, 2]));

    let r = verify(&["--nodes", &format!("{},{}", honest.url, l.url)], 1);
    let f = failures(&r, "tally.matches");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["source"], "validator-2");
    assert_eq!(f[0]["found"], format!("{} vote(s) reported", n + 5));
    assert!(f[0]["message"].as_str().unwrap().contains("candidate 1"));

    // `tally` prints the decrypted counts.
    let o = run(&["tally", "--now-ms", NOW, "--nodes", &honest.url], 0);
    let t = o.stdout;
    assert!(
        t.contains("decrypted") && t.contains("35.00") && t.contains("32.50"),
        "{t}"
    );
}

#[test]
fn a_tally_share_changed_on_the_chain_or_in_the_database_is_caught() {
    let (c, blocks) = tallied(30);
    let dir = tempfile::tempdir().unwrap();
    let db = write_db(dir.path(), "tallied.sqlite3", &c, &blocks);
    let r = verify(&["--db", arg(&db)], 0);
    for id in [
        "tally.matches",
        "tally.decryption",
        "tally.encrypted_totals",
    ] {
        assert_eq!(verdict(&r, id), "PASS", "{id}");
    }

    all_caught(&[
        // A changed partial decryption in trustee 2's share transaction.
        Tampering {
            file: "share.sqlite3",
            chain: || tallied(30),
            edit: |conn, _, blocks| {
                let top = blocks.len() as i64;
                let mut t = body(conn, top, 1);
                if let Transaction::DecryptionShare(d) = &mut t.tx {
                    d.share.shares[0].d = d.share.shares[1].d;
                }
                set_body(conn, top, 1, &t);
            },
            caught: |r, blocks| {
                let top = blocks.len() as i64;
                let f = &failures(r, "tx.signature")[0];
                assert_eq!(
                    (f["height"].as_i64(), f["position"].as_u64()),
                    (Some(top), Some(1))
                );
                // Only one valid share is left on the chain: the counts the file's
                // tables still give are not the chain's.
                let f = &failures(r, "tally.matches")[0];
                assert!(
                    f["message"].as_str().unwrap().contains("cannot produce"),
                    "{f}"
                );
            },
        },
        // The same share re-signed by its carrier: its proof fails.
        Tampering {
            file: "share-resigned.sqlite3",
            chain: || tallied(30),
            edit: |conn, c, blocks| {
                let top = blocks.len() as i64;
                let mut t = body(conn, top, 1);
                if let Transaction::DecryptionShare(d) = &mut t.tx {
                    d.share.shares[0].d = d.share.shares[1].d;
                }
                let key = c.key_of(t.tx.origin()).unwrap();
                t.signature = key.sign(&t.tx);
                set_body(conn, top, 1, &t);
            },
            caught: |r, blocks| {
                let top = blocks.len() as i64;
                let f = &failures(r, "tx.decryption_share")[0];
                assert_eq!(
                    (f["height"].as_i64(), f["position"].as_u64()),
                    (Some(top), Some(1))
                );
                assert!(f["found"].as_str().unwrap().contains("trustee 2"), "{f}");
            },
        },
        // The database's copy of a share (what its results are decrypted
        // from) replaced by trustee 1's share relabelled as trustee 2's.
        Tampering {
            file: "stored-share.sqlite3",
            chain: || tallied(30),
            edit: |conn, _, _| {
                let one: String = conn
                    .query_row(
                        "SELECT share FROM decryption_shares WHERE trustee_index = 1",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                let mut v: Value = serde_json::from_str(&one).unwrap();
                v["share"]["trustee_index"] = json!(2);
                conn.execute(
                    "UPDATE decryption_shares SET share = ?1 WHERE trustee_index = 2",
                    [v.to_string()],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = &failures(r, "tally.matches")[0];
                assert!(
                    f["found"].as_str().unwrap().contains("do not combine"),
                    "{f}"
                );
                for id in ["tx.decryption_share", "tally.decryption", "block.tx_root"] {
                    assert_eq!(verdict(r, id), "PASS", "{id}");
                }
            },
        },
    ]);
}

#[test]
fn fallback_chains_are_checked_on_nodes_and_in_files() {
    let (c, blocks, fb) = common::with_fallback();
    let mut data = NodeData::new(&c, &blocks, 0);
    data.fallback = Some(fb.page("confirmed"));
    let good = node(data.clone());
    let mut broken = data.clone();
    let mut page = fb.page("confirmed");
    page["blocks"].as_array_mut().unwrap().remove(0);
    broken.fallback = Some(page);
    let broken = node(broken);
    let r = verify(&["--nodes", &good.url], 0);
    assert_eq!(verdict(&r, "fallback.chain"), "PASS");
    assert_eq!(verdict(&r, "fallback.reconciled"), "PASS");
    let r = verify(&["--nodes", &broken.url], 1);
    let f = failures(&r, "fallback.chain");
    assert_eq!(f[0]["code"], "wrong_seq", "{f:#?}");
    assert!(f[0]["message"].as_str().unwrap().contains("station-1"));
    let f = failures(&r, "fallback.reconciled");
    assert!(
        f.iter().any(|f| f["code"] == "unknown_fallback_block"),
        "{f:#?}"
    );

    // The same chain in a database's fallback tables.
    let dir = tempfile::tempdir().unwrap();
    let db = write_db(dir.path(), "fallback.sqlite3", &c, &blocks);
    let conn = Connection::open(&db).unwrap();
    let origin = fb.origin.as_bytes().to_vec();
    for (k, b) in fb.blocks.iter().enumerate() {
        conn.execute(
            "INSERT INTO fallback_blocks (origin, seq, block_hash, body, stored_at_ms) \
             VALUES (?1, ?2, ?3, ?4, 0)",
            rusqlite::params![
                origin,
                k as i64 + 1,
                fb.block_hashes[k].as_bytes().to_vec(),
                b.to_string()
            ],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO fallback_closes (origin, record) VALUES (?1, ?2)",
        rusqlite::params![origin, fb.close.to_string()],
    )
    .unwrap();
    for (k, row) in fb.page("confirmed")["ballots"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let hash = |v: &Value| {
            evote_audit::synth::Hash32::parse(v.as_str().unwrap())
                .unwrap()
                .0
                .to_vec()
        };
        let (e, n) = match &fb.sealed[k].tx {
            Transaction::Ballot(b) => (b.election_id as i64, b.nullifier.0.to_vec()),
            _ => unreachable!("ballots only"),
        };
        conn.execute(
            "INSERT INTO fallback_ballots (main_tx_hash, sealed_tx_hash, origin, seq, election_id, \
             nullifier, main_body, state, conflicting_tx, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, '{}', 'confirmed', NULL, 0)",
            rusqlite::params![
                hash(&row["main_tx_hash"]),
                hash(&row["sealed_tx_hash"]),
                origin,
                row["seq"].as_i64().unwrap(),
                e,
                n
            ],
        )
        .unwrap();
    }
    drop(conn);
    let r = verify(&["--db", arg(&db)], 0);
    assert_eq!(verdict(&r, "fallback.chain"), "PASS");
    assert_eq!(verdict(&r, "fallback.reconciled"), "PASS");
    // A sealed ballot taken out of its block afterwards.
    let conn = Connection::open(&db).unwrap();
    let mut b = fb.blocks[1].clone();
    b["transactions"].as_array_mut().unwrap().clear();
    conn.execute(
        "UPDATE fallback_blocks SET body = ?1 WHERE seq = 2",
        [b.to_string()],
    )
    .unwrap();
    drop(conn);
    let r = verify(&["--db", arg(&db)], 1);
    let codes: Vec<String> = failures(&r, "fallback.chain")
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        codes.iter().any(|c| c == "tx_count_mismatch")
            && codes.iter().any(|c| c == "close_mismatch"),
        "{codes:?}"
    );
}

#[test]
fn a_genesis_whose_key_ceremony_does_not_verify_is_named() {
    all_caught(&[
        // Trustee 2's proof of knowledge replaced by trustee 1's: the election
        // key cannot be recomputed from the genesis.
        Tampering {
            file: "ceremony.sqlite3",
            chain: || chain(20),
            edit: |conn, _, _| {
                let g: String = conn
                    .query_row("SELECT value FROM meta WHERE key = 'genesis'", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                let mut v: Value = serde_json::from_str(&g).unwrap();
                let r1 = &mut v["elections"][0]["trustees"]["round1"];
                r1[1]["pok"] = r1[0]["pok"].clone();
                conn.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'genesis'",
                    [v.to_string()],
                )
                .unwrap();
            },
            caught: |r, _| {
                let f = failures(r, "genesis.trustees");
                assert_eq!(f.len(), 1, "{f:#?}");
                assert_eq!(f[0]["code"], "bad_knowledge_proof");
                assert!(
                    f[0]["found"].as_str().unwrap().contains("trustee 2"),
                    "{f:#?}"
                );
                // The chain id is the genesis' hash: the blocks name the real one.
                assert_eq!(verdict(r, "block.chain_id"), "FAIL");
            },
        },
    ]);
}

#[test]
fn a_block_stamped_after_the_audit_began_is_judged_by_the_clock_when_it_arrived() {
    // Nodes keep committing while a long audit runs: this node's one block
    // is stamped 15.5 s after the audit starts and reaches the auditor 2 s
    // later, within the 15 s allowed from the clock at its arrival.
    let start = evote_audit::synth::now_ms();
    let (c, blocks) = chain_from(4, start + 15_000, 30 * 86_400_000);
    assert_eq!(blocks.len(), 1);
    let honest = NodeData::new(&c, &blocks, 0).handler();
    let slow: Arc<Handler> = Arc::new(move |path: &str| {
        if path.starts_with("/p2p/blocks") {
            std::thread::sleep(Duration::from_secs(2));
        }
        honest(path)
    });
    let n = FakeNode::serve(slow);
    let o = output(&["verify", "--json", "--nodes", &n.url]);
    let r = o.report();
    assert_eq!(
        verdict(&r, "block.timestamp"),
        "PASS",
        "{:?}",
        failures(&r, "block.timestamp")
    );
}
