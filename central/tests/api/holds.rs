//! Holds over HTTP: a sales channel holds, extends, commits and releases;
//! a store hands over at its counter; every refusal, and who may do what.
//! (Each transition's rules, allocation and the `held` invariant are
//! tested below HTTP, in the ledger's suite, on both backends.)

use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::{Value, json};
use shared::{Change, Hold, HoldState, ProductAvailability};

use crate::helpers::{TestApp, client_with, problem, secret_of};

const WEB: &str = "web";

struct Shop {
    app: TestApp,
    web: Client,
}

impl Shop {
    /// A central with s1 and s2 holding 5 A each, and the channel `web`.
    async fn open() -> Shop {
        let app = TestApp::spawn().await;
        app.set_stock("s1", "A", 5).await;
        app.set_stock("s2", "A", 5).await;
        app.create_channel(WEB).await;
        let web = app.channel_client(WEB).await;
        Shop { app, web }
    }

    async fn send(&self, client: &Client, path: &str, key: &str, body: &Value) -> Response {
        client
            .post(self.app.url(path))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    async fn place(&self, key: &str, body: &Value) -> Response {
        self.send(&self.web, "/v1/holds", key, body).await
    }

    async fn placed(&self, key: &str, body: &Value) -> Hold {
        let r = self.place(key, body).await;
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        r.json().await.expect("hold")
    }

    async fn act(
        &self,
        client: &Client,
        hold: &str,
        action: &str,
        key: &str,
        body: &Value,
    ) -> Response {
        let path = format!("/v1/holds/{hold}/{action}");
        self.send(client, &path, key, body).await
    }
}

fn one(sku: &str, quantity: i64, store: &str) -> Value {
    json!({"reference": "order-1", "lines": [{"sku": sku, "quantity": quantity, "store_id": store}]})
}

#[tokio::test]
async fn a_channel_holds_and_a_store_hands_the_goods_over_at_its_counter() {
    let shop = Shop::open().await;
    shop.app.set_stock("s2", "A", 6).await;
    let body = json!({
        "reference": "order-7",
        "lines": [{"sku": "A", "quantity": 7}],
        "ttl_seconds": 600,
    });
    let hold = shop.placed("h1", &body).await;
    assert_eq!(hold.state, HoldState::Active);
    assert_eq!(hold.reference, "order-7");
    assert_eq!(
        hold.expires_at - hold.created_at,
        time::Duration::seconds(600)
    );
    let split: Vec<_> = hold
        .lines
        .iter()
        .map(|l| (l.store_id.as_str(), l.quantity))
        .collect();
    assert_eq!(split, [("s1", 1), ("s2", 6)], "most available first, split");

    let replay = shop.place("h1", &body).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Hold>().await.unwrap(), hold);

