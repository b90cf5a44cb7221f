//! A database that is corrupt, truncated, read-only or from a newer
//! version is refused with a clear message and exit code 1, and left as
//! it was; one whose lock another process holds is waited out.

mod support;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use support::Dev;

/// A dev data dir with a few committed votes, the appliance stopped.
fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    for i in 0..3 {
        let t = dev.register(&format!("d{i}@example.org"));
        dev.wait_confirmed(&dev.voted(&t, 1), Duration::from_secs(5));
    }
    dev.kill9();
    dir
}

fn run(dir: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(support::bin())
        .args(["run", "--config"])
        .arg(dir.join("appliance.toml"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn db(dir: &Path) -> std::path::PathBuf {
    dir.join("evote.sqlite3")
}

/// Folds the WAL into the main file so that the file alone is the database.
fn checkpoint(dir: &Path) {
    let c = rusqlite::Connection::open(db(dir)).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
        .unwrap();
}

#[test]
fn a_corrupt_database_is_refused_untouched() {
    let dir = populated();
    checkpoint(dir.path());
    let mut bytes = std::fs::read(db(dir.path())).unwrap();
    for b in bytes.iter_mut().take(100) {
        *b = 0x5a;
    }
    std::fs::write(db(dir.path()), &bytes).unwrap();
    let (code, err) = run(dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot open the database"), "{err}");
    assert_eq!(std::fs::read(db(dir.path())).unwrap(), bytes);
}

#[test]
fn a_truncated_database_is_refused() {
    let dir = populated();
    checkpoint(dir.path());
    let bytes = std::fs::read(db(dir.path())).unwrap();
    let half = &bytes[..bytes.len() / 2];
    std::fs::write(db(dir.path()), half).unwrap();
    let (code, err) = run(dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("integrity check") || err.contains("cannot open the database"),
        "{err}"
    );
    assert_eq!(std::fs::read(db(dir.path())).unwrap(), half);
}

#[test]
fn a_read_only_database_is_refused_with_a_clear_message() {
    let dir = populated();
    checkpoint(dir.path());
    let path = db(dir.path());
    // File modes do not stop root; the immutable attribute does.
    let immutable = is_root();
    if immutable {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "chattr +i");
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let (code, err) = run(dir.path());
    if immutable {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&path)
            .status();
    }
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("readonly") || err.contains("read-only"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A small tmpfs, unmounted on drop.
struct TinyDisk(tempfile::TempDir);

impl TinyDisk {
    fn mount(size: &str) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk(dir))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_loses_no_acknowledged_vote() {
    if !is_root() {
        eprintln!("skipped: mounting a small disk needs root");
        return;
    }
    let disk = TinyDisk::mount("2500k").expect("mount a tmpfs");
    let data = disk.0.path().join("d");
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("appliance.log");
    let mut dev = Dev::start_logged(&data, Some(&log));
    let admin = dev.admin_token();
    let mut acked = Vec::new();
    let mut refused = 0;
    'fill: for batch in 0..200 {
        let voters: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"email":"full-{batch}-{i}@example.org"}}"#))
            .collect();
        let body = format!(r#"{{"voters":[{}]}}"#, voters.join(","));
        let answer = dev
            .agent
            .post(format!("{}/api/admin/voters/check-in", dev.admin_url))
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/json")
            .send(body.as_str());
        let Ok(r) = answer else { break };
        let (code, v) = support::read(r);
        if code != 200 {
            refused += 1;
            break;
        }
        for s in v["sessions"].as_array().unwrap() {
            let token = s["access_token"].as_str().unwrap();
            let sent = dev.agent.post(format!("{}/api/votes/submit", dev.url))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .send(r#"{"election_id":1,"candidate_id":1,"encrypted_vote":"padding-padding-padding-padding-padding-padding"}"#);
            match sent.map(support::read) {
                Ok((200, v)) => acked.push(v["transaction_id"].as_str().unwrap().to_string()),
                Ok((code, _)) => {
                    assert!(code >= 500, "a full disk gives a server error, got {code}");
                    refused += 1;
                    break 'fill;
                }
                Err(_) => break 'fill,
            }
        }
    }
    dev.kill9();
    drop(dev);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        refused > 0 || text.contains("full"),
        "the disk filled up: {refused} refusals\n{text}"
    );
    assert!(
        text.contains("database or disk is full"),
        "the log says why:\n{text}"
    );
    assert!(!acked.is_empty());

    // Move the data to a disk with room: every acknowledged vote commits.
    let roomy = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(roomy.path())
        .status()
        .unwrap();
    assert!(out.success());
    drop(disk);
    let dev = Dev::start(&roomy.path().join("d"));
    for tx in &acked {
        dev.wait_confirmed(tx, Duration::from_secs(30));
    }
    let (_, r) = dev.get("/api/votes/results?election_id=1");
    assert!(r["total_votes"].as_u64().unwrap() >= acked.len() as u64);
}

#[test]
fn the_full_integrity_check_can_be_asked_for() {
    let dir = populated();
    let config = dir.path().join("appliance.toml");
    let args = [
        OsStr::new("run"),
        OsStr::new("--full-integrity-check"),
        OsStr::new("--config"),
        config.as_os_str(),
    ];
    // A healthy database passes the full check and the appliance runs:
    // `launch` waits for its "ready" line and fails if it exits first.
    let log = dir.path().join("integrity.log");
    let (mut child, _) = support::launch(&args, &log, |l| l.node_id.is_some());
    let _ = child.kill();
    let _ = child.wait();
}

/// Another process holding the database's write lock for seconds (an
/// operator's sqlite3, a backup tool, a disk stalled in fsync): a request
/// that waited its limit is answered `503 busy` with nothing written, not
/// `500`, and the node, which had a block to commit, waits rather than
/// stop; once the lock is released the vote confirms and the same request
/// succeeds.
#[test]
fn a_write_lock_held_by_another_process_is_answered_busy_and_waited_out() {
    let dev = Dev::start_fresh();
    let token = dev.register("before@example.org");
    let tx = dev.voted(&token, 1);
    let locker = rusqlite::Connection::open(db(&dev.dir)).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let held = std::time::Instant::now();
    let body = r#"{"email":"held@example.org","password":"correct horse","name":"Voter"}"#;
    let (code, v) = dev.post("/api/auth/register", body, None);
    assert_eq!(
        (code, support::error_code(&v)),
        (503, "busy".to_string()),
        "{v}"
    );
    // Longer than a request waits, so that the node's commit of the vote's
    // block waits longer than that too.
    std::thread::sleep(Duration::from_secs(8).saturating_sub(held.elapsed()));
    locker.execute_batch("ROLLBACK").unwrap();
    dev.wait_confirmed(&tx, Duration::from_secs(30));
    dev.register("held@example.org");
}
