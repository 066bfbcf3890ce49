//! A sales channel is a principal outside the chain's walls: what one,
//! leaked or buggy, can do to the chain's stock over HTTP, and how an
//! operator sees and undoes it — its limits and every refusal they give,
//! the stores' safety stock, an admin releasing any hold, deactivation
//! giving back all it holds, its secret rotated, its reactivation, and a
//! store seeing only its own part of a hold. (The rules are tested below
//! HTTP on both backends, in the ledger's suite.)

use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::{Value, json};
use shared::{
    Change, Channel, ChannelActivated, ChannelCredentials, ChannelHolds, Hold, ReleaseReason,
};

use crate::helpers::{TestApp, problem, secret_of};

async fn send(app: &TestApp, client: &Client, path: &str, key: &str, body: &Value) -> Response {
    client
        .post(app.url(path))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("POST")
}

async fn put(app: &TestApp, path: &str, body: &Value) -> Response {
    app.client
        .put(app.url(path))
        .json(body)
        .send()
        .await
        .expect("PUT")
}

/// What `client` reads at `path`, as `T`.
async fn read<T: serde::de::DeserializeOwned>(app: &TestApp, client: &Client, path: &str) -> T {
    let r = client.get(app.url(path)).send().await.expect("GET");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("body")
}

/// A hold placed by `client`, as answered.
async fn placed(app: &TestApp, client: &Client, key: &str, body: &Value) -> Hold {
    let r = send(app, client, "/v1/holds", key, body).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    r.json().await.expect("hold")
}

fn order(quantity: i64, store: Option<&str>) -> Value {
    let mut line = json!({"sku": "A", "quantity": quantity});
    if let Some(store) = store {
        line["store_id"] = json!(store);
    }
    json!({"reference": "order-1", "lines": [line]})
}

/// A central with s1 and s2 holding 5 A each, and the channel `web`
/// signed in.
async fn shop() -> (TestApp, Client) {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 5).await;
    app.set_stock("s2", "A", 5).await;
    app.create_channel("web").await;
    let web = app.channel_client("web").await;
    (app, web)
}

