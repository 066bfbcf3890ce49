//! The read side: answered from a pool of read connections, never through
//! the writer. Each read runs in one read transaction on a blocking thread,
//! so what it returns is consistent; refusals (an unknown store or
//! product) and a pruned offset are [`ReadError`]s.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use shared::{Device, Hold, Page, Product, ProductAvailability, StockLevel, Store};

use crate::{
    ReadError, Refusal,
    backend::{Positions, ReadStatements},
    pool::Pool,
    postgres, sqlite,
};

/// What signing a store in is checked against.
#[derive(Clone)]
pub struct StoreSecret {
    pub secret_hash: String,
    pub active: bool,
    pub generation: u64,
}

impl std::fmt::Debug for StoreSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSecret")
            .field("active", &self.active)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// A device's credential as central holds it, for signing in.
#[derive(Clone)]
pub struct DeviceSecret {
    pub store_id: String,
    pub secret_hash: String,
    pub revoked: bool,
}

impl std::fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSecret")
            .field("store_id", &self.store_id)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// Every store's credential state and every enrolled device, for the
/// access cache tokens are checked against.
#[derive(Debug, Clone, Default)]
pub struct AccessState {
    /// Store id, active, credential generation.
    pub stores: Vec<(String, bool, u64)>,
    /// Channel id, active, credential generation.
    pub channels: Vec<(String, bool, u64)>,
    /// Device id and its store, for devices not revoked.
    pub devices: Vec<(String, String)>,
    /// The log's positions the state was read at (in the same read
    /// transaction): it includes every event through `at.head`, and none
    /// after. Start the ledger with [`crate::Database::start_after`] at it
    /// and its subscribers hear every event after it.
    pub at: Positions,
}

/// A page of the change log as served: each event is the JSON the writer
/// stored, passed through untouched. Same shape as [`shared::ChangesPage`].
#[derive(Debug, Serialize)]
pub struct ChangesPage {
    pub events: Vec<Box<RawValue>>,
    pub next_offset: u64,
    pub head: u64,
}

impl ChangesPage {
    /// The page of `events` (offset, JSON) read up to `head`: a full page
    /// ends at its last event, a short one saw everything up to head.
    pub fn of(events: Vec<(u64, Box<RawValue>)>, limit: u32, head: u64) -> ChangesPage {
        let next_offset = match events.last() {
            Some((offset, _)) if events.len() == limit as usize => *offset,
            _ => head,
        };
        ChangesPage {
            events: events.into_iter().map(|(_, json)| json).collect(),
            next_offset,
            head,
        }
    }
}

/// Receives a snapshot as it is read, on the reading thread: the head
/// first, then every product, then every level. An error stops the read
/// (the client went away, a deadline passed).
pub trait SnapshotSink: Send + 'static {
    fn start(&mut self, offset: u64, stores: &[Store]) -> std::io::Result<()>;
    fn product(&mut self, product: &Product) -> std::io::Result<()>;
    fn levels(&mut self) -> std::io::Result<()>;
    fn level(&mut self, level: &StockLevel) -> std::io::Result<()>;
    /// Before the holds (only in a store's snapshot).
    fn holds(&mut self) -> std::io::Result<()>;
    fn hold(&mut self, hold: &Hold) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

/// Most holds one store's snapshot carries, soonest to expire first: a
/// till lists at most this many pick-ups.
pub const SNAPSHOT_HOLDS: u32 = 10_000;

/// The handle for reads, on whichever backend holds the ledger. Cheap to
/// clone.
#[derive(Clone)]
pub struct Reader(Pools);

#[derive(Clone)]
enum Pools {
    Sqlite(Arc<Pool<sqlite::SqliteReads>>),
    Postgres(Arc<Pool<postgres::PostgresReads>>),
}

impl Reader {
    pub(crate) fn sqlite(pool: Pool<sqlite::SqliteReads>) -> Reader {
        Reader(Pools::Sqlite(Arc::new(pool)))
    }

