//! Starting an appliance: load the configuration, keys, genesis and TLS
//! certificates, open and check the database, start the node thread and
//! serve HTTP until SIGINT or SIGTERM (SIGHUP reloads the certificates).

use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::keyfile::{self, KeyFileError};
use crate::ledger::elgamal::{ElectionPublicKey, EncryptionKey};
use crate::ledger::{Genesis, Hash32, LedgerError, PublicKey, nullifier::MIN_SECRET_LEN};
use crate::net::peers::{HttpNetwork, PeerTable, bootnode_exchange, keep_registered, peer_urls};
use crate::net::tls::{DoorCert, TlsError};
use crate::net::{AppState, Secrets, server};
use crate::node::{Network, NoPeers, NodeHandle, NodeSetup, Role};
use crate::store::{Store, StoreError, StorePool};

/// Connections the HTTP handlers share.
pub const DB_POOL_SIZE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error(transparent)]
    Tls(#[from] TlsError),
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

/// Runs a bootnode (the seeds' discovery service) until SIGINT or SIGTERM.
pub fn run_bootnode(listen: std::net::SocketAddr) -> Result<(), AppError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    rt.block_on(crate::net::bootnode::run(listen, shutdown_signal()))
        .map_err(io(format!("bootnode on {listen}")))
}

/// The exit status of an appliance that panicked.
pub const EXIT_PANIC: i32 = 101;

/// A panic in any thread (the node thread, a handler, a peer thread) ends
/// the process with [`EXIT_PANIC`] after the default report: a process
/// that lost its node thread would otherwise answer 503 for ever while the
/// service manager sees it running. systemd restarts it; everything
/// acknowledged is durable.
pub fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        tracing::error!("panic: {info}; the appliance stops (exit {EXIT_PANIC})");
        std::process::exit(EXIT_PANIC);
    }));
}

