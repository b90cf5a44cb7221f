//! `evote-audit` against a real testnet, black-box: it verifies the live
//! nodes, and it catches every kind of tampering an appliance's SQLite file
//! can undergo, read directly (`--db`) or served by a restarted node
//! (`--nodes`). The tampering is done the way an attacker with the file
//! (and, for the harder cases, the validators' keys) would do it.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use evote_appliance::{packed, read_node_key};
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::{
    Block, Hash32, NodeKey, PublicKey, Signature, SignedTx, Transaction, Vote, VoteKind,
    merkle_root,
};
use evote_tests::audit_bin::{AuditRun, assert_pass, check, failed};
use evote_tests::cluster::{Cluster, Timing, voters, wait_until};
use rusqlite::Connection;
use serde_json::{Value, json};

/// `evote-audit` with `args` and the path flags `paths`.
fn audit(c: &Cluster, args: &[&str], paths: &[(&str, &Path)]) -> AuditRun {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    for (flag, p) in paths {
        all.extend([OsStr::new(flag), p.as_os_str()]);
    }
    let t = Instant::now();
    let run = evote_tests::audit_bin::audit(c, all);
    eprintln!("evote-audit {args:?}: {:?}", t.elapsed());
    run
}

fn db_path(c: &Cluster, i: usize) -> PathBuf {
    c.home(i).join("data").join("evote.sqlite3")
}

/// A stopped node's database as one self-contained file (its WAL merged).
fn snapshot(c: &Cluster, i: usize, to: &Path) {
    let from = db_path(c, i);
    std::fs::copy(&from, to).unwrap();
    let mut wal = from.clone().into_os_string();
    wal.push("-wal");
    let mut wal_to = to.to_path_buf().into_os_string();
    wal_to.push("-wal");
    if Path::new(&wal).exists() {
        std::fs::copy(&wal, &wal_to).unwrap();
    }
    let conn = Connection::open(to).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
}

/// Puts a database file in place of node `i`'s (the node is stopped).
fn install(c: &Cluster, i: usize, file: &Path) {
    let to = db_path(c, i);
    for ext in ["-wal", "-shm"] {
        let mut p = to.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(p);
    }
    std::fs::copy(file, &to).unwrap();
}

/// Every key of the testnet, by public key, and an outsider's.
struct Keys {
    by_pub: BTreeMap<PublicKey, NodeKey>,
    outsider: NodeKey,
}

impl Keys {
    fn load(c: &Cluster) -> Keys {
        let by_pub = (0..c.nodes.len())
            .map(|i| {
                let k = read_node_key(&c.home(i).join("node.key")).expect("node key");
                (k.public(), k)
            })
            .collect();
        Keys {
            by_pub,
            outsider: NodeKey::from_pkcs8(&pkcs8_from_seed(&[0x77; 32])).unwrap(),
        }
    }

    fn get(&self, k: &PublicKey) -> &NodeKey {
        if *k == self.outsider.public() {
            return &self.outsider;
        }
        self.by_pub.get(k).expect("a key of the testnet")
    }
}