/// Waits, with a deadline, until `done` holds for what `read` gives.
async fn eventually<T, F: std::future::Future<Output = T>>(
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = read().await;
        if done(&value) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_channels_limits_bound_what_it_holds_and_each_refusal_says_the_bound() {
    let (app, web) = shop().await;
    let limits =
        json!({"max_held_units": 6, "max_level_share_percent": 80, "max_hold_life_seconds": 600});
    let set = put(&app, "/v1/admin/channels/web/limits", &limits).await;
    assert_eq!(set.status(), 200, "{:?}", set.text().await);
    let channel: Channel = set.json().await.unwrap();
    assert_eq!(channel.limits.max_held_units, 6);

    // 80 % of s1's 5: 4 units.
    let share = send(&app, &web, "/v1/holds", "h1", &order(5, Some("s1"))).await;
    let share = problem(share, 409, "hold_unavailable").await;
    assert_eq!(
        (share.shortfalls[0].available, share.shortfalls[0].withheld),
        (4, 1)
    );
    let held = send(&app, &web, "/v1/holds", "h2", &order(4, Some("s1"))).await;
    assert_eq!(held.status(), 201);
    let over = send(&app, &web, "/v1/holds", "h3", &order(3, Some("s2"))).await;
    let over = problem(over, 409, "channel_hold_limit").await;
    let bound = over.channel_limit.expect("the bound, in the problem");
    assert_eq!(
        (bound.max_held_units, bound.held_units, bound.requested),
        (6, 4, 3)
    );

    let long =
        json!({"reference": "o", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 601});
    let long = problem(
        send(&app, &web, "/v1/holds", "h4", &long).await,
        409,
        "hold_life_exceeded",
    )
    .await;
    assert!(long.latest_expires_at.is_some());

    // The stores' safety stock is kept from every channel.
    let safety = put(
        &app,
        "/v1/admin/stores/s2/safety-stock",
        &json!({"units": 4}),
    )
    .await;
    assert_eq!(safety.status(), 200);
    let short = send(&app, &web, "/v1/holds", "h5", &order(2, Some("s2"))).await;
    let short = problem(short, 409, "hold_unavailable").await;
    assert_eq!(
        (short.shortfalls[0].available, short.shortfalls[0].withheld),
        (1, 4)
    );
    let listed: Vec<Channel> = read(&app, &app.client, "/v1/admin/channels").await;
    assert_eq!(listed[0].held_units, 4);

    // Bounds out of range, and unknown targets.
    for bad in [
        json!({"max_held_units": 0, "max_level_share_percent": 50, "max_hold_life_seconds": 60}),
        json!({"max_held_units": 5, "max_level_share_percent": 101, "max_hold_life_seconds": 60}),
        json!({"max_held_units": 5, "max_level_share_percent": 50, "max_hold_life_seconds": 0}),
        json!({"max_held_units": 5, "max_level_share_percent": 50, "max_hold_life_seconds": 604_801}),
    ] {
        let r = put(&app, "/v1/admin/channels/web/limits", &bad).await;
        problem(r, 422, "validation_failed").await;
    }
    problem(
        put(
            &app,
            "/v1/admin/channels/web/limits",
            &json!({"max_held_units": 5}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    let fine =
        json!({"max_held_units": 5, "max_level_share_percent": 50, "max_hold_life_seconds": 60});
    problem(
        put(&app, "/v1/admin/channels/nope/limits", &fine).await,
        404,
        "channel_not_found",
    )
    .await;
    problem(
        put(
            &app,
            "/v1/admin/stores/s1/safety-stock",
            &json!({"units": -1}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        put(
            &app,
            "/v1/admin/stores/s9/safety-stock",
            &json!({"units": 1}),
        )
        .await,
        404,
        "store_not_found",
    )
    .await;
    // Only an admin sets them.
    let refused = web
        .put(app.url("/v1/admin/channels/web/limits"))
        .json(&fine)
        .send()
        .await
        .unwrap();
    problem(refused, 403, "forbidden").await;
}

#[tokio::test]
async fn an_admin_releases_any_hold_and_sees_what_a_channel_holds() {
    let (app, web) = shop().await;
    let hold: Hold = placed(&app, &web, "h1", &order(7, None)).await;
    let held: ChannelHolds = read(&app, &app.client, "/v1/admin/channels/web/holds").await;
    assert_eq!((held.active_holds, held.channel.held_units), (1, 7));
    let per_store: Vec<_> = held
        .stores
        .iter()
        .map(|s| (s.store_id.as_str(), s.held_units))
        .collect();
    assert_eq!(per_store, [("s1", 5), ("s2", 2)]);
    assert_eq!(held.holds[0].hold_id, hold.hold_id);

    let path = format!("/v1/holds/{}/commit", hold.hold_id);
    let commit = send(&app, &app.client, &path, "c1", &json!({})).await;
    problem(commit, 403, "forbidden").await;
    let path = format!("/v1/holds/{}/release", hold.hold_id);
    let released = send(&app, &app.client, &path, "r1", &json!({})).await;
    assert_eq!(released.status(), 200, "{:?}", released.text().await);
    assert_eq!(app.level("s1", "A").await.available, 5);
    let named = app.changes("from=0").await.events.into_iter().filter(|e| {
        matches!(
            &e.change,
            Change::HoldReleased {
                reason: ReleaseReason::Admin,
                admin: Some(_),
                ..
            }
        )
    });
    assert_eq!(named.count(), 2, "an event per store, naming the admin");
    let held: ChannelHolds = read(&app, &app.client, "/v1/admin/channels/web/holds").await;
    assert_eq!(
        (held.active_holds, held.channel.held_units, held.holds.len()),
        (0, 0, 0)
    );
    problem(
        app.get("/v1/admin/channels/nope/holds").await,
        404,
        "channel_not_found",
    )
    .await;
}

#[tokio::test]
async fn deactivating_a_channel_ends_its_tokens_and_gives_back_all_it_holds() {
    let (app, web) = shop().await;
    for i in 0..4 {
        let placed = send(&app, &web, "/v1/holds", &format!("h{i}"), &order(2, None)).await;
        assert_eq!(placed.status(), 201);
    }
    assert_eq!(
        app.level("s1", "A").await.held + app.level("s2", "A").await.held,
        8
    );
    let off = app
        .post("/v1/admin/channels/web/deactivate", &json!({}))
        .await;
    assert_eq!(off.status(), 200);
    let refused = send(&app, &web, "/v1/holds", "h9", &order(1, None)).await;
    problem(refused, 401, "token_revoked").await;
    let held = eventually(
        || async { read::<ChannelHolds>(&app, &app.client, "/v1/admin/channels/web/holds").await },
        |held| held.active_holds == 0,
    )
    .await;
    assert_eq!(
        (held.active_holds, held.channel.held_units),
        (0, 0),
        "given back by itself"
    );
    assert_eq!(app.level("s1", "A").await.available, 5);
    assert_eq!(app.level("s2", "A").await.available, 5);
    let reasons = app.changes("from=0").await.events.into_iter().filter(|e| {
        matches!(
            &e.change,
            Change::HoldReleased {
                reason: ReleaseReason::ChannelDeactivated,
                ..
            }
        )
    });
    assert!(reasons.count() >= 4);
}

#[tokio::test]
async fn a_rotated_or_reactivated_channel_signs_in_only_with_its_new_secret() {
    let (app, web) = shop().await;
    let rotated = app
        .post("/v1/admin/channels/web/rotate-secret", &json!({}))
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: ChannelCredentials = rotated.json().await.unwrap();
    assert_eq!(
        rotated.channel_secret.len(),
        64,
        "256 bits, made by central"
    );
    let old = send(&app, &web, "/v1/holds", "h1", &order(1, None)).await;
    problem(old, 401, "token_revoked").await;
    problem(
        app.channel_sign_in("web", &secret_of("web")).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.channel_sign_in("web", &rotated.channel_secret)
            .await
            .status(),
        200
    );
    problem(
        app.post("/v1/admin/channels/nope/rotate-secret", &json!({}))
            .await,
        404,
        "channel_not_found",
    )
    .await;

    // Activated again: a new secret unless the admin keeps the old one.
    app.post("/v1/admin/channels/web/deactivate", &json!({}))
        .await;
    let on = app
        .post("/v1/admin/channels/web/activate", &json!({}))
        .await;
    assert_eq!(on.status(), 200);
    let on: ChannelActivated = on.json().await.unwrap();
    let fresh = on.channel_secret.expect("a new secret");
    assert!(on.channel.active);
    problem(
        app.channel_sign_in("web", &rotated.channel_secret).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.channel_sign_in("web", &fresh).await.status(), 200);
    app.post("/v1/admin/channels/web/deactivate", &json!({}))
        .await;
    let kept = app
        .post(
            "/v1/admin/channels/web/activate?keep_secret=true",
            &json!({}),
        )
        .await;
    let kept: ChannelActivated = kept.json().await.unwrap();
    assert_eq!(kept.channel_secret, None);
    assert_eq!(app.channel_sign_in("web", &fresh).await.status(), 200);
    let bad = app
        .post(
            "/v1/admin/channels/web/activate?keep_secret=maybe",
            &json!({}),
        )
        .await;
    problem(bad, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_store_sees_only_its_own_lines_of_a_hold() {
    let (app, web) = shop().await;
    let hold: Hold = placed(&app, &web, "h1", &order(7, None)).await;
    assert_eq!(hold.lines.len(), 2, "split across s1 and s2");
    let s2 = app.store_client("s2").await;
    let seen: Hold = read(&app, &s2, &format!("/v1/holds/{}", hold.hold_id)).await;
    assert!(seen.lines.iter().all(|l| l.store_id == "s2") && seen.lines.len() == 1);
    let pickups: Vec<Hold> = read(&app, &s2, "/v1/stores/s2/holds").await;
    assert!(pickups[0].lines.iter().all(|l| l.store_id == "s2"));
    let snapshot = app.snapshot("store=s2").await;
    assert!(snapshot.holds[0].lines.iter().all(|l| l.store_id == "s2"));
    let handed = send(
        &app,
        &s2,
        &format!("/v1/holds/{}/commit", hold.hold_id),
        "p1",
        &json!({}),
    )
    .await;
    let handed: Hold = handed.json().await.unwrap();
    assert!(handed.lines.iter().all(|l| l.store_id == "s2"));
    // The channel and an admin see the whole hold.
    let whole: Hold = read(&app, &web, &format!("/v1/holds/{}", hold.hold_id)).await;
    assert_eq!(whole.lines.len(), 2);
}

/// Placing is charged by the lines allocation made, not the lines asked
/// for: one line split across two stores costs two.
#[tokio::test]
async fn a_hold_is_charged_the_lines_it_wrote() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = true;
        c.write_items_burst = 4;
        // One line a minute comes back: nothing refills during the test.
        c.write_items_per_second = 0;
    })
    .await;
    app.set_stock("s1", "A", 2).await;
    app.set_stock("s2", "A", 2).await;
    app.create_channel("web").await;
    let web = app.channel_client("web").await;
    let split = send(&app, &web, "/v1/holds", "h1", &order(4, None)).await;
    let split: Hold = split.json().await.unwrap();
    assert_eq!(split.lines.len(), 2, "one line asked, two written");
    // 2 of 4 spent: one more line and an extension (a line per store of
    // the hold: 2) leave nothing.
    let one = send(&app, &web, "/v1/holds", "h2", &order(1, Some("s1"))).await;
    assert_eq!(one.status(), 409, "nothing left to hold, but charged");
    let path = format!("/v1/holds/{}/extend", split.hold_id);
    let extend = send(&app, &web, &path, "e1", &json!({})).await;
    assert_eq!(extend.status(), 200);
    let again = send(&app, &web, &path, "e2", &json!({})).await;
    problem(again, 429, "rate_limited").await;
}
