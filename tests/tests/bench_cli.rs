//! The `evote-bench` binary as a user runs it: the chain-growth tool and a
//! short load end to end, and the refusals that keep it from sending
//! traffic anywhere but loopback.

use assert_cmd::Command;

fn bench() -> Command {
    Command::cargo_bin("evote-bench").expect("the evote-bench binary")
}

/// The one JSON object `evote-bench ARGS` prints, once it succeeded.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = bench()
        .args(args)
        .timeout(std::time::Duration::from_secs(600))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("one JSON object")
}

#[test]
fn growth_commits_blocks_and_prints_a_sample_per_window() {
    let r = bench_json(&[
        "growth", "--votes", "30", "--block", "10", "--every", "10", "--json",
    ]);
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

/// A short load on a one-validator testnet: each vote is a check-in (its
/// poll-book record on the chain) and then a ballot, both counted apart,
/// and the CPU figure says that it covers both.
#[test]
fn load_checks_each_voter_in_before_their_ballot_and_reports_both() {
    let r = bench_json(&[
        "load",
        "--validators",
        "1",
        "--duration",
        "4",
        "--warmup",
        "1",
        "--concurrency",
        "2",
        "--json",
    ]);
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    let ballots = r["votes_acknowledged"].as_u64().unwrap();
    assert!(ballots >= 1, "{r}");
    assert_eq!(r["votes_confirmed"].as_u64(), Some(ballots), "{r}");
    // One check-in per ballot: a worker casts only after its check-in.
    let c = &r["check_ins"];
    assert_eq!(c["acknowledged"].as_u64(), Some(ballots), "{r}");
    assert_eq!(c["confirmed"].as_u64(), Some(ballots), "{r}");
    let cpu = &r["cpu_us_per_vote"];
    assert!(cpu["nodes"].as_f64().is_some_and(|x| x > 0.0), "{r}");
    assert!(
        cpu["includes"].as_str().unwrap().contains("one check-in"),
        "{r}"
    );
}
