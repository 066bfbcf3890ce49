//! Snapshot and change log: order, paging, filters, long-poll, retention.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use shared::{ChangesPage, Event};
use tokio::time::Instant;

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn pages_are_in_order_without_gaps() {
    let app = TestApp::spawn().await;
    for i in 0..7 {
        app.set_stock("s1", "A", i).await;
    }
    let head = app.head().await;
    let mut from = 0;
    let mut offsets = Vec::new();
    loop {
        let page = app.changes(&format!("from={from}&limit=3")).await;
        assert!(page.events.len() <= 3);
        offsets.extend(page.events.iter().map(|e| e.offset));
        if page.events.is_empty() {
            assert_eq!(page.next_offset, head);
            break;
        }
        from = page.next_offset;
    }
    assert_eq!(offsets, (1..=head).collect::<Vec<_>>());
}

#[tokio::test]
async fn store_filter_keeps_its_events_and_the_catalogue_and_reports_the_scan() {
    let app = TestApp::spawn().await;
    let start = app.head().await;
    app.set_stock("s2", "A", 3).await;
    app.create_product("C").await;
    app.set_stock("s1", "A", 4).await;
    app.set_stock("s2", "B", 5).await;
    let page = app.changes(&format!("from={start}&store=s1")).await;
    let kinds: Vec<_> = page.events.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["product_created", "stock_set"]);
    assert!(
        page.events
            .iter()
            .all(|e| matches!(e.store_id(), None | Some("s1")))
    );
    assert_eq!(page.next_offset, start + 4, "scanned past s2's events");

    problem(
        app.get("/v1/replication/changes?from=0&store=nope").await,
        404,
        "store_not_found",
    )
    .await;
}

#[tokio::test]
async fn long_poll_answers_as_soon_as_a_write_lands() {
    let app = TestApp::spawn().await;
    let head = app.head().await;
    let started = Instant::now();
    let poll = app.poll(&format!("from={head}&wait=30"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "nothing to answer yet");
    app.set_stock("s1", "A", 9).await;
    let page: ChangesPage = poll.await.unwrap().json().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].offset, head + 1);
}

#[tokio::test]
async fn long_poll_times_out_with_an_empty_page() {
    let app = TestApp::spawn().await;
    let head = app.head().await;
    let started = Instant::now();
    let page = app.changes(&format!("from={head}&wait=1")).await;
    let waited = started.elapsed();
    assert!(page.events.is_empty());
    assert_eq!(page.next_offset, head);
    assert!(waited >= Duration::from_millis(900), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[tokio::test]
async fn a_write_in_another_store_does_not_answer_a_store_long_poll() {
    let app = TestApp::spawn().await;
    let head = app.head().await;
    let started = Instant::now();
    let poll = app.poll(&format!("from={head}&wait=2&store=s2"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.set_stock("s1", "A", 1).await;
    let page: ChangesPage = poll.await.unwrap().json().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert!(page.events.is_empty());
    assert_eq!(page.next_offset, head + 1, "s1's event was scanned past");
}

#[tokio::test]
async fn shutdown_answers_waiting_long_polls() {
    let mut app = TestApp::spawn().await;
    let head = app.head().await;
    let poll = app.poll(&format!("from={head}&wait=60"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    app.stop().await;
    assert_eq!(poll.await.unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn pruned_offsets_are_gone_and_a_snapshot_resumes() {
    let app = TestApp::spawn_with(|c| c.event_retention_count = 3).await;
    for i in 0..6 {
        app.set_stock("s1", "A", i).await;
    }
    let head = app.head().await;
    let r = app.post("/v1/admin/prune", &json!({})).await;
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["oldest_offset"], head - 3);

    let p = problem(
        app.get("/v1/replication/changes?from=0").await,
        410,
        "offset_gone",
    )
    .await;
    assert_eq!(p.oldest_offset, Some(head - 3));
    let page = app.changes(&format!("from={}", head - 3)).await;
    assert_eq!(page.events.len(), 3);

    let snapshot = app.snapshot("store=s1").await;
    assert_eq!(snapshot.offset, head);
    assert!(
        app.changes(&format!("from={}", snapshot.offset))
            .await
            .events
            .is_empty()
    );

    // An offset ahead of central (a replica of another database) re-bootstraps too.
    problem(
        app.get(&format!("/v1/replication/changes?from={}", head + 10))
            .await,
        410,
        "offset_gone",
    )
    .await;
}

/// Folds events into per-(store, sku) (available, version).
fn fold(state: &mut BTreeMap<(String, String), (i64, u64)>, events: &[Event]) {
    for f in events.iter().flat_map(|e| e.change.levels()) {
        state.insert(
            (f.store_id.to_owned(), f.sku.to_owned()),
            (f.available, f.version),
        );
    }
}

#[tokio::test]
async fn snapshot_is_consistent_with_the_log_under_concurrent_writes() {
    let app = TestApp::spawn().await;
    for store in ["s1", "s2"] {
        for sku in ["A", "B"] {
            app.set_stock(store, sku, 1000).await;
        }
    }
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let client = app.client.clone();
            let store = if w % 2 == 0 { "s1" } else { "s2" };
            let url = app.url(&format!("/v1/stores/{store}/adjustments"));
            tokio::spawn(async move {
                for i in 0..40 {
                    let sku = if i % 2 == 0 { "A" } else { "B" };
                    client
                        .post(&url)
                        .header("Idempotency-Key", format!("w{w}-{i}"))
                        .json(&json!({"sku": sku, "delta": -1}))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut snapshots = Vec::new();
    for _ in 0..5 {
        snapshots.push(app.snapshot("").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let all = app.changes("from=0&limit=1000").await;
    for snapshot in snapshots {
        let mut state = BTreeMap::new();
        let upto: Vec<_> = all
            .events
            .iter()
            .filter(|e| e.offset <= snapshot.offset)
            .cloned()
            .collect();
        fold(&mut state, &upto);
        let levels: BTreeMap<_, _> = snapshot
            .levels
            .iter()
            .map(|l| {
                (
                    (l.store_id.clone(), l.sku.clone()),
                    (l.available, l.version),
                )
            })
            .collect();
        assert_eq!(
            levels, state,
            "snapshot at {} matches the log",
            snapshot.offset
        );
    }
}

#[tokio::test]
async fn a_snapshot_names_the_chains_currency() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.snapshot("store=s1").await.currency.code(),
        "EUR",
        "the default"
    );
    let app = TestApp::spawn_with(|c| c.currency = "GBP".parse().expect("a currency")).await;
    assert_eq!(app.snapshot("store=s1").await.currency.code(), "GBP");
}
