//! [`Storage`] in memory: what the engine's own tests and the native
//! end-to-end tests run it on. It behaves as the IndexedDB storage does
//! where the engine can tell (a stored level newer than a snapshot's
//! stays; intents survive a replace), and can be told to refuse writes
//! or to lose everything, as a browser may.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use super::{Intent, Level, PageWrite, PickupIntent, Recent, Replica, Storage, StorageError};

#[derive(Clone, Default)]
pub struct MemoryStorage {
    pub(crate) saved: Rc<RefCell<Replica>>,
    pub(crate) fail_writes: Rc<Cell<bool>>,
    lost: Rc<Cell<bool>>,
}

impl MemoryStorage {
    /// Everything stored is gone, as when the browser deletes the database.
    pub fn lose(&self) {
        *self.saved.borrow_mut() = Replica::default();
        self.lost.set(true);
    }

    /// While set, every write is refused as a full disk would refuse it.
    pub fn set_fail_writes(&self, fail: bool) {
        self.fail_writes.set(fail);
    }

    /// What is stored now.
    pub fn saved(&self) -> Replica {
        self.saved.borrow().clone()
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.fail_writes.get() {
            return Err(StorageError("QuotaExceededError".into()));
        }
        Ok(())
    }
}

impl Storage for MemoryStorage {
    async fn load(&self) -> Result<Replica, StorageError> {
        Ok(self.saved.borrow().clone())
    }

    async fn load_recent(&self) -> Result<Recent, StorageError> {
        let saved = self.saved.borrow();
        Ok(Recent {
            offset: saved.offset,
            base: saved.base,
            last_contact_ms: saved.last_contact_ms,
            levels: saved.levels.clone().into_iter().collect(),
            products: saved.products.values().cloned().collect(),
            stores: saved.stores.values().cloned().collect(),
            intents: saved.intents.clone(),
            pickups: saved.pickups.values().cloned().collect(),
            pickup_intents: saved.pickup_intents.clone(),
        })
    }

    async fn replace(&self, replica: &Replica) -> Result<(), StorageError> {
        self.check()?;
        let mut saved = self.saved.borrow_mut();
        let intents = std::mem::take(&mut saved.intents);
        let pickup_intents = std::mem::take(&mut saved.pickup_intents);
        let mut next = Replica {
            intents,
            pickup_intents,
            ..replica.clone()
        };
        // As IndexedDB does: a stored level newer than the base's stays.
        for (sku, level) in &saved.levels {
            if next
                .levels
                .get(sku)
                .is_some_and(|l| level.version > l.version)
            {
                next.levels.insert(sku.clone(), *level);
            }
        }
        *saved = next;
        Ok(())
    }

    async fn apply(&self, page: &PageWrite) -> Result<(), StorageError> {
        self.check()?;
        let mut saved = self.saved.borrow_mut();
        for (sku, level) in &page.levels {
            saved.take_level(sku, *level);
        }
        for product in &page.products {
            saved.take_product(product.clone());
        }
        for store in &page.stores {
            saved.stores.insert(store.store_id.clone(), store.clone());
        }
        saved.take_intents(page.intents.iter().cloned());
        for pickup in &page.pickups {
            saved.pickups.insert(pickup.hold_id.clone(), pickup.clone());
        }
        for hold_id in &page.pickups_ended {
            saved.pickups.remove(hold_id);
        }
        saved.offset = Some(page.offset);
        saved.last_contact_ms = Some(page.contact_ms);
        Ok(())
    }

    async fn put_intents(
        &self,
        intents: &[Intent],
        levels: &[(String, Level)],
        contact_ms: Option<i64>,
    ) -> Result<(), StorageError> {
        self.check()?;
        let mut saved = self.saved.borrow_mut();
        saved.take_intents(intents.iter().cloned());
        for (sku, level) in levels {
            saved.take_level(sku, *level);
        }
        if contact_ms.is_some() {
            saved.last_contact_ms = contact_ms;
        }
        Ok(())
    }

    async fn delete_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.check()?;
        self.saved
            .borrow_mut()
            .intents
            .retain(|i| !ids.contains(&i.id));
        Ok(())
    }

    async fn put_pickup_intents(
        &self,
        intents: &[PickupIntent],
        ended: &[String],
    ) -> Result<(), StorageError> {
        self.check()?;
        let mut saved = self.saved.borrow_mut();
        saved.take_pickup_intents(intents.iter().cloned());
        for hold_id in ended {
            saved.pickups.remove(hold_id);
        }
        Ok(())
    }

    async fn delete_pickup_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.check()?;
        self.saved
            .borrow_mut()
            .pickup_intents
            .retain(|i| !ids.contains(&i.id));
        Ok(())
    }

    fn take_lost(&self) -> bool {
        self.lost.replace(false)
    }
}
