//! Every endpoint of central's API, declared once: its method, path
//! template, path parameters (as id types), query, body and answer types,
//! whether it takes an idempotency key, and who may call it.
//!
//! Central's router and OpenAPI document, the store node's transports, the
//! test kit's client and the bench all derive from these declarations, so a
//! path string exists here and nowhere else, and a client cannot send a
//! body the server does not take or read an answer it does not send.

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    AdjustRequest, AdjustResult, AvailabilityRequest, BatchAdjustRequest, BatchAdjustResponse,
    ChangesPage, Channel, ChannelActivated, ChannelCredentials, ChannelHolds, ChannelId,
    ChannelLimits, CommitHoldRequest, Device, DeviceCredentials, DeviceId, EnrolRequest,
    ExtendHoldRequest, Hold, HoldId, NewChannel, NewProduct, NewStore, Page, PlaceHoldRequest,
    Product, ProductAvailability, ProductUpdate, PruneReport, SafetyStock, SetStockRequest,
    SetStockResult, Sku, Snapshot, StockLevel, Store, StoreCredentials, StoreId, StoreStatus,
    TokenRequest, TokenResponse,
};

/// An HTTP method an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Who central admits to an endpoint. A handler may refuse more (a store
/// writes only its own levels); never less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Callers {
    /// No credential: signing in, enrolling (the body carries the store's
    /// secret), health.
    Anyone,
    /// Stores, their devices and admins; a sales channel is refused.
    Stores,
    /// Stores, devices, sales channels and admins: availability and holds,
    /// whose handlers decide what each may do.
    Holders,
    /// Admins only (API key or admin token).
    Admins,
}

/// The values that fill a path template's `{…}` segments, in order. Only
/// id types (which hold URL-safe characters only) and tuples of them.
pub trait PathParams {
    fn values(&self) -> Vec<&str>;
}

impl PathParams for () {
    fn values(&self) -> Vec<&str> {
        Vec::new()
    }
}

impl<A: PathParams, B: PathParams> PathParams for (A, B) {
    fn values(&self) -> Vec<&str> {
        let mut values = self.0.values();
        values.extend(self.1.values());
        values
    }
}

/// One endpoint of central's API. Implemented by [`endpoints!`] only.
pub trait Endpoint {
    /// Which one, for code that treats a few endpoints apart (a fake
    /// central, a fault-injecting transport).
    const ROUTE: Route;
    const METHOD: Method;
    /// The path, its parameters as `{name}` (axum's and OpenAPI's syntax).
    const PATH: &'static str;
    const CALLERS: Callers;
    /// Takes an `Idempotency-Key` header.
    const KEYED: bool;
    /// Sends a JSON body ([`Endpoint::Body`] is `()` when not).
    const HAS_BODY: bool;
    /// The status of a successful answer.
    const OK: u16;
    type Params: PathParams;
    /// The query string's fields (`()` for none).
    type Query: Serialize + DeserializeOwned;
    type Body: Serialize + DeserializeOwned;
    type Response: Serialize + DeserializeOwned;

    /// How long a client waits for the answer before taking it as lost.
    fn timeout_ms(_query: &Self::Query) -> u32 {
        CALL_TIMEOUT_MS
    }
}

/// How long a call may take before a client gives up on it (`fetch` itself
/// never does on a silent network).
pub const CALL_TIMEOUT_MS: u32 = 15_000;

/// One call of an endpoint: what goes in its path, query, key header and
/// body. A transport adds the credential and sends it.
pub struct Call<'a, E: Endpoint> {
    pub params: &'a E::Params,
    pub query: &'a E::Query,
    pub key: Option<&'a str>,
    pub body: &'a E::Body,
}

impl<E: Endpoint> Clone for Call<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Endpoint> Copy for Call<'_, E> {}

impl<'a, E: Endpoint<Query = (), Body = ()>> Call<'a, E> {
    /// A call with neither query nor body.
    pub fn to(params: &'a E::Params) -> Self {
        Call {
            params,
            query: &(),
            key: None,
            body: &(),
        }
    }
}

impl<'a, E: Endpoint<Query = ()>> Call<'a, E> {
    /// A call with a body and no query.
    pub fn with(params: &'a E::Params, body: &'a E::Body) -> Self {
        Call {
            params,
            query: &(),
            key: None,
            body,
        }
    }
}

impl<'a, E: Endpoint> Call<'a, E> {
    /// The same call under idempotency key `key`.
    pub fn keyed(self, key: &'a str) -> Self {
        Call {
            key: Some(key),
            ..self
        }
    }

    /// The path with its parameters filled in, and the query string.
    pub fn target(&self) -> String {
        let mut target = fill(E::PATH, &self.params.values());
        let query = serde_urlencoded::to_string(self.query).unwrap_or_default();
        if !query.is_empty() {
            target.push('?');
            target.push_str(&query);
        }
        target
    }

