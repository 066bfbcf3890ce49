//! [`Storage`] over IndexedDB: one database per central and store, its
//! schema versioned with an upgrade step per version. Each engine write is
//! one IndexedDB transaction, committed before the engine moves on.
//!
//! A snapshot is stored as two records in `base` (every level, every
//! product); pages of changes then write one record per changed sku in
//! `stock` and `catalog`, which loading lays over the base. Bootstrapping
//! 50,000 skus as 100,000 puts took seconds; as two records it takes
//! milliseconds.

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, TransactionMode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use shared::{Product, Store};
use wasm_bindgen::JsValue;

use crate::engine::{Intent, Level, PageWrite, Replica, Storage, StorageError};

/// Bump with a new step in `upgrade`.
const SCHEMA_VERSION: u32 = 2;
const BASE: &str = "base";
const STOCK: &str = "stock";
const CATALOG: &str = "catalog";
const STORES: &str = "stores";
const META: &str = "meta";
const INTENTS: &str = "intents";

#[derive(Serialize, Deserialize)]
struct StoredLevel {
    sku: String,
    #[serde(flatten)]
    level: Level,
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

pub struct IdbStorage {
    db: Database,
}

impl IdbStorage {
    pub async fn open(name: &str) -> Result<Self, StorageError> {
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
        });
        let db = request.await.map_err(failed)?;
        Ok(IdbStorage { db })
    }

    /// Writes in one read-write transaction over `stores` and waits until
    /// it is committed (a quota error surfaces here).
    async fn write(
        &self,
        stores: &[&str],
        fill: impl FnOnce(&idb::Transaction) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let tx = self
            .db
            .transaction(stores, TransactionMode::ReadWrite)
            .map_err(failed)?;
        if let Err(e) = fill(&tx) {
            let _ = tx.abort();
            return Err(e);
        }
        let done = tx.commit().map_err(failed)?.await.map_err(failed)?;
        if done.is_committed() {
            Ok(())
        } else {
            Err(StorageError("the IndexedDB transaction was aborted".into()))
        }
    }
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

fn put_level(tx: &idb::Transaction, sku: &str, level: Level) -> Result<(), StorageError> {
    let stored = StoredLevel {
        sku: sku.to_owned(),
        level,
    };
    put(tx, STOCK, sku, &stored)
}

impl Storage for IdbStorage {
    async fn load(&self) -> Result<Replica, StorageError> {
        let tx = self
            .db
            .transaction(
                &[BASE, STOCK, CATALOG, STORES, META, INTENTS],
                TransactionMode::ReadOnly,
            )
            .map_err(failed)?;
        let all = async |name: &str| -> Result<Vec<JsValue>, StorageError> {
            let store = tx.object_store(name).map_err(failed)?;
            store
                .get_all(None, None)
                .map_err(failed)?
                .await
                .map_err(failed)
        };
        let one = async |name: &str, key: &str| -> Result<Option<JsValue>, StorageError> {
            let store = tx.object_store(name).map_err(failed)?;
            store
                .get(JsValue::from_str(key))
                .map_err(failed)?
                .await
                .map_err(failed)
        };
        let mut replica = Replica {
            offset: one(META, "offset")
                .await?
                .map(from_js)
                .transpose()?
                .flatten(),
            last_contact_ms: one(META, "contact")
                .await?
                .map(from_js)
                .transpose()?
                .flatten(),
            ..Replica::default()
        };
        if let Some(levels) = one(BASE, "levels").await? {
            replica.levels = from_js(levels)?;
        }
        if let Some(products) = one(BASE, "catalog").await? {
            replica.products = from_js(products)?;
        }
        for value in all(STOCK).await? {
            let stored: StoredLevel = from_js(value)?;
            replica.levels.insert(stored.sku, stored.level);
        }
        for value in all(CATALOG).await? {
            let product: Product = from_js(value)?;
            replica.products.insert(product.sku.clone(), product);
        }
        for value in all(STORES).await? {
            let store: Store = from_js(value)?;
            replica.stores.insert(store.store_id.clone(), store);
        }
        replica.intents = all(INTENTS)
            .await?
            .into_iter()
            .map(from_js)
            .collect::<Result<_, _>>()?;
        replica.intents.sort_by_key(|i: &Intent| i.created_at_ms);
        Ok(replica)
    }

    async fn replace(&self, replica: &Replica) -> Result<(), StorageError> {
        self.write(&[BASE, STOCK, CATALOG, STORES, META], |tx| {
            for store in [STOCK, CATALOG, STORES] {
                tx.object_store(store)
                    .map_err(failed)?
                    .clear()
                    .map_err(failed)?;
            }
            put(tx, BASE, "levels", &replica.levels)?;
            put(tx, BASE, "catalog", &replica.products)?;
            for store in replica.stores.values() {
                put(tx, STORES, &store.store_id, store)?;
            }
            put(tx, META, "offset", &replica.offset)?;
            put(tx, META, "contact", &replica.last_contact_ms)
        })
        .await
    }

    async fn apply(&self, page: &PageWrite) -> Result<(), StorageError> {
        self.write(&[STOCK, CATALOG, STORES, META], |tx| {
            for (sku, level) in &page.levels {
                put_level(tx, sku, *level)?;
            }
            for product in &page.products {
                put(tx, CATALOG, &product.sku, product)?;
            }
            for store in &page.stores {
                put(tx, STORES, &store.store_id, store)?;
            }
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
        self.write(&[INTENTS, STOCK, META], |tx| {
            for intent in intents {
                put(tx, INTENTS, &intent.id, intent)?;
            }
            for (sku, level) in levels {
                put_level(tx, sku, *level)?;
            }
            if let Some(contact) = contact_ms {
                put(tx, META, "contact", &contact)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.write(&[INTENTS], |tx| {
            let store = tx.object_store(INTENTS).map_err(failed)?;
            for id in ids {
                store.delete(JsValue::from_str(id)).map_err(failed)?;
            }
            Ok(())
        })
        .await
    }
}
