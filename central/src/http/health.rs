//! Liveness and readiness for orchestrators and load balancers.

use axum::{Router, extract::State, http::StatusCode, routing::get};
use serde::Serialize;
use shared::ErrorCode;

use super::extract::Json;
use crate::{AppState, error::AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    /// Newest committed offset.
    head: u64,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    security(()),
    responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        head: state.notifier.head(),
    })
}

/// The database answers and the writer takes writes.
#[utoipa::path(get, path = "/readyz", tag = "operations",
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
        status: "ready",
        head: state.notifier.head(),
    }))
}
