//! The public bulletin board (no login): the elections, the ledger as an
//! explorer, ballot tracking, validator health, results with the trustees'
//! shares, the poll book by station, and how to verify it all yourself.
//! Nothing here names a voter: a ballot shows its hashes and its station.

use maud::{Markup, html};

use super::console::{ValidatorRow, validators_table};
use super::layout::column_heads;
use super::{Lang, short, t, t_args, when};

pub struct ElectionRow {
    pub id: u64,
    pub name: String,
    /// "open", "closed" or "not-yet".
    pub state: &'static str,
    pub opens_at: u64,
    pub closes_at: u64,
}

pub struct BlockRow {
    pub height: u64,
    pub hash: String,
    pub time: u64,
    pub proposer: String,
    pub seals: usize,
    pub txs: u64,
}

pub struct BoardIndex {
    pub elections: Vec<ElectionRow>,
    pub height: u64,
    pub head_hash: String,
    pub chain_valid: bool,
    pub validators: Vec<ValidatorRow>,
    pub blocks: Vec<BlockRow>,
    /// The `from` of the next, older page of blocks.
    pub older: Option<u64>,
    pub newer: Option<u64>,
    /// (station, ballots on the ledger it accepted and voters it checked in).
    pub pollbook: Vec<(String, crate::store::PollCount)>,
    /// Every node's base URL, for the auditor command.
    pub nodes: Vec<String>,
}

pub struct TxRow {
    pub hash: String,
    pub ballot_hash: Option<String>,
    pub station: String,
    /// The message naming its kind (`board-kind-ballot`, ...).
    pub kind: &'static str,
    pub fallback: bool,
}

pub struct BlockView {
    pub height: u64,
    pub hash: String,
    pub prev_hash: String,
    pub time: u64,
    pub proposer: String,
    pub sealed_by: Vec<String>,
    pub txs: Vec<TxRow>,
}

/// What a tracking look-up found.
pub enum Tracked {
    Bad,
    Unknown,
    Found {
        status: String,
        block: Option<u64>,
        reason: Option<String>,
    },
}

pub struct ResultsView {
    pub name: String,
    pub total: u64,
    /// (k, n) while the tally is not decrypted.
    pub pending: Option<(u32, u32)>,
    pub rows: Vec<(String, Option<u64>, Option<f64>)>,
    pub shares: Vec<(u32, String, u64)>,
}

fn state_words(lang: Lang, state: &str) -> String {
    match state {
        "open" => t(lang, "board-open"),
        "closed" => t(lang, "board-closed"),
        _ => t(lang, "board-not-yet"),
    }
}

pub fn track_form(lang: Lang, code: &str) -> Markup {
    html! {
        form method="get" action="/board/track" class="panel" role="search" {
            div class="field" {
                label for="code" { (t(lang, "board-track-label")) }
                input type="text" id="code" name="code" value=(code) required spellcheck="false" autocomplete="off";
            }
            button type="submit" { (t(lang, "board-track-button")) }
        }
    }
}

