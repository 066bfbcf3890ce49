//! Replication: a consistent snapshot to start from, then the change log,
//! long-polled, in strict offset order.

mod notify;
mod positions;
pub mod snapshot;
pub mod tail;

use std::time::Duration;

pub use ledger::ChangesPage;
use tokio::time::Instant;

pub use notify::{Notifier, Subscription};
pub use positions::Positions;
pub use tail::Tail;

use crate::{AppState, error::AppError};

#[derive(Debug, Clone)]
pub struct ChangesQuery {
    pub from: u64,
    pub limit: u32,
    pub wait: Duration,
    pub store: Option<String>,
}

/// Events after `from`. Returns at once if there are any; otherwise waits
/// for a commit that concerns the caller, up to `wait`, and returns an empty
/// page (with the offset scanned up to) if none comes or the server stops.
pub async fn changes(state: &AppState, query: &ChangesQuery) -> Result<ChangesPage, AppError> {
    // The first read also validates the store and the offset, so nothing is
    // subscribed on behalf of a request that is refused.
    let mut page = page(state, query).await?;
    if !page.events.is_empty() || query.wait.is_zero() {
        return Ok(page);
    }
    let _waiting = crate::observability::LongPollGuard::enter();
    let mut subscription = state.notifier.subscribe(query.store.as_deref());
    let deadline = Instant::now() + query.wait;
    loop {
        // A commit that concerns us may have landed between the read and the
        // subscription: then read again rather than wait.
        if subscription.latest() <= page.head {
            tokio::select! {
                () = subscription.changed() => {}
                // Read once more: a store's follower then moves past the
                // other stores' events committed while it waited.
                () = tokio::time::sleep_until(deadline) => return self::page(state, query).await,
                () = state.shutdown.cancelled() => return Ok(page),
            }
        }
        page = self::page(state, query).await?;
        if !page.events.is_empty() {
            return Ok(page);
        }
    }
}

/// A page from the in-memory tail when it holds one, else from the database.
async fn page(state: &AppState, query: &ChangesQuery) -> Result<ChangesPage, AppError> {
    let store = query.store.as_deref();
    if store.is_none_or(|s| state.access.get(s).is_some()) {
        match state.tail.page(query.from, query.limit, store) {
            tail::Answer::Page(page) => return Ok(page),
            tail::Answer::Gone { oldest, head } => {
                return Err(AppError::OffsetGone {
                    from: query.from,
                    oldest,
                    head,
                });
            }
            tail::Answer::Unknown => {}
        }
    }
    // Boxed: the database read's future is large and rarely needed, and
    // every waiting long-poll would otherwise carry room for it.
    Ok(Box::pin(state.reader.changes(query.from, query.limit, store)).await?)
}
