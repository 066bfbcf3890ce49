//! Holds below HTTP, on both backends: what each transition does to the
//! levels, every refusal, allocation, expiry on a clock the test moves, and
//! the invariant that a level's `held` is the sum of its active hold lines
//! at every offset of the log.

use std::{collections::BTreeMap, time::Duration};

use ledger::{
    HoldTally, Keyed, Refusal,
    clock::Clock,
    cmd::{
        CommitHold, CreateChannel, ExpireHolds, ExtendHold, HoldActor, PlaceHold, ReleaseHold,
        SetStoreActive,
    },
    expiry::{self, ExpiryOptions},
};
use shared::{
    AdjustKind, AdjustRequest, Allocation, Change, ChannelLimits, CommitHoldRequest, CommitLine,
    Event, ExtendHoldRequest, Hold, HoldLineRequest, HoldState, NewChannel, PlaceHoldRequest,
    ReleaseReason, Shortfall,
};

use super::{Backend, Fixture, Writer};
use ledger::cmd::Adjust;

const MINUTE: i64 = 60_000;

fn line(sku: &str, quantity: i64, store: Option<&str>) -> HoldLineRequest {
    HoldLineRequest {
        sku: sku.into(),
        quantity,
        store_id: store.map(str::to_owned),
    }
}

fn request(lines: Vec<HoldLineRequest>, allocation: Allocation) -> PlaceHoldRequest {
    PlaceHoldRequest {
        reference: "order-1".into(),
        lines,
        ttl_seconds: None,
        allocation,
    }
}

fn web() -> HoldActor {
    HoldActor::Channel("web".into())
}

impl Fixture {
    /// A fixture on a clock the test moves, with stores s1..s3 and
    /// products A, B.
    async fn for_holds(backend: Backend) -> Fixture {
        let fx = Fixture::open_with(backend, Clock::manual(ledger::clock::now_ms())).await;
        fx.store("s2").await;
        fx.store("s3").await;
        fx.product("B").await;
        fx.channel("web", ChannelLimits::default()).await;
        fx
    }

    async fn channel(&self, channel_id: &str, limits: ChannelLimits) {
        let new = NewChannel {
            channel_id: channel_id.into(),
            name: channel_id.into(),
            channel_secret: None,
            limits: Some(limits),
        };
        let create = CreateChannel {
            new,
            secret_hash: "sha256:unused".into(),
        };
        self.ledger.run(create).await.unwrap().unwrap();
    }

    async fn place(&self, key: &str, req: PlaceHoldRequest) -> Keyed<Hold> {
        let hold_id = format!("hold-{key}");
        let place = PlaceHold::new("web".into(), key.into(), hold_id, req, 15 * MINUTE).unwrap();
        self.ledger.run(place).await.unwrap()
    }

    async fn placed(&self, key: &str, req: PlaceHoldRequest) -> Hold {
        self.place(key, req)
            .await
            .outcome
            .expect("the hold is placed")
    }

    async fn commit(
        &self,
        actor: HoldActor,
        key: &str,
        hold: &str,
        req: CommitHoldRequest,
    ) -> Keyed<Hold> {
        let commit = CommitHold::new(actor, key.into(), hold.into(), req).unwrap();
        self.ledger.run(commit).await.unwrap()
    }

    async fn release(&self, actor: HoldActor, key: &str, hold: &str) -> Keyed<Hold> {
        let release = ReleaseHold::new(actor, key.into(), hold.into()).unwrap();
        self.ledger.run(release).await.unwrap()
    }

    async fn extend(&self, key: &str, hold: &str) -> Keyed<Hold> {
        let req = ExtendHoldRequest::default();
        let extend = ExtendHold::new("web".into(), key.into(), hold.into(), &req, 15 * MINUTE);
        self.ledger.run(extend.unwrap()).await.unwrap()
    }

    /// (available, held, version) of a level.
    async fn figures(&self, store: &str, sku: &str) -> (i64, i64, u64) {
        let level = self.reader.level(store, sku).await.unwrap();
        (level.available, level.held, level.version)
    }

