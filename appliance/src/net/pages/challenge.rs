//! The booth's challenge (PROTOCOL.md §4e, "cast or check"): after the
//! review the booth encrypts the choice and shows the ballot's tracking
//! code, committing to it, and only then asks whether to cast it or to
//! check it. A checked ballot is spoiled: the booth shows the choice and
//! the randomness, records them on the chain (never counted) and the voter
//! votes again with a fresh encryption. Anyone can open the record, so a
//! booth that encrypted another choice is caught by a voter who checks.

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::booth::{CsrfForm, board_url, current_at, failed, frame, notice, posted_at, step_path};
use super::{Ctx, SharedState, redirect};
use crate::clock::now_ms;
use crate::ledger::elgamal::{BallotContext, Ciphertext, PublicScalar, encrypt_ballot_opened};
use crate::ledger::{Election, SignedTx, SpoiledBallotTx, Transaction, tracking_code};
use crate::net::ApiError;
use crate::node::Source;
use crate::web::kiosk::{BoothSession, Checked, Sealed, Step};
use crate::web::{booth, qr, t};

/// Debug builds only: a booth that encrypts the next candidate instead of
/// the voter's choice, for the test that a voter's check catches it
/// (SECURITY.md "Test hooks"). Release builds do not read it.
#[cfg(debug_assertions)]
pub const TEST_CHEATING_BOOTH: &str = "EVOTE_TEST_CHEATING_BOOTH";

/// The candidate index the booth encrypts for the voter's `index`.
fn encrypted_index(index: usize, candidates: usize) -> usize {
    if cheating() {
        (index + 1) % candidates
    } else {
        index
    }
}

#[cfg(debug_assertions)]
fn cheating() -> bool {
    static CHEAT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHEAT.get_or_init(|| std::env::var(TEST_CHEATING_BOOTH).is_ok_and(|v| v == "1"))
}

#[cfg(not(debug_assertions))]
fn cheating() -> bool {
    false
}

