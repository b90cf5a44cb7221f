//! The `evote-audit` binary for the end-to-end suites that run it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
