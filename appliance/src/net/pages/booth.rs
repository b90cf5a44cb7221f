//! The booth's handlers: one voter at a time, from the voting code to the
//! receipt. The steps' state lives in `web::kiosk`, keyed by an HttpOnly
//! cookie on `/booth`.

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, SharedState, base_url, redirect, redirect_with, set_cookie};
use crate::clock::now_ms;
use crate::ledger::Election;
use crate::web::kiosk::{BoothSession, RECEIPT_SECONDS, Receipt, Step};
use crate::web::layout::{Frame, Screen};
use crate::web::{booth, qr, t};

const BOOTH_COOKIE: &str = "evote_booth";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/booth", get(welcome))
        .route("/booth/start", post(start))
        .route("/booth/card", get(card_page).post(card))
        .route("/booth/ballot", get(ballot))
        .route("/booth/choose", post(choose))
        .route("/booth/review", get(review))
        .route("/booth/change", post(change))
        .route("/booth/seal", post(super::challenge::seal))
        .route("/booth/challenge", get(super::challenge::challenge))
        .route("/booth/check", post(super::challenge::check))
        .route("/booth/spoiled", get(super::challenge::spoiled))
        .route("/booth/again", post(super::challenge::again))
        .route("/booth/cast", post(cast))
        .route("/booth/receipt", get(receipt))
        .route("/booth/finish", post(finish))
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub csrf: String,
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

#[derive(Deserialize)]
struct CardForm {
    csrf: String,
    card: String,
}

#[derive(Deserialize)]
struct ChoiceForm {
    csrf: String,
    #[serde(default)]
    candidate: Option<String>,
}

pub(super) fn frame<'a>(ctx: &'a Ctx, title: String) -> Frame<'a> {
    ctx.frame(Screen::Booth, title)
}

/// The booth session this browser holds, if it is still open.
fn session(s: &SharedState, ctx: &Ctx) -> Option<(String, BoothSession)> {
    let id = super::cookie(&ctx.headers, BOOTH_COOKIE)?.to_string();
    let b = s.kiosk.booth(&id, now_ms())?;
    Some((id, b))
}

/// The election the booth serves: the first one open now.
pub(super) fn open_election(s: &SharedState) -> Option<&Election> {
    let now = now_ms();
    s.genesis.elections.iter().find(|e| e.is_open_at(now))
}

pub(super) fn notice(ctx: &Ctx, status: StatusCode, kind: &str, id: &str) -> Response {
    let text = t(ctx.lang, id);
    let f = frame(ctx, t(ctx.lang, "booth-title"));
    ctx.render(status, &f, booth::notice(ctx.lang, kind, &text))
}

async fn welcome(State(s): State<SharedState>, ctx: Ctx) -> Response {
    if let Some((id, b)) = session(&s, &ctx) {
        // The receipt was seen (or its time ran out): clear for the next voter.
        if b.step == Step::Receipt {
            s.kiosk.end_booth(&id);
        } else {
            return redirect(step_path(b.step));
        }
    }
    let f = frame(&ctx, t(ctx.lang, "booth-title"));
    ctx.render(
        StatusCode::OK,
        &f,
        booth::welcome(ctx.lang, &ctx.csrf, None),
    )
}

pub(super) fn step_path(step: Step) -> &'static str {
    match step {
        Step::Card => "/booth/card",
        Step::Ballot => "/booth/ballot",
        Step::Review => "/booth/review",
        Step::Challenge => "/booth/challenge",
        Step::Spoiled => "/booth/spoiled",
        Step::Receipt => "/booth/receipt",
    }
}

async fn start(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CodeForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Booth);
    }
    let Some(election) = open_election(&s) else {
        return notice(&ctx, StatusCode::FORBIDDEN, "warn", "booth-closed");
    };
    // A roll's voter signs with their card; open registration's voter
    // with the credential this appliance makes from their identity.
    let first = if election.open_registration() {
        Step::Ballot
    } else {
        Step::Card
    };
    match s.kiosk.redeem(&f.code, election.id, first, now_ms()) {
        Some(id) => redirect_with(
            step_path(first),
            &set_cookie(BOOTH_COOKIE, &id, "/booth", None),
        ),
        None => {
            let fr = frame(&ctx, t(ctx.lang, "booth-title"));
            let problem = t(ctx.lang, "booth-bad-code");
            ctx.render(
                StatusCode::UNAUTHORIZED,
                &fr,
                booth::welcome(ctx.lang, &ctx.csrf, Some(&problem)),
            )
        }
    }
}

async fn card_page(State(s): State<SharedState>, ctx: Ctx) -> Response {
    if let Err(r) = current_at(&s, &ctx, &[Step::Card]) {
        return *r;
    }
    let f = frame(&ctx, t(ctx.lang, "booth-card-title"));
    ctx.render(StatusCode::OK, &f, booth::card(ctx.lang, &ctx.csrf, None))
}

