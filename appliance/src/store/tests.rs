use super::codes::next_code;
use super::migrate::SCHEMA_VERSION;
use super::*;
use crate::ledger::genesis::fixtures::genesis;
use crate::ledger::tx::fixtures::ballot;
use crate::ledger::validate::fixtures::committed_block;
use crate::ledger::{Block, Genesis};

fn fresh() -> (tempfile::TempDir, Store, Genesis) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join(DB_FILE)).unwrap();
    let g = genesis(1);
    s.init_genesis(&g).unwrap();
    (dir, s, g)
}

fn next_block(s: &Store, g: &Genesis, txs: Vec<crate::ledger::SignedTx>) -> Block {
    committed_block(g, &s.head().unwrap().as_parent(), txs)
}

#[test]
fn migrates_an_empty_database_and_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.integrity_check(true).unwrap(), vec!["ok".to_string()]);
    let mode: String = s
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let log_pages: u32 = s
        .conn
        .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
        .unwrap();
    assert_eq!(log_pages, WAL_AUTOCHECKPOINT_PAGES);
    drop(s);
    // Migrating twice is a no-op.
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let fk: i64 = s
        .conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    // The ballot count comes from the nullifier index; no index by kind.
    let plan: String = s
        .conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT COUNT(nullifier) FROM transactions WHERE election_id = 1",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("COVERING INDEX"), "{plan}");
    let by_kind = count(
        &s.conn,
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'transactions_by_election'",
        [],
    )
    .unwrap();
    assert_eq!(by_kind, 0);
}

fn page_size(s: &Store) -> u32 {
    s.conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_database_gets_large_pages_and_an_old_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1);
    let tx = ballot(&g, 1, 1, 1);
    let new = Store::open(&dir.path().join("new.sqlite3")).unwrap();
    assert_eq!(page_size(&new), PAGE_SIZE);

    let old_path = dir.path().join("old.sqlite3");
    {
        let c = rusqlite::Connection::open(&old_path).unwrap();
        c.execute_batch("PRAGMA page_size = 4096; CREATE TABLE t (x INTEGER); DROP TABLE t;")
            .unwrap();
    }
    let mut old = Store::open(&old_path).unwrap();
    assert_eq!(page_size(&old), 4096);
    old.init_genesis(&g).unwrap();
    let block = committed_block(&g, &old.head().unwrap().as_parent(), vec![tx]);
    old.append_block(&block, 1).unwrap();
    drop(old);
    let old = Store::open(&old_path).unwrap();
    assert_eq!(page_size(&old), 4096);
    assert_eq!(old.head().unwrap().height, 1);
    assert_eq!(old.integrity_check(true).unwrap(), vec!["ok".to_string()]);
}

#[test]
fn refuses_a_newer_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 999;")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).err().expect("newer schema refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 999, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join(format!("{DB_FILE}-wal")).exists());
}

#[test]
fn refuses_another_chains_genesis() {
    let (_dir, mut s, g) = fresh();
    assert_eq!(s.init_genesis(&g).unwrap(), g.chain_id().unwrap());
    let other = genesis(3);
    assert!(matches!(
        s.init_genesis(&other),
        Err(StoreError::GenesisMismatch { .. })
    ));
}

#[test]
fn head_starts_at_genesis_and_follows_blocks() {
    let (_dir, mut s, g) = fresh();
    let head = s.head().unwrap();
    assert_eq!((head.height, head.hash), (0, g.chain_id().unwrap()));
    let b1 = next_block(&s, &g, vec![ballot(&g, 1, 1, 1), ballot(&g, 100, 2, 2)]);
    s.append_block(&b1, 10).unwrap();
    let b2 = next_block(&s, &g, vec![]);
    s.append_block(&b2, 11).unwrap();
    assert_eq!(s.head().unwrap().hash, b2.block_hash);
    assert_eq!(s.block(1).unwrap().unwrap(), b1);
    assert_eq!(s.block_by_hash(&b2.block_hash).unwrap().unwrap(), b2);
    assert_eq!(s.blocks_range(1, 10).unwrap(), vec![b1.clone(), b2]);
    assert_eq!(s.blocks_range(2, 0).unwrap(), vec![]);
    assert!(s.block(3).unwrap().is_none());
    let t = &b1.transactions[1];
    let (stx, loc) = s.committed_tx(&t.hash().unwrap()).unwrap().unwrap();
    assert_eq!((&stx, loc.height, loc.position), (t, 1, 1));
    // the running encrypted tally moved with the block
    let t = s.tally_at(1, 1).unwrap().unwrap();
    assert_eq!((t.height, t.ballot_count, t.aggregate.len()), (1, 2, 3));
    assert_eq!(
        s.tally_at(1, 2).unwrap().unwrap().height,
        1,
        "block 2 had no ballots"
    );
    assert!(s.tally_at(1, 0).unwrap().is_none());
    assert_eq!(s.ballot_count(1).unwrap(), 2);
    // a block that does not extend the head
    assert!(matches!(
        s.append_block(&b1, 12),
        Err(StoreError::NotNextBlock { .. })
    ));
}

