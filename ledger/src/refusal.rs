//! Refusals: the ledger's "no", with the state that explains it. They are
//! stored with idempotency keys, so a replay gets the very same refusal.

use serde::{Deserialize, Serialize};
use shared::{HoldState, Product, Shortfall, StockLevel};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    #[error("store '{store_id}' does not exist")]
    StoreNotFound { store_id: String },
    #[error("store '{store_id}' is deactivated: it cannot hand goods over")]
    StoreInactive { store_id: String },
    #[error("product '{sku}' does not exist")]
    ProductNotFound { sku: String },
    #[error("product '{sku}' is deleted")]
    ProductInactive { sku: String },
    #[error("product '{sku}' exists already")]
    ProductExists { sku: String },
    #[error("store '{store_id}' exists already")]
    StoreExists { store_id: String },
    #[error("channel '{channel_id}' does not exist")]
    ChannelNotFound { channel_id: String },
    #[error("channel '{channel_id}' exists already")]
    ChannelExists { channel_id: String },
    #[error("device '{device_id}' does not exist")]
    DeviceNotFound { device_id: String },
    #[error(
        "store '{store_id}' has {limit} enrolled devices, the most it may have; revoke one first"
    )]
    DeviceLimit { store_id: String, limit: u32 },
    #[error("{} available, cannot take {delta}", current.available)]
    InsufficientStock { current: StockLevel, delta: i64 },
    #[error("{} available; {delta} would take the level past ±{}", current.available, shared::limits::MAX_LEVEL)]
    LevelOutOfRange { current: StockLevel, delta: i64 },
    #[error("expected version {expected}, the level is at version {}", current.version)]
    VersionConflict { current: StockLevel, expected: u64 },
    #[error("expected version {expected}, the product is at version {}", current.version)]
    ProductVersionConflict { current: Product, expected: u64 },
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("another line of the atomic batch was refused; nothing was applied")]
    BatchAborted,
    #[error("not enough is available to hold every line; nothing was held")]
    HoldUnavailable { shortfalls: Vec<Shortfall> },
    #[error("hold '{hold_id}' does not exist")]
    HoldNotFound { hold_id: String },
    #[error("hold '{hold_id}' has ended ({}); nothing was changed", state.as_str())]
    HoldEnded { hold_id: String, state: HoldState },
    #[error("hold '{hold_id}' has no active line of '{sku}' at store '{store_id}'")]
    HoldLineNotFound {
        hold_id: String,
        store_id: String,
        sku: String,
    },
    #[error("channel '{channel_id}' is deactivated")]
    ChannelInactive { channel_id: String },
    #[error(
        "channel '{channel_id}' holds {held_units} units and may hold at most {max_held_units}; cannot hold {requested} more"
    )]
    ChannelHoldLimit {
        channel_id: String,
        max_held_units: i64,
        held_units: i64,
        requested: i64,
    },
    #[error(
        "a hold of this channel lives at most {max_hold_life_seconds} s from when it was placed: it may end no later than {latest_expires_at}"
    )]
    HoldLifeExceeded {
        max_hold_life_seconds: u32,
        #[serde(with = "time::serde::rfc3339")]
        latest_expires_at: shared::Timestamp,
    },
    #[error("{held} units of '{sku}' are held at store '{store_id}'; cannot hand over {quantity}")]
    CommitExceedsHeld {
        store_id: String,
        sku: String,
        held: i64,
        quantity: i64,
    },
}

impl Refusal {
    /// The level a refusal reports, if it reports one.
    pub fn current_mut(&mut self) -> Option<&mut StockLevel> {
        match self {
            Refusal::InsufficientStock { current, .. }
            | Refusal::LevelOutOfRange { current, .. }
            | Refusal::VersionConflict { current, .. } => Some(current),
            _ => None,
        }
    }
}
