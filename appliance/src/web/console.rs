//! The poll-worker console: the station's state, check-in, today's counts
//! and the last problems in words.

use maud::{Markup, html};

use super::kiosk::CODE_TTL_MS;
use super::layout::{column_heads, csrf_field, message};
use super::{Lang, t, t_args, when};
use crate::node::status::FallbackReason;

/// A validator as the console lists it.
pub struct ValidatorRow {
    pub name: String,
    /// "healthy", "degraded" or "unreachable".
    pub status: String,
    pub height: Option<u64>,
}

/// Everything the console shows.
pub struct ConsoleView {
    /// The open election has a roll: voters are checked in by their id on
    /// it (otherwise by e-mail, open registration).
    pub roll: bool,
    pub offline: bool,
    /// Why the station is in fallback mode, when it is.
    pub fallback: Option<FallbackReason>,
    pub waiting: u64,
    pub validators: Vec<ValidatorRow>,
    pub checked_in_today: u64,
    pub ballots_today: u64,
    pub problems: Vec<(u64, String)>,
    /// A voting code just issued: (voter's name, code as shown).
    pub issued: Option<(String, String)>,
    pub notice: Option<(&'static str, String)>,
}

/// Why the station is in fallback mode, in the poll worker's language.
pub fn fallback_reason(lang: Lang, reason: &FallbackReason) -> String {
    match reason {
        FallbackReason::Offline => t(lang, "fallback-reason-offline"),
        FallbackReason::Unreachable {
            reachable,
            validators,
            quorum,
        } => t_args(
            lang,
            "fallback-reason-unreachable",
            &[
                ("reachable", reachable.to_string()),
                ("validators", validators.to_string()),
                ("quorum", quorum.to_string()),
            ],
        ),
        FallbackReason::Stalled { after_ms, .. } => t_args(
            lang,
            "fallback-reason-stalled",
            &[("seconds", (after_ms / 1000).to_string())],
        ),
    }
}

pub fn login(lang: Lang, csrf: &str, wrong: bool) -> Markup {
    html! {
        h1 { (t(lang, "console-title")) }
        @if wrong { (message("bad", &t(lang, "console-bad-token"))) }
        form method="post" action="/console/login" class="panel" {
            (csrf_field(csrf))
            p { (t(lang, "console-login")) }
            div class="field" {
                label for="token" { (t(lang, "console-token-label")) }
                input type="password" id="token" name="token" required autocomplete="off" autofocus;
            }
            button type="submit" { (t(lang, "console-sign-in")) }
        }
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "healthy" => "status-ok",
        "degraded" => "status-warn",
        _ => "status-bad",
    }
}

fn status_words(lang: Lang, status: &str) -> String {
    match status {
        "healthy" => t(lang, "console-reachable"),
        "degraded" => t(lang, "console-degraded"),
        _ => t(lang, "console-unreachable"),
    }
}

/// The validators as this appliance reaches them (the console's and the
/// board's).
pub fn validators_table(lang: Lang, rows: &[ValidatorRow]) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                (column_heads(lang, &["console-validator", "console-status", "console-height"]))
                tbody {
                    @for r in rows {
                        tr {
                            td { (r.name) }
                            td class=(status_class(&r.status)) { (status_words(lang, &r.status)) }
                            td { @if let Some(h) = r.height { (h) } @else { "—" } }
                        }
                    }
                }
            }
        }
    }
}

