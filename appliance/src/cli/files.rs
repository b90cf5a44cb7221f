//! Files the command line writes.

use std::path::Path;

use crate::app::AppError;

/// Writes a new file; an existing one is never overwritten.
pub(crate) fn write_new(path: &Path, text: &str) -> Result<(), AppError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| AppError::Io {
            context: format!("creating {}", path.display()),
            source,
        })?;
    f.write_all(text.as_bytes()).map_err(|source| AppError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// Writes a file, replacing what was there.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), AppError> {
    std::fs::write(path, text).map_err(|source| AppError::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}
