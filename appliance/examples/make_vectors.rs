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
mod vectors_out;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = vectors_out::out_dir(vectors_gen::VECTORS_DIR);
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
    vectors_out::write(&dir, &files)?;
    Ok(())
}
