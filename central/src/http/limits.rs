//! Rate limiting with tower_governor: a budget per client — the token's
//! subject when signed in (a till's own device, see below), else its
//! address (an IPv6 /64) — and a lower one on admin routes. A long-poll is
//! one request however long it waits.
//!
//! Two budgets of their own, charged by handlers once they know what a
//! request weighs: sign-ins per known id from one address (charged before
//! the secret is checked, so never per id alone: a stranger could spend a
//! client's budget), and write lines per client — adjustment lines, hold
//! lines and hold transitions (a batch of 500 lines costs 500, not 1: each
//! line is a saved answer, whatever its outcome). What a call writes is not
//! always known before it runs (a hold line allocated "most available" may
//! become a line per store; an extension rewrites every line): such calls
//! are charged what they asked for up front and the rest once answered
//! ([`Limits::write_items_after`]); what the budget cannot take then is
//! owed, and charged before the caller's next write.
//!
//! A till's budgets are its own, inside its store's. A device's token is
//! charged under `device:{id}`, so one till in a retry loop (or a leaked
//! device credential) spends its own budget, not its neighbours'. What its
//! own budget lets through is then charged to its store's cap as well —
//! requests and write lines, each [`Config::store_budget_clients`] clients'
//! worth, keyed by the store and shared by the store's own credential and
//! every till — so a store's tills together stay bounded however many it
//! enrols. Own budget first, then the store's: a till its own budget
//! refuses charges its store nothing, so it cannot starve the others; a
//! call the store's cap refuses has still spent its sender's own budget
//! (a limiter cannot give back), which slows only that sender. (One key
//! per device with the store's budget split among its tills would refuse
//! a busy till while idle ones left the store's budget unspent.)

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Request, Response},
    middleware::Next,
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
        if let Some(own) = request.extensions().get::<Principal>().and_then(own_key) {
            return Ok(own);
        }
        Ok(format!("ip:{}", client_ip(request.extensions()).bucket()))
    }
}

/// The key of a signed-in principal's own budgets: a till's is its device
/// (never its store's: see the module's doc), anyone else's its subject.
fn own_key(principal: &Principal) -> Option<String> {
    match principal.device_id() {
        Some(device_id) => Some(format!("device:{device_id}")),
        None => principal.subject(),
    }
}

/// The key of the store's cap a store's credential and its tills are also
/// charged against. Not `store:…`: the table of what is owed holds own
/// keys and these, and a store's own key is `store:{id}`.
fn store_key(principal: &Principal) -> Option<String> {
    principal
        .store_id()
        .map(|store_id| format!("store-total:{store_id}"))
}

type Budget = Arc<GovernorConfig<ClientKey, NoOpMiddleware>>;
type Keyed = Arc<DefaultKeyedRateLimiter<String>>;

/// The configured budgets; all `None` when rate limiting is off.
#[derive(Clone, Default)]
pub struct Limits {
    general: Option<Budget>,
    admin: Option<Budget>,
    /// A store's requests, whichever of its credentials sends them.
    store_requests: Option<Keyed>,
    sign_ins: Option<Keyed>,
    write_items: Option<Keyed>,
    /// A store's write lines, whichever of its credentials writes them.
    store_write_items: Option<Keyed>,
    /// Write lines a client's answered calls cost beyond what its budget
    /// held then, charged before its next write. Keyed by signed-in
    /// principals only (never an address), at most [`MAX_DEBTORS`].
    owed: Arc<Mutex<HashMap<String, u32>>>,
}

/// Most clients owing write lines at once; past it, new debts are dropped
/// (a client can only owe what one call cost, and only signed-in clients
/// owe, so the table is the chain's principals in practice).
const MAX_DEBTORS: usize = 10_000;