    let level = shop.app.level("s2", "A").await;
    assert_eq!((level.available, level.held, level.on_hand()), (0, 6, 6));
    let asked = shop
        .web
        .post(shop.app.url("/v1/availability"))
        .json(&json!({"skus": ["A", "B"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    let asked: Vec<ProductAvailability> = asked.json().await.unwrap();
    assert_eq!(
        (asked[0].product.sku.as_str(), asked[0].total, asked[0].held),
        ("A", 4, 7)
    );
    assert_eq!((asked[1].product.sku.as_str(), asked[1].total), ("B", 0));

    // The store sees its pick-up, and hands its part over.
    let s2 = shop.app.store_client("s2").await;
    let pickups = s2
        .get(shop.app.url("/v1/stores/s2/holds"))
        .send()
        .await
        .unwrap();
    let pickups: Vec<Hold> = pickups.json().await.unwrap();
    assert_eq!(pickups.len(), 1);
    assert_eq!(pickups[0].hold_id, hold.hold_id);
    let handed = shop
        .act(&s2, &hold.hold_id, "commit", "pickup-1", &json!({}))
        .await;
    assert_eq!(handed.status(), 200, "{:?}", handed.text().await);
    let handed: Hold = handed.json().await.unwrap();
    assert_eq!(handed.state, HoldState::Active, "s1's line is still held");
    let level = shop.app.level("s2", "A").await;
    assert_eq!((level.available, level.held, level.on_hand()), (0, 0, 0));

    // The channel cancels the rest; the log has every transition.
    let released = shop
        .act(&shop.web, &hold.hold_id, "release", "cancel-1", &json!({}))
        .await;
    assert_eq!(released.status(), 200);
    assert_eq!(
        released.json::<Hold>().await.unwrap().state,
        HoldState::Committed
    );
    assert_eq!(shop.app.level("s1", "A").await.available, 5);
    let kinds: Vec<&str> = shop
        .app
        .changes("from=0")
        .await
        .events
        .iter()
        .map(|e| e.change.kind())
        .filter(|k| k.starts_with("hold_"))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        kinds,
        [
            "hold_placed",
            "hold_placed",
            "hold_committed",
            "hold_released"
        ]
    );
    let again = shop
        .act(&shop.web, &hold.hold_id, "release", "cancel-2", &json!({}))
        .await;
    let ended = problem(again, 409, "hold_ended").await;
    assert_eq!(ended.hold_state, Some(HoldState::Committed));
}

#[tokio::test]
async fn a_basket_that_does_not_fit_is_refused_whole_with_what_each_sku_lacks() {
    let shop = Shop::open().await;
    let head = shop.app.head().await;
    let basket = json!({"reference": "order-2", "lines": [
        {"sku": "A", "quantity": 3, "store_id": "s1"},
        {"sku": "A", "quantity": 3, "store_id": "s1"},
    ]});
    let refused = problem(shop.place("b1", &basket).await, 409, "hold_unavailable").await;
    assert_eq!(refused.shortfalls.len(), 1);
    let lack = &refused.shortfalls[0];
    assert_eq!((lack.requested, lack.available), (6, 5));
    assert_eq!(shop.app.head().await, head, "nothing held, nothing logged");
    let reused = shop.place("b1", &one("A", 1, "s1")).await;
    problem(reused, 422, "idempotency_key_reused").await;
    problem(
        shop.place("b2", &one("Z", 1, "s1")).await,
        404,
        "product_not_found",
    )
    .await;
    problem(
        shop.place("b3", &one("A", 1, "s9")).await,
        404,
        "store_not_found",
    )
    .await;
    let closed = shop
        .app
        .post("/v1/admin/stores/s2/deactivate", &json!({}))
        .await;
    assert_eq!(closed.status(), 200);
    let at_closed = shop.place("b4", &one("A", 1, "s2")).await;
    problem(at_closed, 409, "store_inactive").await;
}

#[tokio::test]
async fn commits_of_more_than_held_or_of_lines_a_hold_lacks_change_nothing() {
    let shop = Shop::open().await;
    let hold = shop.placed("h1", &one("A", 2, "s1")).await;
    let line = |sku: &str, quantity: i64| json!({"lines": [{"store_id": "s1", "sku": sku, "quantity": quantity}]});
    let more = shop
        .act(&shop.web, &hold.hold_id, "commit", "c1", &line("A", 3))
        .await;
    problem(more, 409, "commit_exceeds_held").await;
    let other = shop
        .act(&shop.web, &hold.hold_id, "commit", "c2", &line("B", 1))
        .await;
    problem(other, 409, "hold_line_not_found").await;
    let unknown = shop
        .act(&shop.web, "hold-nope", "commit", "c3", &json!({}))
        .await;
    problem(unknown, 404, "hold_not_found").await;
    assert_eq!(shop.app.level("s1", "A").await.held, 2);

    let partial = shop
        .act(&shop.web, &hold.hold_id, "commit", "c4", &line("A", 1))
        .await;
    assert_eq!(partial.status(), 200);
    let level = shop.app.level("s1", "A").await;
    assert_eq!(
        (level.available, level.held),
        (4, 0),
        "one left, one back on sale"
    );
    let replay = shop
        .act(&shop.web, &hold.hold_id, "commit", "c4", &line("A", 1))
        .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let twice = shop
        .act(&shop.web, &hold.hold_id, "commit", "c5", &json!({}))
        .await;
    problem(twice, 409, "hold_ended").await;
    assert_eq!(shop.app.level("s1", "A").await.available, 4, "applied once");
}

#[tokio::test]
async fn every_malformed_hold_request_is_refused_with_its_fields() {
    let shop = Shop::open().await;
    let cases = [
        json!({"reference": "o", "lines": []}),
        json!({"reference": "o", "lines": [{"sku": "A", "quantity": 0}]}),
        json!({"reference": "", "lines": [{"sku": "A", "quantity": 1}]}),
        json!({"reference": "o", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 0}),
        json!({"reference": "o", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 86_401}),
        json!({"reference": "o", "lines": [{"sku": "A", "quantity": 1}],
               "allocation": {"policy": "priority", "stores": []}}),
    ];
    for (i, body) in cases.iter().enumerate() {
        let r = shop.place(&format!("bad-{i}"), body).await;
        let refused = problem(r, 422, "validation_failed").await;
        assert!(!refused.errors.is_empty(), "{body}");
    }
    // Every list a client sends has its bound.
    let stores: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
    let listed = json!({"reference": "o", "lines": [{"sku": "A", "quantity": 1}],
                        "allocation": {"policy": "priority", "stores": stores}});
    problem(
        shop.place("stores", &listed).await,
        422,
        "validation_failed",
    )
    .await;
    let skus: Vec<String> = (0..201).map(|i| format!("S{i}")).collect();
    let asked = shop
        .web
        .post(shop.app.url("/v1/availability"))
        .json(&json!({ "skus": skus }));
    problem(asked.send().await.unwrap(), 422, "validation_failed").await;
    let lines: Vec<Value> = (0..101)
        .map(|_| json!({"sku": "A", "quantity": 1}))
        .collect();
    let r = shop
        .place("many", &json!({"reference": "o", "lines": lines}))
        .await;
    problem(r, 422, "validation_failed").await;
    let r = shop
        .place("shape", &json!({"reference": "o", "lines": [{"sku": "A"}]}))
        .await;
    problem(r, 422, "invalid_body").await;
    let keyless = shop
        .web
        .post(shop.app.url("/v1/holds"))
        .json(&one("A", 1, "s1"))
        .send()
        .await
        .unwrap();
    problem(keyless, 400, "idempotency_key_missing").await;
    let hold = shop.placed("ok", &one("A", 1, "s1")).await;
    let twice = json!({"lines": [
        {"store_id": "s1", "sku": "A", "quantity": 1},
        {"store_id": "s1", "sku": "A", "quantity": 1},
    ]});
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"store_id": "s1", "sku": "A", "quantity": 0}))
        .collect();
    let r = shop
        .act(
            &shop.web,
            &hold.hold_id,
            "commit",
            "many",
            &json!({ "lines": many }),
        )
        .await;
    problem(r, 422, "validation_failed").await;
    // Lines naming the same line add up: two units of the one held.
    let r = shop
        .act(&shop.web, &hold.hold_id, "commit", "c", &twice)
        .await;
    let refused = problem(r, 409, "commit_exceeds_held").await;
    assert!(
        refused
            .detail
            .unwrap_or_default()
            .contains("cannot hand over 2")
    );
    let extra = json!({"reference": "o", "lines": [{"sku": "A", "quantity": 1}],
                       "allocation": {"policy": "most_available", "stores": ["s1"]}});
    problem(shop.place("extra", &extra).await, 422, "invalid_body").await;
    let r = shop
        .act(
            &shop.web,
            &hold.hold_id,
            "extend",
            "e",
            &json!({"ttl_seconds": 0}),
        )
        .await;
    problem(r, 422, "validation_failed").await;
    let r = shop
        .web
        .post(shop.app.url("/v1/availability"))
        .json(&json!({"skus": []}))
        .send();
    problem(r.await.unwrap(), 422, "validation_failed").await;
}

