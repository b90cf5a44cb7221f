//! The public bulletin board's handlers: read-only, no login, bounded work
//! per request (a page of block headers, one block, one look-up; the poll
//! book is counted block by block and kept).

use crate::store::PollCount;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Ctx, SharedState, validator_rows};
use crate::clock::now_ms;
use crate::ledger::{Hash32, PublicKey, Transaction};
use crate::web::board::{
    self, BlockRow, BlockView, BoardIndex, ElectionRow, ResultsView, Tracked, TxRow,
};
use crate::web::layout::Screen;
use crate::web::t;

/// Blocks per page of the explorer.
pub const BLOCKS_PER_PAGE: u64 = 20;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/board", get(index))
        .route("/board/block/{height}", get(block))
        .route("/board/track", get(track))
        .route("/board/results/{id}", get(results))
        .route("/board/spoiled", get(super::spoiled::list))
        .route("/board/spoiled/{code}", get(super::spoiled::check))
}

/// The genesis name of an appliance (validator or station).
pub fn appliance_name(s: &SharedState, key: &PublicKey) -> String {
    s.genesis
        .validators
        .iter()
        .find(|v| &v.public_key == key)
        .map(|v| v.name.clone())
        .or_else(|| {
            s.genesis
                .stations
                .iter()
                .find(|v| &v.public_key == key)
                .map(|v| v.name.clone())
        })
        .unwrap_or_else(|| crate::web::short(&key.to_hex()))
}

fn query_param(ctx: &Ctx, name: &str) -> Option<String> {
    let q = ctx.here.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(super) fn error_page(s: &SharedState, ctx: &Ctx, e: &crate::net::ApiError) -> Response {
    s.kiosk.problem(now_ms(), format!("board: {}", e.message));
    let f = ctx.frame(Screen::Board, t(ctx.lang, "board-title"));
    ctx.render(e.status, &f, crate::web::layout::message("bad", &e.message))
}

/// The poll book: ballots on the chain and voters checked in, per
/// appliance, counted from the blocks committed since the last count.
async fn pollbook(
    s: &SharedState,
    height: u64,
) -> Result<Vec<(String, PollCount)>, crate::net::ApiError> {
    let after = s.pollbook.lock().expect("poll book").0;
    if after < height {
        let counted = s
            .db("counting the poll book", move |db| {
                db.pollbook_by_origin(after, height)
            })
            .await?;
        let mut g = s.pollbook.lock().expect("poll book");
        if g.0 == after {
            for (origin, n) in counted {
                let line = g.1.entry(origin).or_default();
                line.ballots += n.ballots;
                line.check_ins += n.check_ins;
            }
            g.0 = height;
        }
    }
    let g = s.pollbook.lock().expect("poll book");
    let named = |o: &Vec<u8>| match <[u8; 32]>::try_from(o.as_slice()) {
        Ok(k) => appliance_name(s, &PublicKey(k)),
        Err(_) => hex::encode(o),
    };
    Ok(g.1.iter().map(|(o, n)| (named(o), *n)).collect())
}

async fn index(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let st = s.node.status();
    let top = query_param(&ctx, "from")
        .and_then(|f| f.parse::<u64>().ok())
        .map_or(st.height, |f| f.min(st.height));
    let summaries = s
        .db("reading blocks", move |db| {
            db.block_summaries(top, BLOCKS_PER_PAGE)
        })
        .await;
    let book = pollbook(&s, st.height).await;
    let (summaries, book) = match (summaries, book) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error_page(&s, &ctx, &e),
    };
    let now = now_ms();
    let elections = s
        .genesis
        .elections
        .iter()
        .map(|e| ElectionRow {
            id: e.id,
            name: e.name.clone(),
            state: if e.is_open_at(now) {
                "open"
            } else if now < e.opens_at {
                "not-yet"
            } else {
                "closed"
            },
            opens_at: e.opens_at,
            closes_at: e.closes_at,
        })
        .collect();
    let chain_valid = s
        .verified
        .lock()
        .expect("chain check")
        .as_ref()
        .is_none_or(|c| c.valid);
    let blocks: Vec<BlockRow> = summaries
        .iter()
        .map(|b| BlockRow {
            height: b.height,
            hash: b.block_hash.to_hex(),
            time: b.timestamp_ms,
            proposer: appliance_name(&s, &b.proposer),
            seals: b.seals as usize,
            txs: b.tx_count,
        })
        .collect();
    let older = blocks
        .last()
        .map(|b| b.height)
        .filter(|h| *h > 1)
        .map(|h| h - 1);
    let newer = (top < st.height).then(|| (top + BLOCKS_PER_PAGE).min(st.height));
    let nodes = s
        .genesis
        .validators
        .iter()
        .map(|v| v.p2p_url.clone())
        .collect();
    let b = BoardIndex {
        elections,
        height: st.height,
        head_hash: st.head_hash.to_hex(),
        chain_valid,
        validators: validator_rows(&s),
        blocks,
        older,
        newer,
        pollbook: book,
        nodes,
    };
    let f = ctx.frame(Screen::Board, t(ctx.lang, "board-title"));
    ctx.render(StatusCode::OK, &f, board::index(ctx.lang, &b))
}

