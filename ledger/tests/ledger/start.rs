//! Starting a ledger after state its subscribers read themselves (central's
//! access cache): what any central commits after that read reaches them
//! before the ledger says it has started, so nothing acts on a stale copy.

use std::sync::Arc;

use ledger::{
    AccessChange, Location, WriterOptions,
    clock::Clock,
    cmd::{CreateStore, SetStoreActive},
};
use shared::NewStore;

use super::Heard;

fn options() -> WriterOptions {
    WriterOptions {
        queue: 64,
        group_items: 1024,
        clock: Clock::system(),
    }
}

async fn open(url: &str) -> ledger::Database {
    let options = ledger::postgres::Options {
        url: url.to_owned(),
        read_connections: 1,
        mark_demo: false,
    };
    ledger::open(Location::Postgres(options)).await.unwrap()
}

/// Two ledgers on one PostgreSQL database, as two centrals. B reads its
/// access state; A then deactivates a store; only then does B's writer
/// start. The window is made explicit here; in a central it is the few
/// milliseconds between the read and the writer's start. B's subscribers
/// are opened where the state was read and hear the deactivation before
/// `started` resolves (opened at the head B's writer found, they would
/// never hear of it: the follower publishes only after that head).
#[tokio::test]
async fn a_change_committed_between_the_state_read_and_the_start_is_heard_first() {
    let url = testkit::postgres::fresh_database().await;
    let (a, a_writer) = open(&url).await.start(options(), Vec::new());
    let new = NewStore {
        store_id: "s1".into(),
        name: "s1".into(),
        client_secret: None,
    };
    let secret_hash = "not-a-real-hash".into();
    a.run(CreateStore { new, secret_hash })
        .await
        .unwrap()
        .unwrap();

    let b = open(&url).await;
    let state = b.reader().access().await.unwrap();
    assert_eq!(state.stores, [("s1".to_owned(), true, 1)]);
    let closed = SetStoreActive {
        store_id: "s1".into(),
        active: false,
    };
    a.run(closed).await.unwrap().unwrap();

    let heard = Arc::new(Heard::default());
    let (b, b_writer) = b.start_after(state.at, options(), vec![heard.clone()]);
    b.started().await.unwrap();
    assert_eq!(
        *heard.opened.lock().unwrap(),
        Some((state.at.head, state.at.pruned_through)),
        "opened where the state was read"
    );
    let access: Vec<AccessChange> = heard
        .groups
        .lock()
        .unwrap()
        .iter()
        .flat_map(|group| group.access.clone())
        .collect();
    assert!(
        matches!(
            access.as_slice(),
            [AccessChange::Store { store_id, active: false, .. }] if store_id == "s1"
        ),
        "heard before started: {access:?}"
    );

    for (ledger, writer) in [(a, a_writer), (b, b_writer)] {
        ledger.shutdown().await;
        writer.await.unwrap();
    }
}
