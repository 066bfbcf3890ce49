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
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type,
        path::{Operation, PathItem},
        response::Response,
        schema::AdditionalProperties,
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
    },
};

use shared::api;

use super::{admin, auth, catalog, channels, health, holds, replication, stock};
use crate::{AppState, config::Config};

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
        auth::token, auth::enrol,
        stock::adjust, stock::batch, stock::level, stock::levels,
        catalog::products, catalog::product, catalog::stores,
        admin::create_product, admin::update_product, admin::delete_product,
        admin::create_store, admin::list_stores, admin::deactivate_store,
        admin::activate_store, admin::rotate_secret, admin::list_devices, admin::revoke_device,
        admin::set_stock, admin::set_safety_stock, admin::prune,
        channels::create_channel, channels::list_channels, channels::deactivate_channel,
        channels::activate_channel, channels::rotate_channel_secret, channels::set_limits,
        channels::channel_holds,
        holds::place, holds::hold, holds::extend, holds::commit, holds::release,
        holds::availability, holds::pickups,
        replication::snapshot, replication::changes,
        health::healthz, health::readyz,
    ),
    components(schemas(shared::Event, shared::Change, shared::ErrorCode, shared::StoreId, shared::Sku, shared::DeviceId, shared::ChannelId, shared::HoldId, shared::IdempotencyKey, shared::schema::Offset, shared::BatchItem, shared::HoldLineRequest, shared::CommitLine)),
    tags(
        (name = "auth", description = "Sign in (store, device or sales channel credentials, or an admin API key, for a token) and enrol devices"),
        (name = "stock", description = "Store levels: adjust and read"),
        (name = "catalog", description = "Products and stores"),
        (name = "replication", description = "Snapshot and change log for store nodes"),
        (name = "holds", description = "Online orders: hold stock while the customer pays, then commit or release; chain-wide availability"),
        (name = "admin", description = "Catalogue, stores, sales channels, stocktakes, retention"),
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

/// The docs routes; the document is built once, for this configuration.
pub fn router(config: &Config) -> Router<AppState> {
    let document = axum::body::Bytes::from(serde_json::to_vec(&served(config)).unwrap_or_default());
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .route("/docs", get(page))
        .route("/docs/swagger-ui-bundle.js", get(bundle))
        .route("/docs/swagger-ui.css", get(css))
        .route("/docs/init.js", get(init))
        .layer(axum::middleware::map_response(docs_headers))
}

/// The document as this central serves it: the limits it was configured
/// with, and every status each operation can answer with. The problem
/// answers every route shares are declared once, under
/// `components/responses`, and referred to by each operation they apply
/// to.
pub fn document(config: &Config) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    for shared in SharedProblem::ALL {
        components
            .responses
            .insert(shared.name().into(), RefOr::T(shared.response()));
    }
    // Each shape of sign-in, and of allocation, takes its own fields and no
    // other (serde's `deny_unknown_fields`, which the derive leaves out of
    // an enum's variants).
    for name in ["TokenRequest", "Allocation"] {
        if let Some(RefOr::T(Schema::OneOf(shapes))) = components.schemas.get_mut(name) {
            for shape in shapes.items.iter_mut() {
                if let RefOr::T(Schema::Object(object)) = shape {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
    if let Some(RefOr::T(Schema::Object(batch))) = components.schemas.get_mut("BatchAdjustRequest")
        && let Some(RefOr::T(Schema::Array(items))) = batch.properties.get_mut("items")
    {
        items.max_items = Some(config.max_batch_items);
    }
    // Who may call each operation, as its endpoint declares: `security: []`
    // where anyone may.
    for endpoint in api::ENDPOINTS {
        if let Some(operation) = doc
            .paths
            .paths
            .get_mut(endpoint.path)
            .and_then(|item| operation_mut(item, endpoint.method))
        {
            operation.operation_id = Some(snake_case(endpoint.name));
            operation.security = Some(security(endpoint.callers));
            if endpoint.keyed
                && let Some(RefOr::T(ok)) = operation
                    .responses
                    .responses
                    .get_mut(&endpoint.ok.to_string())
            {
                ok.headers.insert(
                    "Idempotent-Replayed".into(),
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                        .description(Some("Present when this is the saved answer of an earlier request with the same key and payload"))
                        .build(),
                );
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            limits(operation, config);
            for shared in SharedProblem::ALL {
                if shared.applies(path, operation) {
                    let status = shared.status().to_string();
                    operation
                        .responses
                        .responses
                        .entry(status)
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(shared.name())));
                }
            }
        }
    }
    doc
}

/// `AdjustStock` as `adjust_stock`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The operation of `item` for `method`.
fn operation_mut(item: &mut PathItem, method: api::Method) -> Option<&mut Operation> {
    match method {
        api::Method::Get => item.get.as_mut(),
        api::Method::Post => item.post.as_mut(),
        api::Method::Put => item.put.as_mut(),
        api::Method::Patch => item.patch.as_mut(),
        api::Method::Delete => item.delete.as_mut(),
    }
}

/// The credentials `callers` sign in with: a bearer token (a store's, a
/// device's, a channel's or an admin's) or an admin API key; none for
/// anyone.
fn security(callers: api::Callers) -> Vec<SecurityRequirement> {
    let scheme = |name: &str| SecurityRequirement::new(name, Vec::<String>::new());
    match callers {
        api::Callers::Anyone => Vec::new(),
        api::Callers::Stores | api::Callers::Holders | api::Callers::Admins => {
            vec![scheme("bearer"), scheme("api_key")]
        }
    }
}

/// [`document`] as JSON, with the one rule the typed builder cannot say: a
/// recorded fact takes no `expected_version` (it is applied whatever the
/// version), in a single adjustment as in a batch line.
pub fn served(config: &Config) -> serde_json::Value {
    let mut doc = serde_json::to_value(document(config)).unwrap_or_default();
    name_event_kinds(&mut doc);
    // Each shape of a union a schema of its own, so generated clients
    // name them (`StoreSignIn`, not `TokenRequestType0`).
    name_shapes(
        &mut doc,
        "TokenRequest",
        None,
        &[
            ("client_id", "StoreSignIn"),
            ("api_key", "AdminSignIn"),
            ("channel_id", "ChannelSignIn"),
            ("device_id", "DeviceSignIn"),
        ],
    );
    name_shapes(
        &mut doc,
        "Allocation",
        Some("policy"),
        &[
            ("most_available", "MostAvailable"),
            ("priority", "PriorityList"),
        ],
    );
    // Relative: the central that served the document.
    if let Some(doc) = doc.as_object_mut() {
        doc.insert(
            "servers".into(),
            serde_json::json!([{"url": "/", "description": "the central that served this document"}]),
        );
    }
    for name in ["AdjustRequest", "BatchItem"] {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}"))
            && let Some(schema) = schema.as_object_mut()
        {
            schema.insert(
                "not".into(),
                serde_json::json!({
                    "description": "a recorded fact takes no expected_version",
                    "required": ["kind", "expected_version"],
                    "properties": {
                        "kind": {"const": "recorded"},
                        "expected_version": {"type": "integer"}
                    }
                }),
            );
        }
    }
    doc
}

/// Moves each shape of the union `union` to a schema of its own, named by
/// `names`: (the property only that shape has, its name), or with a
/// `discriminator`, (that property's value, its name). The union becomes
/// one of their references (with the discriminator's mapping, if any).
fn name_shapes(
    doc: &mut serde_json::Value,
    union: &str,
    discriminator: Option<&str>,
    names: &[(&str, &str)],
) {
    use serde_json::{Map, Value, json};
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let Some(shapes) = schemas
        .get_mut(union)
        .and_then(|schema| schema["oneOf"].as_array_mut())
    else {
        return;
    };
    let mut named = Vec::new();
    let (mut refs, mut mapping) = (Vec::new(), Map::new());
    for mut shape in std::mem::take(shapes) {
        let mark = |mark: &str| match discriminator {
            Some(property) => shape["properties"][property]["enum"][0] == mark,
            None => shape["properties"].get(mark).is_some(),
        };
        let Some(&(value, name)) = names.iter().find(|(value, _)| mark(value)) else {
            // A shape not named stays inline, as it was.
            refs.push(shape);
            continue;
        };
        let reference = format!("#/components/schemas/{name}");
        if discriminator.is_some() {
            mapping.insert(value.to_owned(), json!(reference));
        }
        if let Some(object) = shape.as_object_mut() {
            object.insert("title".into(), json!(name));
        }
        refs.push(json!({"$ref": reference}));
        named.push((name, shape));
    }
    for (name, shape) in named {
        schemas.insert(name.to_owned(), shape);
    }
    let Some(schema) = schemas.get_mut(union).and_then(Value::as_object_mut) else {
        return;
    };
    schema.insert("oneOf".into(), Value::Array(refs));
    if let Some(property) = discriminator {
        schema.insert(
            "discriminator".into(),
            json!({"propertyName": property, "mapping": mapping}),
        );
    }
}

/// Each kind of the change log as a schema of its own (`StockAdjusted`,
/// …), and each kind's entry in the log (`StockAdjustedEvent`: its offset
/// and time beside its fields); `Change` and `Event` are one of them, told
/// apart by `kind` (a discriminator). Client generators make a type of
/// each, where the derived `Event` (an allOf over a oneOf) made none.
fn name_event_kinds(doc: &mut serde_json::Value) {
    use serde_json::{Map, Value, json};
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let kinds = schemas
        .get("Change")
        .and_then(|change| change["oneOf"].as_array())
        .cloned()
        .unwrap_or_default();
    let position = json!({
        "offset": {"type": "integer", "format": "int64", "minimum": 0,
                   "description": "Where the event is in the log."},
        "at": {"type": "string", "format": "date-time",
               "description": "When central committed it."},
    });
    let (mut changes, mut events) = (Vec::new(), Vec::new());
    let (mut change_map, mut event_map) = (Map::new(), Map::new());
    for kind in kinds {
        let Some(tag) = kind["properties"]["kind"]["enum"][0]
            .as_str()
            .map(str::to_owned)
        else {
            continue;
        };
        let name: String = tag
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        let mut event = kind.clone();
        if let Some(properties) = event["properties"].as_object_mut() {
            for (field, schema) in position.as_object().into_iter().flatten() {
                properties.insert(field.clone(), schema.clone());
            }
        }
        if let Some(required) = event["required"].as_array_mut() {
            required.splice(0..0, [json!("offset"), json!("at")]);
        }
        let change_ref = format!("#/components/schemas/{name}");
        let event_ref = format!("#/components/schemas/{name}Event");
        schemas.insert(name.clone(), kind);
        schemas.insert(format!("{name}Event"), event);
        changes.push(json!({"$ref": change_ref}));
        events.push(json!({"$ref": event_ref}));
        change_map.insert(tag.clone(), json!(change_ref));
        event_map.insert(tag, json!(event_ref));
    }
    schemas.insert(
        "Change".into(),
        json!({
            "description": "What an event did, by its `kind`.",
            "oneOf": changes,
            "discriminator": {"propertyName": "kind", "mapping": change_map},
        }),
    );
    schemas.insert(
        "Event".into(),
        json!({
            "description": "One entry of the change log: its offset, when it was committed, its `kind` and that kind's fields.",
            "oneOf": events,
            "discriminator": {"propertyName": "kind", "mapping": event_map},
        }),
    );
}

/// The configured bounds of the query parameters.
fn limits(operation: &mut Operation, config: &Config) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter
            .name
            .eq_ignore_ascii_case(shared::IDEMPOTENCY_KEY_HEADER)
        {
            parameter.description = Some(format!(
                "Made once per write by the client (a UUID fits): 1-128 visible ASCII characters. \
                 Sending it again with the same payload replays the first answer, marked \
                 `Idempotent-Replayed: true`, and applies nothing; a duplicate still in flight \
                 waits for the first. With another payload: 422 `idempotency_key_reused`. \
                 Keys are kept {} hours.",
                config.idempotency_retention_hours
            ));
        }
        let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
            continue;
        };
        match parameter.name.as_str() {
            "limit" => schema.maximum = Some(utoipa::Number::UInt(config.max_page as usize)),
            "wait" => schema.maximum = Some(utoipa::Number::UInt(config.max_wait_secs as usize)),
            _ => {}
        }
    }
}

