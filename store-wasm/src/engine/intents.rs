//! Write intents: a sale, restock or basket is stored first (that is when
//! the till may say "done"), then forwarded with each intent's id as its
//! idempotency key, and sent again with the same key until central answers.
//! A refusal is final for its intent and never blocks the ones behind it.

use std::collections::{BTreeMap, HashSet};

use shared::{
    AdjustKind, AdjustRequest, AdjustResult, BatchAdjustRequest, BatchItem, ErrorCode, Problem,
    api::{self, Call},
    limits::MAX_QUANTITY,
};

use super::{
    Clock, Engine, EngineError, Intent, IntentStatus, Level, Purpose, Storage, StorageError,
    Transport, TransportError, session::id,
};

/// Most lines in one basket (central takes up to 500 per batch).
pub const MAX_BASKET_LINES: usize = 100;
/// Applied intents the replica already includes, kept for the cashier's
/// panel; older ones are forgotten so the queue never grows without end.
const KEEP_APPLIED: usize = 50;

/// One line of a basket: `quantity` items of `sku` sold, under key `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketLine {
    pub sku: String,
    pub quantity: i64,
    pub id: String,
}

/// What forwarding the queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    pub applied: usize,
    pub rejected: usize,
    /// Still unanswered: central could not be reached (the round stopped).
    pub pending: usize,
}

/// A reason within what central takes (`MAX_REASON_LEN` characters, no
/// control characters): a cashier's words are cut, never refused.
fn bounded(reason: String) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(shared::limits::MAX_REASON_LEN)
        .collect()
}