    pub(crate) fn postgres(pool: Pool<postgres::PostgresReads>) -> Reader {
        Reader(Pools::Postgres(Arc::new(pool)))
    }

    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut dyn ReadStatements) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        match &self.0 {
            Pools::Sqlite(pool) => pool.read(read).await,
            Pools::Postgres(pool) => pool.read(read).await,
        }
    }

    /// Closes the read connections; reads after this are refused as busy.
    pub fn close(&self) {
        match &self.0 {
            Pools::Sqlite(pool) => pool.close(),
            Pools::Postgres(pool) => pool.close(),
        }
    }

    /// Whether the database answers at all.
    pub async fn ping(&self) -> Result<(), ReadError> {
        self.read(|db| Ok(db.positions().map(drop)?)).await
    }

    pub async fn positions(&self) -> Result<Positions, ReadError> {
        self.read(|db| Ok(db.positions()?)).await
    }

    pub async fn product(&self, sku: &str) -> Result<Product, ReadError> {
        let sku = sku.to_owned();
        self.read(move |db| {
            db.product(&sku)?
                .ok_or_else(|| Refusal::ProductNotFound { sku }.into())
        })
        .await
    }

    /// One level; a level never written reads as zero at version 0.
    pub async fn level(&self, store_id: &str, sku: &str) -> Result<StockLevel, ReadError> {
        let (store_id, sku) = (store_id.to_owned(), sku.to_owned());
        self.read(move |db| {
            if let Some(level) = db.level(&store_id, &sku)? {
                // A level's row proves its store and product exist.
                return Ok(level);
            }
            store_exists(db, &store_id)?;
            if !db.product_exists(&sku)? {
                return Err(Refusal::ProductNotFound { sku }.into());
            }
            Ok(StockLevel {
                store_id,
                sku,
                available: 0,
                held: 0,
                version: 0,
                updated_at: None,
            })
        })
        .await
    }

    /// A store's levels, a page at a time in sku order.
    pub async fn levels(
        &self,
        store_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<StockLevel>, ReadError> {
        let store_id = store_id.to_owned();
        let after = cursor.unwrap_or_default().to_owned();
        self.read(move |db| {
            store_exists(db, &store_id)?;
            let levels = db.levels(&store_id, &after, limit.saturating_add(1))?;
            Ok(paginate(levels, limit, |l| l.sku.clone()))
        })
        .await
    }

    /// The catalogue, a page at a time in sku order.
    pub async fn products(
        &self,
        cursor: Option<&str>,
        limit: u32,
        include_deleted: bool,
    ) -> Result<Page<Product>, ReadError> {
        let after = cursor.unwrap_or_default().to_owned();
        self.read(move |db| {
            let products = db.products(&after, limit.saturating_add(1), include_deleted)?;
            Ok(paginate(products, limit, |p| p.sku.clone()))
        })
        .await
    }

    /// A product with its availability: the total and each store's level,
    /// read in one transaction so the total is the sum of the breakdown.
    pub async fn availability(&self, sku: &str) -> Result<ProductAvailability, ReadError> {
        let mut many = self.availability_of(vec![sku.to_owned()]).await?;
        many.pop()
            .ok_or_else(|| ReadError::Storage(anyhow::anyhow!("asked for one sku, got none")))
    }

    /// Many products' availability at once (a basket, a product page), in
    /// the order first asked, each sku once however often it is asked, all
    /// read in one transaction with two statements whatever their number
    /// (the products, then every store's level of each). An unknown sku is
    /// refused by name: the first unknown one asked.
    pub async fn availability_of(
        &self,
        skus: Vec<String>,
    ) -> Result<Vec<ProductAvailability>, ReadError> {
        let mut seen = std::collections::HashSet::with_capacity(skus.len());
        let skus: Vec<String> = skus
            .into_iter()
            .filter(|sku| seen.insert(sku.clone()))
            .collect();
        self.read(move |db| {
            let mut products: std::collections::HashMap<String, Product> = db
                .products_of(&skus)?
                .into_iter()
                .map(|p| (p.sku.clone(), p))
                .collect();
            if let Some(unknown) = skus.iter().find(|sku| !products.contains_key(*sku)) {
                return Err(Refusal::ProductNotFound {
                    sku: unknown.clone(),
                }
                .into());
            }
            let mut levels: std::collections::HashMap<String, Vec<shared::StoreAvailability>> =
                std::collections::HashMap::with_capacity(skus.len());
            // In (sku, store) order: each sku's levels stay in store order.
            for (sku, level) in db.levels_of(&skus)? {
                levels.entry(sku).or_default().push(level);
            }
            let mut found = Vec::with_capacity(skus.len());
            for sku in skus {
                // Each sku is in `products` (checked above), and once.
                let Some(product) = products.remove(&sku) else {
                    return Err(Refusal::ProductNotFound { sku }.into());
                };
                let stores = levels.remove(&sku).unwrap_or_default();
                // Levels are bounded, but a sum over many stores saturates
                // rather than wrap, whatever the chain's size.
                let sum = |figure: fn(&shared::StoreAvailability) -> i64| {
                    stores.iter().fold(0i64, |t, s| t.saturating_add(figure(s)))
                };
                found.push(ProductAvailability {
                    product,
                    total: sum(|s| s.available),
                    held: sum(|s| s.held),
                    stores,
                });
            }
            Ok(found)
        })
        .await
    }

    /// A hold with its lines.
    pub async fn hold(&self, hold_id: &str) -> Result<Hold, ReadError> {
        let hold_id = hold_id.to_owned();
        self.read(move |db| {
            db.hold(&hold_id)?
                .ok_or_else(|| Refusal::HoldNotFound { hold_id }.into())
        })
        .await
    }

    /// A store's active holds (its pick-ups), soonest to expire first.
    pub async fn holds_at(&self, store_id: &str, limit: u32) -> Result<Vec<Hold>, ReadError> {
        let store_id = store_id.to_owned();
        self.read(move |db| {
            store_exists(db, &store_id)?;
            Ok(db.holds_at(&store_id, limit)?)
        })
        .await
    }

    /// When the next active hold expires (unix ms), if one is active.
    pub async fn next_expiry(&self) -> Result<Option<i64>, ReadError> {
        self.read(|db| Ok(db.next_expiry()?)).await
    }

    pub async fn stores(&self) -> Result<Vec<Store>, ReadError> {
        self.read(|db| Ok(db.stores()?)).await
    }

    pub async fn store_secret(&self, store_id: &str) -> Result<Option<StoreSecret>, ReadError> {
        let store_id = store_id.to_owned();
        self.read(move |db| Ok(db.store_secret(&store_id)?)).await
    }

    pub async fn device_secret(&self, device_id: &str) -> Result<Option<DeviceSecret>, ReadError> {
        let device_id = device_id.to_owned();
        self.read(move |db| Ok(db.device_secret(&device_id)?)).await
    }

    /// A store's devices, enrolled first first; revoked ones too, with when.
    pub async fn devices_of(&self, store_id: &str) -> Result<Vec<Device>, ReadError> {
        let store_id = store_id.to_owned();
        self.read(move |db| {
            store_exists(db, &store_id)?;
            Ok(db.devices_of(&store_id)?)
        })
        .await
    }

    pub async fn access(&self) -> Result<AccessState, ReadError> {
        self.read(|db| {
            Ok(AccessState {
                stores: db.store_access()?,
                channels: db.channel_access()?,
                devices: db.enrolled_devices()?,
                at: db.positions()?,
            })
        })
        .await
    }

    pub async fn channel_secret(&self, channel_id: &str) -> Result<Option<StoreSecret>, ReadError> {
        let channel_id = channel_id.to_owned();
        self.read(move |db| Ok(db.channel_secret(&channel_id)?))
            .await
    }

    pub async fn channels(&self) -> Result<Vec<shared::Channel>, ReadError> {
        self.read(|db| Ok(db.channels()?)).await
    }

    /// What a channel holds now: its figures, totals over its active holds
    /// per store, and the `limit` soonest to expire — one read
    /// transaction, so they agree with each other.
    pub async fn channel_holds(
        &self,
        channel_id: &str,
        limit: u32,
    ) -> Result<shared::ChannelHolds, ReadError> {
        let channel_id = channel_id.to_owned();
        self.read(move |db| {
            let Some(channel) = db.channel(&channel_id)? else {
                return Err(Refusal::ChannelNotFound { channel_id }.into());
            };
            let (held, holds) = db.channel_holds(&channel_id, limit)?;
            Ok(shared::ChannelHolds {
                channel,
                active_holds: held.active_holds,
                stores: held.stores,
                holds,
            })
        })
        .await
    }

    /// Up to `limit` events after `from` (of `store` and the catalogue, or
    /// every event), with the offset to continue from.
    pub async fn changes(
        &self,
        from: u64,
        limit: u32,
        store: Option<&str>,
    ) -> Result<ChangesPage, ReadError> {
        let store = store.map(str::to_owned);
        self.read(move |db| {
            let Positions {
                head,
                pruned_through,
            } = db.positions()?;
            if let Some(store) = &store {
                store_exists(db, store)?;
            }
            if from < pruned_through || from > head {
                return Err(ReadError::OffsetGone {
                    from,
                    oldest: pruned_through,
                    head,
                });
            }
            let rows = db.events(from, head, store.as_deref(), limit)?;
            let events = rows
                .into_iter()
                .map(|(offset, json)| Ok((offset, RawValue::from_string(json)?)))
                .collect::<Result<_, serde_json::Error>>()
                .map_err(|e| ReadError::Storage(e.into()))?;
            Ok(ChangesPage::of(events, limit, head))
        })
        .await
    }

    /// Streams the snapshot of `store`'s levels (every store's if `None`),
    /// the catalogue and the store's active holds (at most
    /// [`SNAPSHOT_HOLDS`]) into `sink`, consistent at one offset. An unknown
    /// store is refused before `sink` hears anything.
    pub async fn snapshot(
        &self,
        store: Option<String>,
        mut sink: impl SnapshotSink,
    ) -> Result<(), ReadError> {
        self.read(move |db| {
            let offset = db.positions()?.head;
            if let Some(store) = &store {
                store_exists(db, store)?;
            }
            let io = |e: std::io::Error| anyhow::Error::from(e);
            sink.start(offset, &db.stores()?).map_err(io)?;
            db.each_product(&mut |product| sink.product(&product).map_err(io))?;
            sink.levels().map_err(io)?;
            db.each_level(store.as_deref(), &mut |level| {
                sink.level(&level).map_err(io)
            })?;
            sink.holds().map_err(io)?;
            if let Some(store) = &store {
                for hold in db.holds_at(store, SNAPSHOT_HOLDS)? {
                    sink.hold(&hold).map_err(io)?;
                }
            }
            sink.finish().map_err(io)?;
            Ok(())
        })
        .await
    }
}

fn store_exists(db: &mut dyn ReadStatements, store_id: &str) -> Result<(), ReadError> {
    if db.store_exists(store_id)? {
        Ok(())
    } else {
        Err(Refusal::StoreNotFound {
            store_id: store_id.to_owned(),
        }
        .into())
    }
}

/// Cursor pagination: one row more than asked says whether a page follows.
fn paginate<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(cursor_of)
    } else {
        None
    };
    Page { items, next_cursor }
}
