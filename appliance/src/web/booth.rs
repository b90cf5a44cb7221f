//! The booth's screens: the voter identifies with their code, sees the
//! election's candidates in large type, picks one, reviews the choice,
//! sees the encrypted ballot's tracking code and casts it or checks it
//! (a checked ballot is opened, never counted, and the voter votes again),
//! and gets the receipt.

use maud::{Markup, html};

use super::kiosk::{RECEIPT_SECONDS, Step};
use super::layout::{csrf_field, message, trusted_svg};
use super::{Lang, t, t_args, when};
use crate::ledger::Election;

/// A form of one button that posts to `action`; `class` "secondary" for
/// the way other than the main one.
fn button_form(csrf: &str, action: &str, class: Option<&str>, label: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf_field(csrf))
            button type="submit" class=[class] { (label) }
        }
    }
}

fn step(lang: Lang, s: Option<Step>) -> Markup {
    let (n, total) = s.map_or((1, 4), Step::number);
    html! { p class="step" { (t_args(lang, "booth-step", &[("n", n.to_string()), ("total", total.to_string())])) } }
}

/// A field the voter types a code into (or a QR reader types for them),
/// as the code step and the card step ask for it.
struct CodeField {
    /// The form's action, the field's id and name, its input type and
    /// longest value.
    action: &'static str,
    name: &'static str,
    kind: &'static str,
    max_len: u32,
    /// Message ids: the field's label, its hint and the button.
    label: &'static str,
    hint: &'static str,
    button: &'static str,
}

fn code_form(lang: Lang, csrf: &str, f: &CodeField) -> Markup {
    let hint_id = format!("{}-hint", f.name);
    html! {
        form method="post" action=(f.action) class="booth-code" {
            (csrf_field(csrf))
            div class="field" {
                label for=(f.name) { (t(lang, f.label)) }
                p class="hint" id=(hint_id) { (t(lang, f.hint)) }
                input type=(f.kind) id=(f.name) name=(f.name) required autocomplete="off"
                    autocapitalize="characters" spellcheck="false" maxlength=(f.max_len)
                    aria-describedby=(hint_id) autofocus;
            }
            div class="actions" { button type="submit" { (t(lang, f.button)) } }
        }
    }
}

/// Step 1: the voting code.
pub fn welcome(lang: Lang, csrf: &str, problem: Option<&str>) -> Markup {
    let field = CodeField {
        action: "/booth/start",
        name: "code",
        kind: "text",
        max_len: 32,
        label: "booth-code-label",
        hint: "booth-code-hint",
        button: "booth-start",
    };
    html! {
        (step(lang, None))
        h1 { (t(lang, "booth-title")) }
        @if let Some(p) = problem { (message("bad", p)) }
        p { (t(lang, "booth-welcome")) }
        (code_form(lang, csrf, &field))
    }
}

/// Step 1, with a roll: the voter's card. A QR reader on the kiosk types
/// the card's code into the field as a keyboard would; the field hides it
/// from whoever stands behind the voter.
pub fn card(lang: Lang, csrf: &str, problem: Option<&str>) -> Markup {
    let field = CodeField {
        action: "/booth/card",
        name: "card",
        kind: "password",
        max_len: 128,
        label: "booth-card-label",
        hint: "booth-card-hint",
        button: "booth-card-button",
    };
    html! {
        (step(lang, Some(Step::Card)))
        h1 { (t(lang, "booth-card-title")) }
        @if let Some(p) = problem { (message("bad", p)) }
        p { (t(lang, "booth-card-text")) }
        (code_form(lang, csrf, &field))
    }
}

/// Step 2: the candidates.
pub fn ballot(
    lang: Lang,
    csrf: &str,
    e: &Election,
    choice: Option<u64>,
    problem: Option<&str>,
) -> Markup {
    html! {
        (step(lang, Some(Step::Ballot)))
        h1 { (e.name) }
        p { (t_args(lang, "booth-election-closes", &[("time", when(e.closes_at))])) }
        @if let Some(p) = problem { (message("bad", p)) }
        form method="post" action="/booth/choose" {
            (csrf_field(csrf))
            fieldset class="candidates" {
                legend { (t(lang, "booth-choose")) }
                @for c in &e.candidates {
                    label class="candidate" {
                        input type="radio" name="candidate" value=(c.id) required checked[choice == Some(c.id)];
                        span { (c.name) }
                    }
                }
            }
            div class="actions" { button type="submit" { (t(lang, "booth-review-button")) } }
        }
    }
}

