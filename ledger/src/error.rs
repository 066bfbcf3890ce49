//! What can go wrong talking to the ledger, apart from a [`Refusal`]
//! that a write decides and saves (that is part of its output).

use crate::Refusal;

/// Why a write got no answer from the ledger. Each is worth a retry with
/// the same idempotency key: nothing was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the ledger is shutting down")]
    Closed,
    #[error("the ledger's queue is full")]
    Overloaded,
    #[error("the ledger could not commit the write")]
    Storage,
}

/// Why a read has no answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// What was asked for does not exist (a store, a product).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Changes from an offset retention has removed, or one past the head:
    /// the follower starts again from a snapshot.
    #[error("offset {from} is outside the retained change log ({oldest}..={head})")]
    OffsetGone { from: u64, oldest: u64, head: u64 },
    /// Every read connection stayed busy for as long as a read may wait.
    #[error("every read connection is busy")]
    Busy,
    /// The database closed the read's connection (a restart, a
    /// fail-over): worth a retry, on a new one.
    #[error("the database closed the connection")]
    Unavailable,
    /// The database failed; logged by whoever answers the caller.
    #[error(transparent)]
    Storage(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for ReadError {
    fn from(error: rusqlite::Error) -> Self {
        ReadError::Storage(error.into())
    }
}
