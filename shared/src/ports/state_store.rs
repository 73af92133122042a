//! Errors of the DynamoDB-backed state the functions share: the file tracker, the processing
//! tracker (leases and refresh history) and the table registry.

use thiserror::Error;

/// A state-store request failed. Never the input's fault: the work is kept and retried.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The store asked us to slow down.
    #[error("throttled by {store}: {detail}")]
    Throttled {
        /// Which store (table role), e.g. `the file tracker`.
        store: &'static str,
        /// Service error code and message.
        detail: String,
    },
    /// The store refused the request (missing table, access denied, validation, server error).
    #[error("{store} refused the request ({code}): {message}")]
    Refused {
        /// Which store.
        store: &'static str,
        /// Service error code.
        code: String,
        /// Service error message.
        message: String,
    },
    /// The request did not complete (connection, timeout, unreadable response).
    #[error("{store} could not be reached: {detail}")]
    Unreachable {
        /// Which store.
        store: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A stored item cannot be read back (a missing or malformed attribute).
    #[error("{store} holds an unreadable item {item}: {problem}")]
    Corrupt {
        /// Which store.
        store: &'static str,
        /// The item's key.
        item: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The write was conditional on a lease this processor no longer holds (it expired and
    /// another processor took the table over). Nothing was written.
    #[error(
        "the lease on {table_id} (fencing token {token}) is no longer held; another processor took the table over, so this one writes nothing more"
    )]
    LeaseLost {
        /// The table.
        table_id: String,
        /// The token this processor held.
        token: u64,
    },
}

impl StoreError {
    /// Whether the request may succeed when repeated (throttling, network trouble).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled { .. } | StoreError::Unreachable { .. }
        )
    }
}
