//! The peer protocol under `/p2p/`: status, consensus messages, batched
//! transaction gossip and block sync. Everything a peer sends is checked
//! here or by the node; nothing is trusted because of who sent it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SharedState;
use super::error::{ApiError, ApiJson, ApiQuery, QueryInt};
use super::peer_auth::{H_NODE, HeadProof, StatusFields};
use super::peers::compact::{CompactProposal, rebuild};
use super::peers::passon::gossip_targets;
use super::peers::{
    BlocksPage, GossipBatch, MAX_GOSSIP_BATCH, MAX_MESSAGES_PER_REQUEST, MessageBatch,
    MessagesAnswer, Missing, StatusReport,
};
use super::submit::enqueue;
use crate::clock::now_ms;
use crate::consensus::Message;
use crate::ledger::tx::{ToCheck, check_txs};
use crate::ledger::{Hash32, PublicKey, SignedTx};
use crate::node::{Request, Source, SubmitOutcome};
use crate::store::MempoolInsert;

/// Largest request body on the peer protocol (a proposal of a full block).
pub const P2P_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Blocks per `GET /p2p/blocks` page.
pub const MAX_BLOCKS_PER_PAGE: u64 = 64;
/// Fallback blocks per `GET /p2p/fallback` page.
pub const MAX_FALLBACK_PAGE: u64 = 64;
/// How long a proposal naming transactions this node lacks waits for their
/// gossip before the answer names them (the sender then sends them whole).
pub const MISSING_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// How often the mempool is looked at again meanwhile.
const MISSING_RECHECK: std::time::Duration = std::time::Duration::from_millis(25);
/// A page stops early once it holds this many transactions.
pub const MAX_TXS_PER_PAGE: usize = 20_000;
/// Confirmation codes per page of `GET /p2p/codes`.
pub const MAX_CODES_PAGE: u64 = 1_000;

/// The whole peer protocol, for the peer door.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/p2p/message", post(message))
        .route("/p2p/messages", post(messages))
        .route("/p2p/transactions", post(transactions))
        .layer(DefaultBodyLimit::max(P2P_BODY_LIMIT))
        .merge(observer_routes())
}

/// The read-only pages (status, genesis, committed blocks, fallback
/// chains, confirmation codes), which observers and `evote-audit` read at the public door too.
pub fn observer_routes() -> Router<SharedState> {
    Router::new()
        .route("/p2p/status", get(status))
        .route("/p2p/genesis", get(genesis))
        .route("/p2p/blocks", get(blocks))
        .route("/p2p/fallback", get(fallback))
        .route("/p2p/codes", get(codes))
}

/// A signed status is made again at most this often (or when the head or
/// round moves): a flood of status requests costs a copy, not a signature
/// and a read of the head block each.
pub const STATUS_REFRESH_MS: u64 = 1_000;

async fn status(State(s): State<SharedState>) -> Result<axum::Json<StatusReport>, ApiError> {
    let st = s.node.status();
    let now = now_ms();
    let cached = s.status_cache.lock().expect("status cache").clone();
    if let Some(c) = cached
        && c.height == st.height
        && c.round == st.round
        && now.saturating_sub(c.time_ms) < STATUS_REFRESH_MS
    {
        return Ok(axum::Json(c));
    }
    let height = st.height;
    let head = match height {
        0 => None,
        h => s
            .db("reading the head block", move |db| db.block(h))
            .await?
            .map(|b| HeadProof {
                header: b.header,
                seals: b.seals,
            }),
    };
    let me = s.key.public();
    let role = st.role.as_str();
    let signature = StatusFields {
        chain_id: &s.chain_id,
        node_id: &me,
        height,
        best_hash: &st.head_hash,
        round: st.round,
        role,
        started_at_ms: s.started_at_ms,
        rpc_url: Some(&s.rpc_url),
        time_ms: now,
    }
    .sign(&s.key);
    let report = StatusReport {
        node_id: me,
        genesis_hash: s.chain_id,
        chain_length: height + 1,
        best_hash: st.head_hash,
        height,
        role: role.to_string(),
        round: st.round,
        started_at_ms: s.started_at_ms,
        rpc_url: Some(s.rpc_url.clone()),
        time_ms: now,
        head,
        signature: Some(signature),
    };
    *s.status_cache.lock().expect("status cache") = Some(report.clone());
    Ok(axum::Json(report))
}

