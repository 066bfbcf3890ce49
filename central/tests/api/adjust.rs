//! Single adjustments: every answer, and exactly-once under replay.

use serde_json::{Value, json};
use shared::{AdjustResult, Change};

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn guarded_sale_applies_and_is_logged() {
    let app = TestApp::spawn().await;
    let before = app.set_stock("s1", "A", 10).await;
    let r = app
        .adjust("s1", "k1", &json!({"sku": "A", "delta": -3}))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let result: AdjustResult = r.json().await.unwrap();
    assert_eq!(result.available, 7);
    assert_eq!(result.version, before.version + 1);
    assert_eq!(result.discrepancy_offset, None);

    let level = app.level("s1", "A").await;
    assert_eq!((level.available, level.version), (7, result.version));

    let page = app.changes(&format!("from={}", result.offset - 1)).await;
    assert_eq!(page.events[0].offset, result.offset);
    match &page.events[0].change {
        Change::StockAdjusted {
            delta,
            available,
            idempotency_key,
            ..
        } => assert_eq!(
            (*delta, *available, idempotency_key.as_str()),
            (-3, 7, "k1")
        ),
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn insufficient_stock_is_refused_with_the_current_level() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 2).await;
    let head = app.head().await;
    let r = app
        .adjust("s1", "k1", &json!({"sku": "A", "delta": -3}))
        .await;
    let p = problem(r, 409, "insufficient_stock").await;
    let current = p.current.expect("current level");
    assert_eq!((current.available, current.version), (2, 1));
    assert_eq!(app.level("s1", "A").await.available, 2);
    assert_eq!(app.head().await, head, "a refusal appends no event");
}

