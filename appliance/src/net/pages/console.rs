//! The poll-worker console's handlers, behind the admin token: the station's
//! state, checking a voter in (which hands out a one-time voting code for
//! the booth), today's counts and the last problems.

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, SharedState, redirect, redirect_with, set_cookie, validator_rows};
use crate::clock::now_ms;
use crate::web::console::{ConsoleView, dashboard, login};
use crate::web::kiosk::{OPERATOR_TTL_MS, show_code};
use crate::web::layout::Screen;
use crate::web::t;

const OPERATOR_COOKIE: &str = "evote_console";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", post(sign_in))
        .route("/console/logout", post(sign_out))
        .route("/console/check-in", post(check_in))
        .route("/console/close", post(close_polls))
        .route("/console/export", get(export))
}

#[derive(Deserialize)]
struct CloseForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    token: String,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
struct CheckInForm {
    csrf: String,
    /// Open registration: the voter's e-mail and name.
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    /// A roll: the voter's id on it.
    #[serde(default)]
    voter: String,
}

fn signed_in(s: &SharedState, ctx: &Ctx) -> Option<String> {
    let id = super::cookie(&ctx.headers, OPERATOR_COOKIE)?;
    s.kiosk.is_operator(id, now_ms()).then(|| id.to_string())
}

fn login_page(ctx: &Ctx, status: StatusCode, wrong: bool) -> Response {
    let f = ctx.frame(Screen::Console, t(ctx.lang, "console-title"));
    ctx.render(status, &f, login(ctx.lang, &ctx.csrf, wrong))
}

/// Midnight (UTC) of the day `now` falls in.
fn today(now: u64) -> u64 {
    now - now % 86_400_000
}

async fn view(
    s: &SharedState,
    issued: Option<(String, String)>,
    notice: Option<(&'static str, String)>,
) -> ConsoleView {
    let st = s.node.status();
    let since = today(now_ms());
    let counts = s
        .db("counting today's voters", move |db| db.day_counts(since))
        .await;
    let (checked_in_today, ballots_today) = counts.unwrap_or_else(|e| {
        s.kiosk.problem(now_ms(), e.message);
        (0, 0)
    });
    ConsoleView {
        roll: super::booth::open_election(s).is_some_and(|e| !e.open_registration()),
        offline: s.offline,
        fallback: st.fallback.clone(),
        waiting: st.fallback_counts.open(),
        validators: validator_rows(s),
        checked_in_today,
        ballots_today,
        problems: problems(s),
        issued,
        notice,
    }
}

/// The console's problems and each unreachable validator's last error.
fn problems(s: &SharedState) -> Vec<(u64, String)> {
    let mut out = s.kiosk.problems();
    for p in s.peers.snapshot() {
        if let (false, Some(e)) = (p.reachable, &p.last_error) {
            let who = p.name.clone().unwrap_or(p.url.clone());
            out.push((p.last_seen_ms.unwrap_or(0), format!("{who}: {e}")));
        }
    }
    out
}

async fn home(State(s): State<SharedState>, ctx: Ctx) -> Response {
    if signed_in(&s, &ctx).is_none() {
        return login_page(&ctx, StatusCode::OK, false);
    }
    let v = view(&s, None, None).await;
    let f = ctx.frame(Screen::Console, t(ctx.lang, "console-title"));
    ctx.render(StatusCode::OK, &f, dashboard(ctx.lang, &ctx.csrf, &v))
}

async fn sign_in(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<LoginForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Console);
    }
    let ip = "console".to_string();
    // Counted before the token is compared, given back when it was right.
    if s.limits.per_client.hit(&ip, now_ms()).is_err()
        || !crate::auth::secrets_equal(f.token.trim(), &s.secrets.admin_token)
    {
        s.kiosk
            .problem(now_ms(), "console: a sign-in with a wrong token");
        return login_page(&ctx, StatusCode::UNAUTHORIZED, true);
    }
    s.limits.per_client.refund(&ip);
    match s.kiosk.sign_in(now_ms()) {
        Some(id) => redirect_with(
            "/console",
            &set_cookie(
                OPERATOR_COOKIE,
                &id,
                "/console",
                Some(OPERATOR_TTL_MS / 1000),
            ),
        ),
        None => login_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, false),
    }
}

async fn sign_out(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CsrfForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Console);
    }
    if let Some(id) = signed_in(&s, &ctx) {
        s.kiosk.sign_out(&id);
    }
    redirect_with(
        "/console",
        &set_cookie(OPERATOR_COOKIE, "", "/console", Some(0)),
    )
}