/// The genesis this node runs, exactly as it hashes to the chain id.
async fn genesis(State(s): State<SharedState>) -> axum::Json<crate::ledger::Genesis> {
    axum::Json(s.genesis.as_ref().clone())
}

async fn message(
    State(s): State<SharedState>,
    ApiJson(msg): ApiJson<Message>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    admit_message(&s, &msg)?;
    s.node
        .try_send(Request::Consensus(Box::new(msg)))
        .map_err(|_| ApiError::busy("the node is busy"))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"status": "accepted"})),
    ))
}

/// The checks a consensus message passes before it goes to the node (which
/// checks its signature and everything else).
fn admit_message(s: &SharedState, msg: &Message) -> Result<(), ApiError> {
    if msg.chain_id() != &s.chain_id {
        return Err(ApiError::bad_request(
            "wrong_chain",
            "message is for another chain",
        ));
    }
    if !s.genesis.is_validator(msg.sender()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_validator",
            "only validators of the genesis may send consensus messages",
        ));
    }
    Ok(())
}

/// Consensus messages in one request: proposals by the names of their
/// transactions first, rebuilt from this node's mempool (`compact.rs`),
/// then the others in the order sent. The request is refused whole if any
/// message is. 202 once every message is in the node's queue but the
/// proposals that could not be rebuilt, which the answer names with the
/// transactions this node lacks.
async fn messages(
    State(s): State<SharedState>,
    ApiJson(batch): ApiJson<MessageBatch>,
) -> Result<(StatusCode, axum::Json<MessagesAnswer>), ApiError> {
    let count = batch.messages.len() + batch.proposals.len();
    if count > MAX_MESSAGES_PER_REQUEST {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!("at most {MAX_MESSAGES_PER_REQUEST} messages per request"),
        ));
    }
    // Every transaction named is looked up in the mempool: a request names
    // at most one block's worth (a sender puts one proposal in a request).
    let max_txs = s.genesis.params.max_block_txs as usize;
    let named: usize = batch.proposals.iter().map(|p| p.transactions.len()).sum();
    let carried_more = batch
        .proposals
        .iter()
        .any(|p| p.carried.len() > p.transactions.len());
    if named > max_txs || carried_more {
        return Err(ApiError::bad_request(
            "too_many_transactions",
            format!("a request names at most {max_txs} transactions, a block's worth"),
        ));
    }
    for p in &batch.proposals {
        let as_message = Message::Proposal(crate::consensus::Proposal {
            block: crate::ledger::Block {
                header: p.header.clone(),
                block_hash: p.block_hash,
                proposer_signature: p.proposer_signature,
                transactions: Vec::new(),
                seals: Vec::new(),
            },
            justification: None,
        });
        admit_message(&s, &as_message)?;
    }
    for msg in &batch.messages {
        admit_message(&s, msg)?;
    }
    let relay_to = relay_target(&s, batch.relay_to)?;
    let pass_on = s.genesis.is_validator(&s.key.public());
    // The votes first: they need nothing from the mempool.
    let mut answer = MessagesAnswer::default();
    for msg in batch.messages {
        pass_along(&s, relay_to.as_ref(), pass_on, &msg);
        to_node(&s, msg)?;
        answer.accepted += 1;
    }
    let deadline = tokio::time::Instant::now() + MISSING_WAIT;
    for p in batch.proposals {
        let block_hash = p.block_hash;
        loop {
            match rebuild_from_mempool(&s, p.clone()).await? {
                Ok(p) => {
                    let msg = Message::Proposal(p);
                    pass_along(&s, relay_to.as_ref(), pass_on, &msg);
                    to_node(&s, msg)?;
                    answer.accepted += 1;
                }
                // The gossip that brings them is likely on its way: a
                // moment's wait costs less than asking (a round trip).
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(MISSING_RECHECK).await;
                    continue;
                }
                Err(tx_hashes) => answer.missing.push(Missing {
                    block_hash,
                    tx_hashes,
                }),
            }
            break;
        }
    }
    Ok((StatusCode::ACCEPTED, axum::Json(answer)))
}

