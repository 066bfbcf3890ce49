//! What a sales channel cannot do, leaked or buggy, on both backends: hold
//! a store's safety stock, more than its share of a level, more units than
//! its limit, or for longer than its holds' life; and what an operator can
//! undo: release any hold as an admin, deactivate the channel and have
//! everything it holds given back. Also: expiry chunks are sized by the
//! lines they write, and a hold's key keeps its id and state, not its
//! lines.

use std::time::Duration;

use ledger::{
    Refusal,
    cmd::{
        ExpireHolds, ExtendHold, HoldActor, PlaceHold, SetChannelActive, SetChannelLimits,
        SetSafetyStock,
    },
};
use shared::{
    Allocation, Change, ChannelLimits, CommitHoldRequest, ExtendHoldRequest, HoldState,
    PlaceHoldRequest, ReleaseReason,
};

use super::{Backend, Fixture, MINUTE, line, lines_of, request, web};

impl Fixture {
    async fn limit(&self, limits: ChannelLimits) {
        let set = SetChannelLimits {
            channel_id: "web".into(),
            limits,
        };
        self.ledger.run(set).await.unwrap().unwrap();
    }

    async fn safety(&self, store_id: &str, units: i64) {
        let set = SetSafetyStock {
            store_id: store_id.into(),
            units,
        };
        let store = self.ledger.run(set).await.unwrap().unwrap();
        assert_eq!(store.safety_stock, units);
    }

    /// The channel's held units as central keeps them, checked against
    /// the sum of its active holds' lines.
    async fn channel_held(&self) -> i64 {
        let holds = self.reader.channel_holds("web", 1_000).await.unwrap();
        let summed: i64 = holds.stores.iter().map(|s| s.held_units).sum();
        assert_eq!(holds.channel.held_units, summed, "kept = summed");
        summed
    }
}

fn one(sku: &str, quantity: i64, store: Option<&str>) -> PlaceHoldRequest {
    request(
        vec![line(sku, quantity, store)],
        Allocation::MostAvailable {},
    )
}

async fn a_channel_never_holds_a_stores_safety_stock(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 5).await;
    fx.set_at("s2", "A", 3).await;
    fx.safety("s1", 2).await;
    fx.safety("s2", 3).await;

    let Err(Refusal::HoldUnavailable { shortfalls }) =
        fx.place("k1", one("A", 4, Some("s1"))).await.outcome
    else {
        panic!("s1 keeps 2 of its 5 for the tills");
    };
    assert_eq!(
        (shortfalls[0].available, shortfalls[0].withheld),
        (3, 2),
        "what the channel could have, and what was kept from it"
    );
    let Err(Refusal::HoldUnavailable { shortfalls }) =
        fx.place("k2", one("A", 4, None)).await.outcome
    else {
        panic!("allocation keeps every store's safety stock");
    };
    assert_eq!((shortfalls[0].available, shortfalls[0].withheld), (3, 5));
    let held = fx.placed("k3", one("A", 3, None)).await;
    assert_eq!(lines_of(&held), [("s1", "A", 3)]);
    // The tills still sell everything on the shelf that is not held.
    assert_eq!(fx.figures("s1", "A").await.0, 2);
    assert_eq!(fx.figures("s2", "A").await.0, 3);
    fx.close().await;
}

async fn a_channel_holds_at_most_its_share_of_a_level(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.limit(ChannelLimits {
        max_level_share_percent: 50,
        ..ChannelLimits::default()
    })
    .await;
    fx.set_at("s1", "A", 10).await;
    fx.set_at("s2", "A", 3).await;
    fx.placed("k1", one("A", 4, Some("s1"))).await;
    let Err(Refusal::HoldUnavailable { shortfalls }) =
        fx.place("k2", one("A", 2, Some("s1"))).await.outcome
    else {
        panic!("4 of 10 held: one more unit reaches half, two pass it");
    };
    assert_eq!((shortfalls[0].available, shortfalls[0].withheld), (1, 5));
    // Allocated: s1 gives 1, s2 (3 on hand) gives 1.
    let spread = fx.placed("k3", one("A", 2, None)).await;
    assert_eq!(lines_of(&spread), [("s1", "A", 1), ("s2", "A", 1)]);
    assert_eq!(fx.figures("s1", "A").await.1, 5, "half of s1's on hand");
    fx.close().await;
}

