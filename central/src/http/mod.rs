//! HTTP: one router per resource, composed here with the layers every
//! request goes through.

mod admin;
mod auth;
mod catalog;
mod docs;
pub mod extract;
mod health;
pub mod limits;
mod replication;
mod stock;
mod web;

use std::any::Any;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderName, StatusCode, header},
    middleware::{from_fn, from_fn_with_state},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::ErrorCode;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowMethods, AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub use docs::ApiDoc;
pub use stock::REPLAYED_HEADER;

use crate::{
    AppState,
    auth::{identify, require_admin, require_signed_in},
    error::AppError,
    observability,
};

pub fn router(state: AppState) -> Router {
    let limits = &state.limits;
    // Signed-in callers: stores and admins. Writes check the store themselves.
    let api = Router::new()
        .merge(stock::router())
        .merge(catalog::router())
        .merge(replication::router())
        .route_layer(from_fn(require_signed_in));
    let admin = limits.admin(admin::router().route_layer(from_fn(require_admin)));
    let v1 = limits.general(api.merge(admin).merge(auth::router()));

    let router = Router::new()
        .merge(v1)
        .merge(health::router())
        .merge(docs::router())
        .route("/metrics", get(metrics));
    // Anything else is the POS page's files when central serves them.
    let router = match &state.config.web_dir {
        Some(dir) => router.fallback_service(web::router(dir)),
        None => router.fallback(route_not_found),
    };
    router
        .method_not_allowed_fallback(method_not_allowed)
        // Layers run outermost last-added: request id, span, panic guard,
        // metrics, then the principal, which rate limits and routes use.
        .layer(from_fn_with_state(state.clone(), identify))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(from_fn(observability::http_metrics))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observability::request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(cors(&state.config.cors_origins))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
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
