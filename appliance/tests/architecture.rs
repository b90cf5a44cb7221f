//! Holds the architecture invariants of ARCHITECTURE.md by reading the source.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// (file, line number, line) of every non-comment line containing a needle.
fn find(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in rust_files(dir) {
        let text = fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for n in needles {
                if code.contains(n) {
                    hits.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    hits
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_pure_cores_do_no_io_read_no_clock_draw_no_randomness_and_use_no_hash_maps() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::io",
        "std::time",
        "Instant::",
        "SystemTime",
        "tokio",
        "rusqlite",
        "axum",
        "ureq",
        "HashMap",
        "HashSet",
        "SystemRandom",
        "thread_rng",
        "std::thread",
        "std::env",
        "std::process",
        "crate::store",
        "crate::net",
        "crate::node",
        "crate::clock",
    ];
    for core in ["ledger", "consensus"] {
        let hits = find(&src().join(core), &forbidden);
        assert!(
            hits.is_empty(),
            "{core} must stay pure:\n{}",
            hits.join("\n")
        );
    }
}

#[test]
fn only_store_knows_sql() {
    let sql = [
        "rusqlite",
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "UPDATE ",
        "PRAGMA ",
    ];
    let mut hits = find(&src(), &sql);
    hits.retain(|h| !h.contains("/src/store/"));
    assert!(hits.is_empty(), "SQL outside store:\n{}", hits.join("\n"));
}

#[test]
fn only_net_knows_http() {
    let http = ["axum", "ureq", "hyper", "tower"];
    let mut hits = find(&src(), &http);
    hits.retain(|h| !h.contains("/src/net/"));
    assert!(hits.is_empty(), "HTTP outside net:\n{}", hits.join("\n"));
}

#[test]
fn migrations_are_numbered_and_all_applied_in_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let migrate = fs::read_to_string(src().join("store/migrate.rs")).unwrap();
    for (i, name) in names.iter().enumerate() {
        let prefix = format!("{:04}_", i + 1);
        assert!(
            name.starts_with(&prefix) && name.ends_with(".sql"),
            "{name} should be {prefix}<name>.sql"
        );
        assert!(
            migrate.contains(name.as_str()),
            "{name} is not applied by store/migrate.rs"
        );
    }
}

#[test]
fn the_auditor_does_not_depend_on_the_appliance() {
    let manifest =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../auditor/Cargo.toml"))
            .expect("auditor/Cargo.toml");
    let deps: Vec<&str> = manifest
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with("evote-appliance")
                || l.starts_with("evote_appliance")
                || l.contains("../appliance\"")
        })
        .collect();
    assert!(
        deps.is_empty(),
        "the auditor re-implements the rules from schema/PROTOCOL.md; it must not use the appliance's code: {deps:?}"
    );
}
