//! Replication endpoints: snapshot, then long-polled changes.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, response::Response};
use shared::{ChangesPage, ErrorCode, Problem, Snapshot, api};

use super::Routes;
use super::extract::{Json, Query, bounded};
use crate::{
    AppState,
    auth::Principal,
    error::AppError,
    observability,
    replication::{self, ChangesQuery},
};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::GetSnapshot, _, _>(snapshot)
        .add::<api::GetChanges, _, _>(changes)
}

/// Catalogue, stores and levels, consistent at `offset`, streamed.
///
/// A store gets its own levels (`store` may only name itself); an admin
/// gets one store's, or every store's without `store`.
#[utoipa::path(get, path = api::GetSnapshot::PATH, tag = "replication",
    params(api::SnapshotQuery),
    responses(
        (status = 200, body = Snapshot),
        (status = 403, description = "`forbidden_store`: a store asked for another store's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown store", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many snapshots at once; retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn snapshot(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<api::SnapshotQuery>,
) -> Result<Response, AppError> {
    let store = scope(&principal, params.store.map(String::from))?;
    replication::snapshot::stream(
        &state.reader,
        &state.snapshots,
        state.config.snapshot_timeout(),
        store,
        &state.config.currency,
    )
    .await
}

/// The store a replication read is about: a store reads its own (and may
/// name only itself), an admin whichever it names, or all.
fn scope(principal: &Principal, asked: Option<String>) -> Result<Option<String>, AppError> {
    match (principal.store_id(), asked) {
        (Some(own), Some(asked)) => {
            principal.may_read_store(&asked)?;
            debug_assert_eq!(own, asked);
            Ok(Some(asked))
        }
        (Some(own), None) => Ok(Some(own.to_owned())),
        (None, asked) => Ok(asked),
    }
}

/// Events after `from`, in offset order. A store reads its own events and
/// the catalogue's (`store` may only name itself). Long-polls up to `wait` seconds when
/// there is nothing yet. 410 `offset_gone` when `from` was pruned: fetch a
/// snapshot and continue from its offset.
#[utoipa::path(get, path = api::GetChanges::PATH, tag = "replication",
    params(api::ChangesQuery),
    responses(
        (status = 200, body = ChangesPage),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown store", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`offset_gone`: re-bootstrap from a snapshot", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn changes(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<api::ChangesQuery>,
) -> Result<Json<replication::ChangesPage>, AppError> {
    let store = scope(&principal, params.store.map(String::from))?;
    if let Some(store) = &store {
        observability::record_target(store, None);
    }
    let limit = bounded(
        "limit",
        params.limit.unwrap_or(500),
        1,
        state.config.max_page,
    )?;
    let max_wait = state.config.max_wait().as_secs_f64();
    let wait = params.wait.unwrap_or(0.0);
    if !(0.0..=max_wait).contains(&wait) {
        return Err(AppError::invalid(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            format!("wait must be within 0..={max_wait} seconds"),
        ));
    }
    if params.from > shared::limits::MAX_OFFSET {
        return Err(AppError::invalid(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            format!("from must be within 0..={}", shared::limits::MAX_OFFSET),
        ));
    }
    let query = ChangesQuery {
        from: params.from,
        limit,
        wait: Duration::from_secs_f64(wait),
        store,
    };
    let page = replication::changes(&state, &query).await?;
    // A store's node tells central how far it has followed (recorded once
    // the store is known to exist).
    if let Some(store) = &query.store {
        state.positions.record(store, query.from);
    }
    Ok(Json(page))
}
