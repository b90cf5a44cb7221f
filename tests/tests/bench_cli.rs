//! The `evote-bench` binary as a user runs it: the chain-growth tool end
//! to end, and the refusals that keep it from sending traffic anywhere but
//! loopback.

use assert_cmd::Command;

fn bench() -> Command {
    Command::cargo_bin("evote-bench").expect("the evote-bench binary")
}

#[test]
fn growth_commits_blocks_and_prints_a_sample_per_window() {
    let out = bench()
        .args([
            "growth", "--votes", "30", "--block", "10", "--every", "10", "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
    let samples = r["samples"].as_array().expect("samples");
    let on_chain: Vec<u64> = samples
        .iter()
        .map(|s| s["votes_on_chain"].as_u64().unwrap())
        .collect();
    assert_eq!(on_chain, vec![10, 20, 30]);
    assert!(samples.iter().all(|s| {
        let (mean, longest) = (
            s["ms_per_block"].as_f64().unwrap(),
            s["max_ms"].as_f64().unwrap(),
        );
        mean > 0.0 && longest >= mean
    }));
}

#[test]
fn growth_refuses_an_empty_block() {
    let out = bench()
        .args(["growth", "--votes", "10", "--block", "0"])
        .assert()
        .failure()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--block must be at least 1"), "{err}");
}

#[test]
fn load_refuses_nodes_off_loopback_before_sending_anything() {
    let out = bench()
        .args([
            "load",
            "--nodes",
            "http://192.0.2.1:8080=token@http://127.0.0.1:8082",
            "--duration",
            "1",
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only to loopback"), "{err}");
}
