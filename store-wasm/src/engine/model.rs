//! What the store node keeps: the replica of central's state for its store,
//! and the intents it has not finished forwarding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::{AdjustKind, AdjustResult, Problem, Product, Store};

/// Central's level for one sku of this store, as replicated: what may be
/// sold (`available`) and what is held for online orders on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub available: i64,
    /// Stored before holds existed: none.
    #[serde(default)]
    pub held: i64,
    pub version: u64,
}

/// Where a write intent stands: pending → sent → applied | rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IntentStatus {
    /// Stored, never sent.
    Pending,
    /// Sent at least once without an answer (offline, lost, 5xx): central
    /// may or may not have it, so it goes again with the same key.
    Sent,
    /// Central applied it.
    Applied { result: AdjustResult },
    /// Central refused it for good (a 4xx): shown to the cashier.
    Rejected { problem: Box<Problem> },
}

/// A sale or restock the till made. Its id is the idempotency key: made
/// once, kept until central answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub sku: String,
    pub delta: i64,
    pub kind: AdjustKind,
    /// The lines of one basket share this id and go to central as one
    /// atomic batch: all apply or none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basket: Option<String>,
    /// Why, for central's change log: a return, a void, a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub status: IntentStatus,
}

/// What an intent is for. A sale takes stock; a restock, a return and a
/// void put it back; a count corrects it either way. Told apart by the
/// reason the engine gives them, which central records too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sale,
    Restock,
    Return,
    Void,
    Count,
}

impl Purpose {
    /// How the reason of an intent of this purpose begins.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Purpose::Return => "return: ",
            Purpose::Void => "void of sale ",
            Purpose::Count => "count: ",
            Purpose::Sale | Purpose::Restock => "",
        }
    }
}

impl Intent {
    pub fn purpose(&self) -> Purpose {
        let reason = self.reason.as_deref().unwrap_or_default();
        [Purpose::Return, Purpose::Void, Purpose::Count]
            .into_iter()
            .find(|p| reason.starts_with(p.prefix()))
            .unwrap_or(if self.delta < 0 {
                Purpose::Sale
            } else {
                Purpose::Restock
            })
    }

    /// Not answered by central yet: to be forwarded (again).
    pub fn is_unanswered(&self) -> bool {
        matches!(self.status, IntentStatus::Pending | IntentStatus::Sent)
    }

    /// Takes what another copy of this intent knows (another tab's, a
    /// stored one, an answer): an answer, once had, is never replaced by
    /// "unanswered", and sent never goes back to pending.
    pub fn merge(&mut self, other: Intent) {
        let attempts = self.attempts.max(other.attempts);
        let rank = |i: &Intent| match i.status {
            IntentStatus::Pending => 0,
            IntentStatus::Sent => 1,
            IntentStatus::Applied { .. } | IntentStatus::Rejected { .. } => 2,
        };
        if rank(&other) >= rank(self) {
            *self = other;
        }
        self.attempts = attempts;
    }

    /// Whether this intent's delta is not yet part of the replica's level:
    /// unanswered ones, and applied ones the replica has not caught up with.
    /// (A refused one never counts.) Comparing versions, not offsets, also
    /// covers an answer that updated the level directly.
    pub fn counts_above(&self, level: Option<&Level>) -> bool {
        match &self.status {
            IntentStatus::Pending | IntentStatus::Sent => true,
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
    /// Units on the shelf held for online orders (not in `shown`: they may
    /// not be sold at the till).
    #[serde(default)]
    pub held: i64,
    pub pending_intents: usize,
    /// True when central has not been heard from within the stale threshold.
    pub stale: bool,
    /// Milliseconds since central was last heard from (None: never).
    pub age_ms: Option<i64>,
}

/// One store's figure for a sku, as central answered ("available nearby").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nearby {
    pub store_id: String,
    /// The store's display name, when the replica knows the store.
    pub name: Option<String>,
    pub available: i64,
}

/// The node's state as persisted: loaded whole at open, changed in small
/// transactions (see [`crate::engine::Storage`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replica {
    /// `None` until the first snapshot.
    pub offset: Option<u64>,
    /// The offset of the snapshot the stored base came from: a tab that
    /// follows re-reads the whole replica only when it moved.
    pub base: Option<u64>,
    pub last_contact_ms: Option<i64>,
    pub levels: BTreeMap<String, Level>,
    pub products: BTreeMap<String, Product>,
    /// Every store of the chain, for names ("available nearby").
    pub stores: BTreeMap<String, Store>,
    /// What prices count in, as central said in its last snapshot.
    pub currency: Option<shared::Currency>,
    /// In creation order.
    pub intents: Vec<Intent>,
}

impl Replica {
    /// The version of `sku`'s level, if the replica has one.
    pub fn version(&self, sku: &str) -> Option<u64> {
        self.levels.get(sku).map(|l| l.version)
    }

    /// Takes a level from central (an event, an answer) unless the replica
    /// already has it or a newer one: versions only move forward.
    pub fn take_level(&mut self, sku: &str, level: Level) {
        if self.version(sku).is_none_or(|v| level.version > v) {
            self.levels.insert(sku.to_owned(), level);
        }
    }

    /// Likewise for a product; says whether the replica's product changed
    /// (searches then need their keys again).
    pub fn take_product(&mut self, product: Product) -> bool {
        let known = self.products.get(&product.sku);
        if known.is_some_and(|p| product.version < p.version || *p == product) {
            return false;
        }
        self.products.insert(product.sku.clone(), product);
        true
    }

    /// Follows the stored list of intents (what another tab pruned or
    /// dismissed goes) while keeping what this tab knows better: answers not
    /// stored yet, and unanswered intents the device refused to store.
    pub fn follow_intents(&mut self, stored: Vec<Intent>) {
        let mut followed = stored;
        for mine in std::mem::take(&mut self.intents) {
            match followed.iter_mut().find(|s| s.id == mine.id) {
                Some(stored) => stored.merge(mine),
                None if mine.is_unanswered() => followed.push(mine),
                None => {}
            }
        }
        self.intents = followed;
    }

    /// Takes another copy of intents (see [`Intent::merge`]); new ones are
    /// appended in order.
    pub fn take_intents(&mut self, intents: impl IntoIterator<Item = Intent>) {
        for intent in intents {
            match self.intents.iter_mut().find(|i| i.id == intent.id) {
                Some(known) => known.merge(intent),
                None => self.intents.push(intent),
            }
        }
    }
}

/// What a following tab reads to catch up with the syncing one: everything
/// but the base, which it re-reads only when `base` moved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recent {
    pub offset: Option<u64>,
    pub base: Option<u64>,
    pub last_contact_ms: Option<i64>,
    pub levels: Vec<(String, Level)>,
    pub products: Vec<Product>,
    pub stores: Vec<Store>,
    pub intents: Vec<Intent>,
}