/// A request's `relay_to`, if it names another validator; refused (400)
/// if it names anyone else.
fn relay_target(s: &SharedState, to: Option<PublicKey>) -> Result<Option<PublicKey>, ApiError> {
    match to {
        Some(k) if !s.genesis.is_validator(&k) || k == s.key.public() => Err(
            ApiError::bad_request("bad_relay", "relay_to must name another validator"),
        ),
        to => Ok(to),
    }
}

/// The most transactions a proposal may name for a validator to pass it
/// on (`passon.rs`): a copy by names costs about 220 bytes a transaction,
/// and a block of a backlog passed on to every validator would take a
/// thin uplink longer than its round.
pub const PASS_ON_MAX_TXS: usize = 128;

/// Passes a message on, if its signature holds (a relay carries nothing
/// its signer did not sign): to validator `to` (the sender's link to it
/// is slow), and, if this node is a validator (`pass_on`), to the others
/// the first time it sees the message (`passon.rs`), unless it is large:
/// a proposal naming more than [`PASS_ON_MAX_TXS`] transactions, or a
/// ROUND-CHANGE carrying a block.
fn pass_along(s: &SharedState, to: Option<&PublicKey>, pass_on: bool, msg: &Message) {
    tracing::debug!(kind = ?msg.kind(), height = msg.height(), round = msg.round(),
        from = %msg.sender(), relay = to.is_some(), "consensus message in");
    let small = match msg {
        Message::Proposal(p) => p.block.transactions.len() <= PASS_ON_MAX_TXS,
        Message::RoundChange(rc) => rc.prepared_block.is_none(),
        Message::Prepare(_) | Message::Commit(_) => true,
    };
    let pass_on = pass_on && small;
    if (to.is_none() && !pass_on) || !matches!(msg.verify_signature(), Ok(true)) {
        return;
    }
    if let Some(to) = to
        && !s.peers.relay(to, msg.clone())
    {
        tracing::debug!("a message to relay was dropped: no room for it");
    }
    if pass_on && s.peers.pass_on(msg, s.node.status().height) > 0 {
        tracing::debug!("a message to pass on was dropped: no room for it");
    }
}

fn to_node(s: &SharedState, msg: Message) -> Result<(), ApiError> {
    s.node
        .try_send(Request::Consensus(Box::new(msg)))
        .map_err(|_| ApiError::busy("the node is busy"))
}

/// The proposal rebuilt from this node's mempool, or the hashes it lacks.
async fn rebuild_from_mempool(
    s: &SharedState,
    p: CompactProposal,
) -> Result<Result<crate::consensus::Proposal, Vec<Hash32>>, ApiError> {
    s.db("reading the mempool", move |db| {
        let mut failed = None;
        let r = rebuild(p, |hashes| match db.mempool_get(hashes) {
            Ok(found) => found,
            Err(e) => {
                failed = Some(e);
                vec![None; hashes.len()]
            }
        });
        failed.map_or(Ok(r), Err)
    })
    .await
}

#[derive(Serialize)]
struct Refused {
    tx_hash: Option<Hash32>,
    code: &'static str,
    message: String,
}

