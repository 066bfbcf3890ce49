//! Extractors whose rejections are problems with a stable code, so malformed
//! input never leaves as axum's plain-text default.

use axum::{
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use shared::{ErrorCode, IDEMPOTENCY_KEY_HEADER};

use crate::{AppState, error::AppError};

/// A JSON body, read within `--body-timeout-secs` in all (a body that
/// trickles in a byte at a time is cut at the deadline: 408).
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let deadline = state.config.body_timeout();
        match tokio::time::timeout(deadline, axum::Json::<T>::from_request(request, state)).await {
            Ok(Ok(axum::Json(value))) => Ok(Json(value)),
            Ok(Err(rejection)) => Err(rejection.into()),
            Err(_) => Err(AppError::invalid(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                format!("the body did not arrive within {} s", deadline.as_secs()),
            )),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let (status, code) = match &rejection {
            JsonRejection::JsonDataError(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidBody)
            }
            JsonRejection::JsonSyntaxError(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson)
            }
            JsonRejection::MissingJsonContentType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            _ => (StatusCode::BAD_REQUEST, ErrorCode::InvalidBody),
        };
        AppError::invalid(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::invalid(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            rejection.body_text(),
        )
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::invalid(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidPath,
            rejection.body_text(),
        )
    }
}

/// The `Idempotency-Key` header, required on single adjustments.
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(IDEMPOTENCY_KEY_HEADER).ok_or_else(|| {
            AppError::invalid(
                StatusCode::BAD_REQUEST,
                ErrorCode::IdempotencyKeyMissing,
                "send the write with an Idempotency-Key header (a UUID made once per write)",
            )
        })?;
        let invalid = |detail: String| {
            AppError::invalid(
                StatusCode::BAD_REQUEST,
                ErrorCode::IdempotencyKeyInvalid,
                detail,
            )
        };
        let key = value
            .to_str()
            .map_err(|_| invalid("the Idempotency-Key header is not ASCII".into()))?;
        let key = shared::IdempotencyKey::try_from(key.to_owned()).map_err(invalid)?;
        Ok(IdempotencyKey(key.into_inner()))
    }
}

/// The page size a listing asked for, 1 to `max` (default 100).
pub fn page_limit(page: &shared::api::PageQuery, max: u32) -> Result<u32, AppError> {
    bounded("limit", page.limit.unwrap_or(100.min(max)), 1, max)
}

/// A query parameter that must be within `min..=max`.
pub fn bounded(name: &str, value: u32, min: u32, max: u32) -> Result<u32, AppError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::invalid(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            format!("{name} must be within {min}..={max}, got {value}"),
        ))
    }
}
