//! Pick-ups: online orders held at this store, handed over at the counter
//! (central commits the store's lines) or cancelled (it releases them).
//!
//! A hand-over is a fact like a sale: stored first, then forwarded with its
//! id as the idempotency key until central answers, so one made offline is
//! replayed exactly once however often it is sent. A refusal is final: a
//! hold that expired meanwhile is answered `hold_expired`, and the panel
//! says what to do (the units went back on sale: ring the goods up).

use std::collections::HashSet;

use shared::{
    CommitHoldRequest, Hold, Problem,
    api::{self, Call},
};

use super::{
    Clock, Engine, EngineError, Flushed, IntentStatus, Pickup, PickupAction, PickupIntent, Storage,
    StorageError, Transport, TransportError, intents::is_refusal, session::id,
};

/// Answered hand-overs kept for the panel; older ones are forgotten.
const KEEP_ANSWERED: usize = 20;

/// One pick-up as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PickupView {
    pub pickup: Pickup,
    /// Milliseconds until central releases it (negative: past its time;
    /// central's expiry gives it back any moment).
    pub expires_in_ms: i64,
    /// A hand-over or cancel of this till's that central has not answered.
    pub pending: Option<PickupAction>,
}

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    /// This store's pick-ups, soonest to expire first: what central holds
    /// here, less what this till's answered hand-overs ended.
    pub fn pickups(&self) -> Vec<PickupView> {
        let state = self.state.borrow();
        let replica = &state.replica;
        let now = self.clock.now_ms();
        let mut views: Vec<PickupView> = replica
            .pickups
            .values()
            .filter(|p| !replica.pickup_done(&p.hold_id))
            .map(|pickup| PickupView {
                expires_in_ms: pickup.expires_at_ms - now,
                pending: replica
                    .pickup_intents
                    .iter()
                    .find(|i| i.pickup.hold_id == pickup.hold_id && i.status.is_unanswered())
                    .map(|i| i.action),
                pickup: pickup.clone(),
            })
            .collect();
        views.sort_unstable_by(|a, b| {
            (a.pickup.expires_at_ms, &a.pickup.hold_id)
                .cmp(&(b.pickup.expires_at_ms, &b.pickup.hold_id))
        });
        views
    }

    /// Every hand-over and cancel the node keeps, oldest first.
    pub fn pickup_intents(&self) -> Vec<PickupIntent> {
        self.state.borrow().replica.pickup_intents.clone()
    }

    /// The customer took the order's goods from this store.
    pub async fn hand_over(&self, hold_id: &str, id: String) -> Result<PickupIntent, EngineError> {
        self.queue_pickup(hold_id, PickupAction::HandOver, id).await
    }

    /// The order will not be collected here: its units go back on sale.
    pub async fn cancel_pickup(
        &self,
        hold_id: &str,
        id: String,
    ) -> Result<PickupIntent, EngineError> {
        self.queue_pickup(hold_id, PickupAction::Cancel, id).await
    }

    /// Stores the intent before anything else, as a sale's: acknowledged,
    /// it is never lost. If the device refuses to store it, it goes
    /// straight to central while central answers.
    async fn queue_pickup(
        &self,
        hold_id: &str,
        action: PickupAction,
        id: String,
    ) -> Result<PickupIntent, EngineError> {
        let view = self
            .pickups()
            .into_iter()
            .find(|v| v.pickup.hold_id == hold_id)
            .ok_or_else(|| EngineError::Invalid("no such order to pick up here".into()))?;
        if view.pending.is_some() {
            return Err(EngineError::Invalid(
                "that order is being handed over already".into(),
            ));
        }
        let intent = PickupIntent {
            id,
            action,
            pickup: view.pickup,
            created_at_ms: self.clock.now_ms(),
            attempts: 0,
            last_error: None,
            status: IntentStatus::Pending,
        };
        self.restore_lost().await;
        let stored = self
            .storage
            .put_pickup_intents(std::slice::from_ref(&intent), &[])
            .await;
        let refused = match self.stored(stored) {
            Ok(()) => {
                self.state
                    .borrow_mut()
                    .replica
                    .pickup_intents
                    .push(intent.clone());
                return Ok(intent);
            }
            Err(refused) => refused,
        };
        if !self.state.borrow().online {
            return Err(refused.into());
        }
        let (answered, unanswered) = self.forward_pickup(intent).await;
        self.take_pickup_answer(&answered);
        if unanswered {
            return Err(EngineError::Storage(StorageError(format!(
                "{refused}; central did not answer either: the hand-over may still go \
                 through (it is sent again while this page stays open)"
            ))));
        }
        self.heard_from_central();
        Ok(answered)
    }

    /// Forwards unanswered hand-overs and cancels in order; no answer stops
    /// the round (the rest would fail too) and they stay queued.
    pub(super) async fn flush_pickups(&self) -> Flushed {
        let mut flushed = Flushed::default();
        let mut tried = HashSet::new();
        loop {
            let next = {
                let state = self.state.borrow();
                state
                    .replica
                    .pickup_intents
                    .iter()
                    .find(|i| i.status.is_unanswered() && !tried.contains(&i.id))
                    .cloned()
            };
            let Some(intent) = next else {
                return flushed;
            };
            tried.insert(intent.id.clone());
            let (answered, unanswered) = self.forward_pickup(intent).await;
            match answered.status {
                IntentStatus::Applied { .. } => flushed.applied += 1,
                IntentStatus::Rejected { .. } => flushed.rejected += 1,
                IntentStatus::Pending | IntentStatus::Sent => {}
            }
            self.restore_lost().await;
            let ended = ended(&answered);
            let answers = [answered];
            let stored = self.storage.put_pickup_intents(&answers, &ended).await;
            let _ = self.stored(stored);
            let [answered] = answers;
            self.take_pickup_answer(&answered);
            if unanswered {
                flushed.pending = self.status().queued;
                return flushed;
            }
            self.heard_from_central();
        }
    }

    /// Sends one hand-over or cancel; returns it with its new status, and
    /// whether central left it unanswered.
    async fn forward_pickup(&self, mut intent: PickupIntent) -> (PickupIntent, bool) {
        intent.attempts += 1;
        match self.send_pickup(&intent).await {
            Ok(Ok(hold)) => {
                intent.status = IntentStatus::Applied { result: hold.state };
                intent.last_error = None;
                (intent, false)
            }
            Ok(Err(problem)) => {
                intent.last_error = problem.detail.clone();
                intent.status = IntentStatus::Rejected {
                    problem: Box::new(problem),
                };
                (intent, false)
            }
            Err(error) => {
                self.note_failure(&error);
                intent.status = IntentStatus::Sent;
                intent.last_error = Some(match &error {
                    TransportError::Network(reason) => reason.clone(),
                    TransportError::Problem(p) => format!("central answered {}", p.status),
                });
                (intent, true)
            }
        }
    }

    async fn send_pickup(
        &self,
        intent: &PickupIntent,
    ) -> Result<Result<Hold, Problem>, TransportError> {
        let hold_id = id(&intent.pickup.hold_id)?;
        let key = &intent.id;
        // The store's own lines, whole: central knows which they are.
        let whole = CommitHoldRequest { lines: None };
        let answer = match intent.action {
            PickupAction::HandOver => {
                self.authed(Call::<api::CommitHold>::with(&hold_id, &whole).keyed(key))
                    .await
            }
            PickupAction::Cancel => {
                self.authed(Call::<api::ReleaseHold>::to(&hold_id).keyed(key))
                    .await
            }
        };
        match answer {
            Ok(hold) => Ok(Ok(hold)),
            Err(TransportError::Problem(problem)) if is_refusal(&problem) => Ok(Err(*problem)),
            Err(error) => Err(error),
        }
    }

    /// Takes an answered (or re-sent) intent into memory; the pick-up it
    /// ended leaves the list.
    fn take_pickup_answer(&self, intent: &PickupIntent) {
        let mut state = self.state.borrow_mut();
        state.replica.take_pickup_intents([intent.clone()]);
        state.replica.take_pickups([], &ended(intent));
    }

    /// Takes a settled hand-over or cancel off the panel.
    pub async fn dismiss_pickup(&self, id: &str) -> Result<(), EngineError> {
        let settled = self
            .state
            .borrow()
            .replica
            .pickup_intents
            .iter()
            .any(|i| i.id == id && !i.status.is_unanswered());
        if !settled {
            return Err(EngineError::Invalid(
                "no answered hand-over with that id: one still on its way stays".into(),
            ));
        }
        self.stored(self.storage.delete_pickup_intents(&[id.to_owned()]).await)?;
        let mut state = self.state.borrow_mut();
        state.replica.pickup_intents.retain(|i| i.id != id);
        Ok(())
    }

    /// Forgets applied hand-overs beyond the newest few; refused ones stay
    /// until dismissed.
    pub(super) async fn prune_pickups(&self) {
        let doomed: Vec<String> = {
            let state = self.state.borrow();
            let applied: Vec<&PickupIntent> = state
                .replica
                .pickup_intents
                .iter()
                .filter(|i| matches!(i.status, IntentStatus::Applied { .. }))
                .collect();
            applied
                .iter()
                .rev()
                .skip(KEEP_ANSWERED)
                .map(|i| i.id.clone())
                .collect()
        };
        if doomed.is_empty() {
            return;
        }
        if self
            .stored(self.storage.delete_pickup_intents(&doomed).await)
            .is_ok()
        {
            let mut state = self.state.borrow_mut();
            state
                .replica
                .pickup_intents
                .retain(|i| !doomed.contains(&i.id));
        }
    }
}

/// The pick-up an answer ended, if it did.
fn ended(intent: &PickupIntent) -> Vec<String> {
    if intent.ends_pickup() {
        vec![intent.pickup.hold_id.clone()]
    } else {
        Vec::new()
    }
}