#[test]
fn the_first_block_stamped_from_a_time_is_found_below_the_head() {
    let (_dir, mut s, g) = fresh();
    let mut stamps = vec![g.created_at_ms];
    for i in 0..6 {
        let b = next_block(&s, &g, vec![]);
        stamps.push(b.header.timestamp_ms);
        s.append_block(&b, 10 + i).unwrap();
    }
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    for (h, &t) in stamps.iter().enumerate() {
        let h = h as u64;
        assert_eq!(s.first_block_stamped_from(t, 6).unwrap(), Some(h));
        let next = (h < 6).then_some(h + 1);
        assert_eq!(s.first_block_stamped_from(t + 1, 6).unwrap(), next);
        // Only blocks at or below the head given are looked at.
        assert_eq!(
            s.first_block_stamped_from(t, 3).unwrap(),
            (h <= 3).then_some(h)
        );
    }
    assert_eq!(s.first_block_stamped_from(0, 6).unwrap(), Some(0));
}

#[test]
fn a_block_commits_with_all_its_transactions_or_not_at_all() {
    let (_dir, mut s, g) = fresh();
    let t1 = ballot(&g, 1, 1, 1);
    let b1 = next_block(&s, &g, vec![t1.clone()]);
    s.append_block(&b1, 10).unwrap();
    // A second block repeating t1's nullifier breaks a UNIQUE constraint on
    // its second transaction: neither the block nor its first tx may remain.
    let t2 = ballot(&g, 1, 2, 1);
    s.mempool_insert(&t2, &t2.hash().unwrap(), None, 1).unwrap();
    let twin = ballot(&g, 100, 1, 3);
    let bad = next_block(&s, &g, vec![t2.clone(), twin]);
    assert!(s.append_block(&bad, 11).is_err());
    assert_eq!(s.head().unwrap().height, 1);
    assert!(s.committed_tx(&t2.hash().unwrap()).unwrap().is_none());
    assert!(s.mempool_contains(&t2.hash().unwrap()).unwrap());
}

#[test]
fn mempool_is_unique_by_hash_and_nullifier_and_loses_committed_txs() {
    let (_dir, mut s, g) = fresh();
    let t1 = ballot(&g, 1, 1, 1);
    let h1 = t1.hash().unwrap();
    assert_eq!(
        s.mempool_insert(&t1, &h1, None, 1).unwrap(),
        MempoolInsert::Inserted
    );
    assert_eq!(
        s.mempool_insert(&t1, &h1, None, 1).unwrap(),
        MempoolInsert::AlreadyPending
    );
    let twin = ballot(&g, 100, 1, 2);
    assert_eq!(
        s.mempool_insert(&twin, &twin.hash().unwrap(), None, 1)
            .unwrap(),
        MempoolInsert::NullifierPending(h1)
    );
    let t2 = ballot(&g, 1, 2, 2);
    s.mempool_insert(&t2, &t2.hash().unwrap(), None, 2).unwrap();
    let taken = s.mempool_take(10).unwrap();
    assert_eq!(
        taken.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        vec![h1, t2.hash().unwrap()]
    );
    assert_eq!(s.mempool_take(1).unwrap().len(), 1);
    // Looked up by hash, in the order asked, whole.
    let h2 = t2.hash().unwrap();
    let got = s.mempool_get(&[h2, twin.hash().unwrap(), h1]).unwrap();
    assert_eq!(got, vec![Some(t2.clone()), None, Some(t1.clone())]);

    let b = next_block(&s, &g, vec![t1.clone()]);
    s.append_block(&b, 3).unwrap();
    assert_eq!(s.mempool_len().unwrap(), 1);
    assert_eq!(s.mempool_get(&[h1]).unwrap(), vec![None]);
    assert_eq!(
        s.mempool_insert(&t1, &h1, None, 4).unwrap(),
        MempoolInsert::AlreadyCommitted
    );
    assert_eq!(
        s.mempool_insert(&twin, &twin.hash().unwrap(), None, 4)
            .unwrap(),
        MempoolInsert::NullifierCommitted(h1)
    );
}