/// Runs the appliance until it is told to stop.
pub fn run(cfg: Config) -> Result<(), AppError> {
    exit_on_panic();
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
    let keys: std::collections::BTreeMap<u64, ElectionPublicKey> = genesis
        .elections
        .iter()
        .map(|e| e.public_key().map(|k| (e.id, k)))
        .collect::<Result<_, _>>()
        .map_err(|source| AppError::Genesis {
            path: cfg.genesis.display().to_string(),
            source,
        })?;
    let encryption_keys = keys
        .iter()
        .map(|(id, k)| EncryptionKey::new(&k.public_key).map(|e| (*id, Arc::new(e))))
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::Setup(format!("{}: {e}", cfg.genesis.display())))?;
    cfg.check_doors()?;
    let public_door = server::public_door(cfg.max_connections_per_client)
        .map_err(crate::config::ConfigError::Invalid)?;
    let certs = door_certs(&cfg)?;
    crate::net::tls::trust(cfg.tls_ca_file.as_deref())?;
    let db_path = cfg.db_path();
    let chain_id = open_database(&db_path, &genesis, cfg.full_integrity_check)?;
    install_rolls(&cfg, &genesis, &db_path)?;
    let peers = Arc::new(PeerTable::default());
    let mut extra = cfg.peers.clone();
    extra.extend(discover(&cfg, &genesis, &key.public(), &chain_id));
    cfg.check_validator_urls(&genesis)?;
    let urls = peer_urls(&genesis, &key.public(), &cfg.validator_urls, &extra);
    let (g2, node_key, table) = (genesis.clone(), key.clone(), peers.clone());
    let offline = cfg.offline;
    let node = NodeHandle::spawn(
        NodeSetup {
            genesis: genesis.clone(),
            key: key.clone(),
            db_path: db_path.clone(),
            offline: cfg.offline,
        },
        move |inbox| -> Box<dyn Network> {
            if urls.is_empty() || offline {
                Box::new(NoPeers)
            } else {
                Box::new(HttpNetwork::start(g2, node_key, urls, table, inbox))
            }
        },
    )?;
    let state = Arc::new(AppState {
        genesis,
        chain_id,
        key: key.clone(),
        rpc_url: cfg.rpc_url(),
        peer_nonces: Default::default(),
        status_cache: Default::default(),
        node,
        db: StorePool::open(&db_path, DB_POOL_SIZE)?,
        secrets,
        peers,
        codes: crate::submission::CodeIssuer::start(crate::store::Store::open(&db_path)?),
        proof_work: crate::submission::ProofWork::per_core()
            .map_err(io("starting the proof-work threads"))?,
        limits: Default::default(),
        keys,
        encryption_keys,
        verified: Default::default(),
        chain_check_turn: Default::default(),
        chain_check_work: crate::net::tally::chain_check_thread()
            .map_err(io("starting the chain-check thread"))?,
        passwords: crate::net::passwords::PasswordWork::half_the_cores()
            .map_err(io("starting the password threads"))?,
        tallies: Default::default(),
        started_at_ms: crate::clock::now_ms(),
        kiosk: Default::default(),
        pollbook: Default::default(),
        offline: cfg.offline,
        // The public door's configured URL: where the board is.
        public_url: cfg.rpc_url.clone(),
    });
    let doors = [
        (
            cfg.listen,
            server::public_router(state.clone()),
            public_door,
            certs.public.clone(),
        ),
        (
            cfg.peer_addr(),
            server::peer_router(state.clone()),
            server::PEER_DOOR,
            None,
        ),
        (
            cfg.admin_addr(),
            server::operator_router(state.clone()),
            server::OPERATOR_DOOR,
            certs.operator.clone(),
        ),
    ];
    let mut bound = Vec::new();
    for (addr, router, limits, tls) in doors {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io(format!("the {} door: listening on {addr}", limits.name)))?;
        let local = listener
            .local_addr()
            .map_err(io("reading the listen address"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!("{} door listening on {scheme}://{local}", limits.name);
        bound.push((listener, router, limits, tls));
    }
    // Registered before anyone can see the node ready: SIGHUP's default
    // action would end the process.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(io("listening for SIGHUP".to_string()))?;
    tracing::info!(node_id = %key.public(), chain_id = %chain_id, "evote-appliance ready");
    crate::notify::notify_ready();
    tokio::spawn(purge_sessions(state.clone()));
    tokio::spawn(reload_on_hangup(hangup, certs));
    tokio::spawn(crate::net::closing::close_elections(state.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut served = tokio::task::JoinSet::new();
    for (listener, router, limits, tls) in bound {
        let mut stopped = stopped.clone();
        let until = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        served.spawn(server::serve(listener, router, limits, tls, until));
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    while let Some(r) = served.join_next().await {
        r.map_err(|e| AppError::Setup(format!("a door's server failed: {e}")))?
            .map_err(io("serving HTTP"))?;
    }
    Ok(())
}

/// The certificates of the doors that speak TLS.
#[derive(Clone, Default)]
struct DoorCerts {
    public: Option<Arc<DoorCert>>,
    operator: Option<Arc<DoorCert>>,
}

/// Reads each configured door certificate: one that cannot be read, or
/// whose key does not match, stops the start.
fn door_certs(cfg: &Config) -> Result<DoorCerts, AppError> {
    let load = |door, files: &Option<crate::config::TlsFiles>| {
        files
            .as_ref()
            .map(|f| DoorCert::load(door, f))
            .transpose()
            .map_err(|e| AppError::Setup(format!("the {door} door's TLS certificate: {e}")))
    };
    Ok(DoorCerts {
        public: load("public", &cfg.tls)?,
        operator: load("operator", &cfg.admin_tls)?,
    })
}

/// On SIGHUP, reads every door's certificate and key again (an operator
/// installed renewed ones): new connections get the new certificate; one
/// that does not load is logged and the door keeps the one it had. The
/// listeners stay open throughout.
async fn reload_on_hangup(mut hangup: tokio::signal::unix::Signal, certs: DoorCerts) {
    while hangup.recv().await.is_some() {
        let doors: Vec<_> = [&certs.public, &certs.operator]
            .into_iter()
            .flatten()
            .collect();
        if doors.is_empty() {
            tracing::info!("SIGHUP: no door has a TLS certificate to reload");
        }
        for cert in doors {
            // An error is logged by reload and changes nothing.
            let _ = cert.reload();
        }
    }
}

/// How often expired sessions are deleted.
pub const SESSION_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired sessions now and then, so that the table holds only
/// live ones even when nobody logs in.
async fn purge_sessions(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(SESSION_PURGE_INTERVAL);
    loop {
        tick.tick().await;
        let purged = state
            .db("purging expired sessions", |db| {
                db.purge_expired_sessions(crate::clock::now_ms())
            })
            .await;
        if let Ok(n @ 1..) = purged {
            tracing::debug!("purged {n} expired sessions");
        }
    }
}

/// With a bootnode configured: register, learn the other appliances' URLs,
/// and keep the registration alive. A bootnode that is down only costs the
/// discovery: the genesis still names every validator.
fn discover(cfg: &Config, genesis: &Genesis, me: &PublicKey, chain_id: &Hash32) -> Vec<String> {
    let Some(bootnode) = cfg.bootnode.clone() else {
        return Vec::new();
    };
    let my_url = cfg.peer_url();
    let role = if genesis.is_validator(me) {
        Role::Validator
    } else {
        Role::Station
    };
    let found = match bootnode_exchange(&bootnode, me, &my_url, role, chain_id) {
        Ok(urls) => urls,
        Err(e) => {
            tracing::warn!("{e}");
            Vec::new()
        }
    };
    keep_registered(bootnode, *me, my_url.clone(), role, *chain_id);
    found.into_iter().filter(|u| u != &my_url).collect()
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
fn open_database(path: &Path, genesis: &Genesis, full: bool) -> Result<Hash32, AppError> {
    let mut store = Store::open(path).map_err(|e| {
        AppError::Setup(format!(
            "cannot open the database {}: {e}. It was not changed; restore it from a backup \
             or move it aside to start a new one",
            path.display()
        ))
    })?;
    let problems = store.integrity_check(full)?;
    if problems != ["ok"] {
        return Err(AppError::Setup(format!(
            "{} failed its integrity check: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    Ok(store.init_genesis(genesis)?)
}

/// Checks each configured roll file against the genesis and installs it
/// (again: nothing changes); an election with a roll and none installed
/// is named, as its voters cannot be checked in here.
fn install_rolls(cfg: &Config, genesis: &Genesis, db_path: &Path) -> Result<(), AppError> {
    let mut store = Store::open(db_path)?;
    for path in &cfg.rolls {
        let text =
            std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
        let file: crate::ledger::roll::RollFile = serde_json::from_str(&text)
            .map_err(|e| AppError::Setup(format!("{}: {e}", path.display())))?;
        let roll = file.check(genesis).map_err(|e| {
            AppError::Setup(format!(
                "{}: not a roll of this genesis ({}: {e})",
                path.display(),
                e.code()
            ))
        })?;
        let e = roll.file.statement.election_id;
        if store.install_roll(&roll, crate::clock::now_ms())? {
            tracing::info!(
                "installed the roll of election {e} ({} voters) from {}",
                roll.leaves.len(),
                path.display()
            );
        }
    }
    for e in genesis.elections.iter().filter(|e| e.roll().is_some()) {
        if store.roll_commitment(e.id)?.is_none() {
            tracing::warn!(
                "election {} has a voter roll and none is installed here (config key rolls): \
                 this appliance cannot check its voters in",
                e.id
            );
        }
    }
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
