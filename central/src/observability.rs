//! Metrics (Prometheus, via the `metrics` facade) and request spans.
//!
//! Every metric name lives here, so the dashboard in `deploy/` and the code
//! cannot drift apart unnoticed (a test checks the dashboard's queries
//! against `/metrics`).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{OnceLock, PoisonError, RwLock},
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    http::{Method, StatusCode},
    response::Response,
};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service};
use tracing::Span;

use ledger::{Refusal, cmd::Adjusted};

pub const HTTP_REQUESTS: &str = "stockline_http_requests_total";
pub const HTTP_DURATION: &str = "stockline_http_request_duration_seconds";
pub const ADJUSTMENTS: &str = "stockline_adjustments_total";
pub const REPLAYS: &str = "stockline_idempotent_replays_total";
pub const DISCREPANCIES: &str = "stockline_discrepancies_total";
pub const WRITER_QUEUE: &str = "stockline_writer_queue_depth";
pub const GROUP_SIZE: &str = "stockline_group_commit_size";
pub const GROUP_DURATION: &str = "stockline_group_commit_duration_seconds";
pub const LONG_POLLS: &str = "stockline_long_polls_active";
pub const HEAD_OFFSET: &str = "stockline_head_offset";
pub const STORE_LAG: &str = "stockline_replication_lag_events";
pub const RATE_LIMITED: &str = "stockline_rate_limited_total";
pub const CONNECTIONS_OPEN: &str = "stockline_connections_open";
pub const CONNECTIONS_REFUSED: &str = "stockline_connections_refused_total";
pub const SNAPSHOTS_ACTIVE: &str = "stockline_snapshots_active";
pub const HOLDS: &str = "stockline_holds_total";
pub const HOLD_EXPIRY_LAG: &str = "stockline_hold_expiry_lag_seconds";
pub const EXPIRY_LEADER: &str = "stockline_expiry_leader";
/// The `transition` label of [`HOLDS`]: a fixed set.
const HOLD_TRANSITIONS: [&str; 5] = ["placed", "extended", "committed", "released", "expired"];

/// The process-wide recorder; installed once however many apps run (tests).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let latency = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
        ];
        let sizes = [
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
        ];
        let lags = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &latency)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(GROUP_DURATION.into()), &latency))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(GROUP_SIZE.into()), &sizes))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(HOLD_EXPIRY_LAG.into()), &lags))
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status");
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency"
    );
    describe_counter!(
        ADJUSTMENTS,
        "Adjustments by result (applied or the refusal's code)"
    );
    describe_counter!(REPLAYS, "Writes answered from a saved idempotency key");
    describe_counter!(DISCREPANCIES, "Recorded sales that took a level below zero");
    describe_gauge!(
        WRITER_QUEUE,
        "Writes waiting for the writer when a group started"
    );
    describe_histogram!(GROUP_SIZE, "Commands committed per group transaction");
    describe_histogram!(
        GROUP_DURATION,
        metrics::Unit::Seconds,
        "Time to apply and commit a group"
    );
    describe_gauge!(LONG_POLLS, "Change-log long-polls waiting now");
    describe_gauge!(HEAD_OFFSET, "Newest committed offset of the change log");
    describe_gauge!(
        STORE_LAG,
        "Events a store's replica is behind the head, by store"
    );
    describe_counter!(RATE_LIMITED, "Requests refused by rate limiting");
    describe_gauge!(CONNECTIONS_OPEN, "Client connections open now");
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed at once: the server's or the address's cap was reached"
    );
    describe_gauge!(SNAPSHOTS_ACTIVE, "Snapshots being streamed now");
    describe_counter!(
        HOLDS,
        "Hold transitions this central wrote, by transition (placed, extended, committed, released, expired)"
    );
    describe_histogram!(
        HOLD_EXPIRY_LAG,
        metrics::Unit::Seconds,
        "Per expiry chunk: the longest a hold outlived its expires_at before central released it"
    );
    describe_gauge!(
        EXPIRY_LEADER,
        "1 while this central holds the expiry lease and runs the hold expiry (one central at a time on PostgreSQL; always on SQLite), else 0"
    );
    // Counters alerts divide by exist from the start, at zero.
    for result in ["applied", "insufficient_stock", "version_conflict"] {
        metrics::counter!(ADJUSTMENTS, "result" => result).increment(0);
    }
    metrics::counter!(REPLAYS).increment(0);
    metrics::counter!(DISCREPANCIES).increment(0);
    metrics::counter!(RATE_LIMITED).increment(0);
    metrics::gauge!(LONG_POLLS).set(0.0);
    metrics::gauge!(CONNECTIONS_OPEN).set(0.0);
    metrics::gauge!(SNAPSHOTS_ACTIVE).set(0.0);
    metrics::gauge!(EXPIRY_LEADER).set(0.0);
    for reason in ["server", "address"] {
        metrics::counter!(CONNECTIONS_REFUSED, "reason" => reason).increment(0);
    }
    for transition in HOLD_TRANSITIONS {
        metrics::counter!(HOLDS, "transition" => transition).increment(0);
    }
}

