//! The `evote-audit` binary for the end-to-end suites that run it, and
//! what they read of its reports.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::cluster::Cluster;

/// A run of `evote-audit`: its exit code and what it printed.
pub struct AuditRun {
    pub code: i32,
    pub stdout: String,
}

impl AuditRun {
    /// The JSON report it printed (a `--json` run).
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}", self.stdout))
    }
}

/// Runs `evote-audit` with `args` (a subcommand and its flags), its clock
/// as far ahead as `c`'s nodes' ([`Cluster::set_clock_ahead`]) so that
/// their blocks are not from its future.
pub fn audit<S: AsRef<OsStr>>(c: &Cluster, args: impl IntoIterator<Item = S>) -> AuditRun {
    let mut cmd = Command::new(audit_bin());
    cmd.args(args);
    if c.clock_ahead_ms() > 0 {
        cmd.arg("--now-ms").arg(c.now_ms().to_string());
    }
    let out = cmd.output().expect("run evote-audit");
    AuditRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// `evote-audit verify --json` of `sources` (`--nodes URLS`, `--db FILE`)
/// against `c`'s genesis: (exit code, report).
pub fn verify(c: &Cluster, sources: &[&str]) -> (i32, Value) {
    let genesis = c.net_dir().join("genesis.json");
    let mut args = vec![OsStr::new("verify"), OsStr::new("--json")];
    args.push(OsStr::new("--no-progress"));
    args.extend(sources.iter().map(OsStr::new));
    args.extend([OsStr::new("--genesis"), genesis.as_os_str()]);
    let run = audit(c, args);
    (run.code, run.report())
}

/// Check `id` of a report.
pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("a report's checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

/// Asserts that every check of `ids` (separated by spaces) PASSed.
pub fn assert_pass(report: &Value, ids: &str) {
    for id in ids.split_whitespace() {
        assert_eq!(check(report, id)["verdict"], "PASS", "{id}");
    }
}

/// The failures of check `id`, asserting it FAILed.
pub fn failed<'a>(report: &'a Value, id: &str) -> &'a Vec<Value> {
    let c = check(report, id);
    assert_eq!(c["verdict"], "FAIL", "{id} should fail: {c:#}");
    c["failures"].as_array().expect("failures")
}

/// The `evote-audit` binary next to this test binary (built by `cargo test
/// --workspace`), built on demand when it is missing or older than the
/// auditor's sources.
pub fn audit_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let bin = dir.join("evote-audit");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../auditor");
        let stale = built.is_none_or(|b| newest(&src).is_some_and(|s| s > b));
        if stale {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "evote-audit", "--bin", "evote-audit"]);
            if dir.ends_with("release") {
                cmd.arg("--release");
            }
            let ok = cmd.status().is_ok_and(|s| s.success());
            assert!(ok && bin.exists(), "could not build {}", bin.display());
        }
        bin
    })
    .clone()
}

/// The newest modification time of the auditor's sources.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut out = None;
    for name in ["Cargo.toml", "src"] {
        let p = dir.join(name);
        let mut stack = vec![p];
        while let Some(p) = stack.pop() {
            let Ok(m) = std::fs::metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                if let Ok(rd) = std::fs::read_dir(&p) {
                    stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
                }
            } else if let Ok(t) = m.modified() {
                out = out.max(Some(t));
            }
        }
    }
    out
}
