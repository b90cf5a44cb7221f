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

/// Crates that do IO (or pull in something that does): none may be in
/// evote-core's dependency graph. (ring brings getrandom for its
/// `SystemRandom`; the source check below keeps the core from using it:
/// key generation takes its randomness as an argument.)
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "rusqlite",
    "libsqlite3-sys",
    "axum",
    "hyper",
    "tower",
    "ureq",
    "socket2",
];

/// The names of every package evote-core depends on, directly or not (its
/// dev-dependencies included), read from Cargo.lock.
fn core_dependency_closure() -> std::collections::BTreeSet<String> {
    let lock = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .expect("Cargo.lock");
    let lock: toml::Table = lock.parse().expect("Cargo.lock parses");
    let mut deps = std::collections::BTreeMap::<String, Vec<String>>::new();
    for p in lock["package"].as_array().expect("packages") {
        let name = p["name"].as_str().expect("name").to_string();
        let of = p.get("dependencies").and_then(|d| d.as_array());
        let names = of
            .into_iter()
            .flatten()
            .map(|d| d.as_str().unwrap().split(' ').next().unwrap().to_string());
        deps.entry(name).or_default().extend(names);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec!["evote-core".to_string()];
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone()) {
            todo.extend(deps.get(&n).cloned().unwrap_or_default());
        }
    }
    seen
}

#[test]
fn the_core_crate_depends_on_no_io_crate() {
    let closure = core_dependency_closure();
    assert!(
        closure.contains("ring"),
        "the closure was read: {closure:?}"
    );
    let io: Vec<&&str> = IO_CRATES.iter().filter(|c| closure.contains(**c)).collect();
    assert!(
        io.is_empty(),
        "evote-core must do no IO, yet depends on {io:?}"
    );
}

#[test]
fn the_core_reads_no_clock_draws_no_randomness_and_uses_no_hash_maps() {
    // What std offers every crate; the manifest check above cannot see it.
    let forbidden = [
        "std::fs",
        "std::net",
        "std::io",
        "std::time",
        "Instant::",
        "SystemTime",
        "HashMap",
        "HashSet",
        "SystemRandom",
        "thread_rng",
        "OsRng",
        "std::thread",
        "std::env",
        "std::process",
    ];
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
    let hits = find(&core, &forbidden);
    assert!(
        hits.is_empty(),
        "evote-core must stay pure:\n{}",
        hits.join("\n")
    );
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
