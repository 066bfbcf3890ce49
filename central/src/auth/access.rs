//! Which stores may use their tokens: active, and at which credential
//! generation. Loaded at start, then kept current by the ledger writer after
//! each commit, so checking a token never reads the database.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub active: bool,
    pub generation: u64,
}

#[derive(Default)]
pub struct StoreAccess {
    stores: RwLock<HashMap<String, Access>>,
}

impl StoreAccess {
    pub async fn load(pool: &sqlx::SqlitePool) -> sqlx::Result<Self> {
        let rows: Vec<(String, bool, i64)> =
            sqlx::query_as("SELECT store_id, active, credential_generation FROM stores")
                .fetch_all(pool)
                .await?;
        let stores = rows
            .into_iter()
            .map(|(id, active, generation)| {
                let generation = generation as u64;
                (id, Access { active, generation })
            })
            .collect();
        Ok(StoreAccess {
            stores: RwLock::new(stores),
        })
    }

    pub fn get(&self, store_id: &str) -> Option<Access> {
        let stores = self.stores.read().unwrap_or_else(PoisonError::into_inner);
        stores.get(store_id).copied()
    }

    pub(crate) fn set(&self, store_id: String, access: Access) {
        let mut stores = self.stores.write().unwrap_or_else(PoisonError::into_inner);
        stores.insert(store_id, access);
    }
}