pub fn dashboard(lang: Lang, csrf: &str, v: &ConsoleView) -> Markup {
    html! {
        h1 { (t(lang, "console-title")) }
        @if let Some((kind, text)) = &v.notice { (message(kind, text)) }
        @if let Some((name, code)) = &v.issued {
            div class="panel" role="status" {
                p { (t_args(lang, "console-code-for", &[("name", name.clone())])) }
                p class="code" id="voting-code" { (code) }
                p class="hint" { (t_args(lang, "console-code-hint", &[("minutes", (CODE_TTL_MS / 60_000).to_string())])) }
            }
        }
        div class="grid" {
            section class="panel" aria-labelledby="station-h" {
                h2 id="station-h" { (t(lang, "console-station")) }
                @if v.offline {
                    (message("warn", &t(lang, "console-offline")))
                } @else if let Some(reason) = &v.fallback {
                    (message("warn", &t_args(lang, "console-fallback", &[("waiting", v.waiting.to_string()), ("reason", fallback_reason(lang, reason))])))
                } @else {
                    (message("ok", &t(lang, "console-online")))
                }
                h3 { (t(lang, "console-validators")) }
                (validators_table(lang, &v.validators))
            }
            section class="panel" aria-labelledby="counts-h" {
                h2 id="counts-h" { (t(lang, "console-counts")) }
                p { (t(lang, "console-checked-in")) }
                p class="count" id="checked-in-count" { (v.checked_in_today) }
                p { (t(lang, "console-ballots")) }
                p class="count" id="ballots-count" { (v.ballots_today) }
            }
        }
        section class="panel" aria-labelledby="checkin-h" {
            h2 id="checkin-h" { (t(lang, "console-checkin")) }
            form method="post" action="/console/check-in" {
                (csrf_field(csrf))
                @if v.roll {
                    div class="field" {
                        label for="voter" { (t(lang, "console-roll-label")) }
                        p class="hint" id="voter-hint" { (t(lang, "console-roll-hint")) }
                        input type="text" id="voter" name="voter" required autocomplete="off"
                            spellcheck="false" aria-describedby="voter-hint";
                    }
                } @else {
                    div class="field" {
                        label for="email" { (t(lang, "console-email-label")) }
                        input type="email" id="email" name="email" required autocomplete="off";
                    }
                    div class="field" {
                        label for="name" { (t(lang, "console-name-label")) }
                        input type="text" id="name" name="name" autocomplete="off";
                    }
                }
                button type="submit" { (t(lang, "console-check-in")) }
            }
        }
        @if v.offline {
            section class="panel" aria-labelledby="close-h" {
                h2 id="close-h" { (t(lang, "console-close")) }
                p { (t(lang, "console-close-explain")) }
                form method="post" action="/console/close" {
                    (csrf_field(csrf))
                    div class="field" {
                        label for="confirm" { (t(lang, "console-close-confirm")) }
                        input type="text" id="confirm" name="confirm" autocomplete="off" spellcheck="false";
                    }
                    button type="submit" { (t(lang, "console-close-button")) }
                }
                p { a class="button secondary" href="/console/export" download { (t(lang, "console-export")) } }
            }
        }
        section class="panel" aria-labelledby="errors-h" {
            h2 id="errors-h" { (t(lang, "console-errors")) }
            @if v.problems.is_empty() {
                p { (t(lang, "console-no-errors")) }
            } @else {
                ul {
                    @for (at, what) in &v.problems { li { (when(*at)) " — " (what) } }
                }
            }
        }
        form method="post" action="/console/logout" {
            (csrf_field(csrf))
            button type="submit" class="secondary" { (t(lang, "console-sign-out")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_reason_is_in_the_poll_workers_language() {
        let unreachable = FallbackReason::Unreachable {
            reachable: 1,
            validators: 4,
            quorum: 3,
        };
        assert_eq!(
            fallback_reason(Lang::En, &unreachable),
            "1 of 4 validators reachable, 3 needed"
        );
        assert_eq!(
            fallback_reason(Lang::Fr, &unreachable),
            "1 validateurs joignables sur 4, 3 nécessaires"
        );
        let stalled = FallbackReason::Stalled {
            since_ms: 5,
            after_ms: 12_400,
        };
        assert!(fallback_reason(Lang::Fr, &stalled).contains("12 s sans qu'aucun bloc"));
        assert!(fallback_reason(Lang::Fr, &FallbackReason::Offline).contains("hors ligne"));
    }
}
