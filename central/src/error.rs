//! The crate's one error type and its one mapping to HTTP: every refusal and
//! failure leaves as an RFC 9457 problem with a stable `code`. Internals are
//! logged, never shown.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use shared::{ErrorCode, FieldError, HoldState, PROBLEM_CONTENT_TYPE, Problem};

use ledger::{ReadError, Refusal, WriteError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Bad input: a body, query, path or header the API cannot take.
    #[error("{detail}")]
    Invalid {
        status: StatusCode,
        code: ErrorCode,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Too many requests from this client: come back in `retry_after` s.
    #[error("{detail}")]
    RateLimited { retry_after: u64, detail: String },
    /// Central is at a bound it keeps (concurrent hashes, snapshots): the
    /// request was not taken; retry in a moment.
    #[error("{0}")]
    Busy(&'static str),
    #[error("offset {from} is outside the retained change log ({oldest}..={head})")]
    OffsetGone { from: u64, oldest: u64, head: u64 },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The ledger's read errors, mapped here and nowhere else.
impl From<ReadError> for AppError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Refused(refusal) => AppError::Refused(refusal),
            ReadError::OffsetGone { from, oldest, head } => {
                AppError::OffsetGone { from, oldest, head }
            }
            ReadError::Busy => AppError::Busy("every read connection is busy; retry in a moment"),
            ReadError::Unavailable => {
                AppError::Busy("the database closed the connection; retry in a moment")
            }
            ReadError::Storage(error) => AppError::Internal(error),
        }
    }
}

impl AppError {
    pub fn invalid(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        AppError::Invalid {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// 422 listing each field that broke a rule; `Ok` if none did.
    pub fn check_fields(errors: Vec<FieldError>) -> Result<(), AppError> {
        if errors.is_empty() {
            return Ok(());
        }
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Err(AppError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::ValidationFailed,
            detail,
            errors,
        })
    }

    pub fn problem(&self) -> Problem {
        match self {
            AppError::Refused(refusal) => refusal_problem(refusal),
            AppError::Invalid {
                status,
                code,
                detail,
                errors,
            } => {
                let mut problem = Problem::new(status.as_u16(), *code, detail.clone());
                problem.errors = errors.clone();
                problem
            }
            AppError::OffsetGone { oldest, .. } => {
                let mut problem = Problem::new(410, ErrorCode::OffsetGone, self.to_string());
                problem.oldest_offset = Some(*oldest);
                problem
            }
            AppError::RateLimited { detail, .. } => {
                Problem::new(429, ErrorCode::RateLimited, detail.clone())
            }
            AppError::Busy(detail) => {
                Problem::new(503, ErrorCode::ServiceUnavailable, detail.to_string())
            }
            AppError::Write(error) => {
                Problem::new(503, ErrorCode::ServiceUnavailable, error.to_string())
            }
            AppError::Internal(_) => Problem::new(500, ErrorCode::Internal, None),
        }
    }
}

/// The problem a ledger refusal answers with. Batch lines use it too, so a
/// line's answer is exactly what the single call would have said.
///
/// A refusal the ledger's state decides (not enough stock, a version that
/// moved, a key used for another request) is 409: the request was well
/// formed and may pass against another state. 422 is kept for requests
/// that break the API's rules, whatever the state.
pub fn refusal_problem(refusal: &Refusal) -> Problem {
    let (status, code) = match refusal {
        Refusal::StoreNotFound { .. } => (404, ErrorCode::StoreNotFound),
        Refusal::StoreInactive { .. } => (409, ErrorCode::StoreInactive),
        Refusal::ProductNotFound { .. } => (404, ErrorCode::ProductNotFound),
        Refusal::ProductInactive { .. } => (409, ErrorCode::ProductInactive),
        Refusal::ProductExists { .. } => (409, ErrorCode::ProductExists),
        Refusal::StoreExists { .. } => (409, ErrorCode::StoreExists),
        Refusal::DeviceNotFound { .. } => (404, ErrorCode::DeviceNotFound),
        Refusal::ChannelNotFound { .. } => (404, ErrorCode::ChannelNotFound),
        Refusal::ChannelExists { .. } => (409, ErrorCode::ChannelExists),
        Refusal::DeviceLimit { .. } => (409, ErrorCode::DeviceLimit),
        Refusal::InsufficientStock { .. } => (409, ErrorCode::InsufficientStock),
        Refusal::LevelOutOfRange { .. } => (409, ErrorCode::LevelOutOfRange),
        Refusal::VersionConflict { .. } | Refusal::ProductVersionConflict { .. } => {
            (409, ErrorCode::VersionConflict)
        }
        Refusal::IdempotencyKeyReused => (422, ErrorCode::IdempotencyKeyReused),
        Refusal::BatchAborted => (424, ErrorCode::BatchAborted),
        Refusal::HoldUnavailable { .. } => (409, ErrorCode::HoldUnavailable),
        Refusal::HoldNotFound { .. } => (404, ErrorCode::HoldNotFound),
        Refusal::HoldEnded {
            state: HoldState::Expired,
            ..
        } => (409, ErrorCode::HoldExpired),
        Refusal::HoldEnded { .. } => (409, ErrorCode::HoldEnded),
        Refusal::HoldLineNotFound { .. } => (409, ErrorCode::HoldLineNotFound),
        Refusal::CommitExceedsHeld { .. } => (409, ErrorCode::CommitExceedsHeld),
        Refusal::ChannelInactive { .. } => (409, ErrorCode::ChannelInactive),
        Refusal::ChannelHoldLimit { .. } => (409, ErrorCode::ChannelHoldLimit),
        Refusal::HoldLifeExceeded { .. } => (409, ErrorCode::HoldLifeExceeded),
    };
    let mut problem = Problem::new(status, code, refusal.to_string());
    match refusal {
        Refusal::InsufficientStock { current, .. }
        | Refusal::LevelOutOfRange { current, .. }
        | Refusal::VersionConflict { current, .. } => {
            problem.current = Some(current.clone());
        }
        Refusal::ProductVersionConflict { current, .. } => {
            problem.current_product = Some(current.clone());
        }
        Refusal::HoldUnavailable { shortfalls } => problem.shortfalls = shortfalls.clone(),
        Refusal::HoldEnded { state, .. } => problem.hold_state = Some(*state),
        Refusal::ChannelHoldLimit {
            max_held_units,
            held_units,
            requested,
            ..
        } => {
            problem.channel_limit = Some(shared::ChannelLimitReached {
                max_held_units: *max_held_units,
                held_units: *held_units,
                requested: *requested,
            });
        }
        Refusal::HoldLifeExceeded {
            latest_expires_at, ..
        } => problem.latest_expires_at = Some(*latest_expires_at),
        _ => {}
    }
    problem
}

/// Turns a problem into the response that carries it.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error")
            }
            AppError::Write(error) => tracing::warn!(%error, "write not taken"),
            AppError::RateLimited { .. } => {
                metrics::counter!(crate::observability::RATE_LIMITED).increment(1);
            }
            _ => {}
        }
        let mut response = problem_response(&self.problem());
        if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let retry_after = match &self {
            AppError::Write(_) | AppError::Busy(_) => Some(1),
            AppError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
