//! Rate limiting with tower_governor: a budget per client — the token's
//! subject when signed in, else the peer IP — and a lower one on admin
//! routes. A long-poll is one request however long it waits.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, Request, Response, StatusCode, header},
    response::IntoResponse,
};
use governor::middleware::NoOpMiddleware;
use shared::ErrorCode;
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::KeyExtractor,
};

use crate::{AppState, auth::Principal, config::Config, error::AppError, observability};

/// Keys a request by who sent it. Runs after `auth::identify`.
#[derive(Debug, Clone, Copy)]
pub struct ClientKey;

impl KeyExtractor for ClientKey {
    type Key = String;

    fn extract<T>(&self, request: &Request<T>) -> Result<String, GovernorError> {
        if let Some(subject) = request
            .extensions()
            .get::<Principal>()
            .and_then(Principal::subject)
        {
            return Ok(subject);
        }
        Ok(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "ip:unknown".to_owned(),
                |ConnectInfo(a)| format!("ip:{}", a.ip()),
            ))
    }
}

type Budget = Arc<GovernorConfig<ClientKey, NoOpMiddleware>>;

/// The configured budgets; `None` when rate limiting is off.
#[derive(Clone, Default)]
pub struct Limits {
    general: Option<Budget>,
    admin: Option<Budget>,
}

fn budget(per_second: u32, burst: u32) -> Option<Budget> {
    let period = Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)));
    GovernorConfigBuilder::default()
        .period(period)
        .burst_size(burst.max(1))
        .key_extractor(ClientKey)
        .finish()
        .map(Arc::new)
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        if !config.rate_limit {
            return Limits::default();
        }
        Limits {
            general: budget(config.rate_limit_per_second, config.rate_limit_burst),
            admin: budget(
                config.admin_rate_limit_per_second,
                config.admin_rate_limit_burst,
            ),
        }
    }

    pub fn general(&self, router: Router<AppState>) -> Router<AppState> {
        apply(router, &self.general)
    }

    pub fn admin(&self, router: Router<AppState>) -> Router<AppState> {
        apply(router, &self.admin)
    }

    /// Drops the state of clients that have been quiet, so memory follows
    /// the active clients, not every address ever seen.
    pub fn forget_idle_clients(&self) {
        for config in [&self.general, &self.admin].into_iter().flatten() {
            config.limiter().retain_recent();
            config.limiter().shrink_to_fit();
        }
    }
}

fn apply(router: Router<AppState>, config: &Option<Budget>) -> Router<AppState> {
    match config {
        None => router,
        Some(config) => router.layer(GovernorLayer::new(config.clone()).error_handler(refused)),
    }
}

fn refused(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            metrics::counter!(observability::RATE_LIMITED).increment(1);
            let wait = wait_time.max(1);
            let mut response = AppError::invalid(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("rate limit reached; retry in {wait} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            response
        }
        other => AppError::Internal(anyhow::anyhow!("rate limiter: {other}")).into_response(),
    }
}
