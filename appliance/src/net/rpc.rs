//! JSON-RPC 2.0 at `POST /rpc`: the seeds' backend-to-validator path and a
//! read-only view of the chain in Ethereum's shapes, so that stock Ethereum
//! client libraries (web3.py, ethers.js, viem) can read blocks, transactions
//! and receipts.
//!
//! Methods: `eth_sendTransaction` (params: one signed transaction in the
//! ledger's wire form `{"tx": {...}, "signature": "0x..."}`; only appliances
//! named in the genesis can have signed it, which `submit_signed` checks;
//! returns the transaction hash once it is durable in the mempool),
//! `eth_getTransactionReceipt`, `eth_blockNumber`, `eth_getBlockByNumber`,
//! `eth_getBlockByHash`, `eth_getTransactionByHash`, `eth_chainId`,
//! `net_version`, `web3_clientVersion`.
//!
//! HTTP: every answer is `200 OK` with `content-type: application/json`,
//! parse errors included. A request that gets no answer (one notification,
//! or a batch of notifications only) is answered `204 No Content` with an
//! empty body. The body is taken as raw bytes, so malformed JSON gets
//! -32700 rather than an HTTP rejection; the server's body limit applies.
//!
//! Protocol: request ids are echoed as sent (numbers keep their exact text,
//! `1.10` stays `1.10`); a request without an `id` member is a notification
//! and is never answered, not even with an error; an invalid request is
//! always answered, with its id if that id was a string, number or null,
//! else with null. A batch holds at most [`MAX_BATCH_REQUESTS`]; an empty or
//! oversized batch is answered with one -32600 error object, not an array.
//!
//! Error codes:
//!
//! | code   | when                                                              |
//! |--------|-------------------------------------------------------------------|
//! | -32700 | the body is not JSON (id null)                                    |
//! | -32600 | not a request object, `jsonrpc` is not "2.0", `method` not a string, `params` neither array nor object, empty or oversized batch |
//! | -32601 | unknown method                                                    |
//! | -32602 | wrong params: count, block tag, hash, or not a signed transaction |
//! | -32603 | internal failure (details only in the appliance log)              |
//! | -32000 | `eth_sendTransaction` refused (an `ApiError` with a 4xx status: bad signature, unknown origin, closed election, double vote "already_voted", ...) |
//! | -32005 | `eth_sendTransaction` while the appliance is busy (HTTP 503 in the voter API); or a batch whose answers pass [`MAX_BATCH_REPLY_BYTES`] (the answers past it) |
//!
//! Errors from `eth_sendTransaction` carry `data: {"code": <ApiError code>}`
//! (e.g. `{"code": "already_voted"}`) and the `ApiError` message.
//!
//! Shapes: quantities are `0x` hex without leading zeros; hashes 32 bytes;
//! addresses are [`address_of`] a key (`from` = the ballot's origin
//! appliance, `miner` = the proposer, `to` = null); a missing block,
//! transaction or receipt is `null`. Gas, value, nonce and difficulty are
//! zero; `stateRoot`, `receiptsRoot` and `mixHash` are the zero hash;
//! `transactionsRoot` is the block's `tx_root`; `timestamp` is in seconds.
//! A transaction's `input` is its canonical JSON (so SHA-256 of `input` is
//! its hash); `r` is the first 32 bytes of the Ed25519 signature (the point
//! R) and `s` is the scalar S as a big-endian number (Ed25519 writes it
//! little-endian): the signature is `r || reverse(s)`. Written that way `s`
//! is below 2^253, which ethers requires ("non-canonical s"); `v` is 0.
//! Height 0 is the genesis: a synthetic block with hash = chain id, no
//! transactions and the genesis' `created_at_ms`.
//!
//! Chain id: the first 6 bytes of the ledger's chain id (the genesis hash)
//! as a big-endian number: stable for a chain and below 2^53, so JavaScript
//! numbers hold it. `eth_chainId` gives it in hex, `net_version` in decimal.

use std::cell::OnceCell;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize as _;
use serde_json::{Map, Value, json};

use super::submit::submit_signed;
use super::{ApiError, SharedState};
use crate::ledger::{
    Block, Hash32, PublicKey, Signature, SignedTx, address_of, canonical_bytes, merkle_root,
};
use crate::node::Source;
use crate::store::{Store, StoreError, TxLocation};

/// The most requests one batch may hold; a larger batch is refused whole
/// with one -32600 error.
pub const MAX_BATCH_REQUESTS: usize = 100;
/// How many waiting transactions (oldest first) `eth_getTransactionByHash`
/// looks through to show a pending one: the store looks mempool bodies up
/// only in order. A pending transaction beyond them is answered `null`.
pub const MAX_PENDING_SCAN: u64 = 4_096;
/// The most bytes of answers one batch collects. The first answer always
/// goes out (one block is bounded by the genesis' `max_block_txs`); an
/// answer that would pass the limit is replaced by a [`BUSY`] error
/// asking for a smaller batch.
pub const MAX_BATCH_REPLY_BYTES: usize = 16 << 20;
/// `web3_clientVersion`.
pub const CLIENT_VERSION: &str = concat!("evote-appliance/", env!("CARGO_PKG_VERSION"));

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Server error: the transaction was refused.
pub const TX_REFUSED: i64 = -32000;
/// Server error (EIP-1474 "limit exceeded"): the appliance is busy.
pub const BUSY: i64 = -32005;

/// Keccak-256 of the RLP of an empty list: `sha3Uncles` of a block
/// without uncles.
const EMPTY_UNCLES_HASH: &str =
    "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";
const ZERO_NONCE: &str = "0x0000000000000000";
const ZERO_ADDRESS: [u8; 20] = [0; 20];

// ---------------------------------------------------------------------------
// HTTP glue
// ---------------------------------------------------------------------------

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
async fn run(s: &SharedState, env: Envelope) -> Option<String> {
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

async fn send_all(s: &SharedState, env: &Envelope) -> Vec<Option<Outcome>> {
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

// ---------------------------------------------------------------------------
// Errors, ids and replies
// ---------------------------------------------------------------------------

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(INVALID_REQUEST, message)
    }

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// An internal failure: logged in full, answered without details.
    fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {e}");
        Self::new(
            INTERNAL_ERROR,
            format!("{context} failed; see the appliance log"),
        )
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            v["data"] = data.clone();
        }
        v
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

/// A request id as JSON text: a string, a number exactly as the client
/// wrote it, or null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(String);

impl Id {
    pub fn null() -> Self {
        Self("null".into())
    }

    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The id member `v` of a request whose text is `raw`; `None` if `v` is
    /// not a valid id (an object, array or boolean).
    fn parse(v: &Value, raw: Option<&[u8]>) -> Option<Self> {
        match v {
            Value::Null => Some(Self::null()),
            Value::String(_) => Some(Self(v.to_string())),
            Value::Number(n) => {
                let exact = raw.and_then(|r| raw::member(r, "id")).and_then(number_text);
                Some(Self(exact.unwrap_or_else(|| n.to_string())))
            }
            _ => None,
        }
    }
}

fn number_text(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let v: Value = serde_json::from_str(text).ok()?;
    v.is_number().then(|| text.to_owned())
}

pub type Outcome = Result<Value, RpcError>;

/// One response object.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub id: Id,
    pub outcome: Outcome,
}

