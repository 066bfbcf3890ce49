//! Authentication and authorisation: every refusal, over HTTP.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use shared::TokenResponse;

use crate::helpers::{
    ADMIN_KEY, JWT_SECRET, OTHER_ADMIN_KEY, TestApp, client_with, problem, secret_of,
};

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A store token as central would issue it, with the given signing secret,
/// algorithm header and expiry.
fn craft(secret: &str, exp: u64) -> String {
    let claims = json!({
        "sub": "store:s1", "role": "store", "store_id": "s1", "gen": 1,
        "iss": "stockline-central", "iat": now(), "exp": exp,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn bearer(token: &str) -> reqwest::Client {
    client_with(&[("authorization", &format!("Bearer {token}"))])
}

async fn sell(
    client: &reqwest::Client,
    app: &TestApp,
    store: &str,
    key: &str,
) -> reqwest::Response {
    client
        .post(app.url(&format!("/v1/stores/{store}/adjustments")))
        .header("Idempotency-Key", key)
        .json(&json!({"sku": "A", "delta": 1}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_credentials_is_401_everywhere_but_sign_in_and_health() {
    let app = TestApp::spawn().await;
    let anonymous = reqwest::Client::new();
    for path in [
        "/v1/products",
        "/v1/stores/s1/stock/A",
        "/v1/replication/changes?from=0",
    ] {
        let r = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        problem(r, 401, "unauthorized").await;
    }
    problem(sell(&anonymous, &app, "s1", "k").await, 401, "unauthorized").await;
    let r = anonymous
        .get(app.url("/v1/admin/stores"))
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"] {
        assert_eq!(
            anonymous.get(app.url(open)).send().await.unwrap().status(),
            200,
            "{open}"
        );
    }
}

#[tokio::test]
async fn a_store_writes_its_own_stock_only_and_never_admin_routes() {
    let app = TestApp::spawn().await;
    let r = app.sign_in("s1", &secret_of("s1")).await;
    assert_eq!(r.status(), 200);
    let token: TokenResponse = r.json().await.unwrap();
    assert_eq!(
        (token.token_type.as_str(), token.expires_in),
        ("Bearer", 900)
    );
    assert_eq!(token.store_id.as_deref(), Some("s1"));

    let s1 = bearer(&token.access_token);
    assert_eq!(sell(&s1, &app, "s1", "own").await.status(), 200);
    problem(sell(&s1, &app, "s2", "other").await, 403, "forbidden_store").await;
    let batch = s1
        .post(app.url("/v1/stores/s2/adjustments/batch"))
        .json(&json!({"items": [{"idempotency_key": "b", "sku": "A", "delta": 1}]}))
        .send()
        .await
        .unwrap();
    problem(batch, 403, "forbidden_store").await;
    assert_eq!(
        app.level("s2", "A").await.version,
        0,
        "nothing written to s2"
    );

    // Reads of the catalogue, other stores' availability and the log are fine.
    for path in [
        "/v1/products/A",
        "/v1/stores/s2/stock/A",
        "/v1/replication/snapshot?store=s1",
    ] {
        assert_eq!(
            s1.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let admin = s1
        .post(app.url("/v1/admin/products"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    problem(admin, 403, "forbidden").await;
    let admin = s1.get(app.url("/v1/admin/stores")).send().await.unwrap();
    problem(admin, 403, "forbidden").await;
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let app = TestApp::spawn().await;
    problem(
        app.sign_in("s1", "wrong-secret-0123456789").await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(
        app.sign_in("nobody", &secret_of("s1")).await,
        401,
        "invalid_credentials",
    )
    .await;
    let r = reqwest::Client::new()
        .post(app.url("/v1/auth/token"))
        .json(&json!({"api_key": "not-a-key"}))
        .send()
        .await
        .unwrap();
    problem(r, 401, "invalid_api_key").await;
    let r = reqwest::Client::new()
        .post(app.url("/v1/auth/token"))
        .json(&json!({"user": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, 422, "invalid_body").await;
    let wrong_key = client_with(&[("x-api-key", "guessed")]);
    let r = wrong_key.get(app.url("/v1/products")).send().await.unwrap();
    problem(r, 401, "invalid_api_key").await;
}

#[tokio::test]
async fn expired_forged_and_unsigned_tokens_are_refused() {
    let app = TestApp::spawn().await;
    // Sanity: a crafted token with the right secret and a future expiry passes.
    let valid = craft(JWT_SECRET, now() + 300);
    assert_eq!(sell(&bearer(&valid), &app, "s1", "k1").await.status(), 200);

    let expired = craft(JWT_SECRET, now() - 120);
    problem(
        sell(&bearer(&expired), &app, "s1", "k2").await,
        401,
        "token_expired",
    )
    .await;

    let forged = craft("another-secret-another-secret-0123456789", now() + 300);
    problem(
        sell(&bearer(&forged), &app, "s1", "k3").await,
        401,
        "invalid_token",
    )
    .await;

    // alg "none": the claims of a valid token, no signature.
    let claims = valid.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{header}.{claims}.");
    problem(
        sell(&bearer(&unsigned), &app, "s1", "k4").await,
        401,
        "invalid_token",
    )
    .await;

    for garbage in ["not-a-jwt", "a.b.c"] {
        problem(
            sell(&bearer(garbage), &app, "s1", "k5").await,
            401,
            "invalid_token",
        )
        .await;
    }
    let basic = client_with(&[("authorization", "Basic czE6c2VjcmV0")]);
    problem(sell(&basic, &app, "s1", "k6").await, 401, "invalid_token").await;
    assert_eq!(
        app.level("s1", "A").await.available,
        1,
        "only the valid sale"
    );
}

#[tokio::test]
async fn rotating_a_secret_revokes_the_old_one_and_its_tokens() {
    let app = TestApp::spawn().await;
    let before = app.store_client("s1").await;
    assert_eq!(sell(&before, &app, "s1", "k1").await.status(), 200);

    let r = app
        .post("/v1/admin/stores/s1/rotate-secret", &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret_of("s1"));

    problem(sell(&before, &app, "s1", "k2").await, 401, "token_revoked").await;
    problem(
        app.sign_in("s1", &secret_of("s1")).await,
        401,
        "invalid_credentials",
    )
    .await;
    let r = app.sign_in("s1", &new_secret).await;
    assert_eq!(r.status(), 200);
    let token: TokenResponse = r.json().await.unwrap();
    assert_eq!(
        sell(&bearer(&token.access_token), &app, "s1", "k3")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_deactivated_store_is_locked_out_until_activated() {
    let app = TestApp::spawn().await;
    let s2 = app.store_client("s2").await;
    let r = app.post("/v1/admin/stores/s2/deactivate", &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    problem(sell(&s2, &app, "s2", "k1").await, 401, "token_revoked").await;
    problem(
        app.sign_in("s2", &secret_of("s2")).await,
        401,
        "invalid_credentials",
    )
    .await;

    app.post("/v1/admin/stores/s2/activate", &json!({})).await;
    let s2 = app.store_client("s2").await;
    assert_eq!(sell(&s2, &app, "s2", "k2").await.status(), 200);
    problem(
        app.post("/v1/admin/stores/zz/deactivate", &json!({})).await,
        404,
        "store_not_found",
    )
    .await;
}

#[tokio::test]
async fn an_admin_token_from_an_api_key_opens_admin_routes() {
    let app = TestApp::spawn().await;
    let r = reqwest::Client::new()
        .post(app.url("/v1/auth/token"))
        .json(&json!({"api_key": ADMIN_KEY}))
        .send()
        .await
        .unwrap();
    let token: TokenResponse = r.json().await.unwrap();
    assert_eq!(token.role, shared::Role::Admin);
    let admin = bearer(&token.access_token);
    let r = admin.get(app.url("/v1/admin/stores")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Registering a store shows its secret once; listings never do.
    let r = admin
        .post(app.url("/v1/admin/stores"))
        .json(&json!({"store_id": "s3", "name": "Three"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(app.sign_in("s3", secret).await.status(), 200);
    let listing = admin
        .get(app.url("/v1/admin/stores"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listing.contains("secret") && !listing.contains("argon2"));
}

#[tokio::test]
async fn admin_store_listing_shows_replication_lag() {
    let app = TestApp::spawn().await;
    let s1 = app.store_client("s1").await;
    let head = app.head().await;
    let from = head - 2;
    let r = s1
        .get(app.url(&format!("/v1/replication/changes?from={from}&store=s1")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.set_stock("s2", "A", 3).await;
    let stores: Vec<shared::StoreStatus> = app.get("/v1/admin/stores").await.json().await.unwrap();
    let s1 = stores.iter().find(|s| s.store.store_id == "s1").unwrap();
    let position = s1.replication.as_ref().expect("s1 has fetched");
    assert_eq!((position.offset, position.lag), (from, 3));
    let s2 = stores.iter().find(|s| s.store.store_id == "s2").unwrap();
    assert!(s2.replication.is_none());
}

#[tokio::test]
async fn rate_limits_answer_429_then_recover() {
    let app = TestApp::spawn_bare(|c| {
        c.rate_limit = true;
        c.rate_limit_per_second = 2;
        c.rate_limit_burst = 3;
        c.admin_rate_limit_per_second = 1;
        c.admin_rate_limit_burst = 1;
    })
    .await;
    app.create_store("s1").await;
    let s1 = app.store_client("s1").await;
    let list = |client: &reqwest::Client| client.get(app.url("/v1/products")).send();
    for _ in 0..3 {
        assert_eq!(list(&s1).await.unwrap().status(), 200);
    }
    let limited = list(&s1).await.unwrap();
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry));
    problem(limited, 429, "rate_limited").await;

    // Each client has its own budget; admin routes have a lower one.
    let admin = client_with(&[("x-api-key", OTHER_ADMIN_KEY)]);
    let stores = || admin.get(app.url("/v1/admin/stores")).send();
    assert_eq!(stores().await.unwrap().status(), 200);
    problem(stores().await.unwrap(), 429, "rate_limited").await;
    assert_eq!(
        list(&admin).await.unwrap().status(),
        200,
        "general budget left"
    );

    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(list(&s1).await.unwrap().status(), 200, "recovered");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("stockline_rate_limited_total"));
}

/// A till's request budget is its own: one till that spends all of it
/// leaves the other tills of its store theirs, and the store's tills
/// together are still bounded by the store's cap (two clients' worth
/// here), which the store's own credential shares. Nothing refills during
/// the test (0 a second: one a minute).
#[tokio::test]
async fn a_tills_request_budget_is_its_own_inside_its_stores() {
    let app = TestApp::spawn_bare(|c| {
        c.rate_limit = true;
        c.rate_limit_per_second = 0;
        c.rate_limit_burst = 10;
        c.store_budget_clients = 2;
    })
    .await;
    app.create_store("s1").await;
    let (one, two) = (
        app.enrolled("s1", "Till 1").await,
        app.enrolled("s1", "Till 2").await,
    );
    let (one, two) = (app.device_client(&one).await, app.device_client(&two).await);
    let list = |client: &reqwest::Client| client.get(app.url("/v1/products")).send();
    for _ in 0..10 {
        assert_eq!(list(&one).await.unwrap().status(), 200);
    }
    let limited = problem(list(&one).await.unwrap(), 429, "rate_limited").await;
    assert!(!limited.detail.unwrap_or_default().contains("store"));
    for _ in 0..10 {
        let listed = list(&two).await.unwrap();
        assert_eq!(listed.status(), 200, "till 1 spent only its own budget");
    }
    // Twenty requests of s1's went through: its cap is spent, whichever of
    // its credentials asks next, though this one's own budget is whole.
    let store = app.store_client("s1").await;
    let capped = problem(list(&store).await.unwrap(), 429, "rate_limited").await;
    let detail = capped.detail.unwrap_or_default();
    assert!(detail.contains("for this store"), "{detail}");
    let admin = client_with(&[("x-api-key", OTHER_ADMIN_KEY)]);
    assert_eq!(list(&admin).await.unwrap().status(), 200, "not a store's");
}

/// Write lines likewise: a till's own, then its store's.
#[tokio::test]
async fn a_tills_write_lines_are_its_own_inside_its_stores() {
    let app = TestApp::spawn_bare(|c| {
        c.rate_limit = true;
        c.write_items_per_second = 0;
        c.write_items_burst = 3;
        c.store_budget_clients = 2;
    })
    .await;
    app.create_store("s1").await;
    app.create_product("A").await;
    let (one, two) = (
        app.enrolled("s1", "Till 1").await,
        app.enrolled("s1", "Till 2").await,
    );
    let (one, two) = (app.device_client(&one).await, app.device_client(&two).await);
    let sell = |client: &reqwest::Client, lines: usize, tag: &str| {
        let items: Vec<Value> = (0..lines)
            .map(|i| json!({"idempotency_key": format!("{tag}-{i}"), "sku": "A", "delta": 1}))
            .collect();
        client
            .post(app.url("/v1/stores/s1/adjustments/batch"))
            .json(&json!({ "items": items }))
            .send()
    };
    assert_eq!(sell(&one, 3, "one").await.unwrap().status(), 200);
    let limited = problem(
        sell(&one, 1, "one-more").await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
    assert!(!limited.detail.unwrap_or_default().contains("store"));
    let sold = sell(&two, 3, "two").await.unwrap();
    assert_eq!(sold.status(), 200, "till 1 spent only its own lines");
    let store = app.store_client("s1").await;
    let capped = problem(sell(&store, 1, "store").await.unwrap(), 429, "rate_limited").await;
    let detail = capped.detail.unwrap_or_default();
    assert!(detail.contains("for this store"), "{detail}");
}

#[tokio::test]
async fn request_ids_are_propagated_or_made() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "till-7-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "till-7-req-42");
    let r = app.get("/healthz").await;
    assert_eq!(r.headers()["x-request-id"].len(), 36, "a UUID was made");
}
