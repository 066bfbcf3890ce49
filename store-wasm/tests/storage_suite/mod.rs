//! What every [`Storage`] must do, whichever it is: the engine's tests run
//! on [`MemoryStorage`], the tills on IndexedDB, so both pass this suite
//! (natively in `storage_memory.rs`, in Chromium in `browser.rs`).

use std::collections::BTreeMap;

use shared::{AdjustResult, Product, Store};
use store_wasm::engine::{
    Intent, IntentStatus, Level, PageWrite, Pickup, PickupAction, PickupIntent, PickupLine,
    Replica, Storage,
};

/// Runs every case, each on a storage of its own from `fresh`.
pub async fn run<S: Storage>(fresh: impl AsyncFn() -> S) {
    a_replace_is_read_back_whole_and_keeps_both_queues(fresh().await).await;
    a_page_never_moves_a_level_back_and_ends_pick_ups(fresh().await).await;
    an_answered_intent_never_goes_back_to_unanswered(fresh().await).await;
    hand_overs_are_merged_and_their_answers_end_pick_ups(fresh().await).await;
    a_following_tab_reads_what_was_written_since_the_base(fresh().await).await;
}

fn epoch() -> shared::Timestamp {
    time::OffsetDateTime::UNIX_EPOCH
}

fn level(available: i64, version: u64) -> Level {
    Level {
        available,
        held: 1,
        version,
    }
}

fn pickup(hold_id: &str) -> Pickup {
    Pickup {
        hold_id: hold_id.into(),
        channel: "web".into(),
        reference: format!("order of {hold_id}"),
        expires_at_ms: 1_000,
        lines: vec![PickupLine {
            sku: "A".into(),
            quantity: 1,
        }],
    }
}

fn sale(id: &str, status: IntentStatus) -> Intent {
    Intent {
        id: id.into(),
        sku: "A".into(),
        delta: -1,
        kind: shared::AdjustKind::Guarded,
        basket: None,
        reason: None,
        created_at_ms: 1,
        attempts: 1,
        last_error: None,
        status,
    }
}

fn hand_over(id: &str, hold_id: &str, status: IntentStatus<shared::HoldState>) -> PickupIntent {
    PickupIntent {
        id: id.into(),
        action: PickupAction::HandOver,
        pickup: pickup(hold_id),
        created_at_ms: 1,
        attempts: 0,
        last_error: None,
        status,
    }
}

fn replica() -> Replica {
    let product = Product {
        sku: "A".into(),
        name: "Apples".into(),
        price_cents: 100,
        active: true,
        version: 1,
        updated_at: epoch(),
    };
    let store = Store {
        store_id: "s1".into(),
        name: "High Street".into(),
        active: true,
        created_at: epoch(),
        safety_stock: 0,
    };
    Replica {
        offset: Some(7),
        base: Some(7),
        last_contact_ms: Some(5),
        levels: BTreeMap::from([("A".into(), level(4, 3)), ("B".into(), level(2, 1))]),
        products: BTreeMap::from([("A".into(), product)]),
        stores: BTreeMap::from([("s1".into(), store)]),
        currency: Some("EUR".parse().expect("a currency")),
        pickups: BTreeMap::from([("h-1".into(), pickup("h-1"))]),
        ..Replica::default()
    }
}

async fn a_replace_is_read_back_whole_and_keeps_both_queues(storage: impl Storage) {
    storage
        .put_intents(&[sale("k-1", IntentStatus::Pending)], &[], None)
        .await
        .expect("stored");
    let queued = hand_over("ho-1", "h-9", IntentStatus::Pending);
    storage
        .put_pickup_intents(std::slice::from_ref(&queued), &[])
        .await
        .expect("stored");
    storage.replace(&replica()).await.expect("replaced");
    let loaded = storage.load().await.expect("loaded");
    let wanted = Replica {
        intents: vec![sale("k-1", IntentStatus::Pending)],
        pickup_intents: vec![queued],
        ..replica()
    };
    assert_eq!(loaded, wanted, "everything, queues included");

    // A second snapshot replaces pick-ups (h-1 ended meanwhile).
    let mut next = replica();
    next.pickups = BTreeMap::from([("h-2".into(), pickup("h-2"))]);
    storage.replace(&next).await.expect("replaced");
    let loaded = storage.load().await.expect("loaded");
    assert_eq!(loaded.pickups.keys().collect::<Vec<_>>(), ["h-2"]);
}

