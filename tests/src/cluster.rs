//! A local testnet of real `evote-appliance` processes on 127.0.0.1, for
//! end-to-end suites and the load tools: create it with `testnet`, start,
//! kill (SIGKILL) and restart nodes, and talk to them over HTTP. Every
//! process is killed when the cluster is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use evote_appliance::Signer;
use evote_appliance::{Config, TlsFiles};

use crate::attacks::addr_of;
use crate::linkproxy::{LinkProxy, LinkShape, Links, Target};
use crate::testcert::TestCa;

/// The `evote-appliance` binary next to this test binary (built by
/// `cargo test --workspace`), built on demand when missing; or the one
/// `EVOTE_APPLIANCE_BIN` names (to run a suite against another build, e.g.
/// to see an attack test fail on an older appliance).
pub fn appliance_bin() -> PathBuf {
    match std::env::var_os("EVOTE_APPLIANCE_BIN") {
        Some(p) => PathBuf::from(p),
        None => sibling_bin("evote-appliance", "evote-appliance"),
    }
}

pub use crate::audit_bin::audit_bin;

/// The binary `name` of `package` in the directory of the running test or
/// tool, built there first if it is missing.
fn sibling_bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", package, "--bin", name]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let ok = cmd.status().is_ok_and(|s| s.success());
        assert!(ok && bin.exists(), "could not build {}", bin.display());
    }
    bin
}

/// An agent for the appliances' doors: https trusts what
/// `evote_appliance::tls::trust` was given (evote-bench's `--ca-file`).
pub fn agent() -> ureq::Agent {
    agent_with(evote_appliance::tls::trusted())
}

/// An agent for https doors that trusts only the certificates of `ca_file`.
pub fn agent_trusting(ca_file: &std::path::Path) -> ureq::Agent {
    agent_with(evote_appliance::tls::client_config(Some(ca_file)).expect("a CA file"))
}

/// An agent that opens a new connection for every request and gives up
/// on a request after `timeout`: a client of its own, as an attacker's or
/// an impatient voter's would be.
pub fn one_shot_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// `work` on each item, each in a thread of its own (scoped: it may
/// borrow), and what all of them returned, in the items' order.
pub fn in_threads<I, T, F>(items: impl IntoIterator<Item = I>, work: F) -> Vec<T>
where
    I: Send,
    T: Send,
    F: Fn(I) -> Vec<T> + Sync,
{
    std::thread::scope(|s| {
        let work = &work;
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| s.spawn(move || work(item)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn agent_with(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(2)))
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub role: String,
    /// The public door (voters, observers, JSON-RPC).
    pub url: String,
    /// The peer door.
    pub peer_url: String,
    /// The operator door (admin API, metrics).
    pub admin_url: String,
    pub config: PathBuf,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeInfo>,
    children: std::sync::Mutex<Vec<Option<Child>>>,
    /// Per node, the `run` flags and environment it last started with
    /// ([`Cluster::start_with_env`]), for [`Cluster::pass_close`]'s restart.
    started_with: std::sync::Mutex<Vec<StartedWith>>,
    pub agent: ureq::Agent,
    /// The proxies every node reaches the validators through, once
    /// [`Cluster::route_through_proxies`] set them up.
    pub links: Links,
    /// Per node, once its links go through proxies: where its peer door is.
    /// Such a node binds its peer door to a port the OS picks as it binds
    /// it, read back from its log at each start ([`Cluster::start_with_env`]),
    /// and the proxies in front of it follow. A port picked by `testnet`
    /// and bound later by the appliance could be taken in between (by a
    /// proxy, or an outgoing connection of a node that started first):
    /// "Address already in use".
    peer_doors: Vec<Option<Target>>,
    /// How far ahead the appliances' clocks run when they start (and the
    /// command line's when it runs): [`Cluster::set_clock_ahead`].
    clock_ahead_ms: std::sync::atomic::AtomicU64,
    /// The roll's test voters with their cards (the testnet's voters.json),
    /// and which of them the test checked in.
    voter_book: std::sync::Mutex<VoterBook>,
}

/// The extra `run` flags and environment variables a node started with.
type StartedWith = (Vec<String>, Vec<(String, String)>);

/// The testnet's voters and what a test did with them.
#[derive(Default)]
struct VoterBook {
    /// (roll id, card code), in voters.json's order.
    voters: Vec<(String, String)>,
    next: usize,
    by_tag: std::collections::HashMap<String, usize>,
    /// Booth pass → the card of the voter it was issued for.
    cards: std::collections::HashMap<String, String>,
}

/// Who votes in a testnet's election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voters {
    /// A roll of test voters with their cards (this many; default the
    /// testnet's): checked in by a poll worker, voting with their card.
    Roll(Option<usize>),
    /// Open registration, as the `dev` demo (e-mail accounts and logins).
    OpenRegistration,
}

/// Timing parameters for a testnet.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub block_period_ms: u64,
    pub round_timeout_ms: u64,
    pub empty_block_period_ms: u64,
    pub fallback_after_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            block_period_ms: 200,
            round_timeout_ms: 500,
            empty_block_period_ms: 5_000,
            fallback_after_ms: 3_000,
        }
    }
}

