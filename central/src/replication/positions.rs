//! How far each store's replica has followed, as central learns it from
//! the store's `changes` calls. In memory: it is for operators and metrics,
//! and refills within one long-poll after a restart.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use shared::{ReplicationPosition, Timestamp};

#[derive(Default)]
pub struct Positions {
    stores: Mutex<HashMap<String, (u64, Timestamp)>>,
}

impl Positions {
    pub fn record(&self, store_id: &str, offset: u64) {
        let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        let now = time::OffsetDateTime::now_utc();
        match stores.get_mut(store_id) {
            Some(position) => *position = (offset, now),
            None => {
                stores.insert(store_id.to_owned(), (offset, now));
            }
        }
    }

    pub fn get(&self, store_id: &str, head: u64) -> Option<ReplicationPosition> {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        stores
            .get(store_id)
            .map(|&(offset, fetched_at)| ReplicationPosition {
                offset,
                fetched_at,
                lag: head.saturating_sub(offset),
            })
    }

    /// Sets the per-store lag gauge, just before `/metrics` renders.
    pub fn export_lag(&self, head: u64) {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        for (store, (offset, _)) in stores.iter() {
            metrics::gauge!(crate::observability::STORE_LAG, "store" => store.clone())
                .set(head.saturating_sub(*offset) as f64);
        }
    }
}
