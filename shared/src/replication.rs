use serde::{Deserialize, Serialize};

use crate::{
    AdjustKind, HeldLevel, Product, ReleaseReason, StockLevel, Store, Timestamp, hold::is_zero,
};

/// Every level a store needs plus the catalogue, consistent at `offset`:
/// applying the change log from `offset` onwards brings it up to date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snapshot {
    pub offset: u64,
    /// The store the levels are filtered to, if any.
    pub store_id: Option<String>,
    /// The chain's currency: what `price_cents` counts in.
    #[serde(default)]
    pub currency: crate::Currency,
    pub stores: Vec<Store>,
    pub products: Vec<Product>,
    pub levels: Vec<StockLevel>,
    /// The store's active holds (its pick-ups to hand over), soonest to
    /// expire first; none in a chain-wide snapshot. Following the change
    /// log's hold events from `offset` keeps them current.
    #[serde(default)]
    pub holds: Vec<crate::Hold>,
}

/// A page of the change log. Events are in strict offset order; pass
/// `next_offset` as `from` to continue. With a store filter the page holds
/// only that store's events and the catalogue's, but `next_offset` still
/// covers everything scanned, so a quiet store does not fall behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangesPage {
    pub events: Vec<Event>,
    pub next_offset: u64,
    /// The newest offset central had committed when the page was read.
    pub head: u64,
}

/// One entry of the change log: its offset, when it was committed, and
/// what it did.
// Read with `Flat` (see there), not serde's derive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub offset: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    #[serde(flatten)]
    pub change: Change,
}

impl Event {
    /// The store this event belongs to; `None` for catalogue-wide events,
    /// which every store follows.
    pub fn store_id(&self) -> Option<&str> {
        self.change.store_id()
    }
}

/// What happened, one variant per kind of event. The kind's name is the
/// variant's, in snake case: serde's tag and [`ChangeKind`] derive it, so
/// it is written nowhere. Every consumer matches every variant (no
/// catch-all arm): a new kind fails to compile wherever it must be handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, strum::EnumDiscriminants)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[strum_discriminants(
    name(ChangeKind),
    derive(strum::IntoStaticStr, strum::EnumString, Hash),
    strum(serialize_all = "snake_case")
)]
pub enum Change {
    StockAdjusted {
        store_id: String,
        sku: String,
        delta: i64,
        adjust_kind: AdjustKind,
        available: i64,
        /// Units held on the level (unchanged by an adjustment).
        #[serde(default, skip_serializing_if = "is_zero")]
        held: i64,
        version: u64,
        idempotency_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The enrolled device (till) that made the write, as its
        /// credential proved; absent for other callers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_id: Option<String>,
    },
    /// A stocktake: the level was set to an absolute count.
    StockSet {
        store_id: String,
        sku: String,
        /// `available` before the count.
        previous: i64,
        /// The count less the held units.
        available: i64,
        #[serde(default, skip_serializing_if = "is_zero")]
        held: i64,
        version: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A recorded fact or a count took a level below zero: a manager must
    /// look. With units held, the holds whose goods may no longer be there
    /// are named.
    Discrepancy {
        store_id: String,
        sku: String,
        available: i64,
        #[serde(default, skip_serializing_if = "is_zero")]
        held: i64,
        version: u64,
        /// The adjustment's key; empty for a count.
        idempotency_key: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        holds_at_risk: Vec<String>,
    },
    /// Units of the store were held for a channel's order, until
    /// `expires_at`. One event per store the hold takes from.
    HoldPlaced {
        hold_id: String,
        store_id: String,
        channel: String,
        reference: String,
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        expires_at: Timestamp,
        lines: Vec<HeldLevel>,
    },
    /// The hold now ends at `expires_at`.
    HoldExtended {
        hold_id: String,
        store_id: String,
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        expires_at: Timestamp,
    },
    /// Held units left the shop: on hand and held both drop by `quantity`;
    /// `released` units of the line went back to available.
    HoldCommitted {
        hold_id: String,
        store_id: String,
        lines: Vec<HeldLevel>,
    },
    /// Held units went back to available: cancelled or expired.
    HoldReleased {
        hold_id: String,
        store_id: String,
        reason: ReleaseReason,
        /// The admin who released it (`reason` `admin`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin: Option<String>,
        lines: Vec<HeldLevel>,
    },
    ProductCreated {
        product: Product,
    },
    ProductUpdated {
        product: Product,
    },
    ProductDeleted {
        product: Product,
    },
    StoreCreated {
        store: Store,
    },
    /// A store was activated or deactivated.
    StoreUpdated {
        store: Store,
    },
    /// A store's credentials changed: it was created, activated or
    /// deactivated, or its secret was rotated. Tokens of an older
    /// `generation` stop working; every central follows this.
    StoreAccess {
        store_id: String,
        active: bool,
        generation: u64,
    },
    /// A sales channel was registered, activated or deactivated: tokens of
    /// an older `generation` stop working; every central follows this.
    ChannelAccess {
        channel_id: String,
        active: bool,
        generation: u64,
    },
    /// A device (till) was enrolled at the store.
    DeviceEnrolled {
        store_id: String,
        device_id: String,
    },
    /// A device was revoked: its credential and tokens stop working.
    DeviceRevoked {
        store_id: String,
        device_id: String,
    },
}

impl Change {
    pub fn store_id(&self) -> Option<&str> {
        match self {
            Change::StockAdjusted { store_id, .. }
            | Change::StockSet { store_id, .. }
            | Change::Discrepancy { store_id, .. }
            | Change::StoreAccess { store_id, .. }
            | Change::DeviceEnrolled { store_id, .. }
            | Change::DeviceRevoked { store_id, .. }
            | Change::HoldPlaced { store_id, .. }
            | Change::HoldExtended { store_id, .. }
            | Change::HoldCommitted { store_id, .. }
            | Change::HoldReleased { store_id, .. } => Some(store_id),
            Change::ProductCreated { .. }
            | Change::ProductUpdated { .. }
            | Change::ProductDeleted { .. }
            | Change::StoreCreated { .. }
            | Change::StoreUpdated { .. }
            | Change::ChannelAccess { .. } => None,
        }
    }

