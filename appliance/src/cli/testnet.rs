//! `evote-appliance testnet`: a local network of validators and stations on
//! free 127.0.0.1 ports, written to a directory (`testnet --validators N
//! --dir D`) and started as child processes (`testnet up D`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::files::write;
use crate::app::AppError;
use crate::auth::random_bytes;
use crate::clock::now_ms;
use crate::config::Config;
use crate::keyfile;
use crate::ledger::genesis::PROTOCOL;
use crate::ledger::{Eligibility, Genesis, Params, StationInfo, ValidatorInfo};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TestnetArgs {
    #[command(subcommand)]
    action: Option<TestnetAction>,
    /// How many validators.
    #[arg(long)]
    validators: Option<usize>,
    /// How many stations (appliances that take votes but do not validate).
    #[arg(long, default_value_t = 0)]
    stations: usize,
    /// Where to write keys, genesis, configs and testnet.json.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value_t = Params::default().block_period_ms)]
    block_period_ms: u64,
    #[arg(long, default_value_t = Params::default().round_timeout_ms)]
    round_timeout_ms: u64,
    #[arg(long, default_value_t = Params::default().empty_block_period_ms)]
    empty_block_period_ms: u64,
    #[arg(long, default_value_t = Params::default().fallback_after_ms)]
    fallback_after_ms: u64,
    /// How long the testnet election stays open, in minutes.
    #[arg(long, default_value_t = super::dev::DEMO_ELECTION_DAYS * 24 * 60)]
    election_minutes: u64,
    /// How long the election stays open, in seconds (at least 10), instead
    /// of --election-minutes: for tests and demonstrations of the close.
    #[arg(long, conflicts_with = "election_minutes")]
    election_seconds: Option<u64>,
    /// How many test voters on the election's roll, each with a voting card
    /// (`voters.json`).
    #[arg(long, default_value_t = DEFAULT_VOTERS)]
    voters: usize,
    /// The election takes open registration instead of a roll, as the `dev`
    /// demo does (for tests of e-mail accounts and logins; never an
    /// election's setting).
    #[arg(long, conflicts_with = "voters")]
    open_registration: bool,
}

/// Test voters on a testnet's roll unless `--voters` says otherwise.
pub const DEFAULT_VOTERS: usize = 1_000;

#[derive(Debug, Subcommand)]
enum TestnetAction {
    /// Start every node of a testnet directory; stop them all on Ctrl-C or SIGTERM.
    Up {
        /// The directory `testnet --dir` wrote.
        dir: PathBuf,
    },
}

/// `D/testnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestnetFile {
    pub nodes: Vec<TestnetNode>,
    /// The test voters' file (`TestVoters`): every voter of the roll with
    /// their voting card.
    pub voters: PathBuf,
}

