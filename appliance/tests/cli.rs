//! Black-box tests of the command line.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `evote-appliance` with `args` to its end and checks that it exited
/// with `code` and printed `says` ("" for anything) where a command says
/// things: on its standard output when it succeeds (code 0), on its
/// standard error when it fails. Shows what it printed when it did not.
/// Returns its standard output, trimmed.
#[track_caller]
fn evote(args: &[&str], code: i32, says: &str) -> String {
    let out = Command::new(support::bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("evote-appliance runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let printed = format!("{args:?}\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(out.status.code(), Some(code), "{printed}");
    let said = if code == 0 { stdout.as_str() } else { &stderr };
    assert!(said.contains(says), "no {says:?} where expected: {printed}");
    stdout
}

/// Starts `evote-appliance` with `args` in the background, what it prints
/// discarded.
fn start(args: &[&str]) -> Child {
    Command::new(support::bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("evote-appliance starts")
}

/// A path as an argument (temporary directories have UTF-8 names).
fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
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
        evote(&args, 0, "Usage");
    }
    evote(&["frobnicate"], 2, "");
}

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    let pk = evote(&["keygen", "--out", arg(&path)], 0, "");
    assert!(pk.starts_with("0x") && pk.len() == 66, "{pk}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    evote(&["keygen", "--out", arg(&path)], 1, "refusing to overwrite");
}

fn keygen(dir: &Path, name: &str) -> String {
    evote(&["keygen", "--out", arg(&dir.join(name))], 0, "")
}

/// Runs a k-of-n key ceremony for election 7 with the CLI, as trustees
/// would (each step on its own, through files), and returns the record the
/// election file carries.
fn ceremony(dir: &Path, n: u32, k: u32) -> serde_json::Value {
    let c = dir.join("ceremony");
    let trustee = |step: &str, index: Option<u32>, rest: &[&str]| {
        let (n, k, index) = (n.to_string(), k.to_string(), index.map(|i| i.to_string()));
        let mut args = vec!["trustee", step];
        if let Some(i) = &index {
            args.extend(["--index", i]);
        }
        args.extend(["--election", "7", "--trustees", &n, "--threshold", &k]);
        args.extend(rest);
        evote(&args, 0, "")
    };
    for i in 1..=n {
        trustee("keygen", Some(i), &["--out-dir", arg(&c)]);
    }
    for j in 1..=n {
        let out = dir.join(format!("trustee-{j}.key"));
        trustee("combine", Some(j), &["--dir", arg(&c), "--out", arg(&out)]);
    }
    serde_json::from_str(&trustee("public", None, &["--dir", arg(&c)])).unwrap()
}

fn election_json(dir: &Path) -> String {
    let trustees = ceremony(dir, 1, 1);
    serde_json::json!({"id": 7, "name": "Council", "opens_at": "2020-01-01T00:00:00Z",
        "closes_at": 4102444800000u64, "candidates": [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}],
        "trustees": trustees, "eligibility": {"mode": "open"}})
    .to_string()
}

/// Writes keys, secrets, a genesis and a config for one validator.
fn setup_node(dir: &Path) -> std::path::PathBuf {
    let v = keygen(dir, "node.key");
    let auth = keygen(dir, "authority.key");
    let cred = keygen(dir, "credential-authority.key");
    std::fs::write(dir.join("election.json"), election_json(dir)).unwrap();
    // The only validator: no peer dials its URL.
    let validator = format!("{v}@http://127.0.0.1:9");
    let (election, genesis) = (dir.join("election.json"), dir.join("genesis.json"));
    let made = evote(
        &[
            "genesis",
            "--validator",
            &validator,
            "--authority",
            &auth,
            "--credential-authority",
            &cred,
            "--election",
            arg(&election),
            "--out",
            arg(&genesis),
        ],
        0,
        "chain_id 0x",
    );
    assert!(made.starts_with("chain_id 0x"));
    for (name, content) in [
        ("nullifier.secret", "ab".repeat(32)),
        ("admin.token", "cd".repeat(16)),
    ] {
        std::fs::write(dir.join(name), content).unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Every door on a port the OS picks as the appliance binds it.
    let cfg = "data_dir = \"data\"\nlisten = \"127.0.0.1:0\"\n\
         peer_listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nkey = \"node.key\"\n\
         genesis = \"genesis.json\"\nnullifier_secret_file = \"nullifier.secret\"\n\
         admin_token_file = \"admin.token\"\n";
    let path = dir.join("appliance.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn genesis_and_run_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup_node(dir.path());
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("genesis.json")).unwrap())
            .unwrap();
    assert_eq!(g["elections"][0]["opens_at"], 1_577_836_800_000u64);
    let log = dir.path().join("appliance.log");
    let (mut child, seen) = support::launch(
        &["run", "--config", arg(&cfg)],
        &log,
        support::Listening::appliance,
    );
    let up = wait_for(
        &format!("{}/api/elections/7", seen.door("public")),
        Duration::from_secs(20),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "the configured appliance served its election");
    assert!(dir.path().join("data/evote.sqlite3").exists());
}

