//! Rate limiting with tower_governor: a budget per client — the token's
//! subject when signed in, else its address (an IPv6 /64) — and a lower one
//! on admin routes. A long-poll is one request however long it waits.
//!
//! Two budgets of their own, charged by handlers once they know what a
//! request weighs: sign-ins per known client id, and write lines per
//! client — adjustment lines, hold lines and hold transitions (a batch of
//! 500 lines costs 500, not 1: each line is a saved answer, whatever its
//! outcome).

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, Response},
    response::IntoResponse,
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
};
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::KeyExtractor,
};

use super::client_ip::client_ip;
use crate::{AppState, auth::Principal, config::Config, error::AppError};

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
        Ok(format!("ip:{}", client_ip(request.extensions()).bucket()))
    }
}

type Budget = Arc<GovernorConfig<ClientKey, NoOpMiddleware>>;
type Keyed = Arc<DefaultKeyedRateLimiter<String>>;

/// The configured budgets; all `None` when rate limiting is off.
#[derive(Clone, Default)]
pub struct Limits {
    general: Option<Budget>,
    admin: Option<Budget>,
    sign_ins: Option<Keyed>,
    write_items: Option<Keyed>,
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

fn keyed(per_minute: u32, burst: u32) -> Keyed {
    let one = NonZeroU32::MIN;
    let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(one))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(one));
    Arc::new(RateLimiter::keyed(quota))
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
            sign_ins: Some(keyed(config.sign_ins_per_minute, config.sign_in_burst)),
            write_items: Some(keyed(
                config.write_items_per_second.saturating_mul(60),
                config.write_items_burst,
            )),
        }
    }

    pub fn general(&self, router: Router<AppState>) -> Router<AppState> {
        apply(router, &self.general)
    }

    pub fn admin(&self, router: Router<AppState>) -> Router<AppState> {
        apply(router, &self.admin)
    }

    /// Charges one sign-in to a known client id.
    pub fn sign_in(&self, client_id: &str) -> Result<(), AppError> {
        charge(
            &self.sign_ins,
            client_id,
            1,
            "too many sign-ins for this client id",
        )
    }

    /// Charges `items` write lines to the caller. A batch larger than
    /// the whole burst could never pass, so it is charged the burst.
    pub fn write_items(&self, principal: &Principal, items: usize) -> Result<(), AppError> {
        let key = principal.subject().unwrap_or_default();
        charge(&self.write_items, &key, items, "too many write lines")
    }

    /// Drops the state of clients that have been quiet, so memory follows
    /// the active clients, not every address ever seen.
    pub fn forget_idle_clients(&self) {
        for config in [&self.general, &self.admin].into_iter().flatten() {
            config.limiter().retain_recent();
            config.limiter().shrink_to_fit();
        }
        for limiter in [&self.sign_ins, &self.write_items].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn charge(limiter: &Option<Keyed>, key: &str, weight: usize, what: &str) -> Result<(), AppError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    let key = key.to_owned();
    let weight =
        NonZeroU32::new(u32::try_from(weight).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
    let outcome = match limiter.check_key_n(&key, weight) {
        Ok(outcome) => outcome,
        // Heavier than the whole burst: charge the burst instead.
        Err(capacity) => limiter
            .check_key_n(&key, NonZeroU32::new(capacity.0).unwrap_or(NonZeroU32::MIN))
            .unwrap_or(Ok(())),
    };
    outcome.map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        rate_limited(
            wait.as_secs().max(1),
            format!("{what}; retry in {} s", wait.as_secs().max(1)),
        )
    })
}

fn rate_limited(retry_after: u64, detail: String) -> AppError {
    AppError::RateLimited {
        retry_after,
        detail,
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
            let wait = wait_time.max(1);
            rate_limited(wait, format!("rate limit reached; retry in {wait} s")).into_response()
        }
        other => AppError::Internal(anyhow::anyhow!("rate limiter: {other}")).into_response(),
    }
}
