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
}

impl StoreError {
    /// Whether retrying later may succeed (maps to 4xx / NO [UNAVAILABLE]).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Backend(_))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
