//! Signing in: `POST /v1/auth/token`.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use shared::{ErrorCode, Problem, TokenRequest, TokenResponse};

use super::extract::Json;
use crate::{AppState, auth::verify_secret, error::AppError};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/token", post(token))
}

fn bad_credentials(detail: &str) -> AppError {
    AppError::invalid(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        detail,
    )
}

/// Exchange credentials for a short-lived bearer token.
///
/// A store sends `client_id` (its store id) and `client_secret`; an admin
/// sends `api_key`. Tokens last `expires_in` seconds: to refresh, sign in
/// again before then. Rotating a store's secret or deactivating the store
/// revokes its tokens.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth",
    security(()),
    request_body = TokenRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`invalid_credentials` or `invalid_api_key`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither shape of credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn token(
    State(state): State<AppState>,
    Json(request): Json<TokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    match request {
        TokenRequest::Admin { api_key } => {
            let subject = state.auth.admin_for_key(&api_key).ok_or_else(|| {
                AppError::invalid(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::InvalidApiKey,
                    "unknown API key",
                )
            })?;
            Ok(Json(state.auth.issue_admin(subject.to_string())?))
        }
        TokenRequest::Store {
            client_id,
            client_secret,
        } => {
            let row: Option<(String, bool, i64)> = sqlx::query_as(
                "SELECT secret_hash, active, credential_generation FROM stores WHERE store_id = ?",
            )
            .bind(&client_id)
            .fetch_optional(&state.read)
            .await?;
            let hash = row.as_ref().map(|(hash, ..)| hash.clone());
            // Argon2 is slow on purpose: keep it off the async workers.
            let valid =
                tokio::task::spawn_blocking(move || verify_secret(&client_secret, hash.as_deref()))
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
            match row {
                Some((_, true, generation)) if valid => {
                    Ok(Json(state.auth.issue_store(&client_id, generation as u64)?))
                }
                Some((_, false, _)) if valid => Err(bad_credentials("the store is deactivated")),
                _ => Err(bad_credentials("unknown client id or wrong secret")),
            }
        }
    }
}
