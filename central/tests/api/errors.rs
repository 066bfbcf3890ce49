//! Bad input of every kind gets a problem with a stable code, never a 500.

use serde_json::json;

use crate::helpers::{TestApp, problem, secret_of};

const ADJUST: &str = "/v1/stores/s1/adjustments";

#[tokio::test]
async fn malformed_bodies() {
    let app = TestApp::spawn().await;
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url(ADJUST))
            .header("Idempotency-Key", "k")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    problem(
        send("{\"sku\": ", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    problem(
        send("not json", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    problem(
        send(r#"{"sku": "A", "delta": "ten"}"#, "application/json")
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    problem(
        send(r#"{"sku": "A"}"#, "application/json").await.unwrap(),
        422,
        "invalid_body",
    )
    .await;
    problem(
        send(
            r#"{"sku": "A", "delta": 1, "colour": "red"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    problem(
        send(
            r#"{"sku": "A", "delta": 1, "kind": "maybe"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    problem(
        send(r#"{"sku": "A", "delta": 1}"#, "text/plain")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn invalid_fields() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({"sku": "A", "delta": 0}), "delta"),
        (json!({"sku": "A", "delta": 2_000_000_000i64}), "delta"),
        (json!({"sku": "", "delta": 1}), "sku"),
        (json!({"sku": "has space", "delta": 1}), "sku"),
        (
            json!({"sku": "A", "delta": -1, "kind": "recorded", "expected_version": 1}),
            "expected_version",
        ),
        (
            json!({"sku": "A", "delta": 1, "reason": "x".repeat(201)}),
            "reason",
        ),
    ] {
        let p = problem(app.adjust("s1", "k", &body).await, 422, "validation_failed").await;
        assert_eq!(p.errors[0].field, field, "{body}");
    }
    let p = problem(
        app.post(
            "/v1/admin/products",
            &json!({"sku": "N", "name": " ", "price_cents": -1}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "price_cents"]);
    let r = app
        .client
        .put(app.url("/v1/admin/stores/s1/stock/A"))
        .json(&json!({"available": -1}))
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
}

#[tokio::test]
async fn idempotency_key_header() {
    let app = TestApp::spawn().await;
    let body = json!({"sku": "A", "delta": 1});
    let r = app.post(ADJUST, &body).await;
    problem(r, 400, "idempotency_key_missing").await;
    for bad in ["has space", &"k".repeat(129)] {
        let r = app.adjust("s1", bad, &body).await;
        problem(r, 400, "idempotency_key_invalid").await;
    }
    assert_eq!(app.level("s1", "A").await.version, 0, "nothing applied");
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4096).await;
    let reason = "x".repeat(10_000);
    let r = app
        .adjust(
            "s1",
            "k",
            &json!({"sku": "A", "delta": 1, "reason": reason}),
        )
        .await;
    problem(r, 413, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    problem(app.get("/v1/nothing-here").await, 404, "route_not_found").await;
    problem(app.get("/").await, 404, "route_not_found").await;
    let r = app.client.delete(app.url(ADJUST)).send().await.unwrap();
    problem(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn query_parameters_out_of_range() {
    let app = TestApp::spawn().await;
    for query in [
        "/v1/replication/changes",
        "/v1/replication/changes?from=-1",
        "/v1/replication/changes?from=abc",
        // Found by the fuzzer: past what an offset can be (stored signed).
        "/v1/replication/changes?from=9223372036854775808",
        "/v1/replication/changes?from=0&limit=0",
        "/v1/replication/changes?from=0&limit=100000",
        "/v1/replication/changes?from=0&wait=61",
        "/v1/replication/changes?from=0&wait=-1",
        "/v1/replication/changes?from=0&wait=NaN",
        "/v1/products?limit=0",
        "/v1/products?limit=x",
        "/v1/stores/s1/stock?limit=5000",
    ] {
        problem(app.get(query).await, 400, "invalid_query").await;
    }
}

/// Found by a fuzzer: `i64::MIN` once passed validation (its `abs()` wraps
/// to itself in release) and was applied. Every extreme is refused, for
/// every kind of write, and nothing moves.
#[tokio::test]
async fn extreme_deltas_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let head = app.head().await;
    let max = shared::limits::MAX_QUANTITY;
    for delta in [i64::MIN, i64::MIN + 1, -max - 1, max + 1, i64::MAX] {
        for kind in ["guarded", "recorded"] {
            let body = json!({"sku": "A", "delta": delta, "kind": kind});
            let p = problem(app.adjust("s1", "k", &body).await, 422, "validation_failed").await;
            assert_eq!(p.errors[0].field, "delta", "{body}");
            let batch = json!({"items": [{"idempotency_key": "b", "sku": "A", "delta": delta, "kind": kind}]});
            let r = app.post("/v1/stores/s1/adjustments/batch", &batch).await;
            problem(r, 422, "validation_failed").await;
        }
    }
    for available in [i64::MIN, -1, max + 1, i64::MAX] {
        let r = app
            .client
            .put(app.url("/v1/admin/stores/s1/stock/A"))
            .json(&json!({"available": available}))
            .send()
            .await
            .unwrap();
        problem(r, 422, "validation_failed").await;
    }
    assert_eq!(app.level("s1", "A").await.version, 0, "nothing applied");
    assert_eq!(app.head().await, head, "no event beyond the set-up's");
}

/// A level at its bound (put there directly in the database: a million
/// writes would take too long) refuses, even as a recorded fact, what would
/// take it past; the answer carries the level, and nothing moves.
#[tokio::test]
async fn a_level_at_its_bound_refuses_what_would_pass_it() {
    crate::helpers::sqlite_file_only!();
    let mut app = TestApp::spawn().await;
    app.set_stock("s1", "A", 1).await;
    app.stop().await;
    let bound = shared::limits::MAX_LEVEL;
    let db = rusqlite::Connection::open(app.config.database_path()).unwrap();
    db.execute(
        "UPDATE stock_levels SET available = ?1 WHERE store_id = 's1' AND sku = 'A'",
        [bound - 5],
    )
    .unwrap();
    drop(db);
    app.restart().await;
    let before = app.level("s1", "A").await;
    for kind in ["guarded", "recorded"] {
        let body = json!({"sku": "A", "delta": 6, "kind": kind});
        let p = problem(
            app.adjust("s1", &format!("up-{kind}"), &body).await,
            409,
            "level_out_of_range",
        )
        .await;
        assert_eq!(p.current.as_ref().map(|c| c.available), Some(bound - 5));
    }
    assert_eq!(app.level("s1", "A").await, before, "nothing applied");
    let ok = app
        .adjust("s1", "up-5", &json!({"sku": "A", "delta": 5}))
        .await;
    assert_eq!(ok.status(), 200, "up to the bound itself is fine");
    assert_eq!(app.level("s1", "A").await.available, bound);
}

/// An id goes into URL paths, where `.` and `..` are segments clients
/// resolve away: ids of dots alone are refused where they are made.
#[tokio::test]
async fn ids_of_dots_alone_are_refused() {
    let app = TestApp::spawn().await;
    for id in [".", "..", "..."] {
        let store = json!({"store_id": id, "name": "Dots", "client_secret": secret_of("s1")});
        let r = app.post(shared::api::CreateStore::PATH, &store).await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(p.errors[0].field, "store_id", "{id:?}");
        let product = json!({"sku": id, "name": "Dots", "price_cents": 1});
        let r = app.post(shared::api::CreateProduct::PATH, &product).await;
        problem(r, 422, "validation_failed").await;
    }
    let r = app
        .post(
            shared::api::CreateProduct::PATH,
            &json!({"sku": ".a.", "name": "Dots and a letter", "price_cents": 1}),
        )
        .await;
    assert_eq!(r.status(), 201, "a dot beside other characters is fine");
}