impl Reply {
    fn error(id: Id, e: RpcError) -> Self {
        Self {
            id,
            outcome: Err(e),
        }
    }

    /// Written by hand so that a number id keeps the client's exact text.
    pub fn to_json(&self) -> String {
        let body = match &self.outcome {
            Ok(v) => format!("\"result\":{v}"),
            Err(e) => format!("\"error\":{}", e.to_value()),
        };
        format!("{{\"jsonrpc\":\"2.0\",\"id\":{},{body}}}", self.id.0)
    }
}

// ---------------------------------------------------------------------------
// Envelope: body → requests
// ---------------------------------------------------------------------------

/// A parsed body: one request or a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub batch: bool,
    pub entries: Vec<Entry>,
}

/// One request. `id: None` is a notification (never answered); an invalid
/// request always has `Some` id (null if it had none usable).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Option<Id>,
    pub call: Result<Call, RpcError>,
}

impl Entry {
    fn invalid(id: Id, message: &str) -> Self {
        Self {
            id: Some(id),
            call: Err(RpcError::invalid_request(message)),
        }
    }
}

impl Envelope {
    /// Whether any answered read needs the store.
    pub fn needs_store(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.id.is_some() && matches!(&e.call, Ok(Call::Read(r)) if r.needs_store()))
    }
}

/// Parses a body; `Err` is the one reply for a body that is not JSON or an
/// empty or oversized batch.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, Reply> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Reply::error(
            Id::null(),
            RpcError::new(PARSE_ERROR, format!("parse error: {e}")),
        )
    })?;
    let text = body.get(raw::skip_ws(body, 0)..);
    match value {
        Value::Array(items) => parse_batch(&items, text),
        v => Ok(Envelope {
            batch: false,
            entries: vec![parse_entry(&v, text)],
        }),
    }
}

fn parse_batch(items: &[Value], text: Option<&[u8]>) -> Result<Envelope, Reply> {
    let refuse = |m: String| Err(Reply::error(Id::null(), RpcError::invalid_request(m)));
    if items.is_empty() {
        return refuse("empty batch".into());
    }
    if items.len() > MAX_BATCH_REQUESTS {
        return refuse(format!(
            "batch of {} requests; at most {MAX_BATCH_REQUESTS} are allowed",
            items.len()
        ));
    }
    let spans = text
        .and_then(raw::elements)
        .filter(|s| s.len() == items.len());
    let entries = items
        .iter()
        .enumerate()
        .map(|(i, v)| parse_entry(v, spans.as_ref().and_then(|s| s.get(i).copied())))
        .collect();
    Ok(Envelope {
        batch: true,
        entries,
    })
}

/// One request object; `raw` is its text, for the exact id.
fn parse_entry(v: &Value, raw: Option<&[u8]>) -> Entry {
    let Value::Object(obj) = v else {
        return Entry::invalid(Id::null(), "a request must be a JSON object");
    };
    let id = match obj.get("id").map(|i| Id::parse(i, raw)) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => {
            return Entry::invalid(Id::null(), "id must be a string, a number or null");
        }
    };
    match check_shape(obj) {
        Ok((method, params)) => Entry {
            id,
            call: parse_call(method, params),
        },
        Err(e) => Entry {
            id: Some(id.unwrap_or_else(Id::null)),
            call: Err(e),
        },
    }
}

