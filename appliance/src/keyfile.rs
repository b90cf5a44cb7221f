//! Key and secret files: written once with mode 0600, and refused when
//! anyone but the owner could read them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::ledger::NodeKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} already exists; refusing to overwrite a key or secret")]
    Exists { path: String },
    #[error("{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")]
    Permissions { path: String, mode: u32 },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn io_err(path: &Path, source: std::io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `path` with mode 0600 and writes `data`; never overwrites.
pub fn write_secret(path: &Path, data: &[u8]) -> Result<(), KeyFileError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists {
                path: path.display().to_string(),
            },
            _ => io_err(path, e),
        })?;
    f.write_all(data).map_err(|e| io_err(path, e))?;
    f.sync_all().map_err(|e| io_err(path, e))
}

/// Reads a secret file, refusing one that group or others may read.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    fs::read(path).map_err(|e| io_err(path, e))
}

pub fn read_node_key(path: &Path) -> Result<NodeKey, KeyFileError> {
    let der = read_secret(path)?;
    NodeKey::from_pkcs8(&der).map_err(|e| KeyFileError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Generates a new node key at `path` (0600) and returns it.
pub fn generate_node_key(path: &Path) -> Result<NodeKey, KeyFileError> {
    let der = NodeKey::generate_pkcs8(&ring::rand::SystemRandom::new()).map_err(|e| {
        KeyFileError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    write_secret(path, &der)?;
    read_node_key(path)
}

/// Reads a hex-encoded secret (whitespace trimmed).
pub fn read_hex_secret(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let raw = read_secret(path)?;
    let text = String::from_utf8_lossy(&raw);
    hex::decode(text.trim()).map_err(|e| KeyFileError::Invalid {
        path: path.display().to_string(),
        reason: format!("not hex: {e}"),
    })
}

/// Reads a token file as text (whitespace trimmed).
pub fn read_token(path: &Path) -> Result<String, KeyFileError> {
    let raw = read_secret(path)?;
    let token = String::from_utf8_lossy(&raw).trim().to_string();
    if token.len() < 16 {
        return Err(KeyFileError::Invalid {
            path: path.display().to_string(),
            reason: "token is shorter than 16 characters".into(),
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_0600_never_overwritten_and_checked_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        let k = generate_node_key(&p).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_node_key(&p).unwrap().public(), k.public());
        assert!(matches!(
            generate_node_key(&p),
            Err(KeyFileError::Exists { .. })
        ));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_node_key(&p),
            Err(KeyFileError::Permissions { .. })
        ));
        let junk = dir.path().join("junk.key");
        write_secret(&junk, b"junk").unwrap();
        assert!(matches!(
            read_node_key(&junk),
            Err(KeyFileError::Invalid { .. })
        ));
    }
}