/// The size the store keeps, checked against the rows themselves.
fn kept_size(s: &Store) -> u64 {
    let rows: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM mempool", [], |r| r.get(0))
        .unwrap();
    let kept = s.mempool_len().unwrap();
    assert_eq!(kept, rows as u64);
    kept
}

#[test]
fn the_mempool_size_follows_inserts_commits_removals_other_writers_and_a_reopen() {
    let (dir, mut s, g) = fresh();
    let txs: Vec<_> = (1..=4u8).map(|v| ballot(&g, 1, v, 1)).collect();
    for (i, t) in txs.iter().enumerate() {
        s.mempool_insert(t, &t.hash().unwrap(), None, 1).unwrap();
        assert_eq!(kept_size(&s), i as u64 + 1);
    }
    // Refused offers change nothing.
    s.mempool_insert(&txs[0], &txs[0].hash().unwrap(), None, 1)
        .unwrap();
    assert_eq!(kept_size(&s), 4);
    let b = next_block(&s, &g, txs[..2].to_vec());
    s.append_block(&b, 2).unwrap();
    assert_eq!(kept_size(&s), 2);
    s.mempool_remove(&txs[2].hash().unwrap()).unwrap();
    assert_eq!(kept_size(&s), 1);
    // Another connection's write is seen.
    let mut other = Store::open(&dir.path().join(DB_FILE)).unwrap();
    let t = ballot(&g, 1, 9, 1);
    other
        .mempool_insert(&t, &t.hash().unwrap(), None, 3)
        .unwrap();
    assert_eq!(kept_size(&s), 2);
    other.mempool_remove(&t.hash().unwrap()).unwrap();
    assert_eq!(kept_size(&s), 1);
    drop(s);
    let s = Store::open(&dir.path().join(DB_FILE)).unwrap();
    assert_eq!(kept_size(&s), 1);
}

#[test]
fn committing_a_block_drops_pending_transactions_with_the_same_nullifier() {
    let (_dir, mut s, g) = fresh();
    let local = ballot(&g, 1, 1, 1);
    s.mempool_insert(&local, &local.hash().unwrap(), None, 1)
        .unwrap();
    let remote = ballot(&g, 100, 1, 2); // same voter, accepted elsewhere
    let b = next_block(&s, &g, vec![remote]);
    s.append_block(&b, 2).unwrap();
    assert_eq!(s.mempool_len().unwrap(), 0);
    let (code, _) = s.rejection(&local.hash().unwrap()).unwrap().unwrap();
    assert_eq!(code, "duplicate_nullifier");
}

#[test]
fn a_batch_of_submissions_counts_each_outcome() {
    let (_dir, mut s, g) = fresh();
    let a = ballot(&g, 1, 1, 1);
    let twin = ballot(&g, 100, 1, 2);
    let b = ballot(&g, 1, 2, 2);
    let (ha, ht, hb) = (a.hash().unwrap(), twin.hash().unwrap(), b.hash().unwrap());
    let entries = [
        MempoolEntry {
            stx: &a,
            tx_hash: &ha,
            voter: None,
        },
        MempoolEntry {
            stx: &twin,
            tx_hash: &ht,
            voter: None,
        },
        MempoolEntry {
            stx: &b,
            tx_hash: &hb,
            voter: None,
        },
    ];
    let r: Vec<MempoolInsert> = s
        .mempool_insert_batch(&entries, 1, Durability::Now)
        .unwrap()
        .into_iter()
        .map(|o| o.outcome)
        .collect();
    assert_eq!(
        r,
        vec![
            MempoolInsert::Inserted,
            MempoolInsert::NullifierPending(ha),
            MempoolInsert::Inserted
        ]
    );
    assert_eq!(s.mempool_len().unwrap(), 2);
}

