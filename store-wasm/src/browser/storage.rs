//! [`Storage`] over IndexedDB: one database per central and store, its
//! schema versioned with an upgrade step per version. Each engine write is
//! one IndexedDB transaction, committed before the engine moves on.
//!
//! A snapshot is stored as two records in `base` (every level, every
//! product); pages of changes then write one record per changed key in
//! `stock`, `catalog` and `stores`, which loading lays over the base.
//! Bootstrapping 50,000 skus as 100,000 puts took seconds; as two records it
//! takes milliseconds.
//!
//! Two tabs (or a page and an answer in one) may commit in either order, so
//! writes read before they write: a level's version never moves back, and an
//! intent's answer never goes back to unanswered.
//!
//! A write is whole or nothing even when the node is dropped half-way (its
//! tab closed): an uncommitted transaction is aborted. A database deleted
//! under the node (the site's data cleared) is opened again, empty, at the
//! next use, and the engine hears that it lost what was stored.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::future::{Either, select};
use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, TransactionMode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use shared::{Product, Store};
use wasm_bindgen::{JsCast, JsValue};

use crate::engine::{
    Intent, Level, PageWrite, Pickup, PickupIntent, Queued, Recent, Replica, Storage, StorageError,
};

/// Bump with a new step in `upgrade`.
const SCHEMA_VERSION: u32 = 3;
const BASE: &str = "base";
const STOCK: &str = "stock";
const CATALOG: &str = "catalog";
const STORES: &str = "stores";
const META: &str = "meta";
const INTENTS: &str = "intents";
const PICKUPS: &str = "pickups";
const PICKUP_INTENTS: &str = "pickup_intents";

/// A level as stored: its sku beside its fields, in one flat record. (Not
/// serde's `flatten`, which buffers the record and costs the page's
/// download more than it saves in typing.)
#[derive(Serialize, Deserialize)]
struct StoredLevel {
    sku: String,
    available: i64,
    /// Stored before holds existed: none.
    #[serde(default)]
    held: i64,
    version: u64,
}

impl StoredLevel {
    fn new(sku: &str, level: Level) -> StoredLevel {
        StoredLevel {
            sku: sku.to_owned(),
            available: level.available,
            held: level.held,
            version: level.version,
        }
    }

    fn level(&self) -> Level {
        Level {
            available: self.available,
            held: self.held,
            version: self.version,
        }
    }
}

fn failed(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

/// Records are stored as JSON strings: one string crosses into JS per put,
/// instead of an object built field by field (measured: 50k levels and
/// products took 7.3 s to store that way).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, StorageError> {
    Ok(JsValue::from_str(
        &serde_json::to_string(value).map_err(failed)?,
    ))
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, StorageError> {
    let text = value
        .as_string()
        .ok_or_else(|| StorageError("a stored record is not a JSON string".into()))?;
    serde_json::from_str(&text).map_err(failed)
}

/// What the connection's `versionchange` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Open,
    /// A newer version of the till upgraded the database from another tab:
    /// this tab's connection is closed and it must be reloaded.
    Outdated,
    /// The database was deleted: it is opened again (empty) at next use.
    Deleted,
}

pub struct IdbStorage {
    name: String,
    db: RefCell<Database>,
    connection: Rc<Cell<Connection>>,
    /// Set when the database was deleted, until the engine asks.
    lost: Rc<Cell<bool>>,
}

/// A node dropped (its tab closed, or a page that opened another) lets go
/// of the database at once: a deletion or an upgrade from another tab would
/// otherwise wait on a connection whose `versionchange` handler is gone.
impl Drop for IdbStorage {
    fn drop(&mut self) {
        self.db.get_mut().close();
    }
}

impl IdbStorage {
    pub async fn open(name: &str) -> Result<Self, StorageError> {
        let connection = Rc::new(Cell::new(Connection::Open));
        let lost = Rc::new(Cell::new(false));
        let db = connect(name, connection.clone(), lost.clone()).await?;
        Ok(IdbStorage {
            name: name.to_owned(),
            db: RefCell::new(db),
            connection,
            lost,
        })
    }

    /// Ready to use: opened again if the database was deleted; refused if a
    /// newer till took it over.
    async fn usable(&self) -> Result<(), StorageError> {
        match self.connection.get() {
            Connection::Open => Ok(()),
            Connection::Outdated => Err(StorageError(
                "a newer version of the till took over this device's data: reload this page".into(),
            )),
            Connection::Deleted => {
                let db = connect(&self.name, self.connection.clone(), self.lost.clone()).await?;
                self.connection.set(Connection::Open);
                self.db.replace(db).close();
                Ok(())
            }
        }
    }

