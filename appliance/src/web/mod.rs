//! The screens people use: the voting booth, the poll-worker console and
//! the public bulletin board. Rendering only (compile-time-checked maud
//! templates, message catalogs, the stylesheet and script embedded in the
//! binary, QR codes as SVG); the HTTP handlers that serve them live in
//! `net/pages/`, since only `net` knows HTTP.

pub mod board;
pub mod booth;
pub mod console;
pub mod i18n;
pub mod kiosk;
pub mod layout;
pub mod qr;

pub use i18n::{Lang, t, t_args};

/// An embedded asset: (content type, bytes) by its path under `/assets/`.
pub fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        "evote.css" => Some((
            "text/css; charset=utf-8",
            include_bytes!("assets/evote.css"),
        )),
        "booth.js" => Some((
            "text/javascript; charset=utf-8",
            include_bytes!("assets/booth.js"),
        )),
        _ => None,
    }
}

/// Milliseconds since 1970 as `2026-11-03 07:00` (UTC), for tables.
pub fn when(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.get(..16).unwrap_or(&s).replace('T', " ")
}

/// A hash cut for a table cell: `0x1234abcd…9f8e`.
pub fn short(hash: &str) -> String {
    if hash.len() <= 16 {
        return hash.to_string();
    }
    format!("{}…{}", &hash[..10], &hash[hash.len() - 4..])
}
