//! The consensus journal: what this validator has voted for, written before
//! any vote leaves it (synchronous=FULL makes the write durable). The blocks
//! it refers to are stored once each, beside it (migration 0006).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store, StoreError, from_json, optional_value, to_i64, to_json};
use crate::consensus::{BlockRef, Journal, JournalRecord};
use crate::ledger::Block;

impl Store {
    /// Makes `journal` durable: the blocks it refers to that are not stored
    /// yet, then the journal itself, in one SQL transaction. Blocks of lower
    /// heights go.
    pub fn save_consensus_state(&mut self, journal: &Journal) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for block in journal.blocks() {
            let hash = block.block_hash.as_bytes().as_slice();
            let round = to_i64(block.header.round);
            let stored = tx
                .prepare_cached(
                    "SELECT 1 FROM consensus_blocks WHERE block_hash = ?1 AND round = ?2",
                )?
                .exists(params![hash, round])?;
            if !stored {
                tx.prepare_cached(
                    "INSERT INTO consensus_blocks (block_hash, round, height, body) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    hash,
                    round,
                    to_i64(block.header.height),
                    to_json(block)?
                ])?;
            }
        }
        tx.prepare_cached("DELETE FROM consensus_blocks WHERE height < ?1")?
            .execute([to_i64(journal.height)])?;
        tx.prepare_cached(
            "INSERT INTO consensus_state (id, height, round, state) VALUES (1, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET height = excluded.height, round = excluded.round, \
             state = excluded.state",
        )?
        .execute(params![
            to_i64(journal.height),
            to_i64(journal.round),
            to_json(&journal.record())?
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// The last journal saved, with its blocks. A journal written before
    /// schema version 6 holds its blocks itself and reads as it is.
    pub fn load_consensus_state(&self) -> Result<Option<Journal>> {
        let text = optional_value(
            &self.conn,
            "SELECT state FROM consensus_state WHERE id = 1",
            [],
        );
        let Some(text): Option<String> = text? else {
            return Ok(None);
        };
        let record: JournalRecord = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(_) => return from_json::<Journal>(&text).map(Some),
        };
        let mut blocks = Vec::new();
        for r in record.blocks() {
            if let Some(b) = self.journal_block(&r)? {
                blocks.push(b);
            }
        }
        let journal = record.resolve(|r| blocks.iter().find(|b| r.names(b)).cloned());
        journal.map(Some).map_err(|missing| {
            StoreError::Corrupt(format!(
                "the consensus journal refers to block {missing}, which is not stored"
            ))
        })
    }

    fn journal_block(&self, block: &BlockRef) -> Result<Option<Block>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM consensus_blocks WHERE block_hash = ?1 AND round = ?2",
                params![block.hash.as_bytes(), to_i64(block.round)],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| from_json(&t)).transpose()
    }
}
