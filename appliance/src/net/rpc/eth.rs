//! The chain in Ethereum's shapes, so that stock Ethereum client libraries
//! (web3.py, ethers.js, viem) can read blocks, transactions and receipts.
//!
//! Quantities are `0x` hex without leading zeros; hashes 32 bytes;
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

use serde_json::{Value, json};

use super::envelope::{Outcome, RpcError};
use super::methods::ChainInfo;
use crate::ledger::{
    Block, Hash32, PublicKey, Signature, SignedTx, address_of, canonical_bytes, merkle_root,
};
use crate::store::TxLocation;

/// Keccak-256 of the RLP of an empty list: `sha3Uncles` of a block
/// without uncles.
pub(super) const EMPTY_UNCLES_HASH: &str =
    "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";
const ZERO_NONCE: &str = "0x0000000000000000";
const ZERO_ADDRESS: [u8; 20] = [0; 20];

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

pub(super) fn hex_bytes(b: &[u8]) -> String {
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
pub(super) fn genesis_block(info: &ChainInfo) -> Value {
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

/// A block; its transactions in full, or their hashes.
pub(super) fn block_json(b: &Block, full: bool, info: &ChainInfo) -> Outcome {
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
pub(super) fn tx_json(stx: &SignedTx, at: Option<&TxLocation>, info: &ChainInfo) -> Outcome {
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

/// A committed transaction's receipt: it always succeeded.
pub(super) fn receipt_json(stx: &SignedTx, at: &TxLocation) -> Outcome {
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