fn load_block(conn: &Connection, h: u64) -> Block {
    let (header, hash, sig, seals): (String, Vec<u8>, String, String) = conn
        .query_row(
            "SELECT header, block_hash, proposer_signature, seals FROM blocks WHERE height = ?1",
            [h as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let chain_id: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'chain_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let chain_id = Hash32::parse(&chain_id).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT body, nullifier, origin FROM transactions WHERE block_height = ?1 \
             ORDER BY position",
        )
        .unwrap();
    // Ballots are stored packed (schema/STORAGE.md), anything else as JSON.
    let transactions = stmt
        .query_map([h as i64], |r| {
            Ok((
                r.get::<_, rusqlite::types::Value>(0)?,
                r.get::<_, Option<Vec<u8>>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .unwrap()
        .map(|row| match row.unwrap() {
            (rusqlite::types::Value::Text(t), _, _) => serde_json::from_str(&t).unwrap(),
            (rusqlite::types::Value::Blob(b), nullifier, origin) => {
                let fields = packed::RowFields {
                    chain_id,
                    nullifier: Hash32(nullifier.unwrap().try_into().unwrap()),
                    origin: PublicKey(origin.try_into().unwrap()),
                };
                packed::unpack(&b, &fields).unwrap()
            }
            (other, _, _) => panic!("a body of type {other:?}"),
        })
        .collect();
    Block {
        header: serde_json::from_str(&header).unwrap(),
        block_hash: Hash32(hash.try_into().unwrap()),
        proposer_signature: Signature::parse(&sig).unwrap(),
        transactions,
        seals: serde_json::from_str(&seals).unwrap(),
    }
}

/// Writes a block back, with its transactions (and the columns an
/// appliance indexes them by, computed from the bodies as it would).
fn store_block(conn: &Connection, b: &Block) {
    let h = &b.header;
    conn.execute(
        "UPDATE blocks SET block_hash = ?1, prev_hash = ?2, round = ?3, timestamp_ms = ?4, \
         proposer = ?5, tx_count = ?6, header = ?7, proposer_signature = ?8, seals = ?9 \
         WHERE height = ?10",
        rusqlite::params![
            b.block_hash.as_bytes(),
            h.prev_hash.as_bytes(),
            h.round as i64,
            h.timestamp_ms as i64,
            h.proposer.as_bytes(),
            b.transactions.len() as i64,
            serde_json::to_string(h).unwrap(),
            b.proposer_signature.to_hex(),
            serde_json::to_string(&b.seals).unwrap(),
            h.height as i64,
        ],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM transactions WHERE block_height = ?1",
        [h.height as i64],
    )
    .unwrap();
    for (pos, stx) in b.transactions.iter().enumerate() {
        let hash = stx.hash().unwrap();
        let (kind, election, nullifier) = (
            stx.tx.kind(),
            stx.tx.election_id(),
            stx.tx.nullifier().map(|(_, n)| n),
        );
        // The index is unique per (election, nullifier): a forged double
        // vote gets another value there, as an attacker would have to.
        let taken: bool = nullifier.is_some_and(|n| {
            conn.query_row(
                "SELECT COUNT(*) > 0 FROM transactions WHERE election_id = ?1 AND nullifier = ?2",
                rusqlite::params![election as i64, n.as_bytes()],
                |r| r.get(0),
            )
            .unwrap()
        });
        let null_col = nullifier.map(|n| if taken { hash } else { n });
        conn.execute(
            "INSERT INTO transactions (tx_hash, block_height, position, kind, election_id, \
             nullifier, origin, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                hash.as_bytes(),
                h.height as i64,
                pos as i64,
                kind,
                election as i64,
                null_col.map(|n| n.as_bytes().to_vec()),
                stx.tx.origin().as_bytes(),
                serde_json::to_string(stx).unwrap(),
            ],
        )
        .unwrap();
    }
}

/// Recomputes tx_root, the hash, the proposer's signature and the seals
/// (by the same validators), as someone holding the validators' keys could.
fn reseal(b: &mut Block, keys: &Keys) {
    let hashes: Vec<Hash32> = b.transactions.iter().map(|t| t.hash().unwrap()).collect();
    b.header.tx_root = merkle_root(&hashes);
    b.header.tx_count = hashes.len() as u64;
    b.block_hash = b.header.hash().unwrap();
    let proposal = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
    b.proposer_signature = keys.get(&b.header.proposer).sign(&proposal).unwrap();
    let sealers: Vec<PublicKey> = b.seals.iter().map(|s| s.validator).collect();
    b.seals = sealers
        .iter()
        .map(|v| b.seal(keys.get(v)).unwrap())
        .collect();
}

fn head(conn: &Connection) -> u64 {
    conn.query_row("SELECT MAX(height) FROM blocks", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

/// Edits block `from` and rewrites every block after it so the chain stays
/// linked and signed: only the edit itself remains wrong.
fn rewrite_from(conn: &Connection, keys: &Keys, from: u64, edit: impl FnOnce(&mut Block)) {
    let top = head(conn);
    let mut prev: Option<Hash32> = None;
    let mut edit = Some(edit);
    for h in from..=top {
        let mut b = load_block(conn, h);
        if let Some(e) = edit.take() {
            e(&mut b);
        }
        if let Some(p) = prev {
            b.header.prev_hash = p;
        }
        reseal(&mut b, keys);
        store_block(conn, &b);
        prev = Some(b.block_hash);
    }
}

/// The highest block that holds at least `n` ballots.
fn block_with_txs(conn: &Connection, n: i64) -> u64 {
    conn.query_row(
        "SELECT MAX(block_height) FROM (SELECT block_height, COUNT(*) AS k FROM transactions \
         WHERE kind = 'ballot' GROUP BY block_height) WHERE k >= ?1",
        [n],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// The positions of block `height`'s ballots.
fn ballot_positions(conn: &Connection, height: u64) -> Vec<usize> {
    let mut st = conn
        .prepare(
            "SELECT position FROM transactions WHERE block_height = ?1 AND kind = 'ballot' \
             ORDER BY position",
        )
        .unwrap();
    st.query_map([height as i64], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|p| p.unwrap() as usize)
        .collect()
}

fn first_block_with_txs(conn: &Connection) -> u64 {
    conn.query_row(
        "SELECT MIN(block_height) FROM transactions WHERE kind = 'ballot'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

fn resign(
    stx: &SignedTx,
    key: &NodeKey,
    f: impl FnOnce(&mut evote_core::ledger::BallotTx),
) -> SignedTx {
    let Transaction::Ballot(mut t) = stx.tx.clone() else {
        panic!("not a ballot: {stx:?}")
    };
    f(&mut t);
    SignedTx::sign(Transaction::Ballot(t), key).unwrap()
}

fn ballot_mut(stx: &mut SignedTx) -> &mut evote_core::ledger::BallotTx {
    match &mut stx.tx {
        Transaction::Ballot(t) => t,
        other => panic!("not a ballot: {other:?}"),
    }
}

/// A ballot whose first two candidates' ciphertexts are swapped: a vote
/// moved from one candidate to another, the proofs left as they were.
fn swap_candidates(t: &mut evote_core::ledger::BallotTx) {
    let (first, rest) = t.ballot.selections.split_at_mut(1);
    std::mem::swap(&mut first[0].ciphertext, &mut rest[0].ciphertext);
}

/// (height, position) of the decryption share transactions, in chain order.
fn share_positions(conn: &Connection) -> Vec<(u64, usize)> {
    conn.prepare(
        "SELECT block_height, position FROM transactions WHERE kind = 'decryption_share' \
         ORDER BY block_height, position",
    )
    .unwrap()
    .query_map([], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as usize))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn the_auditor_verifies_a_testnet_and_catches_every_tampering() {
    let started = Instant::now();
    // The election is open for ten minutes: the 150 votes take about 15 s
    // to register and commit on a busy 2-core machine, and four times that
    // on a slow one. The test does not wait for the close: once the votes
    // are in, the nodes' clocks move past it.
    let c = Cluster::create_with_election(3, 1, Timing::default(), Some(Duration::from_secs(600)));
    c.start_all();
    let genesis = c.net_dir().join("genesis.json");
    let urls: Vec<&str> = (0..4).map(|i| c.url(i)).collect();
    let all_nodes = urls.join(",");

    // A few hundred ballots' worth of election: 150 voters at every node.
    eprintln!("{:?} cluster up", started.elapsed());
    let ballots = voters(&c, &[0, 1, 2, 3], 150, "audit");
    eprintln!("{:?} voters registered", started.elapsed());
    let txs: Vec<(usize, String)> = ballots
        .iter()
        .enumerate()
        .map(|(k, (i, t))| (*i, c.vote(*i, t, 1 + k as u64 % 3)))
        .collect();
    for (i, tx) in &txs {
        wait_until("every vote to commit", Duration::from_secs(60), || {
            matches!(c.tx_status(*i, tx).as_str(), "confirmed" | "finalized")
        });
    }
    c.wait_agree(1, Duration::from_secs(30));
    eprintln!("{:?} votes committed", started.elapsed());
    assert!(
        c.now_ms() < c.closes_at(),
        "the votes came before the close"
    );

    // Before the close the tally is pending, and the auditor says so.
    let pending = audit(
        &c,
        &["verify", "--json", "--nodes", &all_nodes],
        &[("--genesis", &genesis)],
    );
    assert_eq!(pending.code, 0, "{}", pending.stdout);
    let rep = pending.report();
    assert_eq!(check(&rep, "tally.matches")["verdict"], "SKIP");
    assert!(
        check(&rep, "tally.matches")["reason"]
            .as_str()
            .unwrap()
            .contains("tally pending")
    );
    assert_eq!(check(&rep, "tally.encrypted_totals")["verdict"], "PASS");

    // Past the close without waiting for it: every node restarts with its
    // clock (a test build's) beyond the close, and the auditor's clock with
    // them. After the close (a block stamped after it), two of the three
    // trustees decrypt.
    c.pass_close(Duration::from_secs(5));
    eprintln!("{:?} restarted past the close", started.elapsed());
    wait_until("the election to close", Duration::from_secs(60), || {
        c.get(0, "/api/tally/1").1["closed"] == true
    });
    c.decrypt(1, 0);
    c.decrypt(2, 1);
    wait_until("every node to decrypt", Duration::from_secs(60), || {
        (0..4).all(|i| {
            c.get(i, "/api/votes/results?election_id=1").1["tally"]["status"] == "decrypted"
        })
    });
    c.wait_agree(1, Duration::from_secs(30));
    eprintln!("{:?} tally decrypted", started.elapsed());

    // 1. The live network verifies, and the report reads at a glance.
    let dir = tempfile::tempdir().unwrap();
    let text = audit(
        &c,
        &["verify", "--no-progress", "--nodes", &all_nodes],
        &[("--genesis", &genesis)],
    );
    assert_eq!(text.code, 0, "{}", text.stdout);
    for s in [
        "validator-1",
        "station-1",
        "chain.agreement",
        "tally.matches",
        "VERIFIED",
    ] {
        assert!(
            text.stdout.contains(s),
            "the report lacks {s:?}:\n{}",
            text.stdout
        );
    }
    let live = audit(
        &c,
        &["verify", "--json", "--nodes", &all_nodes],
        &[("--genesis", &genesis)],
    );
    assert_eq!(live.code, 0, "{}", live.stdout);
    let rep = live.report();
    assert_eq!(rep["outcome"], "verified");
    for c in rep["checks"].as_array().unwrap() {
        match c["verdict"].as_str().unwrap() {
            "PASS" => {}
            "SKIP" => assert!(
                [
                    "source.integrity",
                    "baseline.append_only",
                    "fallback.chain",
                    "fallback.reconciled"
                ]
                .contains(&c["id"].as_str().unwrap()),
                "{c:#}"
            ),
            _ => panic!("{c:#}"),
        }
    }
    let tally = &rep["tallies"][0]["elections"][0];
    assert_eq!(tally["total"], 150);
    assert_eq!(tally["status"], "decrypted");
    assert_eq!(tally["trustees"], json!([1, 2]));
    for k in 0..3 {
        assert_eq!(tally["candidates"][k]["votes"], 50);
    }
    let baseline = dir.path().join("baseline.json");
    std::fs::write(&baseline, &live.stdout).unwrap();
    let v3_base = rep["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "validator-3")
        .unwrap()["height"]
        .as_u64()
        .unwrap();

    // An unreachable node is named; the others are still audited.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let r = audit(
        &c,
        &[
            "verify",
            "--json",
            "--nodes",
            &format!("{},{dead_url}", urls[0]),
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
    let rep = r.report();
    assert_eq!(rep["sources"][0]["status"], "audited");
    assert_eq!(rep["sources"][1]["status"], "unreachable");
    assert!(
        rep["sources"][1]["error"]
            .as_str()
            .unwrap()
            .contains(&dead_url[7..])
    );

    // A node of another election (its own genesis) among them is named.
    let other = Cluster::create(1, 0, Timing::default());
    other.start_all();
    let r = audit(
        &c,
        &[
            "verify",
            "--json",
            "--nodes",
            &format!("{},{}", urls[0], other.url(0)),
        ],
        &[("--genesis", &genesis)],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let rep = r.report();
    let f = failed(&rep, "genesis.same");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["source"], "validator-1 #2");
    let theirs = other.get(0, "/p2p/status").1["genesis_hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(f[0]["found"].as_str().unwrap().contains(&theirs), "{f:#?}");
    drop(other);

    eprintln!("{:?} live audits done", started.elapsed());
    // 2. The files: stop every node and take their databases.
    for i in 0..4 {
        c.kill(i);
    }
    let pristine: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("validator-{}.sqlite3", i + 1));
            snapshot(&c, i, &p);
            p
        })
        .collect();
    let r = audit(
        &c,
        &["verify", "--json"],
        &[
            ("--db", &pristine[0]),
            ("--db", &pristine[1]),
            ("--db", &pristine[2]),
            ("--genesis", &genesis),
            ("--baseline", &baseline),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        check(&r.report(), "baseline.append_only")["verdict"],
        "PASS"
    );
    // A killed node's own file, with its write-ahead log, reads the same.
    let r = audit(&c, &["verify", "--json"], &[("--db", &db_path(&c, 0))]);
    assert_eq!(r.code, 0, "{}", r.stdout);

    let keys = Keys::load(&c);
    let conn0 = Connection::open(&pristine[0]).unwrap();
    let full = block_with_txs(&conn0, 2);
    let early = first_block_with_txs(&conn0);
    assert!(early < full, "ballots in at least two blocks");
    // Where the ballots are (check-ins come first in a block).
    let (p0, p1) = match ballot_positions(&conn0, full)[..] {
        [a, b, ..] => (a, b),
        _ => unreachable!("a block with two ballots"),
    };
    let e0 = ballot_positions(&conn0, early)[0];
    drop(conn0);

    // Audits a tampered copy of validator-1's file.
    let mut n = 0;
    let mut tamper = |what: &str, edit: &dyn Fn(&Connection)| -> Value {
        n += 1;
        let copy = dir.path().join(format!("tampered-{n}.sqlite3"));
        std::fs::copy(&pristine[0], &copy).unwrap();
        {
            let conn = Connection::open(&copy).unwrap();
            edit(&conn);
        }
        let r = audit(
            &c,
            &["verify", "--json"],
            &[("--db", &copy), ("--genesis", &genesis)],
        );
        assert_eq!(r.code, 1, "{what}: {}", r.stdout);
        r.report()
    };

    // A changed ballot: two candidates' ciphertexts swapped in the stored
    // body. The origin's signature no longer covers it (rule 18d comes
    // before the ballot hash).
    let rep = tamper("changed ballot", &|conn| {
        let mut b = load_block(conn, full);
        swap_candidates(ballot_mut(&mut b.transactions[p1]));
        store_block(conn, &b);
    });
    let f = &failed(&rep, "tx.signature")[0];
    assert_eq!(
        (f["height"].as_u64(), f["position"].as_u64()),
        (Some(full), Some(p1 as u64))
    );
    assert!(f["tx"].as_str().unwrap().starts_with("0x"));
    assert_eq!(failed(&rep, "block.tx_root")[0]["height"], full);

    // The same, by someone holding every validator key but not the
    // origin's: everything re-signed except the ballot itself.
    let rep = tamper("changed and re-sealed ballot", &|conn| {
        rewrite_from(conn, &keys, full, |b| {
            let t = ballot_mut(&mut b.transactions[p1]);
            swap_candidates(t);
            t.ballot_hash = evote_core::ledger::hash_of(&t.ballot).unwrap();
        });
    });
    let f = failed(&rep, "tx.signature");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0]["height"].as_u64(), f[0]["position"].as_u64()),
        (Some(full), Some(p1 as u64))
    );
    assert_eq!(f[0]["detail"], "transaction");

    // The same by someone who also holds the origin appliance's key, but
    // not the voter's credential: the credential's signature no longer
    // covers the ballot (and its proofs no longer match its ciphertexts).
    // The tally after it changed, so the trustees' shares no longer verify
    // against it either.
    let rep = tamper("changed ballot re-signed by its origin", &|conn| {
        rewrite_from(conn, &keys, full, |b| {
            let origin = *b.transactions[p1].tx.origin();
            b.transactions[p1] = resign(&b.transactions[p1], keys.get(&origin), |t| {
                swap_candidates(t);
                t.ballot_hash = evote_core::ledger::hash_of(&t.ballot).unwrap();
            });
        });
    });
    let f = failed(&rep, "tx.credential");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0]["height"].as_u64(), f[0]["position"].as_u64()),
        (Some(full), Some(p1 as u64))
    );
    assert_eq!(f[0]["detail"], "credential", "{f:#?}");
    assert!(!failed(&rep, "tx.decryption_share").is_empty());
    assert_eq!(check(&rep, "tx.signature")["verdict"], "PASS");

    // A valid ballot moved to another appliance of the genesis, which signs
    // it: its proofs are bound to the appliance that accepted it.
    let rep = tamper("ballot moved to another appliance", &|conn| {
        rewrite_from(conn, &keys, full, |b| {
            let origin = *b.transactions[p0].tx.origin();
            let other = *keys.by_pub.keys().find(|k| **k != origin).unwrap();
            b.transactions[p0] =
                resign(&b.transactions[p0], keys.get(&other), |t| t.origin = other);
        });
    });
    let f = failed(&rep, "tx.ballot_proofs");
    assert_eq!(
        (f.len(), f[0]["height"].as_u64(), f[0]["position"].as_u64()),
        (1, Some(full), Some(p0 as u64))
    );

    // A removed transaction.
    let rep = tamper("removed transaction", &|conn| {
        conn.execute(
            "DELETE FROM transactions WHERE block_height = ?1 AND position = 0",
            [full as i64],
        )
        .unwrap();
    });
    let f = &failed(&rep, "block.tx_count")[0];
    assert_eq!(
        (f["height"].as_u64(), f["code"].as_str()),
        (Some(full), Some("tx_count_mismatch"))
    );

    // A changed block timestamp.
    let rep = tamper("changed timestamp", &|conn| {
        let mut b = load_block(conn, early);
        b.header.timestamp_ms += 1;
        store_block(conn, &b);
    });
    let f = &failed(&rep, "block.hash")[0];
    assert_eq!(
        (f["height"].as_u64(), f["detail"].as_str()),
        (Some(early), Some("block"))
    );

    // A proposer signature made by a key that is not a validator's.
    let rep = tamper("outsider's proposer signature", &|conn| {
        let mut b = load_block(conn, early);
        let proposal = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
        b.proposer_signature = keys.outsider.sign(&proposal).unwrap();
        store_block(conn, &b);
    });
    let f = failed(&rep, "block.proposer_signature");
    assert_eq!((f.len(), f[0]["height"].as_u64()), (1, Some(early)));

    // Commit seals below the quorum.
    let rep = tamper("missing seal", &|conn| {
        let mut b = load_block(conn, early);
        b.seals.truncate(1);
        store_block(conn, &b);
    });
    let f = failed(&rep, "block.seals");
    assert_eq!(
        (f[0]["code"].as_str(), f[0]["height"].as_u64()),
        (Some("too_few_seals"), Some(early))
    );

    // One validator's seal twice.
    let rep = tamper("duplicated seal", &|conn| {
        let mut b = load_block(conn, early);
        b.seals.truncate(2);
        let again = b.seals[0].clone();
        b.seals.push(again);
        store_block(conn, &b);
    });
    let f = failed(&rep, "block.seals");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["code"], "duplicate_seal");

    // A seal over a different block (the validator's real signature, over
    // another block of the chain).
    let rep = tamper("seal over another block", &|conn| {
        let mut b = load_block(conn, early);
        let other = load_block(conn, full);
        let v = b.seals[1].validator;
        b.seals[1] = other.seal(keys.get(&v)).unwrap();
        store_block(conn, &b);
    });
    // (With only Q seals stored, the block is also below quorum without it.)
    let f = failed(&rep, "block.seals");
    assert_eq!(
        (f[0]["code"].as_str(), f[0]["height"].as_u64()),
        (Some("bad_seal"), Some(early))
    );
    assert!(
        f.iter()
            .all(|f| f["code"] == "bad_seal" || f["code"] == "too_few_seals")
    );

    // Two ballots with one nullifier: an early voter's ballot again,
    // accepted a millisecond later and signed by its origin, sealed in by
    // the validators. (Its proofs are valid: same voter, same appliance.)
    let rep = tamper("double vote", &|conn| {
        let first = load_block(conn, early).transactions[e0].clone();
        let origin = *first.tx.origin();
        let twin = resign(&first, keys.get(&origin), |t| t.submitted_at_ms += 1);
        rewrite_from(conn, &keys, full, |b| b.transactions.push(twin));
    });
    let f = failed(&rep, "tx.nullifier_unique");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["height"].as_u64(), Some(full));
    assert!(
        f[0]["found"]
            .as_str()
            .unwrap()
            .contains(&format!("height {early}"))
    );
    assert_pass(
        &rep,
        "block.hash block.seals tx.signature tx.ballot_proofs block.prev_hash",
    );

    // A ballot signed by an appliance that is not in the genesis.
    let rep = tamper("outsider's ballot", &|conn| {
        rewrite_from(conn, &keys, full, |b| {
            let outsider = keys.outsider.public();
            b.transactions[p0] =
                resign(&b.transactions[p0], &keys.outsider, |t| t.origin = outsider);
        });
    });
    let f = failed(&rep, "tx.origin");
    assert_eq!((f.len(), f[0]["height"].as_u64()), (1, Some(full)));
    assert!(
        f[0]["found"]
            .as_str()
            .unwrap()
            .contains("not in the genesis")
    );

    // A trustee's decryption share with one partial decryption changed,
    // re-signed by the appliance that carried it and re-sealed.
    let conn0 = Connection::open(&pristine[0]).unwrap();
    let shares = share_positions(&conn0);
    drop(conn0);
    assert_eq!(shares.len(), 2, "{shares:?}");
    let (sh, sp) = shares[1];
    let rep = tamper("changed tally share", &|conn| {
        rewrite_from(conn, &keys, sh, |b| {
            let stx = &b.transactions[sp];
            let mut tx = stx.tx.clone();
            if let Transaction::DecryptionShare(d) = &mut tx {
                d.share.shares[0].d = d.share.shares[1].d;
            }
            b.transactions[sp] = SignedTx::sign(tx, keys.get(stx.tx.origin())).unwrap();
        });
    });
    let f = failed(&rep, "tx.decryption_share");
    assert_eq!(
        (f.len(), f[0]["height"].as_u64(), f[0]["position"].as_u64()),
        (1, Some(sh), Some(sp as u64))
    );
    // One valid share is left: the counts the file's own tables still give
    // are not what its chain proves.
    let f = failed(&rep, "tally.matches");
    assert!(
        f[0]["message"].as_str().unwrap().contains("cannot produce"),
        "{f:#?}"
    );

    // The stored running tally (what the trustees are given to decrypt).
    let rep = tamper("changed running tally", &|conn| {
        let (h, state): (i64, String) = conn
            .query_row(
                "SELECT height, state FROM election_tallies ORDER BY height DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut v: Value = serde_json::from_str(&state).unwrap();
        v["aggregate"].as_array_mut().unwrap().swap(0, 1);
        conn.execute(
            "UPDATE election_tallies SET state = ?1 WHERE height = ?2",
            rusqlite::params![v.to_string(), h],
        )
        .unwrap();
    });
    assert!(!failed(&rep, "tally.encrypted_totals").is_empty());

    eprintln!("{:?} file tampering done", started.elapsed());
    // 3. Served by a restarted node: a fork. validator-3's chain is
    // rewritten from the head the baseline recorded for it, re-signed by
    // the validators (who thereby equivocate).
    let forked = dir.path().join("forked.sqlite3");
    std::fs::copy(&pristine[2], &forked).unwrap();
    {
        let conn = Connection::open(&forked).unwrap();
        // One millisecond later, or earlier, whichever keeps the
        // timestamps in order: another block, same everything else.
        let at = load_block(&conn, v3_base).header.timestamp_ms;
        let next =
            (v3_base < head(&conn)).then(|| load_block(&conn, v3_base + 1).header.timestamp_ms);
        let delta: i64 = if next.is_none_or(|n| n > at) { 1 } else { -1 };
        rewrite_from(&conn, &keys, v3_base, |b| {
            b.header.timestamp_ms = (b.header.timestamp_ms as i64 + delta) as u64;
        });
    }
    install(&c, 2, &forked);
    c.start(2);
    c.wait_up(2);
    let r = audit(
        &c,
        &["verify", "--json", "--nodes", urls[2]],
        &[
            ("--db", &pristine[0]),
            ("--db", &pristine[1]),
            ("--genesis", &genesis),
            ("--baseline", &baseline),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let rep = r.report();
    let f = failed(&rep, "chain.agreement");
    assert_eq!((f.len(), f[0]["source"].as_str()), (1, Some("validator-3")));
    assert_eq!(f[0]["height"], v3_base);
    assert_eq!(rep["sources"][0]["diverges_at"], v3_base);
    assert!(!failed(&rep, "consensus.no_equivocation").is_empty());
    let f = failed(&rep, "baseline.append_only");
    assert!(
        f.iter()
            .all(|f| f["source"] == "validator-3" && f["code"] == "history_changed")
            && f.iter().any(|f| f["height"] == v3_base),
        "{f:#?}"
    );
    // Each chain on its own is sound: the fork is only visible by comparing.
    assert_pass(&rep, "block.hash block.seals block.prev_hash tx.signature");
    c.kill(2);

    // 4. Served by a restarted node: results that do not match its chain
    // (the column its total_votes comes from was edited, the bodies were not).
    let lying = dir.path().join("lying.sqlite3");
    std::fs::copy(&pristine[1], &lying).unwrap();
    {
        let conn = Connection::open(&lying).unwrap();
        let changed = conn
            .execute(
                "UPDATE transactions SET election_id = 7 WHERE rowid IN \
                 (SELECT rowid FROM transactions WHERE kind = 'ballot' LIMIT 3)",
                [],
            )
            .unwrap();
        assert_eq!(changed, 3);
    }
    install(&c, 1, &lying);
    c.start(1);
    c.wait_up(1);
    let (_, results) = c.get(1, "/api/votes/results?election_id=1");
    assert_eq!(results["verification"]["chain_valid"], true, "{results}");
    assert_eq!(results["total_votes"], 147, "{results}");
    let r = audit(
        &c,
        &["verify", "--json", "--nodes", urls[1]],
        &[("--genesis", &genesis)],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    let rep = r.report();
    let f = failed(&rep, "tally.matches");
    assert_eq!(f[0]["source"], "validator-2");
    assert!(
        f[0]["message"].as_str().unwrap().contains("total"),
        "{f:#?}"
    );
    assert_eq!(f[0]["found"], "total_votes 147 reported");
    assert_pass(
        &rep,
        "block.hash tx.signature tx.ballot_proofs tx.decryption_share tally.decryption block.tx_root",
    );
    // The same file read directly: the auditor compares with what an
    // appliance serving it would report.
    let r = audit(&c, &["verify", "--json"], &[("--db", &lying)]);
    assert_eq!(r.code, 1);
    assert!(!failed(&r.report(), "tally.matches").is_empty());
    // And `tally` recomputes the honest result from the chain.
    let r = audit(&c, &["tally", "--json", "--nodes", urls[1]], &[]);
    let t = r.report();
    assert_eq!(
        t["tallies"][0]["elections"][0]["candidates"][0]["votes"],
        json!(50)
    );
    assert_eq!(r.code, 1);
    c.kill(1);

    eprintln!("audit_e2e took {:?}", started.elapsed());
}