/// `POST /booth/card`: a code that reads as a card of this election (its
/// check digits hold) is kept for the session; whether the chain knows the
/// credential is the validators' rule when the ballot is cast.
async fn card(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CardForm>) -> Response {
    let (id, _, e) = match posted_at(&s, &ctx, &f.csrf, &[Step::Card]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let card = zeroize::Zeroizing::new(f.card);
    if crate::net::submit::Signer::from_card(e.id, &card).is_err() {
        let fr = frame(&ctx, t(ctx.lang, "booth-card-title"));
        let problem = t(ctx.lang, "booth-card-bad");
        return ctx.render(
            StatusCode::BAD_REQUEST,
            &fr,
            booth::card(ctx.lang, &ctx.csrf, Some(&problem)),
        );
    }
    s.kiosk.update_booth(&id, now_ms(), |b| {
        b.card = Some(card);
        b.step = Step::Ballot;
    });
    redirect("/booth/ballot")
}

/// The session and its election, or the answer to give instead.
pub(super) fn current(
    s: &SharedState,
    ctx: &Ctx,
) -> Result<(String, BoothSession, Election), Box<Response>> {
    let Some((id, b)) = session(s, ctx) else {
        return Err(Box::new(notice(
            ctx,
            StatusCode::UNAUTHORIZED,
            "warn",
            "booth-expired",
        )));
    };
    let Some(e) = s.genesis.election(b.election_id) else {
        return Err(Box::new(notice(
            ctx,
            StatusCode::NOT_FOUND,
            "bad",
            "booth-error",
        )));
    };
    Ok((id, b, e.clone()))
}

/// Like [`current`], for the page of one of `steps`: a session at another
/// step is sent to its own page.
pub(super) fn current_at(
    s: &SharedState,
    ctx: &Ctx,
    steps: &[Step],
) -> Result<(String, BoothSession, Election), Box<Response>> {
    let (id, b, e) = current(s, ctx)?;
    if !steps.contains(&b.step) {
        return Err(Box::new(redirect(step_path(b.step))));
    }
    Ok((id, b, e))
}

/// Like [`current_at`], for a form: its CSRF token is checked first.
pub(super) fn posted_at(
    s: &SharedState,
    ctx: &Ctx,
    csrf: &str,
    steps: &[Step],
) -> Result<(String, BoothSession, Election), Box<Response>> {
    if !ctx.csrf_ok(csrf) {
        return Err(Box::new(ctx.forbidden(Screen::Booth)));
    }
    current_at(s, ctx, steps)
}

/// `path` on the board of this node's public address (a QR code's
/// target).
pub(super) fn board_url(s: &SharedState, ctx: &Ctx, path: &str) -> String {
    let base = s
        .public_url
        .clone()
        .unwrap_or_else(|| base_url(&ctx.headers));
    format!("{}/board/{path}", base.trim_end_matches('/'))
}

async fn ballot(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let (_, b, e) = match current_at(&s, &ctx, &[Step::Ballot, Step::Review]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let f = frame(&ctx, e.name.clone());
    ctx.render(
        StatusCode::OK,
        &f,
        booth::ballot(ctx.lang, &ctx.csrf, &e, b.choice, None),
    )
}

async fn choose(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<ChoiceForm>) -> Response {
    let steps = [Step::Ballot, Step::Review];
    let (id, _, e) = match posted_at(&s, &ctx, &f.csrf, &steps) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let picked = f
        .candidate
        .and_then(|c| c.parse::<u64>().ok())
        .filter(|c| e.candidate_index(*c).is_some());
    let Some(candidate) = picked else {
        let fr = frame(&ctx, e.name.clone());
        let problem = t(ctx.lang, "booth-no-choice");
        return ctx.render(
            StatusCode::BAD_REQUEST,
            &fr,
            booth::ballot(ctx.lang, &ctx.csrf, &e, None, Some(&problem)),
        );
    };
    s.kiosk.update_booth(&id, now_ms(), |b| {
        b.choice = Some(candidate);
        b.step = Step::Review;
    });
    redirect("/booth/review")
}

async fn review(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let (_, b, e) = match current(&s, &ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let name = b
        .choice
        .and_then(|c| e.candidates.iter().find(|k| k.id == c))
        .map(|c| c.name.clone());
    match (b.step, name) {
        (Step::Review, Some(name)) => {
            let f = frame(&ctx, t(ctx.lang, "booth-review-title"));
            ctx.render(
                StatusCode::OK,
                &f,
                booth::review(ctx.lang, &ctx.csrf, &e, &name),
            )
        }
        (step, _) => redirect(step_path(step)),
    }
}

async fn change(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CsrfForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Booth);
    }
    // Before the cast a ballot may be changed; one sealed and not cast is
    // dropped (never shown, never counted).
    if let Some((id, b)) = session(&s, &ctx)
        && matches!(b.step, Step::Review | Step::Challenge)
    {
        s.kiosk.update_booth(&id, now_ms(), |b| {
            b.sealed = None;
            b.step = Step::Ballot;
        });
    }
    redirect("/booth/ballot")
}

async fn cast(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CsrfForm>) -> Response {
    let (id, b, e) = match posted_at(&s, &ctx, &f.csrf, &[Step::Challenge]) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    // The ballot cast is the one whose tracking code the voter saw.
    let Some(sealed) = b.sealed.clone() else {
        return redirect(step_path(b.step));
    };
    let caster = match caster(&s, &b, &e).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            s.kiosk.end_booth(&id);
            return notice(&ctx, StatusCode::UNAUTHORIZED, "warn", "booth-expired");
        }
        Err(err) => return failed(&s, &ctx, &err.message, err.status),
    };
    let ballot = crate::net::submit::Ballot::Encrypted(Box::new(sealed.ballot));
    let presented = crate::net::submit::Presented {
        card: b.card.as_deref().map(String::as_str),
        device: None,
    };
    let cast = crate::net::api::cast(&s, &caster, &e, ballot, presented).await;
    if cast.is_err() {
        crate::net::submit::return_booth_pass(&s, caster).await;
    }
    match cast {
        Ok(c) => {
            let receipt = Receipt {
                code: c.code,
                transaction_id: c.done.tx_hash,
                fallback: c.done.fallback_block.is_some(),
                shown_at_ms: now_ms(),
            };
            s.kiosk.update_booth(&id, now_ms(), |b| {
                b.step = Step::Receipt;
                b.receipt = Some(receipt);
                b.choice = None;
                b.sealed = None;
            });
            redirect("/booth/receipt")
        }
        Err(err) => {
            let (kind, msg) = match err.code {
                "already_voted" => ("bad", "booth-already-voted"),
                "election_not_open" | "polls_closed" => ("warn", "booth-closed"),
                "busy" => ("warn", "booth-busy"),
                _ => return failed(&s, &ctx, &err.message, err.status),
            };
            if err.code != "busy" {
                s.kiosk.end_booth(&id);
            }
            s.kiosk.problem(now_ms(), format!("booth: {}", err.message));
            notice(&ctx, err.status, kind, msg)
        }
    }
}

