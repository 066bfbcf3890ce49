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

#[cfg(test)]
mod tests {
    use shared::StockLevel;

    use super::*;

    fn level() -> StockLevel {
        StockLevel {
            store_id: "s1".into(),
            sku: "A".into(),
            available: 2,
            version: 7,
            updated_at: None,
        }
    }

    /// Saved answers outlive releases: a replay after an upgrade must read
    /// what an older central wrote, and migration 0003 finds a saved
    /// answer's store at `$.Ok.store_id`, `$.Err.current.store_id` or
    /// `$.Err.store_id`. A rename here breaks both; this pins the shape.
    #[test]
    fn saved_answers_keep_their_stored_shape() {
        let golden: [(Outcome, &str); 4] = [
            (
                Ok(AdjustResult {
                    store_id: "s1".into(),
                    sku: "A".into(),
                    available: 2,
                    version: 7,
                    offset: 42,
                    discrepancy_offset: None,
                }),
                r#"{"Ok":{"store_id":"s1","sku":"A","available":2,"version":7,"offset":42}}"#,
            ),
            (
                Err(Refusal::InsufficientStock {
                    current: level(),
                    delta: -5,
                }),
                r#"{"Err":{"refusal":"insufficient_stock","current":{"store_id":"s1","sku":"A","available":2,"version":7,"updated_at":null},"delta":-5}}"#,
            ),
            (
                Err(Refusal::StoreNotFound {
                    store_id: "s9".into(),
                }),
                r#"{"Err":{"refusal":"store_not_found","store_id":"s9"}}"#,
            ),
            (
                Err(Refusal::IdempotencyKeyReused),
                r#"{"Err":{"refusal":"idempotency_key_reused"}}"#,
            ),
        ];
        for (outcome, stored) in golden {
            assert_eq!(serde_json::to_string(&outcome).unwrap(), stored);
            let read: Outcome = serde_json::from_str(stored).unwrap();
            assert_eq!(read, outcome, "{stored} reads back");
        }
    }

    /// The fingerprint is stored too: the same request must hash the same
    /// across releases, alone or as a batch line, or a replay after an
    /// upgrade would be refused as another request.
    #[test]
    fn fingerprints_are_stable() {
        let req = AdjustRequest {
            sku: "A".into(),
            delta: -1,
            kind: shared::AdjustKind::Guarded,
            expected_version: None,
            reason: None,
        };
        let hex: String = fingerprint("s1", &req)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            serde_json::to_string(&("adjust", "s1", &req)).unwrap(),
            r#"["adjust","s1",{"sku":"A","delta":-1,"kind":"guarded"}]"#
        );
        assert_eq!(hex.len(), 64);
        assert_eq!(
            hex,
            format!(
                "{:x}",
                sha2::Sha256::digest(br#"["adjust","s1",{"sku":"A","delta":-1,"kind":"guarded"}]"#)
            )
        );
    }
}
