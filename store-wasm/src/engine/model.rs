//! What the store node keeps: the replica of central's state for its store,
//! and the intents it has not finished forwarding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::{AdjustKind, AdjustResult, ErrorCode, Problem, Product, Store};

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
/// `R` is what the till keeps of central's answer when it applies the
/// write: an adjustment's level, or the hold's state after a hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IntentStatus<R = AdjustResult> {
    /// Stored, never sent.
    Pending,
    /// Sent at least once without an answer (offline, lost, 5xx): central
    /// may or may not have it, so it goes again with the same key.
    Sent,
    /// Central applied it.
    Applied { result: R },
    /// Central refused it for good (a 4xx): shown to the cashier.
    Rejected { problem: Box<Problem> },
}

impl<R> IntentStatus<R> {
    /// Not answered by central yet: to be forwarded (again).
    pub fn is_unanswered(&self) -> bool {
        matches!(self, IntentStatus::Pending | IntentStatus::Sent)
    }

    /// How far it got: an answer, once had, is never replaced by
    /// "unanswered", and sent never goes back to pending.
    fn rank(&self) -> u8 {
        match self {
            IntentStatus::Pending => 0,
            IntentStatus::Sent => 1,
            IntentStatus::Applied { .. } | IntentStatus::Rejected { .. } => 2,
        }
    }
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
        self.status.is_unanswered()
    }

    /// Takes what another copy of this intent knows (another tab's, a
    /// stored one, an answer): an answer, once had, is never replaced by
    /// "unanswered", and sent never goes back to pending.
    pub fn merge(&mut self, other: Intent) {
        let attempts = self.attempts.max(other.attempts);
        if other.status.rank() >= self.status.rank() {
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

/// An online order to hand over at this store: the lines of an active
/// hold taken from this store's shelf, as the replica follows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pickup {
    pub hold_id: String,
    /// The sales channel that placed it.
    pub channel: String,
    /// The channel's order reference, which the customer quotes.
    pub reference: String,
    /// When central gives the units back to available, in ms since the epoch.
    pub expires_at_ms: i64,
    /// This store's lines, in sku order.
    pub lines: Vec<PickupLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupLine {
    pub sku: String,
    pub quantity: i64,
}

impl Pickup {
    /// The store's part of a hold, if it has active lines here.
    pub fn of(hold: &shared::Hold, store_id: &str) -> Option<Pickup> {
        let lines: Vec<PickupLine> = hold
            .lines
            .iter()
            .filter(|l| l.store_id == store_id && l.state == shared::HoldState::Active)
            .map(|l| PickupLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect();
        (!lines.is_empty()).then(|| Pickup {
            hold_id: hold.hold_id.clone(),
            channel: hold.channel.clone(),
            reference: hold.reference.clone(),
            expires_at_ms: unix_ms(hold.expires_at),
            lines,
        })
    }
}

/// A timestamp of central's in ms since the epoch, the clock port's unit.
pub fn unix_ms(at: shared::Timestamp) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// What the cashier does with a pick-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickupAction {
    /// The customer (or courier) took the goods: central commits the
    /// store's lines whole.
    HandOver,
    /// The order will not be collected here: the store's lines go back to
    /// available.
    Cancel,
}

/// A hand-over or cancel the till made: stored first, then forwarded with
/// its id as the idempotency key until central answers, as a sale is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupIntent {
    pub id: String,
    pub action: PickupAction,
    /// The pick-up as the cashier saw it: what the panel names once the
    /// hold has left the list.
    pub pickup: Pickup,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Applied: how the hold stood after it (committed, released), all
    /// the panel needs of central's answer.
    #[serde(flatten)]
    pub status: IntentStatus<shared::HoldState>,
}

impl PickupIntent {
    /// Whether central's answer ended the pick-up here: it applied the
    /// hand-over or cancel, or refused it because the hold is over
    /// anyway (expired, ended, unknown).
    pub fn ends_pickup(&self) -> bool {
        match &self.status {
            IntentStatus::Applied { .. } => true,
            IntentStatus::Rejected { problem } => matches!(
                problem.code,
                ErrorCode::HoldExpired | ErrorCode::HoldEnded | ErrorCode::HoldNotFound
            ),
            IntentStatus::Pending | IntentStatus::Sent => false,
        }
    }

    /// As [`Intent::merge`]: the copy that got further wins.
    pub fn merge(&mut self, other: PickupIntent) {
        let attempts = self.attempts.max(other.attempts);
        if other.status.rank() >= self.status.rank() {
            *self = other;
        }
        self.attempts = attempts;
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
    /// This store's pick-ups, by hold id.
    pub pickups: BTreeMap<String, Pickup>,
    /// Hand-overs and cancels, in creation order.
    pub pickup_intents: Vec<PickupIntent>,
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

    /// Takes pick-ups central placed or changed and forgets the ended
    /// ones; one this till's answered hand-over or cancel ended stays gone
    /// (a page read before the answer may still carry it).
    pub fn take_pickups(&mut self, pickups: impl IntoIterator<Item = Pickup>, ended: &[String]) {
        for pickup in pickups {
            if !self.pickup_done(&pickup.hold_id) {
                self.pickups.insert(pickup.hold_id.clone(), pickup);
            }
        }
        for hold_id in ended {
            self.pickups.remove(hold_id);
        }
    }

    /// Whether a hand-over or cancel of this till's ended the pick-up.
    pub fn pickup_done(&self, hold_id: &str) -> bool {
        self.pickup_intents
            .iter()
            .any(|i| i.pickup.hold_id == hold_id && i.ends_pickup())
    }

    /// Follows the stored list of intents (what another tab pruned or
    /// dismissed goes) while keeping what this tab knows better: answers not
    /// stored yet, and unanswered intents the device refused to store.
    pub fn follow_intents(&mut self, stored: Vec<Intent>) {
        follow(&mut self.intents, stored);
    }

    /// Takes another copy of intents (see [`Intent::merge`]); new ones are
    /// appended in order.
    pub fn take_intents(&mut self, intents: impl IntoIterator<Item = Intent>) {
        take(&mut self.intents, intents);
    }

    /// [`Replica::follow_intents`] for hand-overs and cancels.
    pub fn follow_pickup_intents(&mut self, stored: Vec<PickupIntent>) {
        follow(&mut self.pickup_intents, stored);
    }

    /// [`Replica::take_intents`] for hand-overs and cancels.
    pub fn take_pickup_intents(&mut self, intents: impl IntoIterator<Item = PickupIntent>) {
        take(&mut self.pickup_intents, intents);
    }
}

/// A write the till queues until central answers: a sale's intent or a
/// hand-over's. Storage keeps both the same way.
pub trait Queued {
    fn id(&self) -> &str;
    fn created_at_ms(&self) -> i64;
    fn merge(&mut self, other: Self);
    fn is_unanswered(&self) -> bool;
}

impl Queued for Intent {
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at_ms(&self) -> i64 {
        self.created_at_ms
    }
    fn merge(&mut self, other: Self) {
        Intent::merge(self, other)
    }
    fn is_unanswered(&self) -> bool {
        Intent::is_unanswered(self)
    }
}

impl Queued for PickupIntent {
    fn id(&self) -> &str {
        &self.id
    }
    fn created_at_ms(&self) -> i64 {
        self.created_at_ms
    }
    fn merge(&mut self, other: Self) {
        PickupIntent::merge(self, other)
    }
    fn is_unanswered(&self) -> bool {
        self.status.is_unanswered()
    }
}

/// The stored list, with what `mine` knows better merged in (see
/// [`Replica::follow_intents`]).
fn follow<Q: Queued>(mine: &mut Vec<Q>, stored: Vec<Q>) {
    let mut followed = stored;
    for known in std::mem::take(mine) {
        match followed.iter_mut().find(|s| s.id() == known.id()) {
            Some(stored) => stored.merge(known),
            None if known.is_unanswered() => followed.push(known),
            None => {}
        }
    }
    *mine = followed;
}

fn take<Q: Queued>(mine: &mut Vec<Q>, intents: impl IntoIterator<Item = Q>) {
    for intent in intents {
        match mine.iter_mut().find(|i| i.id() == intent.id()) {
            Some(known) => known.merge(intent),
            None => mine.push(intent),
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
    /// All of them: the list is short, and ended ones are gone from it.
    pub pickups: Vec<Pickup>,
    pub pickup_intents: Vec<PickupIntent>,
}