async fn a_channel_holds_at_most_its_units_at_once_and_they_are_counted_on_every_transition(
    backend: Backend,
) {
    let fx = Fixture::for_holds(backend).await;
    fx.limit(ChannelLimits {
        max_held_units: 5,
        ..ChannelLimits::default()
    })
    .await;
    fx.set_at("s1", "A", 20).await;
    let first = fx.placed("k1", one("A", 3, None)).await;
    let refused = fx.place("k2", one("A", 3, None)).await.outcome;
    assert_eq!(
        refused,
        Err(Refusal::ChannelHoldLimit {
            channel_id: "web".into(),
            max_held_units: 5,
            held_units: 3,
            requested: 3,
        })
    );
    assert_eq!(fx.figures("s1", "A").await.1, 3, "nothing was held");
    let second = fx.placed("k3", one("A", 2, None)).await;
    assert_eq!(fx.channel_held().await, 5);

    // A commit of part gives the rest back: the channel holds neither.
    let part = CommitHoldRequest {
        lines: Some(vec![shared::CommitLine {
            store_id: "s1".into(),
            sku: "A".into(),
            quantity: 1,
        }]),
    };
    fx.commit(web(), "c1", &first.hold_id, part)
        .await
        .outcome
        .unwrap();
    assert_eq!(fx.channel_held().await, 2);
    fx.release(web(), "r1", &second.hold_id)
        .await
        .outcome
        .unwrap();
    assert_eq!(fx.channel_held().await, 0);
    let third = fx.placed("k4", one("A", 5, None)).await;
    fx.clock.advance(Duration::from_secs(15 * 60));
    fx.ledger.run(ExpireHolds { limit: 100 }).await.unwrap();
    assert_eq!(
        fx.reader.hold(&third.hold_id).await.unwrap().state,
        HoldState::Expired
    );
    assert_eq!(
        fx.channel_held().await,
        0,
        "expiry gives the units back too"
    );
    fx.placed("k5", one("A", 5, None)).await;
    fx.close().await;
}

async fn a_hold_lives_at_most_its_channels_hold_life_however_it_is_extended(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.limit(ChannelLimits {
        max_hold_life_seconds: 20 * 60,
        ..ChannelLimits::default()
    })
    .await;
    fx.set_at("s1", "A", 10).await;
    let asked = PlaceHoldRequest {
        ttl_seconds: Some(30 * 60),
        ..one("A", 1, None)
    };
    let place = PlaceHold::new(
        "web".into(),
        "k1".into(),
        "hold-k1".into(),
        asked,
        30 * MINUTE,
    );
    let refused = fx.ledger.run(place.unwrap()).await.unwrap().outcome;
    let Err(Refusal::HoldLifeExceeded {
        max_hold_life_seconds,
        latest_expires_at,
    }) = refused
    else {
        panic!("a time to live past the life is refused, not cut");
    };
    assert_eq!(max_hold_life_seconds, 20 * 60);
    let hold = fx.placed("k2", one("A", 1, None)).await;
    assert_eq!(
        hold.expires_at - hold.created_at,
        time::Duration::minutes(15)
    );
    assert!(latest_expires_at >= hold.created_at + time::Duration::minutes(20));

    // Ten minutes on, 15 more would end 25 minutes after it was placed.
    fx.clock.advance(Duration::from_secs(10 * 60));
    let extended = fx.extend("e1", &hold.hold_id).await.outcome;
    assert_eq!(
        extended,
        Err(Refusal::HoldLifeExceeded {
            max_hold_life_seconds: 20 * 60,
            latest_expires_at: hold.created_at + time::Duration::minutes(20),
        })
    );
    let req = ExtendHoldRequest {
        ttl_seconds: Some(10 * 60),
    };
    let extend = ExtendHold::new(
        "web".into(),
        "e2".into(),
        hold.hold_id.clone(),
        &req,
        10 * MINUTE,
    );
    let extended = fx
        .ledger
        .run(extend.unwrap())
        .await
        .unwrap()
        .outcome
        .unwrap();
    assert_eq!(
        extended.expires_at,
        hold.created_at + time::Duration::minutes(20)
    );

    // Central's default time to live is cut to the life, not refused.
    fx.limit(ChannelLimits {
        max_hold_life_seconds: 60,
        ..ChannelLimits::default()
    })
    .await;
    let short = fx.placed("k3", one("A", 1, None)).await;
    assert_eq!(
        short.expires_at - short.created_at,
        time::Duration::minutes(1)
    );
    fx.close().await;
}

async fn an_admin_releases_any_hold_and_the_events_name_the_admin(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 3).await;
    fx.set_at("s2", "A", 3).await;
    let hold = fx.placed("k1", one("A", 5, None)).await;
    let admin = HoldActor::Admin("admin:key-1".into());
    let released = fx.release(admin.clone(), "r1", &hold.hold_id).await;
    let released = released.outcome.unwrap();
    assert_eq!(released.state, HoldState::Released);
    assert_eq!(fx.figures("s1", "A").await.0, 3);
    assert_eq!(fx.figures("s2", "A").await.0, 3);
    let named: Vec<_> = fx
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.change {
            Change::HoldReleased {
                reason: ReleaseReason::Admin,
                admin,
                store_id,
                ..
            } => Some((store_id, admin)),
            _ => None,
        })
        .collect();
    let by = Some("admin:key-1".to_owned());
    assert_eq!(named, [("s1".into(), by.clone()), ("s2".into(), by)]);
    let again = fx.release(admin, "r1", &hold.hold_id).await;
    assert!(again.replayed, "keyed like any release");
    fx.close().await;
}