async fn check_in(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CheckInForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Console);
    }
    if signed_in(&s, &ctx).is_none() {
        return redirect("/console");
    }
    if let Some(e) = super::booth::open_election(&s).filter(|e| !e.open_registration()) {
        return check_in_on_roll(&s, &ctx, e.id, &f.voter).await;
    }
    let fr = ctx.frame(Screen::Console, t(ctx.lang, "console-title"));
    let Ok(email) = crate::net::api::check_email(&f.email) else {
        let v = view(
            &s,
            None,
            Some(("bad", t(ctx.lang, "console-invalid-email"))),
        )
        .await;
        return ctx.render(
            StatusCode::BAD_REQUEST,
            &fr,
            dashboard(ctx.lang, &ctx.csrf, &v),
        );
    };
    let name: String = f
        .name
        .trim()
        .chars()
        .take(crate::net::api::MAX_NAME_LEN)
        .collect();
    let (token, hash) = crate::auth::new_token();
    let now = now_ms();
    let expires = now + crate::auth::SESSION_TTL_MS;
    let voters = vec![(email.clone(), name.clone())];
    let stored = s
        .db("checking a voter in", move |db| {
            db.check_in_voters(&voters, &[hash], now, expires)
        })
        .await;
    let issued = match stored.map(|()| s.kiosk.issue_code(token, now)) {
        Ok(Some(code)) => code,
        Ok(None) | Err(_) => {
            s.kiosk
                .problem(now, format!("console: {email} could not be checked in"));
            let v = view(&s, None, Some(("bad", t(ctx.lang, "booth-busy")))).await;
            return ctx.render(
                StatusCode::SERVICE_UNAVAILABLE,
                &fr,
                dashboard(ctx.lang, &ctx.csrf, &v),
            );
        }
    };
    let shown = if name.is_empty() { email } else { name };
    let v = view(&s, Some((shown, show_code(&issued))), None).await;
    ctx.render(StatusCode::OK, &fr, dashboard(ctx.lang, &ctx.csrf, &v))
}

/// Checks voter `voter_id` in against the roll (`check_in_voter`: the
/// poll-book record goes to the chain) and shows the voting code that opens
/// the booth with the pass the check-in gave.
async fn check_in_on_roll(
    s: &SharedState,
    ctx: &Ctx,
    election_id: u64,
    voter_id: &str,
) -> Response {
    let fr = ctx.frame(Screen::Console, t(ctx.lang, "console-title"));
    let now = now_ms();
    let (status, issued, notice) =
        match crate::net::submit::check_in_voter(s, election_id, voter_id).await {
            Ok(c) => match s.kiosk.issue_code(c.pass, now) {
                Some(code) => (StatusCode::OK, Some((c.voter.name, show_code(&code))), None),
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    Some(("bad", t(ctx.lang, "booth-busy"))),
                ),
            },
            Err(err) => {
                let id = match err.code {
                    "not_on_roll" => "console-not-on-roll",
                    "wrong_station" => "console-wrong-station",
                    "already_checked_in" => "console-already-checked-in",
                    _ => {
                        s.kiosk
                            .problem(now, format!("console: check-in: {}", err.message));
                        "booth-busy"
                    }
                };
                (err.status, None, Some(("bad", t(ctx.lang, id))))
            }
        };
    let v = view(s, issued, notice).await;
    ctx.render(status, &fr, dashboard(ctx.lang, &ctx.csrf, &v))
}

/// Closes the polls on an offline station: its fallback chain is sealed
/// with the signed closing record and takes no more ballots.
async fn close_polls(State(s): State<SharedState>, ctx: Ctx, Form(f): Form<CloseForm>) -> Response {
    if !ctx.csrf_ok(&f.csrf) {
        return ctx.forbidden(Screen::Console);
    }
    if signed_in(&s, &ctx).is_none() {
        return redirect("/console");
    }
    let fr = ctx.frame(Screen::Console, t(ctx.lang, "console-title"));
    let notice = if !s.offline {
        ("warn", t(ctx.lang, "console-close-online"))
    } else if f.confirm.trim() != "CLOSE" {
        ("bad", t(ctx.lang, "console-close-not-confirmed"))
    } else {
        let (key, chain_id) = (s.key.clone(), s.chain_id);
        let closed = s
            .db("closing the polls", move |db| {
                Ok(crate::cli::fallback::close_chain(db, &key, chain_id))
            })
            .await;
        match closed {
            Ok(Ok(record)) => (
                "ok",
                crate::web::t_args(
                    ctx.lang,
                    "console-closed",
                    &[("count", record.close.ballot_count.to_string())],
                ),
            ),
            Ok(Err(e)) => {
                s.kiosk
                    .problem(now_ms(), format!("console: closing the polls: {e}"));
                ("bad", e.to_string())
            }
            Err(e) => ("bad", e.message),
        }
    };
    let v = view(&s, None, Some(notice)).await;
    ctx.render(StatusCode::OK, &fr, dashboard(ctx.lang, &ctx.csrf, &v))
}

/// The offline station's export file, to carry to a connected appliance.
async fn export(State(s): State<SharedState>, ctx: Ctx) -> Response {
    if signed_in(&s, &ctx).is_none() {
        return redirect("/console");
    }
    let (key, chain_id, genesis) = (s.key.clone(), s.chain_id, s.genesis.clone());
    let made = s
        .db("exporting the ballots", move |db| {
            Ok(crate::cli::fallback::export_chain(
                db, &genesis, chain_id, &key,
            ))
        })
        .await;
    let text = match made {
        Ok(Ok((e, _))) => serde_json::to_string_pretty(&e).unwrap_or_default(),
        Ok(Err(e)) => {
            s.kiosk
                .problem(now_ms(), format!("console: the export: {e}"));
            return redirect("/console");
        }
        Err(e) => {
            s.kiosk.problem(now_ms(), e.message);
            return redirect("/console");
        }
    };
    let name: String = super::board::appliance_name(&s, &s.key.public())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let mut r = (StatusCode::OK, text).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}-export.json\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    super::secure(h);
    r
}
