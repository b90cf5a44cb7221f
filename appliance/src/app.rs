//! Starting an appliance: load the configuration, keys and genesis, open
//! and check the database, start the node thread and serve HTTP until
//! SIGINT or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use crate::clock::now_ms;
use crate::config::{Config, ConfigError};
use crate::keyfile::{self, KeyFileError};
use crate::ledger::{Genesis, LedgerError, nullifier::MIN_SECRET_LEN};
use crate::net::{AppState, Secrets, server};
use crate::node::{NoPeers, NodeHandle, NodeSetup};
use crate::store::{Store, StoreError, StorePool};

/// Connections the HTTP handlers share.
pub const DB_POOL_SIZE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("genesis {path}: {source}")]
    Genesis { path: String, source: LedgerError },
    #[error("{0}")]
    Setup(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let context = context.into();
    move |source| AppError::Io { context, source }
}

pub fn load_genesis(path: &Path) -> Result<Genesis, AppError> {
    let text = std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
    Genesis::from_json(&text).map_err(|source| AppError::Genesis {
        path: path.display().to_string(),
        source,
    })
}

/// Runs the appliance until it is told to stop.
pub fn run(cfg: Config) -> Result<(), AppError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("evote-http")
        .build()
        .map_err(io("starting the runtime"))?;
    rt.block_on(run_async(cfg))
}

async fn run_async(cfg: Config) -> Result<(), AppError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(io(format!("creating {}", cfg.data_dir.display())))?;
    let genesis = Arc::new(load_genesis(&cfg.genesis)?);
    let key = Arc::new(keyfile::read_node_key(&cfg.key)?);
    if !genesis.is_origin(&key.public()) {
        return Err(AppError::Setup(format!(
            "this appliance's key {} is neither a validator nor a station in the genesis",
            key.public()
        )));
    }
    let secrets = load_secrets(&cfg)?;
    let db_path = cfg.db_path();
    let chain_id = open_database(&db_path, &genesis)?;
    let node = NodeHandle::spawn(NodeSetup {
        genesis: genesis.clone(),
        key: key.clone(),
        db_path: db_path.clone(),
        transport: Box::new(NoPeers),
    })?;
    let state = Arc::new(AppState {
        genesis,
        chain_id,
        key: key.clone(),
        node,
        db: StorePool::open(&db_path, DB_POOL_SIZE)?,
        secrets,
        started_at_ms: now_ms(),
    });
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(io(format!("listening on {}", cfg.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the listen address"))?;
    tracing::info!(node_id = %key.public(), chain_id = %chain_id, "evote-appliance listening on http://{addr}");
    server::serve(listener, server::router(state.clone()), shutdown_signal())
        .await
        .map_err(io("serving HTTP"))?;
    tracing::info!("shutting down");
    Ok(())
}

fn load_secrets(cfg: &Config) -> Result<Secrets, AppError> {
    let nullifier_secret = keyfile::read_hex_secret(&cfg.nullifier_secret_file)?;
    if nullifier_secret.len() < MIN_SECRET_LEN {
        return Err(AppError::Setup(format!(
            "{}: the nullifier secret must be at least {MIN_SECRET_LEN} bytes",
            cfg.nullifier_secret_file.display()
        )));
    }
    Ok(Secrets {
        admin_token: keyfile::read_token(&cfg.admin_token_file)?,
        nullifier_secret,
    })
}

/// Opens, migrates and checks the database, and binds it to the genesis.
fn open_database(path: &Path, genesis: &Genesis) -> Result<crate::ledger::Hash32, AppError> {
    let mut store = Store::open(path)?;
    let problems = store.integrity_check(false)?;
    if problems != ["ok"] {
        return Err(AppError::Setup(format!(
            "{} failed its integrity check: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    Ok(store.init_genesis(genesis)?)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
