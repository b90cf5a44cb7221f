//! What the seed documents' clients expect beyond the voter API's own
//! handlers: their timestamps (RFC 3339 strings), the validator a vote went
//! to, `GET /api/blockchain/stats`, and the liveness probes their scripts
//! run (`GET /rpc`, `GET /api/blockchain/verify`).

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::SharedState;
use super::error::ApiError;

/// Where an answer about the main chain comes from, in the seeds' words.
pub const SOURCE_VALIDATORS: &str = "poa_validators";
/// Where an answer about a ballot sealed offline comes from.
pub const SOURCE_FALLBACK: &str = "fallback_chain";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/blockchain/stats", get(stats))
        .route("/api/blockchain/verify", get(verify))
        .route("/rpc", get(rpc_info))
}

/// Milliseconds since 1970 as the seeds print times: `2025-11-07T10:30:00Z`.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The validator a ballot accepted here goes to, by its genesis name: this
/// appliance when it is a validator, otherwise the reachable validator
/// whose turn it is to propose next (the first reachable one after it).
pub fn receiving_validator(s: &SharedState) -> Option<String> {
    let me = s.key.public();
    if let Some(v) = s.genesis.validators.iter().find(|v| v.public_key == me) {
        return Some(v.name.clone());
    }
    let st = s.node.status();
    let reachable: Vec<_> = s
        .peers
        .snapshot()
        .into_iter()
        .filter(|p| p.reachable)
        .filter_map(|p| p.node_id)
        .collect();
    let n = s.genesis.validators.len() as u64;
    (0..n)
        .map(|r| s.genesis.proposer(st.height + 1, r))
        .find(|k| reachable.contains(k))
        .and_then(|k| s.genesis.validators.iter().find(|v| &v.public_key == k))
        .map(|v| v.name.clone())
}

/// Ballots committed in every election of the genesis.
pub async fn total_votes(s: &SharedState, election: Option<u64>) -> Result<u64, ApiError> {
    let ids: Vec<u64> = match election {
        Some(id) => vec![id],
        None => s.genesis.elections.iter().map(|e| e.id).collect(),
    };
    s.db("counting ballots", move |db| {
        ids.iter().map(|id| db.ballot_count(*id)).sum()
    })
    .await
}

/// The seeds' monitoring call: blocks (the genesis counted, as the seeds'
/// chain counts its index 0), committed ballots, and whether the chain
/// verifies (checked incrementally, as `results` does).
async fn stats(State(s): State<SharedState>) -> Result<axum::Json<Value>, ApiError> {
    let check = super::tally::chain_check(&s).await?;
    let votes = total_votes(&s, None).await?;
    let st = s.node.status();
    Ok(axum::Json(json!({
        "total_blocks": st.height + 1,
        "total_votes": votes,
        "chain_valid": check.valid,
        "height": st.height,
        "best_hash": st.head_hash,
        "finalized_height": st.finalized_height,
        "mempool": st.mempool,
        "fallback": st.fallback.is_some(),
        "timestamp": rfc3339(crate::clock::now_ms()),
    })))
}

/// The seeds' end-to-end script checks `GET /api/blockchain/verify`: the
/// same verdict as `POST /api/votes/verify-blockchain` over the whole chain.
async fn verify(State(s): State<SharedState>) -> Result<axum::Json<Value>, ApiError> {
    super::api::verification(&s, None).await.map(axum::Json)
}

/// The seeds' health check probes `GET /rpc`: JSON-RPC itself is `POST`.
async fn rpc_info(State(s): State<SharedState>) -> axum::Json<Value> {
    let st = s.node.status();
    axum::Json(json!({
        "jsonrpc": "2.0",
        "status": "ok",
        "message": "JSON-RPC 2.0: POST a request or a batch to this path",
        "chain_id": s.chain_id,
        "block_number": format!("0x{:x}", st.height),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_the_seeds_print_them() {
        assert_eq!(rfc3339(1_762_511_400_000), "2025-11-07T10:30:00Z");
        assert_eq!(rfc3339(1_762_511_400_999), "2025-11-07T10:30:00Z");
    }
}