#[test]
fn gossip_batches_skip_the_fsync_and_leave_the_connection_syncing() {
    let (dir, mut s, g) = fresh();
    let sync = |s: &Store| -> i64 {
        s.conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    };
    assert_eq!(sync(&s), 2, "FULL");
    let a = ballot(&g, 1, 1, 1);
    let ha = a.hash().unwrap();
    let entries = [MempoolEntry {
        stx: &a,
        tx_hash: &ha,
        voter: None,
    }];
    let r = s
        .mempool_insert_batch(&entries, 1, Durability::WithNextSync)
        .unwrap();
    assert_eq!(r[0].outcome, MempoolInsert::Inserted);
    assert_eq!(sync(&s), 2, "back to FULL for the next write");
    drop(s);
    let s = Store::open(&dir.path().join(DB_FILE)).unwrap();
    assert!(s.mempool_contains(&ha).unwrap());
}

#[test]
fn voters_sessions_and_ballots() {
    let (_dir, mut s, g) = fresh();
    let nv = NewVoter {
        email: "a@example.org",
        name: "A",
        password_hash: &[1; 32],
        salt: &[2; 16],
        iterations: 100_000,
    };
    let id = s.create_voter(&nv, 1).unwrap().unwrap();
    assert_eq!(s.create_voter(&nv, 2).unwrap(), None);
    let v = s.voter_by_email("a@example.org").unwrap().unwrap();
    assert_eq!((v.id, v.iterations), (id, 100_000));
    assert!(s.voter_by_email("b@example.org").unwrap().is_none());

    let token = crate::ledger::Hash32([9; 32]);
    s.create_session(&token, id, 10, 20).unwrap();
    assert_eq!(s.session_voter(&token, 19).unwrap().unwrap().id, id);
    assert!(s.session_voter(&token, 20).unwrap().is_none());
    assert!(
        s.session_voter(&crate::ledger::Hash32([8; 32]), 15)
            .unwrap()
            .is_none()
    );

    let t = ballot(&g, 1, 1, 1);
    let h = t.hash().unwrap();
    assert_eq!(
        s.mempool_insert(&t, &h, Some(id), 1).unwrap(),
        MempoolInsert::Inserted
    );
    // A second ballot of the same credential (the voter's nullifier);
    // nothing links either ballot to the voter.
    let again = ballot(&g, 1, 1, 2);
    assert_eq!(
        s.mempool_insert(&again, &again.hash().unwrap(), Some(id), 2)
            .unwrap(),
        MempoolInsert::NullifierPending(h)
    );
}

/// A journal at `height` that locked `block` in round 0, proposed it and
/// sent a PREPARE and a COMMIT for it.
fn journal_with(block: &Block, height: u64) -> crate::consensus::Journal {
    use crate::consensus::{Journal, Locked, Message, Proposal, SignedVote};
    use crate::ledger::{Signature, Vote, VoteKind};
    let vote = |kind| SignedVote {
        vote: Vote::for_header(kind, &block.header, block.block_hash),
        sender: block.header.proposer,
        signature: Signature([7; 64]),
    };
    Journal {
        height,
        round: 0,
        locked: Some(Locked {
            round: 0,
            block: block.clone(),
            certificate: vec![vote(VoteKind::Prepare)],
        }),
        sent: vec![
            Message::Proposal(Proposal {
                block: block.clone(),
                justification: None,
            }),
            Message::Prepare(vote(VoteKind::Prepare)),
            Message::Commit(vote(VoteKind::Commit)),
        ],
    }
}

fn journal_blocks(s: &Store) -> Vec<(Vec<u8>, i64)> {
    s.conn
        .prepare("SELECT block_hash, height FROM consensus_blocks ORDER BY height, round")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<std::result::Result<_, _>>()
        .unwrap()
}