/// The writer's figures, from each committed group.
pub struct CommitMetrics;

impl ledger::Subscriber for CommitMetrics {
    fn committed(&self, committed: &ledger::Committed) {
        let stats = committed.stats;
        metrics::gauge!(WRITER_QUEUE).set((stats.queued + stats.commands) as f64);
        metrics::histogram!(GROUP_SIZE).record(stats.commands as f64);
        metrics::histogram!(GROUP_DURATION).record(stats.duration.as_secs_f64());
        let holds = committed.holds;
        if holds == ledger::HoldTally::default() {
            return;
        }
        let counts = [
            holds.placed,
            holds.extended,
            holds.committed,
            holds.released,
            holds.expired,
        ];
        for (transition, count) in HOLD_TRANSITIONS.into_iter().zip(counts) {
            if count > 0 {
                metrics::counter!(HOLDS, "transition" => transition).increment(u64::from(count));
            }
        }
        if let Some(lag_ms) = holds.expiry_lag_ms {
            metrics::histogram!(HOLD_EXPIRY_LAG).record(lag_ms.max(0) as f64 / 1000.0);
        }
    }
}

/// Keeps [`EXPIRY_LEADER`] to whether this central holds the expiry's lease,
/// until the lease is dropped (the central closing), then 0.
pub async fn expiry_leader(mut held: tokio::sync::watch::Receiver<bool>) {
    let gauge = metrics::gauge!(EXPIRY_LEADER);
    loop {
        gauge.set(if *held.borrow_and_update() { 1.0 } else { 0.0 });
        if held.changed().await.is_err() {
            gauge.set(0.0);
            return;
        }
    }
}

/// Counts an adjustment's outcome.
pub fn adjustment(adjusted: &Adjusted) {
    // Registered once: a lookup in the recorder per adjustment cost more
    // than the count.
    struct Counters {
        replays: Counter,
        discrepancies: Counter,
        results: [Counter; 6],
    }
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    const RESULTS: [&str; 6] = [
        "applied",
        "insufficient_stock",
        "version_conflict",
        "idempotency_key_reused",
        "batch_aborted",
        "refused",
    ];
    let counters = COUNTERS.get_or_init(|| Counters {
        replays: metrics::counter!(REPLAYS),
        discrepancies: metrics::counter!(DISCREPANCIES),
        results: RESULTS.map(|result| metrics::counter!(ADJUSTMENTS, "result" => result)),
    });
    if adjusted.replayed {
        counters.replays.increment(1);
        return;
    }
    let result = match &adjusted.outcome {
        Ok(applied) => {
            if applied.discrepancy_offset.is_some() {
                counters.discrepancies.increment(1);
            }
            0
        }
        Err(Refusal::InsufficientStock { .. }) => 1,
        Err(Refusal::VersionConflict { .. }) => 2,
        Err(Refusal::IdempotencyKeyReused) => 3,
        Err(Refusal::BatchAborted) => 4,
        Err(_) => 5,
    };
    counters.results[result].increment(1);
}