/// Step 3: the choice, to confirm or change.
pub fn review(lang: Lang, csrf: &str, e: &Election, candidate: &str) -> Markup {
    html! {
        (step(lang, Some(Step::Review)))
        h1 { (t(lang, "booth-review-title")) }
        p { (e.name) }
        p { (t(lang, "booth-review-text")) }
        p class="choice" { (candidate) }
        div class="actions" {
            (button_form(csrf, "/booth/seal", None, &t(lang, "booth-confirm")))
            (button_form(csrf, "/booth/change", Some("secondary"), &t(lang, "booth-change")))
        }
    }
}

/// Step 4: the encrypted ballot's tracking code, then "cast" or "check".
pub fn challenge(lang: Lang, csrf: &str, candidate: &str, tracking_code: &str) -> Markup {
    html! {
        (step(lang, Some(Step::Challenge)))
        h1 { (t(lang, "booth-challenge-title")) }
        p { (t(lang, "booth-challenge-sealed")) " " strong { (candidate) } }
        h2 { (t(lang, "booth-tracking-code")) }
        p class="code" id="tracking-code" { (tracking_code) }
        p { (t(lang, "booth-challenge-explain")) }
        div class="actions" {
            (button_form(csrf, "/booth/cast", None, &t(lang, "booth-cast")))
            (button_form(csrf, "/booth/check", Some("secondary"), &t(lang, "booth-check")))
        }
    }
}

/// What the page of a checked (spoiled) ballot shows.
pub struct Spoiled<'a> {
    pub choice: &'a str,
    pub code: &'a str,
    pub randomness: &'a [String],
    pub url: &'a str,
    pub qr_svg: Option<String>,
}

/// Step 4, checked: the ballot opened, a QR code to check it on a phone,
/// and the way back to vote.
pub fn spoiled(lang: Lang, csrf: &str, p: &Spoiled<'_>) -> Markup {
    html! {
        (step(lang, Some(Step::Spoiled)))
        h1 { (t(lang, "booth-spoiled-title")) }
        (message("warn", &t(lang, "booth-spoiled-not-counted")))
        div class="receipt" {
            div {
                p { (t(lang, "booth-spoiled-choice")) " " strong id="spoiled-choice" { (p.choice) } }
                h2 { (t(lang, "booth-tracking-code")) }
                p class="code" id="spoiled-code" { (p.code) }
                p { (t(lang, "booth-spoiled-explain")) }
                p { (t(lang, "booth-spoiled-check")) ": " code id="spoiled-url" { (p.url) } }
                details {
                    summary { (t(lang, "booth-spoiled-randomness")) }
                    ol class="code" { @for r in p.randomness { li { (r) } } }
                }
            }
            @if let Some(svg) = &p.qr_svg {
                div class="qr" { (trusted_svg(svg.clone())) }
            }
        }
        div class="actions" {
            (button_form(csrf, "/booth/again", None, &t(lang, "booth-vote-again")))
        }
    }
}

/// Step 4: the receipt (and a paper slip when printed).
pub fn receipt(
    lang: Lang,
    csrf: &str,
    code: &str,
    track_url: &str,
    qr_svg: Option<String>,
    fallback: bool,
) -> Markup {
    html! {
        (step(lang, Some(Step::Receipt)))
        h1 { (t(lang, "booth-receipt-title")) }
        @if fallback { (message("warn", &t(lang, "booth-fallback"))) }
        div class="receipt" {
            div {
                h2 { (t(lang, "booth-receipt-code")) }
                p class="code" id="confirmation-code" { (code) }
                p { (t(lang, "booth-receipt-explain")) }
                p { (t(lang, "booth-tracking")) ": " code { (track_url) } }
            }
            @if let Some(svg) = qr_svg {
                div class="qr" { (trusted_svg(svg)) }
            }
        }
        p class="no-print" { (t_args(lang, "booth-clears", &[("seconds", RECEIPT_SECONDS.to_string())])) }
        div class="actions" {
            button type="button" id="print-receipt" class="secondary" hidden { (t(lang, "booth-print")) }
            (button_form(csrf, "/booth/finish", None, &t(lang, "booth-finish")))
        }
    }
}

/// A message instead of a step (already voted, closed, expired, error).
pub fn notice(lang: Lang, kind: &str, text: &str) -> Markup {
    html! {
        h1 { (t(lang, "booth-title")) }
        (message(kind, text))
        div class="actions" { a class="button" href="/booth" { (t(lang, "booth-again")) } }
    }
}