/// `POST /booth/seal`: encrypts the reviewed choice, bound to the voter's
/// credential as a cast ballot would be, and shows its tracking code.
pub(super) async fn seal(
    State(s): State<SharedState>,
    ctx: Ctx,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (id, b, e) = match posted_at(&s, &ctx, &f.csrf, &[Step::Review]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(choice) = b.choice else {
        return redirect(step_path(b.step));
    };
    match encrypt(&s, &b, &e, choice).await {
        Ok(Some(sealed)) => {
            s.kiosk.update_booth(&id, now_ms(), |b| {
                b.sealed = Some(sealed);
                b.step = Step::after_review();
            });
            redirect("/booth/challenge")
        }
        Ok(None) => {
            s.kiosk.end_booth(&id);
            notice(&ctx, StatusCode::UNAUTHORIZED, "warn", "booth-expired")
        }
        Err(err) => failed(&s, &ctx, &err.message, err.status),
    }
}

/// The voter's ballot for `choice`, encrypted with its randomness kept;
/// `None` when the voter's session is gone.
async fn encrypt(
    s: &SharedState,
    b: &BoothSession,
    e: &Election,
    choice: u64,
) -> Result<Option<Sealed>, ApiError> {
    let Some(nullifier) = super::booth::credential(s, b, e).await? else {
        return Ok(None);
    };
    let (index, key) = crate::net::submit::choice(s, e, choice)?;
    let ctx = BallotContext {
        chain_id: s.chain_id,
        election_id: e.id,
        nullifier,
        origin: s.key.public(),
    };
    let n = e.candidates.len();
    let encrypted = encrypted_index(index, n);
    let (ballot, randomness) = s
        .proof_work
        .run("encrypting the ballot", move || {
            let mut rng = crate::auth::OsRandom::default();
            encrypt_ballot_opened(&ctx, &key, encrypted, n, &mut rng)
        })
        .await?
        .map_err(|err| ApiError::internal("encrypting the ballot", err))?;
    let code = tracking_code(&s.chain_id, e.id, &s.key.public(), ballot.ciphertexts());
    Ok(Some(Sealed {
        choice,
        ballot,
        randomness,
        tracking_code: code,
    }))
}

/// `GET /booth/challenge`: the tracking code, then "cast" or "check".
pub(super) async fn challenge(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let (_, b, e) = match current_at(&s, &ctx, &[Step::Challenge]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(sealed) = &b.sealed else {
        return redirect(step_path(b.step));
    };
    let name = candidate_name(&e, sealed.choice);
    let f = frame(&ctx, t(ctx.lang, "booth-challenge-title"));
    let code = sealed.tracking_code.to_hex();
    ctx.render(
        StatusCode::OK,
        &f,
        booth::challenge(ctx.lang, &ctx.csrf, &name, &code),
    )
}

fn candidate_name(e: &Election, id: u64) -> String {
    e.candidate(id)
        .map_or_else(|| id.to_string(), |c| c.name.clone())
}

/// `POST /booth/check`: spoils the sealed ballot. Its record (ciphertexts,
/// stated choice, randomness; nothing of the voter) is signed by this
/// appliance and submitted as any transaction; the voter then votes again.
pub(super) async fn check(
    State(s): State<SharedState>,
    ctx: Ctx,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (id, b, e) = match posted_at(&s, &ctx, &f.csrf, &[Step::Challenge]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(sealed) = b.sealed else {
        return redirect(step_path(b.step));
    };
    let record = spoiled_record(&s, &e, &sealed);
    let checked = Checked {
        choice: sealed.choice,
        tracking_code: sealed.tracking_code,
        randomness: record.randomness.iter().map(PublicScalar::to_hex).collect(),
    };
    let stx = match SignedTx::sign(Transaction::SpoiledBallot(record), &s.key) {
        Ok(stx) => stx,
        Err(err) => {
            return failed(
                &s,
                &ctx,
                &err.to_string(),
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    if let Err(err) = crate::net::submit::submit_signed(&s, stx, Source::Rpc).await {
        return failed(&s, &ctx, &err.message, err.status);
    }
    s.kiosk.update_booth(&id, now_ms(), |b| {
        b.sealed = None;
        b.checked = Some(checked);
        b.step = Step::Spoiled;
    });
    redirect("/booth/spoiled")
}

fn spoiled_record(s: &SharedState, e: &Election, sealed: &Sealed) -> SpoiledBallotTx {
    let ciphertexts: Vec<Ciphertext> = sealed.ballot.ciphertexts().copied().collect();
    SpoiledBallotTx {
        chain_id: s.chain_id,
        election_id: e.id,
        tracking_code: sealed.tracking_code,
        ciphertexts,
        choice: sealed.choice,
        randomness: sealed
            .randomness
            .iter()
            .map(|r| PublicScalar::from(*r.expose()))
            .collect(),
        spoiled_at_ms: now_ms(),
        origin: s.key.public(),
    }
}

/// `GET /booth/spoiled`: what the checked ballot holds, a QR code to check
/// it on a phone against any node's board, and the way back to vote.
pub(super) async fn spoiled(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let (_, b, e) = match current_at(&s, &ctx, &[Step::Spoiled]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(c) = &b.checked else {
        return redirect(step_path(b.step));
    };
    let code = c.tracking_code.to_hex();
    let url = board_url(&s, &ctx, &format!("spoiled/{code}"));
    let svg = qr::svg(&url, &t(ctx.lang, "booth-spoiled-qr"));
    let f = frame(&ctx, t(ctx.lang, "booth-spoiled-title"));
    let page = booth::Spoiled {
        choice: &candidate_name(&e, c.choice),
        code: &code,
        randomness: &c.randomness,
        url: &url,
        qr_svg: svg,
    };
    ctx.render(
        StatusCode::OK,
        &f,
        booth::spoiled(ctx.lang, &ctx.csrf, &page),
    )
}

/// `POST /booth/again`: back to the ballot, to vote with a fresh encryption.
pub(super) async fn again(
    State(s): State<SharedState>,
    ctx: Ctx,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (id, _, _) = match posted_at(&s, &ctx, &f.csrf, &[Step::Spoiled]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    s.kiosk.update_booth(&id, now_ms(), |b| {
        b.checked = None;
        b.choice = None;
        b.step = Step::Ballot;
    });
    redirect("/booth/ballot")
}
