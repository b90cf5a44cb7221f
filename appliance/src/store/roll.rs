//! The voter rolls this appliance checks voters in against, its poll book
//! and the booth passes a check-in hands out (migrations 0011, 0012). The roll is
//! the election authority's signed file (`ledger::roll::RollFile`), checked
//! against the genesis before it is installed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store, StoreError, count, from_json, hash_from_blob, to_i64, to_json, to_u64};
use crate::ledger::merkle::{MerkleLevels, parent_level, path_from_levels};
use crate::ledger::roll::CheckedRoll;
use crate::ledger::{Hash32, PublicKey, SignedTx};

/// Hashes per `roll_nodes` row (migration 0012): a row fits in its page.
const NODES_PER_ROW: u64 = 64;
/// The tree's levels from this one up are kept in memory (`roll_tops`);
/// a proof's nodes below it lie in one row of leaves (2^6 = 64).
const TOP_LEVEL: usize = NODES_PER_ROW.trailing_zeros() as usize;

/// A voter of an installed roll, as a poll worker sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollVoter {
    pub position: u64,
    pub voter_id: String,
    pub name: String,
    pub district: Option<String>,
    pub station: Option<PublicKey>,
    /// The salted commitment the check-in record opens.
    pub voter: Hash32,
}

impl Store {
    /// Installs a checked roll; installing the same roll again changes
    /// nothing, another roll of the same election is refused.
    pub fn install_roll(&mut self, roll: &CheckedRoll, now_ms: u64) -> Result<bool> {
        let st = &roll.file.statement;
        let e = to_i64(st.election_id);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held: Option<Vec<u8>> = tx
            .query_row("SELECT root FROM rolls WHERE election_id = ?1", [e], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(root) = held {
            if hash_from_blob(root)? == st.root {
                return Ok(false);
            }
            return Err(StoreError::Corrupt(format!(
                "election {} already has another roll installed",
                st.election_id
            )));
        }
        tx.execute(
            "INSERT INTO rolls (election_id, size, root, imported_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![e, to_i64(st.size), st.root.as_bytes(), to_i64(now_ms)],
        )?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO roll_entries (election_id, position, voter_id, name, district, \
                 station, voter) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (i, (entry, voter)) in roll.file.entries.iter().zip(&roll.voters).enumerate() {
                ins.execute(params![
                    e,
                    i as i64,
                    entry.id,
                    entry.name,
                    entry.district,
                    entry.station.map(|s| s.0.to_vec()),
                    voter.as_bytes()
                ])?;
            }
            let levels = MerkleLevels::new(&roll.leaves);
            let mut nodes = tx.prepare(
                "INSERT INTO roll_nodes (election_id, level, chunk, hashes) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut level = 0;
            while !levels.level(level).is_empty() {
                for (c, chunk) in levels
                    .level(level)
                    .chunks(NODES_PER_ROW as usize)
                    .enumerate()
                {
                    let bytes: Vec<u8> = chunk.iter().flat_map(|h| h.0).collect();
                    nodes.execute(params![e, level as i64, c as i64, bytes])?;
                }
                level += 1;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    /// The installed roll of an election: (size, root).
    pub fn roll_commitment(&self, election_id: u64) -> Result<Option<(u64, Hash32)>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT size, root FROM rolls WHERE election_id = ?1")?
            .query_row([to_i64(election_id)], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(n, root)| Ok((to_u64(n)?, hash_from_blob(root)?)))
            .transpose()
    }

    /// The voter the roll knows by `voter_id`.
    pub fn roll_voter(&self, election_id: u64, voter_id: &str) -> Result<Option<RollVoter>> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<Vec<u8>>,
            Vec<u8>,
        );
        let row: Option<Row> = self
            .conn
            .prepare_cached(
                "SELECT position, voter_id, name, district, station, voter FROM roll_entries \
                 WHERE election_id = ?1 AND voter_id = ?2",
            )?
            .query_row(params![to_i64(election_id), voter_id], |r| r.try_into())
            .optional()?;
        row.map(|(position, voter_id, name, district, station, voter)| {
            Ok(RollVoter {
                position: to_u64(position)?,
                voter_id,
                name,
                district,
                station: station
                    .map(hash_from_blob)
                    .transpose()?
                    .map(|h| PublicKey(h.0)),
                voter: hash_from_blob(voter)?,
            })
        })
        .transpose()
    }

    /// The inclusion proof of roll entry `position` (PROTOCOL.md §5). The
    /// tree's levels from `TOP_LEVEL` up come from memory (`roll_tops`);
    /// the nodes below, from the row of leaf hashes around the entry (and
    /// the last row, at the tree's ragged right edge), hashed again: a row
    /// read per proof instead of one per level. Every other
    /// connection's write empties this connection's page cache, so under
    /// load each row read goes to the file.
    pub fn roll_path(&self, election_id: u64, position: u64) -> Result<Vec<Hash32>> {
        let (size, root) = self.roll_commitment(election_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!("election {election_id} has no roll installed"))
        })?;
        let tops = self.roll_tops(election_id, size, root)?;
        // The blocks of leaves whose subtrees the proof takes below the top.
        let wanted = RefCell::new(BTreeSet::new());
        let _ = path_from_levels(size, position, &|level, i| {
            if level < TOP_LEVEL {
                wanted.borrow_mut().insert((i << level) / NODES_PER_ROW);
            }
            Hash32::ZERO
        });
        let mut stmt = self.conn.prepare_cached(
            "SELECT hashes FROM roll_nodes WHERE election_id = ?1 AND level = 0 AND chunk = ?2",
        )?;
        let mut blocks = BTreeMap::new();
        for chunk in wanted.into_inner() {
            let row: Vec<u8> =
                stmt.query_row(params![to_i64(election_id), to_i64(chunk)], |r| r.get(0))?;
            blocks.insert(chunk, block_levels(&row)?);
        }
        let node = |level: usize, i: u64| match level.checked_sub(TOP_LEVEL) {
            Some(up) => tops[up][i as usize],
            None => {
                let first = i << level;
                blocks[&(first / NODES_PER_ROW)][level][((first % NODES_PER_ROW) >> level) as usize]
            }
        };
        path_from_levels(size, position, &node)
            .ok_or_else(|| StoreError::Corrupt(format!("no roll entry {position}")))
    }

    /// The levels of a roll's tree from `TOP_LEVEL` up, read once per
    /// process: a roll never changes once installed (its root names it),
    /// and these levels are small (a hash per 32 voters: 1 MiB for a
    /// million).
    fn roll_tops(&self, election_id: u64, size: u64, root: Hash32) -> Result<Arc<Levels>> {
        static TOPS: Mutex<BTreeMap<(u64, Hash32), Arc<Levels>>> = Mutex::new(BTreeMap::new());
        let key = (size, root);
        if let Some(t) = TOPS.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(t.clone());
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT level, hashes FROM roll_nodes WHERE election_id = ?1 AND level >= ?2 \
             ORDER BY level, chunk",
        )?;
        let rows = stmt.query_map(params![to_i64(election_id), TOP_LEVEL as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut levels: Levels = Vec::new();
        for row in rows {
            let (level, hashes) = row?;
            let up = usize::try_from(level)
                .ok()
                .and_then(|l| l.checked_sub(TOP_LEVEL))
                .ok_or_else(|| StoreError::Corrupt(format!("roll level {level}")))?;
            levels.resize_with(levels.len().max(up + 1), Vec::new);
            levels[up].extend(hashes_of(&hashes)?);
        }
        let tops = Arc::new(levels);
        TOPS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, tops.clone());
        Ok(tops)
    }

    /// Records this appliance's check-in of roll entry `position` and the
    /// booth pass it hands out (`pass`: its token's hash and expiry), in one
    /// write; `false`, and nothing written, if it checked that voter in
    /// already. The write is durable with the next synced commit
    /// (`with_next_sync`): the caller answers the poll worker only once the
    /// node has stored the record durably, which syncs it, and otherwise
    /// takes the check-in back (`poll_book_remove`).
    pub fn poll_book_insert(
        &mut self,
        election_id: u64,
        position: u64,
        record: (&SignedTx, &Hash32),
        at_ms: u64,
        pass: (&Hash32, u64),
    ) -> Result<bool> {
        self.with_next_sync(|s| s.poll_book_write(election_id, position, record, at_ms, pass))
    }

    fn poll_book_write(
        &mut self,
        election_id: u64,
        position: u64,
        (record, tx_hash): (&SignedTx, &Hash32),
        at_ms: u64,
        pass: (&Hash32, u64),
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO poll_book (election_id, position, checked_in_at_ms, \
                 tx_hash, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                to_i64(election_id),
                to_i64(position),
                to_i64(at_ms),
                tx_hash.as_bytes(),
                to_json(record)?
            ])?;
        if n == 1 {
            insert_pass(&tx, pass.0, election_id, pass.1)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Takes back a check-in this appliance could not hand to the node,
    /// with the booth pass it was to hand out.
    pub fn poll_book_remove(
        &mut self,
        election_id: u64,
        position: u64,
        pass_hash: &Hash32,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM poll_book WHERE election_id = ?1 AND position = ?2",
            params![to_i64(election_id), to_i64(position)],
        )?;
        tx.execute(
            "DELETE FROM booth_passes WHERE token_hash = ?1",
            [pass_hash.as_bytes()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Whether this appliance checked roll entry `position` in.
    pub fn poll_book_has(&self, election_id: u64, position: u64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM poll_book WHERE election_id = ?1 AND position = ?2")?
            .exists(params![to_i64(election_id), to_i64(position)])?)
    }

    /// How many voters of `election_id` this appliance checked in.
    pub fn poll_book_count(&self, election_id: u64) -> Result<u64> {
        count(
            &self.conn,
            "SELECT COUNT(*) FROM poll_book WHERE election_id = ?1",
            [to_i64(election_id)],
        )
    }

    /// Every check-in record this appliance made, in check-in order.
    pub fn poll_book_records(&self) -> Result<Vec<SignedTx>> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM poll_book ORDER BY checked_in_at_ms, position")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|b| from_json(&b?)).collect()
    }

    /// A one-time pass to the booth (one given back: its ballot was not
    /// accepted).
    pub fn booth_pass_create(
        &mut self,
        token_hash: &Hash32,
        election_id: u64,
        expires_at_ms: u64,
    ) -> Result<()> {
        insert_pass(&self.conn, token_hash, election_id, expires_at_ms)
    }

    /// Uses a pass up: (its election, its expiry), if it was valid at
    /// `now_ms`. Expired passes are dropped on the way, in the same write.
    /// The write is durable with the next synced commit
    /// (`with_next_sync`): a pass's ballot is accepted only by a durable
    /// write (the node's mempool, the fallback chain, the confirmation
    /// code), which syncs it, and a pass whose ballot was refused is given
    /// back, so a crash before then at most gives the voter the pass back.
    pub fn booth_pass_take(
        &mut self,
        token_hash: &Hash32,
        now_ms: u64,
    ) -> Result<Option<(u64, u64)>> {
        self.with_next_sync(|s| s.booth_pass_delete(token_hash, now_ms))
    }

    fn booth_pass_delete(
        &mut self,
        token_hash: &Hash32,
        now_ms: u64,
    ) -> Result<Option<(u64, u64)>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM booth_passes WHERE expires_at_ms <= ?1")?
            .execute([to_i64(now_ms)])?;
        let row: Option<(i64, i64)> = tx
            .prepare_cached(
                "DELETE FROM booth_passes WHERE token_hash = ?1 \
                 RETURNING election_id, expires_at_ms",
            )?
            .query_row([token_hash.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        tx.commit()?;
        row.map(|(e, x)| Ok((to_u64(e)?, to_u64(x)?))).transpose()
    }
}

/// Levels of hashes of a roll's tree, the lowest first.
type Levels = Vec<Vec<Hash32>>;

/// A row of hashes.
fn hashes_of(row: &[u8]) -> Result<Vec<Hash32>> {
    if !row.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt(
            "a roll_nodes row is not whole hashes".into(),
        ));
    }
    Ok(row
        .chunks_exact(32)
        .map(|h| Hash32(h.try_into().expect("32 bytes")))
        .collect())
}

