//! What both vector generators (`make_vectors`, `make_crypto_vectors`) do
//! with the files they make: where they go, and writing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory the command line names, else the generator's own.
pub fn out_dir(default: &str) -> PathBuf {
    PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| default.to_string()),
    )
}

/// Writes `files` (paths below `dir`), making the folders they need.
pub fn write(dir: &Path, files: &BTreeMap<String, String>) -> std::io::Result<()> {
    for (rel, content) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
    }
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}
