//! `GET /metrics` in the Prometheus text format.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::SharedState;
use crate::node::Counters;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/metrics", get(metrics))
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

async fn metrics(State(s): State<SharedState>) -> impl IntoResponse {
    let st = s.node.status();
    let c = &s.node.counters;
    let peers = s.peers.snapshot();
    let mut o = String::new();
    metric(
        &mut o,
        "evote_height",
        "gauge",
        "Height of the last committed block.",
        st.height,
    );
    metric(
        &mut o,
        "evote_finalized_height",
        "gauge",
        "Highest height held by a quorum of validators.",
        st.finalized_height,
    );
    metric(
        &mut o,
        "evote_round",
        "gauge",
        "Consensus round at the current height.",
        st.round,
    );
    metric(
        &mut o,
        "evote_mempool_size",
        "gauge",
        "Transactions waiting for a block.",
        st.mempool,
    );
    metric(
        &mut o,
        "evote_peers",
        "gauge",
        "Peers configured.",
        peers.len() as u64,
    );
    metric(
        &mut o,
        "evote_peers_up",
        "gauge",
        "Peers that answered their last status poll.",
        peers.iter().filter(|p| p.reachable).count() as u64,
    );
    metric(
        &mut o,
        "evote_fallback_active",
        "gauge",
        "1 while ballots cast here go to the fallback chain.",
        u64::from(st.fallback.is_some()),
    );
    metric(
        &mut o,
        "evote_fallback_ballots_waiting",
        "gauge",
        "Fallback ballots not yet confirmed or rejected on the main chain.",
        st.fallback_counts.open(),
    );
    metric(
        &mut o,
        "evote_fallback_ballots",
        "gauge",
        "Ballots held in fallback chains in this database.",
        st.fallback_counts.total(),
    );
    metric(
        &mut o,
        "evote_fallback_conflicts",
        "gauge",
        "Fallback ballots rejected because the voter's other ballot was committed first.",
        st.fallback_counts.rejected,
    );
    let counters = [
        (
            "evote_votes_accepted_total",
            "Transactions accepted into the mempool.",
            &c.votes_accepted,
        ),
        (
            "evote_votes_committed_total",
            "Transactions committed in blocks.",
            &c.votes_committed,
        ),
        (
            "evote_blocks_committed_total",
            "Blocks committed.",
            &c.blocks_committed,
        ),
        (
            "evote_txs_rejected_total",
            "Transactions that left the mempool without committing.",
            &c.txs_rejected,
        ),
        (
            "evote_round_changes_total",
            "Consensus round changes.",
            &c.round_changes,
        ),
        (
            "evote_equivocations_total",
            "Conflicting messages signed by one validator.",
            &c.equivocations,
        ),
        (
            "evote_fallback_entries_total",
            "Times this node entered fallback mode.",
            &c.fallback_entries,
        ),
        (
            "evote_submit_busy_total",
            "Submissions refused because the node was busy.",
            &c.submit_busy,
        ),
        (
            "evote_gossip_refused_total",
            "Transactions in peers' gossip refused by their checks.",
            &c.gossip_refused,
        ),
    ];
    for (name, help, v) in counters {
        metric(&mut o, name, "counter", help, Counters::get(v));
    }
    let _ = writeln!(
        o,
        "# HELP evote_messages_dropped_total Consensus messages dropped, by reason.\n# TYPE evote_messages_dropped_total counter"
    );
    for (reason, n) in c.dropped.read().expect("dropped").iter() {
        let _ = writeln!(o, "evote_messages_dropped_total{{reason=\"{reason}\"}} {n}");
    }
    let dropped_out: u64 = peers.iter().map(|p| p.dropped).sum();
    metric(
        &mut o,
        "evote_peer_queue_dropped_total",
        "counter",
        "Outgoing peer messages dropped because a peer's queue was full.",
        dropped_out,
    );
    let (buckets, count, sum) = c.commit_latency.snapshot();
    let _ = writeln!(
        o,
        "# HELP evote_commit_latency_ms Time from a ballot's acceptance to its block's commit.\n# TYPE evote_commit_latency_ms histogram"
    );
    for (le, n) in buckets {
        let _ = writeln!(o, "evote_commit_latency_ms_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(
        o,
        "evote_commit_latency_ms_bucket{{le=\"+Inf\"}} {count}\nevote_commit_latency_ms_sum {sum}\nevote_commit_latency_ms_count {count}"
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], o)
}
