//! The screens over HTTP: the booth and the public board (the voters' and
//! public door) and the poll-worker console (the operators' door). Pages
//! are rendered by `crate::web`; here are cookies, CSRF checks, security
//! headers and the handlers.
//!
//! Every page answers with a strict Content-Security-Policy (only this
//! origin's stylesheet and script, no inline script), cookies are HttpOnly
//! and SameSite=Strict, and every form carries a CSRF token that must
//! equal the `evote_csrf` cookie (double submit; a page of another site can
//! neither read the cookie nor send it with SameSite=Strict).

mod board;
mod booth;
mod challenge;
mod console;
mod spoiled;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::Markup;

use super::SharedState;
use crate::web::layout::{Frame, Screen, page};
use crate::web::{Lang, t};

pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const LANG_COOKIE: &str = "evote_lang";
const CSRF_COOKIE: &str = "evote_csrf";

/// The booth, the board and their assets: for the public door.
pub fn public_routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(|| async { redirect("/board") }))
        .route("/assets/{name}", get(asset))
        .merge(booth::routes())
        .merge(board::routes())
}

/// The poll-worker console, with the assets its pages link: for the
/// operators' door.
pub fn operator_routes() -> Router<SharedState> {
    console::routes().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match crate::web::asset(&name) {
        Some((kind, body)) => {
            let mut r = (StatusCode::OK, body).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The request's cookies.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for `path`.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_s: Option<u64>) -> String {
    let age = max_age_s.map_or(String::new(), |s| format!("; Max-Age={s}"));
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}")
}

/// What every page handler reads from the request: the language (a `lang`
/// query parameter wins and is remembered, then the cookie, then
/// Accept-Language), the CSRF token, and where the page is (for the
/// language switch).
pub struct Ctx {
    pub lang: Lang,
    remember_lang: bool,
    pub csrf: String,
    new_csrf: bool,
    pub here: String,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let from_query = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v));
        let from_cookie = cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse);
        let from_browser = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| Lang::parse(v.get(..2).unwrap_or("")));
        let lang = from_query
            .or(from_cookie)
            .or(from_browser)
            .unwrap_or(Lang::En);
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
            .collect();
        let here = if kept.is_empty() {
            parts.uri.path().to_string()
        } else {
            format!("{}?{}", parts.uri.path(), kept.join("&"))
        };
        let existing = cookie(&parts.headers, CSRF_COOKIE)
            .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()));
        let (csrf, new_csrf) = match existing {
            Some(c) => (c.to_string(), false),
            None => (crate::web::kiosk::new_session_id(), true),
        };
        Ok(Ctx {
            lang,
            remember_lang: from_query.is_some(),
            csrf,
            new_csrf,
            here,
            headers: parts.headers.clone(),
        })
    }
}

impl Ctx {
    /// Whether a submitted form's token is this browser's.
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        !self.new_csrf && crate::auth::secrets_equal(submitted, &self.csrf)
    }

    pub fn frame(&self, screen: Screen, title: String) -> Frame<'_> {
        Frame {
            lang: self.lang,
            screen,
            title,
            here: &self.here,
            clear_after: None,
        }
    }

    /// A whole page, with the cookies this request needs set.
    pub fn render(&self, status: StatusCode, frame: &Frame<'_>, content: Markup) -> Response {
        let mut r = html_response(status, page(frame, content).into_string());
        self.add_cookies(&mut r);
        r
    }

    pub fn add_cookies(&self, r: &mut Response) {
        let h = r.headers_mut();
        if self.remember_lang {
            let c = set_cookie(LANG_COOKIE, self.lang.code(), "/", Some(365 * 86_400));
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        if self.new_csrf {
            let c = set_cookie(CSRF_COOKIE, &self.csrf, "/", None);
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
    }

    /// The page a form with a wrong or missing CSRF token gets (403).
    pub fn forbidden(&self, screen: Screen) -> Response {
        let title = t(self.lang, "booth-error");
        let f = self.frame(screen, title.clone());
        self.render(
            StatusCode::FORBIDDEN,
            &f,
            crate::web::layout::message("bad", &title),
        )
    }
}

/// An HTML answer with the screens' security headers.
pub fn html_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    r
}

/// The security headers of every screen.
pub fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

/// 303 See Other to `to`.
pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure(r.headers_mut());
    r
}

/// A redirect that also sets `cookie`.
pub fn redirect_with(to: &str, cookie: &str) -> Response {
    let mut r = redirect(to);
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The base URL the request reached this node at, for links printed on a
/// receipt (a phone follows them).
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Validator health rows, as the console and the board list them.
pub fn validator_rows(s: &SharedState) -> Vec<crate::web::console::ValidatorRow> {
    let r = super::admin::public_report(s);
    r["validators"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| crate::web::console::ValidatorRow {
            name: v["name"].as_str().unwrap_or("?").to_string(),
            status: v["status"].as_str().unwrap_or("unreachable").to_string(),
            height: v["block_height"].as_u64(),
        })
        .collect()
}
