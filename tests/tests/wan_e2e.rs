//! Consensus over wide-area links, on real processes: 4 validators and a
//! station, every link between them delayed 150 ± 50 ms each way by a
//! proxy (`linkproxy.rs`), a short stream of votes spread over all five
//! nodes. Every acknowledged vote must confirm and no node may enter
//! fallback mode. (How fast is for `evote-bench wan` to print, not for a
//! test to assert.)

use std::time::Duration;

use evote_tests::bench::wan::{WanArgs, run_scenario, scenario};

#[test]
fn every_vote_confirms_over_150_ms_links_without_fallback() {
    let args = WanArgs {
        duration: Duration::from_secs(12),
        rate: 5.0,
        // Generous: a loaded machine is slow, not wrong.
        settle: Duration::from_secs(120),
        seed: 6,
    };
    let sc = scenario("150ms").expect("the 150 ms scenario");
    let r = run_scenario(&args, &sc).expect("the scenario runs");
    println!("{r:#}");
    let acknowledged = r["acknowledged"].as_u64().unwrap();
    assert!(acknowledged >= 50, "too few votes acknowledged: {r}");
    assert_eq!(
        r["unconfirmed"], 0,
        "acknowledged votes left unconfirmed: {r}"
    );
    assert_eq!(
        r["fallback_entries"], 0,
        "a node entered fallback mode: {r}"
    );
    assert_eq!(
        r["fallback_acknowledged"], 0,
        "votes went to a fallback chain: {r}"
    );
}