async fn a_page_never_moves_a_level_back_and_ends_pick_ups(storage: impl Storage) {
    storage.replace(&replica()).await.expect("replaced");
    let page = PageWrite {
        levels: vec![("A".into(), level(9, 5))],
        pickups: vec![pickup("h-2")],
        pickups_ended: vec!["h-1".into()],
        offset: 9,
        contact_ms: 10,
        ..PageWrite::default()
    };
    storage.apply(&page).await.expect("applied");
    // A late writer's older page for A.
    let late = PageWrite {
        levels: vec![("A".into(), level(1, 4))],
        offset: 9,
        contact_ms: 10,
        ..PageWrite::default()
    };
    storage.apply(&late).await.expect("applied");
    let loaded = storage.load().await.expect("loaded");
    assert_eq!(
        loaded.levels["A"],
        level(9, 5),
        "versions only move forward"
    );
    assert_eq!(loaded.offset, Some(9));
    assert_eq!(loaded.pickups.keys().collect::<Vec<_>>(), ["h-2"]);
    // A snapshot older than a stored level keeps the stored one.
    storage.replace(&replica()).await.expect("replaced");
    assert_eq!(
        storage.load().await.expect("loaded").levels["A"],
        level(9, 5)
    );
}

async fn an_answered_intent_never_goes_back_to_unanswered(storage: impl Storage) {
    let applied = IntentStatus::Applied {
        result: AdjustResult {
            store_id: "s1".into(),
            sku: "A".into(),
            available: 3,
            held: 0,
            version: 4,
            offset: 8,
            discrepancy_offset: None,
        },
    };
    storage
        .put_intents(
            &[sale("k-1", applied.clone())],
            &[("A".into(), level(3, 4))],
            Some(9),
        )
        .await
        .expect("stored");
    // Another tab, still waiting, stores its older copy.
    storage
        .put_intents(&[sale("k-1", IntentStatus::Sent)], &[], None)
        .await
        .expect("stored");
    let loaded = storage.load().await.expect("loaded");
    assert_eq!(loaded.intents, vec![sale("k-1", applied)]);
    assert_eq!(loaded.levels["A"], level(3, 4), "with the level it brought");
    assert_eq!(loaded.last_contact_ms, Some(9));
    storage
        .delete_intents(&["k-1".into()])
        .await
        .expect("deleted");
    assert!(storage.load().await.expect("loaded").intents.is_empty());
}

async fn hand_overs_are_merged_and_their_answers_end_pick_ups(storage: impl Storage) {
    storage.replace(&replica()).await.expect("replaced");
    let done = hand_over(
        "ho-1",
        "h-1",
        IntentStatus::Applied {
            result: shared::HoldState::Committed,
        },
    );
    storage
        .put_pickup_intents(std::slice::from_ref(&done), &["h-1".into()])
        .await
        .expect("stored");
    let stale = hand_over("ho-1", "h-1", IntentStatus::Sent);
    storage
        .put_pickup_intents(&[stale], &[])
        .await
        .expect("stored");
    let loaded = storage.load().await.expect("loaded");
    assert_eq!(loaded.pickup_intents, vec![done]);
    assert!(loaded.pickups.is_empty(), "the answer ended it");
    storage
        .delete_pickup_intents(&["ho-1".into()])
        .await
        .expect("deleted");
    assert!(
        storage
            .load()
            .await
            .expect("loaded")
            .pickup_intents
            .is_empty()
    );
}

async fn a_following_tab_reads_what_was_written_since_the_base(storage: impl Storage) {
    storage.replace(&replica()).await.expect("replaced");
    let page = PageWrite {
        levels: vec![("B".into(), level(0, 2))],
        pickups: vec![pickup("h-3")],
        offset: 8,
        contact_ms: 11,
        ..PageWrite::default()
    };
    storage.apply(&page).await.expect("applied");
    let recent = storage.load_recent().await.expect("read");
    assert_eq!((recent.offset, recent.base), (Some(8), Some(7)));
    assert!(recent.levels.contains(&("B".into(), level(0, 2))));
    let mut holds: Vec<_> = recent.pickups.iter().map(|p| p.hold_id.as_str()).collect();
    holds.sort();
    assert_eq!(holds, ["h-1", "h-3"], "every pick-up: the list is short");
    assert!(!storage.take_lost(), "nothing was lost");
}
