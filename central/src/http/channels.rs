//! Sales channels, as admins register them: the web shop signs in with the
//! credentials these give and may then only read availability and hold.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use shared::{Channel, ChannelCredentials, NewChannel, Problem, StoreId, validate};

use super::extract::{Json, Path};
use crate::{AppState, error::AppError};
use ledger::cmd::{CreateChannel, SetChannelActive};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/channels",
            post(create_channel).get(list_channels),
        )
        .route(
            "/v1/admin/channels/{channel_id}/deactivate",
            post(deactivate_channel),
        )
        .route(
            "/v1/admin/channels/{channel_id}/activate",
            post(activate_channel),
        )
}

/// Register a sales channel. The answer holds its client secret: the only
/// time central shows it (it keeps a hash). The channel signs in at `POST
/// /v1/auth/token` with `channel_id` and `channel_secret`.
#[utoipa::path(post, path = "/v1/admin/channels", tag = "admin",
    request_body = NewChannel,
    responses(
        (status = 201, body = ChannelCredentials),
        (status = 409, description = "`channel_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_channel(
    State(state): State<AppState>,
    Json(mut new): Json<NewChannel>,
) -> Result<(StatusCode, Json<ChannelCredentials>), AppError> {
    let mut errors = Vec::new();
    validate::new_channel(&new, &mut errors);
    AppError::check_fields(errors)?;
    let (secret, hash) = state.auth.hashing.secret(new.client_secret.take()).await?;
    let channel = state
        .ledger
        .run(CreateChannel {
            new,
            secret_hash: hash,
        })
        .await??;
    Ok((
        StatusCode::CREATED,
        Json(ChannelCredentials {
            channel,
            client_secret: secret,
        }),
    ))
}

/// Every sales channel.
#[utoipa::path(get, path = "/v1/admin/channels", tag = "admin",
    responses((status = 200, body = Vec<Channel>)))]
pub async fn list_channels(State(state): State<AppState>) -> Result<Json<Vec<Channel>>, AppError> {
    Ok(Json(state.reader.channels().await?))
}

async fn set_active(
    state: &AppState,
    channel_id: StoreId,
    active: bool,
) -> Result<Json<Channel>, AppError> {
    let set = SetChannelActive {
        channel_id: channel_id.into(),
        active,
    };
    Ok(Json(state.ledger.run(set).await??))
}

/// Deactivate a sales channel: its tokens stop working and it cannot sign
/// in. Its holds stay until they expire or a store hands them over.
#[utoipa::path(post, path = "/v1/admin/channels/{channel_id}/deactivate", tag = "admin",
    params(("channel_id" = StoreId, Path, description = "The channel's id")),
    responses(
        (status = 200, body = Channel),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deactivate_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<StoreId>,
) -> Result<Json<Channel>, AppError> {
    set_active(&state, channel_id, false).await
}

/// Activate a sales channel again; tokens from before stay revoked.
#[utoipa::path(post, path = "/v1/admin/channels/{channel_id}/activate", tag = "admin",
    params(("channel_id" = StoreId, Path, description = "The channel's id")),
    responses(
        (status = 200, body = Channel),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<StoreId>,
) -> Result<Json<Channel>, AppError> {
    set_active(&state, channel_id, true).await
}
