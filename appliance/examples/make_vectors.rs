//! Writes the test vectors of `schema/vectors/`: a genesis with an
//! election's trustees, a committed chain of encrypted ballots and
//! decryption shares, the expected values, and the invalid blocks
//! (`schema/vectors/crypto/` has a generator of its own,
//! `make_crypto_vectors`).
//!
//! ```text
//! cargo run -p evote-appliance --example make_vectors -- schema/vectors
//! ```
//!
//! The output is deterministic: `tests/vectors.rs` checks that the committed
//! files are byte for byte what this makes.

mod vectors_gen;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| vectors_gen::VECTORS_DIR.to_string()),
    );
    let files = vectors_gen::generate();
    // Stale invalid vectors would otherwise linger after a rename.
    let invalid = dir.join("invalid");
    if invalid.is_dir() {
        for entry in std::fs::read_dir(&invalid)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                std::fs::remove_file(&path)?;
            }
        }
    }
    for (rel, content) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
    }
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}
