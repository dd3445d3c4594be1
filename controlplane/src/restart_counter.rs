//! This node's RFC 5847 Restart Counter, kept in a small state file.
//!
//! RFC 5847 §5.3: the counter increases at every restart that loses the PMIPv6 session state. A start that
//! restores the durable state ([`crate::durable`]) keeps it ([`stored_restart_counter`]); any other start calls
//! [`next_restart_counter`] once. The file holds the decimal value; it is replaced atomically (write a temporary
//! file, then rename), so a crash leaves the old or the new value, never a torn one.

use std::fs;
use std::io;
use std::path::Path;
use thiserror::Error;

/// Why the counter could not be read or stored.
#[derive(Debug, Error)]
pub enum RestartCounterError {
    #[error("cannot read restart counter file {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("restart counter file {path} holds {content:?}, not a number")]
    Corrupt { path: String, content: String },
    #[error("cannot write restart counter file {path}: {source}")]
    Write { path: String, source: io::Error },
}

/// The stored counter, None if the file does not exist.
pub fn stored_restart_counter(path: &Path) -> Result<Option<u32>, RestartCounterError> {
    let shown = path.display().to_string();
    match fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| RestartCounterError::Corrupt { path: shown, content: text.clone() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RestartCounterError::Read { path: shown, source }),
    }
}

/// Reads the stored counter (0 if the file does not exist), stores and returns the next value (wrapping).
pub fn next_restart_counter(path: &Path) -> Result<u32, RestartCounterError> {
    let shown = path.display().to_string();
    let previous = stored_restart_counter(path)?.unwrap_or(0);
    let next = previous.wrapping_add(1);
    let write = || -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, format!("{next}\n"))?;
        fs::rename(&tmp, path)
    };
    write().map_err(|source| RestartCounterError::Write { path: shown, source })?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_across_starts_and_reports_corruption() {
        let dir = std::env::temp_dir().join(format!("pmipgw-rc-{}", std::process::id()));
        let file = dir.join("state/restart-counter");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(next_restart_counter(&file).unwrap(), 1);
        assert_eq!(next_restart_counter(&file).unwrap(), 2);
        assert_eq!(fs::read_to_string(&file).unwrap(), "2\n");
        fs::write(&file, "two").unwrap();
        let err = next_restart_counter(&file).unwrap_err().to_string();
        assert!(err.contains("not a number"), "{err}");
        fs::write(&file, format!("{}", u32::MAX)).unwrap();
        assert_eq!(next_restart_counter(&file).unwrap(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