    pub fn sku(&self) -> Option<&str> {
        match self {
            Change::StockAdjusted { sku, .. }
            | Change::StockSet { sku, .. }
            | Change::Discrepancy { sku, .. } => Some(sku),
            Change::ProductCreated { product }
            | Change::ProductUpdated { product }
            | Change::ProductDeleted { product } => Some(&product.sku),
            Change::StoreCreated { .. }
            | Change::StoreUpdated { .. }
            | Change::StoreAccess { .. }
            | Change::DeviceEnrolled { .. }
            | Change::DeviceRevoked { .. }
            | Change::HoldPlaced { .. }
            | Change::HoldExtended { .. }
            | Change::HoldCommitted { .. }
            | Change::HoldReleased { .. }
            | Change::ChannelAccess { .. } => None,
        }
    }

    /// The levels this event sets, as they stand after it, for replicas:
    /// an adjustment's or a count's level, or each level a hold event moved.
    pub fn levels(&self) -> Vec<Figures<'_>> {
        match self {
            Change::StockAdjusted {
                store_id,
                sku,
                available,
                held,
                version,
                ..
            }
            | Change::StockSet {
                store_id,
                sku,
                available,
                held,
                version,
                ..
            } => vec![Figures {
                store_id,
                sku,
                available: *available,
                held: *held,
                version: *version,
            }],
            Change::HoldPlaced {
                store_id, lines, ..
            }
            | Change::HoldCommitted {
                store_id, lines, ..
            }
            | Change::HoldReleased {
                store_id, lines, ..
            } => lines
                .iter()
                .map(|line| Figures {
                    store_id,
                    sku: &line.sku,
                    available: line.available,
                    held: line.held,
                    version: line.version,
                })
                .collect(),
            Change::Discrepancy { .. }
            | Change::ProductCreated { .. }
            | Change::ProductUpdated { .. }
            | Change::ProductDeleted { .. }
            | Change::StoreCreated { .. }
            | Change::StoreUpdated { .. }
            | Change::StoreAccess { .. }
            | Change::ChannelAccess { .. }
            | Change::DeviceEnrolled { .. }
            | Change::DeviceRevoked { .. }
            | Change::HoldExtended { .. } => Vec::new(),
        }
    }

    /// Stable name of the event kind, as it appears in the `kind` field.
    pub fn kind(&self) -> &'static str {
        ChangeKind::from(self).into()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut flat = Flat::deserialize(deserializer)?;
        let offset = flat
            .offset
            .take()
            .ok_or_else(|| D::Error::missing_field("offset"))?;
        let at = flat
            .at
            .take()
            .ok_or_else(|| D::Error::missing_field("at"))?;
        let change = flat.change().map_err(D::Error::custom)?;
        Ok(Event { offset, at, change })
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        Flat::deserialize(deserializer)?
            .change()
            .map_err(D::Error::custom)
    }
}

/// Every field of every kind of event, each optional: the one shape an
/// event is read into, as it streams by. [`Flat::change`] takes what its
/// kind needs. (serde's own reading of an internally tagged enum buffers
/// the whole object first, and was the largest function of the store
/// node's wasm, 39 KB.)
#[derive(Deserialize)]
struct Flat {
    offset: Option<u64>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    at: Option<Timestamp>,
    kind: String,
    store_id: Option<String>,
    sku: Option<String>,
    delta: Option<i64>,
    adjust_kind: Option<AdjustKind>,
    available: Option<i64>,
    held: Option<i64>,
    version: Option<u64>,
    idempotency_key: Option<String>,
    /// A stock event's free text, or why a hold was released.
    reason: Option<String>,
    device_id: Option<String>,
    previous: Option<i64>,
    holds_at_risk: Option<Vec<String>>,
    hold_id: Option<String>,
    channel: Option<String>,
    reference: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<Timestamp>,
    lines: Option<Vec<HeldLevel>>,
    admin: Option<String>,
    product: Option<Product>,
    store: Option<Store>,
    active: Option<bool>,
    generation: Option<u64>,
    channel_id: Option<String>,
}

