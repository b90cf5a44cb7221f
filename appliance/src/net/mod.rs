//! HTTP: the only module that knows it. Routes for voters (`api`), JSON-RPC
//! (`rpc`), and the server with its limits (`server`).

pub mod admin;
pub mod api;
pub mod bootnode;
pub mod client;
pub mod closing;
pub mod error;
pub mod metrics;
pub mod p2p;
pub mod pages;
pub mod passwords;
pub mod peer_auth;
pub mod peers;
pub mod rpc;
pub mod seeds;
pub mod server;
pub mod submit;
pub mod tally;
pub mod tls;

use std::sync::Arc;

use crate::ledger::{Genesis, Hash32, NodeKey};
use crate::node::NodeHandle;
use crate::store::{Store, StorePool};
use peers::PeerTable;

pub use error::{ApiError, ApiJson};

/// Secrets the appliance is provisioned with. Never logged, never answered.
pub struct Secrets {
    pub admin_token: String,
    pub nullifier_secret: Vec<u8>,
}

/// Failed logins a client (an IP address) may make per minute. Only
/// failures count: a polling-station kiosk logs many voters in from one
/// address.
pub const FAILED_LOGINS_PER_CLIENT_PER_MIN: u32 = 30;
/// Registrations a client may make per minute.
pub const REGISTRATIONS_PER_CLIENT_PER_MIN: u32 = 600;
/// Logins an account may attempt per minute, right or wrong: a voter logs
/// in a few times at most, and each attempt costs a password hash.
pub const LOGINS_PER_ACCOUNT_PER_MIN: u32 = 20;
/// Failed logins an account may take per quarter hour.
pub const FAILED_LOGINS_PER_ACCOUNT: u32 = 10;
/// Clients and accounts tracked by the limiters.
pub const MAX_TRACKED: usize = 100_000;

/// Rate limits on credential guessing.
pub struct Limits {
    pub per_client: crate::auth::RateLimiter,
    pub per_account: crate::auth::RateLimiter,
    pub registrations: crate::auth::RateLimiter,
    pub logins_per_account: crate::auth::RateLimiter,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_client: crate::auth::RateLimiter::new(
                60_000,
                FAILED_LOGINS_PER_CLIENT_PER_MIN,
                MAX_TRACKED,
            ),
            logins_per_account: crate::auth::RateLimiter::new(
                60_000,
                LOGINS_PER_ACCOUNT_PER_MIN,
                MAX_TRACKED,
            ),
            registrations: crate::auth::RateLimiter::new(
                60_000,
                REGISTRATIONS_PER_CLIENT_PER_MIN,
                MAX_TRACKED,
            ),
            per_account: crate::auth::RateLimiter::new(
                15 * 60_000,
                FAILED_LOGINS_PER_ACCOUNT,
                MAX_TRACKED,
            ),
        }
    }
}

/// What every handler can reach.
pub struct AppState {
    pub genesis: Arc<Genesis>,
    pub chain_id: Hash32,
    pub key: Arc<NodeKey>,
    /// The base URL of this appliance's public door, as peers report it.
    pub rpc_url: String,
    /// The nonces of peers' signed requests, against replays.
    pub peer_nonces: peer_auth::ReplayGuard,
    /// The last signed status, reused while it is fresh.
    pub status_cache: std::sync::Mutex<Option<peers::StatusReport>>,
    pub node: NodeHandle,
    pub db: StorePool,
    pub secrets: Secrets,
    pub peers: Arc<PeerTable>,
    pub limits: Limits,
    /// Writes confirmation codes, many ballots' in one transaction.
    pub codes: crate::submission::CodeIssuer,
    /// Threads for encrypting and checking ballots (bounded).
    pub proof_work: crate::submission::ProofWork,
    /// Every election's key, computed once from the genesis.
    pub keys: std::collections::BTreeMap<u64, crate::ledger::elgamal::ElectionPublicKey>,
    /// Every election's key with its table of multiples, for encrypting.
    pub encryption_keys:
        std::collections::BTreeMap<u64, Arc<crate::ledger::elgamal::EncryptionKey>>,
    /// The chain as far as `results` has re-checked it.
    pub verified: std::sync::Mutex<Option<crate::chaincheck::ChainCheck>>,
    /// Threads for hashing and checking passwords (bounded).
    pub passwords: passwords::PasswordWork,
    /// One chain check at a time (`tally::chain_check`), on its own thread.
    pub chain_check_work: crate::submission::ProofWork,
    pub chain_check_turn: Arc<tokio::sync::Mutex<()>>,
    pub tallies: std::sync::Mutex<DecryptedTallies>,
    /// When this process started: its peers tell a restart by it.
    pub started_at_ms: u64,
    /// What the booth, console and board remember between requests.
    pub kiosk: crate::web::kiosk::Kiosk,
    /// Ballots on the chain by the appliance that accepted them, as of a
    /// height (the board's poll book, counted block by block).
    pub pollbook: std::sync::Mutex<(
        u64,
        std::collections::BTreeMap<Vec<u8>, crate::store::PollCount>,
    )>,
    /// Started with `--offline`.
    pub offline: bool,
    /// Where voters' phones reach this appliance's public door (config
    /// `rpc_url`): the
    /// receipt's QR code points there.
    pub public_url: Option<String>,
}

pub type SharedState = Arc<AppState>;

/// A store call that failed, as an answer: the lock held too long by
/// another writer is `503 busy` (nothing was written; the client may try
/// again), anything else `500`.
fn store_failed(what: &str, e: crate::store::StoreError) -> ApiError {
    if e.is_busy() {
        tracing::warn!("{what}: the database stayed locked: {e}");
        return ApiError::busy(format!(
            "{what}: the appliance's database is busy; try again"
        ));
    }
    ApiError::internal(what, e)
}

/// Decrypted counts, by (election, tally height, the share transactions
/// combined): kept because combining solves discrete logarithms.
pub type DecryptedTallies = std::collections::BTreeMap<(u64, u64, Vec<Hash32>), Vec<u64>>;

impl AppState {
    /// Runs blocking store work on a pool connection off the async runtime.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        f: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.db.with(f))
            .await
            .map_err(|e| ApiError::internal(what, e))?
            .map_err(|e| store_failed(what, e))
    }
}