    /// Writes in one read-write transaction over `stores` and waits until
    /// it is committed (a quota error surfaces here).
    async fn write(
        &self,
        stores: &[&str],
        fill: impl AsyncFnOnce(&idb::Transaction) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.usable().await?;
        let tx = self
            .db
            .borrow()
            .transaction(stores, TransactionMode::ReadWrite)
            .map_err(failed)?;
        let filling = Filling(Some(tx));
        // Dropped on an error, or with this future: aborted.
        fill(filling.tx()?).await?;
        let done = filling.commit()?.await.map_err(failed)?;
        if done.is_committed() {
            Ok(())
        } else {
            Err(StorageError("the IndexedDB transaction was aborted".into()))
        }
    }
}

/// A read-write transaction being filled. Dropped before it is committed
/// (a failed request, or the node dropped mid-write: its tab closed), it is
/// aborted; IndexedDB would otherwise commit the requests issued so far —
/// half a page without its offset, some lines of a basket.
struct Filling(Option<idb::Transaction>);

impl Filling {
    fn tx(&self) -> Result<&idb::Transaction, StorageError> {
        self.0
            .as_ref()
            .ok_or_else(|| StorageError("the transaction is over".into()))
    }

    /// From here on the transaction commits whole or fails whole.
    fn commit(mut self) -> Result<idb::Transaction, StorageError> {
        let tx = self
            .0
            .take()
            .ok_or_else(|| StorageError("the transaction is over".into()))?;
        tx.commit().map_err(failed)
    }
}

impl Drop for Filling {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.abort();
        }
    }
}

/// Opens (creating or upgrading) the database; its `versionchange` closes
/// this connection and says why in `connection` (and `lost`, if deleted).
async fn connect(
    name: &str,
    connection: Rc<Cell<Connection>>,
    lost: Rc<Cell<bool>>,
) -> Result<Database, StorageError> {
    let factory = Factory::new().map_err(failed)?;
    let mut request = factory.open(name, Some(SCHEMA_VERSION)).map_err(failed)?;
    request.on_upgrade_needed(|event| {
        let (Ok(db), Ok(old)) = (event.database(), event.old_version()) else {
            return;
        };
        // One step per version, each from the version before.
        if old < 1 {
            for store in [BASE, STOCK, CATALOG, META, INTENTS] {
                let _ = db.create_object_store(store, ObjectStoreParams::new());
            }
        }
        // v2: the chain's stores, by id (names for "available nearby").
        if old < 2 {
            let _ = db.create_object_store(STORES, ObjectStoreParams::new());
        }
        // v3: the store's pick-ups (by hold id), and hand-overs queued.
        if old < 3 {
            for store in [PICKUPS, PICKUP_INTENTS] {
                let _ = db.create_object_store(store, ObjectStoreParams::new());
            }
        }
    });
    // An older till in another tab that does not let go would leave this
    // one waiting forever on a blank screen: say what to do instead.
    let (blocked, on_blocked) = futures::channel::oneshot::channel();
    request.on_blocked(move |_| {
        let _ = blocked.send(());
    });
    let mut db = match select(Box::pin(request.into_future()), on_blocked).await {
        Either::Left((opened, _)) => opened.map_err(failed)?,
        Either::Right(_) => {
            return Err(StorageError(
                "another tab runs an older version of the till: close the till's other \
                 tabs, then reload this one"
                    .into(),
            ));
        }
    };
    db.on_version_change(move |event| {
        // Let the newer till upgrade, or the deletion go through.
        if let Some(target) = event.target()
            && let Ok(close) = js_sys::Reflect::get(&target, &"close".into())
            && let Ok(close) = close.dyn_into::<js_sys::Function>()
        {
            let _ = close.call0(&target);
        }
        // No new version: the database is being deleted.
        let deleted = js_sys::Reflect::get(&event, &"newVersion".into())
            .is_ok_and(|version| version.is_null());
        if deleted {
            lost.set(true);
            connection.set(Connection::Deleted);
        } else {
            connection.set(Connection::Outdated);
        }
    });
    Ok(db)
}

fn put<T: Serialize>(
    tx: &idb::Transaction,
    store: &str,
    key: &str,
    value: &T,
) -> Result<(), StorageError> {
    // The request runs whether or not its future is awaited; the commit
    // that follows waits for all of them.
    tx.object_store(store)
        .map_err(failed)?
        .put(&to_js(value)?, Some(&JsValue::from_str(key)))
        .map_err(failed)?;
    Ok(())
}