    async fn events(&self) -> Vec<Event> {
        let page = self.reader.changes(0, 10_000, None).await.unwrap();
        assert_eq!(page.next_offset, page.head, "one page holds the whole log");
        page.events
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
            .collect()
    }
}

fn lines_of(hold: &Hold) -> Vec<(&str, &str, i64)> {
    hold.lines
        .iter()
        .map(|l| (l.store_id.as_str(), l.sku.as_str(), l.quantity))
        .collect()
}

async fn a_hold_takes_available_units_that_stay_on_hand(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 5).await;
    let (_, _, before) = fx.figures("s1", "A").await;
    let req = request(vec![line("A", 2, Some("s1"))], Allocation::MostAvailable {});
    let hold = fx.placed("k1", req).await;
    assert_eq!(hold.state, HoldState::Active);
    assert_eq!(lines_of(&hold), [("s1", "A", 2)]);
    assert_eq!(
        hold.expires_at - hold.created_at,
        time::Duration::minutes(15)
    );
    assert_eq!(fx.figures("s1", "A").await, (3, 2, before + 1));
    let level = fx.reader.level("s1", "A").await.unwrap();
    assert_eq!(level.on_hand(), 5, "held units are still on the shelf");

    // A till may sell what is available, not what is held.
    let sale = |key: &str, delta| {
        let req = AdjustRequest {
            sku: "A".into(),
            delta,
            kind: AdjustKind::Guarded,
            expected_version: None,
            reason: None,
        };
        Adjust::new(Writer::store("s1"), key.into(), req).unwrap()
    };
    let refused = fx.ledger.run(sale("sell-4", -4)).await.unwrap().outcome;
    assert!(
        matches!(refused, Err(Refusal::InsufficientStock { .. })),
        "{refused:?}"
    );
    let sold = fx
        .ledger
        .run(sale("sell-3", -3))
        .await
        .unwrap()
        .outcome
        .unwrap();
    assert_eq!((sold.available, sold.held), (0, 2));

    let event = fx.events().await.into_iter().find_map(|e| match e.change {
        Change::HoldPlaced {
            hold_id,
            store_id,
            lines,
            reference,
            ..
        } => Some((hold_id, store_id, reference, lines)),
        _ => None,
    });
    let (hold_id, store_id, reference, lines) = event.expect("a hold_placed event");
    assert_eq!((hold_id.as_str(), store_id.as_str()), ("hold-k1", "s1"));
    assert_eq!(reference, "order-1");
    assert_eq!(
        (lines[0].quantity, lines[0].available, lines[0].held),
        (2, 3, 2)
    );
    fx.close().await;
}

async fn a_basket_whose_lines_fit_alone_but_not_together_holds_nothing(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 3).await;
    fx.set("B", 9).await;
    let before = (fx.figures("s1", "A").await, fx.figures("s1", "B").await);
    let head = fx.reader.positions().await.unwrap().head;
    let lines = vec![
        line("B", 1, Some("s1")),
        line("A", 2, Some("s1")),
        line("A", 2, Some("s1")),
    ];
    let refused = fx
        .place("k1", request(lines, Allocation::MostAvailable {}))
        .await;
    let Err(Refusal::HoldUnavailable { shortfalls }) = refused.outcome else {
        panic!("refused as unavailable: {:?}", refused.outcome);
    };
    assert_eq!(
        shortfalls,
        [Shortfall {
            sku: "A".into(),
            store_id: Some("s1".into()),
            requested: 4,
            available: 3,
            withheld: 0,
        }]
    );
    let after = (fx.figures("s1", "A").await, fx.figures("s1", "B").await);
    assert_eq!(after, before, "no line was held");
    assert_eq!(
        fx.reader.positions().await.unwrap().head,
        head,
        "nothing logged"
    );

    // The refusal is the key's answer: a retry gets it again.
    let again = fx.place(
        "k1",
        request(vec![line("A", 1, Some("s1"))], Allocation::MostAvailable {}),
    );
    let again = again.await;
    assert!(matches!(again.outcome, Err(Refusal::IdempotencyKeyReused)));
    fx.close().await;
}

