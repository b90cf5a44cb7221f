//! Helpers for black-box tests: start the real binary on a free loopback
//! port in a temp dir, talk to it over HTTP, kill it on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_evote-appliance"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// An appliance started with `dev` on a data dir it does not own.
pub struct Dev {
    pub child: Child,
    /// The public door.
    pub url: String,
    /// The peer door.
    pub peer_url: String,
    /// The operator door.
    pub admin_url: String,
    pub port: u16,
    pub dir: PathBuf,
    pub agent: ureq::Agent,
}

impl Dev {
    pub fn start(dir: &Path) -> Dev {
        Self::start_on(dir, free_port())
    }

    pub fn start_on(dir: &Path, port: u16) -> Dev {
        Self::start_logged(dir, port, None)
    }

    /// Starts `dev`, writing its log to `log` when given.
    pub fn start_logged(dir: &Path, port: u16, log: Option<&Path>) -> Dev {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("log file")),
            None => Stdio::null(),
        };
        let (peer, admin) = (free_port(), free_port());
        let child = Command::new(bin())
            .args(["dev", "--data-dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--peer-listen", &format!("127.0.0.1:{peer}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start evote-appliance");
        let d = Dev {
            child,
            url: format!("http://127.0.0.1:{port}"),
            peer_url: format!("http://127.0.0.1:{peer}"),
            admin_url: format!("http://127.0.0.1:{admin}"),
            port,
            dir: dir.to_path_buf(),
            agent: agent(),
        };
        d.wait_healthy();
        d
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.agent.get(format!("{}/health", self.url)).call()
                && r.status() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("appliance at {} did not become healthy", self.url);
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