pub fn index(lang: Lang, b: &BoardIndex) -> Markup {
    html! {
        h1 { (t(lang, "board-title")) }
        p { (t(lang, "board-never-identity")) }
        section aria-labelledby="track-h" {
            h2 id="track-h" { (t(lang, "board-track")) }
            (track_form(lang, ""))
            p { a href="/board/spoiled" id="spoiled-link" { (t(lang, "board-spoiled-title")) } }
        }
        section aria-labelledby="elections-h" {
            h2 id="elections-h" { (t(lang, "board-elections")) }
            div class="table-wrap" {
                table {
                    (column_heads(lang, &["board-election", "board-state", "board-opens", "board-closes", "board-results"]))
                    tbody {
                        @for e in &b.elections {
                            tr {
                                td { (e.name) }
                                td { (state_words(lang, e.state)) }
                                td { (when(e.opens_at)) }
                                td { (when(e.closes_at)) }
                                td { a href=(format!("/board/results/{}", e.id)) { (t(lang, "board-results")) ": " (e.name) } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="ledger-h" {
            h2 id="ledger-h" { (t(lang, "board-ledger")) }
            @if b.chain_valid {
                p class="status-ok" { (t(lang, "board-chain-valid")) }
            } @else {
                p class="status-bad" { (t(lang, "board-chain-invalid")) }
            }
            p { (t(lang, "board-height")) ": " strong { (b.height) } }
            p { (t(lang, "board-head")) ": " code class="hash" { (b.head_hash) } }
            h3 { (t(lang, "board-blocks")) }
            div class="table-wrap" {
                table {
                    (column_heads(lang, &["board-block", "board-time", "board-proposer", "board-seals", "board-txs", "board-hash"]))
                    tbody {
                        @for r in &b.blocks {
                            tr {
                                td { a href=(format!("/board/block/{}", r.height)) { (t(lang, "board-block")) " " (r.height) } }
                                td { (when(r.time)) }
                                td { (r.proposer) }
                                td { (r.seals) }
                                td { (r.txs) }
                                td { code class="hash" title=(r.hash) { (short(&r.hash)) } }
                            }
                        }
                    }
                }
            }
            nav aria-label=(t(lang, "board-blocks")) {
                ul class="actions" {
                    @if let Some(n) = b.newer { li { a href=(format!("/board?from={n}")) { (t(lang, "board-newer")) } } }
                    @if let Some(o) = b.older { li { a href=(format!("/board?from={o}")) { (t(lang, "board-older")) } } }
                }
            }
        }
        section aria-labelledby="validators-h" {
            h2 id="validators-h" { (t(lang, "board-validators")) }
            (validators_table(lang, &b.validators))
        }
        section aria-labelledby="pollbook-h" {
            h2 id="pollbook-h" { (t(lang, "board-pollbook")) }
            div class="table-wrap" {
                table {
                    (column_heads(lang, &["board-station", "board-checked-in", "board-ballots-cast"]))
                    tbody { @for (s, n) in &b.pollbook { tr id=(format!("pollbook-{s}")) { td { (s) } td class="check-ins" { (n.check_ins) } td class="ballots" { (n.ballots) } } } }
                }
            }
        }
        section aria-labelledby="verify-h" {
            h2 id="verify-h" { (t(lang, "board-verify")) }
            p { (t(lang, "board-verify-text")) }
            p { a href="/p2p/genesis" download="genesis.json" { (t(lang, "board-genesis")) } }
            p { (t(lang, "board-verify-command")) }
            pre { code { "evote-audit verify --genesis genesis.json --nodes " (b.nodes.join(",")) } }
        }
    }
}

pub fn block(lang: Lang, b: &BlockView) -> Markup {
    html! {
        h1 { (t_args(lang, "board-block-title", &[("height", b.height.to_string())])) }
        div class="table-wrap" {
            table {
                tbody {
                    tr { th scope="row" { (t(lang, "board-hash")) } td { code class="hash" { (b.hash) } } }
                    tr { th scope="row" { (t(lang, "board-prev-hash")) } td { code class="hash" { (b.prev_hash) } } }
                    tr { th scope="row" { (t(lang, "board-time")) } td { (when(b.time)) } }
                    tr { th scope="row" { (t(lang, "board-proposer")) } td { (b.proposer) } }
                    tr { th scope="row" { (t(lang, "board-sealed-by")) } td { (b.sealed_by.join(", ")) } }
                }
            }
        }
        h2 { (t(lang, "board-transactions")) }
        @if b.txs.is_empty() {
            p { (t(lang, "board-empty-block")) }
        } @else {
        div class="table-wrap" {
            table {
                (column_heads(lang, &["board-tx", "board-kind", "board-ballot-hash", "board-station"]))
                tbody {
                    @for tx in &b.txs {
                        tr {
                            td { code class="hash" { (tx.hash) } }
                            td {
                                (t(lang, tx.kind))
                                @if tx.fallback { " (" (t(lang, "board-fallback-copy")) ")" }
                            }
                            td { @if let Some(h) = &tx.ballot_hash { code class="hash" { (h) } } }
                            td { (tx.station) }
                        }
                    }
                }
            }
        }
        }
        p { a href="/board" { (t(lang, "board-title")) } }
    }
}

pub fn track(lang: Lang, code: &str, found: &Tracked) -> Markup {
    html! {
        h1 { (t(lang, "board-track")) }
        (track_form(lang, code))
        @match found {
            Tracked::Bad => { (super::layout::message("bad", &t(lang, "board-track-bad"))) }
            Tracked::Unknown => { (super::layout::message("warn", &t(lang, "board-track-unknown"))) }
            Tracked::Found { status, block, reason } => {
                @match status.as_str() {
                    "confirmed" | "finalized" => {
                        (super::layout::message("ok", &t(lang, "board-track-found")))
                        @if let Some(h) = block {
                            p id="track-block" { (t(lang, "board-track-block")) " " a href=(format!("/board/block/{h}")) { (h) } }
                        }
                    }
                    "fallback" => { (super::layout::message("warn", &t(lang, "board-track-fallback"))) }
                    "rejected" => { (super::layout::message("bad", &t_args(lang, "board-track-rejected", &[("reason", reason.clone().unwrap_or_default())]))) }
                    _ => { (super::layout::message("ok", &t(lang, "board-track-pending"))) }
                }
            }
        }
        p { a href="/board" { (t(lang, "board-title")) } }
    }
}

pub fn results(lang: Lang, r: &ResultsView) -> Markup {
    html! {
        h1 { (t(lang, "board-results")) ": " (r.name) }
        p { (t(lang, "board-total")) ": " strong id="total-votes" { (r.total) } }
        @if let Some((k, n)) = r.pending {
            (super::layout::message("ok", &t_args(lang, "board-results-pending", &[("k", k.to_string()), ("n", n.to_string())])))
        }
        div class="table-wrap" {
            table {
                (column_heads(lang, &["board-candidate", "board-votes", "board-percent"]))
                tbody {
                    @for (name, votes, pct) in &r.rows {
                        tr {
                            td { (name) }
                            td { @if let Some(v) = votes { (v) } @else { "—" } }
                            td { @if let Some(p) = pct { (format!("{p:.2} %")) } @else { "—" } }
                        }
                    }
                }
            }
        }
        @if !r.shares.is_empty() {
            h2 { (t(lang, "board-shares")) }
            ul {
                @for (i, tx, block) in &r.shares {
                    li { (t_args(lang, "board-trustee", &[("index", i.to_string())])) ": " code class="hash" { (tx) } " — " a href=(format!("/board/block/{block}")) { (t(lang, "board-block")) " " (block) } }
                }
            }
        }
        p { a href="/board" { (t(lang, "board-title")) } }
    }
}

/// One spoiled ballot as the board shows it, opened when it is read.
pub struct SpoiledRow {
    pub code: String,
    pub station: String,
    /// The candidate the voter confirmed.
    pub stated: String,
    /// The candidate its randomness opens it to, if it opens to one.
    pub opened: Option<String>,
    pub matches: bool,
    pub height: u64,
}

/// The verdict on one spoiled ballot, in words.
fn spoiled_verdict(lang: Lang, r: &SpoiledRow) -> Markup {
    let args = [
        ("stated", r.stated.clone()),
        ("opened", r.opened.clone().unwrap_or_default()),
    ];
    let (kind, id) = match (&r.opened, r.matches) {
        (Some(_), true) => ("ok", "board-spoiled-matches"),
        (Some(_), false) => ("bad", "board-spoiled-other"),
        (None, _) => ("bad", "board-spoiled-nothing"),
    };
    super::layout::message(kind, &t_args(lang, id, &args))
}

/// `/board/spoiled`: the newest ballots voters checked, each opened.
pub fn spoiled_list(lang: Lang, rows: &[SpoiledRow], total: u64) -> Markup {
    html! {
        h1 { (t(lang, "board-spoiled-title")) }
        p { (t(lang, "board-spoiled-explain")) }
        p { (t(lang, "board-spoiled-count")) ": " strong id="spoiled-count" { (total) } }
        div class="table-wrap" {
            table {
                (column_heads(lang, &["board-spoiled-code", "board-station", "board-spoiled-stated", "board-spoiled-opened", "board-block"]))
                tbody {
                    @for r in rows {
                        tr class=(if r.matches { "spoiled-ok" } else { "spoiled-bad" }) {
                            td { a href=(format!("/board/spoiled/{}", r.code)) { code class="hash" { (super::short(&r.code)) } } }
                            td { (r.station) }
                            td { (r.stated) }
                            td {
                                @if r.matches { (r.opened.clone().unwrap_or_default()) }
                                @else { strong { (t(lang, "board-spoiled-no-match")) } }
                            }
                            td { a href=(format!("/board/block/{}", r.height)) { (r.height) } }
                        }
                    }
                }
            }
        }
        p { a href="/board" { (t(lang, "board-title")) } }
    }
}

/// `/board/spoiled/{code}`: the check a voter's phone opens from the
/// booth's QR code.
pub fn spoiled_check(lang: Lang, row: Option<&SpoiledRow>, problem: Option<&str>) -> Markup {
    html! {
        h1 { (t(lang, "board-spoiled-check-title")) }
        @if let Some(p) = problem { (super::layout::message("warn", &t(lang, p))) }
        @if let Some(r) = row {
            div id="spoiled-verdict" class=(if r.matches { "verdict-ok" } else { "verdict-bad" }) {
                (spoiled_verdict(lang, r))
            }
            dl {
                dt { (t(lang, "board-spoiled-code")) } dd { code class="hash" id="spoiled-code" { (r.code) } }
                dt { (t(lang, "board-spoiled-stated")) } dd id="spoiled-stated" { (r.stated) }
                dt { (t(lang, "board-spoiled-opened")) } dd id="spoiled-opened" {
                    @match &r.opened { Some(o) => { (o) } None => { (t(lang, "board-spoiled-no-match")) } }
                }
                dt { (t(lang, "board-station")) } dd { (r.station) }
                dt { (t(lang, "board-block")) } dd { a href=(format!("/board/block/{}", r.height)) { (r.height) } }
            }
            p { (t(lang, "board-spoiled-how")) }
        }
        p { a href="/board/spoiled" { (t(lang, "board-spoiled-title")) } " · " a href="/board" { (t(lang, "board-title")) } }
    }
}