async fn allocation_takes_the_most_available_first_or_follows_a_priority_list(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 2).await;
    fx.set_at("s2", "A", 5).await;
    fx.set_at("s3", "A", 1).await;

    let most = fx.placed(
        "k1",
        request(vec![line("A", 6, None)], Allocation::MostAvailable {}),
    );
    assert_eq!(lines_of(&most.await), [("s1", "A", 1), ("s2", "A", 5)]);

    // Left: s1 1, s2 0, s3 1. A priority list is followed in its order,
    // past stores that have none.
    let priority = Allocation::Priority {
        stores: vec!["s2".into(), "s3".into(), "s1".into()],
    };
    let listed = fx
        .placed("k2", request(vec![line("A", 2, None)], priority))
        .await;
    assert_eq!(lines_of(&listed), [("s1", "A", 1), ("s3", "A", 1)]);

    // Click and collect is taken from its store first, then the rest is
    // allocated from what is left. A count is what the shelf holds: s2's
    // five held units are part of it.
    fx.set_at("s2", "A", 16).await;
    assert_eq!(fx.figures("s2", "A").await.0, 11);
    let mixed = vec![line("A", 3, Some("s2")), line("A", 8, None)];
    let mixed = fx
        .placed("k3", request(mixed, Allocation::MostAvailable {}))
        .await;
    assert_eq!(lines_of(&mixed), [("s2", "A", 11)]);
    assert_eq!(fx.figures("s2", "A").await.0, 0);

    let short = fx.place(
        "k4",
        request(vec![line("A", 1, None)], Allocation::MostAvailable {}),
    );
    let Err(Refusal::HoldUnavailable { shortfalls }) = short.await.outcome else {
        panic!("nothing is left anywhere");
    };
    assert_eq!((shortfalls[0].requested, shortfalls[0].available), (1, 0));

    let unknown = Allocation::Priority {
        stores: vec!["nowhere".into()],
    };
    let refused = fx
        .place("k5", request(vec![line("A", 1, None)], unknown))
        .await;
    assert!(matches!(
        refused.outcome,
        Err(Refusal::StoreNotFound { .. })
    ));
    let refused = fx.place(
        "k6",
        request(vec![line("Z", 1, None)], Allocation::MostAvailable {}),
    );
    assert!(matches!(
        refused.await.outcome,
        Err(Refusal::ProductNotFound { .. })
    ));
    fx.close().await;
}

async fn a_deactivated_store_is_passed_over_and_refused_for_click_and_collect(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 2).await;
    fx.set_at("s3", "A", 9).await;
    let closed = SetStoreActive {
        store_id: "s3".into(),
        active: false,
    };
    fx.ledger.run(closed).await.unwrap().unwrap();

    let collect = fx.place(
        "k1",
        request(vec![line("A", 1, Some("s3"))], Allocation::default()),
    );
    let refused = collect.await.outcome;
    assert_eq!(
        refused,
        Err(Refusal::StoreInactive {
            store_id: "s3".into()
        })
    );
    let most = fx.placed(
        "k2",
        request(vec![line("A", 1, None)], Allocation::default()),
    );
    assert_eq!(
        lines_of(&most.await),
        [("s1", "A", 1)],
        "s3 has more, but is closed"
    );
    let priority = Allocation::Priority {
        stores: vec!["s3".into(), "s1".into()],
    };
    let listed = fx
        .placed("k3", request(vec![line("A", 1, None)], priority))
        .await;
    assert_eq!(lines_of(&listed), [("s1", "A", 1)]);
    assert_eq!(
        fx.figures("s3", "A").await.1,
        0,
        "nothing held at the closed store"
    );
    fx.close().await;
}