    pub fn timeout_ms(&self) -> u32 {
        E::timeout_ms(self.query)
    }
}

/// `template` with each `{…}` segment replaced by the next of `values`.
/// [`Call::target`] fills it with typed ids; a test sends what a typed
/// call cannot (a malformed id) with this.
pub fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        debug_assert!(close <= rest.len());
        out.push_str(values.next().copied().unwrap_or_default());
        rest = &rest[close..];
    }
    out.push_str(rest);
    debug_assert!(values.next().is_none(), "more values than {template} takes");
    out
}

/// What the test of the declarations and the OpenAPI document read of each
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub route: Route,
    /// The endpoint's name, a verb and a noun (`AdjustStock`): its
    /// operation's id in the OpenAPI document, in snake case.
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub callers: Callers,
    pub keyed: bool,
    pub ok: u16,
}

macro_rules! has_body {
    (()) => {
        false
    };
    ($body:ty) => {
        true
    };
}

macro_rules! endpoints {
    (@timeout GetSnapshot) => {
        /// A snapshot of a large catalogue takes longer to download.
        fn timeout_ms(_: &SnapshotQuery) -> u32 {
            120_000
        }
    };
    (@timeout GetChanges) => {
        /// A long-poll waits its `wait` before answering.
        fn timeout_ms(query: &ChangesQuery) -> u32 {
            let wait_ms = (query.wait.unwrap_or(0.0).clamp(0.0, 3600.0) * 1000.0) as u32;
            wait_ms.saturating_add(CALL_TIMEOUT_MS)
        }
    };
    (@timeout $name:ident) => {};
    ($(
        $(#[$doc:meta])*
        $name:ident {
            $method:ident $path:literal,
            callers: $callers:ident,
            keyed: $keyed:literal,
            params: $params:ty,
            query: $query:ty,
            body: $body:tt,
            ok: $ok:literal => $response:ty $(,)?
        }
    )*) => {
        /// Each endpoint by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Route {
            $($name,)*
        }

        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl $name {
                /// [`Endpoint::PATH`], without the trait in scope.
                pub const PATH: &'static str = $path;
            }

            impl Endpoint for $name {
                const ROUTE: Route = Route::$name;
                const METHOD: Method = Method::$method;
                const PATH: &'static str = $path;
                const CALLERS: Callers = Callers::$callers;
                const KEYED: bool = $keyed;
                const HAS_BODY: bool = has_body!($body);
                const OK: u16 = $ok;
                type Params = $params;
                type Query = $query;
                type Body = $body;
                type Response = $response;
                endpoints!(@timeout $name);
            }
        )*

        /// Every endpoint, in declaration order.
        pub const ENDPOINTS: &[Declared] = &[$(
            Declared {
                route: Route::$name,
                name: stringify!($name),
                method: Method::$method,
                path: $path,
                callers: Callers::$callers,
                keyed: $keyed,
                ok: $ok,
            },
        )*];
    };
}