async fn get<T: DeserializeOwned>(
    tx: &idb::Transaction,
    store: &str,
    key: &str,
) -> Result<Option<T>, StorageError> {
    let found = tx
        .object_store(store)
        .map_err(failed)?
        .get(JsValue::from_str(key))
        .map_err(failed)?
        .await
        .map_err(failed)?;
    found.map(from_js).transpose()
}

async fn all<T: DeserializeOwned>(
    tx: &idb::Transaction,
    store: &str,
) -> Result<Vec<T>, StorageError> {
    let values = tx
        .object_store(store)
        .map_err(failed)?
        .get_all(None, None)
        .map_err(failed)?
        .await
        .map_err(failed)?;
    values.into_iter().map(from_js).collect()
}

/// Stores a level unless a newer one is stored already.
async fn put_level(tx: &idb::Transaction, sku: &str, level: Level) -> Result<(), StorageError> {
    let stored: Option<StoredLevel> = get(tx, STOCK, sku).await?;
    if stored.is_some_and(|s| s.version >= level.version) {
        return Ok(());
    }
    put(tx, STOCK, sku, &StoredLevel::new(sku, level))
}

/// Stores a queued write (a sale's intent, a hand-over) merged with the
/// stored copy (see [`Intent::merge`]): an answer is never replaced by
/// "unanswered".
async fn put_queued<Q>(tx: &idb::Transaction, store: &str, queued: &Q) -> Result<(), StorageError>
where
    Q: Queued + Clone + Serialize + DeserializeOwned,
{
    let merged = match get::<Q>(tx, store, queued.id()).await? {
        Some(mut stored) => {
            stored.merge(queued.clone());
            stored
        }
        None => queued.clone(),
    };
    put(tx, store, queued.id(), &merged)
}

fn delete(tx: &idb::Transaction, store: &str, keys: &[String]) -> Result<(), StorageError> {
    let store = tx.object_store(store).map_err(failed)?;
    for key in keys {
        store.delete(JsValue::from_str(key)).map_err(failed)?;
    }
    Ok(())
}

/// Oldest first; a basket's lines (ids `<basket>.<nnn>`) in their order.
fn in_order<Q: Queued>(mut queued: Vec<Q>) -> Vec<Q> {
    queued.sort_unstable_by(|a, b| (a.created_at_ms(), a.id()).cmp(&(b.created_at_ms(), b.id())));
    queued
}

impl Storage for IdbStorage {
    async fn load(&self) -> Result<Replica, StorageError> {
        self.usable().await?;
        let tx = self
            .db
            .borrow()
            .transaction(
                &[
                    BASE,
                    STOCK,
                    CATALOG,
                    STORES,
                    META,
                    INTENTS,
                    PICKUPS,
                    PICKUP_INTENTS,
                ],
                TransactionMode::ReadOnly,
            )
            .map_err(failed)?;
        let mut replica = Replica {
            offset: get::<Option<u64>>(&tx, META, "offset").await?.flatten(),
            base: get::<Option<u64>>(&tx, META, "base").await?.flatten(),
            last_contact_ms: get::<Option<i64>>(&tx, META, "contact").await?.flatten(),
            currency: get::<Option<shared::Currency>>(&tx, META, "currency")
                .await?
                .flatten(),
            ..Replica::default()
        };
        if let Some(levels) = get(&tx, BASE, "levels").await? {
            replica.levels = levels;
        }
        if let Some(products) = get(&tx, BASE, "catalog").await? {
            replica.products = products;
        }
        for stored in all::<StoredLevel>(&tx, STOCK).await? {
            // A late writer may have stored an older level over a newer base.
            replica.take_level(&stored.sku, stored.level());
        }
        for product in all::<Product>(&tx, CATALOG).await? {
            replica.take_product(product);
        }
        for store in all::<Store>(&tx, STORES).await? {
            replica.stores.insert(store.store_id.clone(), store);
        }
        replica.intents = in_order(all(&tx, INTENTS).await?);
        for pickup in all::<Pickup>(&tx, PICKUPS).await? {
            replica.pickups.insert(pickup.hold_id.clone(), pickup);
        }
        replica.pickup_intents = in_order(all(&tx, PICKUP_INTENTS).await?);
        Ok(replica)
    }

