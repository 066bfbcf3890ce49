//! Signing in: `POST /v1/auth/token`.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use shared::{ErrorCode, Problem, TokenRequest, TokenResponse};

use super::{client_ip::ClientIp, extract::Json};
use crate::{
    AppState,
    auth::{Refused, StrikeKey},
    error::AppError,
    ledger::read,
};

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
/// revokes its tokens; removing an API key from the configuration revokes
/// the admin tokens it gave. Failed sign-ins count against the address and
/// the client id: too many in a window answer 429 until it ends.
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
    client: ClientIp,
    Json(request): Json<TokenRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let strikes = &state.auth.strikes;
    let address = StrikeKey::Address(client.bucket());
    if let Some(wait) = strikes.blocked(&address) {
        return Err(Refused::blocked(wait).into());
    }
    match request {
        TokenRequest::Admin { api_key } => {
            let issued = state.auth.issue_admin(&api_key);
            if issued.is_err() {
                strikes.strike(address);
            }
            Ok(Json(issued?))
        }
        TokenRequest::Store {
            client_id,
            client_secret,
        } => {
            let credentials = read::store_credentials(&state.read, &client_id).await?;
            // Only known ids are budgeted by id: unknown ones would let a
            // caller grow the table at will; their strikes go to the address.
            let known = credentials
                .as_ref()
                .map(|_| StrikeKey::Client(client_id.clone()));
            if let Some(client) = &known {
                if let Some(wait) = strikes.blocked(client) {
                    return Err(Refused::blocked(wait).into());
                }
                state.limits.sign_in(&client_id)?;
            }
            let hash = credentials.as_ref().map(|c| c.secret_hash.clone());
            let valid = state.auth.hashing.verify(client_secret, hash).await?;
            if !valid {
                strikes.strike(address);
                if let Some(client) = known {
                    strikes.strike(client);
                }
                return Err(bad_credentials("unknown client id or wrong secret"));
            }
            match credentials {
                Some(c) if c.active => Ok(Json(state.auth.issue_store(&client_id, c.generation)?)),
                Some(_) => Err(bad_credentials("the store is deactivated")),
                None => Err(bad_credentials("unknown client id or wrong secret")),
            }
        }
    }
}