async fn transactions(
    State(s): State<SharedState>,
    headers: HeaderMap,
    ApiJson(batch): ApiJson<GossipBatch>,
) -> Result<axum::Json<Value>, ApiError> {
    if batch.transactions.len() > MAX_GOSSIP_BATCH {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!("at most {MAX_GOSSIP_BATCH} transactions per batch"),
        ));
    }
    let relay_to = relay_target(&s, batch.relay_to)?;
    let everyone = batch.relay;
    let s2 = s.clone();
    let checked = s.proof_work.run_for_peer("checking transactions", move || {
        let now = now_ms();
        // A transaction gossiped again (a re-gossip, a relay) was checked in
        // full when it first came: only its cheap rules are checked again.
        let verified = s2.node.verified();
        let checks: Vec<ToCheck<'_>> = batch
            .transactions
            .iter()
            .map(|t| {
                let hash = t.hash().ok();
                let known = hash.is_some_and(|h| verified.contains(&h, &t.signature));
                ToCheck {
                    stx: t,
                    hash,
                    known,
                }
            })
            .collect();
        let verdicts = check_txs(&s2.genesis, &s2.chain_id, &checks, now);
        drop(checks);
        verdicts
            .into_iter()
            .zip(batch.transactions)
            .collect::<Vec<_>>()
    });
    let checked = checked.await?;
    let validator = s.genesis.is_validator(&s.key.public());
    let mut refused = Vec::new();
    let mut waits = Vec::new();
    let mut asked = Vec::new();
    for (check, stx) in checked {
        match check {
            Ok(hash) => {
                if relay_to.is_some() || everyone {
                    asked.push(stx.clone());
                }
                let copy = validator.then(|| stx.clone());
                waits.push((hash, enqueue(&s, stx, hash, Source::Peer)?, copy))
            }
            Err(e) => refused.push(Refused {
                tx_hash: stx.hash().ok(),
                code: e.code(),
                message: e.to_string(),
            }),
        }
    }
    let (mut accepted, mut known) = (0u64, 0u64);
    let mut first_seen = Vec::new();
    for (hash, wait, copy) in waits {
        match wait.await? {
            SubmitOutcome::Mempool(MempoolInsert::Inserted) => {
                accepted += 1;
                first_seen.extend(copy);
            }
            SubmitOutcome::Confirmed { .. } => accepted += 1,
            SubmitOutcome::Mempool(
                MempoolInsert::AlreadyPending | MempoolInsert::AlreadyCommitted,
            ) => known += 1,
            SubmitOutcome::Mempool(MempoolInsert::Full) => {
                return Err(ApiError::busy("the mempool is full"));
            }
            other => refused.push(Refused {
                tx_hash: Some(hash),
                code: "duplicate_nullifier",
                message: format!("{other:?}"),
            }),
        }
    }
    let sender = headers
        .get(H_NODE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| PublicKey::parse(v).ok());
    tracing::debug!(from = ?sender, accepted, known, everyone, relay_to = ?relay_to,
        "gossip in");
    crate::node::Counters::add(&s.node.counters.gossip_refused, refused.len() as u64);
    // Passed on only once checked: a relay carries nothing invalid.
    pass_on_gossip(&s, sender, (relay_to, everyone), asked, first_seen);
    Ok(axum::Json(json!({
        "accepted": accepted,
        "already_known": known,
        "refused": refused,
    })))
}

/// Passes on what a gossip request from `sender` brought: what it `asked`
/// to have passed on where it asked, and what this node took first
/// (`first_seen`) to the proposers to come (`passon::gossip_targets`).
fn pass_on_gossip(
    s: &SharedState,
    sender: Option<PublicKey>,
    ask: (Option<PublicKey>, bool),
    asked: Vec<SignedTx>,
    first_seen: Vec<SignedTx>,
) {
    let st = s.node.status();
    let me = s.key.public();
    let to = gossip_targets(&s.genesis, (st.height, st.round), &me, sender.as_ref(), ask);
    pass_on_to(s, &to.asked, asked);
    pass_on_to(s, &to.proposers, first_seen);
}