/// Central's answer for one intent: applied, or refused for good.
type Answer = Result<AdjustResult, Problem>;

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    /// A sale. Offline it is a recorded fact (the goods left the shop);
    /// online it is guarded, so central can refuse what the shelf lacks.
    pub async fn sell(&self, sku: &str, quantity: i64, id: String) -> Result<Intent, EngineError> {
        let intent = self.intent(sku, -checked(quantity)?, self.sale_kind(), id, None)?;
        let [intent] = self.queue([intent]).await?;
        Ok(intent)
    }

    /// Goods a customer brought back, onto the shelf again: a restock with
    /// its reason ("return: damaged").
    pub async fn return_item(
        &self,
        sku: &str,
        quantity: i64,
        reason: &str,
        id: String,
    ) -> Result<Intent, EngineError> {
        let mut intent = self.intent(sku, checked(quantity)?, AdjustKind::Guarded, id, None)?;
        intent.reason = Some(bounded(format!("{}{reason}", Purpose::Return.prefix())));
        let [intent] = self.queue([intent]).await?;
        Ok(intent)
    }

    /// Voids a sale this till made (one intent, or a basket's lines): each
    /// line is put back by a correcting adjustment naming the sale, sent as
    /// one atomic batch. The sale itself stays in the log as it happened;
    /// a sale central refused has nothing to void.
    pub async fn void(&self, sale: &[String], id: String) -> Result<Vec<Intent>, EngineError> {
        let lines: Vec<Intent> = {
            let state = self.state.borrow();
            sale.iter()
                .filter_map(|line| state.replica.intents.iter().find(|i| i.id == *line))
                .cloned()
                .collect()
        };
        if lines.is_empty() || lines.len() != sale.len() {
            return Err(EngineError::Invalid("no such sale on this till".into()));
        }
        if lines.iter().any(|l| l.purpose() != Purpose::Sale) {
            return Err(EngineError::Invalid("only a sale can be voided".into()));
        }
        let voided = |line: &String| format!("{}{line}", Purpose::Void.prefix());
        let already = self.state.borrow().replica.intents.iter().any(|i| {
            i.reason
                .as_ref()
                .is_some_and(|r| sale.iter().any(|line| *r == voided(line)))
        });
        if already {
            return Err(EngineError::Invalid("that sale is voided already".into()));
        }
        if lines
            .iter()
            .any(|l| matches!(l.status, IntentStatus::Rejected { .. }))
        {
            return Err(EngineError::Invalid(
                "head office refused that sale: there is nothing to void".into(),
            ));
        }
        let corrections = lines
            .iter()
            .enumerate()
            .map(|(n, line)| {
                // Recorded: putting goods back must never be refused.
                let mut c = self.intent(
                    &line.sku,
                    -line.delta,
                    AdjustKind::Recorded,
                    format!("{id}.{n:03}"),
                    Some(id.clone()),
                )?;
                c.reason = Some(bounded(voided(&line.id)));
                Ok(c)
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        self.queue(corrections).await
    }

    /// A count of the shelf: the difference from what the till shows is
    /// recorded as a fact ("count: 7 counted, 9 shown"), so the figure is
    /// the count once head office has it with this till's pending sales.
    pub async fn count(&self, sku: &str, counted: i64, id: String) -> Result<Intent, EngineError> {
        if !(0..=shared::limits::MAX_QUANTITY).contains(&counted) {
            return Err(EngineError::Invalid(format!(
                "a count is 0 to {}",
                shared::limits::MAX_QUANTITY
            )));
        }
        let shown = self
            .view(sku)
            .map(|v| v.shown)
            .ok_or_else(|| EngineError::Invalid(format!("unknown sku {sku}")))?;
        let delta = counted - shown;
        if delta == 0 {
            return Err(EngineError::Invalid(
                "the count matches what the till shows: nothing to correct".into(),
            ));
        }
        let mut intent = self.intent(sku, delta, AdjustKind::Recorded, id, None)?;
        intent.reason = Some(bounded(format!(
            "{}{counted} counted, {shown} shown",
            Purpose::Count.prefix()
        )));
        let [intent] = self.queue([intent]).await?;
        Ok(intent)
    }

    /// A restock: always guarded (it cannot go below zero anyway).
    pub async fn restock(
        &self,
        sku: &str,
        quantity: i64,
        id: String,
    ) -> Result<Intent, EngineError> {
        let intent = self.intent(sku, checked(quantity)?, AdjustKind::Guarded, id, None)?;
        let [intent] = self.queue([intent]).await?;
        Ok(intent)
    }

    /// A basket sold as one: its lines go to central as one atomic batch,
    /// so all of them apply or none does.
    pub async fn sell_basket(
        &self,
        basket: String,
        lines: Vec<BasketLine>,
    ) -> Result<Vec<Intent>, EngineError> {
        if lines.is_empty() || lines.len() > MAX_BASKET_LINES {
            return Err(EngineError::Invalid(format!(
                "a basket holds 1 to {MAX_BASKET_LINES} lines"
            )));
        }
        let kind = self.sale_kind();
        let intents = lines
            .into_iter()
            .map(|line| {
                let delta = -checked(line.quantity)?;
                self.intent(&line.sku, delta, kind, line.id, Some(basket.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.queue(intents).await
    }

    fn sale_kind(&self) -> AdjustKind {
        if self.state.borrow().online {
            AdjustKind::Guarded
        } else {
            AdjustKind::Recorded
        }
    }

    /// A new intent, checked here so the queue never holds one central
    /// could only refuse for its shape.
    fn intent(
        &self,
        sku: &str,
        delta: i64,
        kind: AdjustKind,
        id: String,
        basket: Option<String>,
    ) -> Result<Intent, EngineError> {
        if !self.state.borrow().replica.products.contains_key(sku) {
            return Err(EngineError::Invalid(format!("unknown sku {sku}")));
        }
        Ok(Intent {
            id,
            sku: sku.to_owned(),
            delta,
            kind,
            basket,
            reason: None,
            created_at_ms: self.clock.now_ms(),
            attempts: 0,
            last_error: None,
            status: IntentStatus::Pending,
        })
    }

    /// Stores new intents before anything else: an acknowledged intent is
    /// never lost. If the device refuses to store them, they go straight to
    /// central while it is reachable, acknowledged only once it answered.
    async fn queue<I>(&self, intents: I) -> Result<I, EngineError>
    where
        I: AsRef<[Intent]> + AsMut<[Intent]>,
    {
        let mut intents = intents;
        self.restore_lost().await;
        let refused = match self.stored(self.storage.put_intents(intents.as_ref(), &[], None).await)
        {
            Ok(()) => {
                let mut state = self.state.borrow_mut();
                state
                    .replica
                    .intents
                    .extend(intents.as_ref().iter().cloned());
                return Ok(intents);
            }
            Err(refused) => refused,
        };
        if !self.state.borrow().online {
            return Err(refused.into());
        }
        let (answered, unanswered) = self.forward(intents.as_ref().to_vec()).await;
        // Kept in memory only; unanswered ones are sent again with their
        // keys for as long as this page stays open.
        self.take_in(&answered, &self.newer_levels(&answered));
        if unanswered {
            return Err(EngineError::Storage(StorageError(format!(
                "{refused}; central did not answer either: the sale may still go through, \
                 so do not ring it up again (it is sent again while this page stays open)"
            ))));
        }
        self.heard_from_central();
        intents.as_mut().clone_from_slice(&answered);
        Ok(intents)
    }

    /// Forwards unanswered intents in order, a basket's lines together. A
    /// refusal is final for its intent and the round goes on; no answer
    /// stops the round (the rest would fail too) and everything stays
    /// queued, to be sent again with its key.
    pub async fn flush(&self) -> Flushed {
        if self.flushing.replace(true) {
            return Flushed::default();
        }
        let mut flushed = self.flush_round().await;
        if flushed.pending == 0 {
            let pickups = self.flush_pickups().await;
            flushed.applied += pickups.applied;
            flushed.rejected += pickups.rejected;
            flushed.pending = pickups.pending;
        }
        self.flushing.set(false);
        self.prune().await;
        self.prune_pickups().await;
        flushed
    }

    async fn flush_round(&self) -> Flushed {
        let mut flushed = Flushed::default();
        let mut tried = HashSet::new();
        loop {
            let group = self.next_group(&tried);
            if group.is_empty() {
                return flushed;
            }
            tried.extend(group.iter().map(|i| i.id.clone()));
            let (answered, unanswered) = self.forward(group).await;
            for intent in &answered {
                match intent.status {
                    IntentStatus::Applied { .. } => flushed.applied += 1,
                    IntentStatus::Rejected { .. } => flushed.rejected += 1,
                    IntentStatus::Pending | IntentStatus::Sent => {}
                }
            }
            self.restore_lost().await;
            // Central's answers are its truth: taken into memory even if the
            // device refuses to store them (the stored copies are then sent
            // again later and answered the same).
            let levels = self.newer_levels(&answered);
            let contact = (!unanswered).then(|| self.clock.now_ms());
            let _ = self.stored(self.storage.put_intents(&answered, &levels, contact).await);
            self.take_in(&answered, &levels);
            if unanswered {
                flushed.pending = self.status().queued;
                return flushed;
            }
            self.heard_from_central();
        }
    }

    /// The first unanswered intent not tried in this round, with the other
    /// unanswered lines of its basket.
    fn next_group(&self, tried: &HashSet<String>) -> Vec<Intent> {
        let state = self.state.borrow();
        let intents = &state.replica.intents;
        let Some(first) = intents
            .iter()
            .find(|i| i.is_unanswered() && !tried.contains(&i.id))
        else {
            return Vec::new();
        };
        match &first.basket {
            None => vec![first.clone()],
            Some(basket) => intents
                .iter()
                .filter(|i| i.is_unanswered() && i.basket.as_ref() == Some(basket))
                .cloned()
                .collect(),
        }
    }

    /// Sends one intent, or one basket as an atomic batch, and returns the
    /// intents with their new status, and whether central left them
    /// unanswered (unreachable, a 5xx, or the till's credentials refused).
    async fn forward(&self, mut group: Vec<Intent>) -> (Vec<Intent>, bool) {
        let answers = if group.len() == 1 && group[0].basket.is_none() {
            self.send_one(&group[0]).await.map(|a| vec![Some(a)])
        } else {
            self.send_basket(&group).await
        };
        let mut unanswered = false;
        match answers {
            Ok(answers) => {
                for (intent, answer) in group.iter_mut().zip(answers) {
                    intent.attempts += 1;
                    match answer {
                        Some(Ok(result)) => {
                            intent.status = IntentStatus::Applied { result };
                            intent.last_error = None;
                        }
                        Some(Err(problem)) => {
                            intent.last_error = problem.detail.clone();
                            intent.status = IntentStatus::Rejected {
                                problem: Box::new(problem),
                            };
                        }
                        None => {
                            intent.status = IntentStatus::Sent;
                            unanswered = true;
                        }
                    }
                }
            }
            Err(error) => {
                self.note_failure(&error);
                let reason = match &error {
                    TransportError::Network(reason) => reason.clone(),
                    TransportError::Problem(p) => format!("central answered {}", p.status),
                };
                for intent in &mut group {
                    intent.attempts += 1;
                    intent.status = IntentStatus::Sent;
                    intent.last_error = Some(reason.clone());
                }
                unanswered = true;
            }
        }
        (group, unanswered)
    }

    async fn send_one(&self, intent: &Intent) -> Result<Answer, TransportError> {
        let request = AdjustRequest {
            sku: intent.sku.clone(),
            delta: intent.delta,
            kind: intent.kind,
            expected_version: None,
            reason: intent.reason.clone(),
        };
        let store = id(&self.config.store_id)?;
        let answer = self
            .authed(Call::<api::AdjustStock>::with(&store, &request).keyed(&intent.id))
            .await;
        match answer {
            Ok(result) => Ok(Ok(result)),
            Err(TransportError::Problem(problem)) if is_refusal(&problem) => Ok(Err(*problem)),
            Err(error) => Err(error),
        }
    }

    /// A basket's answers, line by line (`None`: central's answer lacked
    /// the line, so it is sent again).
    async fn send_basket(&self, lines: &[Intent]) -> Result<Vec<Option<Answer>>, TransportError> {
        let request = BatchAdjustRequest {
            atomic: true,
            items: lines
                .iter()
                .map(|i| BatchItem {
                    idempotency_key: i.id.clone(),
                    sku: i.sku.clone(),
                    delta: i.delta,
                    kind: i.kind,
                    expected_version: None,
                    reason: i.reason.clone(),
                })
                .collect(),
        };
        let store = id(&self.config.store_id)?;
        let answer = self
            .authed(Call::<api::AdjustStockBatch>::with(&store, &request))
            .await;
        let mut response = match answer {
            Ok(response) => response,
            // The whole request refused (e.g. a line central finds invalid).
            Err(TransportError::Problem(problem)) if is_refusal(&problem) => {
                return Ok(vec![Some(Err(*problem)); lines.len()]);
            }
            Err(error) => return Err(error),
        };
        Ok(lines
            .iter()
            .map(|line| {
                let at = response
                    .results
                    .iter()
                    .position(|r| r.idempotency_key == line.id)?;
                let item = response.results.swap_remove(at);
                Some(match (item.result, item.problem) {
                    (Some(result), _) if item.status == 200 => Ok(result),
                    (_, Some(problem)) => Err(problem),
                    _ => Err(Problem::new(item.status, ErrorCode::Unknown, None)),
                })
            })
            .collect())
    }

    /// The levels applied answers bring that are newer than the replica's.
    fn newer_levels(&self, intents: &[Intent]) -> Vec<(String, Level)> {
        let state = self.state.borrow();
        let mut latest: BTreeMap<String, Level> = BTreeMap::new();
        for intent in intents {
            let IntentStatus::Applied { result } = &intent.status else {
                continue;
            };
            let known = latest
                .get(&intent.sku)
                .map(|l| l.version)
                .or_else(|| state.replica.version(&intent.sku));
            if known.is_none_or(|v| result.version > v) {
                let level = Level {
                    available: result.available,
                    held: result.held,
                    version: result.version,
                };
                latest.insert(intent.sku.clone(), level);
            }
        }
        latest.into_iter().collect()
    }

    /// Takes answered intents and the levels they brought into memory.
    fn take_in(&self, intents: &[Intent], levels: &[(String, Level)]) {
        let mut state = self.state.borrow_mut();
        for (sku, level) in levels {
            state.replica.take_level(sku, *level);
        }
        state.replica.take_intents(intents.iter().cloned());
    }

    /// Whether the cashier may take an intent off the panel: once it no
    /// longer counts in what the till shows (refused, or applied and in the
    /// replica), so dismissing it never moves a figure.
    pub fn may_dismiss(&self, intent: &Intent) -> bool {
        let state = self.state.borrow();
        !intent.is_unanswered() && !intent.counts_above(state.replica.levels.get(&intent.sku))
    }

    /// Takes a settled intent off the cashier's panel.
    pub async fn dismiss(&self, id: &str) -> Result<(), EngineError> {
        let intent = {
            let state = self.state.borrow();
            state.replica.intents.iter().find(|i| i.id == id).cloned()
        };
        let Some(intent) = intent else {
            return Err(EngineError::Invalid(format!("no intent {id}")));
        };
        if !self.may_dismiss(&intent) {
            return Err(EngineError::Invalid(
                "it still counts in the stock shown: it can go once central's figure has it".into(),
            ));
        }
        self.stored(self.storage.delete_intents(&[id.to_owned()]).await)?;
        self.state
            .borrow_mut()
            .replica
            .intents
            .retain(|i| i.id != id);
        Ok(())
    }

    /// Forgets applied intents the replica already includes, beyond the
    /// newest few kept for the panel. Refused ones stay until dismissed.
    pub(super) async fn prune(&self) {
        let doomed: HashSet<String> = {
            let state = self.state.borrow();
            let settled: Vec<_> = state
                .replica
                .intents
                .iter()
                .filter(|i| {
                    matches!(i.status, IntentStatus::Applied { .. })
                        && !i.counts_above(state.replica.levels.get(&i.sku))
                })
                .collect();
            settled
                .iter()
                .rev()
                .skip(KEEP_APPLIED)
                .map(|i| i.id.clone())
                .collect()
        };
        if doomed.is_empty() {
            return;
        }
        let ids: Vec<String> = doomed.iter().cloned().collect();
        if self.stored(self.storage.delete_intents(&ids).await).is_ok() {
            let mut state = self.state.borrow_mut();
            state.replica.intents.retain(|i| !doomed.contains(&i.id));
        }
    }
}

/// A sale or restock counts a positive number of items, within central's
/// bound.
fn checked(quantity: i64) -> Result<i64, EngineError> {
    if quantity > 0 && quantity <= MAX_QUANTITY {
        Ok(quantity)
    } else {
        Err(EngineError::Invalid(format!(
            "the quantity must be a whole number from 1 to {MAX_QUANTITY}"
        )))
    }
}

/// A final answer about the intent itself: central's 4xx, but 401 (the
/// till's credentials, not the sale), 408 and 429 (come back later).
pub(super) fn is_refusal(problem: &Problem) -> bool {
    (400..500).contains(&problem.status) && !matches!(problem.status, 401 | 408 | 429)
}