/// Keeps the long-poll gauge right however the wait ends.
pub struct LongPollGuard;

impl LongPollGuard {
    pub fn enter() -> Self {
        metrics::gauge!(LONG_POLLS).increment(1.0);
        LongPollGuard
    }
}

impl Drop for LongPollGuard {
    fn drop(&mut self) {
        metrics::gauge!(LONG_POLLS).decrement(1.0);
    }
}

/// Layer: request count and latency by matched route (never the raw path,
/// which would make one series per sku). It runs outside the router, so the
/// route template comes back on the response ([`RouteLabelLayer`]). A plain
/// tower layer: `from_fn` boxed two futures per request.
#[derive(Debug, Clone, Copy)]
pub struct HttpMetricsLayer;

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> HttpMetrics<S> {
        HttpMetrics(inner)
    }
}

#[derive(Debug, Clone)]
pub struct HttpMetrics<S>(S);

impl<S> Service<Request> for HttpMetrics<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Measured<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Measured {
            method: request.method().clone(),
            started: Instant::now(),
            inner: self.0.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpMetrics`].
    pub struct Measured<F> {
        #[pin]
        inner: F,
        method: Method,
        started: Instant,
    }
}

impl<F, E> Future for Measured<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let route = response
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let (requests, duration) = http_series(route, this.method, response.status());
        requests.increment(1);
        duration.record(this.started.elapsed().as_secs_f64());
        Poll::Ready(Ok(response))
    }
}

/// The method as a label: one of a closed set. Any other method a client
/// makes up is `other`, so a caller cannot mint series (each kept forever).
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One route's series, by method label and status. Every part of a key
/// comes from a closed set: the route templates central has (or
/// `unmatched`), [`method_label`], and the statuses central answers with.
type RouteSeries = HashMap<(&'static str, u16), (Counter, Histogram)>;

/// The request counter and latency histogram of a (route, method, status),
/// registered on first use and kept: building the labelled key and looking
/// it up in the recorder on every request cost ~7,000 instructions.
fn http_series(route: &str, method: &Method, status: StatusCode) -> (Counter, Histogram) {
    static SERIES: OnceLock<RwLock<HashMap<Box<str>, RouteSeries>>> = OnceLock::new();
    let series = SERIES.get_or_init(RwLock::default);
    let key = (method_label(method), status.as_u16());
    {
        let map = series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = map.get(route).and_then(|known| known.get(&key)) {
            return found.clone();
        }
    }
    let mut map = series.write().unwrap_or_else(PoisonError::into_inner);
    map.entry(route.into())
        .or_default()
        .entry(key)
        .or_insert_with(|| {
            let labels = [
                ("route", route.to_owned()),
                ("method", key.0.to_owned()),
                ("status", key.1.to_string()),
            ];
            (
                metrics::counter!(HTTP_REQUESTS, &labels),
                metrics::histogram!(HTTP_DURATION, &labels),
            )
        })
        .clone()
}

/// Per route: copies the route template the router matched onto the
/// response, for [`http_metrics`] outside the router.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabelLayer;

impl<S> Layer<S> for RouteLabelLayer {
    type Service = RouteLabel<S>;

    fn layer(&self, inner: S) -> RouteLabel<S> {
        RouteLabel(inner)
    }
}

#[derive(Debug, Clone)]
pub struct RouteLabel<S>(S);

impl<S> Service<Request> for RouteLabel<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Labelled<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        Labelled {
            inner: self.0.call(request),
            route,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RouteLabel`].
    pub struct Labelled<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for Labelled<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}

/// At most `max` bytes of `text` (on a character boundary): a client's
/// path goes into every log line of its request.
pub(crate) fn bounded(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Records the store and sku a request is about on its span, in one
/// record: each record re-serialises the span's fields.
pub fn record_target(store_id: &str, sku: Option<&str>) {
    let span = Span::current();
    match sku {
        Some(sku) => tracing::record_all!(span, store_id = store_id, sku = sku),
        None => tracing::record_all!(span, store_id = store_id),
    };
}
