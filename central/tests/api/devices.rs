//! Enrolled devices (tills): enrolled once with the store's secret, signed
//! in with their own credential from then on, named on the events their
//! writes append, and revoked one by one.

use serde_json::{Value, json};
use shared::{Device, TokenResponse};

use crate::helpers::{TestApp, client_with, problem, secret_of};

async fn sell(
    client: &reqwest::Client,
    app: &TestApp,
    store: &str,
    key: &str,
) -> reqwest::Response {
    client
        .post(app.url(&format!("/v1/stores/{store}/adjustments")))
        .header("Idempotency-Key", key)
        .json(&json!({"sku": "A", "delta": -1, "kind": "recorded"}))
        .send()
        .await
        .unwrap()
}

/// Revokes a device, as an admin; the answer as it came.
async fn revoke(app: &TestApp, device_id: &str) -> reqwest::Response {
    app.post(&format!("/v1/admin/devices/{device_id}/revoke"), &json!({}))
        .await
}

/// The `device_id` of the event a write with `key` appended.
async fn device_on_event(app: &TestApp, key: &str) -> Value {
    let page = app.changes("from=0&limit=1000").await;
    let event = page
        .events
        .iter()
        .find(|e| serde_json::to_value(e).unwrap()["idempotency_key"] == key)
        .expect("the write's event");
    serde_json::to_value(event).unwrap()["device_id"].clone()
}

#[tokio::test]
async fn an_enrolled_device_signs_in_with_its_own_credential_and_is_named_on_its_writes() {
    let app = TestApp::spawn().await;
    let till = app.enrolled("s1", "Till 1").await;
    assert_eq!(till.device.store_id, "s1");
    assert_eq!(till.device.name, "Till 1");
    assert!(till.device.device_id.starts_with("dev-"));
    assert!(till.device.revoked_at.is_none());
    assert_ne!(
        till.device_secret,
        secret_of("s1"),
        "a credential of its own"
    );

    let r = app
        .device_sign_in(&till.device.device_id, &till.device_secret)
        .await;
    assert_eq!(r.status(), 200);
    let token: TokenResponse = r.json().await.unwrap();
    assert_eq!(token.store_id.as_deref(), Some("s1"));
    assert_eq!(
        token.device_id.as_deref(),
        Some(till.device.device_id.as_str())
    );

    let client = app.device_client(&till).await;
    assert_eq!(sell(&client, &app, "s1", "by-till").await.status(), 200);
    assert_eq!(
        device_on_event(&app, "by-till").await,
        till.device.device_id.as_str(),
        "central records the till that made the write"
    );
    // The store's own credentials still work, and name no device.
    let store = app.store_client("s1").await;
    assert_eq!(sell(&store, &app, "s1", "by-store").await.status(), 200);
    assert_eq!(device_on_event(&app, "by-store").await, Value::Null);

    // A device of s1 is s1: it cannot write s2.
    problem(
        sell(&client, &app, "s2", "elsewhere").await,
        403,
        "forbidden_store",
    )
    .await;
}

#[tokio::test]
async fn a_revoked_device_can_neither_use_its_token_nor_sign_in_and_the_others_go_on() {
    let app = TestApp::spawn().await;
    let one = app.enrolled("s1", "Till 1").await;
    let two = app.enrolled("s1", "Till 2").await;
    let (one_client, two_client) = (app.device_client(&one).await, app.device_client(&two).await);

    let r = revoke(&app, &one.device.device_id).await;
    assert_eq!(r.status(), 200);
    let revoked: Device = r.json().await.unwrap();
    assert!(revoked.revoked_at.is_some());

    // At once, without waiting for the token to expire.
    problem(
        sell(&one_client, &app, "s1", "k1").await,
        401,
        "token_revoked",
    )
    .await;
    let r = app
        .device_sign_in(&one.device.device_id, &one.device_secret)
        .await;
    problem(r, 401, "invalid_credentials").await;
    // The other till, and the store's secret, are untouched.
    assert_eq!(sell(&two_client, &app, "s1", "k2").await.status(), 200);
    assert_eq!(app.sign_in("s1", &secret_of("s1")).await.status(), 200);

    // Revoking again answers the device as it is.
    let again: Device = revoke(&app, &one.device.device_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);

    // The list keeps the revoked one, with when.
    let listed: Vec<Device> = app
        .get("/v1/admin/stores/s1/devices")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].device_id, one.device.device_id);
    assert!(listed[0].revoked_at.is_some());
    assert!(listed[1].revoked_at.is_none());
}