/// A field an event's kind must have.
macro_rules! need {
    ($flat:ident . $field:ident) => {
        $flat
            .$field
            .ok_or_else(|| format!("missing field `{}`", stringify!($field)))?
    };
}

impl Flat {
    /// The event its kind makes of these fields.
    fn change(self) -> Result<Change, String> {
        let flat = self;
        let kind: ChangeKind = flat
            .kind
            .parse()
            .map_err(|_| format!("unknown event kind `{}`", flat.kind))?;
        Ok(match kind {
            ChangeKind::StockAdjusted => Change::StockAdjusted {
                store_id: need!(flat.store_id),
                sku: need!(flat.sku),
                delta: need!(flat.delta),
                adjust_kind: need!(flat.adjust_kind),
                available: need!(flat.available),
                held: flat.held.unwrap_or(0),
                version: need!(flat.version),
                idempotency_key: need!(flat.idempotency_key),
                reason: flat.reason,
                device_id: flat.device_id,
            },
            ChangeKind::StockSet => Change::StockSet {
                store_id: need!(flat.store_id),
                sku: need!(flat.sku),
                previous: need!(flat.previous),
                available: need!(flat.available),
                held: flat.held.unwrap_or(0),
                version: need!(flat.version),
                reason: flat.reason,
            },
            ChangeKind::Discrepancy => Change::Discrepancy {
                store_id: need!(flat.store_id),
                sku: need!(flat.sku),
                available: need!(flat.available),
                held: flat.held.unwrap_or(0),
                version: need!(flat.version),
                idempotency_key: need!(flat.idempotency_key),
                holds_at_risk: flat.holds_at_risk.unwrap_or_default(),
            },
            ChangeKind::HoldPlaced => Change::HoldPlaced {
                hold_id: need!(flat.hold_id),
                store_id: need!(flat.store_id),
                channel: need!(flat.channel),
                reference: need!(flat.reference),
                expires_at: need!(flat.expires_at),
                lines: need!(flat.lines),
            },
            ChangeKind::HoldExtended => Change::HoldExtended {
                hold_id: need!(flat.hold_id),
                store_id: need!(flat.store_id),
                expires_at: need!(flat.expires_at),
            },
            ChangeKind::HoldCommitted => Change::HoldCommitted {
                hold_id: need!(flat.hold_id),
                store_id: need!(flat.store_id),
                lines: need!(flat.lines),
            },
            ChangeKind::HoldReleased => Change::HoldReleased {
                hold_id: need!(flat.hold_id),
                store_id: need!(flat.store_id),
                reason: need!(flat.reason)
                    .parse()
                    .map_err(|_| "unknown release reason")?,
                admin: flat.admin,
                lines: need!(flat.lines),
            },
            ChangeKind::ProductCreated => Change::ProductCreated {
                product: need!(flat.product),
            },
            ChangeKind::ProductUpdated => Change::ProductUpdated {
                product: need!(flat.product),
            },
            ChangeKind::ProductDeleted => Change::ProductDeleted {
                product: need!(flat.product),
            },
            ChangeKind::StoreCreated => Change::StoreCreated {
                store: need!(flat.store),
            },
            ChangeKind::StoreUpdated => Change::StoreUpdated {
                store: need!(flat.store),
            },
            ChangeKind::StoreAccess => Change::StoreAccess {
                store_id: need!(flat.store_id),
                active: need!(flat.active),
                generation: need!(flat.generation),
            },
            ChangeKind::ChannelAccess => Change::ChannelAccess {
                channel_id: need!(flat.channel_id),
                active: need!(flat.active),
                generation: need!(flat.generation),
            },
            ChangeKind::DeviceEnrolled => Change::DeviceEnrolled {
                store_id: need!(flat.store_id),
                device_id: need!(flat.device_id),
            },
            ChangeKind::DeviceRevoked => Change::DeviceRevoked {
                store_id: need!(flat.store_id),
                device_id: need!(flat.device_id),
            },
        })
    }
}

/// A level as an event leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures<'a> {
    pub store_id: &'a str,
    pub sku: &'a str,
    pub available: i64,
    pub held: i64,
    pub version: u64,
}

/// What one retention pass removed (`POST /v1/admin/prune`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PruneReport {
    pub events_pruned: u64,
    pub keys_pruned: u64,
    /// Requests for changes `from` below this get 410 Gone.
    pub oldest_offset: u64,
    /// False when a chunk limit stopped this pass: there is more to do.
    pub caught_up: bool,
}