async fn block(State(s): State<SharedState>, ctx: Ctx, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error_page(
            &s,
            &ctx,
            &crate::net::ApiError::bad_request("invalid_height", "a block height is a number"),
        );
    };
    let found = s
        .db("reading a block", move |db| db.blocks_range(height, 1))
        .await;
    let b = match found {
        Ok(mut v) if v.first().is_some_and(|b| b.header.height == height) => v.remove(0),
        Ok(_) => {
            return error_page(
                &s,
                &ctx,
                &crate::net::ApiError::not_found(format!(
                    "block {height} is not on this node's chain"
                )),
            );
        }
        Err(e) => return error_page(&s, &ctx, &e),
    };
    let txs = b
        .transactions
        .iter()
        .map(|stx| {
            let (ballot_hash, fallback) = match &stx.tx {
                Transaction::Ballot(t) => (Some(t.ballot_hash.to_hex()), t.fallback.is_some()),
                _ => (None, false),
            };
            TxRow {
                hash: stx.hash().map(|h| h.to_hex()).unwrap_or_default(),
                ballot_hash,
                station: appliance_name(&s, stx.tx.origin()),
                kind: match &stx.tx {
                    Transaction::Ballot(_) => "board-kind-ballot",
                    Transaction::DecryptionShare(_) => "board-kind-share",
                    Transaction::CheckIn(_) => "board-kind-check-in",
                    Transaction::CredentialReplacement(_) => "board-kind-credential-replacement",
                    Transaction::DeviceClose(_) => "board-kind-device-close",
                    Transaction::SpoiledBallot(_) => "board-kind-spoiled",
                },
                fallback,
            }
        })
        .collect();
    let v = BlockView {
        height,
        hash: b.block_hash.to_hex(),
        prev_hash: b.header.prev_hash.to_hex(),
        time: b.header.timestamp_ms,
        proposer: appliance_name(&s, &b.header.proposer),
        sealed_by: b
            .seals
            .iter()
            .map(|seal| appliance_name(&s, &seal.validator))
            .collect(),
        txs,
    };
    let f = ctx.frame(
        Screen::Board,
        crate::web::t_args(
            ctx.lang,
            "board-block-title",
            &[("height", height.to_string())],
        ),
    );
    ctx.render(StatusCode::OK, &f, board::block(ctx.lang, &v))
}

async fn track(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let code = query_param(&ctx, "code").unwrap_or_default();
    let found = match Hash32::parse(code.trim()) {
        Err(_) if code.is_empty() => None,
        Err(_) => Some(Tracked::Bad),
        Ok(c) => Some(match crate::net::tally::track_code(&s, c, true).await {
            Ok(Some(v)) => Tracked::Found {
                status: v["status"].as_str().unwrap_or("pending").to_string(),
                block: v["block_number"].as_u64(),
                reason: v["reason"].as_str().map(str::to_string),
            },
            Ok(None) => Tracked::Unknown,
            Err(e) => return error_page(&s, &ctx, &e),
        }),
    };
    let f = ctx.frame(Screen::Board, t(ctx.lang, "board-track"));
    let body = match &found {
        Some(fd) => board::track(ctx.lang, &code, fd),
        None => board::track_form(ctx.lang, ""),
    };
    let status = match found {
        Some(Tracked::Bad) => StatusCode::BAD_REQUEST,
        Some(Tracked::Unknown) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    ctx.render(status, &f, body)
}

async fn results(State(s): State<SharedState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let election = match id.parse::<u64>().ok().and_then(|i| s.genesis.election(i)) {
        Some(e) => e.clone(),
        None => {
            return error_page(
                &s,
                &ctx,
                &crate::net::ApiError::not_found("no such election"),
            );
        }
    };
    let r = match crate::net::tally::results_of(&s, &election).await {
        Ok(r) => r,
        Err(e) => return error_page(&s, &ctx, &e),
    };
    let v = ResultsView {
        name: election.name.clone(),
        total: r.total,
        pending: r
            .decrypted
            .is_none()
            .then_some((election.trustees.threshold, election.trustees.trustees)),
        rows: election
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = r.decrypted.as_ref().map(|d| d.counts[i]);
                let pct = r.decrypted.as_ref().zip(n).map(|(d, n)| {
                    if d.ballot_count == 0 {
                        0.0
                    } else {
                        n as f64 * 100.0 / d.ballot_count as f64
                    }
                });
                (c.name.clone(), n, pct)
            })
            .collect(),
        shares: r
            .decrypted
            .as_ref()
            .map(|d| {
                d.shares
                    .iter()
                    .map(|(i, h, b)| (*i, h.to_hex(), *b))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let f = ctx.frame(Screen::Board, t(ctx.lang, "board-results"));
    ctx.render(StatusCode::OK, &f, board::results(ctx.lang, &v))
}
