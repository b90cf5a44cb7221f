//! JSON-RPC 2.0 at `POST /rpc`: the seeds' backend-to-validator path and a
//! read-only view of the chain in Ethereum's shapes. Three rooms:
//! `envelope` (JSON-RPC itself: requests, batches, ids, error codes),
//! `methods` (each method's params and the reads' answers) and `eth` (blocks,
//! transactions and receipts in Ethereum's field names and hex quantities).
//! This file is the HTTP glue and the store the reads look in.
//!
//! HTTP: every answer is `200 OK` with `content-type: application/json`,
//! parse errors included. A request that gets no answer (one notification,
//! or a batch of notifications only) is answered `204 No Content` with an
//! empty body. The body is taken as raw bytes, so malformed JSON gets
//! -32700 rather than an HTTP rejection; the server's body limit applies.
//!
//! Errors from `eth_sendTransaction` carry `data: {"code": <ApiError code>}`
//! (e.g. `{"code": "already_voted"}`) and the `ApiError` message.

mod envelope;
mod eth;
mod methods;
#[cfg(test)]
mod tests;

use std::cell::OnceCell;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::submit::submit_signed;
use super::{ApiError, SharedState};
use crate::ledger::{Block, Hash32, SignedTx};
use crate::node::Source;
use crate::store::{Store, StoreError, TxLocation};

use envelope::{BUSY, INTERNAL_ERROR, TX_REFUSED};
pub use envelope::{Envelope, Outcome, Reply, RpcError};
pub use methods::{Call, ChainInfo, ChainView, Lookup, respond};

/// How many waiting transactions (oldest first) `eth_getTransactionByHash`
/// looks through to show a pending one: the store looks mempool bodies up
/// only in order. A pending transaction beyond them is answered `null`.
pub const MAX_PENDING_SCAN: u64 = 4_096;

/// Parses a body into its requests and their calls; `Err` is the one reply
/// for a body that is not JSON or an empty or oversized batch.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope<Call>, Reply> {
    envelope::parse_envelope(body, methods::parse_call)
}

pub fn routes() -> Router<SharedState> {
    Router::new().route("/rpc", post(rpc))
}

async fn rpc(State(s): State<SharedState>, body: Bytes) -> Response {
    let reply = match parse_envelope(&body) {
        Ok(env) => run(&s, env).await,
        Err(reply) => Some(reply.to_json()),
    };
    http_reply(reply)
}

/// 200 with the JSON answer, or 204 with an empty body when there is none.
fn http_reply(reply: Option<String>) -> Response {
    match reply {
        Some(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Submits the transactions (in order, notifications too), then answers
/// the reads on one pooled connection.
async fn run(s: &SharedState, env: Envelope<Call>) -> Option<String> {
    let sent = send_all(s, &env).await;
    let info = chain_info(s);
    if !env.needs_store() {
        return respond(&env, &info, &Unavailable, &sent);
    }
    let (env, sent) = (Arc::new(env), Arc::new(sent));
    let (env2, sent2) = (env.clone(), sent.clone());
    let answered = s
        .db("answering JSON-RPC", move |db| {
            Ok(respond(&env2, &info, &StoreView::new(db), &sent2))
        })
        .await;
    // On failure `ApiError::internal` has logged why; store reads get -32603.
    answered.unwrap_or_else(|_| respond(&env, &info, &Unavailable, &sent))
}

async fn send_all(s: &SharedState, env: &Envelope<Call>) -> Vec<Option<Outcome>> {
    let mut out = vec![None; env.entries.len()];
    for (slot, entry) in out.iter_mut().zip(&env.entries) {
        if let Ok(Call::Send(stx)) = &entry.call {
            let result = submit_signed(s, (**stx).clone(), Source::Rpc).await;
            *slot = Some(
                result
                    .map(|h| json!(h.tx_hash))
                    .map_err(|e| from_api_error(&e)),
            );
        }
    }
    out
}

fn chain_info(s: &SharedState) -> ChainInfo {
    let st = s.node.status();
    ChainInfo {
        chain_id: s.chain_id,
        genesis_time_ms: s.genesis.created_at_ms,
        height: st.height,
        finalized_height: st.finalized_height,
    }
}

/// The store behind [`ChainView`].
struct StoreView<'a> {
    db: &'a Store,
    /// The oldest waiting transactions, read once per request.
    waiting: OnceCell<Vec<(Hash32, SignedTx)>>,
}

impl<'a> StoreView<'a> {
    fn new(db: &'a Store) -> Self {
        Self {
            db,
            waiting: OnceCell::new(),
        }
    }

    fn waiting(&self) -> Result<&[(Hash32, SignedTx)], RpcError> {
        if let Some(w) = self.waiting.get() {
            return Ok(w);
        }
        let w = self
            .db
            .mempool_take(MAX_PENDING_SCAN)
            .map_err(store_failed)?;
        Ok(self.waiting.get_or_init(|| w))
    }
}

fn store_failed(e: StoreError) -> RpcError {
    RpcError::internal("reading the chain", e)
}

impl ChainView for StoreView<'_> {
    fn block(&self, height: u64) -> Lookup<Block> {
        self.db.block(height).map_err(store_failed)
    }

    fn block_by_hash(&self, hash: &Hash32) -> Lookup<Block> {
        self.db.block_by_hash(hash).map_err(store_failed)
    }

    fn committed_tx(&self, hash: &Hash32) -> Lookup<(SignedTx, TxLocation)> {
        self.db.committed_tx(hash).map_err(store_failed)
    }

    fn pending_tx(&self, hash: &Hash32) -> Lookup<SignedTx> {
        if !self.db.mempool_contains(hash).map_err(store_failed)? {
            return Ok(None);
        }
        let found = self.waiting()?.iter().find(|(h, _)| h == hash);
        Ok(found.map(|(_, stx)| stx.clone()))
    }
}

/// A view for when the store is not needed or not reachable: every look-up
/// is an internal error.
struct Unavailable;

impl Unavailable {
    fn fail<T>(&self) -> Lookup<T> {
        Err(RpcError::new(
            INTERNAL_ERROR,
            "the chain database is unavailable; see the appliance log",
        ))
    }
}

impl ChainView for Unavailable {
    fn block(&self, _: u64) -> Lookup<Block> {
        self.fail()
    }

    fn block_by_hash(&self, _: &Hash32) -> Lookup<Block> {
        self.fail()
    }

    fn committed_tx(&self, _: &Hash32) -> Lookup<(SignedTx, TxLocation)> {
        self.fail()
    }

    fn pending_tx(&self, _: &Hash32) -> Lookup<SignedTx> {
        self.fail()
    }
}

/// Maps a refusal of `submit_signed`: 503 → [`BUSY`], 500 →
/// [`INTERNAL_ERROR`], anything else (400 invalid transaction, 409
/// `already_voted`, ...) → [`TX_REFUSED`]; `data.code` is the API's code.
pub fn from_api_error(e: &ApiError) -> RpcError {
    let code = match e.status {
        StatusCode::SERVICE_UNAVAILABLE => BUSY,
        StatusCode::INTERNAL_SERVER_ERROR => INTERNAL_ERROR,
        _ => TX_REFUSED,
    };
    RpcError {
        code,
        message: e.message.clone(),
        data: Some(json!({"code": e.code})),
    }
}
