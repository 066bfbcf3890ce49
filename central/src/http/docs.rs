//! The OpenAPI document and a docs page that works offline: Swagger UI is
//! vendored in `assets/swagger-ui` and served from the binary, no CDN.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{Html, IntoResponse},
    routing::get,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{admin, auth, catalog, health, replication, stock};
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stockline central",
        description = "The authoritative stock ledger of the chain, and its replication API. \
                       Errors are RFC 9457 problems (`application/problem+json`) with a stable `code`."
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("api_key" = [])),
    paths(
        auth::token,
        stock::adjust, stock::batch, stock::level, stock::levels,
        catalog::products, catalog::product, catalog::stores,
        admin::create_product, admin::update_product, admin::delete_product,
        admin::create_store, admin::list_stores, admin::deactivate_store,
        admin::activate_store, admin::rotate_secret, admin::set_stock, admin::prune,
        replication::snapshot, replication::changes,
        health::healthz, health::readyz,
    ),
    components(schemas(shared::Event, shared::Change, shared::ErrorCode)),
    tags(
        (name = "auth", description = "Sign in: store credentials or an admin API key for a token"),
        (name = "stock", description = "Store levels: adjust and read"),
        (name = "catalog", description = "Products and stores"),
        (name = "replication", description = "Snapshot and change log for store nodes"),
        (name = "admin", description = "Catalogue, stores, stocktakes, retention"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

/// Bearer tokens (from `POST /v1/auth/token`) and admin API keys, so the
/// docs page can call the API with either.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/docs", get(page))
        .route("/docs/swagger-ui-bundle.js", get(bundle))
        .route("/docs/swagger-ui.css", get(css))
        .route("/docs/init.js", get(init))
        .layer(axum::middleware::map_response(docs_headers))
}

/// The docs page shares its origin with the till, which keeps its
/// credentials in the browser: it gets a policy of its own that runs only
/// its own scripts (Swagger UI's bundle and the line that starts it, both
/// files: nothing inline), talks only to this origin and is never framed.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

async fn docs_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

async fn page() -> Html<&'static str> {
    Html(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Stockline central API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>"##,
    )
}

const CACHE: &str = "public, max-age=86400";

async fn init() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, CACHE),
        ],
        r##"window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });"##,
    )
}

async fn bundle() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, CACHE),
        ],
        include_str!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    )
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, CACHE),
        ],
        include_str!("../../assets/swagger-ui/swagger-ui.css"),
    )
}
