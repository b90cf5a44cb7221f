//! Helpers for black-box tests: start the real binary in a temp dir on
//! ports the OS picks as it binds them (read back from its log), talk to
//! it over HTTP, kill it on drop.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_evote-appliance"))
}

/// Every door on a port the OS picks when the appliance binds it: no
/// port is chosen before (a port found free and given to the appliance
/// could be taken by another test's process in between).
pub const ANY_PORTS: [&str; 6] = [
    "--listen",
    "127.0.0.1:0",
    "--peer-listen",
    "127.0.0.1:0",
    "--admin-listen",
    "127.0.0.1:0",
];

/// Where a started process listens, and who it is, as its log says.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    /// `public`, `peer`, `operator` (or `bootnode`) to `http://ADDR`.
    pub doors: Vec<(String, String)>,
    /// The node id an appliance logs once it is ready.
    pub node_id: Option<String>,
}

impl Listening {
    pub fn door(&self, name: &str) -> &str {
        let found = self.doors.iter().find(|(n, _)| n == name);
        &found
            .unwrap_or_else(|| panic!("no {name} door in {self:?}"))
            .1
    }

    /// An appliance: its three doors and its node id.
    pub fn appliance(&self) -> bool {
        self.doors.len() == 3 && self.node_id.is_some()
    }

    /// What a log says so far: "public door listening on http://ADDR",
    /// "bootnode listening on http://ADDR", "evote-appliance ready
    /// node_id=ID".
    fn read(log: &str) -> Self {
        let mut seen = Self::default();
        for line in log.lines() {
            if let Some((before, url)) = line.split_once(" listening on ") {
                let mut words = before.rsplit(' ');
                let name = match words.next() {
                    Some("door") => words.next(),
                    last => last,
                };
                let name = name.unwrap_or_default().to_string();
                seen.doors.push((name, url.trim().to_string()));
            }
            if line.contains("evote-appliance ready")
                && let Some(id) = line.split("node_id=").nth(1)
            {
                seen.node_id = id.split_whitespace().next().map(str::to_string);
            }
        }
        seen
    }
}

