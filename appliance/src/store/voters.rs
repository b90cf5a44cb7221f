//! Voters registered at this appliance, their sessions and ballots.
//! Passwords arrive already hashed; session tokens arrive as hashes.

use rusqlite::{OptionalExtension, Row, params};

use super::{Result, Store, count, to_i64};
use crate::ledger::Hash32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVoter<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a [u8],
    pub salt: &'a [u8],
    pub iterations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: Vec<u8>,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub created_at_ms: u64,
}

const VOTER_COLUMNS: &str =
    "v.id, v.email, v.name, v.password_hash, v.salt, v.iterations, v.created_at_ms";

impl Voter {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            password_hash: r.get(3)?,
            salt: r.get(4)?,
            iterations: r.get(5)?,
            created_at_ms: r.get::<_, i64>(6)?.max(0) as u64,
        })
    }
}

impl Store {
    /// Registers a voter; `None` when the email is already registered.
    pub fn create_voter(&mut self, v: &NewVoter<'_>, now_ms: u64) -> Result<Option<i64>> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO voters (email, name, password_hash, salt, iterations, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![v.email, v.name, v.password_hash, v.salt, v.iterations, to_i64(now_ms)],
        )?;
        Ok((n == 1).then(|| self.conn.last_insert_rowid()))
    }

    /// Checks voters in at the polling station, in one SQL transaction:
    /// each (email, name) is created if unknown, without a password (an
    /// official verified the voter in person), and gets a new session.
    /// `sessions` gives each voter's token hash, in the same order.
    pub fn check_in_voters(
        &mut self,
        voters: &[(String, String)],
        sessions: &[Hash32],
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut create = tx.prepare_cached(
                "INSERT OR IGNORE INTO voters (email, name, password_hash, salt, iterations, \
                 created_at_ms) VALUES (?1, ?2, x'', x'', 0, ?3)",
            )?;
            let mut session = tx.prepare_cached(
                "INSERT INTO sessions (token_hash, voter_id, created_at_ms, expires_at_ms) \
                 SELECT ?1, id, ?2, ?3 FROM voters WHERE email = ?4",
            )?;
            for ((email, name), token) in voters.iter().zip(sessions) {
                create.execute(params![email, name, to_i64(now_ms)])?;
                session.execute(params![
                    token.as_bytes(),
                    to_i64(now_ms),
                    to_i64(expires_at_ms),
                    email
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a voter's password hash with an argon2id PHC string (at the
    /// login that proved an older hash right).
    pub fn set_password_hash(&mut self, voter_id: i64, phc: &[u8]) -> Result<()> {
        self.conn.execute(
            "UPDATE voters SET password_hash = ?1, salt = x'', iterations = 0 WHERE id = ?2",
            params![phc, voter_id],
        )?;
        Ok(())
    }

    /// Drops sessions that expired (also done as new ones are made).
    pub fn purge_expired_sessions(&mut self, now_ms: u64) -> Result<usize> {
        Ok(self.conn.execute(
            "DELETE FROM sessions WHERE expires_at_ms <= ?1",
            [to_i64(now_ms)],
        )?)
    }

    pub fn voter_by_email(&self, email: &str) -> Result<Option<Voter>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {VOTER_COLUMNS} FROM voters v WHERE v.email = ?1"),
                [email],
                Voter::read,
            )
            .optional()?)
    }

    pub fn create_session(
        &mut self,
        token_hash: &Hash32,
        voter_id: i64,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<()> {
        // Expired sessions are dropped as new ones are made, so the table stays bounded.
        self.conn.execute(
            "DELETE FROM sessions WHERE expires_at_ms <= ?1",
            [to_i64(now_ms)],
        )?;
        self.conn.execute(
            "INSERT INTO sessions (token_hash, voter_id, created_at_ms, expires_at_ms) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash.as_bytes(),
                voter_id,
                to_i64(now_ms),
                to_i64(expires_at_ms)
            ],
        )?;
        Ok(())
    }

    /// The voter a live session belongs to.
    pub fn session_voter(&self, token_hash: &Hash32, now_ms: u64) -> Result<Option<Voter>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {VOTER_COLUMNS} FROM sessions s JOIN voters v ON v.id = s.voter_id \
                 WHERE s.token_hash = ?1 AND s.expires_at_ms > ?2"
            ))?
            .query_row(params![token_hash.as_bytes(), to_i64(now_ms)], Voter::read)
            .optional()?)
    }

    /// (voters given a session since `since_ms`, by check-in or login;
    /// ballots this appliance accepted since then), for the console.
    pub fn day_counts(&self, since_ms: u64) -> Result<(u64, u64)> {
        // Open registration's check-ins open sessions; a roll's write the
        // poll book.
        let since = [to_i64(since_ms)];
        let voters = count(
            &self.conn,
            "SELECT (SELECT COUNT(DISTINCT voter_id) FROM sessions WHERE created_at_ms >= ?1) \
                  + (SELECT COUNT(*) FROM poll_book WHERE checked_in_at_ms >= ?1)",
            since,
        )?;
        let ballots = count(
            &self.conn,
            "SELECT COUNT(*) FROM confirmation_codes WHERE issued_at_ms >= ?1",
            since,
        )?;
        Ok((voters, ballots))
    }
}
