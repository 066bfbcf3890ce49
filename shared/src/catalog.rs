use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// A catalogue entry. Deleting a product keeps it with `active: false`, so
/// history and replicas stay coherent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub sku: String,
    pub name: String,
    /// Price in minor units (cents): money never travels as a float.
    pub price_cents: i64,
    pub active: bool,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub sku: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::quantity))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub price_cents: i64,
}

/// A partial update; absent fields are left as they are. With
/// `expected_version` the update is refused if the product moved meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_name))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_quantity))]
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub price_cents: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_version))]
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub expected_version: Option<u64>,
}

/// A product with its availability over the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductAvailability {
    pub product: Product,
    /// Sum of `available` over all stores.
    pub total: i64,
    /// Sum of `held` over all stores.
    #[serde(default)]
    pub held: i64,
    pub stores: Vec<StoreAvailability>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreAvailability {
    pub store_id: String,
    /// What can be sold now: on hand less held.
    pub available: i64,
    /// Units under active holds (on hand = available + held).
    #[serde(default)]
    pub held: i64,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Store {
    pub store_id: String,
    pub name: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Units of each of its levels no sales channel may hold (0: none).
    #[serde(default, skip_serializing_if = "crate::hold::is_zero")]
    pub safety_stock: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub store_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub name: String,
    /// The store's secret; central makes one if absent (at least 16 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_client_secret))]
    pub client_secret: Option<String>,
}