endpoints! {
    // Sign-in and enrolment.

    /// A credential (store, device, channel or admin key) for a bearer token.
    SignIn { Post "/v1/auth/token", callers: Anyone, keyed: false,
        params: (), query: (), body: TokenRequest, ok: 200 => TokenResponse }
    /// Enrols a till with its store's secret: the device's own credential,
    /// shown once.
    EnrolDevice { Post "/v1/devices", callers: Anyone, keyed: false,
        params: (), query: (), body: EnrolRequest, ok: 201 => DeviceCredentials }

    // Stock.

    /// Adjusts one level of a store.
    AdjustStock { Post "/v1/stores/{store_id}/adjustments", callers: Stores, keyed: true,
        params: StoreId, query: (), body: AdjustRequest, ok: 200 => AdjustResult }
    /// Adjusts many levels of a store, each line under its own key; a basket
    /// when atomic.
    AdjustStockBatch { Post "/v1/stores/{store_id}/adjustments/batch", callers: Stores, keyed: false,
        params: StoreId, query: (), body: BatchAdjustRequest, ok: 200 => BatchAdjustResponse }
    /// A store's levels, by sku.
    ListLevels { Get "/v1/stores/{store_id}/stock", callers: Stores, keyed: false,
        params: StoreId, query: PageQuery, body: (), ok: 200 => Page<StockLevel> }
    /// One level.
    GetLevel { Get "/v1/stores/{store_id}/stock/{sku}", callers: Stores, keyed: false,
        params: (StoreId, Sku), query: (), body: (), ok: 200 => StockLevel }

    // Catalogue.

    /// The catalogue, by sku.
    ListProducts { Get "/v1/products", callers: Stores, keyed: false,
        params: (), query: ProductsQuery, body: (), ok: 200 => Page<Product> }
    /// A product's availability in every store.
    GetProduct { Get "/v1/products/{sku}", callers: Stores, keyed: false,
        params: Sku, query: (), body: (), ok: 200 => ProductAvailability }
    /// The chain's active stores.
    ListStores { Get "/v1/stores", callers: Stores, keyed: false,
        params: (), query: (), body: (), ok: 200 => Vec<Store> }

    // Holds.

    /// Holds stock for an order while the customer pays.
    PlaceHold { Post "/v1/holds", callers: Holders, keyed: true,
        params: (), query: (), body: PlaceHoldRequest, ok: 201 => Hold }
    GetHold { Get "/v1/holds/{hold_id}", callers: Holders, keyed: false,
        params: HoldId, query: (), body: (), ok: 200 => Hold }
    ExtendHold { Post "/v1/holds/{hold_id}/extend", callers: Holders, keyed: true,
        params: HoldId, query: (), body: ExtendHoldRequest, ok: 200 => Hold }
    /// Hands held goods over: they leave the shelf as sold.
    CommitHold { Post "/v1/holds/{hold_id}/commit", callers: Holders, keyed: true,
        params: HoldId, query: (), body: CommitHoldRequest, ok: 200 => Hold }
    /// Gives held goods back to the shelf.
    ReleaseHold { Post "/v1/holds/{hold_id}/release", callers: Holders, keyed: true,
        params: HoldId, query: (), body: (), ok: 200 => Hold }
    /// Several products' availability across the chain.
    CheckAvailability { Post "/v1/availability", callers: Holders, keyed: false,
        params: (), query: (), body: AvailabilityRequest, ok: 200 => Vec<ProductAvailability> }
    /// A store's pick-ups: the holds with a line still active there.
    ListPickups { Get "/v1/stores/{store_id}/holds", callers: Stores, keyed: false,
        params: StoreId, query: (), body: (), ok: 200 => Vec<Hold> }

    // Replication.

    GetSnapshot { Get "/v1/replication/snapshot", callers: Stores, keyed: false,
        params: (), query: SnapshotQuery, body: (), ok: 200 => Snapshot }
    GetChanges { Get "/v1/replication/changes", callers: Stores, keyed: false,
        params: (), query: ChangesQuery, body: (), ok: 200 => ChangesPage }

    // Administration.

    CreateProduct { Post "/v1/admin/products", callers: Admins, keyed: false,
        params: (), query: (), body: NewProduct, ok: 201 => Product }
    UpdateProduct { Patch "/v1/admin/products/{sku}", callers: Admins, keyed: false,
        params: Sku, query: (), body: ProductUpdate, ok: 200 => Product }
    DeleteProduct { Delete "/v1/admin/products/{sku}", callers: Admins, keyed: false,
        params: Sku, query: (), body: (), ok: 200 => Product }
    CreateStore { Post "/v1/admin/stores", callers: Admins, keyed: false,
        params: (), query: (), body: NewStore, ok: 201 => StoreCredentials }
    ListStoreStatuses { Get "/v1/admin/stores", callers: Admins, keyed: false,
        params: (), query: (), body: (), ok: 200 => Vec<StoreStatus> }
    DeactivateStore { Post "/v1/admin/stores/{store_id}/deactivate", callers: Admins, keyed: false,
        params: StoreId, query: (), body: (), ok: 200 => Store }
    ActivateStore { Post "/v1/admin/stores/{store_id}/activate", callers: Admins, keyed: false,
        params: StoreId, query: (), body: (), ok: 200 => Store }
    RotateStoreSecret { Post "/v1/admin/stores/{store_id}/rotate-secret", callers: Admins, keyed: false,
        params: StoreId, query: (), body: (), ok: 200 => StoreCredentials }
    SetSafetyStock { Put "/v1/admin/stores/{store_id}/safety-stock", callers: Admins, keyed: false,
        params: StoreId, query: (), body: SafetyStock, ok: 200 => Store }
    SetStock { Put "/v1/admin/stores/{store_id}/stock/{sku}", callers: Admins, keyed: false,
        params: (StoreId, Sku), query: (), body: SetStockRequest, ok: 200 => SetStockResult }
    ListDevices { Get "/v1/admin/stores/{store_id}/devices", callers: Admins, keyed: false,
        params: StoreId, query: (), body: (), ok: 200 => Vec<Device> }
    RevokeDevice { Post "/v1/admin/devices/{device_id}/revoke", callers: Admins, keyed: false,
        params: DeviceId, query: (), body: (), ok: 200 => Device }
    PruneLog { Post "/v1/admin/prune", callers: Admins, keyed: false,
        params: (), query: (), body: (), ok: 200 => PruneReport }
    CreateChannel { Post "/v1/admin/channels", callers: Admins, keyed: false,
        params: (), query: (), body: NewChannel, ok: 201 => ChannelCredentials }
    ListChannels { Get "/v1/admin/channels", callers: Admins, keyed: false,
        params: (), query: (), body: (), ok: 200 => Vec<Channel> }
    DeactivateChannel { Post "/v1/admin/channels/{channel_id}/deactivate", callers: Admins, keyed: false,
        params: ChannelId, query: (), body: (), ok: 200 => Channel }
    ActivateChannel { Post "/v1/admin/channels/{channel_id}/activate", callers: Admins, keyed: false,
        params: ChannelId, query: ActivateQuery, body: (), ok: 200 => ChannelActivated }
    RotateChannelSecret { Post "/v1/admin/channels/{channel_id}/rotate-secret", callers: Admins, keyed: false,
        params: ChannelId, query: (), body: (), ok: 200 => ChannelCredentials }
    SetChannelLimits { Put "/v1/admin/channels/{channel_id}/limits", callers: Admins, keyed: false,
        params: ChannelId, query: (), body: ChannelLimits, ok: 200 => Channel }
    ListChannelHolds { Get "/v1/admin/channels/{channel_id}/holds", callers: Admins, keyed: false,
        params: ChannelId, query: (), body: (), ok: 200 => ChannelHolds }

    // Operations.

    /// The process is up.
    GetHealth { Get "/healthz", callers: Anyone, keyed: false,
        params: (), query: (), body: (), ok: 200 => Health }
    /// The ledger answers.
    GetReadiness { Get "/readyz", callers: Anyone, keyed: false,
        params: (), query: (), body: (), ok: 200 => Health }
}

