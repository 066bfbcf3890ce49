//! [`Storage`] over IndexedDB: one database per central and store, its
//! schema versioned with an upgrade step per version. Each engine write is
//! one IndexedDB transaction, committed before the engine moves on.

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, TransactionMode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_wasm_bindgen::Serializer;
use shared::Product;
use wasm_bindgen::JsValue;

use crate::engine::{Intent, Level, PageWrite, Replica, Storage, StorageError};

/// Bump with a new step in `upgrade`.
const SCHEMA_VERSION: u32 = 1;
const STOCK: &str = "stock";
const CATALOG: &str = "catalog";
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

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, StorageError> {
    value
        .serialize(&Serializer::json_compatible())
        .map_err(failed)
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, StorageError> {
    serde_wasm_bindgen::from_value(value).map_err(failed)
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
                for store in [STOCK, CATALOG, META, INTENTS] {
                    let _ = db.create_object_store(store, ObjectStoreParams::new());
                }
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
            .transaction(&[STOCK, CATALOG, META, INTENTS], TransactionMode::ReadOnly)
            .map_err(failed)?;
        let all = async |name: &str| -> Result<Vec<JsValue>, StorageError> {
            let store = tx.object_store(name).map_err(failed)?;
            store
                .get_all(None, None)
                .map_err(failed)?
                .await
                .map_err(failed)
        };
        let levels = all(STOCK).await?;
        let products = all(CATALOG).await?;
        let intents = all(INTENTS).await?;
        let meta = tx.object_store(META).map_err(failed)?;
        let offset: Option<JsValue> = meta
            .get(JsValue::from_str("offset"))
            .map_err(failed)?
            .await
            .map_err(failed)?;
        let contact: Option<JsValue> = meta
            .get(JsValue::from_str("contact"))
            .map_err(failed)?
            .await
            .map_err(failed)?;
        let mut replica = Replica {
            offset: offset.map(from_js).transpose()?,
            last_contact_ms: contact.map(from_js).transpose()?,
            ..Replica::default()
        };
        for value in levels {
            let stored: StoredLevel = from_js(value)?;
            replica.levels.insert(stored.sku, stored.level);
        }
        for value in products {
            let product: Product = from_js(value)?;
            replica.products.insert(product.sku.clone(), product);
        }
        replica.intents = intents.into_iter().map(from_js).collect::<Result<_, _>>()?;
        replica.intents.sort_by_key(|i: &Intent| i.created_at_ms);
        Ok(replica)
    }

    async fn replace(&self, replica: &Replica) -> Result<(), StorageError> {
        self.write(&[STOCK, CATALOG, META], |tx| {
            for store in [STOCK, CATALOG] {
                tx.object_store(store)
                    .map_err(failed)?
                    .clear()
                    .map_err(failed)?;
            }
            for (sku, level) in &replica.levels {
                put_level(tx, sku, *level)?;
            }
            for (sku, product) in &replica.products {
                put(tx, CATALOG, sku, product)?;
            }
            put(tx, META, "offset", &replica.offset)?;
            put(tx, META, "contact", &replica.last_contact_ms)
        })
        .await
    }

    async fn apply(&self, page: &PageWrite) -> Result<(), StorageError> {
        self.write(&[STOCK, CATALOG, META], |tx| {
            for (sku, level) in &page.levels {
                put_level(tx, sku, *level)?;
            }
            for product in &page.products {
                put(tx, CATALOG, &product.sku, product)?;
            }
            put(tx, META, "offset", &page.offset)?;
            put(tx, META, "contact", &page.contact_ms)
        })
        .await
    }

    async fn put_intent(
        &self,
        intent: &Intent,
        level: Option<(&str, Level)>,
        contact_ms: Option<i64>,
    ) -> Result<(), StorageError> {
        self.write(&[INTENTS, STOCK, META], |tx| {
            put(tx, INTENTS, &intent.id, intent)?;
            if let Some((sku, level)) = level {
                put_level(tx, sku, level)?;
            }
            if let Some(contact) = contact_ms {
                put(tx, META, "contact", &contact)?;
            }
            Ok(())
        })
        .await
    }
}