async fn deactivating_a_channel_gives_back_everything_it_holds(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 10).await;
    fx.set_at("s2", "B", 10).await;
    for i in 0..5 {
        fx.placed(&format!("k{i}"), one("A", 1, None)).await;
    }
    fx.placed("k5", one("B", 2, None)).await;
    assert_eq!(
        fx.reader.next_expiry().await.unwrap().map(|at| at > 0),
        Some(true)
    );
    let off = SetChannelActive {
        channel_id: "web".into(),
        active: false,
        secret_hash: None,
    };
    fx.ledger.run(off).await.unwrap().unwrap();
    assert_eq!(
        fx.reader.next_expiry().await.unwrap(),
        Some(0),
        "due at once"
    );
    let refused = fx.place("k6", one("A", 1, None)).await.outcome;
    assert_eq!(
        refused,
        Err(Refusal::ChannelInactive {
            channel_id: "web".into()
        })
    );
    // In bounded chunks, as expiry gives back: 4 lines, then the rest.
    let first = fx.ledger.run(ExpireHolds { limit: 4 }).await.unwrap();
    assert_eq!((first.holds, first.more), (4, true));
    let second = fx.ledger.run(ExpireHolds { limit: 4 }).await.unwrap();
    assert_eq!(second.holds, 2);
    assert_eq!(fx.figures("s1", "A").await.0, 10);
    assert_eq!(fx.figures("s2", "B").await.0, 10);
    assert_eq!(fx.channel_held().await, 0);
    let reasons = fx
        .events()
        .await
        .into_iter()
        .filter(|e| {
            matches!(
                e.change,
                Change::HoldReleased {
                    reason: ReleaseReason::ChannelDeactivated,
                    ..
                }
            )
        })
        .count();
    assert_eq!(reasons, 6);
    assert_eq!(fx.reader.next_expiry().await.unwrap(), None);
    fx.close().await;
}

async fn an_expiry_chunk_is_sized_by_the_lines_it_gives_back(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    for store in ["s1", "s2", "s3"] {
        fx.set_at(store, "A", 1).await;
        fx.set_at(store, "B", 1).await;
    }
    let wide = fx.placed("k1", one("A", 3, None)).await;
    assert_eq!(wide.lines.len(), 3);
    fx.placed("k2", one("B", 1, Some("s1"))).await;
    fx.placed("k3", one("B", 1, Some("s2"))).await;
    fx.clock.advance(Duration::from_secs(15 * 60));
    // The wide hold goes whole, alone, though wider than the chunk.
    let first = fx.ledger.run(ExpireHolds { limit: 2 }).await.unwrap();
    assert_eq!((first.holds, first.more), (1, true));
    let second = fx.ledger.run(ExpireHolds { limit: 2 }).await.unwrap();
    assert_eq!(second.holds, 2);
    let third = fx.ledger.run(ExpireHolds { limit: 2 }).await.unwrap();
    assert_eq!((third.holds, third.more), (0, false));
    fx.close().await;
}

async fn a_replayed_hold_transition_reads_the_hold_back_as_it_stands(backend: Backend) {
    let fx = Fixture::for_holds(backend).await;
    fx.set_at("s1", "A", 5).await;
    let hold = fx.placed("k1", one("A", 2, None)).await;
    fx.commit(web(), "c1", &hold.hold_id, CommitHoldRequest::default())
        .await
        .outcome
        .unwrap();
    let replayed = fx.place("k1", one("A", 2, None)).await;
    assert!(replayed.replayed);
    let now = replayed.outcome.unwrap();
    assert_eq!(
        (now.hold_id, now.state),
        (hold.hold_id, HoldState::Committed)
    );
    assert_eq!(fx.figures("s1", "A").await, (3, 0, 3), "applied once");
    fx.close().await;
}

on_both_backends!(
    a_channel_never_holds_a_stores_safety_stock,
    a_channel_holds_at_most_its_share_of_a_level,
    a_channel_holds_at_most_its_units_at_once_and_they_are_counted_on_every_transition,
    a_hold_lives_at_most_its_channels_hold_life_however_it_is_extended,
    an_admin_releases_any_hold_and_the_events_name_the_admin,
    deactivating_a_channel_gives_back_everything_it_holds,
    an_expiry_chunk_is_sized_by_the_lines_it_gives_back,
    a_replayed_hold_transition_reads_the_hold_back_as_it_stands,
);
