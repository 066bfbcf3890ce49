//! Saved answers of keyed writes. A key is saved in the same transaction as
//! the change it made, with a fingerprint of the request and the outcome, so
//! "applied" and "remembered" can never disagree.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use shared::{AdjustRequest, AdjustResult};

use super::{Refusal, writer::Tx};

pub(crate) type Fingerprint = [u8; 32];
pub(super) type Outcome = Result<AdjustResult, Refusal>;

/// The same adjustment gives the same fingerprint, whether it came alone or
/// as a batch line, so a client may retry either way. Computed by the
/// caller before the command reaches the writer, which is the one thread
/// every write passes through.
pub(super) fn fingerprint(store_id: &str, req: &AdjustRequest) -> anyhow::Result<Fingerprint> {
    let canonical = serde_json::to_vec(&("adjust", store_id, req))?;
    Ok(Sha256::digest(canonical).into())
}

/// Keys are the store's own: `(store_id, key)` is the primary key.
pub(super) const LOOKUP: &str =
    "SELECT fingerprint, outcome FROM idempotency WHERE store_id = ? AND key = ?";
pub(super) const SAVE: &str =
    "INSERT INTO idempotency (store_id, key, fingerprint, outcome, created_at)
     VALUES (?, ?, ?, ?, ?)";

pub(super) enum Saved {
    /// Same key, same request: here is the answer it got.
    Replay(Outcome),
    /// Same key, another request.
    Conflict,
}

pub(super) fn lookup(
    tx: &Tx<'_, '_>,
    store_id: &str,
    key: &str,
    fingerprint: &Fingerprint,
) -> anyhow::Result<Option<Saved>> {
    let row: Option<(Vec<u8>, String)> = tx
        .prepared
        .lookup_key
        .borrow_mut()
        .query_row([store_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        None => None,
        Some((saved, _)) if saved.as_slice() != fingerprint => Some(Saved::Conflict),
        Some((_, outcome)) => Some(Saved::Replay(serde_json::from_str(&outcome)?)),
    })
}

pub(super) fn save(
    tx: &Tx<'_, '_>,
    store_id: &str,
    key: &str,
    fingerprint: &Fingerprint,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    tx.prepared.save_key.borrow_mut().execute(params![
        store_id,
        key,
        fingerprint.as_slice(),
        serde_json::to_string(outcome)?,
        tx.now_ms
    ])?;
    Ok(())
}