/// Queues `txs` for each validator of `to`.
fn pass_on_to(s: &SharedState, to: &[PublicKey], txs: Vec<SignedTx>) {
    if txs.is_empty() {
        return;
    }
    let txs = Arc::new(txs);
    for k in to {
        tracing::debug!(to = %k, txs = txs.len(), "gossip passed on");
        if !s.peers.relay_txs(k, txs.clone()) {
            tracing::debug!("transactions to pass on were dropped: no room for them");
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlocksQuery {
    from: QueryInt,
    #[serde(default)]
    limit: Option<QueryInt>,
    /// With no block at `from` yet, wait up to this long (at most
    /// [`MAX_BLOCKS_WAIT_MS`]) for it: a station follows the chain this way,
    /// learning of a block one message delay after it is committed.
    #[serde(default)]
    wait_ms: Option<QueryInt>,
}

/// The longest a `GET /p2p/blocks` waits for its first block.
pub const MAX_BLOCKS_WAIT_MS: u64 = 5_000;
/// How often a waiting `GET /p2p/blocks` looks at the head again.
const BLOCKS_WAIT_RECHECK: std::time::Duration = std::time::Duration::from_millis(20);

async fn blocks(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<BlocksQuery>,
) -> Result<axum::Json<BlocksPage>, ApiError> {
    let limit = q
        .limit
        .map_or(MAX_BLOCKS_PER_PAGE, |q| q.0)
        .clamp(1, MAX_BLOCKS_PER_PAGE);
    let from = q.from.0.max(1);
    let wait = q.wait_ms.map_or(0, |w| w.0.min(MAX_BLOCKS_WAIT_MS));
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(wait);
    while s.node.status().height < from && tokio::time::Instant::now() < until {
        tokio::time::sleep(BLOCKS_WAIT_RECHECK).await;
    }
    let mut blocks = s
        .db("reading blocks", move |db| db.blocks_range(from, limit))
        .await?;
    let mut txs = 0;
    let keep = blocks
        .iter()
        .take_while(|b| {
            txs += b.transactions.len();
            txs <= MAX_TXS_PER_PAGE
        })
        .count()
        .max(1);
    blocks.truncate(keep);
    Ok(axum::Json(BlocksPage { blocks }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FallbackQuery {
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    from_seq: Option<QueryInt>,
    #[serde(default)]
    limit: Option<QueryInt>,
}

/// A page of a fallback chain this node holds (its own by default), with
/// where each ballot stands on the main chain, and the closing record.
async fn fallback(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<FallbackQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let origin = match &q.origin {
        Some(o) => crate::ledger::PublicKey::parse(o)
            .map_err(|e| ApiError::bad_request("invalid_origin", format!("origin: {e}")))?,
        None => s.key.public(),
    };
    let from = q.from_seq.map_or(1, |q| q.0).max(1);
    let limit = q
        .limit
        .map_or(MAX_FALLBACK_PAGE, |q| q.0)
        .clamp(1, MAX_FALLBACK_PAGE);
    let page = s
        .db("reading the fallback chain", move |db| {
            let blocks = db.fallback_blocks(&origin, from, limit)?;
            let count: u64 = blocks.iter().map(|b| b.transactions.len() as u64).sum();
            let ballots = db.fallback_ballots(&origin, from, count)?;
            Ok((
                blocks,
                ballots,
                db.fallback_close(&origin)?,
                db.fallback_origins()?,
            ))
        })
        .await?;
    let (blocks, ballots, close, origins) = page;
    let next = blocks
        .last()
        .map(|b| b.header.seq + 1)
        .filter(|_| blocks.len() as u64 == limit);
    let ballots: Vec<Value> = ballots
        .into_iter()
        .map(|b| {
            json!({
                "seq": b.seq,
                "sealed_tx_hash": b.sealed_tx_hash,
                "main_tx_hash": b.main_tx_hash,
                "state": format!("{:?}", b.state).to_lowercase(),
                "conflicting_tx": b.conflicting_tx,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "origin": origin,
        "origins": origins,
        "blocks": blocks,
        "ballots": ballots,
        "close": close,
        "next_seq": next,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesQuery {
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

/// This appliance's confirmation codes in issue order (PROTOCOL.md §9):
/// the chain whose head its closing records sign, for anyone to check.
async fn codes(
    State(s): State<SharedState>,
    ApiQuery(q): ApiQuery<CodesQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let from = q.from.unwrap_or(1).max(1);
    let limit = q.limit.unwrap_or(MAX_CODES_PAGE).clamp(1, MAX_CODES_PAGE);
    let page = s
        .db("reading confirmation codes", move |db| {
            db.codes_page(from, limit)
        })
        .await?;
    let next = page
        .last()
        .map(|c| c.seq + 1)
        .filter(|_| page.len() as u64 == limit);
    Ok(axum::Json(json!({
        "origin": s.key.public(),
        "codes": page,
        "next": next,
    })))
}