/// `jsonrpc`, `method` and `params` of a request object.
fn check_shape(obj: &Map<String, Value>) -> Result<(&str, Option<&Value>), RpcError> {
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(RpcError::invalid_request(r#"jsonrpc must be "2.0""#));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Err(RpcError::invalid_request("method must be a string"));
    };
    let params = obj.get("params");
    if params.is_some_and(|p| !p.is_array() && !p.is_object()) {
        return Err(RpcError::invalid_request(
            "params must be an array or an object",
        ));
    }
    Ok((method, params))
}

/// Spans in a JSON text that serde_json has already accepted, to recover
/// the exact text of number ids (serde_json's `Value` rounds them).
/// Returns `None` rather than panicking on anything unexpected.
mod raw {
    fn is_ws(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\n' | b'\r')
    }

    pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while b.get(i).copied().is_some_and(is_ws) {
            i += 1;
        }
        i
    }

    fn string_end(b: &[u8], i: usize) -> Option<usize> {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let mut j = i + 1;
        loop {
            match b.get(j)? {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
    }

    fn container_end(b: &[u8], i: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut j = i;
        loop {
            match b.get(j)? {
                b'"' => {
                    j = string_end(b, j)?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                _ => {}
            }
            j += 1;
        }
    }

    /// End (exclusive) of the value starting at `i`.
    fn value_end(b: &[u8], i: usize) -> Option<usize> {
        match b.get(i)? {
            b'"' => string_end(b, i),
            b'{' | b'[' => container_end(b, i),
            _ => {
                let rest = b.get(i..)?;
                let len = rest
                    .iter()
                    .position(|&c| is_ws(c) || matches!(c, b',' | b']' | b'}'))
                    .unwrap_or(rest.len());
                Some(i + len)
            }
        }
    }

    /// The elements of the array that `b` starts with.
    pub fn elements(b: &[u8]) -> Option<Vec<&[u8]>> {
        if b.first() != Some(&b'[') {
            return None;
        }
        let mut out = Vec::new();
        let mut j = skip_ws(b, 1);
        if b.get(j)? == &b']' {
            return Some(out);
        }
        loop {
            let end = value_end(b, j)?;
            out.push(b.get(j..end)?);
            j = skip_ws(b, end);
            match b.get(j)? {
                b',' => j = skip_ws(b, j + 1),
                b']' => return Some(out),
                _ => return None,
            }
        }
    }

    /// The value of the last member named `key` (as serde_json keeps the
    /// last of duplicates) of the object that `b` starts with.
    pub fn member<'a>(b: &'a [u8], key: &str) -> Option<&'a [u8]> {
        if b.first() != Some(&b'{') {
            return None;
        }
        let mut found = None;
        let mut j = skip_ws(b, 1);
        if b.get(j)? == &b'}' {
            return None;
        }
        loop {
            let key_end = string_end(b, j)?;
            let name: String = serde_json::from_slice(b.get(j..key_end)?).ok()?;
            j = skip_ws(b, key_end);
            if b.get(j)? != &b':' {
                return None;
            }
            j = skip_ws(b, j + 1);
            let end = value_end(b, j)?;
            if name == key {
                found = b.get(j..end);
            }
            j = skip_ws(b, end);
            match b.get(j)? {
                b',' => j = skip_ws(b, j + 1),
                b'}' => return found,
                _ => return None,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Methods and their params
// ---------------------------------------------------------------------------

/// A valid method call.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `eth_sendTransaction`: runs in the async glue.
    Send(Box<SignedTx>),
    Read(Read),
}

/// A read-only method with its params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    BlockNumber,
    ChainId,
    NetVersion,
    ClientVersion,
    /// Tag, full transactions.
    BlockByNumber(BlockTag, bool),
    BlockByHash(Hash32, bool),
    TransactionByHash(Hash32),
    TransactionReceipt(Hash32),
}

impl Read {
    fn needs_store(&self) -> bool {
        !matches!(
            self,
            Read::BlockNumber | Read::ChainId | Read::NetVersion | Read::ClientVersion
        )
    }
}

/// A block parameter. "pending" reads as `Latest` (pending blocks are not
/// shown), "safe" as `Finalized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTag {
    Number(u64),
    Earliest,
    Latest,
    Finalized,
}

impl BlockTag {
    pub fn height(self, info: &ChainInfo) -> u64 {
        match self {
            BlockTag::Number(n) => n,
            BlockTag::Earliest => 0,
            BlockTag::Latest => info.height,
            BlockTag::Finalized => info.finalized_height,
        }
    }
}

pub fn parse_block_tag(s: &str) -> Option<BlockTag> {
    match s {
        "latest" | "pending" => Some(BlockTag::Latest),
        "earliest" => Some(BlockTag::Earliest),
        "finalized" | "safe" => Some(BlockTag::Finalized),
        _ => parse_quantity(s).map(BlockTag::Number),
    }
}

/// `0x` + 1 to 16 hex digits (either case; leading zeros tolerated).
pub fn parse_quantity(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// A quantity as Ethereum writes it: `0x0`, `0x1a`, no leading zeros.
pub fn quantity(n: u64) -> String {
    format!("{n:#x}")
}

/// The Ethereum chain id: the first 6 bytes of the chain id, big-endian.
pub fn eth_chain_id(chain_id: &Hash32) -> u64 {
    chain_id.0[..6]
        .iter()
        .fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

fn parse_call(method: &str, params: Option<&Value>) -> Result<Call, RpcError> {
    let args = |max| positional(params, max);
    let read = match method {
        "eth_sendTransaction" => {
            let a = args(1)?;
            return Ok(Call::Send(Box::new(signed_tx_arg(required(a, 0)?)?)));
        }
        "eth_blockNumber" => args(0).map(|_| Read::BlockNumber)?,
        "eth_chainId" => args(0).map(|_| Read::ChainId)?,
        "net_version" => args(0).map(|_| Read::NetVersion)?,
        "web3_clientVersion" => args(0).map(|_| Read::ClientVersion)?,
        "eth_getBlockByNumber" => {
            let a = args(2)?;
            Read::BlockByNumber(block_tag_arg(required(a, 0)?)?, flag_arg(a, 1)?)
        }
        "eth_getBlockByHash" => {
            let a = args(2)?;
            Read::BlockByHash(hash_arg(required(a, 0)?)?, flag_arg(a, 1)?)
        }
        "eth_getTransactionByHash" => Read::TransactionByHash(hash_arg(required(args(1)?, 0)?)?),
        "eth_getTransactionReceipt" => Read::TransactionReceipt(hash_arg(required(args(1)?, 0)?)?),
        _ => {
            return Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("method {method:?} does not exist here"),
            ));
        }
    };
    Ok(Call::Read(read))
}

/// Positional params, at most `max`; absent or `{}` is none.
fn positional(params: Option<&Value>, max: usize) -> Result<&[Value], RpcError> {
    let list = match params {
        None => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(Value::Object(o)) if o.is_empty() => &[][..],
        Some(_) => return Err(RpcError::invalid_params("params must be an array")),
    };
    if list.len() > max {
        return Err(RpcError::invalid_params(format!(
            "too many params: at most {max}"
        )));
    }
    Ok(list)
}

fn required(args: &[Value], i: usize) -> Result<&Value, RpcError> {
    args.get(i)
        .filter(|v| !v.is_null())
        .ok_or_else(|| RpcError::invalid_params(format!("missing param {i}")))
}

/// An optional boolean; absent or null is false.
fn flag_arg(args: &[Value], i: usize) -> Result<bool, RpcError> {
    match args.get(i) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(RpcError::invalid_params(format!(
            "param {i} must be a boolean"
        ))),
    }
}

fn block_tag_arg(v: &Value) -> Result<BlockTag, RpcError> {
    v.as_str().and_then(parse_block_tag).ok_or_else(|| {
        RpcError::invalid_params(
            "block must be a hex quantity, \"latest\", \"earliest\", \"pending\", \"safe\" or \"finalized\"",
        )
    })
}

fn hash_arg(v: &Value) -> Result<Hash32, RpcError> {
    let s = v
        .as_str()
        .ok_or_else(|| RpcError::invalid_params("hash must be a string"))?;
    Hash32::parse(&s.to_ascii_lowercase())
        .map_err(|e| RpcError::invalid_params(format!("hash: {e}")))
}

fn signed_tx_arg(v: &Value) -> Result<SignedTx, RpcError> {
    SignedTx::deserialize(v).map_err(|e| {
        RpcError::invalid_params(format!(
            "params[0] must be a signed transaction {{\"tx\": ..., \"signature\": ...}}: {e}"
        ))
    })
}

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

/// What the reads see of the node: its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainInfo {
    pub chain_id: Hash32,
    pub genesis_time_ms: u64,
    pub height: u64,
    pub finalized_height: u64,
}

pub type Lookup<T> = Result<Option<T>, RpcError>;

/// The chain data the reads need; the store in production, a fake in tests.
pub trait ChainView {
    fn block(&self, height: u64) -> Lookup<Block>;
    fn block_by_hash(&self, hash: &Hash32) -> Lookup<Block>;
    fn committed_tx(&self, hash: &Hash32) -> Lookup<(SignedTx, TxLocation)>;
    fn pending_tx(&self, hash: &Hash32) -> Lookup<SignedTx>;
}

/// Answers every entry that is not a notification: reads through `view`,
/// transactions from `sent` (their outcomes, by entry index). `None` when
/// nothing is to be answered.
pub fn respond(
    env: &Envelope,
    info: &ChainInfo,
    view: &dyn ChainView,
    sent: &[Option<Outcome>],
) -> Option<String> {
    respond_capped(env, info, view, sent, MAX_BATCH_REPLY_BYTES)
}

fn respond_capped(
    env: &Envelope,
    info: &ChainInfo,
    view: &dyn ChainView,
    sent: &[Option<Outcome>],
    cap: usize,
) -> Option<String> {
    let mut total = 0usize;
    let mut replies = Vec::new();
    for (i, e) in env.entries.iter().enumerate() {
        let Some(id) = e.id.clone() else { continue };
        let outcome = match &e.call {
            Err(err) => Err(err.clone()),
            Ok(Call::Read(r)) => answer_read(r, info, view),
            Ok(Call::Send(_)) => sent.get(i).cloned().flatten().unwrap_or_else(|| {
                Err(RpcError::internal("submitting", "no outcome was recorded"))
            }),
        };
        let mut text = Reply { id, outcome }.to_json();
        if total > 0 && total.saturating_add(text.len()) > cap {
            let id = e.id.clone().unwrap_or_else(Id::null);
            text = Reply::error(id, too_large()).to_json();
        }
        total = total.saturating_add(text.len());
        replies.push(text);
    }
    if env.batch {
        (!replies.is_empty()).then(|| format!("[{}]", replies.join(",")))
    } else {
        replies.into_iter().next()
    }
}

fn too_large() -> RpcError {
    RpcError::new(
        BUSY,
        format!("the batch's answers pass {MAX_BATCH_REPLY_BYTES} bytes; send a smaller batch"),
    )
}

