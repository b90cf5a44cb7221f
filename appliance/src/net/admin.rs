//! The admin API (the seeds' validator health), behind the admin token.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::SharedState;
use super::error::ApiError;
use crate::auth::secrets_equal;
use crate::clock::now_ms;

/// A reachable validator more than this many blocks behind the highest
/// known head is "degraded".
pub const HEALTHY_LAG_BLOCKS: u64 = 2;

/// The whole admin API, for the operator door.
pub fn routes() -> Router<SharedState> {
    public_routes()
        .route("/api/admin/validators/refresh-status", post(refresh))
        .route("/api/admin/voters/check-in", post(check_in))
}

/// The validators' health, which the seeds' documents read at the voter
/// API without credentials: at the public door too.
pub fn public_routes() -> Router<SharedState> {
    Router::new().route("/api/admin/validators/health", get(health))
}

/// Accepts `Authorization: Bearer <token>` or `X-Admin-Token: <token>`,
/// compared in constant time.
fn require_admin(s: &SharedState, headers: &HeaderMap) -> Result<(), ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let plain = headers.get("x-admin-token").and_then(|v| v.to_str().ok());
    match bearer.or(plain) {
        Some(t) if secrets_equal(t.trim(), &s.secrets.admin_token) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("wrong admin token")),
        None => Err(ApiError::unauthorized(
            "this endpoint needs the admin token",
        )),
    }
}

/// The seeds print this call without credentials: without a token it
/// answers what the public board shows anyway (each validator, its status
/// and height, the summary); with the admin token, the whole report (peer
/// errors and latencies, this node, fallback counts, every peer).
async fn health(
    State(s): State<SharedState>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let has_token =
        headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-admin-token");
    if has_token {
        require_admin(&s, &headers)?;
        return Ok(axum::Json(report(&s)));
    }
    Ok(axum::Json(public_report(&s)))
}

/// Validator health as anyone may see it.
pub fn public_report(s: &SharedState) -> Value {
    let full = report(s);
    let rows: Vec<Value> = full["validators"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let mut row = json!({});
            for k in [
                "node_id",
                "name",
                "rpc_url",
                "p2p_url",
                "url",
                "status",
                "block_height",
                "last_seen",
            ] {
                row[k] = v[k].clone();
            }
            row
        })
        .collect();
    json!({
        "timestamp": full["timestamp"],
        "validators": rows,
        "summary": full["summary"],
    })
}

async fn refresh(
    State(s): State<SharedState>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    require_admin(&s, &headers)?;
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || s2.peers.refresh(&s2.key, &s2.chain_id, &s2.genesis))
        .await
        .map_err(|e| ApiError::internal("refreshing peer status", e))?;
    let mut r = report(&s);
    r["refreshed_at"] = json!(now_ms());
    Ok(axum::Json(r))
}

/// Voters checked in per request.
pub const MAX_CHECK_IN: usize = 1_000;

/// A check-in: a voter of an election's roll by their id (a real
/// election), or voters by e-mail where an election has open registration
/// (the `dev` demo).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum CheckInBody {
    Roll(RollCheckIn),
    RollBatch(RollBatchCheckIn),
    Emails(EmailCheckIn),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RollCheckIn {
    election_id: u64,
    voter_id: String,
}

/// Several voters of a roll at once (load tools; at most `MAX_CHECK_IN`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RollBatchCheckIn {
    election_id: u64,
    voter_ids: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailCheckIn {
    voters: Vec<CheckInVoter>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInVoter {
    email: String,
    #[serde(default)]
    name: Option<String>,
}

/// A poll worker checks a voter in after verifying them in person. With a
/// roll: the voter's entry, checked in once, at their station, recorded in
/// the poll book on the chain; the answer carries a one-time booth pass.
/// With open registration: each e-mail gets a session for the voting kiosk
/// without a password (voters unknown here are added), refused where no
/// election allows it.
async fn check_in(
    State(s): State<SharedState>,
    headers: HeaderMap,
    super::ApiJson(body): super::ApiJson<CheckInBody>,
) -> Result<axum::Json<Value>, ApiError> {
    require_admin(&s, &headers)?;
    let body = match body {
        CheckInBody::Roll(r) => {
            let c = super::submit::check_in_voter(&s, r.election_id, &r.voter_id).await?;
            return Ok(axum::Json(checked_in(&c)));
        }
        CheckInBody::RollBatch(b) => return check_in_batch(&s, b).await,
        CheckInBody::Emails(e) => e,
    };
    if !s.genesis.elections.iter().any(|e| e.open_registration()) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "roll_required",
            "every election has a voter roll: check voters in by their id on it \
             ({\"election_id\", \"voter_id\"})",
        ));
    }
    if body.voters.is_empty() || body.voters.len() > MAX_CHECK_IN {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("check in 1 to {MAX_CHECK_IN} voters per request"),
        ));
    }
    let mut voters = Vec::with_capacity(body.voters.len());
    for v in body.voters {
        let email = super::api::check_email(&v.email)?;
        let name = v.name.unwrap_or_default().trim().to_string();
        if name.len() > super::api::MAX_NAME_LEN {
            return Err(ApiError::bad_request("invalid_name", "name is too long"));
        }
        voters.push((email, name));
    }
    let tokens: Vec<(String, crate::ledger::Hash32)> =
        voters.iter().map(|_| crate::auth::new_token()).collect();
    let hashes: Vec<_> = tokens.iter().map(|(_, h)| *h).collect();
    let now = now_ms();
    let expires = now + crate::auth::SESSION_TTL_MS;
    let emails: Vec<String> = voters.iter().map(|(e, _)| e.clone()).collect();
    s.db("checking voters in", move |db| {
        db.check_in_voters(&voters, &hashes, now, expires)
    })
    .await?;
    let sessions: Vec<Value> = emails
        .into_iter()
        .zip(tokens)
        .map(|(email, (token, _))| json!({"email": email, "access_token": token, "expires_at": expires}))
        .collect();
    Ok(axum::Json(
        json!({"sessions": sessions, "token_type": "bearer"}),
    ))
}

