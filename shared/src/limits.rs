//! Every bound of the wire, in one place: what central refuses past, what
//! the store node checks before it queues, and what the OpenAPI document
//! states. Bounds of a running central (page sizes, waits, budgets) are
//! its configuration's.

// Identifiers, names and keys.

/// Longest id (a store's, a sku, a device's, a channel's, a hold's).
pub const MAX_ID_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_REASON_LEN: usize = 200;
pub const MAX_KEY_LEN: usize = 128;
/// Bound on a single delta or count, far from i64 overflow when summed.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// Bound on a level itself: a million times the largest single delta. A
/// write that would take a level past it (in either direction) is refused,
/// so no sum over levels of a chain can wrap an `i64`.
pub const MAX_LEVEL: i64 = 1_000_000_000_000_000;
/// The largest offset or version: both are stored as signed 64-bit
/// integers, so no log or level can ever reach a larger one.
pub const MAX_OFFSET: u64 = i64::MAX as u64;
/// Most skus one availability question may ask about.
pub const MAX_AVAILABILITY_SKUS: usize = 200;

/// Shortest and longest secret a store or channel may be given.
pub const MIN_SECRET_LEN: usize = 16;
pub const MAX_SECRET_LEN: usize = 256;

// Holds.

/// Longest a hold may be asked to live from now, in seconds (a day).
pub const MAX_HOLD_TTL_SECONDS: u32 = 86_400;
/// Longest whole life an admin may give a channel's holds, from when each
/// is placed, in seconds (a week): extending never passes a hold's life.
pub const MAX_HOLD_LIFE_SECONDS: u32 = 7 * 86_400;
/// Most lines one hold request may carry.
pub const MAX_HOLD_LINES: usize = 100;
/// Most stores a priority list may name.
pub const MAX_PRIORITY_STORES: usize = 100;
/// Longest channel reference (the shop's order id).
pub const MAX_REFERENCE_LEN: usize = 128;

/// Most holds [`crate::api::ListChannelHolds`] lists; the
/// totals count them all.
pub const CHANNEL_HOLDS_LISTED: u32 = 500;