pub fn answer_read(read: &Read, info: &ChainInfo, view: &dyn ChainView) -> Outcome {
    let chain = eth_chain_id(&info.chain_id);
    match read {
        Read::BlockNumber => Ok(quantity(info.height).into()),
        Read::ChainId => Ok(quantity(chain).into()),
        Read::NetVersion => Ok(chain.to_string().into()),
        Read::ClientVersion => Ok(CLIENT_VERSION.into()),
        Read::BlockByNumber(tag, full) => block_at(tag.height(info), *full, info, view),
        Read::BlockByHash(hash, full) => block_with_hash(hash, *full, info, view),
        Read::TransactionByHash(hash) => transaction(hash, info, view),
        Read::TransactionReceipt(hash) => receipt(hash, view),
    }
}

fn block_at(height: u64, full: bool, info: &ChainInfo, view: &dyn ChainView) -> Outcome {
    if height > info.height {
        return Ok(Value::Null);
    }
    if height == 0 {
        return Ok(genesis_block(info));
    }
    view.block(height)?
        .map_or(Ok(Value::Null), |b| block_json(&b, full, info))
}

fn block_with_hash(hash: &Hash32, full: bool, info: &ChainInfo, view: &dyn ChainView) -> Outcome {
    if hash == &info.chain_id {
        return Ok(genesis_block(info));
    }
    view.block_by_hash(hash)?
        .map_or(Ok(Value::Null), |b| block_json(&b, full, info))
}

fn transaction(hash: &Hash32, info: &ChainInfo, view: &dyn ChainView) -> Outcome {
    if let Some((stx, at)) = view.committed_tx(hash)? {
        return tx_json(&stx, Some(&at), info);
    }
    view.pending_tx(hash)?
        .map_or(Ok(Value::Null), |stx| tx_json(&stx, None, info))
}

fn receipt(hash: &Hash32, view: &dyn ChainView) -> Outcome {
    view.committed_tx(hash)?
        .map_or(Ok(Value::Null), |(stx, at)| receipt_json(&stx, &at))
}

// ---------------------------------------------------------------------------
// Ethereum shapes
// ---------------------------------------------------------------------------

