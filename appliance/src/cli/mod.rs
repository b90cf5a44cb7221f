//! The command line (clap). `main.rs` only calls [`main`].

mod chain;
mod dev;
pub mod eligibility;
pub(crate) mod fallback;
mod files;
mod testnet;
mod trustee;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::app::{self, AppError};
use crate::config::{Config, Overrides};
use crate::keyfile;
use crate::ledger::genesis::PROTOCOL;
use crate::ledger::{Candidate, Election, Genesis, Params, PublicKey, StationInfo, ValidatorInfo};
use files::write_new;

#[derive(Debug, Parser)]
#[command(
    name = "evote-appliance",
    version,
    about = "evote appliance: a polling-station node of the evote election ledger"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new Ed25519 node key (PKCS#8, mode 0600) and print its public key.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a genesis file: validators, stations, elections and parameters.
    Genesis(GenesisArgs),
    /// Run an appliance from its configuration file.
    Run(RunArgs),
    /// Run a bootnode: the discovery service appliances register with.
    Bootnode {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
    },
    /// The chain alone, for observers: `chain export`.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// The election authority's tools: the voter roll.
    #[command(subcommand)]
    Election(eligibility::ElectionCommand),
    /// The credential authority's tools: voting cards and their replacement.
    #[command(subcommand)]
    Credentials(eligibility::CredentialsCommand),
    /// Fallback chains: status, close, export, import.
    #[command(subcommand)]
    Fallback(fallback::FallbackCommand),
    /// Election trustees: the key ceremony and the decryption of the tally.
    #[command(subcommand)]
    Trustee(trustee::TrusteeCommand),
    /// Write (or start) a local network of validators and stations.
    Testnet(testnet::TestnetArgs),
    /// Run a one-node development appliance, creating what is missing under the data directory.
    Dev {
        /// Data directory (keys, secrets, genesis, database).
        #[arg(long, default_value = "evote-data")]
        data_dir: PathBuf,
        /// Address of the public door (voters, observers, JSON-RPC).
        #[arg(long, default_value = "127.0.0.1:8001")]
        listen: SocketAddr,
        /// Address of the peer door (default: the public door's port + 1).
        #[arg(long)]
        peer_listen: Option<SocketAddr>,
        /// Address of the operator door (default: loopback, the public door's port + 2).
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
}

#[derive(Debug, Args)]
pub struct GenesisArgs {
    /// A validator, as PUBKEY@URL (its p2p base URL); repeat in rotation order.
    #[arg(long = "validator", required = true, value_name = "PUBKEY@URL")]
    validators: Vec<String>,
    /// A station (an appliance that accepts votes but does not validate), as PUBKEY.
    #[arg(long = "station", value_name = "PUBKEY")]
    stations: Vec<String>,
    /// An election definition (JSON: id, name, opens_at, closes_at, candidates); repeatable.
    #[arg(long = "election", required = true, value_name = "FILE")]
    elections: Vec<PathBuf>,
    /// The election authority's public key (make one with `keygen`).
    #[arg(long, value_name = "PUBKEY")]
    authority: String,
    /// The credential authority's public key: it issues the voters'
    /// credentials and signs every replacement of one.
    #[arg(long, value_name = "PUBKEY")]
    credential_authority: String,
    /// The credential authority's signed list of an election's public
    /// credentials (`credentials issue` wrote it): the election's
    /// eligibility, in place of its file's `eligibility`; repeatable.
    #[arg(long = "credentials", value_name = "FILE")]
    credentials: Vec<PathBuf>,
    /// A name for the chain.
    #[arg(long, default_value = "evote")]
    chain_name: String,
    #[arg(long, default_value_t = Params::default().block_period_ms)]
    block_period_ms: u64,
    #[arg(long, default_value_t = Params::default().empty_block_period_ms)]
    empty_block_period_ms: u64,
    #[arg(long, default_value_t = Params::default().round_timeout_ms)]
    round_timeout_ms: u64,
    #[arg(long, default_value_t = Params::default().max_block_txs)]
    max_block_txs: u64,
    #[arg(long, default_value_t = Params::default().fallback_after_ms)]
    fallback_after_ms: u64,
    /// Where to write the genesis.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The TOML configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Overrides `data_dir`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Overrides `listen` (the public door).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Overrides `peer_listen` (the peer door).
    #[arg(long)]
    peer_listen: Option<SocketAddr>,
    /// Overrides `admin_listen` (the operator door).
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Overrides `key`.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Overrides `genesis`.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// A bootnode to register with and discover peers from (overrides `bootnode`).
    #[arg(long, value_name = "URL")]
    bootnode: Option<String>,
    /// A peer's base URL, added to `peers`; repeatable. Works without a bootnode.
    #[arg(long = "peer", value_name = "URL")]
    peers: Vec<String>,
    /// Never use the network: record every ballot in this device's fallback
    /// chain (close and export it with `fallback close` / `fallback export`).
    #[arg(long)]
    offline: bool,
    /// Check the whole database at start (SQLite `integrity_check`; slower
    /// on a large file) instead of the quick check.
    #[arg(long)]
    full_integrity_check: bool,
    /// The public door's TLS certificate chain, PEM (overrides `[tls]`;
    /// with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The public door's TLS private key, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The operator door's TLS certificate chain, PEM (overrides
    /// `[admin_tls]`; with --admin-tls-key).
    #[arg(long, value_name = "FILE", requires = "admin_tls_key")]
    admin_tls_cert: Option<PathBuf>,
    /// The operator door's TLS private key, PEM.
    #[arg(long, value_name = "FILE", requires = "admin_tls_cert")]
    admin_tls_key: Option<PathBuf>,
    /// Certificates to trust when calling other appliances' public doors
    /// over https (overrides `tls_ca_file`).
    #[arg(long, value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    /// Serve the public or operator door with plain HTTP beyond loopback
    /// (sets `allow_plain_http`).
    #[arg(long)]
    allow_plain_http: bool,
}

/// A certificate and key given together on the command line.
fn tls_pair(cert: Option<PathBuf>, key: Option<PathBuf>) -> Option<crate::config::TlsFiles> {
    Some(crate::config::TlsFiles {
        cert_file: cert?,
        key_file: key?,
    })
}

/// Parses the command line and runs it. Exit codes: 0 success, 1 failure,
/// 2 usage error (clap).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: Option<&str>) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or(filter.map(str::to_string))
        .unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn dispatch(cmd: Command) -> Result<(), AppError> {
    match cmd {
        Command::Keygen { out } => {
            let k = keyfile::generate_node_key(&out)?;
            println!("{}", k.public());
            Ok(())
        }
        Command::Genesis(args) => genesis(args),
        Command::Run(args) => {
            let mut cfg = Config::load(&args.config)?;
            cfg.apply(Overrides {
                data_dir: args.data_dir,
                listen: args.listen,
                peer_listen: args.peer_listen,
                admin_listen: args.admin_listen,
                key: args.key,
                genesis: args.genesis,
                bootnode: args.bootnode,
                peers: args.peers,
                offline: args.offline,
                full_integrity_check: args.full_integrity_check,
                tls: tls_pair(args.tls_cert, args.tls_key),
                admin_tls: tls_pair(args.admin_tls_cert, args.admin_tls_key),
                tls_ca_file: args.tls_ca_file,
                allow_plain_http: args.allow_plain_http,
            });
            init_logging(cfg.log.as_deref());
            app::run(cfg)
        }
        Command::Bootnode { listen } => {
            init_logging(None);
            app::run_bootnode(listen)
        }
        Command::Chain(cmd) => chain::run(cmd),
        Command::Election(cmd) => eligibility::run_election(cmd),
        Command::Credentials(cmd) => eligibility::run_credentials(cmd),
        Command::Fallback(cmd) => fallback::run(cmd),
        Command::Trustee(cmd) => trustee::run(cmd),
        Command::Testnet(args) => {
            init_logging(None);
            testnet::run(args)
        }
        Command::Dev {
            data_dir,
            listen,
            peer_listen,
            admin_listen,
        } => {
            let cfg = dev::prepare(&data_dir, listen, peer_listen, admin_listen)?;
            init_logging(None);
            println!("{}", dev::banner(&cfg));
            app::run(cfg)
        }
    }
}

/// An election as an official writes it: times as RFC 3339 or as
/// milliseconds since the Unix epoch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ElectionFile {
    id: u64,
    name: String,
    opens_at: TimeSpec,
    closes_at: TimeSpec,
    candidates: Vec<Candidate>,
    /// The trustees' key ceremony (`evote-appliance trustee public` prints it).
    trustees: crate::ledger::ElectionTrustees,
    /// Who may vote: the roll's commitment and the credential list, or
    /// open registration (PROTOCOL.md §3a); or none here, given by
    /// `genesis --credentials`.
    #[serde(default)]
    eligibility: Option<crate::ledger::Eligibility>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TimeSpec {
    Millis(u64),
    Rfc3339(String),
}

impl TimeSpec {
    fn to_ms(&self) -> Result<u64, String> {
        match self {
            TimeSpec::Millis(ms) => Ok(*ms),
            TimeSpec::Rfc3339(s) => humantime::parse_rfc3339(s)
                .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .map_err(|_| format!("{s:?} is before 1970")),
        }
    }
}

fn parse_key(s: &str) -> Result<PublicKey, AppError> {
    PublicKey::parse(s).map_err(|e| AppError::Setup(format!("public key {s:?}: {e}")))
}

/// The elections of the files, each with whether its file said who may vote.
/// Election 1 of a demo or test network: three candidates, open since a
/// minute before `now` until `closes_at`.
fn demo_election(
    name: &str,
    now: u64,
    closes_at: u64,
    trustees: crate::ledger::ElectionTrustees,
    eligibility: crate::ledger::Eligibility,
) -> Election {
    let candidates = ["Alice Moreau", "Bashir Okafor", "Chen Wei"];
    Election {
        id: 1,
        name: name.into(),
        candidates: (candidates.iter().zip(1..))
            .map(|(name, id)| Candidate {
                id,
                name: (*name).into(),
            })
            .collect(),
        opens_at: now - 60_000,
        closes_at,
        trustees,
        eligibility,
    }
}

fn read_elections(paths: &[PathBuf]) -> Result<Vec<(Election, bool)>, AppError> {
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| AppError::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        let bad = |m: String| AppError::Setup(format!("{}: {m}", path.display()));
        let files: Vec<ElectionFile> = if text.trim_start().starts_with('[') {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        } else {
            vec![serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?]
        };
        for e in files {
            let given = e.eligibility.is_some();
            out.push((
                Election {
                    id: e.id,
                    name: e.name,
                    opens_at: e.opens_at.to_ms().map_err(bad)?,
                    closes_at: e.closes_at.to_ms().map_err(bad)?,
                    candidates: e.candidates,
                    trustees: e.trustees,
                    eligibility: e.eligibility.unwrap_or(crate::ledger::Eligibility::Open {}),
                },
                given,
            ));
        }
    }
    Ok(out)
}