async fn a_commit_takes_what_left_and_gives_the_rest_back(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 5).await;
    fx.set("B", 5).await;
    let lines = vec![line("A", 3, Some("s1")), line("B", 1, Some("s1"))];
    let hold = fx
        .placed("k1", request(lines, Allocation::MostAvailable {}))
        .await;
    assert_eq!(fx.figures("s1", "A").await.0, 2);

    let partial = CommitHoldRequest {
        lines: Some(vec![CommitLine {
            store_id: "s1".into(),
            sku: "A".into(),
            quantity: 2,
        }]),
    };
    let committed = fx.commit(web(), "c1", &hold.hold_id, partial.clone()).await;
    let committed = committed.outcome.unwrap();
    assert_eq!(committed.state, HoldState::Committed);
    let a = &committed.lines[0];
    assert_eq!((a.state, a.committed), (HoldState::Committed, 2));
    // B was not named: released.
    assert_eq!(committed.lines[1].state, HoldState::Released);
    // A: on hand 5 - 2 = 3, nothing held; B: back to 5 available.
    let a = fx.reader.level("s1", "A").await.unwrap();
    assert_eq!((a.on_hand(), a.available, a.held), (3, 3, 0));
    assert_eq!(fx.figures("s1", "B").await, (5, 0, 3));

    let replayed = fx.commit(web(), "c1", &hold.hold_id, partial).await;
    assert!(replayed.replayed);
    assert_eq!(replayed.outcome.unwrap(), committed, "the same answer");
    assert_eq!(fx.figures("s1", "A").await.0, 3, "applied once");

    let twice = fx
        .commit(web(), "c2", &hold.hold_id, CommitHoldRequest::default())
        .await;
    assert_eq!(
        twice.outcome,
        Err(Refusal::HoldEnded {
            hold_id: hold.hold_id.clone(),
            state: HoldState::Committed
        })
    );
    let release = fx.release(web(), "r1", &hold.hold_id).await;
    assert!(
        matches!(release.outcome, Err(Refusal::HoldEnded { .. })),
        "release after commit"
    );
    fx.close().await;
}

async fn a_commit_of_more_than_held_or_of_no_such_line_changes_nothing(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 5).await;
    let hold = fx.placed(
        "k1",
        request(vec![line("A", 2, Some("s1"))], Allocation::MostAvailable {}),
    );
    let hold = hold.await;
    let before = fx.figures("s1", "A").await;
    let commit = |sku: &str, quantity| CommitHoldRequest {
        lines: Some(vec![CommitLine {
            store_id: "s1".into(),
            sku: sku.into(),
            quantity,
        }]),
    };
    let more = fx.commit(web(), "c1", &hold.hold_id, commit("A", 3)).await;
    assert_eq!(
        more.outcome,
        Err(Refusal::CommitExceedsHeld {
            store_id: "s1".into(),
            sku: "A".into(),
            held: 2,
            quantity: 3
        })
    );
    let other = fx.commit(web(), "c2", &hold.hold_id, commit("B", 1)).await;
    assert!(matches!(
        other.outcome,
        Err(Refusal::HoldLineNotFound { .. })
    ));
    let unknown = fx
        .commit(web(), "c3", "hold-nope", CommitHoldRequest::default())
        .await;
    assert!(matches!(unknown.outcome, Err(Refusal::HoldNotFound { .. })));
    assert_eq!(fx.figures("s1", "A").await, before);
    let still = fx.reader.hold(&hold.hold_id).await.unwrap();
    assert_eq!(still.state, HoldState::Active);
    fx.close().await;
}