/// Who casts the session's ballot: with open registration the voter of
/// the session, with a roll the booth pass the check-in gave (taken here,
/// given back if the ballot is refused). `None` when either is gone.
async fn caster(
    s: &SharedState,
    b: &BoothSession,
    e: &Election,
) -> Result<Option<crate::net::submit::Caster>, crate::net::ApiError> {
    if e.open_registration() {
        return Ok(voter(s, b).await?.map(crate::net::submit::Caster::Voter));
    }
    match crate::net::submit::caster_for_token(s, &b.voter_token).await {
        Ok(c) => Ok(Some(c)),
        Err(err) if err.status == StatusCode::UNAUTHORIZED => Ok(None),
        Err(err) => Err(err),
    }
}

/// The credential the session's ballot is bound to and signed with: with
/// open registration made from the voter's identity, with a roll read from
/// the card the voter presented. `None` when the session's voter is gone.
pub(super) async fn credential(
    s: &SharedState,
    b: &BoothSession,
    e: &Election,
) -> Result<Option<crate::ledger::Hash32>, crate::net::ApiError> {
    use crate::net::submit::{Presented, credential_for};
    if e.open_registration() {
        let Some(voter) = voter(s, b).await? else {
            return Ok(None);
        };
        let (nullifier, _) = credential_for(s, e, Some(&voter.email), Presented::default())?;
        return Ok(Some(nullifier));
    }
    let Some(card) = &b.card else {
        return Ok(None);
    };
    let presented = Presented {
        card: Some(card.as_str()),
        device: None,
    };
    Ok(Some(credential_for(s, e, None, presented)?.0))
}

/// The voter the booth session belongs to, `None` when their session is gone.
pub(super) async fn voter(
    s: &SharedState,
    b: &BoothSession,
) -> Result<Option<crate::store::Voter>, crate::net::ApiError> {
    let hash = crate::auth::token_hash(&b.voter_token);
    s.db("opening the booth", move |db| {
        db.session_voter(&hash, now_ms())
    })
    .await
}

pub(super) fn failed(s: &SharedState, ctx: &Ctx, why: &str, status: StatusCode) -> Response {
    s.kiosk
        .problem(now_ms(), format!("booth: a vote was not recorded: {why}"));
    notice(ctx, status, "bad", "booth-error")
}

async fn receipt(State(s): State<SharedState>, ctx: Ctx) -> Response {
    let Some((_, b)) = session(&s, &ctx) else {
        return redirect("/booth");
    };
    let Some(r) = b.receipt else {
        return redirect(step_path(b.step));
    };
    let code = r.code.to_hex();
    let url = board_url(&s, &ctx, &format!("track?code={code}"));
    let svg = qr::svg(&url, &t(ctx.lang, "booth-receipt-qr"));
    let mut f = frame(&ctx, t(ctx.lang, "booth-receipt-title"));
    f.clear_after = Some((RECEIPT_SECONDS, "/booth"));
    ctx.render(
        StatusCode::OK,
        &f,
        booth::receipt(ctx.lang, &ctx.csrf, &code, &url, svg, r.fallback),
    )
}

async fn finish(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CsrfForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Booth);
    }
    if let Some((id, _)) = session(&s, &ctx) {
        s.kiosk.end_booth(&id);
    }
    redirect_with("/booth", &set_cookie(BOOTH_COOKIE, "", "/booth", Some(0)))
}
