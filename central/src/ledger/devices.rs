//! Enrolled devices (tills): enrolment and revocation inside the writer's
//! transaction, and the read of a device's credential for signing in.
//!
//! Device changes append no event: like a store's secret, a device is a
//! credential, not stock, and replicas have no use for it. The events a
//! device's writes append name it (`device_id`).

use rusqlite::{OptionalExtension, params};
use shared::Device;
use sqlx::SqlitePool;

use super::{NewDevice, Refusal, timestamp, writer::Tx};
use crate::{auth::DeviceAccess, error::AppError};

type DeviceRow = (String, String, String, i64, Option<i64>);

const COLUMNS: &str = "device_id, store_id, name, enrolled_at, revoked_at";

fn device((device_id, store_id, name, enrolled_at, revoked_at): DeviceRow) -> Device {
    Device {
        device_id,
        store_id,
        name,
        enrolled_at: timestamp(enrolled_at),
        revoked_at: revoked_at.map(timestamp),
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// Enrols a device at an existing store, unless the store already has
/// `limit` enrolled devices: whoever holds a store's secret could otherwise
/// grow the table, and the access cache, without end.
pub(super) fn enrol_device(
    tx: &mut Tx<'_, '_>,
    new: &NewDevice,
    secret_hash: &str,
    limit: u32,
) -> anyhow::Result<Result<Device, Refusal>> {
    let (exists, enrolled): (bool, i64) = tx
        .conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = ?1),
                (SELECT COUNT(*) FROM devices WHERE store_id = ?1 AND revoked_at IS NULL)",
        )?
        .query_row([&new.store_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if !exists {
        return Ok(Err(Refusal::StoreNotFound {
            store_id: new.store_id.clone(),
        }));
    }
    if enrolled >= i64::from(limit) {
        return Ok(Err(Refusal::DeviceLimit {
            store_id: new.store_id.clone(),
            limit,
        }));
    }
    tx.conn
        .prepare_cached(
            "INSERT INTO devices (device_id, store_id, name, secret_hash, enrolled_at)
             VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![
            new.device_id,
            new.store_id,
            new.name,
            secret_hash,
            tx.now_ms
        ])?;
    tx.note_device(
        &new.device_id,
        DeviceAccess {
            store_id: new.store_id.clone(),
            revoked: false,
        },
    );
    Ok(Ok(Device {
        device_id: new.device_id.clone(),
        store_id: new.store_id.clone(),
        name: new.name.clone(),
        enrolled_at: tx.now(),
        revoked_at: None,
    }))
}

pub(super) fn revoke_device(
    tx: &mut Tx<'_, '_>,
    device_id: &str,
) -> anyhow::Result<Result<Device, Refusal>> {
    let revoked: Option<DeviceRow> = tx
        .conn
        .prepare_cached(&format!(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE device_id = ?
             RETURNING {COLUMNS}"
        ))?
        .query_row(params![tx.now_ms, device_id], row)
        .optional()?;
    let Some(revoked) = revoked else {
        return Ok(Err(Refusal::DeviceNotFound {
            device_id: device_id.to_owned(),
        }));
    };
    let revoked = device(revoked);
    tx.note_device(
        device_id,
        DeviceAccess {
            store_id: revoked.store_id.clone(),
            revoked: true,
        },
    );
    Ok(Ok(revoked))
}

/// A device's credential as central holds it, for signing in.
#[derive(Debug, Clone)]
pub struct DeviceSecret {
    pub store_id: String,
    pub secret_hash: String,
    pub revoked: bool,
}

pub async fn device_credentials(
    pool: &SqlitePool,
    device_id: &str,
) -> Result<Option<DeviceSecret>, AppError> {
    let row: Option<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT store_id, secret_hash, revoked_at FROM devices WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(store_id, secret_hash, revoked_at)| DeviceSecret {
        store_id,
        secret_hash,
        revoked: revoked_at.is_some(),
    }))
}

/// A store's devices, enrolled first first; revoked ones too, with when.
pub async fn devices_of(pool: &SqlitePool, store_id: &str) -> Result<Vec<Device>, AppError> {
    let rows: Vec<DeviceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM devices WHERE store_id = ? ORDER BY enrolled_at, device_id"
    ))
    .bind(store_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(device).collect())
}