/// `?cursor=&limit=` of a paginated listing.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Sku>,
    /// Page size, 1 to the configured maximum (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A page of the catalogue.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ProductsQuery {
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Sku>,
    /// Page size, 1 to the configured maximum (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Include deleted (inactive) products.
    #[serde(default)]
    pub include_deleted: bool,
}

impl ProductsQuery {
    pub fn page(&self) -> PageQuery {
        PageQuery {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }
}

/// Which store's levels a snapshot carries.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SnapshotQuery {
    /// Only this store's levels (the catalogue and store list come whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreId>,
}

/// A page of the change log.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ChangesQuery {
    /// The offset the client has applied up to (the snapshot's `offset`, then
    /// each page's `next_offset`).
    #[cfg_attr(feature = "openapi", param(value_type = crate::schema::Offset))]
    pub from: u64,
    /// Most events in the page (default 500; at most `--max-page`).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Seconds to wait for an event when there is none yet (default 0; at
    /// most `--max-wait-secs`).
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 60))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<f64>,
    /// Only this store's events, plus the catalogue's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreId>,
}

/// Re-activating a sales channel.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ActivateQuery {
    /// Keep the secret the channel had when it was deactivated (by default
    /// it gets a new one: a secret that was live then may be why).
    #[serde(default)]
    pub keep_secret: bool,
}

/// The answer of the health checks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Newest committed offset.
    pub head: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_fills_the_path_in_order_and_adds_its_query() {
        let store: StoreId = "store-001".parse().unwrap();
        let sku: Sku = "SKU-1".parse().unwrap();
        let params = (store.clone(), sku);
        assert_eq!(
            Call::<GetLevel>::to(&params).target(),
            "/v1/stores/store-001/stock/SKU-1"
        );
        let query = ChangesQuery {
            from: 7,
            wait: Some(25.0),
            store: Some(store),
            ..Default::default()
        };
        let call = Call::<GetChanges> {
            params: &(),
            query: &query,
            key: None,
            body: &(),
        };
        assert_eq!(
            call.target(),
            "/v1/replication/changes?from=7&wait=25.0&store=store-001"
        );
        assert_eq!(call.timeout_ms(), 40_000);
    }

    #[test]
    fn every_declared_path_is_unique_per_method_and_its_parameters_match_its_template() {
        let mut seen = std::collections::HashSet::new();
        for e in ENDPOINTS {
            assert!(seen.insert((e.method, e.path)), "{} declared twice", e.path);
            assert!(e.path.starts_with('/'), "{}", e.path);
            assert_eq!(e.path.matches('{').count(), e.path.matches('}').count());
        }
        assert_eq!(AdjustStock::PATH.matches('{').count(), 1);
        assert_eq!(GetLevel::PATH.matches('{').count(), 2);
        const { assert!(!ReleaseHold::HAS_BODY && CommitHold::HAS_BODY) };
    }
}
