//! The ports between the ledger's rules and a database: what a write may
//! run inside the writer's open transaction ([`WriteStatements`], plus
//! [`WriteBackend`] for the transaction itself) and what a read may run
//! inside one read transaction ([`ReadStatements`]). A backend implements
//! them with its own SQL and row types; the rules in [`crate::cmd`] and
//! [`crate::read`] never see SQL.
//!
//! Errors are the database's (`anyhow`): the writer turns them into a
//! rolled-back command and [`crate::WriteError::Storage`], a read into
//! [`crate::ReadError::Storage`].

use shared::{
    Channel, ChannelLimits, Device, Hold, NewChannel, NewStore, Product, StockLevel, Store,
    StoreAvailability, StoreHeld,
};

use crate::{DeviceSecret, StoreSecret, cmd::NewDevice, publish::StoredEvent};

pub type Result<T> = anyhow::Result<T>;

/// What the writer knows about a (store, sku) before changing it.
#[derive(Debug, Clone)]
pub struct Target {
    pub store_exists: bool,
    /// `None`: no such product; `Some(false)`: deleted.
    pub product_active: Option<bool>,
    /// The level as it stands; `updated_at` is `None` if it was never
    /// written (it reads as zero at version 0).
    pub level: StockLevel,
}

/// A saved answer of a keyed write, as stored.
#[derive(Debug, Clone)]
pub struct SavedKey {
    pub fingerprint: Vec<u8>,
    pub outcome: String,
}

/// What changes in a store's row; both bump its credential generation.
#[derive(Debug, Clone, Copy)]
pub enum StoreChange<'a> {
    Active(bool),
    Secret(&'a str),
}

/// What changes in a channel's row; each bumps its credential generation,
/// which ends the tokens issued before.
#[derive(Debug, Clone, Copy)]
pub enum ChannelChange<'a> {
    /// Activated (with a new secret's hash, or keeping the old one) or
    /// deactivated.
    Active {
        active: bool,
        secret_hash: Option<&'a str>,
    },
    Secret(&'a str),
}

/// A store as a hold sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTerms {
    pub active: bool,
    /// Units of each level no channel may hold.
    pub safety_stock: i64,
}

/// A channel as a hold sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelTerms {
    pub active: bool,
    pub limits: ChannelLimits,
    /// Units its active holds hold now.
    pub held_units: i64,
}

/// An active hold due to be given back: its time is up, or its channel was
/// deactivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueHold {
    pub hold_id: String,
    /// Its active lines: what giving it back writes.
    pub lines: u32,
}

/// What a channel holds now, for an admin.
#[derive(Debug, Clone, Default)]
pub struct ChannelHeld {
    pub active_holds: u64,
    pub stores: Vec<StoreHeld>,
}

/// The log's positions: the newest offset and the newest pruned away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Positions {
    pub head: u64,
    pub pruned_through: u64,
}

/// What a group's commands will look up, gathered before the first one
/// runs, so a backend that pays a round trip per statement can read it
/// all at once ([`WriteBackend::begin`], [`WriteStatements::prefetch`]).
#[derive(Debug, Default)]
pub struct Wants {
    /// Saved answers: (scope as stored, key), from
    /// [`crate::idempotency::KeyScope::pair`].
    pub keys: Vec<(String, String)>,
    /// Levels: (store, sku).
    pub targets: Vec<(String, String)>,
    /// Holds, by id, with the levels of their active lines.
    pub holds: Vec<String>,
}

/// The statements a write runs inside the open group transaction.
pub trait WriteStatements {
    /// Reads ahead what the group's commands want. What it reads must be
    /// what [`Self::target`] and [`Self::saved_key`] would answer at the
    /// group's start; an embedded database answers those as cheaply one by
    /// one and reads nothing ahead.
    fn prefetch(&mut self, wants: &Wants) -> Result<()> {
        let _ = wants;
        Ok(())
    }

    fn target(&mut self, store_id: &str, sku: &str) -> Result<Target>;
    /// Writes a level; `existed` says whether it was read from a row.
    fn write_level(&mut self, level: &StockLevel, existed: bool, now_ms: i64) -> Result<()>;

    fn saved_key(&mut self, store_id: &str, key: &str) -> Result<Option<SavedKey>>;
    fn save_key(&mut self, store_id: &str, key: &str, saved: &SavedKey, now_ms: i64) -> Result<()>;

