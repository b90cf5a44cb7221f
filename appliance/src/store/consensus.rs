//! The consensus journal: what this validator has voted for, written before
//! any vote leaves it (synchronous=FULL makes the write durable).

use rusqlite::{OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use super::{Result, Store, from_json, to_i64, to_json};

impl Store {
    pub fn save_consensus_state<T: Serialize>(
        &mut self,
        height: u64,
        round: u64,
        state: &T,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO consensus_state (id, height, round, state) VALUES (1, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET height = excluded.height, round = excluded.round, \
             state = excluded.state",
            params![to_i64(height), to_i64(round), to_json(state)?],
        )?;
        Ok(())
    }

    pub fn load_consensus_state<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT state FROM consensus_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        text.map(|t| from_json(&t)).transpose()
    }
}