fn genesis(a: GenesisArgs) -> Result<(), AppError> {
    let validators = a
        .validators
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (key, url) = v.split_once('@').ok_or_else(|| {
                AppError::Setup(format!("--validator {v:?}: expected PUBKEY@URL"))
            })?;
            Ok(ValidatorInfo {
                public_key: parse_key(key)?,
                name: format!("validator-{}", i + 1),
                p2p_url: url.trim_end_matches('/').to_string(),
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let stations = a
        .stations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(StationInfo {
                public_key: parse_key(s)?,
                name: format!("station-{}", i + 1),
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let credential_authority = parse_key(&a.credential_authority)?;
    let mut elections = read_elections(&a.elections)?;
    for path in &a.credentials {
        let bad = |m: String| AppError::Setup(format!("{}: {m}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|source| AppError::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        let list: crate::ledger::credential::CredentialList =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let eligibility = list
            .eligibility(&credential_authority)
            .map_err(|e| bad(format!("not the credential authority's list: {e}")))?;
        let id = list.statement.election_id;
        let (e, given) = elections
            .iter_mut()
            .find(|(e, _)| e.id == id)
            .ok_or_else(|| bad(format!("election {id} is not one of the --election files")))?;
        e.eligibility = eligibility;
        *given = true;
    }
    if let Some((e, _)) = elections.iter().find(|(_, given)| !given) {
        return Err(AppError::Setup(format!(
            "election {} says nothing of who may vote: give the credential authority's list \
             (--credentials FILE) or, for a demonstration, \"eligibility\": {{\"mode\": \"open\"}} \
             in its file",
            e.id
        )));
    }
    let elections = elections.into_iter().map(|(e, _)| e).collect();
    let g = Genesis {
        protocol: PROTOCOL.into(),
        chain_name: a.chain_name,
        created_at_ms: crate::clock::now_ms(),
        authority: parse_key(&a.authority)?,
        credential_authority,
        validators,
        stations,
        elections,
        params: Params {
            block_period_ms: a.block_period_ms,
            empty_block_period_ms: a.empty_block_period_ms,
            round_timeout_ms: a.round_timeout_ms,
            max_block_txs: a.max_block_txs,
            fallback_after_ms: a.fallback_after_ms,
        },
    };
    g.validate().map_err(|source| AppError::Genesis {
        path: a.out.display().to_string(),
        source,
    })?;
    write_new(
        &a.out,
        &serde_json::to_string_pretty(&g).expect("genesis encodes"),
    )?;
    println!("chain_id {}", g.chain_id().expect("genesis hashes"));
    Ok(())
}