/// A client regains one request each period: `per_second` a second, or
/// for 0 one a minute (as [`keyed`] takes 0).
fn budget(per_second: u32, burst: u32) -> Option<Budget> {
    let period = match per_second {
        0 => Duration::from_secs(60),
        n => Duration::from_secs_f64(1.0 / f64::from(n)),
    };
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
        // A store's caps: its clients' budgets times the configured number.
        let clients = config.store_budget_clients.max(1);
        Limits {
            general: budget(config.rate_limit_per_second, config.rate_limit_burst),
            admin: budget(
                config.admin_rate_limit_per_second,
                config.admin_rate_limit_burst,
            ),
            store_requests: Some(keyed(
                config
                    .rate_limit_per_second
                    .saturating_mul(60)
                    .saturating_mul(clients),
                config.rate_limit_burst.max(1).saturating_mul(clients),
            )),
            sign_ins: Some(keyed(config.sign_ins_per_minute, config.sign_in_burst)),
            write_items: Some(keyed(
                config.write_items_per_second.saturating_mul(60),
                config.write_items_burst,
            )),
            store_write_items: Some(keyed(
                config
                    .write_items_per_second
                    .saturating_mul(60)
                    .saturating_mul(clients),
                config.write_items_burst.max(1).saturating_mul(clients),
            )),
            owed: Arc::default(),
        }
    }

    /// The general budget, and inside it the store's cap on requests: a
    /// request reaches the store's cap only once its sender's own budget
    /// let it through.
    pub fn general(&self, router: Router<AppState>) -> Router<AppState> {
        let router = match &self.store_requests {
            None => router,
            Some(cap) => {
                let cap = cap.clone();
                router.layer(axum::middleware::from_fn(
                    move |request: Request<Body>, next: Next| {
                        let cap = cap.clone();
                        async move { store_cap(&cap, request, next).await }
                    },
                ))
            }
        };
        apply(router, &self.general)
    }

    pub fn admin(&self, router: Router<AppState>) -> Router<AppState> {
        apply(router, &self.admin)
    }

    /// Charges one sign-in to a known id (`subject`, e.g. `store:s1`) from
    /// `address` (an IPv6 /64).
    pub fn sign_in(&self, address: IpAddr, subject: &str) -> Result<(), AppError> {
        if self.sign_ins.is_none() {
            return Ok(());
        }
        charge(
            &self.sign_ins,
            &format!("{address} {subject}"),
            1,
            "too many sign-ins for this id from this address",
        )
    }

    /// Charges `items` write lines to the caller, then to its store's cap
    /// (a store's credential or till). A batch larger than the whole burst
    /// could never pass, so it is charged the burst.
    pub fn write_items(&self, principal: &Principal, items: usize) -> Result<(), AppError> {
        let own = own_key(principal).unwrap_or_default();
        self.charge_owed(&self.write_items, own, items, "too many write lines")?;
        match store_key(principal) {
            Some(store) => self.charge_owed(
                &self.store_write_items,
                store,
                items,
                "too many write lines for this store",
            ),
            None => Ok(()),
        }
    }

    /// Charges `items` and what `key` owes; a refused call pays nothing,
    /// and still owes.
    fn charge_owed(
        &self,
        limiter: &Option<Keyed>,
        key: String,
        items: usize,
        what: &str,
    ) -> Result<(), AppError> {
        let owed = self.owed().remove(&key).unwrap_or(0) as usize;
        let charged = charge(limiter, &key, items.saturating_add(owed), what);
        if charged.is_err() && owed > 0 {
            self.owe(key, owed);
        }
        charged
    }

    /// Charges `items` more write lines for a call already answered (what it
    /// turned out to write beyond what it was charged). Never refuses: what
    /// the budget cannot take now is owed until the next write.
    pub fn write_items_after(&self, principal: &Principal, items: usize) {
        if items == 0 || self.write_items.is_none() {
            return;
        }
        let own = Some(own_key(principal).unwrap_or_default());
        for (limiter, key) in [
            (&self.write_items, own),
            (&self.store_write_items, store_key(principal)),
        ] {
            if let Some(key) = key
                && charge(limiter, &key, items, "").is_err()
            {
                self.owe(key, items);
            }
        }
    }

    fn owed(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.owed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn owe(&self, key: String, items: usize) {
        let items = u32::try_from(items).unwrap_or(u32::MAX);
        let mut owed = self.owed();
        if owed.len() < MAX_DEBTORS || owed.contains_key(&key) {
            let debt = owed.entry(key).or_default();
            *debt = debt.saturating_add(items);
        }
    }

    /// Drops the state of clients that have been quiet, so memory follows
    /// the active clients, not every address ever seen.
    pub fn forget_idle_clients(&self) {
        for config in [&self.general, &self.admin].into_iter().flatten() {
            config.limiter().retain_recent();
            config.limiter().shrink_to_fit();
        }
        let keyed = [
            &self.store_requests,
            &self.sign_ins,
            &self.write_items,
            &self.store_write_items,
        ];
        for limiter in keyed.into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.owed().shrink_to_fit();
    }
}

/// Charges one request to its store's cap, if a store's credential or one
/// of its tills sent it.
async fn store_cap(cap: &Keyed, request: Request<Body>, next: Next) -> Response<Body> {
    let store = request.extensions().get::<Principal>().and_then(store_key);
    if let Some(store) = store
        && let Err(refused) = charge_keyed(cap, &store, 1, "rate limit reached for this store")
    {
        return refused.into_response();
    }
    next.run(request).await
}

fn charge(limiter: &Option<Keyed>, key: &str, weight: usize, what: &str) -> Result<(), AppError> {
    match limiter {
        Some(limiter) => charge_keyed(limiter, key, weight, what),
        None => Ok(()),
    }
}

fn charge_keyed(limiter: &Keyed, key: &str, weight: usize, what: &str) -> Result<(), AppError> {
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