/// `D/voters.json`: the testnet election's roll as its voters' cards, for
/// tests and load tools (a real election never has such a file: each card
/// goes to its voter only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestVoters {
    pub election_id: u64,
    pub voters: Vec<TestVoter>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestVoter {
    /// The voter's id on the roll (a poll worker checks them in by it).
    pub id: String,
    pub name: String,
    /// The code on their voting card.
    pub card: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestnetNode {
    pub name: String,
    pub role: String,
    /// The public door: voters, observers, JSON-RPC.
    pub url: String,
    /// The peer door (the validators' genesis p2p URLs).
    pub peer_url: String,
    /// The operator door: the admin API and metrics.
    pub admin_url: String,
    /// The path `evote-appliance run --config` takes to start this node.
    pub config: PathBuf,
}

pub fn run(args: TestnetArgs) -> Result<(), AppError> {
    match args.action {
        Some(TestnetAction::Up { dir }) => up(&dir),
        None => {
            let (Some(n), Some(dir)) = (args.validators, args.dir.clone()) else {
                return Err(AppError::Setup(
                    "testnet needs --validators N and --dir D (or: testnet up D)".into(),
                ));
            };
            let params = Params {
                block_period_ms: args.block_period_ms,
                empty_block_period_ms: args.empty_block_period_ms,
                round_timeout_ms: args.round_timeout_ms,
                fallback_after_ms: args.fallback_after_ms,
                ..Params::default()
            };
            let election_ms = match args.election_seconds {
                Some(s) => s.saturating_mul(1_000).max(10_000),
                None => args.election_minutes.saturating_mul(60_000).max(60_000),
            };
            let voters = (!args.open_registration).then_some(args.voters);
            let file = create(&dir, n, args.stations, params, election_ms, voters)?;
            for node in &file.nodes {
                println!("{:<12} {:<9} {}", node.name, node.role, node.url);
            }
            println!(
                "wrote {}; start it with: evote-appliance testnet up {}",
                dir.join("testnet.json").display(),
                dir.display()
            );
            Ok(())
        }
    }
}

fn setup_err(e: impl std::fmt::Display) -> AppError {
    AppError::Setup(e.to_string())
}

/// Ports for a testnet's doors. They come from below the range the OS
/// hands out for `bind(..:0)` and for outgoing connections
/// (`ip_local_port_range`): between `testnet` writing a port and the node
/// binding it, a port of that range could be taken by anyone's listener on
/// port 0 (a link proxy of the same test) or as the source port of a
/// connection, and the node failed to start ("Address already in use").
/// Below it, only another testnet picks ports: each starts at a random
/// place, and every port it tried to bind and holds stays held (`held`)
/// until every door of the testnet has its port, so that none is given
/// twice (two nodes given one port answered each other's requests).
struct Ports {
    next: u16,
    held: Vec<TcpListener>,
}

/// The lowest testnet port (above the well-known and most registered
/// services' ports).
const FIRST_TESTNET_PORT: u16 = 12_000;

/// The first port of the OS's range for port 0 and outgoing connections.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

impl Ports {
    fn new() -> Self {
        let span = ephemeral_start().saturating_sub(FIRST_TESTNET_PORT).max(1);
        let offset = u16::from_le_bytes(random_bytes::<2>()) % span;
        Self {
            next: FIRST_TESTNET_PORT + offset,
            held: Vec::new(),
        }
    }

    /// A port no one listens on, held until `self` is dropped.
    fn pick(&mut self) -> Result<u16, AppError> {
        let end = ephemeral_start();
        if end <= FIRST_TESTNET_PORT {
            // No room below the OS's range: let the OS pick.
            return self.hold(0);
        }
        for _ in FIRST_TESTNET_PORT..end {
            let port = self.next;
            self.next = if port + 1 >= end {
                FIRST_TESTNET_PORT
            } else {
                port + 1
            };
            if let Ok(port) = self.hold(port) {
                return Ok(port);
            }
        }
        Err(AppError::Setup(format!(
            "no free port on 127.0.0.1 from {FIRST_TESTNET_PORT} to {end}"
        )))
    }

    fn hold(&mut self, port: u16) -> Result<u16, AppError> {
        let l = TcpListener::bind(("127.0.0.1", port)).map_err(setup_err)?;
        let port = l.local_addr().map_err(setup_err)?.port();
        self.held.push(l);
        Ok(port)
    }
}

/// Writes a testnet of `n` validators and `m` stations into `dir`.
pub fn create(
    dir: &Path,
    n: usize,
    m: usize,
    params: Params,
    election_ms: u64,
    voters: Option<usize>,
) -> Result<TestnetFile, AppError> {
    if n == 0 {
        return Err(AppError::Setup(
            "a testnet needs at least one validator".into(),
        ));
    }
    if dir.join("testnet.json").exists() {
        return Err(AppError::Setup(format!(
            "{} already holds a testnet",
            dir.display()
        )));
    }
    let dir = std::path::absolute(dir).map_err(setup_err)?;
    std::fs::create_dir_all(&dir).map_err(setup_err)?;
    let authority_key = keyfile::generate_node_key(&dir.join("authority.key"))?;
    let authority = authority_key.public();
    let credential_authority_key =
        keyfile::generate_node_key(&dir.join("credential-authority.key"))?;
    let credential_authority = credential_authority_key.public();
    // The election authority's roll of test voters and the credential
    // authority's cards for them (none with open registration).
    let (eligibility, test_voters, rolls) = match voters {
        Some(voters) => {
            let rows = (1..=voters)
                .map(|i| super::eligibility::RollRow {
                    id: format!("T{i:06}"),
                    name: format!("Test Voter {i}"),
                    district: None,
                    station: None,
                })
                .collect();
            let roll = super::eligibility::build_roll(1, rows, &authority_key)?;
            let commitment = crate::ledger::genesis::RollCommitment {
                size: roll.file.statement.size,
                root: roll.file.statement.root,
            };
            let issued = super::eligibility::issue(1, commitment, &credential_authority_key)?;
            let eligibility = issued
                .list
                .eligibility(&credential_authority)
                .map_err(setup_err)?;
            let roll_path = dir.join("roll.json");
            keyfile::write_secret(
                &roll_path,
                serde_json::to_string(&roll.file)
                    .expect("roll encodes")
                    .as_bytes(),
            )?;
            let test_voters = roll
                .file
                .entries
                .iter()
                .zip(&issued.codes)
                .map(|(e, c)| TestVoter {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    card: c.to_text(),
                })
                .collect();
            (eligibility, test_voters, vec![roll_path])
        }
        None => (Eligibility::Open {}, Vec::new(), Vec::new()),
    };
    keyfile::write_secret(
        &dir.join("nullifier.secret"),
        hex::encode(random_bytes::<32>()).as_bytes(),
    )?;
    let voters_path = dir.join("voters.json");
    keyfile::write_secret(
        &voters_path,
        serde_json::to_string(&TestVoters {
            election_id: 1,
            voters: test_voters,
        })
        .expect("voters encode")
        .as_bytes(),
    )?;
    let names: Vec<(String, &str)> = (1..=n)
        .map(|i| (format!("validator-{i}"), "validator"))
        .chain((1..=m).map(|i| (format!("station-{i}"), "station")))
        .collect();
    let mut nodes = Vec::new();
    let mut validators = Vec::new();
    let mut stations = Vec::new();
    let mut ports = Ports::new();
    for (name, role) in &names {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).map_err(setup_err)?;
        let key = keyfile::generate_node_key(&home.join("node.key"))?.public();
        keyfile::write_secret(
            &home.join("admin.token"),
            hex::encode(random_bytes::<32>()).as_bytes(),
        )?;
        let mut door = || -> Result<std::net::SocketAddr, AppError> {
            Ok(std::net::SocketAddr::from(([127, 0, 0, 1], ports.pick()?)))
        };
        let (listen, peer_listen, admin_listen) = (door()?, door()?, door()?);
        let url = format!("http://{listen}");
        let peer_url = format!("http://{peer_listen}");
        if *role == "validator" {
            validators.push(ValidatorInfo {
                public_key: key,
                name: name.clone(),
                p2p_url: peer_url.clone(),
            });
        } else {
            stations.push(StationInfo {
                public_key: key,
                name: name.clone(),
            });
        }
        let cfg = Config {
            peer_listen: Some(peer_listen),
            admin_listen: Some(admin_listen),
            public_url: Some(peer_url.clone()),
            rolls: rolls.clone(),
            ..Config::new(
                home.join("data"),
                listen,
                home.join("node.key"),
                dir.join("genesis.json"),
                dir.join("nullifier.secret"),
                home.join("admin.token"),
            )
        };
        let config = home.join("appliance.toml");
        write(&config, &cfg.to_toml())?;
        nodes.push(TestnetNode {
            name: name.clone(),
            role: (*role).into(),
            url,
            peer_url,
            admin_url: format!("http://{admin_listen}"),
            config,
        });
    }
    let now = now_ms() / 1000 * 1000;
    // Two of three trustees decrypt the testnet election's tally.
    let (trustees, keys) =
        crate::ledger::tally::local_ceremony(1, 3, 2, &mut crate::auth::OsRandom::default())
            .map_err(setup_err)?;
    std::fs::create_dir_all(dir.join("trustees")).map_err(setup_err)?;
    for k in &keys {
        let path = dir
            .join("trustees")
            .join(format!("trustee-{}.key", k.index));
        super::trustee::write_trustee_key(&path, k)?;
    }
    let genesis = Genesis {
        protocol: PROTOCOL.into(),
        chain_name: "evote-testnet".into(),
        created_at_ms: now,
        authority,
        credential_authority,
        validators,
        stations,
        elections: vec![super::demo_election(
            "Testnet election",
            now,
            now + election_ms,
            trustees,
            eligibility.clone(),
        )],
        params,
    };
    genesis.validate().map_err(setup_err)?;
    write(
        &dir.join("genesis.json"),
        &serde_json::to_string_pretty(&genesis).expect("genesis encodes"),
    )?;
    let file = TestnetFile {
        nodes,
        voters: voters_path,
    };
    write(
        &dir.join("testnet.json"),
        &serde_json::to_string_pretty(&file).expect("testnet encodes"),
    )?;
    Ok(file)
}

