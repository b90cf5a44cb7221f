//! A running appliance over HTTP (`--nodes`): its peer protocol
//! (`/p2p/status`, `/p2p/genesis`, `/p2p/blocks`, `/p2p/fallback`) and the
//! voters' results and tally (`/api/votes/results`, `/api/tally/{id}`).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::{Http, HttpError, ok, ok_json};
use super::{
    ElectionResults, FallbackBallotState, FallbackData, Fallbacks, Opened, ReportedResults,
    SourceError, SourceKind, StatedTotals,
};
use crate::checks::RawBlock;
use crate::protocol::elgamal::Ciphertext;
use crate::protocol::{ChainRules, Hash32, PublicKey};

/// Blocks per `GET /p2p/blocks` page (the appliance serves at most 64).
pub const BLOCKS_PER_PAGE: u64 = 64;

#[derive(Deserialize)]
struct StatusAnswer {
    node_id: PublicKey,
    genesis_hash: String,
    best_hash: Hash32,
    height: u64,
    #[serde(default)]
    chain_length: Option<u64>,
    #[serde(default)]
    role: Option<String>,
}

#[derive(Deserialize)]
struct PageAnswer {
    blocks: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct ResultsAnswer {
    election_id: u64,
    results: Vec<ResultRow>,
    total_votes: u64,
    #[serde(default)]
    tally: Option<TallyAnswer>,
    #[serde(default)]
    verification: Option<VerificationAnswer>,
}

#[derive(Deserialize)]
struct ResultRow {
    candidate_id: u64,
    #[serde(default)]
    vote_count: Option<u64>,
    #[serde(default)]
    percentage: Option<f64>,
}

#[derive(Deserialize)]
struct TallyAnswer {
    status: String,
    #[serde(default)]
    tally_height: Option<u64>,
    #[serde(default)]
    ballots_in_tally: Option<u64>,
    #[serde(default)]
    shares: Vec<ShareRef>,
}

#[derive(Deserialize)]
struct ShareRef {
    trustee_index: u32,
    #[serde(default)]
    transaction_id: Option<Hash32>,
}

#[derive(Deserialize)]
struct VerificationAnswer {
    #[serde(default)]
    head_height: Option<u64>,
    #[serde(default)]
    chain_valid: Option<bool>,
}

#[derive(Deserialize)]
struct TotalsAnswer {
    election_id: u64,
    tally_height: u64,
    ballot_count: u64,
    aggregate: Vec<Ciphertext>,
}

#[derive(Deserialize)]
struct FallbackPage {
    #[serde(default)]
    origins: Vec<PublicKey>,
    #[serde(default)]
    blocks: Vec<Box<RawValue>>,
    #[serde(default)]
    ballots: Vec<FallbackBallotState>,
    #[serde(default)]
    close: Option<Box<RawValue>>,
    #[serde(default)]
    next_seq: Option<u64>,
}

/// Pages of one fallback chain read at most (64 blocks each).
const MAX_FALLBACK_PAGES: usize = 10_000;

/// Codes a page of `GET /p2p/codes` holds at most (PROTOCOL.md §9).
const CODES_PAGE: u64 = 1_000;
/// Pages of codes read at most (ten million codes).
const MAX_CODE_PAGES: usize = 10_000;

#[derive(Deserialize)]
struct CodesPage {
    origin: PublicKey,
    codes: Vec<super::ServedCode>,
    next: Option<u64>,
}

pub struct NodeSource {
    base: String,
    http: Http,
    next: u64,
    /// Consecutive pages without one block at the height asked for.
    pages_astray: u32,
}

/// Pages of unreadable blocks read in a row before a node is given up on.
const MAX_PAGES_ASTRAY: u32 = 3;

/// A node URL without a trailing slash; only http and https.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let u = url.trim();
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!(
            "{u:?} is not a node URL: it must start with http:// or https://"
        ));
    }
    Ok(u.trim_end_matches('/').to_string())
}

