//! Calls the command line makes to a running appliance (ureq, with
//! timeouts, trusting what `--ca-file` names for https: `tls::trust`): the
//! trustee's decryption.

use serde::Deserialize;
use serde_json::json;

use crate::ledger::Hash32;
use crate::ledger::elgamal::{Ciphertext, DecryptionShare};

/// `GET /api/tally/{election}`.
#[derive(Debug, Deserialize)]
pub struct Tally {
    pub closed: bool,
    pub tally_height: u64,
    pub ballot_count: u64,
    pub aggregate: Vec<Ciphertext>,
}

fn agent() -> ureq::Agent {
    super::peers::agent()
}

pub fn fetch_tally(node: &str, election: u64) -> Result<Tally, String> {
    agent()
        .get(format!("{node}/api/tally/{election}"))
        .call()
        .and_then(|mut r| r.body_mut().read_json())
        .map_err(|e| format!("{node}: reading the tally: {e}"))
}

/// The node's chain id, from `GET /p2p/status`.
pub fn fetch_status(node: &str) -> Result<Hash32, String> {
    let s: super::peers::StatusReport = agent()
        .get(format!("{node}/p2p/status"))
        .call()
        .and_then(|mut r| r.body_mut().read_json())
        .map_err(|e| format!("{node}: reading its status: {e}"))?;
    Ok(s.genesis_hash)
}

pub fn post_share(
    node: &str,
    election: u64,
    tally_height: u64,
    ballot_count: u64,
    share: &DecryptionShare,
) -> Result<Hash32, String> {
    let body = json!({"tally_height": tally_height, "ballot_count": ballot_count, "share": share});
    let path = format!("/api/tally/{election}");
    let (code, v) = post_json(node, &path, &body, "posting the share")?;
    if code >= 300 {
        return Err(format!(
            "{node} refused the share ({code}): {}",
            v["error"]["message"]
        ));
    }
    hash_in(node, &v["transaction_id"], &v)
}

/// Submits a signed transaction to an appliance's public door (JSON-RPC
/// `eth_sendTransaction`): its hash, or why it was refused.
pub fn send_transaction(node: &str, stx: &crate::ledger::SignedTx) -> Result<Hash32, String> {
    let node = node.trim_end_matches('/');
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [stx]});
    let (_, v) = post_json(node, "/rpc", &body, "submitting")?;
    if let Some(err) = v.get("error") {
        return Err(format!("{node} refused the transaction: {err}"));
    }
    hash_in(node, &v["result"], &v)
}

/// Posts `body` and reads the answer, a refusal included (its status says
/// which); `doing` names the call in the error of a failed exchange.
fn post_json(
    node: &str,
    path: &str,
    body: &serde_json::Value,
    doing: &str,
) -> Result<(u16, serde_json::Value), String> {
    let mut r = ureq::Agent::config_builder()
        .tls_config(super::tls::trusted())
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent()
        .post(format!("{node}{path}"))
        .send_json(body)
        .map_err(|e| format!("{node}: {doing}: {e}"))?;
    let v = r
        .body_mut()
        .read_json()
        .map_err(|e| format!("{node}: {e}"))?;
    Ok((r.status().as_u16(), v))
}

/// The transaction hash `field` of `answer` holds.
fn hash_in(
    node: &str,
    field: &serde_json::Value,
    answer: &serde_json::Value,
) -> Result<Hash32, String> {
    field
        .as_str()
        .and_then(|s| Hash32::parse(s).ok())
        .ok_or_else(|| format!("{node}: unexpected answer {answer}"))
}
