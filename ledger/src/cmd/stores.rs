//! Stores and their credentials. A store's secret is kept as a hash made
//! by the caller; activation and rotation bump its credential generation,
//! which ends the tokens issued before. Each credential change is a
//! `store_access` event (never the hash), so every central sharing the
//! ledger learns it from the log.

use shared::{Change, NewStore, Store};

use super::{Command, Tx};
use crate::{Refusal, backend::StoreChange};

type Answer = anyhow::Result<Result<Store, Refusal>>;

/// Registers a store, active, at credential generation 1.
#[derive(Debug, Clone)]
pub struct CreateStore {
    pub new: NewStore,
    /// The hash of the store's client secret.
    pub secret_hash: String,
}

impl Command for CreateStore {
    type Output = Result<Store, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let CreateStore { new, secret_hash } = self;
        let now_ms = tx.now_ms();
        if !tx.db().insert_store(new, secret_hash, now_ms)? {
            return Ok(Err(Refusal::StoreExists {
                store_id: new.store_id.clone(),
            }));
        }
        let store = Store {
            store_id: new.store_id.clone(),
            name: new.name.clone(),
            active: true,
            created_at: tx.now(),
            safety_stock: 0,
        };
        tx.append(Change::StoreCreated {
            store: store.clone(),
        })?;
        tx.append(Change::StoreAccess {
            store_id: store.store_id.clone(),
            active: true,
            generation: 1,
        })?;
        Ok(Ok(store))
    }
}

/// Activates or deactivates a store; either way its tokens end.
#[derive(Debug, Clone)]
pub struct SetStoreActive {
    pub store_id: String,
    pub active: bool,
}

impl Command for SetStoreActive {
    type Output = Result<Store, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let change = StoreChange::Active(self.active);
        let Some(store) = change_store(tx, &self.store_id, change)? else {
            return Ok(Err(Refusal::StoreNotFound {
                store_id: self.store_id.clone(),
            }));
        };
        tx.append(Change::StoreUpdated {
            store: store.clone(),
        })?;
        Ok(Ok(store))
    }
}

/// Replaces a store's secret; tokens issued before stop working. Its
/// devices stay enrolled: they sign in with credentials of their own.
#[derive(Debug, Clone)]
pub struct RotateSecret {
    pub store_id: String,
    pub secret_hash: String,
}

impl Command for RotateSecret {
    type Output = Result<Store, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let change = StoreChange::Secret(&self.secret_hash);
        Ok(
            change_store(tx, &self.store_id, change)?.ok_or_else(|| Refusal::StoreNotFound {
                store_id: self.store_id.clone(),
            }),
        )
    }
}

fn change_store(
    tx: &mut Tx<'_>,
    store_id: &str,
    change: StoreChange<'_>,
) -> anyhow::Result<Option<Store>> {
    let Some((store, generation)) = tx.db().change_store(store_id, change)? else {
        return Ok(None);
    };
    tx.append(Change::StoreAccess {
        store_id: store.store_id.clone(),
        active: store.active,
        generation,
    })?;
    Ok(Some(store))
}

/// Sets the units of each of a store's levels no sales channel may hold:
/// they stay on sale at its tills. Holds placed before keep what they hold.
#[derive(Debug, Clone)]
pub struct SetSafetyStock {
    pub store_id: String,
    pub units: i64,
}

impl Command for SetSafetyStock {
    type Output = Result<Store, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> Answer {
        let Some(store) = tx.db().set_safety_stock(&self.store_id, self.units)? else {
            return Ok(Err(Refusal::StoreNotFound {
                store_id: self.store_id.clone(),
            }));
        };
        tx.append(Change::StoreUpdated {
            store: store.clone(),
        })?;
        Ok(Ok(store))
    }
}
