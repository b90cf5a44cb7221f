//! Black-box tests of the command line.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Cmd;

fn cmd() -> Cmd {
    Cmd::new(support::bin())
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn help_is_there_for_every_subcommand() {
    for sub in [
        vec![],
        vec!["keygen"],
        vec!["genesis"],
        vec!["run"],
        vec!["dev"],
    ] {
        let mut args = sub.clone();
        args.push("--help");
        let out = cmd().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(stdout_of(&out).contains("Usage"), "{args:?}");
    }
    let out = cmd().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    let out = cmd().args(["keygen", "--out"]).arg(&path).output().unwrap();
    assert!(out.status.success());
    let pk = stdout_of(&out);
    assert!(pk.starts_with("0x") && pk.len() == 66, "{pk}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = cmd().args(["keygen", "--out"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
}

fn keygen(dir: &std::path::Path, name: &str) -> String {
    let out = cmd()
        .args(["keygen", "--out"])
        .arg(dir.join(name))
        .output()
        .unwrap();
    assert!(out.status.success());
    stdout_of(&out)
}

/// Runs a k-of-n key ceremony for election 7 with the CLI, as trustees
/// would (each step on its own, through files), and returns the record the
/// election file carries.
fn ceremony(dir: &std::path::Path, n: u32, k: u32) -> serde_json::Value {
    let c = dir.join("ceremony");
    let (n_s, k_s) = (n.to_string(), k.to_string());
    let common = [
        "--election",
        "7",
        "--trustees",
        n_s.as_str(),
        "--threshold",
        k_s.as_str(),
    ];
    for i in 1..=n {
        let out = cmd()
            .args(["trustee", "keygen", "--index", &i.to_string()])
            .args(common)
            .arg("--out-dir")
            .arg(&c)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for j in 1..=n {
        let out = cmd()
            .args(["trustee", "combine", "--index", &j.to_string()])
            .args(common)
            .arg("--dir")
            .arg(&c)
            .arg("--out")
            .arg(dir.join(format!("trustee-{j}.key")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cmd()
        .args(["trustee", "public"])
        .args(common)
        .arg("--dir")
        .arg(&c)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn election_json(dir: &std::path::Path) -> String {
    let trustees = ceremony(dir, 1, 1);
    serde_json::json!({"id": 7, "name": "Council", "opens_at": "2020-01-01T00:00:00Z",
        "closes_at": 4102444800000u64, "candidates": [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}],
        "trustees": trustees})
    .to_string()
}

/// Writes keys, secrets, a genesis and a config for one validator.
fn setup_node(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let v = keygen(dir, "node.key");
    let auth = keygen(dir, "authority.key");
    std::fs::write(dir.join("election.json"), election_json(dir)).unwrap();
    let out = cmd()
        .args([
            "genesis",
            "--validator",
            &format!("{v}@http://127.0.0.1:{port}"),
        ])
        .args(["--authority", &auth, "--election"])
        .arg(dir.join("election.json"))
        .arg("--out")
        .arg(dir.join("genesis.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout_of(&out).starts_with("chain_id 0x"));
    for (name, content) in [
        ("nullifier.secret", "ab".repeat(32)),
        ("admin.token", "cd".repeat(16)),
    ] {
        std::fs::write(dir.join(name), content).unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cfg = format!(
        "data_dir = \"data\"\nlisten = \"127.0.0.1:{port}\"\nkey = \"node.key\"\n\
         genesis = \"genesis.json\"\nnullifier_secret_file = \"nullifier.secret\"\n\
         admin_token_file = \"admin.token\"\n"
    );
    let path = dir.join("appliance.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn genesis_and_run_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let cfg = setup_node(dir.path(), port);
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("genesis.json")).unwrap())
            .unwrap();
    assert_eq!(g["elections"][0]["opens_at"], 1_577_836_800_000u64);
    let mut child = Command::new(support::bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent = support::agent();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut up = false;
    while Instant::now() < deadline && !up {
        up = agent
            .get(format!("http://127.0.0.1:{port}/api/elections/7"))
            .call()
            .is_ok_and(|r| r.status() == 200);
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "the configured appliance served its election");
    assert!(dir.path().join("data/evote.sqlite3").exists());
}

#[test]
fn run_refuses_bad_setups_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup_node(dir.path(), support::free_port());
    let run = |extra: &[&str]| {
        let out = cmd()
            .args(["run", "--config"])
            .arg(&cfg)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // a key that is not in the genesis
    keygen(dir.path(), "stranger.key");
    let stranger = dir.path().join("stranger.key");
    let (code, err) = run(&["--key", stranger.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("neither a validator nor a station"), "{err}");
    // a key file others can read
    std::fs::set_permissions(
        dir.path().join("node.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, err) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(
        dir.path().join("node.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // a database from a newer binary is refused and left untouched
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let db = dir.path().join("data/evote.sqlite3");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA user_version = 4242;").unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let (code, err) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("newer than this binary"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // an unknown config key
    std::fs::write(
        &cfg,
        format!("{}\nsurprise = 1\n", std::fs::read_to_string(&cfg).unwrap()),
    )
    .unwrap();
    let (code, err) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("surprise"), "{err}");
}

#[test]
fn genesis_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let auth = keygen(dir.path(), "a.key");
    std::fs::write(dir.path().join("e.json"), election_json(dir.path())).unwrap();
    let base = |validator: &str, election: &str| {
        cmd()
            .args(["genesis", "--validator", validator, "--authority", &auth])
            .args(["--election", election, "--out"])
            .arg(dir.path().join("g.json"))
            .output()
            .unwrap()
    };
    let e = dir.path().join("e.json");
    let out = base("0x1234", e.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1));
    let v = keygen(dir.path(), "v.key");
    let out = base(&v, e.to_str().unwrap());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PUBKEY@URL"));
    std::fs::write(dir.path().join("bad.json"), r#"{"id":1,"name":"x"}"#).unwrap();
    let out = base(
        &format!("{v}@http://h:1"),
        dir.path().join("bad.json").to_str().unwrap(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("g.json").exists());
}

fn wait_for(url: &str, within: Duration) -> bool {
    let agent = support::agent();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if agent.get(url).call().is_ok_and(|r| r.status() == 200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn bootnode_serves_the_discovery_api() {
    let port = support::free_port();
    let mut child = Command::new(support::bin())
        .args(["bootnode", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = wait_for(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(20),
    );
    let agent = support::agent();
    let r = agent
        .post(format!("http://127.0.0.1:{port}/register_peer"))
        .header("content-type", "application/json")
        .send(format!(
            r#"{{"node_id":"0x{}","url":"http://127.0.0.1:9"}}"#,
            "ab".repeat(32)
        ));
    let _ = child.kill();
    let _ = child.wait();
    assert!(up);
    assert_eq!(r.unwrap().status(), 200);
}

#[test]
fn testnet_writes_a_network_and_up_starts_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let out = cmd()
        .args(["testnet", "--validators", "2", "--stations", "1", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(net.join("testnet.json")).unwrap()).unwrap();
    let nodes = file["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[2]["role"], "station");
    for n in nodes {
        assert!(std::path::Path::new(n["config"].as_str().unwrap()).exists());
        assert!(n["url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    }
    // A second testnet in the same place is refused.
    let again = cmd()
        .args(["testnet", "--validators", "2", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));

    let mut up = Command::new(support::bin())
        .args(["testnet", "up"])
        .arg(&net)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| n["url"].as_str().unwrap().to_string())
        .collect();
    let all_up = urls
        .iter()
        .all(|u| wait_for(&format!("{u}/health"), Duration::from_secs(30)));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(up.id().to_string())
        .status();
    let status = up.wait().unwrap();
    assert!(all_up, "every node answered");
    assert!(status.success(), "testnet up exits cleanly on SIGTERM");
    let agent = support::agent();
    for u in &urls {
        assert!(
            agent.get(format!("{u}/health")).call().is_err(),
            "{u} stopped"
        );
    }
}

#[test]
fn the_trustee_ceremony_checks_what_trustees_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let record = ceremony(dir.path(), 3, 2);
    assert_eq!(record["threshold"], 2);
    assert_eq!(record["round1"].as_array().unwrap().len(), 3);
    let mode = std::fs::metadata(dir.path().join("ceremony/share-1-to-2.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "shares are secret");
    // A share swapped for another trustee's fails round 2, naming the ceremony.
    let c = dir.path().join("ceremony");
    let other = std::fs::read_to_string(c.join("share-3-to-2.json")).unwrap();
    std::fs::remove_file(c.join("share-1-to-2.json")).unwrap();
    let forged = other.replace("\"dealer\":3", "\"dealer\":1");
    std::fs::write(c.join("share-1-to-2.json"), forged).unwrap();
    std::fs::set_permissions(
        c.join("share-1-to-2.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = cmd()
        .args([
            "trustee",
            "combine",
            "--index",
            "2",
            "--election",
            "7",
            "--trustees",
            "3",
            "--threshold",
            "2",
            "--dir",
        ])
        .arg(&c)
        .arg("--out")
        .arg(dir.path().join("again.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run again"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("again.key").exists());
    // keygen never overwrites a ceremony's files.
    let out = cmd()
        .args([
            "trustee",
            "keygen",
            "--index",
            "1",
            "--election",
            "7",
            "--trustees",
            "3",
            "--threshold",
            "2",
            "--out-dir",
        ])
        .arg(&c)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
