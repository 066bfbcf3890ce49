//! HTTP: one router per resource, composed here with the layers every
//! request goes through.

mod admin;
mod auth;
mod catalog;
mod channels;
pub mod client_ip;
mod docs;
pub mod extract;
mod health;
mod holds;
pub mod limits;
mod replication;
mod serve;
mod stock;
mod web;

use std::{any::Any, convert::Infallible};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::ErrorCode;
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneSyncService};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowMethods, AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub use docs::ApiDoc;
pub use serve::{ServeOptions, serve};
pub use stock::REPLAYED_HEADER;

use client_ip::ClientIpLayer;

use crate::{
    AppState,
    auth::{AdmitLayer, IdentifyLayer, RequireLayer},
    error::AppError,
    observability,
};

/// The routes, each labelled with its template for the metrics.
pub fn router(state: AppState) -> Router {
    let limits = &state.limits;
    // Stores and admins (a sales channel is refused). Writes check the
    // store themselves.
    let api = Router::new()
        .merge(stock::router())
        .merge(catalog::router())
        .merge(replication::router())
        .route_layer(RequireLayer::SignedIn);
    // Availability and holds: sales channels too; each handler checks who
    // may do what.
    let holds = holds::router().route_layer(RequireLayer::Holds);
    let admin = admin::router().merge(channels::router());
    let admin = limits.admin(admin.route_layer(RequireLayer::Admin));
    let v1 = limits.general(api.merge(holds).merge(admin).merge(auth::router()));

    let mut router = Router::new().merge(v1).merge(health::router());
    // With an operations listener, what operators read lives there only.
    if state.config.ops_listen.is_none() {
        router = router.merge(operations(&state.config));
    }
    // Anything else is the POS page's files when central serves them.
    let router = match &state.config.web_dir {
        Some(dir) => router.fallback_service(web::router(dir)),
        None => router.fallback(route_not_found),
    };
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(observability::RouteLabelLayer)
        .with_state(state)
}

/// What operators read: metrics and the API docs (each can be off).
fn operations(config: &crate::Config) -> Router<AppState> {
    let mut router = Router::new();
    if config.docs {
        router = router.merge(docs::router(config));
    }
    if config.metrics {
        router = router.route("/metrics", get(metrics));
    }
    router
}

/// The service of the operations listener (`--ops-listen`): metrics, the
/// docs and the health checks, with the same request ids, metrics and
/// panic guard as the API, and nothing else.
pub fn ops_service(state: AppState) -> HttpService {
    let router = operations(&state.config)
        .merge(health::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(observability::RouteLabelLayer)
        .with_state(state);
    let stack = ServiceBuilder::new()
        .map_request(drop_unfit_request_id)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::custom(panicked))
        .layer(observability::HttpMetricsLayer)
        .service(router)
        .map_response(IntoResponse::into_response);
    HttpService(BoxCloneSyncService::new(stack))
}

/// A client's request id goes into every log line: one longer than 64
/// characters or not plain visible ASCII is replaced by one made here.
fn drop_unfit_request_id(mut request: Request) -> Request {
    let fit = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 64 && b.iter().all(u8::is_ascii_graphic)
    };
    if request.headers().get(REQUEST_ID).is_some_and(|v| !fit(v)) {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

const REQUEST_ID: &str = "x-request-id";

/// The service central serves: the routes inside the layers every request
/// goes through, outermost first: request id, the client's address, the
/// caller's identity (for the span), span, CORS (when configured), panic
/// guard, metrics, body size limit, then refusal of bad credentials. (A
/// body's time limit is kept by the [`extract::Json`] that reads it.) Rate limits and routes use the
/// principal.
///
/// The layers wrap the router as a whole, not each route (`Router::layer`
/// would): a route is cloned for every request, and cloning a route that
/// carries eight boxed layers cost dozens of allocations per request.
pub fn service(state: AppState) -> HttpService {
    let cors = (!state.config.cors_origins.is_empty()).then(|| cors(&state.config.cors_origins));
    let stack = ServiceBuilder::new()
        .map_request(drop_unfit_request_id)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(ClientIpLayer(state.proxies.clone()))
        .layer(IdentifyLayer(state.auth.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observability::request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .option_layer(cors)
        .layer(CatchPanicLayer::custom(panicked))
        .layer(observability::HttpMetricsLayer)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(AdmitLayer)
        .service(router(state))
        .map_response(IntoResponse::into_response);
    HttpService(BoxCloneSyncService::new(stack))
}

/// [`service`] with its layers' types erased.
#[derive(Clone)]
pub struct HttpService(BoxCloneSyncService<Request, Response, Infallible>);

impl tower::Service<Request> for HttpService {
    type Response = Response;
    type Error = Infallible;
    type Future =
        <BoxCloneSyncService<Request, Response, Infallible> as tower::Service<Request>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.0.call(request)
    }
}

/// Cross-origin access for the configured origins; none by default.
fn cors(origins: &[String]) -> CorsLayer {
    let origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(AllowMethods::any())
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static(REPLAYED_HEADER),
            HeaderName::from_static("x-request-id"),
        ])
}

/// Prometheus text exposition.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.positions.export_lag(state.notifier.head());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        observability::metrics().render(),
    )
}

pub(crate) async fn route_not_found() -> AppError {
    AppError::invalid(
        StatusCode::NOT_FOUND,
        ErrorCode::RouteNotFound,
        "no such route; see /docs",
    )
}

async fn method_not_allowed() -> AppError {
    AppError::invalid(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not take that method; see /docs",
    )
}

fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    AppError::Internal(anyhow::anyhow!("a request handler panicked")).into_response()
}
