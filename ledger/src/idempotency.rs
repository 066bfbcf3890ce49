//! Saved answers of keyed writes. A key is saved in the same transaction as
//! the change it made, with a fingerprint of the request and the outcome, so
//! "applied" and "remembered" can never disagree.

use std::borrow::Cow;

use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use shared::{AdjustRequest, AdjustResult};

use crate::{Refusal, WriteError, backend::SavedKey, writer::Tx};

pub type Fingerprint = [u8; 32];

/// Whose a key is: each principal's keys live apart, so none replays or
/// collides with another's. Stored in one text column (`store_id`, named
/// when stores were the only callers): a store's id as it is,
/// `channel:{id}`, `admin:{subject}`; a store id cannot hold a ':'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope<'a> {
    Store(&'a str),
    Channel(&'a str),
    /// The admin's subject.
    Admin(&'a str),
}

impl<'a> KeyScope<'a> {
    /// The scope as stored beside the key, and fingerprinted.
    pub fn stored(self) -> Cow<'a, str> {
        match self {
            KeyScope::Store(store_id) => Cow::Borrowed(store_id),
            KeyScope::Channel(channel_id) => Cow::Owned(format!("channel:{channel_id}")),
            KeyScope::Admin(subject) => Cow::Owned(format!("admin:{subject}")),
        }
    }

    /// The (scope, key) pair a group reads ahead ([`crate::cmd::Wants`]).
    pub fn pair(self, key: &str) -> (String, String) {
        (self.stored().into_owned(), key.to_owned())
    }
}
pub(crate) type Outcome<T = AdjustResult> = Result<T, Refusal>;

/// A keyed write's answer, and whether it was a replay of a saved one.
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    pub outcome: Result<T, Refusal>,
    pub replayed: bool,
}

/// The same adjustment gives the same fingerprint, whether it came alone or
/// as a batch line, so a client may retry either way. Computed when the
/// command is made, before it reaches the writer, which is the one thread
/// every write passes through.
pub(crate) fn fingerprint(store_id: &str, req: &AdjustRequest) -> Result<Fingerprint, WriteError> {
    fingerprint_of("adjust", KeyScope::Store(store_id), req)
}

/// A request's fingerprint: what it is (`kind`), whose key it is (`scope`)
/// and what it asks.
pub(crate) fn fingerprint_of(
    kind: &str,
    scope: KeyScope<'_>,
    req: &impl Serialize,
) -> Result<Fingerprint, WriteError> {
    let canonical = serde_json::to_vec(&(kind, scope.stored(), req)).map_err(|error| {
        // It cannot fail for these types; if it did, the write is refused
        // as not taken, never a panic.
        tracing::error!(%error, "could not fingerprint a write");
        WriteError::Storage
    })?;
    Ok(Sha256::digest(canonical).into())
}

pub(crate) enum Saved<T = AdjustResult> {
    /// Same key, same request: here is the answer it got.
    Replay(Outcome<T>),
    /// Same key, another request.
    Conflict,
}

/// Keys are their principal's own: none sees another's answers.
pub(crate) fn lookup<T: DeserializeOwned>(
    tx: &mut Tx<'_>,
    scope: KeyScope<'_>,
    key: &str,
    fingerprint: &Fingerprint,
) -> anyhow::Result<Option<Saved<T>>> {
    Ok(match tx.db().saved_key(&scope.stored(), key)? {
        None => None,
        Some(saved) if saved.fingerprint.as_slice() != fingerprint => Some(Saved::Conflict),
        Some(saved) => Some(Saved::Replay(serde_json::from_str(&saved.outcome)?)),
    })
}

pub(crate) fn save<T: Serialize>(
    tx: &mut Tx<'_>,
    scope: KeyScope<'_>,
    key: &str,
    fingerprint: &Fingerprint,
    outcome: &Outcome<T>,
) -> anyhow::Result<()> {
    let saved = SavedKey {
        fingerprint: fingerprint.to_vec(),
        outcome: serde_json::to_string(outcome)?,
    };
    let now_ms = tx.now_ms();
    tx.db().save_key(&scope.stored(), key, &saved, now_ms)
}

/// Runs a keyed write once: a known key replays its saved answer (or is
/// refused if it was used for another request); a new one is decided by
/// `decide` and saved with its outcome, refusals included.
pub(crate) fn once<T: Serialize + DeserializeOwned>(
    tx: &mut Tx<'_>,
    scope: KeyScope<'_>,
    key: &str,
    fingerprint: &Fingerprint,
    decide: impl FnOnce(&mut Tx<'_>) -> anyhow::Result<Outcome<T>>,
) -> anyhow::Result<Keyed<T>> {
    match lookup(tx, scope, key, fingerprint)? {
        Some(Saved::Replay(outcome)) => Ok(Keyed {
            outcome,
            replayed: true,
        }),
        Some(Saved::Conflict) => Ok(Keyed {
            outcome: Err(Refusal::IdempotencyKeyReused),
            replayed: false,
        }),
        None => {
            let outcome = decide(tx)?;
            save(tx, scope, key, fingerprint, &outcome)?;
            Ok(Keyed {
                outcome,
                replayed: false,
            })
        }
    }
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
            held: 0,
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
                    held: 0,
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
                r#"{"Err":{"refusal":"insufficient_stock","current":{"store_id":"s1","sku":"A","available":2,"held":0,"version":7,"updated_at":null},"delta":-5}}"#,
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
        // Saved before holds: a level without `held` holds nothing.
        let before_holds = r#"{"Err":{"refusal":"insufficient_stock","current":{"store_id":"s1","sku":"A","available":2,"version":7,"updated_at":null},"delta":-5}}"#;
        let read: Outcome = serde_json::from_str(before_holds).unwrap();
        let current = Refusal::InsufficientStock {
            current: level(),
            delta: -5,
        };
        assert_eq!(read, Err(current));
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
