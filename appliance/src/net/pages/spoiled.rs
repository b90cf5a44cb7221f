//! The board's spoiled ballots (PROTOCOL.md §4e): the list, newest first,
//! and one by its tracking code, the page a voter's phone opens from the
//! booth's QR code. Each is opened here, from the chain, every time it is
//! shown: the randomness must turn its ciphertexts into a vote for the
//! choice the voter confirmed, or the page says it does not match.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::board::appliance_name;
use super::{Ctx, SharedState};
use crate::ledger::{Hash32, Opening};
use crate::store::SpoiledEntry;
use crate::web::board::{self, SpoiledRow};
use crate::web::layout::Screen;
use crate::web::t;

/// Spoiled ballots listed on one page.
pub const SPOILED_PER_PAGE: u64 = 50;

/// What the board shows of one spoiled ballot, opened now.
fn row(s: &SharedState, e: &SpoiledEntry) -> SpoiledRow {
    let r = &e.record;
    let election = s.genesis.election(r.election_id);
    let name = |id: u64| {
        election
            .and_then(|el| el.candidate(id))
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let opening = election.map_or(Opening::Nothing, |el| {
        r.opening(el).unwrap_or(Opening::Nothing)
    });
    SpoiledRow {
        code: r.tracking_code.to_hex(),
        station: appliance_name(s, &r.origin),
        stated: name(r.choice),
        opened: match opening {
            Opening::Stated => Some(name(r.choice)),
            Opening::Other(id) => Some(name(id)),
            Opening::Nothing => None,
        },
        matches: opening == Opening::Stated,
        height: e.location.height,
    }
}

/// `GET /board/spoiled`: the newest spoiled ballots, each opened.
pub(super) async fn list(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let height = s.node.status().height;
    let found = s
        .db("reading spoiled ballots", move |db| {
            Ok((
                db.spoiled_ballots(height, SPOILED_PER_PAGE)?,
                db.spoiled_count()?,
            ))
        })
        .await;
    let (entries, total) = match found {
        Ok(x) => x,
        Err(e) => return super::board::error_page(&s, &ctx, &e),
    };
    let rows: Vec<SpoiledRow> = entries.iter().map(|e| row(&s, e)).collect();
    let f = ctx.frame(Screen::Board, t(ctx.lang, "board-spoiled-title"));
    ctx.render(
        StatusCode::OK,
        &f,
        board::spoiled_list(ctx.lang, &rows, total),
    )
}

/// `GET /board/spoiled/{code}`: one spoiled ballot, opened: the candidate
/// it holds, or that it does not match what the voter confirmed.
pub(super) async fn check(
    State(s): State<SharedState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> Response {
    let f = ctx.frame(Screen::Board, t(ctx.lang, "board-spoiled-check-title"));
    let Ok(code) = Hash32::parse(code.trim()) else {
        let body = board::spoiled_check(ctx.lang, None, Some("board-track-bad"));
        return ctx.render(StatusCode::BAD_REQUEST, &f, body);
    };
    let found = s
        .db("finding a spoiled ballot", move |db| {
            db.spoiled_by_code(&code)
        })
        .await;
    let entries = match found {
        Ok(x) => x,
        Err(e) => return super::board::error_page(&s, &ctx, &e),
    };
    match entries.first() {
        Some(e) => {
            let body = board::spoiled_check(ctx.lang, Some(&row(&s, e)), None);
            ctx.render(StatusCode::OK, &f, body)
        }
        None => {
            let body = board::spoiled_check(ctx.lang, None, Some("board-spoiled-unknown"));
            ctx.render(StatusCode::NOT_FOUND, &f, body)
        }
    }
}