#[test]
fn the_journal_round_trips_with_each_block_stored_once() {
    let (_dir, mut s, g) = fresh();
    assert_eq!(s.load_consensus_state().unwrap(), None);
    let b1 = next_block(&s, &g, vec![ballot(&g, 1, 1, 1), ballot(&g, 1, 2, 2)]);
    let j1 = journal_with(&b1, 1);
    s.save_consensus_state(&j1).unwrap();
    s.save_consensus_state(&j1).unwrap();
    assert_eq!(s.load_consensus_state().unwrap(), Some(j1.clone()));
    // The block is in the locked slot and in the proposal: stored once,
    // and the journal row holds its hash, not its transactions.
    assert_eq!(journal_blocks(&s), vec![(b1.block_hash.0.to_vec(), 1)]);
    let row: String = s
        .conn
        .query_row("SELECT state FROM consensus_state", [], |r| r.get(0))
        .unwrap();
    assert!(
        row.contains(&b1.block_hash.to_hex()) && !row.contains("transactions"),
        "{row}"
    );

    // Re-proposed in round 1, the block keeps its hash but not its round
    // or proposer signature: both are stored and read back as they were.
    let mut again = b1.clone();
    again.header.round = 1;
    again.proposer_signature = crate::ledger::Signature([5; 64]);
    let mut j1b = j1.clone();
    j1b.round = 1;
    j1b.sent = vec![crate::consensus::Message::Proposal(
        crate::consensus::Proposal {
            block: again,
            justification: None,
        },
    )];
    s.save_consensus_state(&j1b).unwrap();
    assert_eq!(journal_blocks(&s).len(), 2);
    assert_eq!(s.load_consensus_state().unwrap(), Some(j1b));

    // The next height's journal: the old blocks go.
    s.append_block(&b1, 1).unwrap();
    let b2 = next_block(&s, &g, vec![ballot(&g, 1, 3, 3)]);
    let j2 = journal_with(&b2, 2);
    s.save_consensus_state(&j2).unwrap();
    assert_eq!(journal_blocks(&s), vec![(b2.block_hash.0.to_vec(), 2)]);
    assert_eq!(s.load_consensus_state().unwrap(), Some(j2));
}

#[test]
fn a_journal_with_its_blocks_inside_still_reads_and_a_missing_block_is_corrupt() {
    let (_dir, mut s, g) = fresh();
    let b1 = next_block(&s, &g, vec![ballot(&g, 1, 1, 1)]);
    let j1 = journal_with(&b1, 1);
    // As schema version 5 wrote it: the whole journal, blocks inside.
    s.conn
        .execute(
            "INSERT INTO consensus_state (id, height, round, state) VALUES (1, 1, 0, ?1)",
            [serde_json::to_string(&j1).unwrap()],
        )
        .unwrap();
    assert_eq!(s.load_consensus_state().unwrap(), Some(j1.clone()));

    s.save_consensus_state(&j1).unwrap();
    s.conn.execute("DELETE FROM consensus_blocks", []).unwrap();
    let err = s.load_consensus_state().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains(&b1.block_hash.to_hex()), "{err}");
}

#[test]
fn survives_reopening() {
    let (dir, mut s, g) = fresh();
    let b = next_block(&s, &g, vec![ballot(&g, 1, 1, 1)]);
    s.append_block(&b, 1).unwrap();
    drop(s);
    let s = Store::open(&dir.path().join(DB_FILE)).unwrap();
    assert_eq!(s.head().unwrap().hash, b.block_hash);
}

/// A database at `path` of schema `version` (its migrations only), with
/// `tables` copied from the current database at `from`, which stays
/// attached as `new`.
fn older_database(
    path: &std::path::Path,
    version: usize,
    from: &std::path::Path,
    tables: &[&str],
) -> rusqlite::Connection {
    let old = rusqlite::Connection::open(path).unwrap();
    for (_, sql) in &super::migrate::MIGRATIONS[..version] {
        old.execute_batch(sql).unwrap();
    }
    old.pragma_update(None, "user_version", version as i64)
        .unwrap();
    old.execute("ATTACH DATABASE ?1 AS new", [from.to_str().unwrap()])
        .unwrap();
    for table in tables {
        old.execute(
            &format!("INSERT INTO main.{table} SELECT * FROM new.{table}"),
            [],
        )
        .unwrap();
    }
    old
}