#[test]
fn run_refuses_bad_setups_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup_node(dir.path());
    let refused = |extra: &[&str], says: &str| {
        let args = [&["run", "--config", arg(&cfg)], extra].concat();
        evote(&args, 1, says);
    };
    // a key that is not in the genesis
    keygen(dir.path(), "stranger.key");
    let stranger = dir.path().join("stranger.key");
    refused(
        &["--key", arg(&stranger)],
        "neither a validator nor a station",
    );
    // a key file others can read
    std::fs::set_permissions(
        dir.path().join("node.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    refused(&[], "chmod 600");
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
    refused(&[], "newer than this binary");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    // an unknown config key
    std::fs::write(
        &cfg,
        format!("{}\nsurprise = 1\n", std::fs::read_to_string(&cfg).unwrap()),
    )
    .unwrap();
    refused(&[], "surprise");
}

#[test]
fn genesis_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let auth = keygen(dir.path(), "a.key");
    let cred = keygen(dir.path(), "c.key");
    std::fs::write(dir.path().join("e.json"), election_json(dir.path())).unwrap();
    let out = dir.path().join("g.json");
    let refused = |validator: &str, election: &Path, says: &str| {
        let args = [
            "genesis",
            "--validator",
            validator,
            "--authority",
            &auth,
            "--credential-authority",
            &cred,
        ];
        let rest = ["--election", arg(election), "--out", arg(&out)];
        evote(&[&args[..], &rest].concat(), 1, says)
    };
    let e = dir.path().join("e.json");
    refused("0x1234", &e, "");
    let v = keygen(dir.path(), "v.key");
    refused(&v, &e, "PUBKEY@URL");
    std::fs::write(dir.path().join("bad.json"), r#"{"id":1,"name":"x"}"#).unwrap();
    refused(&format!("{v}@http://h:1"), &dir.path().join("bad.json"), "");
    assert!(!out.exists());
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
    let logs = tempfile::tempdir().unwrap();
    let (mut child, seen) = support::launch(
        &["bootnode", "--listen", "127.0.0.1:0"],
        &logs.path().join("bootnode.log"),
        |l| !l.doors.is_empty(),
    );
    let base = seen.door("bootnode");
    let up = wait_for(&format!("{base}/health"), Duration::from_secs(20));
    let agent = support::agent();
    let r = agent
        .post(format!("{base}/register_peer"))
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
    let testnet = ["testnet", "--validators", "2", "--stations", "1", "--dir"];
    evote(&[&testnet[..], &[arg(&net)]].concat(), 0, "");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(net.join("testnet.json")).unwrap()).unwrap();
    let nodes = file["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[2]["role"], "station");
    for n in nodes {
        assert!(Path::new(n["config"].as_str().unwrap()).exists());
        for door in ["url", "peer_url", "admin_url"] {
            assert!(n[door].as_str().unwrap().starts_with("http://127.0.0.1:"));
        }
    }
    // A second testnet in the same place is refused.
    evote(&["testnet", "--validators", "2", "--dir", arg(&net)], 1, "");

    let mut up = start(&["testnet", "up", arg(&net)]);
    let urls: Vec<String> = nodes
        .iter()
        .flat_map(|n| ["url", "peer_url", "admin_url"].map(|d| n[d].clone()))
        .map(|u| u.as_str().unwrap().to_string())
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
    let election = ["--election", "7", "--trustees", "3", "--threshold", "2"];
    let again = dir.path().join("again.key");
    let combine = ["trustee", "combine", "--index", "2", "--dir", arg(&c)];
    let args = [&combine[..], &election, &["--out", arg(&again)]].concat();
    evote(&args, 1, "run again");
    assert!(!again.exists());
    // keygen never overwrites a ceremony's files.
    let keygen = ["trustee", "keygen", "--index", "1", "--out-dir", arg(&c)];
    evote(&[&keygen[..], &election].concat(), 1, "");
}
