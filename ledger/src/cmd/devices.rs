//! Enrolled devices (tills): enrolment and revocation.
//!
//! Enrolment and revocation are events (`device_enrolled`,
//! `device_revoked`; never the secret's hash), so every central sharing
//! the ledger learns them from the log. The events a device's writes
//! append name it (`device_id`).

use shared::{Change, Device};

use super::{Command, Tx};
use crate::Refusal;

/// A device to enrol: its id (made by the caller), store and name.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub device_id: String,
    pub store_id: String,
    pub name: String,
}

/// Enrols a device at an existing store, unless the store already has
/// `limit` enrolled devices: whoever holds a store's secret could otherwise
/// grow the table, and the access cache, without end.
#[derive(Debug, Clone)]
pub struct EnrolDevice {
    pub device: NewDevice,
    /// The hash of the secret the device was given.
    pub secret_hash: String,
    /// Most enrolled (unrevoked) devices a store may have.
    pub limit: u32,
}

impl Command for EnrolDevice {
    type Output = Result<Device, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let EnrolDevice {
            device: new,
            secret_hash,
            limit,
        } = self;
        let (exists, enrolled) = tx.db().device_room(&new.store_id)?;
        if !exists {
            return Ok(Err(Refusal::StoreNotFound {
                store_id: new.store_id.clone(),
            }));
        }
        if enrolled >= u64::from(*limit) {
            return Ok(Err(Refusal::DeviceLimit {
                store_id: new.store_id.clone(),
                limit: *limit,
            }));
        }
        let now_ms = tx.now_ms();
        tx.db().insert_device(new, secret_hash, now_ms)?;
        tx.append(Change::DeviceEnrolled {
            store_id: new.store_id.clone(),
            device_id: new.device_id.clone(),
        })?;
        Ok(Ok(Device {
            device_id: new.device_id.clone(),
            store_id: new.store_id.clone(),
            name: new.name.clone(),
            enrolled_at: tx.now(),
            revoked_at: None,
        }))
    }
}

/// Revokes a device: its credential and tokens stop working at once.
/// Revoking a revoked device answers it as it is.
#[derive(Debug, Clone)]
pub struct RevokeDevice(pub String);

impl Command for RevokeDevice {
    type Output = Result<Device, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let device_id = &self.0;
        let now_ms = tx.now_ms();
        let Some((revoked, now)) = tx.db().revoke_device(device_id, now_ms)? else {
            return Ok(Err(Refusal::DeviceNotFound {
                device_id: device_id.clone(),
            }));
        };
        if now {
            tx.append(Change::DeviceRevoked {
                store_id: revoked.store_id.clone(),
                device_id: device_id.clone(),
            })?;
        }
        Ok(Ok(revoked))
    }
}