#[test]
fn ballots_are_stored_packed_and_json_bodies_of_version_3_still_read() {
    let (dir, mut s, g) = fresh();
    let b1 = next_block(&s, &g, vec![ballot(&g, 1, 1, 1), ballot(&g, 100, 2, 2)]);
    s.append_block(&b1, 1).unwrap();
    let kinds: Vec<String> = s
        .conn
        .prepare("SELECT typeof(body) FROM transactions ORDER BY position")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(kinds, ["blob", "blob"]);
    assert_eq!(s.block(1).unwrap().unwrap(), b1);

    // The same chain in a database of schema version 3, with JSON bodies.
    let old_path = dir.path().join("v3.sqlite3");
    {
        let tables = [
            "meta",
            "elections",
            "candidates",
            "blocks",
            "election_tallies",
        ];
        let old = older_database(&old_path, 3, &dir.path().join(DB_FILE), &tables);
        old.execute(
            "INSERT INTO main.transactions SELECT tx_hash, block_height, position, kind, \
             election_id, nullifier, origin, 'placeholder' FROM new.transactions",
            [],
        )
        .unwrap();
        for stx in &b1.transactions {
            old.execute(
                "UPDATE main.transactions SET body = ?1 WHERE tx_hash = ?2",
                rusqlite::params![
                    serde_json::to_string(stx).unwrap(),
                    stx.hash().unwrap().as_bytes()
                ],
            )
            .unwrap();
        }
    }
    let mut old = Store::open(&old_path).unwrap();
    assert_eq!(old.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(old.block(1).unwrap().unwrap(), b1);
    let tx = &b1.transactions[1];
    assert_eq!(
        old.committed_tx(&tx.hash().unwrap()).unwrap().unwrap().0,
        *tx
    );
    // Blocks committed after the upgrade are packed; both read back.
    let b2 = committed_block(
        &g,
        &old.head().unwrap().as_parent(),
        vec![ballot(&g, 2, 3, 3)],
    );
    old.append_block(&b2, 2).unwrap();
    assert_eq!(old.block(1).unwrap().unwrap(), b1);
    assert_eq!(old.block(2).unwrap().unwrap(), b2);
    assert_eq!(old.integrity_check(true).unwrap(), vec!["ok".to_string()]);
}

fn voter(s: &mut Store, email: &str) -> i64 {
    let nv = NewVoter {
        email,
        name: "V",
        password_hash: &[1; 32],
        salt: &[2; 16],
        iterations: 100_000,
    };
    s.create_voter(&nv, 1).unwrap().unwrap()
}

fn ballot_hash_of(stx: &crate::ledger::SignedTx) -> Hash32 {
    match &stx.tx {
        crate::ledger::Transaction::Ballot(b) => b.ballot_hash,
        _ => unreachable!("a ballot fixture"),
    }
}

#[test]
fn a_voters_new_ballot_gets_its_code_with_the_insert_chained_to_the_last_one() {
    let (_dir, mut s, g) = fresh();
    let (v1, v2) = (
        voter(&mut s, "a@example.org"),
        voter(&mut s, "b@example.org"),
    );
    let early = ToConfirm {
        tx_hash: Hash32([7; 32]),
        ballot_hash: Hash32([8; 32]),
        election_id: 1,
    };
    let first = s.issue_codes(&[early], 1).unwrap()[0];
    let (a, b, gossip) = (
        ballot(&g, 1, 1, 1),
        ballot(&g, 1, 2, 2),
        ballot(&g, 1, 3, 1),
    );
    let (ha, hb, hg) = (a.hash().unwrap(), b.hash().unwrap(), gossip.hash().unwrap());
    let twice = ballot(&g, 1, 1, 2); // a's credential again
    let ht = twice.hash().unwrap();
    let entries = [
        MempoolEntry {
            stx: &a,
            tx_hash: &ha,
            voter: Some(v1),
        },
        MempoolEntry {
            stx: &gossip,
            tx_hash: &hg,
            voter: None,
        },
        MempoolEntry {
            stx: &twice,
            tx_hash: &ht,
            voter: Some(v1),
        },
        MempoolEntry {
            stx: &b,
            tx_hash: &hb,
            voter: Some(v2),
        },
    ];
    let r = s
        .mempool_insert_batch(&entries, 5, Durability::Now)
        .unwrap();
    let outcomes: Vec<_> = r.iter().map(|o| o.outcome).collect();
    assert_eq!(
        outcomes,
        [
            MempoolInsert::Inserted,
            MempoolInsert::Inserted,
            MempoolInsert::NullifierPending(ha),
            MempoolInsert::Inserted
        ]
    );
    // Only the voters' new ballots get codes, chained in order after the
    // code issued before the batch.
    let code_a = next_code(&first, &ballot_hash_of(&a));
    let code_b = next_code(&code_a, &ballot_hash_of(&b));
    let codes: Vec<_> = r.iter().map(|o| o.code).collect();
    assert_eq!(codes, [Some(code_a), None, None, Some(code_b)]);
    assert_eq!(s.code_ballot(&code_a).unwrap(), Some((ha, 1, 5)));
    assert_eq!(s.code_ballot(&code_b).unwrap(), Some((hb, 1, 5)));
    // Issued again, a ballot keeps its code and the chain goes on from the
    // last code stored.
    let late = ToConfirm {
        tx_hash: Hash32([9; 32]),
        ballot_hash: Hash32([10; 32]),
        election_id: 1,
    };
    let again = ToConfirm {
        tx_hash: ha,
        ballot_hash: ballot_hash_of(&a),
        election_id: 1,
    };
    let out = s.issue_codes(&[again, late], 6).unwrap();
    assert_eq!(out, [code_a, next_code(&code_b, &Hash32([10; 32]))]);
}

#[test]
fn cached_statements_are_not_compiled_again_when_their_parameters_change() {
    let (_dir, mut s, _g) = fresh();
    let id = voter(&mut s, "a@example.org");
    s.create_session(&Hash32([7; 32]), id, 0, 100).unwrap();
    let sql = "SELECT v.id FROM sessions s JOIN voters v ON v.id = s.voter_id \
               WHERE s.token_hash = ?1 AND s.expires_at_ms > ?2";
    for now in 0..5i64 {
        let mut st = s.conn.prepare_cached(sql).unwrap();
        let _: Option<i64> = st
            .query_row(rusqlite::params![[7u8; 32].as_slice(), now], |r| r.get(0))
            .ok();
        assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}

#[test]
fn mempool_ballots_are_stored_packed_and_json_rows_of_version_6_still_read() {
    let (dir, mut s, g) = fresh();
    let (a, b) = (ballot(&g, 1, 1, 1), ballot(&g, 100, 2, 2));
    s.mempool_insert(&a, &a.hash().unwrap(), None, 1).unwrap();
    let kind: String = s
        .conn
        .query_row("SELECT typeof(body) FROM mempool", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind, "blob");

    // A database of schema version 6 holding a ballot as JSON text.
    let old_path = dir.path().join("v6.sqlite3");
    {
        let tables = ["meta", "elections", "candidates"];
        let old = older_database(&old_path, 6, &dir.path().join(DB_FILE), &tables);
        let (_, n) = b.tx.nullifier().unwrap();
        old.execute(
            "INSERT INTO main.mempool (tx_hash, election_id, nullifier, body, received_at_ms) \
             VALUES (?1, 1, ?2, ?3, 5)",
            rusqlite::params![
                b.hash().unwrap().as_bytes(),
                n.as_bytes(),
                serde_json::to_string(&b).unwrap()
            ],
        )
        .unwrap();
    }
    let mut old = Store::open(&old_path).unwrap();
    assert_eq!(old.schema_version().unwrap(), SCHEMA_VERSION);
    // The old JSON row and a new packed one read back alike, in order.
    old.mempool_insert(&a, &a.hash().unwrap(), None, 6).unwrap();
    let taken = old.mempool_take(10).unwrap();
    assert_eq!(
        taken,
        vec![
            (b.hash().unwrap(), b.clone()),
            (a.hash().unwrap(), a.clone())
        ]
    );
    assert_eq!(old.mempool_older_than(6, 10).unwrap(), vec![b]);
    assert_eq!(old.integrity_check(true).unwrap(), vec!["ok".to_string()]);
}

#[test]
fn a_write_waits_for_another_connections_lock_instead_of_failing() {
    let (dir, mut s, _g) = fresh();
    let path = dir.path().join(DB_FILE);
    let (held, release) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let holder = std::thread::spawn(move || {
        let other = Store::open(&path).unwrap();
        other.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        held.0.send(()).unwrap();
        release.1.recv().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        other.conn.execute_batch("COMMIT").unwrap();
    });
    held.1.recv().unwrap();
    release.0.send(()).unwrap();
    // Taken while the other connection still holds the write lock.
    assert_eq!(s.booth_pass_take(&Hash32([7; 32]), 1).unwrap(), None);
    holder.join().unwrap();
}

#[test]
fn a_write_that_waited_out_its_limit_is_busy_and_changes_nothing() {
    let (dir, s, g) = fresh();
    let mut other = Store::open(&dir.path().join(DB_FILE)).unwrap();
    other.set_lock_wait(Duration::from_millis(100)).unwrap();
    let block = next_block(&s, &g, vec![ballot(&g, 1, 1, 1)]);
    s.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = other.append_block(&block, 1).unwrap_err();
    assert!(e.is_busy(), "{e}");
    s.conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(other.head().unwrap().height, 0);
    other.append_block(&block, 1).unwrap();
    // Another failure is not a busy database.
    let e = other.append_block(&block, 1).unwrap_err();
    assert!(!e.is_busy(), "{e}");
}