/// A row of leaf hashes and the levels above it up to `TOP_LEVEL` (each
/// node over two of the level below; an odd last one has none).
fn block_levels(row: &[u8]) -> Result<Levels> {
    let mut levels = vec![hashes_of(row)?];
    while levels.len() < TOP_LEVEL {
        let next = parent_level(levels.last().expect("a level"));
        levels.push(next);
    }
    Ok(levels)
}

fn insert_pass(
    conn: &rusqlite::Connection,
    token_hash: &Hash32,
    election_id: u64,
    expires_at_ms: u64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO booth_passes (token_hash, election_id, expires_at_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        token_hash.as_bytes(),
        to_i64(election_id),
        to_i64(expires_at_ms)
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::merkle::verify_inclusion;
    use crate::ledger::roll::{RollEntry, RollFile};

    /// A roll of `n` test voters, signed by a test authority.
    fn test_roll(n: u32) -> CheckedRoll {
        let entries = (0..n)
            .map(|i| RollEntry {
                id: format!("V{i}"),
                name: format!("Voter {i}"),
                district: None,
                station: None,
                salt: crate::ledger::sha256(&i.to_be_bytes()),
            })
            .collect();
        RollFile::build(1, entries, &key(200)).unwrap()
    }

    /// Whether the store's proof of each of `positions` verifies.
    fn proofs_hold(s: &Store, roll: &CheckedRoll, positions: &[u64]) -> bool {
        let (size, root) = (roll.file.statement.size, roll.file.statement.root);
        positions.iter().all(|&p| {
            let path = s.roll_path(1, p).unwrap();
            verify_inclusion(&roll.leaves[p as usize], p, size, &path, &root)
        })
    }

    #[test]
    fn an_installed_roll_gives_each_voter_and_their_proof() {
        for n in [1u32, 2, 7, 64, 65, 1500, 2100, 4096, 5000] {
            let roll = test_roll(n);
            let mut s = Store::open_in_memory().unwrap();
            assert!(s.install_roll(&roll, 1).unwrap());
            assert!(!s.install_roll(&roll, 2).unwrap());
            for id in ["V0", &format!("V{}", n - 1), &format!("V{}", n / 2)] {
                let v = s.roll_voter(1, id).unwrap().unwrap();
                assert_eq!(v.voter, roll.voters[v.position as usize]);
            }
            let all: Vec<u64> = (0..u64::from(n)).collect();
            assert!(proofs_hold(&s, &roll, &all), "{n}");
            assert!(s.roll_voter(1, "nobody").unwrap().is_none());
        }
    }

    /// A roll installed by schema version 11 (1024 hashes a row) still
    /// proves every voter once version 12 has cut its rows to 64.
    #[test]
    fn a_roll_of_version_11_proves_its_voters_after_the_upgrade() {
        // A size no other test uses: the tree's top levels are kept per
        // process by root, and this test must read them from the new rows.
        let n = 4099u32;
        let roll = test_roll(n);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            for (_, sql) in &super::super::migrate::MIGRATIONS[..11] {
                old.execute_batch(sql).unwrap();
            }
            old.pragma_update(None, "user_version", 11).unwrap();
            let st = &roll.file.statement;
            old.execute(
                "INSERT INTO rolls (election_id, size, root, imported_at_ms) VALUES (1, ?1, ?2, 0)",
                params![to_i64(st.size), st.root.as_bytes()],
            )
            .unwrap();
            let levels = MerkleLevels::new(&roll.leaves);
            for level in (0..).take_while(|l| !levels.level(*l).is_empty()) {
                for (c, chunk) in levels.level(level).chunks(1024).enumerate() {
                    let bytes: Vec<u8> = chunk.iter().flat_map(|h| h.0).collect();
                    old.execute(
                        "INSERT INTO roll_nodes (election_id, level, chunk, hashes) \
                         VALUES (1, ?1, ?2, ?3)",
                        params![level as i64, c as i64, bytes],
                    )
                    .unwrap();
                }
            }
        }
        let s = Store::open(&path).unwrap();
        let all: Vec<u64> = (0..u64::from(n)).collect();
        assert!(proofs_hold(&s, &roll, &all));
        let longest: i64 = s
            .conn
            .query_row("SELECT MAX(length(hashes)) FROM roll_nodes", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(longest, 64 * 32);
    }

    #[test]
    fn a_booth_pass_is_used_once_and_expires() {
        let mut s = Store::open_in_memory().unwrap();
        let t = Hash32([1; 32]);
        s.booth_pass_create(&t, 1, 100).unwrap();
        assert_eq!(s.booth_pass_take(&t, 50).unwrap(), Some((1, 100)));
        assert_eq!(s.booth_pass_take(&t, 50).unwrap(), None);
        s.booth_pass_create(&t, 1, 100).unwrap();
        assert_eq!(s.booth_pass_take(&t, 100).unwrap(), None);
        // Taking any pass sweeps the expired ones.
        let u = Hash32([2; 32]);
        s.booth_pass_create(&t, 1, 100).unwrap();
        assert_eq!(s.booth_pass_take(&u, 100).unwrap(), None);
        let left: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM booth_passes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_check_in_writes_its_pass_with_it_and_is_taken_back_with_it() {
        let roll = test_roll(3);
        let mut s = Store::open_in_memory().unwrap();
        s.install_roll(&roll, 1).unwrap();
        let record = SignedTx::sign(
            crate::ledger::Transaction::CheckIn(crate::ledger::CheckInTx {
                chain_id: Hash32([9; 32]),
                election_id: 1,
                voter: roll.voters[1],
                station: None,
                index: 1,
                path: s.roll_path(1, 1).unwrap(),
                checked_in_at_ms: 5,
                origin: key(1).public(),
            }),
            &key(1),
        )
        .unwrap();
        let h = record.hash().unwrap();
        let (p1, p2) = (Hash32([1; 32]), Hash32([2; 32]));
        assert!(
            s.poll_book_insert(1, 1, (&record, &h), 5, (&p1, 100))
                .unwrap()
        );
        // Written unsynced, and the connection syncs its next writes again.
        let sync: i64 = s
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        // The same voter again: refused, and its second pass not written.
        assert!(
            !s.poll_book_insert(1, 1, (&record, &h), 6, (&p2, 100))
                .unwrap()
        );
        assert_eq!(s.booth_pass_take(&p2, 10).unwrap(), None);
        assert!(s.poll_book_has(1, 1).unwrap());
        s.poll_book_remove(1, 1, &p1).unwrap();
        assert!(!s.poll_book_has(1, 1).unwrap());
        assert_eq!(s.booth_pass_take(&p1, 10).unwrap(), None);
        assert!(
            s.poll_book_insert(1, 1, (&record, &h), 7, (&p1, 100))
                .unwrap()
        );
        assert_eq!(s.booth_pass_take(&p1, 10).unwrap(), Some((1, 100)));
    }
}