impl Cluster {
    /// Keeps the testnet's directory (the nodes' databases and logs) when
    /// the cluster is dropped, and says where it is.
    pub fn keep(&mut self) {
        self.dir.disable_cleanup(true);
        eprintln!("kept the testnet at {}", self.dir.path().display());
    }

    /// Writes a testnet of `validators` and `stations` (not started).
    pub fn create(validators: usize, stations: usize, t: Timing) -> Cluster {
        Self::create_with_election(validators, stations, t, None)
    }

    /// Like [`Cluster::create`], with the election open until `open_for`
    /// from now only (it opened a minute ago), so that a test can see it close.
    pub fn create_with_election(
        validators: usize,
        stations: usize,
        t: Timing,
        open_for: Option<Duration>,
    ) -> Cluster {
        Self::create_with(validators, stations, t, open_for, Voters::Roll(None))
    }

    /// Like [`Cluster::create_with_election`], with the election's voters
    /// as `voters` says.
    pub fn create_with(
        validators: usize,
        stations: usize,
        t: Timing,
        open_for: Option<Duration>,
        voters: Voters,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let roll_size = match voters {
            Voters::Roll(Some(n)) => Some(n.to_string()),
            _ => None,
        };
        let mut roll: Vec<&str> = match &roll_size {
            Some(n) => vec!["--voters", n.as_str()],
            None => vec![],
        };
        if voters == Voters::OpenRegistration {
            roll.push("--open-registration");
        }
        let seconds = open_for.map(|d| d.as_secs().to_string());
        let election: Vec<&str> = match &seconds {
            Some(s) => vec!["--election-seconds", s.as_str()],
            None => vec![],
        };
        let out = Command::new(appliance_bin())
            .args(["testnet", "--validators", &validators.to_string()])
            .args(["--stations", &stations.to_string(), "--dir"])
            .arg(dir.path().join("net"))
            .args(["--block-period-ms", &t.block_period_ms.to_string()])
            .args(["--round-timeout-ms", &t.round_timeout_ms.to_string()])
            .args([
                "--empty-block-period-ms",
                &t.empty_block_period_ms.to_string(),
            ])
            .args(["--fallback-after-ms", &t.fallback_after_ms.to_string()])
            .args(&election)
            .args(&roll)
            .output()
            .expect("run testnet");
        assert!(
            out.status.success(),
            "testnet: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("net/testnet.json")).expect("testnet.json"),
        )
        .expect("testnet.json parses");
        let nodes: Vec<NodeInfo> = file["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| NodeInfo {
                name: n["name"].as_str().unwrap().into(),
                role: n["role"].as_str().unwrap().into(),
                url: n["url"].as_str().unwrap().into(),
                // An appliance older than the three doors serves all at `url`.
                peer_url: n["peer_url"].as_str().or(n["url"].as_str()).unwrap().into(),
                admin_url: n["admin_url"]
                    .as_str()
                    .or(n["url"].as_str())
                    .unwrap()
                    .into(),
                config: PathBuf::from(n["config"].as_str().unwrap()),
            })
            .collect();
        let children = std::sync::Mutex::new(nodes.iter().map(|_| None).collect());
        let started_with =
            std::sync::Mutex::new(nodes.iter().map(|_| Default::default()).collect());
        let voters_file: Value = serde_json::from_str(
            &std::fs::read_to_string(file["voters"].as_str().expect("testnet.json voters"))
                .expect("voters.json"),
        )
        .expect("voters.json parses");
        let voters = voters_file["voters"]
            .as_array()
            .expect("voters")
            .iter()
            .map(|v| {
                (
                    v["id"].as_str().unwrap().to_string(),
                    v["card"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        Cluster {
            voter_book: std::sync::Mutex::new(VoterBook {
                voters,
                ..VoterBook::default()
            }),
            dir,
            nodes,
            children,
            started_with,
            agent: agent(),
            links: Links::default(),
            peer_doors: Vec::new(),
            clock_ahead_ms: Default::default(),
        }
    }

    /// Nodes started from now on, and command-line runs, see their clock
    /// `ms` ahead of the wall clock (a test build's
    /// `EVOTE_TEST_CLOCK_AHEAD_MS`): a test can let an election's window
    /// pass without waiting for it. Restart the running nodes to move them
    /// too.
    pub fn set_clock_ahead(&self, ms: u64) {
        (self.clock_ahead_ms).store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// The clock offset of [`Cluster::set_clock_ahead`].
    pub fn clock_ahead_ms(&self) -> u64 {
        (self.clock_ahead_ms).load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The clock offset of [`Cluster::set_clock_ahead`], as the
    /// environment variable the appliance reads.
    fn clock_env(&self) -> [(&'static str, String); 1] {
        let ms = self.clock_ahead_ms();
        [(evote_appliance::TEST_CLOCK_AHEAD, ms.to_string())]
    }

    /// Milliseconds since the Unix epoch by the nodes' clock (the wall
    /// clock, ahead as [`Cluster::set_clock_ahead`] set it).
    pub fn now_ms(&self) -> u64 {
        evote_appliance::now_ms() + self.clock_ahead_ms()
    }

    /// When election 1 closes, by its genesis.
    pub fn closes_at(&self) -> u64 {
        let genesis =
            evote_appliance::load_genesis(&self.net_dir().join("genesis.json")).expect("genesis");
        genesis.elections[0].closes_at
    }

    /// Lets election 1's window pass without waiting for it: every running
    /// node restarts (with the flags it started with) with its clock `after`
    /// past the close, and so do command-line runs from now on. (A node
    /// signs its closing record 5 s after the close, the appliance's
    /// `CLOSE_AFTER_MS`.)
    pub fn pass_close(&self, after: Duration) {
        let target = self.closes_at() + after.as_millis() as u64;
        let ahead = target.saturating_sub(evote_appliance::now_ms());
        self.set_clock_ahead(self.clock_ahead_ms().max(ahead));
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.is_running(i))
            .collect();
        for &i in &running {
            self.kill(i);
            let (flags, env) = self.started_with.lock().unwrap()[i].clone();
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            self.start_with_env(i, &flags, &env);
        }
        for &i in &running {
            self.wait_up(i);
        }
    }

    /// Puts a proxy on every link from a node to a validator (written into
    /// each node's `validator_urls`), so that links can be cut and healed.
    /// Call it before starting the nodes.
    pub fn route_through_proxies(&mut self) {
        self.route_through_shaped(|_, _| LinkShape::default());
    }

    /// Like [`Cluster::route_through_proxies`], each link `(from, to)`
    /// shaped as `shape(from, to)` says (delays, bandwidth, stalls).
    pub fn route_through_shaped(&mut self, shape: impl Fn(usize, usize) -> LinkShape) {
        let validators: Vec<usize> = (0..self.nodes.len())
            .filter(|&j| self.nodes[j].role == "validator")
            .collect();
        // Until a node starts, its proxies lead where testnet put its door.
        self.peer_doors = (self.nodes.iter())
            .map(|n| Some(Target::new(addr_of(&n.peer_url))))
            .collect();
        for from in 0..self.nodes.len() {
            let path = &self.nodes[from].config;
            let mut cfg = Config::load(path).expect("node config");
            cfg.peer_listen = Some(([127, 0, 0, 1], 0).into());
            for &to in validators.iter().filter(|&&to| to != from) {
                let door = self.peer_doors[to].clone().expect("set above");
                let proxy = LinkProxy::start_to(door, shape(from, to)).expect("start a link proxy");
                cfg.validator_urls
                    .insert(self.nodes[to].name.clone(), proxy.url());
                self.links.proxies.insert((from, to), proxy);
            }
            std::fs::write(path, cfg.to_toml()).expect("write node config");
        }
    }

    /// Gives every node's public and operator doors a TLS certificate that
    /// `ca` signs (in the node's `tls/`, one for both doors), makes the
    /// nodes trust `ca` when they call each other's public doors, and the
    /// cluster's agent too. The public and operator doors' URLs become
    /// https. Call it before starting the nodes. The CA's certificate file.
    pub fn use_tls(&mut self, ca: &TestCa) -> PathBuf {
        let ca_file = ca.write(self.dir.path(), "test-ca");
        for i in 0..self.nodes.len() {
            let (cert_file, key_file) = ca.server_cert().write(&self.home(i).join("tls"));
            let path = &self.nodes[i].config;
            let mut cfg = Config::load(path).expect("node config");
            let files = TlsFiles {
                cert_file,
                key_file,
            };
            cfg.tls = Some(files.clone());
            cfg.admin_tls = Some(files);
            cfg.tls_ca_file = Some(ca_file.clone());
            std::fs::write(path, cfg.to_toml()).expect("write node config");
            let node = &mut self.nodes[i];
            for url in [&mut node.url, &mut node.admin_url] {
                *url = url.replacen("http://", "https://", 1);
            }
        }
        self.agent = agent_trusting(&ca_file);
        ca_file
    }

    /// Changes node `i`'s configuration file (before it starts).
    pub fn edit_config(&self, i: usize, edit: impl FnOnce(&mut Config)) {
        let path = &self.nodes[i].config;
        let mut cfg = Config::load(path).expect("node config");
        edit(&mut cfg);
        std::fs::write(path, cfg.to_toml()).expect("write node config");
    }

    /// Sends node `i`'s process `sig` (e.g. SIGHUP).
    pub fn signal(&self, i: usize, sig: rustix::process::Signal) {
        let pid = self.pid(i).expect("node runs");
        let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
        rustix::process::kill_process(pid, sig).expect("signal the node");
    }

    pub fn net_dir(&self) -> PathBuf {
        self.dir.path().join("net")
    }

    pub fn start_all(&self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
        for i in 0..self.nodes.len() {
            self.wait_up(i);
        }
    }

    pub fn start(&self, i: usize) {
        self.start_with(i, &[]);
    }

    /// Starts node `i` with extra `run` flags (e.g. `--offline`).
    pub fn start_with(&self, i: usize, extra: &[&str]) {
        self.start_with_env(i, extra, &[]);
    }

    /// Starts node `i` with extra `run` flags and environment variables.
    pub fn start_with_env(&self, i: usize, extra: &[&str], env: &[(&str, &str)]) {
        let mut children = self.children.lock().unwrap();
        assert!(children[i].is_none(), "{} already runs", self.nodes[i].name);
        let log = self.nodes[i].config.with_file_name("appliance.log");
        let logged_before = std::fs::metadata(&log).map_or(0, |m| m.len());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(appliance_bin())
            .arg("run")
            .arg("--config")
            .arg(&self.nodes[i].config)
            .args(extra)
            .envs(self.clock_env())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start appliance");
        children[i] = Some(child);
        drop(children);
        self.started_with.lock().unwrap()[i] = (
            extra.iter().map(|f| f.to_string()).collect(),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        if let Some(door) = self.peer_doors.get(i).and_then(Option::as_ref) {
            door.set(self.wait_peer_door(i, logged_before));
        }
    }

    /// The peer door node `i` logged after `offset` in its log, once it is
    /// bound; panics with the log if the node exits first or takes more
    /// than 60 s.
    fn wait_peer_door(&self, i: usize, offset: u64) -> std::net::SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log(i);
            let new = log.get(offset as usize..).unwrap_or_default();
            let bound = (new.lines())
                .filter_map(|l| l.split_once("peer door listening on http://"))
                .find_map(|(_, addr)| addr.trim().parse().ok());
            if let Some(addr) = bound {
                return addr;
            }
            let exited = (self.children.lock().unwrap()[i].as_mut())
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{}: no peer door ({exited:?}); log:\n{log}",
                self.nodes[i].name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Node `i`'s peer door as it is now.
    pub fn peer_url(&self, i: usize) -> String {
        match self.peer_doors.get(i).and_then(Option::as_ref) {
            Some(door) => format!("http://{}", door.get()),
            None => self.nodes[i].peer_url.clone(),
        }
    }

    pub fn wait_up(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.try_get(i, "/health").is_some_and(|(c, _)| c == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not come up; log:\n{}",
            self.nodes[i].name,
            self.log(i)
        );
    }

    /// SIGKILL, like a power cut.
    pub fn kill(&self, i: usize) {
        let taken = self.children.lock().unwrap()[i].take();
        if let Some(mut c) = taken {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `within` for node `i`'s process to end by itself; its
    /// exit status, or `None` if it still runs.
    pub fn wait_exit(&self, i: usize, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            {
                let mut children = self.children.lock().unwrap();
                let child = children[i].as_mut().expect("node was started");
                if let Some(status) = child.try_wait().expect("try_wait") {
                    children[i] = None;
                    return Some(status);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.children.lock().unwrap()[i].as_ref().map(Child::id)
    }

    /// Node `i`'s home directory (config, keys, `data/`, log).
    pub fn home(&self, i: usize) -> PathBuf {
        self.nodes[i]
            .config
            .parent()
            .expect("config dir")
            .to_path_buf()
    }

    pub fn admin_token(&self, i: usize) -> String {
        std::fs::read_to_string(self.home(i).join("admin.token"))
            .expect("admin token")
            .trim()
            .to_string()
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.children.lock().unwrap()[i].is_some()
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].config.with_file_name("appliance.log"))
            .unwrap_or_default()
    }

    /// Node `i`'s public door.
    pub fn url(&self, i: usize) -> &str {
        &self.nodes[i].url
    }

    /// The door of node `i` that serves `path`: the operator door for the
    /// admin API and metrics, the peer door for what peers post, the
    /// public door for the rest.
    pub fn door(&self, i: usize, path: &str) -> String {
        let n = &self.nodes[i];
        if path.starts_with("/api/admin/") || path.starts_with("/metrics") {
            n.admin_url.clone()
        } else if path.starts_with("/p2p/message") || path.starts_with("/p2p/transactions") {
            self.peer_url(i)
        } else {
            n.url.clone()
        }
    }

    pub fn try_get(&self, i: usize, path: &str) -> Option<(u16, Value)> {
        let r = self
            .agent
            .get(format!("{}{path}", self.door(i, path)))
            .call()
            .ok()?;
        Some(read(r))
    }

    pub fn get(&self, i: usize, path: &str) -> (u16, Value) {
        self.try_get(i, path)
            .unwrap_or_else(|| panic!("GET {path} on {}", self.nodes[i].name))
    }

    /// GET with the body as text (for /metrics).
    pub fn get_text(&self, i: usize, path: &str) -> (u16, String) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.door(i, path)))
            .call()
            .expect("GET");
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// GET with one extra header.
    pub fn get_with(&self, i: usize, path: &str, header: &str, value: &str) -> (u16, Value) {
        let r = self
            .agent
            .get(format!("{}{path}", self.door(i, path)))
            .header(header, value)
            .call();
        read(r.expect("GET"))
    }

    /// POST without a body, with one extra header.
    pub fn post_with(&self, i: usize, path: &str, header: &str, value: &str) -> (u16, Value) {
        let r = self
            .agent
            .post(format!("{}{path}", self.door(i, path)))
            .header(header, value)
            .send_empty();
        read(r.expect("POST"))
    }

    pub fn post(&self, i: usize, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self.agent.post(format!("{}{path}", self.door(i, path)));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        match req.send_json(body) {
            Ok(r) => read(r),
            Err(e) => panic!("POST {path} on {}: {e}", self.nodes[i].name),
        }
    }

    /// Signs requests with node `i`'s key, as that node does to its peers.
    pub fn signer(&self, i: usize) -> Signer {
        let key = evote_appliance::read_node_key(&self.home(i).join("node.key")).expect("node key");
        let genesis =
            evote_appliance::load_genesis(&self.net_dir().join("genesis.json")).expect("genesis");
        Signer::new(
            std::sync::Arc::new(key),
            genesis.chain_id().expect("chain id"),
        )
    }

    /// POSTs `body` to node `i`'s peer door, signed with node `from`'s key.
    pub fn peer_post(&self, i: usize, path: &str, body: &Value, from: usize) -> (u16, Value) {
        let url = format!("{}{path}", self.peer_url(i));
        match self.signer(from).post_json(&self.agent, &url, body) {
            Ok(r) => read(r),
            Err(e) => panic!("POST {path} on {}: {e}", self.nodes[i].name),
        }
    }

    /// (height, head hash) of node `i`.
    pub fn head(&self, i: usize) -> (u64, String) {
        let (_, v) = self.get(i, "/health");
        (
            v["height"].as_u64().unwrap(),
            v["best_hash"].as_str().unwrap().to_string(),
        )
    }

    /// Every voter of the testnet's roll: (roll id, card code).
    pub fn roll_voters(&self) -> Vec<(String, String)> {
        self.voter_book.lock().unwrap().voters.clone()
    }

    /// The roll voter a test calls `tag` (the same voter for the same tag,
    /// the next unused one for a new tag): (roll id, card code).
    pub fn roll_voter(&self, tag: &str) -> (String, String) {
        let mut book = self.voter_book.lock().unwrap();
        let next = book.next;
        let k = *book.by_tag.entry(tag.to_string()).or_insert(next);
        if k == next {
            book.next += 1;
        }
        assert!(
            k < book.voters.len(),
            "the testnet's roll has {} voters; create it with more",
            book.voters.len()
        );
        book.voters[k].clone()
    }

    /// Checks voter `tag` in at node `i` as a poll worker does (the roll
    /// voter [`Cluster::roll_voter`] names) and returns their booth pass;
    /// [`Cluster::vote`] casts with the pass and the voter's card.
    pub fn voter(&self, i: usize, tag: &str) -> String {
        let (code, v) = self.check_in(i, tag);
        assert_eq!(code, 200, "check-in at {}: {v}", self.nodes[i].name);
        v["booth_pass"].as_str().unwrap().to_string()
    }

    /// Checks voter `tag` in at node `i`: the answer as it is.
    pub fn check_in(&self, i: usize, tag: &str) -> (u16, Value) {
        let (id, card) = self.roll_voter(tag);
        let body = json!({"election_id": 1, "voter_id": id});
        let admin = self.admin_token(i);
        let (code, v) = self.post(i, "/api/admin/voters/check-in", &body, Some(&admin));
        if let Some(pass) = v["booth_pass"].as_str() {
            let mut book = self.voter_book.lock().unwrap();
            book.cards.insert(pass.to_string(), card);
        }
        (code, v)
    }

    /// Checks `n` voters in at node `i` in batches (voters `{tag}-0`...):
    /// their booth passes.
    pub fn check_in_many(&self, i: usize, n: usize, tag: &str) -> Vec<String> {
        let mut passes = Vec::with_capacity(n);
        let admin = self.admin_token(i);
        let all: Vec<(String, String)> = (0..n)
            .map(|k| self.roll_voter(&format!("{tag}-{k}")))
            .collect();
        for chunk in all.chunks(1_000) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let body = json!({"election_id": 1, "voter_ids": ids});
            let (code, v) = self.post(i, "/api/admin/voters/check-in", &body, Some(&admin));
            assert_eq!(code, 200, "check-in at {}: {v}", self.nodes[i].name);
            let results = v["results"].as_array().expect("results");
            let mut book = self.voter_book.lock().unwrap();
            for ((_, card), r) in chunk.iter().zip(results) {
                let pass = r["booth_pass"]
                    .as_str()
                    .unwrap_or_else(|| panic!("check-in at {}: {r}", self.nodes[i].name));
                book.cards.insert(pass.to_string(), card.clone());
                passes.push(pass.to_string());
            }
        }
        passes
    }

    /// The card of the voter a booth pass was issued for.
    pub fn card(&self, pass: &str) -> String {
        let book = self.voter_book.lock().unwrap();
        book.cards
            .get(pass)
            .cloned()
            .unwrap_or_else(|| panic!("no voter checked in with pass {pass}"))
    }

    /// A vote's body for the voter behind `token`: the choice and, for a
    /// booth pass, the voter's card (a session of an open-registration
    /// election needs none).
    pub fn vote_body(&self, token: &str, candidate: u64) -> Value {
        let card = self.voter_book.lock().unwrap().cards.get(token).cloned();
        match card {
            Some(card) => json!({"election_id": 1, "candidate_id": candidate, "credential": card}),
            None => json!({"election_id": 1, "candidate_id": candidate}),
        }
    }

    /// Registers and logs in a voter at node `i` (an open-registration
    /// testnet, [`Voters::OpenRegistration`]): their session token.
    pub fn account(&self, i: usize, email: &str) -> String {
        let body = json!({"email": email, "password": "correct horse"});
        let (c, v) = self.post(i, "/api/auth/register", &body, None);
        assert_eq!(c, 201, "register at {}: {v}", self.nodes[i].name);
        let (c, v) = self.post(i, "/api/auth/login", &body, None);
        assert_eq!(c, 200, "login: {v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Casts a vote; returns the acknowledged transaction id.
    pub fn vote(&self, i: usize, token: &str, candidate: u64) -> String {
        let v = self.vote_answer(i, token, candidate);
        v["transaction_id"].as_str().unwrap().to_string()
    }

    /// Casts a vote; returns the whole (successful) answer.
    pub fn vote_answer(&self, i: usize, token: &str, candidate: u64) -> Value {
        let body = self.vote_body(token, candidate);
        let (c, v) = self.post(i, "/api/votes/submit", &body, Some(token));
        assert_eq!(c, 200, "vote at {}: {v}", self.nodes[i].name);
        v
    }

    /// Runs `evote-appliance` with `args` to completion: (exit code, stdout, stderr).
    /// Trustee `j` of the testnet posts its decryption share of election
    /// 1's tally at node `i` (`trustee decrypt`).
    pub fn decrypt(&self, j: u32, i: usize) {
        use std::ffi::OsStr;
        let key = self.net_dir().join(format!("trustees/trustee-{j}.key"));
        let (code, out, err) = self.cli(&[
            OsStr::new("trustee"),
            OsStr::new("decrypt"),
            OsStr::new("--share"),
            key.as_os_str(),
            OsStr::new("--node"),
            OsStr::new(self.url(i)),
            OsStr::new("--election"),
            OsStr::new("1"),
        ]);
        assert_eq!(code, 0, "trustee {j} decrypt: {out}{err}");
        // Wait until every running node offers the tally this share names
        // (the share is committed there): the next trustee then decrypts
        // the same tally wherever they ask, even if a ballot came after.
        let height: u64 = out
            .split("share of the tally at block ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|h| h.parse().ok())
            .unwrap_or_else(|| panic!("trustee {j} decrypt named no tally: {out}"));
        let deadline = Instant::now() + Duration::from_secs(120);
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&k| self.is_running(k))
            .collect();
        while !running.iter().all(|&k| {
            self.try_get(k, "/api/tally/1")
                .is_some_and(|(_, t)| t["tally_height"] == height)
        }) {
            assert!(
                Instant::now() < deadline,
                "trustee {j}'s share of the tally at block {height} never reached every node"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn cli(&self, args: &[&std::ffi::OsStr]) -> (i32, String, String) {
        let out = Command::new(appliance_bin())
            .args(args)
            .envs(self.clock_env())
            .output()
            .expect("run evote-appliance");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    pub fn tx_status(&self, i: usize, tx: &str) -> String {
        let (_, v) = self.get(
            i,
            &format!("/api/votes/transaction-status?transaction_id={tx}"),
        );
        v["status"].as_str().unwrap_or("unknown").to_string()
    }

    /// Every committed transaction hash on node `i`, from its blocks.
    pub fn committed_txs(&self, i: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut from = 1;
        loop {
            let (_, v) = self.get(i, &format!("/p2p/blocks?from={from}&limit=64"));
            let blocks = v["blocks"].as_array().cloned().unwrap_or_default();
            if blocks.is_empty() {
                return out;
            }
            for b in &blocks {
                for t in b["transactions"].as_array().unwrap() {
                    let body = serde_json::to_vec(&t["tx"]).unwrap();
                    let tx: evote_core::ledger::Transaction =
                        serde_json::from_slice(&body).unwrap();
                    out.push(tx.hash().unwrap().to_hex());
                }
            }
            from += blocks.len();
        }
    }

    /// POST with an admin bearer token.
    pub fn post_with_token(&self, i: usize, path: &str, body: &Value, token: &str) -> (u16, Value) {
        self.post(i, path, body, Some(token))
    }

    /// Like [`Cluster::wait_agree`], but answers whether they agreed in time.
    pub fn wait_agree_within(&self, min_height: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let heads: Vec<(u64, String)> = (0..self.nodes.len())
                .filter(|&i| self.is_running(i))
                .filter_map(|i| self.try_get(i, "/health"))
                .map(|(_, v)| {
                    (
                        v["height"].as_u64().unwrap_or(0),
                        v["best_hash"].to_string(),
                    )
                })
                .collect();
            let running = (0..self.nodes.len())
                .filter(|&i| self.is_running(i))
                .count();
            if heads.len() == running
                && heads[0].0 >= min_height
                && heads.iter().all(|h| h == &heads[0])
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every running node has the same head at or above `min_height`.
    pub fn wait_agree(&self, min_height: u64, within: Duration) -> (u64, String) {
        let deadline = Instant::now() + within;
        loop {
            let heads: Vec<(u64, String)> = (0..self.nodes.len())
                .filter(|&i| self.is_running(i))
                .map(|i| self.head(i))
                .collect();
            if heads[0].0 >= min_height && heads.iter().all(|h| h == &heads[0]) {
                return heads[0].clone();
            }
            assert!(Instant::now() < deadline, "nodes did not agree: {heads:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failing test's nodes tell what they saw before their files go.
        if std::thread::panicking() {
            for i in 0..self.nodes.len() {
                let log = self.log(i);
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- {} (last lines of its log)", self.nodes[i].name);
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

fn read(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let code = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Waits until `f` holds, asking every 100 ms; panics naming `what` after
/// `within`.
pub fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks `n` voters in spread over `nodes` (round-robin), in parallel:
/// (node, booth pass) each.
pub fn voters(c: &Cluster, nodes: &[usize], n: usize, tag: &str) -> Vec<(usize, String)> {
    let all: Vec<usize> = (0..n).collect();
    in_threads(all.chunks(n.div_ceil(4).max(1)), |chunk| {
        chunk
            .iter()
            .map(|&k| {
                let node = nodes[k % nodes.len()];
                (node, c.voter(node, &format!("{tag}-{k}")))
            })
            .collect()
    })
}
