//! Pick-ups: holds placed at the store appear on the till, and a hand-over
//! or cancel is queued, replayed with its key and applied exactly once.

use shared::{Change, ErrorCode, Hold, HoldLine, HoldState, ReleaseReason};

use super::*;

fn ts(ms: i64) -> shared::Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("a time")
}

impl Central {
    /// A channel holds `quantity` of `sku` at the store until `expires_ms`.
    fn place_hold(
        &mut self,
        hold_id: &str,
        reference: &str,
        sku: &str,
        quantity: i64,
        expires_ms: i64,
    ) {
        let level = self.move_held(sku, quantity, quantity);
        self.holds.insert(
            hold_id.into(),
            Hold {
                hold_id: hold_id.into(),
                channel: "web".into(),
                reference: reference.into(),
                state: HoldState::Active,
                created_at: ts(self.now_ms),
                expires_at: ts(expires_ms),
                lines: vec![HoldLine {
                    store_id: STORE.into(),
                    sku: sku.into(),
                    quantity,
                    committed: 0,
                    state: HoldState::Active,
                }],
            },
        );
        self.push(Change::HoldPlaced {
            hold_id: hold_id.into(),
            store_id: STORE.into(),
            channel: "web".into(),
            reference: reference.into(),
            expires_at: ts(expires_ms),
            lines: vec![level],
        });
    }

    /// Moves a level of the store: `to_available` units onto what may be
    /// sold's negative (a hold takes them), `to_held` onto held.
    fn move_held(&mut self, sku: &str, taken: i64, to_held: i64) -> shared::HeldLevel {
        let pair = (STORE.to_owned(), sku.to_owned());
        let level = self.levels.entry(pair.clone()).or_default();
        *level = (level.0 - taken, level.1 + 1);
        let (available, version) = *level;
        let held = self.held.entry(pair).or_default();
        *held += to_held;
        shared::HeldLevel {
            sku: sku.into(),
            quantity: to_held.abs(),
            released: 0,
            available,
            held: *held,
            version,
        }
    }

    /// Ends a hold's lines as `state` (committed, released, expired), as
    /// central does, and logs it.
    fn end_hold(&mut self, hold_id: &str, state: HoldState) -> Option<Hold> {
        let mut hold = self.holds.get(hold_id).cloned()?;
        let mut moved = Vec::new();
        for line in &mut hold.lines {
            let back = if state == HoldState::Committed {
                0
            } else {
                line.quantity
            };
            moved.push(self.move_held(&line.sku, -back, -line.quantity));
            if state == HoldState::Committed {
                line.committed = line.quantity;
            }
            line.state = state;
        }
        hold.state = state;
        self.holds.insert(hold_id.into(), hold.clone());
        let (hold_id, store_id) = (hold_id.to_owned(), STORE.to_owned());
        self.push(match state {
            HoldState::Committed => Change::HoldCommitted {
                hold_id,
                store_id,
                lines: moved,
            },
            HoldState::Expired => Change::HoldReleased {
                hold_id,
                store_id,
                reason: ReleaseReason::Expired,
                admin: None,
                lines: moved,
            },
            _ => Change::HoldReleased {
                hold_id,
                store_id,
                reason: ReleaseReason::Released,
                admin: None,
                lines: moved,
            },
        });
        Some(hold)
    }

    /// A store's hand-over (`Committed`) or cancel (`Released`) under `key`.
    pub(super) fn pickup(
        &mut self,
        key: &str,
        hold_id: &str,
        state: HoldState,
    ) -> Result<Hold, TransportError> {
        self.gate()?;
        let answer = match self.hold_answers.get(key) {
            Some(saved) => saved.clone(),
            None => {
                let answer = match self.holds.get(hold_id) {
                    None => Err(problem(404, ErrorCode::HoldNotFound)),
                    Some(h) if h.state != HoldState::Active => {
                        Err(problem(409, ErrorCode::HoldEnded))
                    }
                    Some(h) if super::super::unix_ms(h.expires_at) <= self.now_ms => {
                        Err(problem(409, ErrorCode::HoldExpired))
                    }
                    Some(_) => Ok(self.end_hold(hold_id, state).expect("the hold")),
                };
                self.hold_answers.insert(key.into(), answer.clone());
                answer
            }
        };
        if self.lose_answers {
            return Err(TransportError::Network("connection reset".into()));
        }
        answer.map_err(|p| TransportError::Problem(Box::new(p)))
    }

    fn commits(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e.change, Change::HoldCommitted { .. }))
            .count()
    }
}

/// A synced engine with one pick-up: order W-1 holds 2 of A, for a minute.
fn with_pickup() -> (Harness, TestEngine) {
    let h = Harness::new();
    let engine = h.synced_engine();
    let expires = h.clock.0.get() + 60_000;
    h.central().now_ms = h.clock.0.get();
    h.central().place_hold("h-1", "W-1", "A", 2, expires);
    catch_up(&engine);
    (h, engine)
}

#[test]
fn a_hold_placed_at_the_store_is_listed_with_its_lines_and_time_left() {
    let (h, engine) = with_pickup();
    let pickups = engine.pickups();
    assert_eq!(pickups.len(), 1);
    let p = &pickups[0];
    assert_eq!(
        (p.pickup.reference.as_str(), p.expires_in_ms, p.pending),
        ("W-1", 60_000, None)
    );
    assert_eq!(
        p.pickup.lines,
        vec![PickupLine {
            sku: "A".into(),
            quantity: 2
        }]
    );
    assert_eq!(engine.view("A").unwrap().held, 2);
    assert_eq!(
        h.storage.saved().pickups.len(),
        1,
        "stored for offline reads"
    );

    // A fresh till gets it from the snapshot.
    let fresh = Harness {
        central: h.central.clone(),
        storage: MemoryStorage::default(),
        clock: h.clock.clone(),
    };
    let fresh = fresh.synced_engine();
    assert_eq!(fresh.pickups()[0].pickup, p.pickup);
}

