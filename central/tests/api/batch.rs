//! Batches: independent lines, and atomic baskets.

use serde_json::{Value, json};
use shared::BatchAdjustResponse;

use crate::helpers::{TestApp, problem};

async fn batch(app: &TestApp, store: &str, body: &Value) -> BatchAdjustResponse {
    let r = app
        .post(&format!("/v1/stores/{store}/adjustments/batch"), body)
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn independent_lines_each_get_their_own_answer() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 5).await;
    app.set_stock("s1", "B", 0).await;
    let body = json!({"items": [
        {"idempotency_key": "1", "sku": "A", "delta": -2},
        {"idempotency_key": "2", "sku": "B", "delta": -1},
        {"idempotency_key": "3", "sku": "NOPE", "delta": 1},
    ]});
    let out = batch(&app, "s1", &body).await;
    assert!(out.committed && !out.atomic);
    let statuses: Vec<_> = out.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 409, 404]);
    assert_eq!(out.results[0].result.as_ref().unwrap().available, 3);
    assert_eq!(
        out.results[1].problem.as_ref().unwrap().code.as_str(),
        "insufficient_stock"
    );
    assert_eq!(app.level("s1", "A").await.available, 3);

    // A replay of the batch applies nothing more and answers the same.
    let again = batch(&app, "s1", &body).await;
    assert_eq!(again.results, out.results);
    assert_eq!(app.level("s1", "A").await.available, 3);

    // A line's key answers the single call too: same request, same answer.
    let single = app
        .adjust("s1", "1", &json!({"sku": "A", "delta": -2}))
        .await;
    assert_eq!(single.status(), 200);
    assert_eq!(single.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn atomic_basket_applies_all_lines() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 5).await;
    app.set_stock("s1", "B", 5).await;
    let head = app.head().await;
    let body = json!({"atomic": true, "items": [
        {"idempotency_key": "b1", "sku": "A", "delta": -1},
        {"idempotency_key": "b2", "sku": "B", "delta": -2},
    ]});
    let out = batch(&app, "s1", &body).await;
    assert!(out.atomic && out.committed);
    assert_eq!(app.level("s1", "A").await.available, 4);
    assert_eq!(app.level("s1", "B").await.available, 3);
    let offsets: Vec<_> = out
        .results
        .iter()
        .map(|r| r.result.as_ref().unwrap().offset)
        .collect();
    assert_eq!(offsets, [head + 1, head + 2]);
}

#[tokio::test]
async fn atomic_basket_rolls_back_when_one_line_is_refused() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 5).await;
    app.set_stock("s1", "B", 1).await;
    let head = app.head().await;
    let body = json!({"atomic": true, "items": [
        {"idempotency_key": "b1", "sku": "A", "delta": -3},
        {"idempotency_key": "b2", "sku": "B", "delta": -2},
        {"idempotency_key": "b3", "sku": "A", "delta": -3},
    ]});
    let out = batch(&app, "s1", &body).await;
    assert!(out.atomic && !out.committed);
    let statuses: Vec<_> = out.results.iter().map(|r| r.status).collect();
    // b3 is refused because b1 took A down to 2 first; both refusals report
    // the level as it stands after the rollback.
    assert_eq!(statuses, [424, 409, 409]);
    let b3 = out.results[2].problem.as_ref().unwrap();
    assert_eq!(b3.current.as_ref().unwrap().available, 5);
    assert_eq!(app.level("s1", "A").await.available, 5);
    assert_eq!(app.level("s1", "B").await.available, 1);
    assert_eq!(app.head().await, head, "nothing of the basket was logged");

    // Replaying the basket gives the same answers, and still applies nothing.
    let again = batch(&app, "s1", &body).await;
    assert_eq!(again.results, out.results);
    assert!(!again.committed);
    assert_eq!(app.level("s1", "A").await.available, 5);
}

#[tokio::test]
async fn a_basket_mixing_old_and_new_keys_is_refused_whole() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 5).await;
    assert_eq!(
        app.adjust("s1", "old", &json!({"sku": "A", "delta": -1}))
            .await
            .status(),
        200
    );
    let body = json!({"atomic": true, "items": [
        {"idempotency_key": "old", "sku": "A", "delta": -1},
        {"idempotency_key": "new", "sku": "A", "delta": -1},
    ]});
    let out = batch(&app, "s1", &body).await;
    assert!(!out.committed);
    let statuses: Vec<_> = out.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [422, 424]);
    assert_eq!(app.level("s1", "A").await.available, 4);
}

#[tokio::test]
async fn batch_refusals() {
    let app = TestApp::spawn_with(|c| c.max_batch_items = 3).await;
    let items: Vec<_> = (0..4)
        .map(|i| json!({"idempotency_key": format!("k{i}"), "sku": "A", "delta": 1}))
        .collect();
    let r = app
        .post("/v1/stores/s1/adjustments/batch", &json!({"items": items}))
        .await;
    problem(r, 422, "batch_too_large").await;

    let r = app
        .post("/v1/stores/s1/adjustments/batch", &json!({"items": []}))
        .await;
    problem(r, 422, "validation_failed").await;

    let dup = json!({"items": [
        {"idempotency_key": "same", "sku": "A", "delta": 1},
        {"idempotency_key": "same", "sku": "B", "delta": 1},
    ]});
    let p = problem(
        app.post("/v1/stores/s1/adjustments/batch", &dup).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(p.errors[0].field, "items[1].idempotency_key");

    let bad = json!({"items": [{"idempotency_key": "x", "sku": "A", "delta": 0}]});
    let p = problem(
        app.post("/v1/stores/s1/adjustments/batch", &bad).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p.errors[0].field, "items[0].delta");
}