async fn a_store_commits_and_releases_only_its_own_lines(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 1).await;
    fx.set_at("s2", "A", 4).await;
    let hold = fx.placed(
        "k1",
        request(vec![line("A", 3, None)], Allocation::MostAvailable {}),
    );
    let hold = hold.await;
    assert_eq!(lines_of(&hold), [("s2", "A", 3)]);
    let hold = fx
        .placed(
            "k2",
            request(
                vec![line("A", 1, Some("s1")), line("A", 1, Some("s2"))],
                Allocation::MostAvailable {},
            ),
        )
        .await;

    let stranger = fx.commit(
        HoldActor::Store("s3".into()),
        "x",
        &hold.hold_id,
        CommitHoldRequest::default(),
    );
    assert!(matches!(
        stranger.await.outcome,
        Err(Refusal::HoldNotFound { .. })
    ));
    let other_channel = HoldActor::Channel("marketplace".into());
    let other = fx.release(other_channel, "x", &hold.hold_id).await;
    assert!(matches!(other.outcome, Err(Refusal::HoldNotFound { .. })));

    let s1 = fx.commit(
        HoldActor::Store("s1".into()),
        "pickup",
        &hold.hold_id,
        CommitHoldRequest::default(),
    );
    let s1 = s1.await.outcome.unwrap();
    assert_eq!(s1.state, HoldState::Active, "s2's line is still held");
    assert_eq!(fx.figures("s1", "A").await.1, 0);
    assert_eq!(fx.figures("s2", "A").await.1, 4);
    let s2 = fx
        .release(HoldActor::Store("s2".into()), "cancel", &hold.hold_id)
        .await;
    let s2 = s2.outcome.unwrap();
    assert_eq!(s2.state, HoldState::Committed, "one line left the shop");
    let (available, held, _) = fx.figures("s2", "A").await;
    assert_eq!((available, held), (1, 3), "k1's three units stay held");
    let again = fx
        .release(HoldActor::Store("s2".into()), "cancel-2", &hold.hold_id)
        .await;
    assert!(matches!(
        again.outcome,
        Err(Refusal::HoldEnded {
            state: HoldState::Released,
            ..
        })
    ));
    fx.close().await;
}

async fn a_hold_past_its_time_cannot_be_extended_or_committed_and_expires_once(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 5).await;
    let hold = fx.placed(
        "k1",
        request(vec![line("A", 2, Some("s1"))], Allocation::MostAvailable {}),
    );
    let hold = hold.await;

    fx.clock.advance(Duration::from_secs(14 * 60));
    let extended = fx.extend("e1", &hold.hold_id).await.outcome.unwrap();
    assert_eq!(
        extended.expires_at - hold.expires_at,
        time::Duration::minutes(14)
    );
    let nothing = fx.ledger.run(ExpireHolds { limit: 10 }).await.unwrap();
    assert_eq!(nothing.holds, 0, "not due yet");

    fx.clock.advance(Duration::from_secs(15 * 60));
    // Its time is up, whether or not expiry has run yet.
    let late = fx.extend("e2", &hold.hold_id).await.outcome;
    let expired = Refusal::HoldEnded {
        hold_id: hold.hold_id.clone(),
        state: HoldState::Expired,
    };
    assert_eq!(late, Err(expired.clone()));
    let late = fx
        .commit(web(), "c1", &hold.hold_id, CommitHoldRequest::default())
        .await;
    assert_eq!(late.outcome, Err(expired.clone()));
    assert_eq!(
        fx.figures("s1", "A").await.1,
        2,
        "still held until expiry runs"
    );

    let first = fx.ledger.run(ExpireHolds { limit: 10 }).await.unwrap();
    let second = fx.ledger.run(ExpireHolds { limit: 10 }).await.unwrap();
    assert_eq!((first.holds, second.holds), (1, 0), "expired once");
    let (available, held, _) = fx.figures("s1", "A").await;
    assert_eq!((available, held), (5, 0));
    let ended = fx.reader.hold(&hold.hold_id).await.unwrap();
    assert_eq!(ended.state, HoldState::Expired);
    let released = fx.events().await.into_iter().filter(|e| {
        matches!(
            e.change,
            Change::HoldReleased {
                reason: ReleaseReason::Expired,
                ..
            }
        )
    });
    assert_eq!(released.count(), 1);
    assert_eq!(
        fx.release(web(), "r1", &hold.hold_id).await.outcome,
        Err(expired)
    );
    // What subscribers heard done: refusals count nothing.
    let tally = fx
        .heard
        .groups
        .lock()
        .unwrap()
        .iter()
        .fold(HoldTally::default(), |sum, group| HoldTally {
            placed: sum.placed + group.holds.placed,
            extended: sum.extended + group.holds.extended,
            committed: sum.committed + group.holds.committed,
            released: sum.released + group.holds.released,
            expired: sum.expired + group.holds.expired,
            expiry_lag_ms: sum.expiry_lag_ms.max(group.holds.expiry_lag_ms),
        });
    assert_eq!(
        tally,
        HoldTally {
            placed: 1,
            extended: 1,
            committed: 0,
            released: 0,
            expired: 1,
            // Due 29 min after placing; expired at 29 min: on time.
            expiry_lag_ms: Some(0),
        }
    );
    fx.close().await;
}

