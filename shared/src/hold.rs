//! Holds: units set aside for a sales channel's order while the customer
//! pays. A held unit is still on the shelf (`on_hand`) but no longer
//! `available` to anyone else; a hold ends committed (the goods left),
//! released (cancelled) or expired (central released it at `expires_at`).

use serde::{Deserialize, Serialize};

use crate::{Timestamp, limits::MAX_HOLD_TTL_SECONDS};

/// One line of a hold request: `quantity` units of `sku`, from `store_id`
/// (click and collect: only that store may fill it) or, without one, from
/// whichever stores the request's allocation picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldLineRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub sku: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::positive_quantity))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub quantity: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_identifier))]
    pub store_id: Option<String>,
}

/// How lines without a store are filled: from the stores of a priority
/// list in its order, or from the stores with the most available first.
/// Either may split a line across stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum Allocation {
    /// (A variant with no fields written `{}`, so that serde refuses
    /// unknown fields beside its tag as it does for `priority`.)
    MostAvailable {},
    Priority {
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::priority_stores))]
        stores: Vec<String>,
    },
}

impl Default for Allocation {
    fn default() -> Self {
        Allocation::MostAvailable {}
    }
}

/// `POST /v1/holds`, with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlaceHoldRequest {
    /// The channel's own reference, e.g. its order id.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::reference))]
    pub reference: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::hold_lines))]
    pub lines: Vec<HoldLineRequest>,
    /// How long the hold lives; central's default when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::optional"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_ttl))]
    pub ttl_seconds: Option<u32>,
    #[serde(default)]
    pub allocation: Allocation,
}

/// `POST /v1/holds/{hold_id}/extend`: the hold now ends `ttl_seconds` from
/// now (or after central's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtendHoldRequest {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::optional"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_ttl))]
    pub ttl_seconds: Option<u32>,
}

/// How many units of one held line left the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitLine {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub store_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub sku: String,
    /// At most the units held; 0 hands none over (the line is released).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::quantity))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub quantity: i64,
}

/// `POST /v1/holds/{hold_id}/commit`: the goods were handed over. Without
/// `lines` every line the caller may touch is taken whole; with them, the
/// lines named take what they say (lines naming the same store and sku
/// add up) and the caller's other lines are released.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitHoldRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::commit_lines))]
    pub lines: Option<Vec<CommitLine>>,
}

/// Where a hold, or one of its lines, stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Active,
    Committed,
    Released,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Active => "active",
            HoldState::Committed => "committed",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<HoldState> {
        [
            HoldState::Active,
            HoldState::Committed,
            HoldState::Released,
            HoldState::Expired,
        ]
        .into_iter()
        .find(|state| state.as_str() == value)
    }
}

/// One store's part of one sku in a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoldLine {
    pub store_id: String,
    pub sku: String,
    /// Units held (while active), or held until the line ended.
    pub quantity: i64,
    /// Units handed over when the line was committed.
    pub committed: i64,
    pub state: HoldState,
}

/// A hold as central keeps it. It is active while any line is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hold {
    pub hold_id: String,
    /// The sales channel that placed it.
    pub channel: String,
    pub reference: String,
    pub state: HoldState,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// In (store, sku) order.
    pub lines: Vec<HoldLine>,
}

impl Hold {
    /// The state the lines give: active while any is, else how the last
    /// ones ended (committed if any units left the shop).
    pub fn state_of(lines: &[HoldLine]) -> HoldState {
        if lines.iter().any(|l| l.state == HoldState::Active) {
            HoldState::Active
        } else if lines.iter().any(|l| l.state == HoldState::Committed) {
            HoldState::Committed
        } else if lines.iter().any(|l| l.state == HoldState::Expired) {
            HoldState::Expired
        } else {
            HoldState::Released
        }
    }
}

/// A level a hold event changed, as it stands after the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldLevel {
    pub sku: String,
    /// Units the event moved: held (placed), handed over (committed) or
    /// given back (released, expired).
    pub quantity: i64,
    /// Units of a committed line given back with it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub released: i64,
    pub available: i64,
    pub held: i64,
    pub version: u64,
}

/// Why held units went back to `available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumString)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ReleaseReason {
    /// The channel or the store cancelled it.
    Released,
    /// It reached `expires_at`.
    Expired,
    /// An admin released it (the event names the admin).
    Admin,
    /// Its channel was deactivated: central gave its units back.
    ChannelDeactivated,
}

