//! Liveness and readiness for orchestrators and load balancers.

use axum::{Router, extract::State, http::StatusCode};
use shared::{ErrorCode, api, api::Health};

use super::extract::Json;
use crate::{AppState, error::AppError};

pub fn router() -> Router<AppState> {
    let router = super::route::<api::GetHealth, _, _>(Router::new(), healthz);
    super::route::<api::GetReadiness, _, _>(router, readyz)
}

/// The process is up.
#[utoipa::path(get, path = api::GetHealth::PATH, tag = "operations",
    security(()),
    responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        head: state.notifier.head(),
    })
}

/// The database answers and the writer takes writes.
#[utoipa::path(get, path = api::GetReadiness::PATH, tag = "operations",
    security(()),
    responses(
        (status = 200, body = Health),
        (status = 503, body = shared::Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    let unavailable = |detail: &str| {
        AppError::invalid(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            detail,
        )
    };
    state
        .reader
        .ping()
        .await
        .map_err(|_| unavailable("the database does not answer"))?;
    if state.ledger.is_closed() || !state.tail.is_ready() {
        return Err(unavailable("the ledger writer is not running yet"));
    }
    Ok(Json(Health {
        status: "ready".into(),
        head: state.notifier.head(),
    }))
}
