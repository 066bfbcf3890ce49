//! Wire types of the Stockline API: every request, response, event and error
//! that crosses between central and a store node. No server-only dependencies,
//! so the store node (wasm32) uses exactly the same definitions.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod hold;
pub mod id;
pub mod limits;
pub mod money;
pub mod problem;
pub mod replication;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod stock;
pub mod validate;
pub mod whole;

pub use auth::*;
pub use catalog::*;
pub use hold::*;
pub use id::{ChannelId, DeviceId, HoldId, IdempotencyKey, Sku, StoreId};
pub use money::Currency;
pub use problem::*;
pub use replication::*;
pub use stock::*;

/// Timestamps cross the wire as RFC 3339 strings.
pub type Timestamp = time::OffsetDateTime;

/// The header that carries a write's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A page of a cursor-paginated listing. Pass `next_cursor` back as `cursor`
/// to get the following page; `None` means this was the last one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