async fn the_expiry_releases_holds_at_their_time_without_being_asked(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 100).await;
    let options = ExpiryOptions {
        chunk: 7,
        chunk_time: Duration::from_millis(5),
        clock: fx.clock.clone(),
    };
    let task = tokio::spawn(expiry::run(
        fx.ledger.clone(),
        fx.reader.clone(),
        fx.expiry.clone(),
        options,
    ));
    // 30 holds: more than one chunk expires at the same moment.
    for i in 0..30 {
        fx.placed(
            &format!("k{i}"),
            request(vec![line("A", 2, Some("s1"))], Allocation::MostAvailable {}),
        )
        .await;
    }
    assert_eq!(fx.figures("s1", "A").await.1, 60);
    fx.clock.advance(Duration::from_secs(15 * 60));
    let released = async {
        while fx.figures("s1", "A").await.1 != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), released)
        .await
        .expect("every hold expired once its time came");
    assert_eq!(fx.figures("s1", "A").await.0, 100);
    task.abort();
    fx.close().await;
}

async fn a_recorded_sale_that_eats_into_held_units_names_the_holds_at_risk(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 2).await;
    let hold = fx.placed(
        "k1",
        request(vec![line("A", 2, Some("s1"))], Allocation::MostAvailable {}),
    );
    let hold = hold.await;
    let fact = AdjustRequest {
        sku: "A".into(),
        delta: -1,
        kind: AdjustKind::Recorded,
        expected_version: None,
        reason: Some("sold offline".into()),
    };
    let adjust = Adjust::new(Writer::store("s1"), "offline-1".into(), fact).unwrap();
    let applied = fx.ledger.run(adjust).await.unwrap().outcome.unwrap();
    assert_eq!((applied.available, applied.held), (-1, 2));
    assert!(applied.discrepancy_offset.is_some());
    let at_risk = fx.events().await.into_iter().find_map(|e| match e.change {
        Change::Discrepancy { holds_at_risk, .. } => Some(holds_at_risk),
        _ => None,
    });
    assert_eq!(at_risk, Some(vec![hold.hold_id.clone()]));
    fx.close().await;
}