    fn append_event(
        &mut self,
        offset: u64,
        at_ms: i64,
        kind: &str,
        store_id: Option<&str>,
        json: &str,
    ) -> Result<()>;

    fn product(&mut self, sku: &str) -> Result<Option<Product>>;
    fn write_product(&mut self, product: &Product, now_ms: i64) -> Result<()>;

    /// Inserts a store at credential generation 1; false if it exists.
    fn insert_store(&mut self, new: &NewStore, secret_hash: &str, now_ms: i64) -> Result<bool>;
    /// Changes a store and bumps its credential generation; the store and
    /// its new generation, or `None` if there is no such store.
    fn change_store(
        &mut self,
        store_id: &str,
        change: StoreChange<'_>,
    ) -> Result<Option<(Store, u64)>>;

    /// Inserts a channel at credential generation 1, with its limits (the
    /// defaults when the request has none); false if it exists.
    fn insert_channel(&mut self, new: &NewChannel, secret_hash: &str, now_ms: i64) -> Result<bool>;
    /// Changes a channel and bumps its credential generation; the channel
    /// and its new generation, if it exists.
    fn change_channel(
        &mut self,
        channel_id: &str,
        change: ChannelChange<'_>,
    ) -> Result<Option<(Channel, u64)>>;
    /// Sets a channel's limits; the channel, if it exists.
    fn set_channel_limits(
        &mut self,
        channel_id: &str,
        limits: &ChannelLimits,
    ) -> Result<Option<Channel>>;
    /// A channel's state, limits and held units; `None` if unknown.
    fn channel_terms(&mut self, channel_id: &str) -> Result<Option<ChannelTerms>>;
    /// Moves a channel's held units by `units` (every hold transition that
    /// moves held units moves its channel's by as many).
    fn add_channel_held(&mut self, channel_id: &str, units: i64) -> Result<()>;
    /// Sets a store's safety stock; the store, if it exists.
    fn set_safety_stock(&mut self, store_id: &str, units: i64) -> Result<Option<Store>>;

    /// Whether the store exists, and how many unrevoked devices it has.
    fn device_room(&mut self, store_id: &str) -> Result<(bool, u64)>;
    fn insert_device(&mut self, new: &NewDevice, secret_hash: &str, now_ms: i64) -> Result<()>;
    /// Revokes a device (a revoked one keeps its time); the device and
    /// whether this revoked it, or `None` if unknown.
    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<Option<(Device, bool)>>;

    fn positions(&mut self) -> Result<Positions>;
    /// The newest offset appended before `at_ms`, if any.
    fn newest_event_before(&mut self, at_ms: i64) -> Result<Option<u64>>;
    /// Removes the events through `offset` and records it as pruned.
    fn prune_events_through(&mut self, offset: u64) -> Result<u64>;
    /// Removes at most `limit` saved answers made before `at_ms`.
    fn prune_keys_before(&mut self, at_ms: i64, limit: u64) -> Result<u64>;

    /// Whether a store is active, and its safety stock; `None` if there is
    /// no such store.
    fn store_terms(&mut self, store_id: &str) -> Result<Option<StoreTerms>>;
    /// Active stores with a level of `sku` (written, if only to zero), in
    /// store order, with their safety stock: where "allocate for me" may
    /// take from.
    fn stores_stocking(&mut self, sku: &str) -> Result<Vec<(String, i64)>>;
    /// The holds among `hold_ids` that exist, with their lines.
    fn holds(&mut self, hold_ids: &[String]) -> Result<Vec<Hold>>;
    /// Writes holds and their lines, new or changed.
    fn write_holds(&mut self, holds: &[&Hold]) -> Result<()>;
    /// At most `limit` active holds due to be given back: those whose time
    /// is up at `now_ms`, soonest first, then those of deactivated
    /// channels.
    fn due_holds(&mut self, now_ms: i64, limit: u32) -> Result<Vec<DueHold>>;
    /// Active holds with a line on the level, in id order.
    fn holds_on(&mut self, store_id: &str, sku: &str) -> Result<Vec<String>>;

