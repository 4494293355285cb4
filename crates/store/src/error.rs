//! Store errors: what a caller can act on, not how the backend failed.

/// An error from any store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing already exists or is still in use.
    #[error("{0}")]
    Conflict(String),
    /// The request is not valid for the current state.
    #[error("{0}")]
    Invalid(String),
    /// The account is over its quota.
    #[error("mailbox full: {0}")]
    OverQuota(String),
    /// Disk or database trouble; the operation did not take effect.
    #[error("storage failure: {0}")]
    Backend(String),
    /// The disk is full; the operation did not take effect, and may once
    /// space is freed (SMTP 452 4.3.1, IMAP NO [OVERQUOTA]).
    #[error("mail storage full: {0}")]
    Full(String),
}

impl StoreError {
    /// Whether retrying later may succeed (maps to 4xx / NO [UNAVAILABLE]).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Backend(_) | StoreError::Full(_))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        // ENOSPC, and EDQUOT (a file system quota on the server's user).
        if e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122)) {
            StoreError::Full(e.to_string())
        } else {
            StoreError::Backend(e.to_string())
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
