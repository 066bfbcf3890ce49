use serde::{Deserialize, Serialize};

use crate::{Problem, Timestamp};

/// Central's state of one (store, sku) level. A level that was never written
/// reads as `available: 0, held: 0, version: 0`.
///
/// `available` is what a new customer can be sold, at a till or online:
/// the units on the shelf less those held for online orders. The shelf's
/// own count is `on_hand` = `available + held`; sales, restocks and
/// stocktakes move it, holds move `held`. Before holds existed the two were
/// the same figure, so a client that knows only `available` keeps selling
/// exactly what it may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockLevel {
    pub store_id: String,
    pub sku: String,
    pub available: i64,
    /// Units under active holds.
    #[serde(default)]
    pub held: i64,
    pub version: u64,
    /// `None` for a level that was never written.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_at: Option<Timestamp>,
}

impl StockLevel {
    /// What the shelf holds: available and held units together.
    pub fn on_hand(&self) -> i64 {
        self.available + self.held
    }
}

/// How central treats an adjustment that would take a level below zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AdjustKind {
    /// A request: refused rather than going below zero.
    #[default]
    Guarded,
    /// A fact (e.g. a sale already handed over the counter while offline):
    /// always applied; going below zero also records a discrepancy event.
    Recorded,
}

/// One stock adjustment of a store's level. The idempotency key travels in the
/// `Idempotency-Key` header for a single call, or in the batch item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdjustRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub sku: String,
    /// Non-zero change: negative for a sale, positive for a restock.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::delta))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub delta: i64,
    #[serde(default)]
    pub kind: AdjustKind,
    /// Refuse with `version_conflict` unless the level is still at this version.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::optional"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_version))]
    pub expected_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reason))]
    pub reason: Option<String>,
}

/// The answer to an applied adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdjustResult {
    pub store_id: String,
    pub sku: String,
    pub available: i64,
    #[serde(default, skip_serializing_if = "crate::hold::is_zero")]
    pub held: i64,
    pub version: u64,
    /// Offset of the `stock_adjusted` event in the change log.
    pub offset: u64,
    /// Offset of the `discrepancy` event, when a recorded fact went below zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrepancy_offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::idempotency_key))]
    pub idempotency_key: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub sku: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::delta))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub delta: i64,
    #[serde(default)]
    pub kind: AdjustKind,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::optional"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_version))]
    pub expected_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reason))]
    pub reason: Option<String>,
}

impl BatchItem {
    pub fn request(&self) -> AdjustRequest {
        AdjustRequest {
            sku: self.sku.clone(),
            delta: self.delta,
            kind: self.kind,
            expected_version: self.expected_version,
            reason: self.reason.clone(),
        }
    }
}

/// Many adjustments of one store in one request. With `atomic: true` they are
/// a basket: all apply or none does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchAdjustRequest {
    #[serde(default)]
    pub atomic: bool,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::batch_items))]
    pub items: Vec<BatchItem>,
}

/// The batch answer is always 200; each item carries its own status, and
/// either its result or its problem, exactly as a single call would answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchAdjustResponse {
    pub atomic: bool,
    /// False when an atomic batch was refused as a whole.
    pub committed: bool,
    pub results: Vec<BatchItemResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItemResult {
    pub idempotency_key: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<AdjustResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// An absolute count (stocktake), set by an admin: what the shelf holds.
/// Held units are part of it; `available` becomes the count less them.
/// (`available` is still taken as this field's name: before holds the two
/// were the same.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetStockRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::quantity))]
    #[serde(alias = "available", deserialize_with = "crate::whole::number")]
    pub on_hand: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::optional"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_version))]
    pub expected_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reason))]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetStockResult {
    pub level: StockLevel,
    pub offset: u64,
}