    async fn load_recent(&self) -> Result<Recent, StorageError> {
        self.usable().await?;
        let tx = self
            .db
            .borrow()
            .transaction(
                &[
                    STOCK,
                    CATALOG,
                    STORES,
                    META,
                    INTENTS,
                    PICKUPS,
                    PICKUP_INTENTS,
                ],
                TransactionMode::ReadOnly,
            )
            .map_err(failed)?;
        Ok(Recent {
            offset: get::<Option<u64>>(&tx, META, "offset").await?.flatten(),
            base: get::<Option<u64>>(&tx, META, "base").await?.flatten(),
            last_contact_ms: get::<Option<i64>>(&tx, META, "contact").await?.flatten(),
            levels: all::<StoredLevel>(&tx, STOCK)
                .await?
                .into_iter()
                .map(|s| (s.sku.clone(), s.level()))
                .collect(),
            products: all(&tx, CATALOG).await?,
            stores: all(&tx, STORES).await?,
            intents: in_order(all(&tx, INTENTS).await?),
            pickups: all(&tx, PICKUPS).await?,
            pickup_intents: in_order(all(&tx, PICKUP_INTENTS).await?),
        })
    }

    async fn replace(&self, replica: &Replica) -> Result<(), StorageError> {
        self.write(&[BASE, STOCK, CATALOG, STORES, META, PICKUPS], async |tx| {
            // A level stored meanwhile (an answer that came in while the
            // snapshot was on its way, another tab) newer than the new
            // base's stays: a level's version never moves back.
            let newer: Vec<StoredLevel> = all::<StoredLevel>(tx, STOCK)
                .await?
                .into_iter()
                .filter(|s| {
                    let base = replica.levels.get(&s.sku);
                    base.is_some_and(|l| s.version > l.version)
                })
                .collect();
            for store in [STOCK, CATALOG, STORES, PICKUPS] {
                tx.object_store(store)
                    .map_err(failed)?
                    .clear()
                    .map_err(failed)?;
            }
            for stored in &newer {
                put(tx, STOCK, &stored.sku, stored)?;
            }
            put(tx, BASE, "levels", &replica.levels)?;
            put(tx, BASE, "catalog", &replica.products)?;
            for store in replica.stores.values() {
                put(tx, STORES, &store.store_id, store)?;
            }
            for pickup in replica.pickups.values() {
                put(tx, PICKUPS, &pickup.hold_id, pickup)?;
            }
            put(tx, META, "offset", &replica.offset)?;
            put(tx, META, "base", &replica.base)?;
            put(tx, META, "currency", &replica.currency)?;
            put(tx, META, "contact", &replica.last_contact_ms)
        })
        .await
    }

    async fn apply(&self, page: &PageWrite) -> Result<(), StorageError> {
        let stores = [STOCK, CATALOG, STORES, META, INTENTS, PICKUPS];
        self.write(&stores, async |tx| {
            for (sku, level) in &page.levels {
                put_level(tx, sku, *level).await?;
            }
            for product in &page.products {
                put(tx, CATALOG, &product.sku, product)?;
            }
            for store in &page.stores {
                put(tx, STORES, &store.store_id, store)?;
            }
            for intent in &page.intents {
                put_queued(tx, INTENTS, intent).await?;
            }
            for pickup in &page.pickups {
                put(tx, PICKUPS, &pickup.hold_id, pickup)?;
            }
            delete(tx, PICKUPS, &page.pickups_ended)?;
            put(tx, META, "offset", &page.offset)?;
            put(tx, META, "contact", &page.contact_ms)
        })
        .await
    }

    async fn put_intents(
        &self,
        intents: &[Intent],
        levels: &[(String, Level)],
        contact_ms: Option<i64>,
    ) -> Result<(), StorageError> {
        self.write(&[INTENTS, STOCK, META], async |tx| {
            for intent in intents {
                put_queued(tx, INTENTS, intent).await?;
            }
            for (sku, level) in levels {
                put_level(tx, sku, *level).await?;
            }
            if let Some(contact) = contact_ms {
                put(tx, META, "contact", &contact)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.write(&[INTENTS], async |tx| delete(tx, INTENTS, ids))
            .await
    }

    async fn put_pickup_intents(
        &self,
        intents: &[PickupIntent],
        ended: &[String],
    ) -> Result<(), StorageError> {
        self.write(&[PICKUP_INTENTS, PICKUPS], async |tx| {
            for intent in intents {
                put_queued(tx, PICKUP_INTENTS, intent).await?;
            }
            delete(tx, PICKUPS, ended)
        })
        .await
    }

    async fn delete_pickup_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.write(&[PICKUP_INTENTS], async |tx| {
            delete(tx, PICKUP_INTENTS, ids)
        })
        .await
    }

    fn take_lost(&self) -> bool {
        self.lost.replace(false)
    }
}
