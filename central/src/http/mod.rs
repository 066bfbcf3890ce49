//! HTTP: one router per resource, composed here with the layers every
//! request goes through.

mod admin;
mod catalog;
mod docs;
pub mod extract;
mod health;
mod replication;
mod stock;

use std::any::Any;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::ErrorCode;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

pub use docs::ApiDoc;
pub use stock::REPLAYED_HEADER;

use crate::{AppState, error::AppError};

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(stock::router())
        .merge(catalog::router())
        .merge(admin::router())
        .merge(replication::router())
        .merge(health::router())
        .merge(docs::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

async fn route_not_found() -> AppError {
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
