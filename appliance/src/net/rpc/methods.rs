//! The methods: `eth_sendTransaction` (params: one signed transaction in
//! the ledger's wire form `{"tx": {...}, "signature": "0x..."}`; only
//! appliances named in the genesis can have signed it, which
//! `submit_signed` checks; returns the transaction hash once it is durable
//! in the mempool), `eth_getTransactionReceipt`, `eth_blockNumber`,
//! `eth_getBlockByNumber`, `eth_getBlockByHash`, `eth_getTransactionByHash`,
//! `eth_chainId`, `net_version`, `web3_clientVersion`: their params, and
//! the reads' answers from a [`ChainView`] of the chain.

use serde::Deserialize as _;
use serde_json::Value;

use super::envelope::{
    Envelope, MAX_BATCH_REPLY_BYTES, METHOD_NOT_FOUND, Outcome, RpcError, write_replies,
};
use super::eth::{
    block_json, eth_chain_id, genesis_block, parse_quantity, quantity, receipt_json, tx_json,
};
use crate::ledger::{Block, Hash32, SignedTx};
use crate::store::TxLocation;

/// `web3_clientVersion`.
pub const CLIENT_VERSION: &str = concat!("evote-appliance/", env!("CARGO_PKG_VERSION"));

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

impl Envelope<Call> {
    /// Whether any answered read needs the store.
    pub fn needs_store(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.id.is_some() && matches!(&e.call, Ok(Call::Read(r)) if r.needs_store()))
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

/// A method's call from its name and params.
pub fn parse_call(method: &str, params: Option<&Value>) -> Result<Call, RpcError> {
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

/// What the reads see of the node: its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainInfo {
    pub chain_id: Hash32,
    pub genesis_time_ms: u64,
    pub height: u64,
    pub finalized_height: u64,
}

/// A look-up in the chain: `None` when it holds no such thing.
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
    env: &Envelope<Call>,
    info: &ChainInfo,
    view: &dyn ChainView,
    sent: &[Option<Outcome>],
) -> Option<String> {
    respond_capped(env, info, view, sent, MAX_BATCH_REPLY_BYTES)
}

pub(super) fn respond_capped(
    env: &Envelope<Call>,
    info: &ChainInfo,
    view: &dyn ChainView,
    sent: &[Option<Outcome>],
    cap: usize,
) -> Option<String> {
    write_replies(env, cap, |i, call| match call {
        Call::Read(r) => answer_read(r, info, view),
        Call::Send(_) => sent
            .get(i)
            .cloned()
            .flatten()
            .unwrap_or_else(|| Err(RpcError::internal("submitting", "no outcome was recorded"))),
    })
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