fn hex_bytes(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn address(key: &PublicKey) -> String {
    hex_bytes(&address_of(key))
}

fn zero_bloom() -> String {
    hex_bytes(&[0u8; 256])
}

/// `r` = the point R as it is; `s` = the scalar S big-endian (see the
/// module doc), so `signature = r || reverse(s)`.
pub fn signature_rs(sig: &Signature) -> (String, String) {
    let (r, s) = sig.as_bytes().split_at(32);
    let mut s_be = s.to_vec();
    s_be.reverse();
    (hex_bytes(r), hex_bytes(&s_be))
}

fn tx_hash(stx: &SignedTx) -> Result<Hash32, RpcError> {
    stx.hash()
        .map_err(|e| RpcError::internal("hashing a transaction", e))
}

/// The fields of a block that differ between blocks.
struct EthBlock {
    number: u64,
    hash: Hash32,
    parent_hash: Hash32,
    timestamp_ms: u64,
    miner: String,
    transactions_root: Hash32,
    size: u64,
    transactions: Vec<Value>,
}

fn eth_block(b: EthBlock) -> Value {
    json!({
        "number": quantity(b.number),
        "hash": b.hash,
        "parentHash": b.parent_hash,
        "nonce": ZERO_NONCE,
        "sha3Uncles": EMPTY_UNCLES_HASH,
        "logsBloom": zero_bloom(),
        "transactionsRoot": b.transactions_root,
        "stateRoot": Hash32::ZERO,
        "receiptsRoot": Hash32::ZERO,
        "miner": b.miner,
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
        "size": quantity(b.size),
        "gasLimit": "0x0",
        "gasUsed": "0x0",
        "timestamp": quantity(b.timestamp_ms / 1000),
        "mixHash": Hash32::ZERO,
        "transactions": b.transactions,
        "uncles": [],
    })
}

/// Height 0: the genesis, known by the chain id.
fn genesis_block(info: &ChainInfo) -> Value {
    eth_block(EthBlock {
        number: 0,
        hash: info.chain_id,
        parent_hash: Hash32::ZERO,
        timestamp_ms: info.genesis_time_ms,
        miner: hex_bytes(&ZERO_ADDRESS),
        transactions_root: merkle_root(&[]),
        size: 0,
        transactions: Vec::new(),
    })
}

fn block_json(b: &Block, full: bool, info: &ChainInfo) -> Outcome {
    let h = &b.header;
    let transactions = b
        .transactions
        .iter()
        .zip(0u64..)
        .map(|(stx, position)| {
            if !full {
                return tx_hash(stx).map(|x| json!(x));
            }
            let at = TxLocation {
                height: h.height,
                position,
                block_hash: b.block_hash,
                timestamp_ms: h.timestamp_ms,
            };
            tx_json(stx, Some(&at), info)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let size = json_len(b).map_err(|e| RpcError::internal("measuring a block", e))?;
    Ok(eth_block(EthBlock {
        number: h.height,
        hash: b.block_hash,
        parent_hash: h.prev_hash,
        timestamp_ms: h.timestamp_ms,
        miner: address(&h.proposer),
        transactions_root: h.tx_root,
        size: size as u64,
        transactions,
    }))
}

/// The length of `value`'s JSON, counted as it is written, not kept.
fn json_len(value: &impl serde::Serialize) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    serde_json::to_writer(&mut c, value)?;
    Ok(c.0)
}

/// A transaction; `at` is where it sits, `None` while it waits.
fn tx_json(stx: &SignedTx, at: Option<&TxLocation>, info: &ChainInfo) -> Outcome {
    let input =
        canonical_bytes(&stx.tx).map_err(|e| RpcError::internal("encoding a transaction", e))?;
    let (r, s) = signature_rs(&stx.signature);
    Ok(json!({
        "hash": tx_hash(stx)?,
        "nonce": "0x0",
        "blockHash": at.map(|l| l.block_hash),
        "blockNumber": at.map(|l| quantity(l.height)),
        "transactionIndex": at.map(|l| quantity(l.position)),
        "from": address(stx.tx.origin()),
        "to": null,
        "value": "0x0",
        "gas": "0x0",
        "gasPrice": "0x0",
        "input": hex_bytes(&input),
        "v": "0x0",
        "r": r,
        "s": s,
        "type": "0x0",
        "chainId": quantity(eth_chain_id(&info.chain_id)),
    }))
}

fn receipt_json(stx: &SignedTx, at: &TxLocation) -> Outcome {
    Ok(json!({
        "transactionHash": tx_hash(stx)?,
        "transactionIndex": quantity(at.position),
        "blockHash": at.block_hash,
        "blockNumber": quantity(at.height),
        "from": address(stx.tx.origin()),
        "to": null,
        "cumulativeGasUsed": "0x0",
        "gasUsed": "0x0",
        "effectiveGasPrice": "0x0",
        "contractAddress": null,
        "logs": [],
        "logsBloom": zero_bloom(),
        "status": "0x1",
        "type": "0x0",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::pkcs8_from_seed;
    use crate::ledger::{Ballot, BallotTx, NodeKey, Transaction, sha256};

    const CHAIN: Hash32 = Hash32([0xc1; 32]);
    const GENESIS_MS: u64 = 1_700_000_000_000;
    const BLOCK1_MS: u64 = 1_700_000_123_456;

    fn key(seed: u8) -> NodeKey {
        NodeKey::from_pkcs8(&pkcs8_from_seed(&[seed; 32])).unwrap()
    }

    fn ballot(origin: &NodeKey, voter: u8) -> SignedTx {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(voter));
        let (trustees, _) = crate::ledger::tally::local_ceremony(1, 1, 1, &mut rng).unwrap();
        let pk = trustees.public_key(1).unwrap().public_key;
        let ctx = crate::ledger::elgamal::BallotContext {
            chain_id: CHAIN,
            election_id: 1,
            nullifier: Hash32([voter; 32]),
            origin: origin.public(),
        };
        let key = crate::ledger::elgamal::EncryptionKey::new(&pk).unwrap();
        let b: Ballot = crate::ledger::elgamal::encrypt_ballot(&ctx, &key, 1, 3, &mut rng).unwrap();
        let tx = BallotTx::new(CHAIN, 1, Hash32([voter; 32]), b, 5_000, origin.public()).unwrap();
        SignedTx::sign(Transaction::Ballot(tx), origin).unwrap()
    }

    /// A chain of two blocks (two ballots in block 1) and one waiting ballot.
    #[derive(Default)]
    struct Fake {
        blocks: Vec<Block>,
        pending: Vec<SignedTx>,
        broken: bool,
    }

    impl Fake {
        fn chain() -> Self {
            let (proposer, station) = (key(1), key(2));
            let txs = vec![ballot(&station, 1), ballot(&station, 2)];
            let b1 = Block::propose(CHAIN, 1, 0, CHAIN, BLOCK1_MS, txs, &proposer).unwrap();
            let b2 = Block::propose(
                CHAIN,
                2,
                0,
                b1.block_hash,
                BLOCK1_MS + 1_000,
                vec![],
                &proposer,
            )
            .unwrap();
            Self {
                blocks: vec![b1, b2],
                pending: vec![ballot(&station, 3)],
                broken: false,
            }
        }

        fn ok(&self) -> Result<(), RpcError> {
            if self.broken {
                return Err(RpcError::internal("reading the chain", "disk on fire"));
            }
            Ok(())
        }
    }

    impl ChainView for Fake {
        fn block(&self, height: u64) -> Lookup<Block> {
            self.ok()?;
            Ok(self.blocks.iter().find(|b| b.height() == height).cloned())
        }

        fn block_by_hash(&self, hash: &Hash32) -> Lookup<Block> {
            self.ok()?;
            Ok(self.blocks.iter().find(|b| &b.block_hash == hash).cloned())
        }

        fn committed_tx(&self, hash: &Hash32) -> Lookup<(SignedTx, TxLocation)> {
            self.ok()?;
            for b in &self.blocks {
                for (stx, position) in b.transactions.iter().zip(0u64..) {
                    if &stx.hash().unwrap() == hash {
                        let at = TxLocation {
                            height: b.height(),
                            position,
                            block_hash: b.block_hash,
                            timestamp_ms: b.header.timestamp_ms,
                        };
                        return Ok(Some((stx.clone(), at)));
                    }
                }
            }
            Ok(None)
        }

        fn pending_tx(&self, hash: &Hash32) -> Lookup<SignedTx> {
            self.ok()?;
            Ok(self
                .pending
                .iter()
                .find(|s| &s.hash().unwrap() == hash)
                .cloned())
        }
    }

    fn info() -> ChainInfo {
        ChainInfo {
            chain_id: CHAIN,
            genesis_time_ms: GENESIS_MS,
            height: 2,
            finalized_height: 1,
        }
    }

    /// The whole pure pipeline, with `send` standing in for the node.
    fn run_with(body: &str, view: &Fake, send: &dyn Fn(&SignedTx) -> Outcome) -> Option<String> {
        let env = match parse_envelope(body.as_bytes()) {
            Ok(env) => env,
            Err(reply) => return Some(reply.to_json()),
        };
        let sent: Vec<Option<Outcome>> = env
            .entries
            .iter()
            .map(|e| match &e.call {
                Ok(Call::Send(stx)) => Some(send(stx)),
                _ => None,
            })
            .collect();
        respond(&env, &info(), view, &sent)
    }

    fn accept(stx: &SignedTx) -> Outcome {
        Ok(json!(stx.hash().unwrap()))
    }

    fn raw_reply(body: &str) -> Option<String> {
        run_with(body, &Fake::chain(), &accept)
    }

    fn reply(body: &str) -> Value {
        let text = raw_reply(body).expect("an answer");
        serde_json::from_str(&text).expect("the answer is JSON")
    }

    fn call(method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let r = reply(&body.to_string());
        assert_eq!(r["jsonrpc"], "2.0");
        assert_eq!(r["id"], 1);
        r
    }

    fn result(method: &str, params: Value) -> Value {
        let r = call(method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    fn error_code(r: &Value) -> i64 {
        assert!(r.get("result").is_none(), "{r}");
        r["error"]["code"].as_i64().expect("an error code")
    }

    fn is_quantity(v: &Value) -> bool {
        v.as_str().is_some_and(|s| {
            s.strip_prefix("0x").is_some_and(|d| {
                !d.is_empty()
                    && (d == "0" || !d.starts_with('0'))
                    && d.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        })
    }

    fn is_data(v: &Value, len: usize) -> bool {
        v.as_str().is_some_and(|s| {
            s.len() == 2 + 2 * len && s.starts_with("0x") && hex::decode(&s[2..]).is_ok()
        })
    }

    // --- protocol -------------------------------------------------------

    #[test]
    fn malformed_json_is_a_parse_error_with_null_id() {
        for body in [
            &b"{\"jsonrpc\": \"2.0\", \"method\""[..],
            b"",
            b"\xff\xfe",
            b"[1,]",
        ] {
            let env = parse_envelope(body).unwrap_err();
            assert_eq!(env.id, Id::null());
            assert_eq!(env.outcome.as_ref().unwrap_err().code, PARSE_ERROR);
            let v: Value = serde_json::from_str(&env.to_json()).unwrap();
            assert_eq!(v["jsonrpc"], "2.0");
            assert!(v["id"].is_null() && v.get("id").is_some());
        }
    }

    #[test]
    fn invalid_requests_are_answered_with_the_id_when_it_was_valid() {
        let cases = [
            (r#"1"#, Value::Null),
            (r#""eth_chainId""#, Value::Null),
            (r#"{"id": 5, "method": "eth_chainId"}"#, json!(5)),
            (
                r#"{"jsonrpc": "1.0", "id": "a", "method": "eth_chainId"}"#,
                json!("a"),
            ),
            (
                r#"{"jsonrpc": 2.0, "id": 5, "method": "eth_chainId"}"#,
                json!(5),
            ),
            (r#"{"jsonrpc": "2.0", "id": 6, "method": 1}"#, json!(6)),
            (r#"{"jsonrpc": "2.0", "id": 7}"#, json!(7)),
            (
                r#"{"jsonrpc": "2.0", "id": 8, "method": "eth_chainId", "params": "x"}"#,
                json!(8),
            ),
            (
                r#"{"jsonrpc": "2.0", "id": 9, "method": "eth_chainId", "params": null}"#,
                json!(9),
            ),
            (
                r#"{"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"}"#,
                Value::Null,
            ),
            (
                r#"{"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"}"#,
                Value::Null,
            ),
            (
                r#"{"jsonrpc": "2.0", "id": true, "method": "eth_chainId"}"#,
                Value::Null,
            ),
            // invalid and without an id: still answered, with id null
            (
                r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
                Value::Null,
            ),
        ];
        for (body, id) in cases {
            let r = reply(body);
            assert_eq!(error_code(&r), INVALID_REQUEST, "{body}");
            assert_eq!(r["id"], id, "{body}");
            assert_eq!(r["jsonrpc"], "2.0");
        }
    }

    #[test]
    fn ids_are_echoed_exactly() {
        let cases = [
            r#""abc""#,
            r#""a\"b\u00e9""#,
            "0",
            "-3",
            "7",
            "null",
            "1.10",
            "1e2",
            "-0.0",
            "123456789012345678901234567890",
            "18446744073709551616",
            "0.30000000000000000000001",
        ];
        for id in cases {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"eth_chainId","id": {id} }}"#);
            let text = raw_reply(&body).unwrap();
            let expected_id = if id.starts_with('"') {
                serde_json::to_string(&serde_json::from_str::<Value>(id).unwrap()).unwrap()
            } else {
                id.to_string()
            };
            assert!(
                text.starts_with(&format!(
                    r#"{{"jsonrpc":"2.0","id":{expected_id},"result":"#
                )),
                "{id}: {text}"
            );
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["id"], serde_json::from_str::<Value>(id).unwrap());
        }
    }

    #[test]
    fn ids_in_batches_and_with_odd_layout_are_exact_too() {
        let body = "[ {\"id\" :1.50,\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\",\
                    \"params\":[]} ,\n{\"jsonrpc\":\"2.0\",\"params\":{},\"method\":\"net_version\",\
                    \"id\":{\"x\":1},\"id\":2.000} ,{\"jsonrpc\":\"2.0\",\"method\":\"x\",\
                    \"\\u0069d\":3.0}]";
        let text = raw_reply(body).unwrap();
        assert!(text.contains(r#""id":1.50,"#), "{text}");
        // duplicate member names: the last wins, as in serde_json
        assert!(text.contains(r#""id":2.000,"#), "{text}");
        // an escaped member name is still "id"
        assert!(text.contains(r#""id":3.0,"#), "{text}");
    }

    #[test]
    fn notifications_get_no_answer() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","method":"no_such_method","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"eth_getBlockByNumber","params":["bogus"]}"#,
            r#"[{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","method":"net_version"}]"#,
        ] {
            assert_eq!(raw_reply(body), None, "{body}");
        }
        // a notification is still carried out
        let stx = ballot(&key(2), 40);
        let body = json!({"jsonrpc": "2.0", "method": "eth_sendTransaction", "params": [stx]});
        let sent = std::cell::Cell::new(0);
        let count = |s: &SignedTx| {
            sent.set(sent.get() + 1);
            accept(s)
        };
        assert_eq!(run_with(&body.to_string(), &Fake::chain(), &count), None);
        assert_eq!(sent.get(), 1);
    }

    #[test]
    fn an_empty_batch_is_one_invalid_request_error() {
        let r = reply("[]");
        assert!(r.is_object());
        assert_eq!(error_code(&r), INVALID_REQUEST);
        assert!(r["id"].is_null());
        let r = reply(" [ \n ] ");
        assert_eq!(error_code(&r), INVALID_REQUEST);
    }

    #[test]
    fn a_mixed_batch_answers_each_request_but_notifications() {
        let body = r#"[
            {"jsonrpc":"2.0","method":"eth_blockNumber","id":"a"},
            {"jsonrpc":"2.0","method":"eth_chainId"},
            1,
            {"jsonrpc":"2.0","method":"nope","id":"b"},
            {"jsonrpc":"2.0","method":"eth_getBlockByNumber","params":[true],"id":"c"},
            {"foo":"boo"},
            {"jsonrpc":"2.0","method":"web3_clientVersion","id":null}
        ]"#;
        let r = reply(body);
        let answers = r.as_array().expect("an array");
        assert_eq!(answers.len(), 6);
        let by_id = |id: Value| answers.iter().filter(move |a| a["id"] == id);
        assert_eq!(by_id(json!("a")).next().unwrap()["result"], "0x2");
        assert_eq!(
            error_code(by_id(json!("b")).next().unwrap()),
            METHOD_NOT_FOUND
        );
        assert_eq!(
            error_code(by_id(json!("c")).next().unwrap()),
            INVALID_PARAMS
        );
        let nulls: Vec<_> = by_id(Value::Null).collect();
        assert_eq!(nulls.len(), 3);
        assert_eq!(nulls.iter().filter(|a| a.get("error").is_some()).count(), 2);
        assert!(nulls.iter().any(|a| a["result"] == CLIENT_VERSION));
        assert!(answers.iter().all(|a| a["jsonrpc"] == "2.0"));
    }

    #[test]
    fn batches_are_capped() {
        let one = r#"{"jsonrpc":"2.0","method":"eth_chainId","id":1}"#;
        let batch = |n: usize| format!("[{}]", vec![one; n].join(","));
        let r = reply(&batch(MAX_BATCH_REQUESTS));
        assert_eq!(r.as_array().unwrap().len(), MAX_BATCH_REQUESTS);
        let r = reply(&batch(MAX_BATCH_REQUESTS + 1));
        assert!(r.is_object());
        assert_eq!(error_code(&r), INVALID_REQUEST);
        assert!(r["id"].is_null());
    }

    #[test]
    fn unknown_methods_are_method_not_found() {
        for m in ["eth_getBalance", "rpc.discover", "ETH_CHAINID", ""] {
            assert_eq!(error_code(&call(m, json!([]))), METHOD_NOT_FOUND, "{m}");
        }
    }

    #[test]
    fn bad_params_are_invalid_params() {
        let h = Hash32([1; 32]).to_hex();
        let cases = [
            ("eth_chainId", json!([1])),
            ("eth_blockNumber", json!({"a": 1})),
            ("eth_getBlockByNumber", json!([])),
            ("eth_getBlockByNumber", json!(["bogus", false])),
            ("eth_getBlockByNumber", json!([1, false])),
            ("eth_getBlockByNumber", json!(["0x", false])),
            ("eth_getBlockByNumber", json!(["0x1", "yes"])),
            ("eth_getBlockByNumber", json!(["0x1", false, 3])),
            ("eth_getBlockByHash", json!(["0x12", false])),
            ("eth_getBlockByHash", json!([null])),
            ("eth_getTransactionByHash", json!([42])),
            ("eth_getTransactionReceipt", json!([])),
            ("eth_getTransactionReceipt", json!([h, h])),
            ("eth_sendTransaction", json!([])),
            ("eth_sendTransaction", json!([{"from": h, "data": "0x"}])),
            ("eth_sendTransaction", json!(["0xf86c"])),
        ];
        for (m, p) in cases {
            assert_eq!(error_code(&call(m, p.clone())), INVALID_PARAMS, "{m} {p}");
        }
    }

    #[test]
    fn hex_quantities_have_no_leading_zeros() {
        assert_eq!(quantity(0), "0x0");
        assert_eq!(quantity(1), "0x1");
        assert_eq!(quantity(255), "0xff");
        assert_eq!(quantity(4096), "0x1000");
        assert_eq!(quantity(u64::MAX), "0xffffffffffffffff");
        assert_eq!(parse_quantity("0x0"), Some(0));
        assert_eq!(parse_quantity("0x1a"), Some(26));
        assert_eq!(parse_quantity("0x1A"), Some(26));
        assert_eq!(parse_quantity("0x001"), Some(1));
        assert_eq!(parse_quantity("0xffffffffffffffff"), Some(u64::MAX));
        for bad in [
            "",
            "0x",
            "1a",
            "0X1",
            "0x+1",
            "0x-1",
            "0xg",
            " 0x1",
            "0x10000000000000000",
        ] {
            assert_eq!(parse_quantity(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn block_tags_parse_and_resolve() {
        let i = info();
        let cases = [
            ("latest", BlockTag::Latest, 2),
            ("pending", BlockTag::Latest, 2),
            ("earliest", BlockTag::Earliest, 0),
            ("finalized", BlockTag::Finalized, 1),
            ("safe", BlockTag::Finalized, 1),
            ("0x0", BlockTag::Number(0), 0),
            ("0x10", BlockTag::Number(16), 16),
        ];
        for (s, tag, height) in cases {
            assert_eq!(parse_block_tag(s), Some(tag), "{s}");
            assert_eq!(tag.height(&i), height, "{s}");
        }
        for bad in ["Latest", "", "16", "0x", "newest"] {
            assert_eq!(parse_block_tag(bad), None, "{bad}");
        }
    }

    #[test]
    fn chain_id_and_versions() {
        // 0xc1c1c1c1c1c1: the first six bytes of the chain id
        assert_eq!(eth_chain_id(&CHAIN), 0xc1c1_c1c1_c1c1);
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&[0xff, 0, 0, 0, 0, 1, 0xaa, 0xbb]);
        assert_eq!(eth_chain_id(&Hash32(id)), 0xff00_0000_0001);
        assert!(eth_chain_id(&Hash32([0xff; 32])) < 1 << 53);
        assert_eq!(result("eth_chainId", json!([])), "0xc1c1c1c1c1c1");
        assert_eq!(
            result("net_version", json!([])),
            0xc1c1_c1c1_c1c1u64.to_string()
        );
        assert_eq!(result("eth_blockNumber", json!([])), "0x2");
        let v = result("web3_clientVersion", json!([]));
        assert_eq!(v, format!("evote-appliance/{}", env!("CARGO_PKG_VERSION")));
        // absent params and {} mean none
        let r = reply(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#);
        assert_eq!(r["result"], "0xc1c1c1c1c1c1");
        let r = reply(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":{}}"#);
        assert_eq!(r["result"], "0xc1c1c1c1c1c1");
    }

    // --- Ethereum shapes ------------------------------------------------

    fn assert_block_shape(b: &Value) {
        for f in [
            "number",
            "size",
            "gasLimit",
            "gasUsed",
            "timestamp",
            "difficulty",
        ] {
            assert!(is_quantity(&b[f]), "{f}: {}", b[f]);
        }
        assert!(is_quantity(&b["totalDifficulty"]));
        for f in [
            "hash",
            "parentHash",
            "sha3Uncles",
            "transactionsRoot",
            "stateRoot",
        ] {
            assert!(is_data(&b[f], 32), "{f}");
        }
        assert!(is_data(&b["receiptsRoot"], 32) && is_data(&b["mixHash"], 32));
        assert!(is_data(&b["miner"], 20));
        assert!(is_data(&b["logsBloom"], 256));
        assert_eq!(b["nonce"], "0x0000000000000000");
        assert_eq!(b["sha3Uncles"], EMPTY_UNCLES_HASH);
        assert_eq!(b["extraData"], "0x");
        assert_eq!(b["uncles"], json!([]));
        assert!(b["transactions"].is_array());
    }

    fn assert_tx_shape(t: &Value, chain: &Value) {
        assert!(is_data(&t["hash"], 32));
        assert!(is_data(&t["from"], 20));
        assert!(t["to"].is_null() && t.get("to").is_some());
        for f in ["nonce", "value", "gas", "gasPrice", "v", "type"] {
            assert_eq!(t[f], "0x0", "{f}");
        }
        assert!(is_data(&t["r"], 32) && is_data(&t["s"], 32));
        assert_eq!(&t["chainId"], chain);
        let input = hex::decode(&t["input"].as_str().unwrap()[2..]).unwrap();
        // the input is the canonical transaction: its SHA-256 is the hash
        assert_eq!(json!(sha256(&input)), t["hash"]);
    }

    #[test]
    fn a_block_reads_as_an_ethereum_block() {
        let fake = Fake::chain();
        let b1 = &fake.blocks[0];
        let b = result("eth_getBlockByNumber", json!(["0x1", false]));
        assert_block_shape(&b);
        assert_eq!(b["number"], "0x1");
        assert_eq!(b["hash"], json!(b1.block_hash));
        assert_eq!(b["parentHash"], json!(CHAIN));
        assert_eq!(b["transactionsRoot"], json!(b1.header.tx_root));
        let size = serde_json::to_vec(b1).unwrap().len() as u64;
        assert_eq!(b["size"], quantity(size), "the block's JSON length");
        assert_eq!(b["miner"], hex_bytes(&address_of(&key(1).public())));
        assert_eq!(b["timestamp"], quantity(BLOCK1_MS / 1000));
        let hashes: Vec<Value> = b1
            .transactions
            .iter()
            .map(|t| json!(t.hash().unwrap()))
            .collect();
        assert_eq!(b["transactions"], json!(hashes));
        // the same block by hash, and by tag
        let by_hash = result("eth_getBlockByHash", json!([b1.block_hash, false]));
        assert_eq!(by_hash, b);
        assert_eq!(result("eth_getBlockByNumber", json!(["finalized"])), b);
        let latest = result("eth_getBlockByNumber", json!(["latest", false]));
        assert_eq!(latest["number"], "0x2");
        assert_eq!(latest["parentHash"], json!(b1.block_hash));
        assert_eq!(latest["transactions"], json!([]));
    }

    #[test]
    fn a_full_block_carries_ethereum_transactions() {
        let fake = Fake::chain();
        let b1 = &fake.blocks[0];
        let b = result("eth_getBlockByNumber", json!(["0x1", true]));
        assert_block_shape(&b);
        let txs = b["transactions"].as_array().unwrap();
        assert_eq!(txs.len(), 2);
        let chain = result("eth_chainId", json!([]));
        for (i, t) in txs.iter().enumerate() {
            assert_tx_shape(t, &chain);
            assert_eq!(t["hash"], json!(b1.transactions[i].hash().unwrap()));
            assert_eq!(t["blockHash"], json!(b1.block_hash));
            assert_eq!(t["blockNumber"], "0x1");
            assert_eq!(t["transactionIndex"], quantity(i as u64));
            assert_eq!(t["from"], hex_bytes(&address_of(&key(2).public())));
        }
    }

    #[test]
    fn the_genesis_is_block_zero_and_missing_blocks_are_null() {
        let g = result("eth_getBlockByNumber", json!(["earliest", false]));
        assert_block_shape(&g);
        assert_eq!(g["number"], "0x0");
        assert_eq!(g["hash"], json!(CHAIN));
        assert_eq!(g["timestamp"], quantity(GENESIS_MS / 1000));
        assert_eq!(result("eth_getBlockByHash", json!([CHAIN, true])), g);
        assert_eq!(result("eth_getBlockByNumber", json!(["0x0"])), g);
        assert!(result("eth_getBlockByNumber", json!(["0x3", false])).is_null());
        assert!(result("eth_getBlockByHash", json!([Hash32([9; 32]), false])).is_null());
    }

    #[test]
    fn transactions_and_receipts() {
        let fake = Fake::chain();
        let b1 = &fake.blocks[0];
        let stx = &b1.transactions[1];
        let h = stx.hash().unwrap();
        let chain = result("eth_chainId", json!([]));

        let t = result("eth_getTransactionByHash", json!([h]));
        assert_tx_shape(&t, &chain);
        assert_eq!(t["blockHash"], json!(b1.block_hash));
        assert_eq!(t["blockNumber"], "0x1");
        assert_eq!(t["transactionIndex"], "0x1");

        let r = result("eth_getTransactionReceipt", json!([h]));
        assert_eq!(r["transactionHash"], json!(h));
        assert_eq!(r["transactionIndex"], "0x1");
        assert_eq!(r["blockHash"], json!(b1.block_hash));
        assert_eq!(r["blockNumber"], "0x1");
        assert_eq!(r["from"], hex_bytes(&address_of(&key(2).public())));
        assert!(r["to"].is_null() && r["contractAddress"].is_null());
        for f in ["cumulativeGasUsed", "gasUsed", "effectiveGasPrice", "type"] {
            assert_eq!(r[f], "0x0", "{f}");
        }
        assert_eq!(r["status"], "0x1");
        assert_eq!(r["logs"], json!([]));
        assert!(is_data(&r["logsBloom"], 256));
        // uppercase hex is read too
        let upper = format!("0x{}", h.to_hex()[2..].to_uppercase());
        assert_eq!(result("eth_getTransactionReceipt", json!([upper])), r);

        // waiting: no block fields, no receipt
        let p = fake.pending[0].hash().unwrap();
        let t = result("eth_getTransactionByHash", json!([p]));
        assert_tx_shape(&t, &chain);
        for f in ["blockHash", "blockNumber", "transactionIndex"] {
            assert!(t[f].is_null() && t.get(f).is_some(), "{f}");
        }
        assert!(result("eth_getTransactionReceipt", json!([p])).is_null());
        // unknown
        let unknown = Hash32([3; 32]);
        assert!(result("eth_getTransactionByHash", json!([unknown])).is_null());
        assert!(result("eth_getTransactionReceipt", json!([unknown])).is_null());
    }

    #[test]
    fn r_and_s_rebuild_the_signature_and_s_is_canonical_for_ethers() {
        for voter in 0..32 {
            let stx = ballot(&key(2), voter);
            let (r, s) = signature_rs(&stx.signature);
            let r = hex::decode(&r[2..]).unwrap();
            let mut s = hex::decode(&s[2..]).unwrap();
            // ethers refuses an s whose top bit is set
            assert!(s[0] < 0x80, "{}", hex::encode(&s));
            s.reverse();
            assert_eq!([r, s].concat(), stx.signature.as_bytes().to_vec());
        }
    }

    // --- eth_sendTransaction and failures --------------------------------

    #[test]
    fn send_transaction_takes_a_signed_transaction_and_returns_its_hash() {
        let stx = ballot(&key(2), 50);
        let env = parse_envelope(
            json!({"jsonrpc": "2.0", "id": 3, "method": "eth_sendTransaction", "params": [stx]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(env.entries[0].call, Ok(Call::Send(Box::new(stx.clone()))));
        assert!(!env.needs_store());
        let r = result("eth_sendTransaction", json!([stx]));
        assert_eq!(r, json!(stx.hash().unwrap()));
    }

    #[test]
    fn refusals_of_the_api_map_to_server_errors() {
        let cases = [
            (
                ApiError::conflict("already_voted", "this voter has already voted"),
                TX_REFUSED,
            ),
            (ApiError::bad_request("bad_signature", "bad"), TX_REFUSED),
            (ApiError::busy("the mempool is full"), BUSY),
            (
                ApiError::internal("recording the vote", "io"),
                INTERNAL_ERROR,
            ),
        ];
        let stx = ballot(&key(2), 51);
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [stx]});
        for (api, code) in cases {
            let e = from_api_error(&api);
            assert_eq!(e.code, code);
            assert_eq!(e.message, api.message);
            assert_eq!(e.data, Some(json!({"code": api.code})));
            let refuse = |_: &SignedTx| Err(from_api_error(&api));
            let text = run_with(&body.to_string(), &Fake::chain(), &refuse).unwrap();
            let r: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(error_code(&r), code);
            assert_eq!(r["error"]["data"]["code"], api.code);
            assert_eq!(r["id"], 1);
        }
    }

    #[test]
    fn store_failures_are_internal_errors_and_spare_other_answers() {
        let broken = Fake {
            broken: true,
            ..Fake::default()
        };
        let body = r#"[
            {"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x1",false]},
            {"jsonrpc":"2.0","id":2,"method":"eth_chainId"}
        ]"#;
        let text = run_with(body, &broken, &accept).unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        let answers = r.as_array().unwrap();
        let first = answers.iter().find(|a| a["id"] == 1).unwrap();
        assert_eq!(error_code(first), INTERNAL_ERROR);
        assert!(!first["error"]["message"].as_str().unwrap().contains("fire"));
        let second = answers.iter().find(|a| a["id"] == 2).unwrap();
        assert_eq!(second["result"], "0xc1c1c1c1c1c1");
        // the view for "no store" fails every look-up the same way
        let env = parse_envelope(body.as_bytes()).unwrap();
        assert!(env.needs_store());
        let text = respond(&env, &info(), &Unavailable, &[None, None]).unwrap();
        assert!(text.contains(&INTERNAL_ERROR.to_string()));
    }

    #[test]
    fn a_batch_reply_is_capped_in_bytes() {
        let one =
            r#"{"jsonrpc":"2.0","method":"eth_getBlockByNumber","params":["0x1",true],"id":1}"#;
        let body = format!("[{one},{one},{one}]");
        let env = parse_envelope(body.as_bytes()).unwrap();
        let sent = [None, None, None];
        let full = respond(&env, &info(), &Fake::chain(), &sent).unwrap();
        let single = (full.len() - 4) / 3;
        // room for two answers: the third is refused
        let text = respond_capped(&env, &info(), &Fake::chain(), &sent, 2 * single + 10).unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        let answers = r.as_array().unwrap();
        assert_eq!(answers.len(), 3);
        assert!(answers[0]["result"].is_object() && answers[1]["result"].is_object());
        assert_eq!(error_code(&answers[2]), BUSY);
        assert_eq!(answers[2]["id"], 1);
        // the first answer always goes out
        let text = respond_capped(&env, &info(), &Fake::chain(), &sent, 1).unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        assert!(r[0]["result"].is_object());
        assert_eq!(error_code(&r[1]), BUSY);
    }

    #[test]
    fn http_status_is_200_json_or_204_empty() {
        let r = http_reply(Some("{}".into()));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let r = http_reply(None);
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn the_raw_scanner_never_panics_on_odd_input() {
        for b in [
            &b""[..],
            b"[",
            b"{",
            b"{\"id\"",
            b"{\"id\":",
            b"[\"\\",
            b"}}]]",
            b"{\"a\":[}",
        ] {
            let _ = raw::elements(b);
            let _ = raw::member(b, "id");
        }
        assert_eq!(
            raw::member(br#"{"a":{"id":1},"id":22}"#, "id"),
            Some(&b"22"[..])
        );
        assert_eq!(
            raw::elements(br#"[1, "a,]", {"b":[2]} ]"#),
            Some(vec![&b"1"[..], br#""a,]""#, br#"{"b":[2]}"#])
        );
    }
}