/// What the poll worker sees of a voter checked in against the roll.
fn checked_in(c: &super::submit::CheckedIn) -> Value {
    let status = if c.record.fallback_block.is_some() {
        "fallback"
    } else {
        "pending"
    };
    json!({
        "voter": {
            "id": c.voter.voter_id,
            "name": c.voter.name,
            "district": c.voter.district,
        },
        "check_in": c.record.tx_hash,
        "status": status,
        "booth_pass": c.pass,
        "token_type": "bearer",
        "expires_at": c.pass_expires_at_ms,
    })
}

async fn check_in_batch(
    s: &SharedState,
    b: RollBatchCheckIn,
) -> Result<axum::Json<Value>, ApiError> {
    if b.voter_ids.is_empty() || b.voter_ids.len() > MAX_CHECK_IN {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("check in between 1 and {MAX_CHECK_IN} voters per request"),
        ));
    }
    let answers = super::submit::check_in_voters(s, b.election_id, b.voter_ids).await?;
    let results: Vec<Value> = answers
        .iter()
        .map(|a| match a {
            Ok(c) => checked_in(c),
            Err(e) => json!({"error": {"code": e.code, "message": e.message}}),
        })
        .collect();
    Ok(axum::Json(json!({ "results": results })))
}

/// Every validator of the genesis with its health as this node sees it.
fn report(s: &SharedState) -> Value {
    let st = s.node.status();
    let peers = s.peers.snapshot();
    let me = s.key.public();
    let best = peers
        .iter()
        .filter_map(|p| p.height)
        .chain([st.height])
        .max()
        .unwrap_or(0);
    let mut rows = Vec::new();
    let (mut healthy, mut degraded, mut unreachable) = (0, 0, 0);
    for v in &s.genesis.validators {
        let (status, height, row) = if v.public_key == me {
            ("healthy", Some(st.height), json!({"this_node": true}))
        } else {
            let p = peers.iter().find(|p| p.node_id == Some(v.public_key));
            let reachable = p.is_some_and(|p| p.reachable);
            let height = p.and_then(|p| p.height);
            let status = match (reachable, height) {
                (true, Some(h)) if h + HEALTHY_LAG_BLOCKS >= best => "healthy",
                (true, _) => "degraded",
                (false, _) => "unreachable",
            };
            (
                status,
                height,
                json!({
                    "last_seen": p.and_then(|p| p.last_seen_ms),
                    "latency_ms": p.and_then(|p| p.latency_ms),
                    "error": p.and_then(|p| p.last_error.clone()),
                }),
            )
        };
        match status {
            "healthy" => healthy += 1,
            "degraded" => degraded += 1,
            _ => unreachable += 1,
        }
        let mut row = row;
        row["name"] = json!(v.name);
        row["node_id"] = json!(v.public_key);
        row["url"] = json!(v.p2p_url);
        // The seeds' rpc_url is the public door, which the genesis does not
        // name: this node's own, or what the peer reports.
        let rpc_url = if v.public_key == me {
            Some(s.rpc_url.clone())
        } else {
            peers
                .iter()
                .find(|p| p.node_id == Some(v.public_key))
                .and_then(|p| p.rpc_url.clone())
        };
        row["rpc_url"] = json!(rpc_url);
        row["p2p_url"] = json!(v.p2p_url);
        row["status"] = json!(status);
        row["block_height"] = json!(height);
        rows.push(row);
    }
    let q = s.genesis.quorum();
    let total = s.genesis.validators.len();
    json!({
        "timestamp": super::seeds::rfc3339(now_ms()),
        "validators": rows,
        "summary": {
            "total": total,
            "health_percentage": (healthy as f64 * 1000.0 / total.max(1) as f64).round() / 10.0,
            "healthy": healthy,
            "degraded": degraded,
            "unreachable": unreachable,
            "quorum": q,
            "quorum_reachable": healthy + degraded >= q,
        },
        "node": {
            "node_id": me,
            "role": st.role.as_str(),
            "height": st.height,
            "finalized_height": st.finalized_height,
            "round": st.round,
            "mempool": st.mempool,
        },
        "fallback": {
            "active": st.fallback.is_some(),
            "reason": st.fallback.as_ref().map(ToString::to_string),
            "ballots_sealed": st.fallback_counts.total(),
            "ballots_waiting": st.fallback_counts.open(),
            "ballots_confirmed": st.fallback_counts.confirmed,
            "double_votes_rejected": st.fallback_counts.rejected,
        },
        "peers": peers,
    })
}