#[tokio::test]
async fn rotating_the_store_secret_leaves_its_devices_enrolled_and_deactivating_it_stops_them() {
    let app = TestApp::spawn().await;
    let till = app.enrolled("s1", "Till 1").await;
    let client = app.device_client(&till).await;
    let r = app
        .post("/v1/admin/stores/s1/rotate-secret", &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        sell(&client, &app, "s1", "after-rotation").await.status(),
        200
    );
    // The old store secret enrols nothing any more.
    problem(app.enrol("s1", "Till 2").await, 401, "invalid_credentials").await;

    let r = app.post("/v1/admin/stores/s1/deactivate", &json!({})).await;
    assert_eq!(r.status(), 200);
    problem(
        sell(&client, &app, "s1", "closed").await,
        401,
        "token_revoked",
    )
    .await;
    let r = app
        .device_sign_in(&till.device.device_id, &till.device_secret)
        .await;
    problem(r, 401, "invalid_credentials").await;

    // Open again: the till goes on with the credential it has.
    let r = app.post("/v1/admin/stores/s1/activate", &json!({})).await;
    assert_eq!(r.status(), 200);
    let client = app.device_client(&till).await;
    assert_eq!(sell(&client, &app, "s1", "reopened").await.status(), 200);
}

#[tokio::test]
async fn enrolment_refuses_a_wrong_secret_an_unknown_store_and_bad_fields() {
    let app = TestApp::spawn().await;
    let enrol = |body: Value| {
        let url = app.url("/v1/devices");
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let wrong =
        json!({"store_id": "s1", "client_secret": "not-the-secret-of-s1", "device_name": "T"});
    problem(enrol(wrong).await, 401, "invalid_credentials").await;
    let unknown =
        json!({"store_id": "nope", "client_secret": secret_of("nope"), "device_name": "T"});
    problem(enrol(unknown).await, 401, "invalid_credentials").await;
    let blank = json!({"store_id": "s1", "client_secret": secret_of("s1"), "device_name": "  "});
    let p = problem(enrol(blank).await, 422, "validation_failed").await;
    assert_eq!(p.errors[0].field, "device_name");
    let extra = json!({"store_id": "s1", "client_secret": secret_of("s1"), "device_name": "T", "role": "admin"});
    problem(enrol(extra).await, 422, "invalid_body").await;
    let missing = json!({"store_id": "s1", "client_secret": secret_of("s1")});
    problem(enrol(missing).await, 422, "invalid_body").await;
    // Nothing was enrolled by any of them.
    let listed: Vec<Device> = app
        .get("/v1/admin/stores/s1/devices")
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn a_device_credential_is_refused_when_wrong_and_never_names_another_device() {
    let app = TestApp::spawn().await;
    let one = app.enrolled("s1", "Till 1").await;
    let two = app.enrolled("s1", "Till 2").await;
    let r = app
        .device_sign_in(&one.device.device_id, &two.device_secret)
        .await;
    problem(r, 401, "invalid_credentials").await;
    let r = app
        .device_sign_in("dev-00000000000000000000", &one.device_secret)
        .await;
    problem(r, 401, "invalid_credentials").await;
    // A device id is not a store id: it does not sign in as a store.
    problem(
        app.sign_in(&one.device.device_id, &one.device_secret).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn a_store_enrols_at_most_its_limit_of_devices_and_revoking_one_frees_a_place() {
    let app = TestApp::spawn_with(|c| c.max_devices_per_store = 2).await;
    let first = app.enrolled("s1", "Till 1").await;
    app.enrolled("s1", "Till 2").await;
    let p = problem(app.enrol("s1", "Till 3").await, 409, "device_limit").await;
    assert!(p.detail.unwrap_or_default().contains('2'));
    // Another store has its own places.
    app.enrolled("s2", "Till 1").await;

    let r = revoke(&app, &first.device.device_id).await;
    assert_eq!(r.status(), 200);
    app.enrolled("s1", "Till 3").await;
}

#[tokio::test]
async fn device_admin_routes_answer_unknown_ids_and_refuse_stores() {
    let app = TestApp::spawn().await;
    problem(
        app.post("/v1/admin/devices/dev-unknown/revoke", &json!({}))
            .await,
        404,
        "device_not_found",
    )
    .await;
    problem(
        app.get("/v1/admin/stores/nope/devices").await,
        404,
        "store_not_found",
    )
    .await;
    let till = app.enrolled("s1", "Till 1").await;
    let client = app.device_client(&till).await;
    let r = client
        .post(app.url(&format!(
            "/v1/admin/devices/{}/revoke",
            till.device.device_id
        )))
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    let anonymous = client_with(&[]);
    let r = anonymous
        .get(app.url("/v1/admin/stores/s1/devices"))
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn enrolled_devices_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let till = app.enrolled("s1", "Till 1").await;
    let revoked = app.enrolled("s1", "Till 2").await;
    let r = revoke(&app, &revoked.device.device_id).await;
    assert_eq!(r.status(), 200);
    app.restart().await;
    let client = app.device_client(&till).await;
    assert_eq!(
        sell(&client, &app, "s1", "after-restart").await.status(),
        200
    );
    let r = app
        .device_sign_in(&revoked.device.device_id, &revoked.device_secret)
        .await;
    problem(r, 401, "invalid_credentials").await;
}

/// Enrolment is a sign-in with the store's secret: guessing it is budgeted
/// as guessing a sign-in is, per store from an address and per address,
/// and a guesser that is blocked is refused unchecked (the right secret
/// too, from that address; from others, see `credentials.rs`).
#[tokio::test]
async fn guessing_a_store_secret_at_enrolment_or_a_device_secret_is_budgeted() {
    let app = TestApp::spawn_with(|c| {
        c.auth_failures_per_client = 3;
        c.auth_failures_per_address = 100;
    })
    .await;
    let wrong =
        json!({"store_id": "s1", "client_secret": "not-the-secret-of-s1", "device_name": "T"});
    for _ in 0..3 {
        let r = reqwest::Client::new()
            .post(app.url("/v1/devices"))
            .json(&wrong)
            .send()
            .await
            .unwrap();
        problem(r, 401, "invalid_credentials").await;
    }
    problem(app.enrol("s1", "Till 1").await, 429, "rate_limited").await;
    // Another store is not held up by s1's guesser.
    let till = app.enrolled("s2", "Till 1").await;
    for _ in 0..3 {
        let r = app
            .device_sign_in(&till.device.device_id, "not-the-device-secret-0123")
            .await;
        problem(r, 401, "invalid_credentials").await;
    }
    let r = app
        .device_sign_in(&till.device.device_id, &till.device_secret)
        .await;
    problem(r, 429, "rate_limited").await;
}

#[tokio::test]
async fn guessing_at_enrolment_counts_against_the_address() {
    let app = TestApp::spawn_with(|c| {
        c.auth_failures_per_address = 3;
        c.auth_failures_per_client = 100;
    })
    .await;
    for i in 0..3 {
        let guess = json!({"store_id": format!("nobody-{i}"), "client_secret": "guess-guess-guess-0", "device_name": "T"});
        let r = reqwest::Client::new()
            .post(app.url("/v1/devices"))
            .json(&guess)
            .send()
            .await
            .unwrap();
        problem(r, 401, "invalid_credentials").await;
    }
    // Blocked: the right secret of a real store is refused unchecked.
    problem(app.enrol("s1", "Till 1").await, 429, "rate_limited").await;
}
