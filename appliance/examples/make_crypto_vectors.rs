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
mod vectors_out;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = vectors_out::out_dir(crypto_vectors_gen::VECTORS_DIR);
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
    vectors_out::write(&dir, &files)?;
    Ok(())
}
