//! Admin writes: catalogue, stores, stocktakes; each one an event.

use serde_json::{Value, json};
use shared::{Change, Product};

use crate::helpers::{TestApp, problem};

#[tokio::test]
async fn product_lifecycle_is_logged() {
    let app = TestApp::spawn().await;
    let start = app.head().await;
    problem(
        app.post(
            "/v1/admin/products",
            &json!({"sku": "A", "name": "Again", "price_cents": 1}),
        )
        .await,
        409,
        "product_exists",
    )
    .await;

    let patch = |body: Value| {
        app.client
            .patch(app.url("/v1/admin/products/A"))
            .json(&body)
            .send()
    };
    let r = patch(json!({"price_cents": 399, "expected_version": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Product = r.json().await.unwrap();
    assert_eq!((updated.price_cents, updated.version), (399, 2));
    let p = problem(
        patch(json!({"name": "Stale", "expected_version": 1}))
            .await
            .unwrap(),
        409,
        "version_conflict",
    )
    .await;
    assert_eq!(p.current_product.unwrap().version, 2);
    problem(
        app.client
            .patch(app.url("/v1/admin/products/NOPE"))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
        404,
        "product_not_found",
    )
    .await;

    let r = app
        .client
        .delete(app.url("/v1/admin/products/A"))
        .send()
        .await
        .unwrap();
    assert!(!r.json::<Product>().await.unwrap().active);
    // Deleting again changes nothing and logs nothing.
    let r = app
        .client
        .delete(app.url("/v1/admin/products/A"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let page = app.changes(&format!("from={start}")).await;
    let kinds: Vec<_> = page.events.iter().map(|e| e.change.kind()).collect();
    assert_eq!(kinds, ["product_updated", "product_deleted"]);
    assert!(page.events.iter().all(|e| e.store_id().is_none()));
}

#[tokio::test]
async fn stores_and_stocktakes() {
    let app = TestApp::spawn().await;
    problem(
        app.post(
            "/v1/admin/stores",
            &json!({"store_id": "s1", "name": "Dup"}),
        )
        .await,
        409,
        "store_exists",
    )
    .await;
    let stores: Vec<shared::Store> = app.get("/v1/stores").await.json().await.unwrap();
    assert_eq!(stores.len(), 2);

    let start = app.head().await;
    let level = app.set_stock("s2", "B", 12).await;
    assert_eq!((level.available, level.version), (12, 1));
    let level = app.set_stock("s2", "B", 8).await;
    assert_eq!((level.available, level.version), (8, 2));
    let page = app.changes(&format!("from={start}")).await;
    match &page.events[1].change {
        Change::StockSet {
            previous,
            available,
            ..
        } => assert_eq!((*previous, *available), (12, 8)),
        other => panic!("unexpected {other:?}"),
    }
    let r = app
        .client
        .put(app.url("/v1/admin/stores/s2/stock/B"))
        .json(&json!({"available": 1, "expected_version": 1}))
        .send()
        .await
        .unwrap();
    problem(r, 409, "version_conflict").await;
    let r = app
        .client
        .put(app.url("/v1/admin/stores/s9/stock/B"))
        .json(&json!({"available": 1}))
        .send()
        .await
        .unwrap();
    problem(r, 404, "store_not_found").await;
}