#[tokio::test]
async fn each_caller_may_do_only_its_part() {
    let shop = Shop::open().await;
    let hold = shop.placed("h1", &one("A", 1, "s1")).await;
    let s1 = shop.app.store_client("s1").await;
    let s2 = shop.app.store_client("s2").await;

    // A store neither places nor extends; another store's hold is unknown
    // to it; an admin does not commit (it may release: undoing what a
    // channel did, tested with the channel's bounds).
    problem(
        shop.send(&s1, "/v1/holds", "x", &one("A", 1, "s1")).await,
        403,
        "forbidden",
    )
    .await;
    problem(
        shop.act(&s1, &hold.hold_id, "extend", "x", &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let other = shop
        .act(&s2, &hold.hold_id, "commit", "x", &json!({}))
        .await;
    problem(other, 404, "hold_not_found").await;
    let read = s2
        .get(shop.app.url(&format!("/v1/holds/{}", hold.hold_id)))
        .send()
        .await
        .unwrap();
    problem(read, 404, "hold_not_found").await;
    let admin = &shop.app.client;
    problem(
        shop.act(admin, &hold.hold_id, "commit", "x", &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let pickups = s2
        .get(shop.app.url("/v1/stores/s1/holds"))
        .send()
        .await
        .unwrap();
    problem(pickups, 403, "forbidden_store").await;

    // A channel stays off stock, replication and admin routes.
    let sale = json!({"sku": "A", "delta": -1});
    let sale = shop.send(&shop.web, "/v1/stores/s1/adjustments", "x", &sale);
    problem(sale.await, 403, "forbidden_channel").await;
    let changes = shop
        .web
        .get(shop.app.url("/v1/replication/changes?from=0"))
        .send()
        .await
        .unwrap();
    problem(changes, 403, "forbidden_channel").await;
    let admin_route = shop
        .web
        .get(shop.app.url("/v1/admin/channels"))
        .send()
        .await
        .unwrap();
    problem(admin_route, 403, "forbidden").await;
    let pickups = shop
        .web
        .get(shop.app.url("/v1/stores/s1/holds"))
        .send()
        .await
        .unwrap();
    problem(pickups, 403, "forbidden_channel").await;

    // Another channel's hold is unknown to it.
    shop.app.create_channel("marketplace").await;
    let market = shop.app.channel_client("marketplace").await;
    let theirs = shop
        .act(&market, &hold.hold_id, "release", "x", &json!({}))
        .await;
    problem(theirs, 404, "hold_not_found").await;
    let mine = shop
        .web
        .get(shop.app.url(&format!("/v1/holds/{}", hold.hold_id)))
        .send()
        .await;
    assert_eq!(mine.unwrap().status(), 200);
    assert_eq!(shop.app.level("s1", "A").await.held, 1, "nothing moved");
}

#[tokio::test]
async fn a_deactivated_channel_is_signed_out_everywhere() {
    let shop = Shop::open().await;
    let r = shop
        .app
        .post("/v1/admin/channels/web/deactivate", &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    problem(
        shop.place("h1", &one("A", 1, "s1")).await,
        401,
        "token_revoked",
    )
    .await;
    let r = shop.app.channel_sign_in(WEB, &secret_of(WEB)).await;
    problem(r, 401, "invalid_credentials").await;
    let r = shop
        .app
        .channel_sign_in(WEB, "wrong-secret-0123456789")
        .await;
    problem(r, 401, "invalid_credentials").await;
    let r = shop
        .app
        .post("/v1/admin/channels/nope/deactivate", &json!({}))
        .await;
    problem(r, 404, "channel_not_found").await;
    let again = json!({"channel_id": WEB, "name": "Web", "channel_secret": secret_of(WEB)});
    problem(
        shop.app.post("/v1/admin/channels", &again).await,
        409,
        "channel_exists",
    )
    .await;
    let r = shop
        .app
        .post(
            "/v1/admin/channels/web/activate?keep_secret=true",
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let web = shop.app.channel_client(WEB).await;
    let token = web
        .post(shop.app.url("/v1/holds"))
        .header("Idempotency-Key", "h2")
        .json(&one("A", 1, "s1"));
    assert_eq!(token.send().await.unwrap().status(), 201, "signed in again");
    let stale = client_with(&[("authorization", "Bearer not-a-token")]);
    let r = stale
        .post(shop.app.url("/v1/availability"))
        .json(&json!({"skus": ["A"]}))
        .send();
    problem(r.await.unwrap(), 401, "invalid_token").await;
}

/// The expiry runs by itself: a hold of one second is released about a
/// second later, once, and then can neither be extended nor committed.
/// (Expiry to the millisecond is tested on a clock the test moves, in the
/// ledger's suite.)
#[tokio::test]
async fn central_releases_a_hold_when_its_time_is_up() {
    let shop = Shop::open().await;
    let body = json!({"reference": "o", "lines": [{"sku": "A", "quantity": 2, "store_id": "s1"}],
                      "ttl_seconds": 1});
    let hold = shop.placed("h1", &body).await;
    let expired = async {
        loop {
            let read = shop
                .web
                .get(shop.app.url(&format!("/v1/holds/{}", hold.hold_id)));
            let read: Hold = read.send().await.unwrap().json().await.unwrap();
            if read.state == HoldState::Expired {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), expired)
        .await
        .expect("expired by central");
    let level = shop.app.level("s1", "A").await;
    assert_eq!((level.available, level.held), (5, 0));
    let r = shop
        .act(&shop.web, &hold.hold_id, "extend", "e1", &json!({}))
        .await;
    let refused = problem(r, 409, "hold_expired").await;
    assert_eq!(refused.hold_state, Some(HoldState::Expired));
    let r = shop
        .act(&shop.web, &hold.hold_id, "commit", "c1", &json!({}))
        .await;
    problem(r, 409, "hold_expired").await;
    let released = shop.app.changes("from=0").await.events.into_iter().filter(
        |e| matches!(&e.change, Change::HoldReleased { hold_id, .. } if *hold_id == hold.hold_id),
    );
    assert_eq!(released.count(), 1, "released once");
}

#[tokio::test]
async fn a_stores_snapshot_carries_its_active_holds_and_no_one_elses() {
    let shop = Shop::open().await;
    let at_s1 = shop.placed("h1", &one("A", 2, "s1")).await;
    let at_s2 = shop.placed("h2", &one("A", 1, "s2")).await;
    let ended = shop.placed("h3", &one("A", 1, "s1")).await;
    let r = shop
        .act(&shop.web, &ended.hold_id, "release", "r3", &json!({}))
        .await;
    assert_eq!(r.status(), 200);

    let snapshot = shop.app.snapshot("store=s1").await;
    assert_eq!(snapshot.holds, vec![at_s1], "active holds at s1 only");
    let level = snapshot.levels.iter().find(|l| l.sku == "A").expect("A");
    assert_eq!((level.available, level.held), (3, 2));
    assert_eq!(shop.app.snapshot("store=s2").await.holds, vec![at_s2]);
    assert!(
        shop.app.snapshot("").await.holds.is_empty(),
        "a chain-wide snapshot carries none"
    );
}

/// A basket that names a sku twice is answered once per sku, in the order
/// the skus were first asked, each with its stores in store order; of
/// several unknown skus, the first asked is the one refused.
#[tokio::test]
async fn availability_answers_each_sku_once_in_the_order_first_asked() {
    let shop = Shop::open().await;
    shop.app.set_stock("s2", "B", 3).await;
    let ask = |skus: Value| {
        shop.web
            .post(shop.app.url("/v1/availability"))
            .json(&json!({ "skus": skus }))
            .send()
    };
    let asked = ask(json!(["B", "A", "B", "A", "B"])).await.unwrap();
    assert_eq!(asked.status(), 200);
    let asked: Vec<ProductAvailability> = asked.json().await.unwrap();
    let answered: Vec<(&str, i64, Vec<&str>)> = asked
        .iter()
        .map(|p| {
            let stores = p.stores.iter().map(|s| s.store_id.as_str()).collect();
            (p.product.sku.as_str(), p.total, stores)
        })
        .collect();
    assert_eq!(
        answered,
        [("B", 3, vec!["s2"]), ("A", 10, vec!["s1", "s2"])],
        "each sku once, in the order first asked"
    );

    let refused = ask(json!(["A", "NOPE-2", "A", "NOPE-1"])).await.unwrap();
    let refused = problem(refused, 404, "product_not_found").await;
    let detail = refused.detail.unwrap_or_default();
    assert!(detail.contains("NOPE-2"), "{detail}");
}
