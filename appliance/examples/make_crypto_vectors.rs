//! Writes the encrypted-ballot and tally test vectors of
//! `schema/vectors/crypto/`.
//!
//! ```text
//! cargo run -p evote-appliance --example make_crypto_vectors -- schema/vectors/crypto
//! ```
//!
//! The output is deterministic: `tests/crypto_vectors.rs` checks that the
//! committed files are byte for byte what this makes.

mod crypto_vectors_gen;

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| crypto_vectors_gen::VECTORS_DIR.to_string()),
    );
    let files = crypto_vectors_gen::generate();
    std::fs::create_dir_all(&dir)?;
    // Stale files would otherwise linger after a rename.
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && !files.contains_key(name) {
            std::fs::remove_file(&path)?;
        }
    }
    for (rel, content) in &files {
        std::fs::write(dir.join(rel), content)?;
    }
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}
