//! The OpenAPI document and a docs page that works offline: Swagger UI is
//! vendored in `assets/swagger-ui` and served from the binary, no CDN.

use axum::{
    Router,
    http::header,
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
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
  </script>
</body>
</html>"##,
    )
}

const CACHE: &str = "public, max-age=86400";

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