#[tokio::test]
async fn restock_of_a_negative_level_passes_even_if_still_negative() {
    let app = TestApp::spawn().await;
    let r = app
        .adjust(
            "s1",
            "f",
            &json!({"sku": "A", "delta": -5, "kind": "recorded"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .adjust("s1", "r", &json!({"sku": "A", "delta": 2}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.level("s1", "A").await.available, -3);
}

#[tokio::test]
async fn expected_version_guards_read_then_write() {
    let app = TestApp::spawn().await;
    let level = app.set_stock("s1", "A", 10).await;
    let body = json!({"sku": "A", "delta": -1, "expected_version": level.version});
    assert_eq!(app.adjust("s1", "k1", &body).await.status(), 200);
    // Same expected version again: the level moved meanwhile.
    let p = problem(app.adjust("s1", "k2", &body).await, 409, "version_conflict").await;
    let current = p.current.expect("current level");
    assert_eq!((current.available, current.version), (9, level.version + 1));
}

#[tokio::test]
async fn unknown_store_and_sku_are_404() {
    let app = TestApp::spawn().await;
    let r = app
        .adjust("nope", "k1", &json!({"sku": "A", "delta": 1}))
        .await;
    problem(r, 404, "store_not_found").await;
    let r = app
        .adjust("s1", "k2", &json!({"sku": "ZZZ", "delta": 1}))
        .await;
    problem(r, 404, "product_not_found").await;
    problem(
        app.get("/v1/stores/s1/stock/ZZZ").await,
        404,
        "product_not_found",
    )
    .await;
    problem(
        app.get("/v1/stores/zz/stock/A").await,
        404,
        "store_not_found",
    )
    .await;
}

#[tokio::test]
async fn recorded_fact_below_zero_applies_and_raises_a_discrepancy() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 1).await;
    let r = app
        .adjust(
            "s1",
            "sale-offline-1",
            &json!({"sku": "A", "delta": -3, "kind": "recorded", "reason": "sold offline"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let result: AdjustResult = r.json().await.unwrap();
    assert_eq!(result.available, -2);
    let discrepancy = result.discrepancy_offset.expect("discrepancy event");
    assert_eq!(discrepancy, result.offset + 1);

    let page = app.changes(&format!("from={}", result.offset - 1)).await;
    let kinds: Vec<_> = page.events.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["stock_adjusted", "discrepancy"]);
    match &page.events[1].change {
        Change::Discrepancy {
            store_id,
            sku,
            available,
            ..
        } => assert_eq!(
            (store_id.as_str(), sku.as_str(), *available),
            ("s1", "A", -2)
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn replay_returns_the_saved_answer_and_applies_once() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 10).await;
    let body = json!({"sku": "A", "delta": -4});
    let first = app.adjust("s1", "same-key", &body).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let head = app.head().await;

    for _ in 0..3 {
        let again = app.adjust("s1", "same-key", &body).await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }
    assert_eq!(app.level("s1", "A").await.available, 6, "applied once");
    assert_eq!(app.head().await, head, "no event for a replay");
}

#[tokio::test]
async fn a_refusal_is_replayed_too_even_after_the_state_changed() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 1).await;
    let body = json!({"sku": "A", "delta": -5});
    let first = app.adjust("s1", "k", &body).await;
    let first = problem(first, 409, "insufficient_stock").await;
    app.set_stock("s1", "A", 100).await;
    let again = app.adjust("s1", "k", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(problem(again, 409, "insufficient_stock").await, first);
    assert_eq!(app.level("s1", "A").await.available, 100);
}

#[tokio::test]
async fn same_key_with_another_payload_is_refused() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 10).await;
    assert_eq!(
        app.adjust("s1", "k", &json!({"sku": "A", "delta": -1}))
            .await
            .status(),
        200
    );
    for other in [
        json!({"sku": "A", "delta": -2}),
        json!({"sku": "B", "delta": -1}),
        json!({"sku": "A", "delta": -1, "kind": "recorded"}),
    ] {
        let r = app.adjust("s1", "k", &other).await;
        problem(r, 422, "idempotency_key_reused").await;
    }
    assert_eq!(app.level("s1", "A").await.available, 9);
}

/// Keys belong to the store that made them: another store may use the
/// same key for its own write (it is applied, not refused as a reuse), and
/// learns nothing of the first store's write; each replays its own answer.
#[tokio::test]
async fn idempotency_keys_belong_to_their_store() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 10).await;
    app.set_stock("s2", "A", 10).await;
    let s1 = app
        .adjust("s1", "k", &json!({"sku": "A", "delta": -1}))
        .await;
    assert_eq!(s1.status(), 200);
    let s1: shared::AdjustResult = s1.json().await.unwrap();
    let s2 = app
        .adjust("s2", "k", &json!({"sku": "A", "delta": -3}))
        .await;
    assert_eq!(s2.status(), 200, "not idempotency_key_reused");
    assert!(s2.headers().get("idempotent-replayed").is_none());
    let s2: shared::AdjustResult = s2.json().await.unwrap();
    assert_eq!((s2.store_id.as_str(), s2.available), ("s2", 7));
    for (store, body, answer) in [
        ("s1", json!({"sku": "A", "delta": -1}), &s1),
        ("s2", json!({"sku": "A", "delta": -3}), &s2),
    ] {
        let again = app.adjust(store, "k", &body).await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(&again.json::<shared::AdjustResult>().await.unwrap(), answer);
    }
    // A batch line is the store's too.
    let batch = json!({"items": [{"idempotency_key": "k", "sku": "B", "delta": 2}]});
    let r = app.post("/v1/stores/s2/adjustments/batch", &batch).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["results"][0]["problem"]["code"], "idempotency_key_reused",
        "s2's own key"
    );
    assert_eq!(app.level("s1", "A").await.available, 9);
    assert_eq!(app.level("s2", "A").await.available, 7);
}

#[tokio::test]
async fn deleted_product_refuses_requests_but_takes_facts() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 5).await;
    let r = app
        .client
        .delete(app.url("/v1/admin/products/A"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .adjust("s1", "k1", &json!({"sku": "A", "delta": -1}))
        .await;
    problem(r, 409, "product_inactive").await;
    let r = app
        .adjust(
            "s1",
            "k2",
            &json!({"sku": "A", "delta": -1, "kind": "recorded"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.level("s1", "A").await.available, 4);
}

#[tokio::test]
async fn keys_are_forgotten_after_their_retention() {
    // The binary refuses less than 24 h; the test sets the field directly.
    let app = TestApp::spawn_with(|c| c.idempotency_retention_hours = 0).await;
    app.set_stock("s1", "A", 10).await;
    let body = json!({"sku": "A", "delta": -1});
    assert_eq!(app.adjust("s1", "old", &body).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let report: Value = app
        .post("/v1/admin/prune", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(report["keys_pruned"].as_u64().unwrap() >= 1);
    // Past retention the key is new again: the write applies a second time.
    let r = app.adjust("s1", "old", &body).await;
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.level("s1", "A").await.available, 8);
}
