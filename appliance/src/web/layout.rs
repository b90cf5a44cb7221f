//! The page shell every screen shares: language, title, the skip link, the
//! header with the language switch, the stylesheet, and the form pieces
//! (the CSRF field).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{Lang, t};

/// Which screen a page belongs to (the header's links and the body class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Booth,
    Console,
    Board,
}

/// What every page needs besides its content.
pub struct Frame<'a> {
    pub lang: Lang,
    pub screen: Screen,
    pub title: String,
    /// The current path and query without `lang`, for the language switch.
    pub here: &'a str,
    /// (seconds, where): the booth's script goes there by itself after
    /// that long (a voter's receipt clears for the next voter).
    pub clear_after: Option<(u64, &'a str)>,
}

/// `here` with `lang=code` added to its query.
pub fn with_lang(here: &str, lang: Lang) -> String {
    let sep = if here.contains('?') { '&' } else { '?' };
    format!("{here}{sep}lang={}", lang.code())
}

pub fn page(f: &Frame<'_>, content: Markup) -> Markup {
    let lang = f.lang;
    let (class, home, name) = match f.screen {
        Screen::Booth => ("booth", "/booth", t(lang, "booth-title")),
        Screen::Console => ("console", "/console", t(lang, "console-title")),
        Screen::Board => ("board", "/board", t(lang, "board-title")),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (f.title) " — " (t(lang, "app-name")) }
                link rel="stylesheet" href="/assets/evote.css";
                @if f.screen == Screen::Booth {
                    script src="/assets/booth.js" defer {}
                }
            }
            body class=(class) data-clear-after=[f.clear_after.map(|c| c.0)] data-clear-to=[f.clear_after.map(|c| c.1)] {
                a class="skip" href="#content" { (t(lang, "skip-to-content")) }
                header class="bar" {
                    a class="brand" href=(home) { (t(lang, "app-name")) " · " (name) }
                    nav class="lang" aria-label=(t(lang, "switch-language")) {
                        ul {
                            @for l in Lang::ALL {
                                li {
                                    a href=(with_lang(f.here, l)) hreflang=(l.code()) lang=(l.code())
                                        aria-current=[(l == lang).then_some("true")] {
                                        (t(l, "lang-name"))
                                    }
                                }
                            }
                        }
                    }
                }
                main id="content" tabindex="-1" {
                    (content)
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
/// A table's head: a column header for each message key.
pub fn column_heads(lang: Lang, keys: &[&str]) -> Markup {
    html! {
        thead { tr { @for k in keys { th scope="col" { (t(lang, k)) } } } }
    }
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A message box: `kind` is "ok", "warn" or "bad".
pub fn message(kind: &str, text: &str) -> Markup {
    let role = if kind == "bad" { "alert" } else { "status" };
    html! { div class=(format!("msg {kind}")) role=(role) { p { (text) } } }
}

/// Raw SVG markup made by this binary (the QR code).
pub fn trusted_svg(svg: String) -> PreEscaped<String> {
    PreEscaped(svg)
}
