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
    handler::Handler,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodFilter, get, on},
};
use shared::{
    ErrorCode,
    api::{Callers, Endpoint, Method},
};
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
    auth::{AdmitLayer, IdentifyLayer, Principal, RequireLayer},
    error::AppError,
    observability,
};

/// The routes, each labelled with its template for the metrics.
pub fn router(state: AppState) -> Router {
    let limits = &state.limits;
    let Routes {
        anyone,
        stores,
        holders,
        admins,
    } = [
        auth::routes,
        stock::routes,
        catalog::routes,
        replication::routes,
        holds::routes,
        admin::routes,
        channels::routes,
    ]
    .into_iter()
    .fold(Routes::default(), |routes, add| add(routes));
    // Each group admits the callers its endpoints declare; a handler may
    // refuse more (a store writes only its own levels).
    let stores = stores.route_layer(RequireLayer(Callers::Stores));
    let holders = holders.route_layer(RequireLayer(Callers::Holders));
    let admins = limits.admin(admins.route_layer(RequireLayer(Callers::Admins)));
    let v1 = limits.general(stores.merge(holders).merge(admins).merge(anyone));

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

/// The API's routes, grouped by who may call them: each is added from its
/// endpoint's declaration ([`shared::api`]), so its path, method and callers
/// are written once, there.
#[derive(Default)]
struct Routes {
    anyone: Router<AppState>,
    stores: Router<AppState>,
    holders: Router<AppState>,
    admins: Router<AppState>,
}

impl Routes {
    /// Routes endpoint `E` to `handler`, in the group of its callers.
    fn add<E: Endpoint, H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let group = match E::CALLERS {
            Callers::Anyone => &mut self.anyone,
            Callers::Stores => &mut self.stores,
            Callers::Holders => &mut self.holders,
            Callers::Admins => &mut self.admins,
        };
        *group = route::<E, H, T>(std::mem::take(group), handler);
        self
    }
}

/// `router` with endpoint `E` routed to `handler`, at its declared path and
/// method.
fn route<E: Endpoint, H, T>(router: Router<AppState>, handler: H) -> Router<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let method = match E::METHOD {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    };
    router.route(E::PATH, on(method, handler))
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
                .make_span_with(request_span)
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

/// The span of one request: its id (from `X-Request-Id`, or made), method,
/// path and principal; handlers record the store and sku. No headers, no
/// query: they may carry secrets.
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("-");
    let principal = request
        .extensions()
        .get::<Principal>()
        .and_then(Principal::subject_display);
    tracing::info_span!(
        "request",
        request_id = %id,
        method = observability::method_label(request.method()),
        path = %observability::bounded(request.uri().path(), 256),
        principal = principal.map(tracing::field::display),
        store_id = tracing::field::Empty,
        sku = tracing::field::Empty,
    )
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
