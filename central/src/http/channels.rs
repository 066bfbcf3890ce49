//! Sales channels, as admins register and bound them: the web shop signs
//! in with the credentials these give and may then only read availability
//! and hold, within its limits. What a leaked channel credential can do is
//! bounded by those limits; an admin stops it here: deactivation ends its
//! tokens and gives back everything it holds, rotation ends its secret.

use axum::{extract::State, http::StatusCode};
use shared::{
    Channel, ChannelActivated, ChannelCredentials, ChannelHolds, ChannelId, ChannelLimits,
    NewChannel, Problem, api, validate,
};

use super::Routes;
use super::extract::{Json, Path, Query};
use crate::{
    AppState,
    auth::{generate_secret, hash_generated},
    error::AppError,
};
use ledger::cmd::{CreateChannel, RotateChannelSecret, SetChannelActive, SetChannelLimits};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::CreateChannel, _, _>(create_channel)
        .add::<api::ListChannels, _, _>(list_channels)
        .add::<api::DeactivateChannel, _, _>(deactivate_channel)
        .add::<api::ActivateChannel, _, _>(activate_channel)
        .add::<api::RotateChannelSecret, _, _>(rotate_channel_secret)
        .add::<api::SetChannelLimits, _, _>(set_limits)
        .add::<api::ListChannelHolds, _, _>(channel_holds)
}

/// Register a sales channel. The answer holds its `channel_secret`: the only
/// time central shows it (it keeps a hash). The channel signs in at `POST
/// /v1/auth/token` with `channel_id` and `channel_secret`. Without
/// `limits` it gets the defaults: at most 10,000 units held at once, any
/// share of a level, each hold living at most a day.
#[utoipa::path(post, path = api::CreateChannel::PATH, tag = "admin",
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
    let (secret, hash) = state.auth.hashing.secret(new.channel_secret.take()).await?;
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
            channel_secret: secret,
        }),
    ))
}

/// Every sales channel, with its limits and what it holds now.
#[utoipa::path(get, path = api::ListChannels::PATH, tag = "admin",
    responses((status = 200, body = Vec<Channel>)))]
pub async fn list_channels(State(state): State<AppState>) -> Result<Json<Vec<Channel>>, AppError> {
    Ok(Json(state.reader.channels().await?))
}

/// Deactivate a sales channel: its tokens stop working on every central,
/// it cannot sign in, and central gives back every unit it holds — its
/// active holds are released (`reason` `channel_deactivated`), in bounded
/// chunks, soon after this answers.
#[utoipa::path(post, path = api::DeactivateChannel::PATH, tag = "admin",
    params(("channel_id" = ChannelId, Path, description = "The channel's id")),
    responses(
        (status = 200, body = Channel),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deactivate_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<ChannelId>,
) -> Result<Json<Channel>, AppError> {
    let set = SetChannelActive {
        channel_id: channel_id.into(),
        active: false,
        secret_hash: None,
    };
    Ok(Json(state.ledger.run(set).await??))
}

/// Activate a sales channel again; tokens from before stay revoked. It
/// gets a new secret, shown in the answer once, unless `keep_secret`.
#[utoipa::path(post, path = api::ActivateChannel::PATH, tag = "admin",
    params(("channel_id" = ChannelId, Path, description = "The channel's id"), api::ActivateQuery),
    responses(
        (status = 200, body = ChannelActivated),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<ChannelId>,
    Query(query): Query<api::ActivateQuery>,
) -> Result<Json<ChannelActivated>, AppError> {
    let secret = (!query.keep_secret).then(generate_secret);
    let set = SetChannelActive {
        channel_id: channel_id.into(),
        active: true,
        secret_hash: secret.as_deref().map(hash_generated),
    };
    Ok(Json(ChannelActivated {
        channel: state.ledger.run(set).await??,
        channel_secret: secret,
    }))
}

/// Give a sales channel a new secret (made by central, 256 bits); the old
/// one and every token issued with it stop working at once, on every
/// central. The answer is the only time central shows it.
#[utoipa::path(post, path = api::RotateChannelSecret::PATH, tag = "admin",
    params(("channel_id" = ChannelId, Path, description = "The channel's id")),
    responses(
        (status = 200, body = ChannelCredentials),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_channel_secret(
    State(state): State<AppState>,
    Path(channel_id): Path<ChannelId>,
) -> Result<Json<ChannelCredentials>, AppError> {
    let secret = generate_secret();
    let rotate = RotateChannelSecret {
        channel_id: channel_id.into(),
        secret_hash: hash_generated(&secret),
    };
    Ok(Json(ChannelCredentials {
        channel: state.ledger.run(rotate).await??,
        channel_secret: secret,
    }))
}

/// Set what a sales channel may hold at most. Holds it placed before keep
/// what they hold; the limits bound what it places and extends from now.
#[utoipa::path(put, path = api::SetChannelLimits::PATH, tag = "admin",
    params(("channel_id" = ChannelId, Path, description = "The channel's id")),
    request_body = ChannelLimits,
    responses(
        (status = 200, body = Channel),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_limits(
    State(state): State<AppState>,
    Path(channel_id): Path<ChannelId>,
    Json(limits): Json<ChannelLimits>,
) -> Result<Json<Channel>, AppError> {
    let mut errors = Vec::new();
    validate::channel_limits(&limits, &mut errors);
    AppError::check_fields(errors)?;
    let set = SetChannelLimits {
        channel_id: channel_id.into(),
        limits,
    };
    Ok(Json(state.ledger.run(set).await??))
}

/// What a sales channel holds now: its active holds counted, the units
/// they hold per store, and the 500 soonest to expire. An admin releases
/// any of them with `POST /v1/holds/{hold_id}/release`, or all at once by
/// deactivating the channel.
#[utoipa::path(get, path = api::ListChannelHolds::PATH, tag = "admin",
    params(("channel_id" = ChannelId, Path, description = "The channel's id")),
    responses(
        (status = 200, body = ChannelHolds),
        (status = 404, description = "`channel_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn channel_holds(
    State(state): State<AppState>,
    Path(channel_id): Path<ChannelId>,
) -> Result<Json<ChannelHolds>, AppError> {
    Ok(Json(
        state
            .reader
            .channel_holds(&channel_id, shared::limits::CHANNEL_HOLDS_LISTED)
            .await?,
    ))
}
