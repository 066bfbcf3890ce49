//! What the store node keeps: the replica of central's state for its store,
//! and the intents it has not finished forwarding.

use serde::{Deserialize, Serialize};
use shared::{AdjustKind, AdjustResult, Problem, Product};

/// Central's level for one sku of this store, as replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub available: i64,
    pub version: u64,
}

/// Where a write intent stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IntentStatus {
    /// Stored, not yet answered by central (never sent, or sent and the
    /// answer was lost): forwarded again with the same key.
    Pending,
    /// Central applied it.
    Applied { result: AdjustResult },
    /// Central refused it for good (a 4xx): shown to the cashier.
    Rejected { problem: Problem },
}

/// A sale or restock the till made. Its id is the idempotency key: made
/// once, kept until central answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub sku: String,
    pub delta: i64,
    pub kind: AdjustKind,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub status: IntentStatus,
}

impl Intent {
    pub fn is_pending(&self) -> bool {
        matches!(self.status, IntentStatus::Pending)
    }

    /// Whether this intent's delta is not yet part of the replica's level:
    /// pending ones, and applied ones the replica has not caught up with.
    /// (A refused one never counts.) Comparing versions, not offsets, also
    /// covers an answer that updated the level directly.
    pub fn counts_above(&self, level: Option<&Level>) -> bool {
        match &self.status {
            IntentStatus::Pending => true,
            IntentStatus::Applied { result } => level.is_none_or(|l| result.version > l.version),
            IntentStatus::Rejected { .. } => false,
        }
    }
}

/// What a till shows for one sku. Never waits for the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockView {
    pub sku: String,
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    /// Central's figure, as replicated.
    pub central_available: i64,
    /// The effect of this till's intents central's figure does not show yet.
    pub pending_delta: i64,
    /// What to show: central's figure plus the pending effect.
    pub shown: i64,
    pub pending_intents: usize,
    /// True when central has not been heard from within the stale threshold.
    pub stale: bool,
    /// Milliseconds since central was last heard from (None: never).
    pub age_ms: Option<i64>,
}

/// The node's state as persisted: loaded whole at open, changed in small
/// transactions (see [`crate::engine::Storage`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replica {
    /// `None` until the first snapshot.
    pub offset: Option<u64>,
    pub last_contact_ms: Option<i64>,
    pub levels: std::collections::BTreeMap<String, Level>,
    pub products: std::collections::BTreeMap<String, Product>,
    /// In creation order.
    pub intents: Vec<Intent>,
}