/// Starts the binary with `args`, its log (stderr) in `log`, and waits
/// until what its log says is `ready`; panics with the log if it exits
/// first.
pub fn launch<S: AsRef<OsStr>>(
    args: &[S],
    log: &Path,
    ready: impl Fn(&Listening) -> bool,
) -> (Child, Listening) {
    let stderr = std::fs::File::create(log).expect("log file");
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start evote-appliance");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let seen = Listening::read(&text);
        if ready(&seen) {
            return (child, seen);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("evote-appliance exited ({status}) before listening; log:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "evote-appliance not listening after 60 s; log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// An appliance started with `dev` (or `run` on what `dev` wrote) on a
/// data dir it does not own.
pub struct Dev {
    pub child: Child,
    /// The public door.
    pub url: String,
    /// The peer door.
    pub peer_url: String,
    /// The operator door.
    pub admin_url: String,
    pub dir: PathBuf,
    pub agent: ureq::Agent,
    /// The id it logged: [`Dev::wait_healthy`] believes only its answer.
    pub node_id: String,
    /// Where its log goes when the test gives no place.
    _log_dir: Option<tempfile::TempDir>,
    /// Its data dir, when it owns it ([`Dev::start_fresh`]).
    _data_dir: Option<tempfile::TempDir>,
}

impl Dev {
    pub fn start(dir: &Path) -> Dev {
        Self::start_logged(dir, None)
    }

    /// `dev` in a data dir of its own, removed after the process is killed.
    pub fn start_fresh() -> Dev {
        let data = tempfile::tempdir().expect("a data dir");
        let mut dev = Self::start(data.path());
        dev._data_dir = Some(data);
        dev
    }

    /// Starts `dev`, writing its log to `log` when given.
    pub fn start_logged(dir: &Path, log: Option<&Path>) -> Dev {
        let args = [OsStr::new("dev"), OsStr::new("--data-dir"), dir.as_os_str()];
        Self::launch(dir, &args, log)
    }

    /// `run --config` on what `dev` wrote in `dir`, with `extra` flags.
    pub fn run(dir: &Path, extra: &[&str]) -> Dev {
        let config = dir.join("appliance.toml");
        let mut args = vec![
            OsStr::new("run"),
            OsStr::new("--config"),
            config.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        Self::launch(dir, &args, None)
    }

    fn launch(dir: &Path, args: &[&OsStr], log: Option<&Path>) -> Dev {
        let log_dir = log
            .is_none()
            .then(|| tempfile::tempdir().expect("a log dir"));
        let log = match (log, &log_dir) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(d)) => d.path().join("appliance.log"),
            (None, None) => unreachable!("a log dir when no log is given"),
        };
        let mut all: Vec<&OsStr> = args.to_vec();
        all.extend(ANY_PORTS.iter().map(OsStr::new));
        let (child, seen) = launch(&all, &log, Listening::appliance);
        let d = Dev {
            child,
            url: seen.door("public").to_string(),
            peer_url: seen.door("peer").to_string(),
            admin_url: seen.door("operator").to_string(),
            dir: dir.to_path_buf(),
            agent: agent(),
            node_id: seen.node_id.expect("the appliance logs its node id"),
            _log_dir: log_dir,
            _data_dir: None,
        };
        d.wait_healthy();
        d
    }

    /// The operators' token `dev` wrote.
    pub fn admin_token(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("admin.token")).expect("admin.token");
        text.trim().to_string()
    }

    /// Waits until `/health` answers 200 with this appliance's node id
    /// (another process answering at its address does not count).
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(r) = self.agent.get(format!("{}/health", self.url)).call() {
                let (code, v) = read(r);
                if code == 200 && v["node_id"] == self.node_id.as_str() {
                    return;
                }
                last = Some((code, v));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "appliance {} at {} did not become healthy (last answer {last:?})",
            self.node_id, self.url
        );
    }

    /// SIGKILL, as a power cut would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .agent
            .get(format!("{}{path}", self.url))
            .call()
            .unwrap();
        read(r)
    }

    pub fn get_with_token(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        read(r)
    }

    pub fn post(&self, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
        self.post_at(&self.url, path, body, token)
    }

    /// POST at the operator door.
    pub fn admin_post(&self, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
        self.post_at(&self.admin_url, path, body, token)
    }

    fn post_at(&self, base: &str, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .agent
            .post(format!("{base}{path}"))
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        read(req.send(body).unwrap())
    }

    /// Like [`Dev::post`], on a connection of its own that is not kept for
    /// later requests (the server closes it after refusing a body unread);
    /// `None` when the connection failed.
    pub fn try_post(&self, path: &str, body: &str, token: Option<&str>) -> Option<(u16, Value)> {
        let once: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let mut req = once
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send(body).ok().map(read)
    }

    pub fn register(&self, email: &str) -> String {
        let body = format!(r#"{{"email":"{email}","password":"correct horse","name":"Voter"}}"#);
        let (code, v) = self.post("/api/auth/register", &body, None);
        assert_eq!(code, 201, "register {email}: {v}");
        let body = format!(r#"{{"email":"{email}","password":"correct horse"}}"#);
        let (code, v) = self.post("/api/auth/login", &body, None);
        assert_eq!(code, 200, "login {email}: {v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    pub fn vote(&self, token: &str, candidate: u64) -> (u16, Value) {
        let body = format!(r#"{{"election_id":1,"candidate_id":{candidate}}}"#);
        self.post("/api/votes/submit", &body, Some(token))
    }

    /// Votes for `candidate`, the vote taken; its transaction id.
    pub fn voted(&self, token: &str, candidate: u64) -> String {
        let (code, v) = self.vote(token, candidate);
        assert_eq!(code, 200, "{v}");
        v["transaction_id"].as_str().unwrap().to_string()
    }

    pub fn status_of(&self, tx: &str) -> String {
        let (_, v) = self.get(&format!(
            "/api/votes/transaction-status?transaction_id={tx}"
        ));
        v["status"].as_str().unwrap_or("").to_string()
    }

    /// Waits until `tx` is confirmed or finalized; returns how long it took.
    pub fn wait_confirmed(&self, tx: &str, within: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < within {
            let s = self.status_of(tx);
            if s == "confirmed" || s == "finalized" {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{tx} not confirmed within {within:?}: {}",
            self.status_of(tx)
        );
    }

    pub fn head(&self) -> (u64, String) {
        let (_, v) = self.get("/health");
        (
            v["height"].as_u64().unwrap(),
            v["best_hash"].as_str().unwrap().to_string(),
        )
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn read(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let code = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (code, v)
}

/// Asserts the API's error shape and returns its code.
pub fn error_code(v: &Value) -> String {
    let e = &v["error"];
    assert!(e["message"].is_string(), "error shape: {v}");
    e["code"].as_str().expect("error code").to_string()
}