    /// Nested points to roll part of a command back to (a basket).
    fn savepoint(&mut self, name: &'static str) -> Result<()>;
    fn rollback_to(&mut self, name: &'static str) -> Result<()>;
    fn release(&mut self, name: &'static str) -> Result<()>;
}

/// The writer's connection: its group transactions.
pub trait WriteBackend: WriteStatements {
    /// Opens a group's transaction and reads ahead what its commands want
    /// (as [`WriteStatements::prefetch`]); returns the head it continues
    /// from (on a shared database, another central may have moved it).
    fn begin(&mut self, wants: &Wants) -> Result<u64>;
    /// Records `head` (if the group appended) and commits.
    fn commit(&mut self, head: Option<u64>) -> Result<()>;
    fn rollback(&mut self) -> Result<()>;
    /// Events after `from` through `through`, read after a commit (outside
    /// a transaction), for offsets another central committed.
    fn events_between(&mut self, from: u64, through: u64) -> Result<Vec<StoredEvent>>;
}

/// The statements a read runs, all inside one read transaction, so what
/// they return is consistent with each other.
pub trait ReadStatements {
    fn positions(&mut self) -> Result<Positions>;
    fn store_exists(&mut self, store_id: &str) -> Result<bool>;
    fn product_exists(&mut self, sku: &str) -> Result<bool>;
    fn product(&mut self, sku: &str) -> Result<Option<Product>>;
    /// A level's row, if it was ever written.
    fn level(&mut self, store_id: &str, sku: &str) -> Result<Option<StockLevel>>;
    /// A store's levels with a sku after `after`, in sku order.
    fn levels(&mut self, store_id: &str, after: &str, limit: u32) -> Result<Vec<StockLevel>>;
    fn products(&mut self, after: &str, limit: u32, include_deleted: bool) -> Result<Vec<Product>>;
    /// The products among `skus` that exist (deleted ones too), in no
    /// particular order: one statement, however many skus.
    fn products_of(&mut self, skus: &[String]) -> Result<Vec<Product>>;
    /// Every store's level of each of `skus`, as (sku, level) in (sku,
    /// store) order: one statement, however many skus.
    fn levels_of(&mut self, skus: &[String]) -> Result<Vec<(String, StoreAvailability)>>;
    fn stores(&mut self) -> Result<Vec<Store>>;
    fn store_secret(&mut self, store_id: &str) -> Result<Option<StoreSecret>>;
    fn device_secret(&mut self, device_id: &str) -> Result<Option<DeviceSecret>>;
    fn devices_of(&mut self, store_id: &str) -> Result<Vec<Device>>;
    /// Unrevoked devices and their stores.
    fn enrolled_devices(&mut self) -> Result<Vec<(String, String)>>;
    /// Stores' credential state: id, active, generation.
    fn store_access(&mut self) -> Result<Vec<(String, bool, u64)>>;
    /// Channels' credential state: id, active, generation.
    fn channel_access(&mut self) -> Result<Vec<(String, bool, u64)>>;
    fn channel_secret(&mut self, channel_id: &str) -> Result<Option<StoreSecret>>;
    fn channels(&mut self) -> Result<Vec<Channel>>;
    fn channel(&mut self, channel_id: &str) -> Result<Option<Channel>>;
    /// A channel's active holds soonest to expire first (at most `limit`),
    /// and the totals over all of them.
    fn channel_holds(&mut self, channel_id: &str, limit: u32) -> Result<(ChannelHeld, Vec<Hold>)>;
    /// Events after `from` through `through`, of `store` and the catalogue
    /// (every event without a store filter), in offset order.
    fn events(
        &mut self,
        from: u64,
        through: u64,
        store: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(u64, String)>>;
    fn hold(&mut self, hold_id: &str) -> Result<Option<Hold>>;
    /// Active holds with a line at `store`, soonest to expire first, each
    /// with its lines at `store` only (what a store may see of it).
    fn holds_at(&mut self, store_id: &str, limit: u32) -> Result<Vec<Hold>>;
    /// When the next active hold is due (ms), if any is: its time, or at
    /// once (0) for a hold of a deactivated channel.
    fn next_expiry(&mut self) -> Result<Option<i64>>;
    /// Every product, in sku order.
    fn each_product(&mut self, each: &mut dyn FnMut(Product) -> Result<()>) -> Result<()>;
    /// Every level of `store` (or of every store), in (store, sku) order.
    fn each_level(
        &mut self,
        store: Option<&str>,
        each: &mut dyn FnMut(StockLevel) -> Result<()>,
    ) -> Result<()>;
}