#[test]
fn a_hand_over_online_commits_the_hold_once_and_leaves_the_list() {
    let (h, engine) = with_pickup();
    let intent = block_on(engine.hand_over("h-1", "ho-1".into())).unwrap();
    assert_eq!(
        intent.status,
        IntentStatus::Pending,
        "stored before it is sent"
    );
    assert_eq!(engine.pickups()[0].pending, Some(PickupAction::HandOver));
    assert!(
        block_on(engine.hand_over("h-1", "ho-2".into())).is_err(),
        "one hand-over at a time"
    );
    block_on(engine.flush());
    assert!(engine.pickups().is_empty(), "handed over");
    assert!(matches!(
        engine.pickup_intents()[0].status,
        IntentStatus::Applied { .. }
    ));
    catch_up(&engine);
    let a = engine.view("A").unwrap();
    assert_eq!((a.shown, a.held), (8, 0), "the units left the shop");
    assert_eq!(h.central().commits(), 1);
    assert!(h.storage.saved().pickups.is_empty());
}

#[test]
fn a_hand_over_made_offline_is_replayed_with_its_key_and_applied_exactly_once() {
    let (h, engine) = with_pickup();
    h.central().offline = true;
    block_on(engine.hand_over("h-1", "ho-1".into())).unwrap();
    assert_eq!(block_on(engine.flush()).pending, 1, "kept while offline");

    // The till reloads (the tab closed): the hand-over is still queued.
    let reopened = h.engine();
    assert_eq!(reopened.pickups()[0].pending, Some(PickupAction::HandOver));

    // Back online, the answer is lost once: sent again with the same key.
    h.central().offline = false;
    h.central().lose_answers = true;
    block_on(reopened.flush());
    h.central().lose_answers = false;
    block_on(reopened.flush());
    assert!(matches!(
        reopened.pickup_intents()[0].status,
        IntentStatus::Applied { .. }
    ));
    assert_eq!(
        reopened.pickup_intents()[0].attempts,
        3,
        "offline, answer lost, answered"
    );
    assert_eq!(h.central().commits(), 1, "committed once");
    assert!(reopened.pickups().is_empty());
}

#[test]
fn a_hand_over_of_a_hold_that_expired_meanwhile_is_refused_plainly_and_the_order_leaves() {
    let (h, engine) = with_pickup();
    h.central().offline = true;
    block_on(engine.hand_over("h-1", "ho-1".into())).unwrap();
    block_on(engine.flush());
    // While the till was offline the hold ran out.
    h.clock.0.set(h.clock.0.get() + 61_000);
    h.central().now_ms = h.clock.0.get();
    h.central().offline = false;
    block_on(engine.flush());
    let IntentStatus::Rejected { problem } = &engine.pickup_intents()[0].status else {
        panic!("refused: {:?}", engine.pickup_intents());
    };
    assert_eq!(problem.code, ErrorCode::HoldExpired);
    assert!(
        engine.pickups().is_empty(),
        "the order is gone from the list"
    );
    assert_eq!(h.central().commits(), 0);
    block_on(engine.dismiss_pickup("ho-1")).unwrap();
    assert!(engine.pickup_intents().is_empty());
}

#[test]
fn a_cancel_gives_the_units_back_and_expiry_ends_a_pick_up_too() {
    let (h, engine) = with_pickup();
    block_on(engine.cancel_pickup("h-1", "c-1".into())).unwrap();
    block_on(engine.flush());
    catch_up(&engine);
    let a = engine.view("A").unwrap();
    assert_eq!((a.shown, a.held), (10, 0));
    assert!(engine.pickups().is_empty());

    let expires = h.clock.0.get() + 5_000;
    h.central().place_hold("h-2", "W-2", "B", 1, expires);
    catch_up(&engine);
    assert_eq!(engine.pickups().len(), 1);
    h.central().end_hold("h-2", HoldState::Expired);
    catch_up(&engine);
    assert!(engine.pickups().is_empty(), "expired at central");
    assert!(h.storage.saved().pickups.is_empty());
}

#[test]
fn a_stored_pick_up_and_hand_over_read_back_as_written() {
    let pickup = Pickup {
        hold_id: "h-1".into(),
        channel: "web".into(),
        reference: "W-1".into(),
        expires_at_ms: 1_764_590_460_000,
        lines: vec![PickupLine {
            sku: "A".into(),
            quantity: 2,
        }],
    };
    let intent = PickupIntent {
        id: "ho-1".into(),
        action: PickupAction::HandOver,
        pickup,
        created_at_ms: 1_764_590_400_000,
        attempts: 1,
        last_error: Some("offline".into()),
        status: IntentStatus::Sent,
    };
    let golden = r#"{"id":"ho-1","action":"hand_over","pickup":{"hold_id":"h-1","channel":"web","reference":"W-1","expires_at_ms":1764590460000,"lines":[{"sku":"A","quantity":2}]},"created_at_ms":1764590400000,"attempts":1,"last_error":"offline","status":"sent"}"#;
    assert_eq!(serde_json::to_string(&intent).unwrap(), golden);
    assert_eq!(
        serde_json::from_str::<PickupIntent>(golden).unwrap(),
        intent
    );
}