/// Starts every node as a child process, logs to `<node>/appliance.log`,
/// and stops them all on Ctrl-C or SIGTERM.
fn up(dir: &Path) -> Result<(), AppError> {
    let path = dir.join("testnet.json");
    let text = std::fs::read_to_string(&path).map_err(|source| AppError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    let file: TestnetFile = serde_json::from_str(&text).map_err(setup_err)?;
    let exe = std::env::current_exe().map_err(setup_err)?;
    let mut children: Vec<(String, Child)> = Vec::new();
    for node in &file.nodes {
        let log_path = node.config.with_file_name("appliance.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(setup_err)?;
        let child = Command::new(&exe)
            .arg("run")
            .arg("--config")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(setup_err)?)
            .stderr(log)
            .spawn()
            .map_err(setup_err)?;
        println!(
            "{:<12} {:<9} {}   (log: {})",
            node.name,
            node.role,
            node.url,
            log_path.display()
        );
        children.push((node.name.clone(), child));
    }
    println!(
        "testnet up: {} nodes; Ctrl-C stops them all",
        children.len()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(setup_err)?;
    rt.block_on(crate::app::shutdown_signal());
    for (name, child) in &mut children {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
        println!("stopped {name}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_of_a_testnet_gets_its_own_port() {
        let dir = tempfile::tempdir().unwrap();
        // Enough nodes that ports picked one by one and let go at once
        // repeated one in most runs (measured: 3% of testnets of 24 nodes).
        let net = create(dir.path(), 4, 252, Params::default(), 60_000, Some(10)).unwrap();
        let mut urls: Vec<&str> = net
            .nodes
            .iter()
            .flat_map(|n| [&n.url, &n.peer_url, &n.admin_url])
            .map(String::as_str)
            .collect();
        urls.sort_unstable();
        urls.dedup();
        assert_eq!(urls.len(), 3 * 256, "three doors per node");
        // None from the range the OS gives to port 0 and to outgoing
        // connections, where anyone could take it before the node binds it.
        let start = ephemeral_start();
        for u in urls {
            let port: u16 = u.rsplit(':').next().unwrap().parse().unwrap();
            assert!((FIRST_TESTNET_PORT..start).contains(&port), "{u}");
        }
    }
}