impl NodeSource {
    pub(super) fn open(url: &str, http: &Http) -> Result<(NodeSource, Opened), SourceError> {
        let base = url.to_string();
        let status: StatusAnswer = http.get_json(&format!("{base}/p2p/status"))?;
        let genesis_url = format!("{base}/p2p/genesis");
        let (code, body) = http.get(&genesis_url)?;
        ok(&genesis_url, code, &body)?;
        let genesis_text = String::from_utf8(body).map_err(|_| HttpError::Malformed {
            url: format!("{base}/p2p/genesis"),
            reason: "the genesis is not UTF-8".into(),
        })?;
        let opened = Opened {
            kind: SourceKind::Node,
            node_id: Some(status.node_id),
            role: status.role.clone(),
            stated_chain_id: Some(
                Hash32::parse(&status.genesis_hash)
                    .map_err(|e| format!("status genesis_hash {:?}: {e}", status.genesis_hash)),
            ),
            stated_height: Some(status.height),
            stated_head: Some(status.best_hash),
            stated_chain_length: status.chain_length,
            genesis_text,
            height_hint: status.height,
            notes: Vec::new(),
            integrity: None,
        };
        Ok((
            NodeSource {
                base,
                http: http.clone(),
                next: 1,
                pages_astray: 0,
            },
            opened,
        ))
    }

    pub(super) fn next_window(&mut self, up_to: Option<u64>) -> Result<Vec<RawBlock>, SourceError> {
        let mut limit = BLOCKS_PER_PAGE;
        if let Some(top) = up_to {
            if self.next > top {
                return Ok(Vec::new());
            }
            limit = limit.min(top - self.next + 1);
        }
        let url = format!("{}/p2p/blocks?from={}&limit={limit}", self.base, self.next);
        let page: PageAnswer = self.http.get_json(&url)?;
        // A node that ignores `from` could keep the auditor busy forever:
        // a page none of whose blocks is at the height asked for ends it.
        if !page.blocks.is_empty() {
            let heights: Vec<Option<u64>> = page
                .blocks
                .iter()
                .take(limit as usize)
                .map(|b| {
                    serde_json::from_str::<serde_json::Value>(b.get())
                        .ok()
                        .and_then(|v| v["header"]["height"].as_u64())
                })
                .collect();
            let any_right = heights
                .iter()
                .enumerate()
                .any(|(k, h)| *h == Some(self.next + k as u64));
            let any_readable = heights.iter().any(Option::is_some);
            self.pages_astray = if any_right { 0 } else { self.pages_astray + 1 };
            if !any_right && (any_readable || self.pages_astray > MAX_PAGES_ASTRAY) {
                return Err(HttpError::Malformed {
                    url,
                    reason: format!(
                        "asked for blocks from height {}, got heights {:?}",
                        self.next,
                        heights.iter().take(5).collect::<Vec<_>>()
                    ),
                }
                .into());
            }
        }
        let mut blocks: Vec<RawBlock> = page
            .blocks
            .iter()
            .take(limit as usize)
            .map(|b| RawBlock::from_wire(b.get()))
            .collect();
        blocks.shrink_to_fit();
        self.next += blocks.len() as u64;
        Ok(blocks)
    }

    pub(super) fn results(&mut self, rules: &ChainRules) -> Result<ReportedResults, SourceError> {
        let mut out = ReportedResults::default();
        for e in rules.genesis.elections.iter().map(|e| e.id) {
            let url = format!("{}/api/votes/results?election_id={e}", self.base);
            let a: ResultsAnswer = self.http.get_json(&url)?;
            if a.election_id != e {
                return Err(HttpError::Malformed {
                    url,
                    reason: format!("asked for election {e}, answered for {}", a.election_id),
                }
                .into());
            }
            let tally = a.tally.as_ref();
            let mut r = ElectionResults {
                total: a.total_votes,
                status: tally.map(|t| t.status.clone()),
                tally_height: tally.and_then(|t| t.tally_height),
                ballots_in_tally: tally.and_then(|t| t.ballots_in_tally),
                shares: tally.map_or_else(Vec::new, |t| {
                    t.shares
                        .iter()
                        .map(|s| (s.trustee_index, s.transaction_id))
                        .collect()
                }),
                at_height: a.verification.as_ref().and_then(|v| v.head_height),
                node_says_valid: a.verification.as_ref().and_then(|v| v.chain_valid),
                ..ElectionResults::default()
            };
            for row in a.results {
                if r.counts
                    .insert(row.candidate_id, (row.vote_count, row.percentage))
                    .is_some()
                {
                    return Err(HttpError::Malformed {
                        url,
                        reason: format!("candidate {} is listed twice", row.candidate_id),
                    }
                    .into());
                }
            }
            out.elections.insert(e, r);
        }
        Ok(out)
    }