/// The problem answers that many routes share, each declared once.
#[derive(Debug, Clone, Copy)]
enum SharedProblem {
    /// Malformed JSON, or a bad path, query or header.
    BadRequest,
    Unauthorized,
    Forbidden,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooManyRequests,
    Unavailable,
}

impl SharedProblem {
    const ALL: [SharedProblem; 9] = [
        SharedProblem::BadRequest,
        SharedProblem::Unauthorized,
        SharedProblem::Forbidden,
        SharedProblem::RequestTimeout,
        SharedProblem::PayloadTooLarge,
        SharedProblem::UnsupportedMediaType,
        SharedProblem::Unprocessable,
        SharedProblem::TooManyRequests,
        SharedProblem::Unavailable,
    ];

    fn name(self) -> &'static str {
        match self {
            SharedProblem::BadRequest => "BadRequest",
            SharedProblem::Unauthorized => "Unauthorized",
            SharedProblem::Forbidden => "Forbidden",
            SharedProblem::RequestTimeout => "RequestTimeout",
            SharedProblem::PayloadTooLarge => "PayloadTooLarge",
            SharedProblem::UnsupportedMediaType => "UnsupportedMediaType",
            SharedProblem::Unprocessable => "Unprocessable",
            SharedProblem::TooManyRequests => "TooManyRequests",
            SharedProblem::Unavailable => "Unavailable",
        }
    }

    fn status(self) -> u16 {
        match self {
            SharedProblem::BadRequest => 400,
            SharedProblem::Unauthorized => 401,
            SharedProblem::Forbidden => 403,
            SharedProblem::RequestTimeout => 408,
            SharedProblem::PayloadTooLarge => 413,
            SharedProblem::UnsupportedMediaType => 415,
            SharedProblem::Unprocessable => 422,
            SharedProblem::TooManyRequests => 429,
            SharedProblem::Unavailable => 503,
        }
    }

    fn description(self) -> &'static str {
        match self {
            SharedProblem::BadRequest => {
                "`malformed_json`, `invalid_path`, `invalid_query`, `idempotency_key_missing` or `idempotency_key_invalid`"
            }
            SharedProblem::Unauthorized => {
                "`unauthorized`, `invalid_token`, `invalid_api_key`, `token_expired` or `token_revoked`: sign in again"
            }
            SharedProblem::Forbidden => {
                "`forbidden` (an admin route, or a hold action of another kind of caller), `forbidden_store` (another store) or `forbidden_channel` (a sales channel off its routes)"
            }
            SharedProblem::RequestTimeout => "`request_timeout`: the body did not arrive in time",
            SharedProblem::PayloadTooLarge => "`payload_too_large`",
            SharedProblem::UnsupportedMediaType => {
                "`unsupported_media_type`: send `application/json`"
            }
            SharedProblem::Unprocessable => {
                "`invalid_body` or `validation_failed`, with the fields; on a keyed write, `idempotency_key_reused`: the key was used with another payload (a duplicate of the same payload, even one still in flight, waits for the first and gets its answer, marked `Idempotent-Replayed: true`)"
            }
            SharedProblem::TooManyRequests => {
                "`rate_limited`, with `Retry-After`: a budget or the failed-authentication limit"
            }
            SharedProblem::Unavailable => {
                "`service_unavailable`, with `Retry-After`: not taken (the writer or every read connection busy, the database connection closed, a bound reached); retry, a write with the same key"
            }
        }
    }

    fn response(self) -> Response {
        let problem = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        let mut response = ResponseBuilder::new()
            .description(self.description())
            .content(shared::PROBLEM_CONTENT_TYPE, problem);
        if matches!(
            self,
            SharedProblem::TooManyRequests | SharedProblem::Unavailable
        ) {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1)),
                    )
                    .description(Some("Seconds to wait before trying again"))
                    .build(),
            );
        }
        response.build()
    }

    /// Whether an operation can answer with this problem.
    fn applies(self, path: &str, operation: &Operation) -> bool {
        let signed_in = path.starts_with("/v1/")
            && !operation
                .security
                .as_ref()
                .is_some_and(|s| s.iter().all(is_open));
        let body = operation.request_body.is_some();
        let keyed = operation
            .parameters
            .iter()
            .flatten()
            .any(|p| p.name.eq_ignore_ascii_case(shared::IDEMPOTENCY_KEY_HEADER));
        let params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
        match self {
            SharedProblem::BadRequest => body || params,
            // Any request may carry credentials, and a bad one is refused
            // wherever it goes (a blocked address's too, with 429).
            SharedProblem::Unauthorized => true,
            SharedProblem::Forbidden => signed_in,
            SharedProblem::RequestTimeout
            | SharedProblem::PayloadTooLarge
            | SharedProblem::UnsupportedMediaType => body,
            SharedProblem::Unprocessable => body || keyed,
            SharedProblem::TooManyRequests => true,
            // Every route of the API reads or writes the ledger, whose
            // connections and writer queue are bounded.
            SharedProblem::Unavailable => path.starts_with("/v1/") || path == "/readyz",
        }
    }
}

/// `security(())`: an operation anyone may call.
fn is_open(requirement: &SecurityRequirement) -> bool {
    serde_json::to_value(requirement).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
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