/// Tills selling, shoppers holding, commits and expiry on one hot level at
/// once; then the log is replayed: at every offset the level's `held` is
/// the sum of its active hold lines, and guarded work never took
/// `available` below zero.
async fn held_is_the_sum_of_active_holds_at_every_offset_under_concurrent_work(backend: Backend) {
    let fx = std::sync::Arc::new(Fixture::for_holds(backend).await);
    fx.set("A", 60).await;
    let mut work = tokio::task::JoinSet::new();
    for client in 0..6 {
        let fx = fx.clone();
        work.spawn(async move {
            for round in 0..10 {
                let key = format!("{client}-{round}");
                match client % 3 {
                    0 => {
                        let req = AdjustRequest {
                            sku: "A".into(),
                            delta: -1,
                            kind: AdjustKind::Guarded,
                            expected_version: None,
                            reason: None,
                        };
                        let sale = Adjust::new(Writer::store("s1"), key, req).unwrap();
                        fx.ledger.run(sale).await.unwrap();
                    }
                    _ => {
                        let req = request(vec![line("A", 2, None)], Allocation::MostAvailable {});
                        let Ok(hold) = fx.place(&key, req).await.outcome else {
                            continue;
                        };
                        match round % 3 {
                            0 => drop(
                                fx.commit(
                                    web(),
                                    &format!("c{key}"),
                                    &hold.hold_id,
                                    CommitHoldRequest::default(),
                                )
                                .await,
                            ),
                            1 => drop(fx.release(web(), &format!("r{key}"), &hold.hold_id).await),
                            _ => {} // left to expire
                        }
                    }
                }
            }
        });
    }
    let expirer = {
        let fx = fx.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                fx.clock.advance(Duration::from_secs(60));
                fx.ledger.run(ExpireHolds { limit: 3 }).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    while let Some(done) = work.join_next().await {
        done.unwrap();
    }
    expirer.await.unwrap();

    let mut active: BTreeMap<String, i64> = BTreeMap::new();
    let mut held_seen = 0;
    for event in fx.events().await {
        let change = event.change;
        match &change {
            Change::HoldPlaced { hold_id, lines, .. } => {
                active.insert(hold_id.clone(), lines.iter().map(|l| l.quantity).sum());
            }
            Change::HoldCommitted { hold_id, .. } | Change::HoldReleased { hold_id, .. } => {
                active.remove(hold_id);
            }
            Change::StockAdjusted {
                adjust_kind: AdjustKind::Guarded,
                available,
                ..
            } => {
                assert!(*available >= 0, "a guarded sale never oversells");
            }
            _ => {}
        }
        for figures in change.levels() {
            let sum: i64 = active.values().sum();
            assert_eq!(figures.held, sum, "held at offset {}", event.offset);
            assert!(
                figures.available >= 0,
                "available at offset {}",
                event.offset
            );
            held_seen = held_seen.max(figures.held);
        }
    }
    assert!(held_seen > 0, "some units were held at once");
    let fx = std::sync::Arc::into_inner(fx).expect("the only handle");
    fx.close().await;
}

/// One group: a hold placed, then committed and extended by later commands
/// of the same group (which read it as the group left it), with a command
/// that fails in the middle, so the group is applied again with a
/// savepoint per command and the failing one alone is refused.
async fn later_hold_commands_in_a_group_read_what_earlier_ones_wrote(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set("A", 10).await;
    let enrol = super::enrol_device;
    fx.ledger.run(enrol("first")).await.unwrap().unwrap();
    let place = |key: &str, quantity: i64| {
        let req = request(
            vec![line("A", quantity, Some("s1"))],
            Allocation::MostAvailable {},
        );
        PlaceHold::new(
            "web".into(),
            key.into(),
            format!("hold-{key}"),
            req,
            15 * MINUTE,
        )
        .unwrap()
    };

    let go_on = fx.hold_next_commit();
    let holder = fx.queue(place("h0", 1), 0).await;
    while fx.heard.hold.lock().unwrap().is_some() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let placed = fx.queue(place("h1", 2), 1).await;
    let commit = CommitHold::new(
        web(),
        "c1".into(),
        "hold-h1".into(),
        CommitHoldRequest::default(),
    );
    let committed = fx.queue(commit.unwrap(), 2).await;
    let failing = fx.queue(enrol("second"), 3).await;
    let req = ExtendHoldRequest::default();
    let extend = ExtendHold::new("web".into(), "e1".into(), "hold-h1".into(), &req, MINUTE);
    let extended = fx.queue(extend.unwrap(), 4).await;
    let again = fx.queue(place("h2", 1), 5).await;
    go_on.send(()).unwrap();

    assert!(holder.await.unwrap().unwrap().outcome.is_ok());
    assert!(placed.await.unwrap().unwrap().outcome.is_ok());
    let committed = committed.await.unwrap().unwrap().outcome.unwrap();
    assert_eq!(
        committed.state,
        HoldState::Committed,
        "read as the group left it"
    );
    assert!(failing.await.unwrap().is_err(), "the failing command alone");
    assert_eq!(
        extended.await.unwrap().unwrap().outcome,
        Err(Refusal::HoldEnded {
            hold_id: "hold-h1".into(),
            state: HoldState::Committed
        }),
        "committed earlier in the group"
    );
    assert!(again.await.unwrap().unwrap().outcome.is_ok());
    let groups = fx.heard.groups.lock().unwrap().clone();
    assert_eq!(
        groups.last().unwrap().stats.commands,
        5,
        "one group of five"
    );
    assert_eq!(groups.last().unwrap().holds.placed, 2);

    // What was committed is what the database holds.
    let (available, held, _) = fx.figures("s1", "A").await;
    assert_eq!(
        (available, held),
        (6, 2),
        "on hand 8: 2 handed over, 2 held"
    );
    let stored = fx.reader.hold("hold-h1").await.unwrap();
    assert_eq!(stored, committed);
    assert_eq!(
        fx.reader.hold("hold-h2").await.unwrap().state,
        HoldState::Active
    );
    fx.close().await;
}

on_both_backends!(
    a_stores_snapshot_carries_at_most_its_bound_of_holds,
    later_hold_commands_in_a_group_read_what_earlier_ones_wrote,
    a_hold_takes_available_units_that_stay_on_hand,
    a_basket_whose_lines_fit_alone_but_not_together_holds_nothing,
    allocation_takes_the_most_available_first_or_follows_a_priority_list,
    a_deactivated_store_is_passed_over_and_refused_for_click_and_collect,
    a_commit_takes_what_left_and_gives_the_rest_back,
    a_commit_of_more_than_held_or_of_no_such_line_changes_nothing,
    a_store_commits_and_releases_only_its_own_lines,
    a_hold_past_its_time_cannot_be_extended_or_committed_and_expires_once,
    the_expiry_releases_holds_at_their_time_without_being_asked,
    a_recorded_sale_that_eats_into_held_units_names_the_holds_at_risk,
    held_is_the_sum_of_active_holds_at_every_offset_under_concurrent_work,
);

/// The holds of a store's snapshot, as a sink hears them.
#[derive(Default)]
struct SnapshotHolds(std::sync::Arc<std::sync::Mutex<Vec<Hold>>>);

impl ledger::SnapshotSink for SnapshotHolds {
    fn start(&mut self, _: u64, _: &[shared::Store]) -> std::io::Result<()> {
        Ok(())
    }
    fn product(&mut self, _: &shared::Product) -> std::io::Result<()> {
        Ok(())
    }
    fn levels(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn level(&mut self, _: &shared::StockLevel) -> std::io::Result<()> {
        Ok(())
    }
    fn holds(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn hold(&mut self, hold: &Hold) -> std::io::Result<()> {
        self.0.lock().unwrap().push(hold.clone());
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A store's snapshot carries at most `SNAPSHOT_HOLDS` holds, the soonest
/// to expire first, however many a channel placed there.
async fn a_stores_snapshot_carries_at_most_its_bound_of_holds(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    let count = ledger::SNAPSHOT_HOLDS as usize + 1;
    fx.set("A", count as i64).await;
    let limits = ChannelLimits {
        max_held_units: count as i64,
        ..ChannelLimits::default()
    };
    let set = ledger::cmd::SetChannelLimits {
        channel_id: "web".into(),
        limits,
    };
    fx.ledger.run(set).await.unwrap().unwrap();
    // In waves of the writer's queue (64): all 10,001 at once, the last
    // ones waited past the queue's 5 s for room on a loaded machine and
    // were refused as Overloaded, which is not what this test is about.
    let all: Vec<usize> = (0..count).collect();
    for wave in all.chunks(64) {
        let placing: Vec<_> = wave
            .iter()
            .map(|&i| {
                let ledger = fx.ledger.clone();
                let req = request(vec![line("A", 1, Some("s1"))], Allocation::MostAvailable {});
                // The first placed expires last: the bound must keep the soonest.
                let ttl = (count - i) as i64 * 1000;
                let place = PlaceHold::new(
                    "web".into(),
                    format!("k{i}"),
                    format!("hold-{i:05}"),
                    req,
                    ttl,
                );
                tokio::spawn(async move { ledger.run(place.unwrap()).await })
            })
            .collect();
        for placed in placing {
            assert!(placed.await.unwrap().unwrap().outcome.is_ok());
        }
    }
    let sink = SnapshotHolds::default();
    let heard = sink.0.clone();
    fx.reader.snapshot(Some("s1".into()), sink).await.unwrap();
    let holds = heard.lock().unwrap().clone();
    assert_eq!(holds.len(), ledger::SNAPSHOT_HOLDS as usize, "bounded");
    assert!(
        holds.windows(2).all(|w| w[0].expires_at <= w[1].expires_at),
        "soonest to expire first"
    );
    assert!(
        holds.iter().all(|h| h.hold_id != "hold-00000"),
        "the one that expires last is left out"
    );
    fx.close().await;
}

mod bounds;
