//! Signing in (`POST /v1/auth/token`) and enrolling a device (`POST
//! /v1/devices`): the two places a secret is exchanged for something.

use std::net::IpAddr;

use axum::{extract::State, http::StatusCode};
use shared::{
    DeviceCredentials, EnrolRequest, ErrorCode, Problem, TokenRequest, TokenResponse, api, validate,
};

use super::Routes;
use super::{client_ip::ClientIp, extract::Json};
use crate::{
    AppState,
    auth::{Refused, generate_secret, hash_generated},
    error::AppError,
};
use ledger::cmd::{EnrolDevice, NewDevice};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::SignIn, _, _>(token)
        .add::<api::EnrolDevice, _, _>(enrol)
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
/// A store sends `client_id` (its store id) and `client_secret`; an
/// enrolled device `device_id` and `device_secret`; a sales channel
/// `channel_id` and `channel_secret`; an admin sends `api_key`. Tokens last `expires_in` seconds: to refresh, sign in
/// again before then. Rotating a store's secret or deactivating the store
/// revokes its tokens; removing an API key from the configuration revokes
/// the admin tokens it gave; revoking a device revokes
/// its tokens (rotating its store's secret does not). Failed sign-ins count against the address and
/// against the id from that address: too many in a window answer 429 until it ends, to that
/// address only — the right secret from elsewhere still signs in.
#[utoipa::path(post, path = api::SignIn::PATH, tag = "auth",
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
    let address = client.bucket();
    if let Some(wait) = strikes.blocked(address, None) {
        return Err(Refused::blocked(wait).into());
    }
    match request {
        TokenRequest::Admin { api_key } => {
            let issued = state.auth.issue_admin(&api_key);
            if issued.is_err() {
                strikes.strike(address, None);
            }
            Ok(Json(issued?))
        }
        TokenRequest::Device {
            device_id,
            device_secret,
        } => {
            let credentials = state.reader.device_secret(&device_id).await?;
            let hash = credentials.as_ref().map(|c| c.secret_hash.clone());
            let subject = format!("device:{device_id}");
            if !checked_secret(&state, address, &subject, hash, device_secret).await? {
                return Err(bad_credentials("unknown device or wrong secret"));
            }
            match credentials {
                Some(c) if c.revoked => {
                    Err(bad_credentials("the device was revoked; enrol it again"))
                }
                Some(c) if !state.auth.access.get(&c.store_id).is_some_and(|a| a.active) => {
                    Err(bad_credentials("the device's store is deactivated"))
                }
                Some(c) => Ok(Json(state.auth.issue_device(&c.store_id, &device_id)?)),
                None => Err(bad_credentials("unknown device or wrong secret")),
            }
        }
        TokenRequest::Channel {
            channel_id,
            channel_secret,
        } => {
            let credentials = state.reader.channel_secret(&channel_id).await?;
            let hash = credentials.as_ref().map(|c| c.secret_hash.clone());
            let subject = format!("channel:{channel_id}");
            if !checked_secret(&state, address, &subject, hash, channel_secret).await? {
                return Err(bad_credentials("unknown channel or wrong secret"));
            }
            match credentials {
                Some(c) if c.active => {
                    Ok(Json(state.auth.issue_channel(&channel_id, c.generation)?))
                }
                Some(_) => Err(bad_credentials("the sales channel is deactivated")),
                None => Err(bad_credentials("unknown channel or wrong secret")),
            }
        }
        TokenRequest::Store {
            client_id,
            client_secret,
        } => {
            let credentials = state.reader.store_secret(&client_id).await?;
            let hash = credentials.as_ref().map(|c| c.secret_hash.clone());
            let subject = format!("store:{client_id}");
            if !checked_secret(&state, address, &subject, hash, client_secret).await? {
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

/// Enrol a device (a till) with its store's secret.
///
/// The answer holds the device's own credential, shown only this once
/// (central keeps a hash): the device signs in with it at `POST
/// /v1/auth/token` from then on, and needs the store's secret no more.
/// Central records the device on every write it makes; an admin can revoke
/// it (`POST /v1/admin/devices/{device_id}/revoke`) without touching the
/// store's secret or its other devices. A store has at most
/// `--max-devices-per-store` enrolled devices (409 `device_limit`). Failed
/// enrolments count against the address and the store from that address,
/// as failed sign-ins with the store's secret do (one budget for both).
#[utoipa::path(post, path = api::EnrolDevice::PATH, tag = "auth",
    security(()),
    request_body = EnrolRequest,
    responses(
        (status = 201, body = DeviceCredentials),
        (status = 401, description = "`invalid_credentials`: unknown store, wrong secret or a deactivated store", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`device_limit`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn enrol(
    State(state): State<AppState>,
    client: ClientIp,
    Json(request): Json<EnrolRequest>,
) -> Result<(StatusCode, Json<DeviceCredentials>), AppError> {
    let mut errors = Vec::new();
    validate::enrol(&request, &mut errors);
    AppError::check_fields(errors)?;
    let address = client.bucket();
    if let Some(wait) = state.auth.strikes.blocked(address, None) {
        return Err(Refused::blocked(wait).into());
    }
    let EnrolRequest {
        store_id,
        client_secret,
        device_name,
    } = request;
    let credentials = state.reader.store_secret(&store_id).await?;
    let hash = credentials.as_ref().map(|c| c.secret_hash.clone());
    let subject = format!("store:{store_id}");
    if !checked_secret(&state, address, &subject, hash, client_secret).await? {
        return Err(bad_credentials("unknown store id or wrong secret"));
    }
    match credentials {
        Some(c) if c.active => {}
        _ => return Err(bad_credentials("the store is deactivated")),
    }
    let secret = generate_secret();
    let device = NewDevice {
        device_id: new_device_id(),
        store_id,
        name: device_name,
    };
    let enrolled = state
        .ledger
        .run(EnrolDevice {
            device,
            secret_hash: hash_generated(&secret),
            limit: state.config.max_devices_per_store,
        })
        .await??;
    Ok((
        StatusCode::CREATED,
        Json(DeviceCredentials {
            device: enrolled,
            device_secret: secret,
        }),
    ))
}

/// Checks a client's secret against `hash` (its stored hash; `None` for an
/// id central does not know, checked against a dummy so both take as long)
/// under the guessing budget of `subject` (the id, named by its kind:
/// `store:s1`) from `address`. A known id that is blocked from this address
/// is refused unchecked; otherwise it is charged a sign-in from this
/// address; a wrong secret is a strike against the address and the known
/// id from it. Both budgets are the caller's own: a stranger's wrong
/// guesses from another address never refuse the right secret. Only known
/// ids are budgeted by id: unknown ones would let a caller grow the tables
/// at will (they count against the address).
async fn checked_secret(
    state: &AppState,
    address: IpAddr,
    subject: &str,
    hash: Option<String>,
    secret: String,
) -> Result<bool, AppError> {
    let strikes = &state.auth.strikes;
    let known = hash.is_some();
    if known {
        if let Some(wait) = strikes.blocked(address, Some(subject)) {
            return Err(Refused::blocked_id(wait).into());
        }
        state.limits.sign_in(address, subject)?;
    }
    let valid = state.auth.hashing.verify(secret, hash).await?;
    if !valid {
        strikes.strike(address, known.then_some(subject));
    }
    Ok(valid)
}

/// "dev-" and 20 random hex digits (80 bits): unguessable, and no store's
/// pick can collide with it by accident.
fn new_device_id() -> String {
    format!("dev-{}", &generate_secret()[..20])
}
