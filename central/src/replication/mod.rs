//! Replication: a consistent snapshot to start from, then the change log,
//! long-polled, in strict offset order.

mod notify;
mod positions;
pub mod snapshot;
pub mod tail;

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::time::Instant;

pub use notify::{Notifier, Subscription};
pub use positions::Positions;
pub use tail::Tail;

use crate::{AppState, error::AppError, ledger::Refusal};

async fn check_store(conn: &mut SqliteConnection, store_id: &str) -> Result<(), AppError> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM stores WHERE store_id = ?")
        .bind(store_id)
        .fetch_optional(conn)
        .await?;
    found.map(drop).ok_or_else(|| {
        Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }
        .into()
    })
}

async fn positions(conn: &mut SqliteConnection) -> Result<(u64, u64), AppError> {
    let (head, pruned): (i64, i64) =
        sqlx::query_as("SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1")
            .fetch_one(conn)
            .await?;
    Ok((head as u64, pruned as u64))
}

#[derive(Debug, Clone)]
pub struct ChangesQuery {
    pub from: u64,
    pub limit: u32,
    pub wait: Duration,
    pub store: Option<String>,
}

/// A page of the change log as served: each event is the JSON the writer
/// stored, passed through untouched. Same shape as [`shared::ChangesPage`].
#[derive(Debug, Serialize)]
pub struct ChangesPage {
    pub events: Vec<Box<RawValue>>,
    pub next_offset: u64,
    pub head: u64,
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

/// A page from the in-memory tail when it holds one, else from SQLite.
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
    Box::pin(read_page(&state.read, query)).await
}

async fn read_page(pool: &SqlitePool, query: &ChangesQuery) -> Result<ChangesPage, AppError> {
    let mut tx = pool.begin().await?;
    let (head, pruned_through) = positions(&mut tx).await?;
    if let Some(store) = &query.store {
        check_store(&mut tx, store).await?;
    }
    if query.from < pruned_through || query.from > head {
        return Err(AppError::OffsetGone {
            from: query.from,
            oldest: pruned_through,
            head,
        });
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, data FROM events
         WHERE seq > ?1 AND seq <= ?2 AND (?3 IS NULL OR store_id = ?3 OR store_id IS NULL)
         ORDER BY seq LIMIT ?4",
    )
    .bind(query.from as i64)
    .bind(head as i64)
    .bind(&query.store)
    .bind(i64::from(query.limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    // A full page ends at its last event; a short one saw everything up to head.
    let next_offset = match rows.last() {
        Some((seq, _)) if rows.len() == query.limit as usize => *seq as u64,
        _ => head,
    };
    let events = rows
        .into_iter()
        .map(|(_, data)| RawValue::from_string(data))
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(ChangesPage {
        events,
        next_offset,
        head,
    })
}
