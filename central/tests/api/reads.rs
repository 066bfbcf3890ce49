//! Reads: levels and catalogue pages, availability across stores, health, docs.

use serde_json::Value;
use shared::{Page, ProductAvailability, StockLevel};

use crate::helpers::TestApp;

#[tokio::test]
async fn store_levels_paginate_by_cursor() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        let sku = format!("P{i}");
        app.create_product(&sku).await;
        app.set_stock("s1", &sku, i).await;
    }
    let mut cursor = String::new();
    let mut skus = Vec::new();
    loop {
        let r = app
            .get(&format!("/v1/stores/s1/stock?limit=2{cursor}"))
            .await;
        assert_eq!(r.status(), 200);
        let page: Page<StockLevel> = r.json().await.unwrap();
        assert!(page.items.len() <= 2);
        skus.extend(page.items.iter().map(|l| l.sku.clone()));
        match page.next_cursor {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(skus, ["P0", "P1", "P2", "P3", "P4"]);
}

#[tokio::test]
async fn catalogue_pages_hide_deleted_products_unless_asked() {
    let app = TestApp::spawn().await;
    app.create_product("C").await;
    app.client
        .delete(app.url("/v1/admin/products/B"))
        .send()
        .await
        .unwrap();
    let page: Page<shared::Product> = app.get("/v1/products?limit=1").await.json().await.unwrap();
    assert_eq!(page.items[0].sku, "A");
    assert_eq!(page.next_cursor.as_deref(), Some("A"));
    let next: Page<shared::Product> = app
        .get("/v1/products?limit=1&cursor=A")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next.items[0].sku, "C", "the deleted B is skipped");
    assert!(next.next_cursor.is_none());
    let all: Page<shared::Product> = app
        .get("/v1/products?include_deleted=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    assert!(!all.items.iter().find(|p| p.sku == "B").unwrap().active);
}

#[tokio::test]
async fn availability_is_the_sum_with_its_breakdown() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 4).await;
    app.set_stock("s2", "A", 7).await;
    let a: ProductAvailability = app.get("/v1/products/A").await.json().await.unwrap();
    assert_eq!(a.total, 11);
    let stores: Vec<_> = a
        .stores
        .iter()
        .map(|s| (s.store_id.as_str(), s.available))
        .collect();
    assert_eq!(stores, [("s1", 4), ("s2", 7)]);
    let level = app.level("s2", "B").await;
    assert_eq!(
        (level.available, level.version, level.updated_at),
        (0, 0, None)
    );
}

#[tokio::test]
async fn health_and_docs() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/v1/stores/{store_id}/adjustments",
        "/v1/stores/{store_id}/adjustments/batch",
        "/v1/replication/changes",
        "/v1/replication/snapshot",
        "/v1/admin/products",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert!(doc["paths"]["/v1/auth/token"]["post"]["security"].is_array());
    let page = app.get("/docs").await.text().await.unwrap();
    assert!(
        page.contains("/docs/swagger-ui-bundle.js") && !page.contains("://"),
        "no CDN"
    );
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.text().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let preflight = |app: &TestApp| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                app.url("/v1/stores/s1/adjustments"),
            )
            .header("origin", "http://till.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,idempotency-key,content-type",
            )
            .send()
    };
    let closed = TestApp::spawn().await;
    let r = preflight(&closed).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let open = TestApp::spawn_with(|c| c.cors_origins = vec!["http://till.example".into()]).await;
    let r = preflight(&open).await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://till.example"
    );
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("idempotency-key") && allowed.contains("authorization"));
}