    pub(super) fn totals(
        &mut self,
        rules: &ChainRules,
    ) -> Result<Option<Vec<StatedTotals>>, SourceError> {
        let mut out = Vec::new();
        for e in rules.genesis.elections.iter().map(|e| e.id) {
            let url = format!("{}/api/tally/{e}", self.base);
            let (code, body) = self.http.get(&url)?;
            if code == 404 && out.is_empty() {
                return Ok(None);
            }
            let a: TotalsAnswer = ok_json(&url, code, &body)?;
            if a.election_id != e {
                return Err(HttpError::Malformed {
                    url,
                    reason: format!("asked for election {e}, answered for {}", a.election_id),
                }
                .into());
            }
            out.push(StatedTotals {
                election_id: e,
                height: a.tally_height,
                ballot_count: a.ballot_count,
                aggregate: a.aggregate,
                what: format!(
                    "GET /api/tally/{e} (the tally at height {})",
                    a.tally_height
                ),
                at_head: false,
            });
        }
        Ok(Some(out))
    }

    /// The node's confirmation codes, page by page (`GET /p2p/codes`).
    pub(super) fn codes(&mut self) -> Result<super::Codes, SourceError> {
        let mut from = 1u64;
        let mut codes = Vec::new();
        for _ in 0..MAX_CODE_PAGES {
            let url = format!("{}/p2p/codes?from={from}&limit={CODES_PAGE}", self.base);
            let (code, body) = self.http.get(&url)?;
            if code == 404 {
                return Ok(super::Codes::Absent(
                    "the node has no /p2p/codes endpoint (HTTP 404)".into(),
                ));
            }
            let page: CodesPage = ok_json(&url, code, &body)?;
            codes.extend(page.codes);
            match page.next {
                Some(next) if next > from => from = next,
                Some(_) => {
                    return Err(SourceError::Http(HttpError::Malformed {
                        url,
                        reason: "the next page does not move forward".into(),
                    }));
                }
                None => {
                    return Ok(super::Codes::Chain {
                        origin: Some(page.origin),
                        codes,
                    });
                }
            }
        }
        Err(SourceError::Http(HttpError::Malformed {
            url: format!("{}/p2p/codes", self.base),
            reason: "too many pages".into(),
        }))
    }

    pub(super) fn fallbacks(&mut self) -> Result<Fallbacks, SourceError> {
        let url = format!("{}/p2p/fallback", self.base);
        let (code, body) = self.http.get(&url)?;
        if code == 404 {
            return Ok(Fallbacks::Absent(
                "the node has no /p2p/fallback endpoint (HTTP 404): it predates fallback chains"
                    .into(),
            ));
        }
        let malformed = |url: &str, reason: String| {
            SourceError::Http(HttpError::Malformed {
                url: url.to_string(),
                reason,
            })
        };
        let first: FallbackPage = ok_json(&url, code, &body)?;
        if first.origins.is_empty() {
            return Ok(Fallbacks::Absent("the node holds no fallback chain".into()));
        }
        let mut chains = Vec::new();
        for origin in first.origins {
            let mut data = FallbackData {
                origin,
                blocks: Vec::new(),
                ballots: Vec::new(),
                close: None,
            };
            let mut from = 1u64;
            for page_no in 0.. {
                if page_no >= MAX_FALLBACK_PAGES {
                    return Err(malformed(&url, "too many pages".into()));
                }
                let url = format!("{}/p2p/fallback?origin={origin}&from_seq={from}", self.base);
                let page: FallbackPage = self.http.get_json(&url)?;
                data.blocks
                    .extend(page.blocks.iter().map(|b| b.get().to_owned()));
                data.ballots.extend(page.ballots);
                data.close = page
                    .close
                    .map(|c| c.get().to_owned())
                    .filter(|c| c != "null");
                match page.next_seq {
                    Some(n) if n > from && !page.blocks.is_empty() => from = n,
                    Some(_) if !page.blocks.is_empty() => {
                        return Err(malformed(
                            &url,
                            format!("next_seq does not advance from {from}"),
                        ));
                    }
                    _ => break,
                }
            }
            chains.push(data);
        }
        Ok(Fallbacks::Chains(chains))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls() {
        assert_eq!(normalize_url("http://a:1/").unwrap(), "http://a:1");
        assert!(normalize_url("ftp://a").is_err());
        assert!(normalize_url("a:1").is_err());
    }
}
