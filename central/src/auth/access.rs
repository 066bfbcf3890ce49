//! Which credentials may still be used: each store and each sales channel
//! (active, and at which credential generation) and each enrolled device (its store, and whether
//! it is revoked). Loaded at start, then kept current by the ledger after each
//! commit (a [`Subscriber`]), so checking a token never reads the database.
//!
//! Loaded at a known offset of the log ([`StoreAccess::load`]), and the
//! ledger is started after it (`Database::start_after`): every event after
//! that offset reaches the cache, also one another central committed while
//! this one was starting, before central serves a request.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use ledger::{AccessChange, Committed, Positions, ReadError, Reader, Subscriber};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub active: bool,
    pub generation: u64,
}

/// An enrolled device: the store it belongs to, and whether it may still
/// sign in and use its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccess {
    pub store_id: String,
    pub revoked: bool,
}

#[derive(Default)]
pub struct StoreAccess {
    stores: RwLock<HashMap<String, Access>>,
    /// Sales channels, kept as stores are.
    channels: RwLock<HashMap<String, Access>>,
    /// Bounded by the stores times the devices each may enrol.
    devices: RwLock<HashMap<String, DeviceAccess>>,
}

impl StoreAccess {
    /// The access table as the database holds it, and the log's positions
    /// it was read at (it holds every event through their head): start the
    /// ledger after them.
    pub async fn load(reader: &Reader) -> Result<(Self, Positions), ReadError> {
        let state = reader.access().await?;
        let at = state.at;
        let stores = state
            .stores
            .into_iter()
            .map(|(id, active, generation)| (id, Access { active, generation }))
            .collect();
        let channels = state
            .channels
            .into_iter()
            .map(|(id, active, generation)| (id, Access { active, generation }))
            .collect();
        // Revoked devices are refused as unknown ones are: only the
        // enrolled ones need a place in memory.
        let devices = state
            .devices
            .into_iter()
            .map(|(device_id, store_id)| {
                let access = DeviceAccess {
                    store_id,
                    revoked: false,
                };
                (device_id, access)
            })
            .collect();
        let access = StoreAccess {
            stores: RwLock::new(stores),
            channels: RwLock::new(channels),
            devices: RwLock::new(devices),
        };
        Ok((access, at))
    }

    pub fn get(&self, store_id: &str) -> Option<Access> {
        let stores = self.stores.read().unwrap_or_else(PoisonError::into_inner);
        stores.get(store_id).copied()
    }

    pub fn channel(&self, channel_id: &str) -> Option<Access> {
        let channels = self.channels.read().unwrap_or_else(PoisonError::into_inner);
        channels.get(channel_id).copied()
    }

    fn set_channel(&self, channel_id: String, access: Access) {
        let mut channels = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        channels.insert(channel_id, access);
    }

    fn set(&self, store_id: String, access: Access) {
        let mut stores = self.stores.write().unwrap_or_else(PoisonError::into_inner);
        stores.insert(store_id, access);
    }

    /// Whether `device_id` is enrolled (not revoked) at `store_id`, and
    /// that store active.
    pub fn device_may_act(&self, device_id: &str, store_id: &str) -> bool {
        let enrolled = {
            let devices = self.devices.read().unwrap_or_else(PoisonError::into_inner);
            devices
                .get(device_id)
                .is_some_and(|d| !d.revoked && d.store_id == store_id)
        };
        enrolled && self.get(store_id).is_some_and(|a| a.active)
    }

    fn set_device(&self, device_id: String, access: DeviceAccess) {
        let mut devices = self.devices.write().unwrap_or_else(PoisonError::into_inner);
        if access.revoked {
            devices.remove(&device_id);
        } else {
            devices.insert(device_id, access);
        }
    }
}

/// Kept current by the ledger: each credential change is in memory before
/// the write that made it is answered.
impl Subscriber for StoreAccess {
    fn committed(&self, committed: &Committed) {
        for change in &committed.access {
            match change.clone() {
                AccessChange::Store {
                    store_id,
                    active,
                    generation,
                } => self.set(store_id, Access { active, generation }),
                AccessChange::Channel {
                    channel_id,
                    active,
                    generation,
                } => self.set_channel(channel_id, Access { active, generation }),
                AccessChange::Device {
                    device_id,
                    store_id,
                    revoked,
                } => self.set_device(device_id, DeviceAccess { store_id, revoked }),
            }
        }
    }
}