/// What a hold could not get of one sku: the units asked for (summed over
/// the request's lines) and what was available to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shortfall {
    pub sku: String,
    /// The store a click-and-collect line named; absent: allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    pub requested: i64,
    /// What the channel could have held: available less what the channel's
    /// limits keep back.
    pub available: i64,
    /// Units available to tills but kept from sales channels (the stores'
    /// safety stock, the channel's share of a level), not counted in
    /// `available`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub withheld: i64,
}

/// Chain-wide availability of many skus: `POST /v1/availability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::availability_skus))]
    pub skus: Vec<String>,
}

pub(crate) fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A sales channel (the web shop, a marketplace): it signs in with client
/// credentials like a store's and may read availability chain-wide and
/// place, extend, commit and release its holds, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Channel {
    pub channel_id: String,
    pub name: String,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// What it may hold at most.
    pub limits: ChannelLimits,
    /// Units its active holds hold now, chain-wide.
    pub held_units: i64,
}

/// The bounds a sales channel cannot pass, set by an admin per channel
/// (`PUT /v1/admin/channels/{channel_id}/limits`). A channel lives outside
/// the chain's walls: these keep one leaked or buggy credential from
/// taking the tills' stock. The stores' safety stock
/// (`PUT /v1/admin/stores/{store_id}/safety-stock`) is kept from every
/// channel on top of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelLimits {
    /// Most units its active holds may hold at once, chain-wide.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::positive_quantity))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub max_held_units: i64,
    /// Most of a level's on hand, in percent, that may be held once its
    /// hold is placed: a hold never takes a level's held units past it.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::percent))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub max_level_share_percent: u32,
    /// A hold's whole life, from when it was placed, in seconds: neither
    /// its time to live nor any extension may pass it.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::hold_life))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub max_hold_life_seconds: u32,
}

impl Default for ChannelLimits {
    /// A web shop's checkouts fit in them; a leaked credential can take
    /// no more than 10,000 units, each for at most a day.
    fn default() -> Self {
        ChannelLimits {
            max_held_units: 10_000,
            max_level_share_percent: 100,
            max_hold_life_seconds: MAX_HOLD_TTL_SECONDS,
        }
    }
}

impl ChannelLimits {
    /// The most a level of `on_hand` units may have held once a hold of
    /// this channel is placed.
    pub fn level_share(&self, on_hand: i64) -> i64 {
        // Both factors are bounded (a level by ±10^15, the share by 100):
        // the product fits an i128 whatever they are.
        let share = i128::from(on_hand.max(0)) * i128::from(self.max_level_share_percent) / 100;
        i64::try_from(share).unwrap_or(i64::MAX)
    }
}

/// `POST /v1/admin/channels`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub channel_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub name: String,
    /// Chosen by the caller, or made by central when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_client_secret))]
    pub channel_secret: Option<String>,
    /// Its bounds; the defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ChannelLimits>,
}

/// Never prints the secret.
impl std::fmt::Debug for NewChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewChannel")
            .field("channel_id", &self.channel_id)
            .field("name", &self.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A channel's credentials, shown once: when it is registered, when its
/// secret is rotated, and when it is activated again with a new one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelCredentials {
    pub channel: Channel,
    /// What the channel signs in with, as `channel_secret`.
    pub channel_secret: String,
}

/// Never prints the secret.
impl std::fmt::Debug for ChannelCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCredentials")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/admin/channels/{channel_id}/activate`: what came back. A
/// channel is activated with a new secret (shown here, once) unless the
/// admin asked to keep the one it had when it was deactivated.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelActivated {
    pub channel: Channel,
    /// The new secret; absent when the old one was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_secret: Option<String>,
}

/// Never prints the secret.
impl std::fmt::Debug for ChannelActivated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelActivated")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/admin/channels/{channel_id}/holds`: what a channel holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelHolds {
    pub channel: Channel,
    /// How many holds are active.
    pub active_holds: u64,
    /// Units they hold, per store, in store order.
    pub stores: Vec<StoreHeld>,
    /// The active holds soonest to expire, at most
    /// [`CHANNEL_HOLDS_LISTED`].
    pub holds: Vec<Hold>,
}

/// Units a channel holds at one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreHeld {
    pub store_id: String,
    pub held_units: i64,
}

/// `PUT /v1/admin/stores/{store_id}/safety-stock`: units of each of the
/// store's levels that no sales channel may hold; they stay for the tills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SafetyStock {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::quantity))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub units: i64,
}
