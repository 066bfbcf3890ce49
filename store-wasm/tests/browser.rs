//! The store node in headless Chromium against a real central, started by
//! `cargo xtask test` on a free port with a fresh database; its URL and an
//! admin key arrive at build time (STOCKLINE_CENTRAL_URL, STOCKLINE_ADMIN_KEY).
#![cfg(target_arch = "wasm32")]

use serde_json::json;
use shared::AdjustKind;
use store_wasm::{
    browser::{HttpTransport, IdbStorage, JsClock, StoreNode},
    engine::{Config, Credential, Engine, IntentStatus, Storage, Synced},
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
mod storage_suite;
use common::*;

#[wasm_bindgen_test]
async fn indexeddb_passes_the_storage_suite() {
    storage_suite::run(async || {
        let name = format!("test-suite-{}", uuid::Uuid::new_v4().simple());
        IdbStorage::open(&name).await.expect("IndexedDB opens")
    })
    .await;
}

/// A store of its own for each test, with one product at `stock`.
async fn fixture(stock: i64) -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (store, sku) = (format!("w{}", &id[..12]), format!("SKU-{}", &id[..12]));
    let (status, _) = admin(
        "POST",
        "/v1/admin/stores",
        Some(json!({"store_id": store, "name": "Browser test", "client_secret": SECRET})),
    )
    .await;
    assert_eq!(status, 201);
    let product = json!({"sku": sku, "name": "Browser test product", "price_cents": 150});
    assert_eq!(
        admin("POST", "/v1/admin/products", Some(product)).await.0,
        201
    );
    let level = json!({"available": stock});
    let path = format!("/v1/admin/stores/{store}/stock/{sku}");
    assert_eq!(admin("PUT", &path, Some(level)).await.0, 200);
    (store, sku)
}

async fn central_level(store: &str, sku: &str) -> i64 {
    let (_, level) = admin("GET", &format!("/v1/stores/{store}/stock/{sku}"), None).await;
    level["available"].as_i64().expect("a level")
}

type Node = Engine<IdbStorage, HttpTransport, JsClock>;

async fn node(db: &str, url: &str, store: &str, stale_after_ms: i64) -> Node {
    let mut config = Config::new(store, Credential::store(SECRET));
    config.stale_after_ms = stale_after_ms;
    let storage = IdbStorage::open(db).await.expect("IndexedDB opens");
    Engine::open(storage, HttpTransport::new(url), JsClock, config)
        .await
        .expect("node opens")
}

#[wasm_bindgen_test]
async fn bootstraps_follows_sells_and_survives_a_reopen() {
    let (store, sku) = fixture(10).await;
    let db = format!("test-{store}");
    let engine = node(&db, central(), &store, 30_000).await;
    assert!(matches!(
        engine.sync(0).await,
        Ok(Synced::Bootstrapped { .. })
    ));
    assert_eq!(engine.view(&sku).unwrap().central_available, 10);

    // Another till sells two: the node follows by long-poll.
    let sale = json!({"sku": sku, "delta": -2});
    let (status, _) = admin(
        "POST",
        &format!("/v1/stores/{store}/adjustments"),
        Some(sale),
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..5 {
        engine.sync(5).await.expect("follow");
        if engine.view(&sku).unwrap().central_available == 8 {
            break;
        }
    }
    assert_eq!(engine.view(&sku).unwrap().central_available, 8);

    // A sale at this till: stored, forwarded, applied once.
    let intent = engine
        .sell(&sku, 3, uuid::Uuid::new_v4().to_string())
        .await
        .unwrap();
    assert_eq!(intent.kind, AdjustKind::Guarded, "online: central decides");
    assert_eq!(engine.flush().await.applied, 1);
    assert_eq!(central_level(&store, &sku).await, 5);
    assert_eq!(engine.view(&sku).unwrap().shown, 5);

    // IndexedDB keeps it all: a new node reads it without the network.
    let offset = engine.replica().offset;
    drop(engine);
    let reopened = node(&db, "http://127.0.0.1:9", &store, 30_000).await;
    assert_eq!(reopened.replica().offset, offset);
    assert_eq!(reopened.view(&sku).unwrap().shown, 5);
    let intents = reopened.intents();
    assert_eq!(intents.len(), 1);
    assert!(matches!(intents[0].status, IntentStatus::Applied { .. }));
}

#[wasm_bindgen_test]
async fn central_down_queues_sales_stale_and_central_back_drains_them_once() {
    let since = head().await;
    let (store, sku) = fixture(10).await;
    let db = format!("test-{store}");
    let engine = node(&db, proxy(), &store, 0).await;
    engine.sync(0).await.unwrap();
    assert!(engine.status().online);

    // Central unreachable: reads still answer, stale; the sale queues.
    network("down").await;
    assert!(engine.sync(0).await.is_err());
    assert!(!engine.status().online);
    let view = engine.view(&sku).unwrap();
    assert!(view.stale);
    assert_eq!(view.central_available, 10);
    let sale = engine
        .sell(&sku, 2, uuid::Uuid::new_v4().to_string())
        .await
        .unwrap();
    assert_eq!(
        sale.kind,
        AdjustKind::Recorded,
        "offline: the sale happened"
    );
    assert_eq!(engine.flush().await.pending, 1);
    assert_eq!(engine.flush().await.pending, 1, "retried, still queued");
    assert_eq!(engine.view(&sku).unwrap().shown, 8);
    assert_eq!(
        central_level(&store, &sku).await,
        10,
        "nothing reached central"
    );

    // A reopened node (a page reload) still has the queue.
    drop(engine);
    let engine = node(&db, proxy(), &store, 30_000).await;
    assert_eq!(engine.status().queued, 1);

    // Central back: the queue drains, and a second drain sends nothing.
    network("up").await;
    assert_eq!(engine.flush().await.applied, 1);
    assert_eq!(engine.flush().await.applied, 0);
    engine.sync(0).await.unwrap();
    assert_eq!(engine.view(&sku).unwrap().shown, 8);
    assert_eq!(central_level(&store, &sku).await, 8);
    let applied = times_applied(&stock_log(&store, since).await, &sale.id);
    assert_eq!(applied, 1, "exactly once in central's ledger");
    let attempts = engine.intents()[0].attempts;
    assert!(
        attempts >= 3,
        "sent again with the same key: {attempts} attempts"
    );
}

#[wasm_bindgen_test]
async fn the_js_class_answers_reads_at_once_and_syncs_on_demand() {
    let (store, sku) = fixture(4).await;
    let config = js_sys::JSON::parse(
        &json!({"centralUrl": central(), "storeId": store, "credential": {"kind": "store", "clientSecret": SECRET},
                "dbName": format!("test-js-{store}")})
        .to_string(),
    )
    .unwrap();
    let node = StoreNode::open(config).await.expect("open");
    assert!(
        node.get(&sku).unwrap().is_undefined(),
        "nothing before the first sync"
    );
    JsFuture::from(node.sync_now()).await.expect("sync");
    let view = node.get(&sku).unwrap();
    let shown = js_sys::Reflect::get(&view, &JsValue::from_str("shown")).unwrap();
    assert_eq!(shown.as_f64(), Some(4.0));
    let refused = JsFuture::from(node.sell("NO-SUCH-SKU".into(), 1))
        .await
        .unwrap_err();
    let code = js_sys::Reflect::get(&refused, &JsValue::from_str("code")).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("invalid"));
}

/// Resolves after `ms` milliseconds.
fn shown(node: &StoreNode, sku: &str) -> Option<f64> {
    let view = node.get(sku).ok()?;
    js_sys::Reflect::get(&view, &JsValue::from_str("shown"))
        .ok()?
        .as_f64()
}

#[wasm_bindgen_test]
async fn one_tab_syncs_and_the_others_follow_it() {
    let (store, sku) = fixture(7).await;
    let config = || {
        js_sys::JSON::parse(
            &json!({"centralUrl": central(), "storeId": store, "credential": {"kind": "store", "clientSecret": SECRET},
                    "dbName": format!("test-tabs-{store}")})
            .to_string(),
        )
        .unwrap()
    };
    // Two tabs of one till: the first takes the store's lock and syncs.
    let leader = StoreNode::open(config()).await.unwrap();
    let follower = StoreNode::open(config()).await.unwrap();
    let heard = std::rc::Rc::new(std::cell::Cell::new(0));
    let counter = heard.clone();
    let callback =
        wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || counter.set(counter.get() + 1));
    follower.subscribe(
        callback
            .as_ref()
            .unchecked_ref::<js_sys::Function>()
            .clone(),
    );
    callback.forget();
    leader.start().unwrap();
    follower.start().unwrap();

    // A sale at another till reaches both, though only one long-polls.
    let sale = json!({"sku": sku, "delta": -3});
    assert_eq!(
        admin(
            "POST",
            &format!("/v1/stores/{store}/adjustments"),
            Some(sale)
        )
        .await
        .0,
        200
    );
    for _ in 0..100 {
        if shown(&leader, &sku) == Some(4.0) && shown(&follower, &sku) == Some(4.0) {
            break;
        }
        sleep(100).await;
    }
    assert_eq!(
        shown(&leader, &sku),
        Some(4.0),
        "the syncing tab followed central"
    );
    assert_eq!(
        shown(&follower, &sku),
        Some(4.0),
        "the other tab followed the first"
    );
    assert!(heard.get() > 0, "the follower's subscribers were told");
}

/// A second product for a fixture's store, at `stock`.
async fn another_product(store: &str, stock: i64) -> String {
    let sku = format!("SKU-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let product = json!({"sku": sku, "name": "Second product", "price_cents": 99});
    assert_eq!(
        admin("POST", "/v1/admin/products", Some(product)).await.0,
        201
    );
    let path = format!("/v1/admin/stores/{store}/stock/{sku}");
    let level = json!({"available": stock});
    assert_eq!(admin("PUT", &path, Some(level)).await.0, 200);
    sku
}

#[wasm_bindgen_test]
async fn a_basket_applies_whole_or_not_at_all_at_central() {
    let (store, sku) = fixture(5).await;
    let scarce = another_product(&store, 1).await;
    let engine = node(&format!("test-basket-{store}"), central(), &store, 30_000).await;
    engine.sync(0).await.unwrap();
    let line = |sku: &str, quantity| store_wasm::engine::BasketLine {
        sku: sku.to_owned(),
        quantity,
        id: uuid::Uuid::new_v4().to_string(),
    };

    // One line cannot be served: nothing of the basket is sold.
    let basket = vec![line(&sku, 2), line(&scarce, 3)];
    engine.sell_basket("basket-1".into(), basket).await.unwrap();
    let flushed = engine.flush().await;
    assert_eq!((flushed.applied, flushed.rejected), (0, 2));
    assert_eq!(central_level(&store, &sku).await, 5);
    assert_eq!(central_level(&store, &scarce).await, 1);
    let codes: Vec<_> = engine
        .intents()
        .iter()
        .map(|i| match &i.status {
            IntentStatus::Rejected { problem } => problem.code.as_str(),
            _ => "not refused",
        })
        .collect();
    assert_eq!(codes, ["batch_aborted", "insufficient_stock"]);

    // A basket that fits: both lines, in one request.
    let basket = vec![line(&sku, 2), line(&scarce, 1)];
    engine.sell_basket("basket-2".into(), basket).await.unwrap();
    assert_eq!(engine.flush().await.applied, 2);
    assert_eq!(central_level(&store, &sku).await, 3);
    assert_eq!(central_level(&store, &scarce).await, 0);
    assert_eq!(engine.view(&sku).unwrap().shown, 3);
}

#[wasm_bindgen_test]
async fn nearby_asks_central_and_names_the_stores() {
    let (store, sku) = fixture(6).await;
    let engine = node(&format!("test-nearby-{store}"), central(), &store, 30_000).await;
    engine.sync(0).await.unwrap();
    assert_eq!(
        engine.store_name(&store).as_deref(),
        Some("Browser test"),
        "stores come with the snapshot"
    );
    let nearby = engine.nearby(&sku).await.unwrap();
    let mine = nearby.iter().find(|n| n.store_id == store).unwrap();
    assert_eq!(
        (mine.available, mine.name.as_deref()),
        (6, Some("Browser test"))
    );

    // Kept in IndexedDB: a reopened node knows the names offline.
    drop(engine);
    let reopened = node(
        &format!("test-nearby-{store}"),
        "http://127.0.0.1:9",
        &store,
        0,
    )
    .await;
    assert_eq!(reopened.store_name(&store).as_deref(), Some("Browser test"));
    assert!(matches!(
        reopened.nearby(&sku).await,
        Err(store_wasm::engine::EngineError::Offline(_))
    ));
}

#[wasm_bindgen_test]
async fn a_version_1_database_is_upgraded_in_place_with_its_queue() {
    // A till that ran the first schema: five stores, one queued sale.
    use idb::DatabaseEvent;
    let name = format!("test-upgrade-{}", uuid::Uuid::new_v4().simple());
    let factory = idb::Factory::new().unwrap();
    let mut request = factory.open(&name, Some(1)).unwrap();
    request.on_upgrade_needed(|event| {
        let db = event.database().unwrap();
        for store in ["base", "stock", "catalog", "meta", "intents"] {
            db.create_object_store(store, idb::ObjectStoreParams::new())
                .unwrap();
        }
    });
    let db = request.await.unwrap();
    let queued = json!({"id": "sale-1", "sku": "SKU-1", "delta": -1, "kind": "recorded",
                        "created_at_ms": 1, "attempts": 0, "last_error": null,
                        "status": "pending"});
    let tx = db
        .transaction(&["intents"], idb::TransactionMode::ReadWrite)
        .unwrap();
    tx.object_store("intents")
        .unwrap()
        .put(
            &JsValue::from_str(&queued.to_string()),
            Some(&JsValue::from_str("sale-1")),
        )
        .unwrap();
    tx.commit().unwrap().await.unwrap();
    db.close();

    let storage = IdbStorage::open(&name).await.expect("upgraded");
    let replica = storage.load().await.unwrap();
    assert_eq!(replica.intents.len(), 1, "the queue survives the upgrade");
    assert_eq!(replica.intents[0].id, "sale-1");
    assert!(replica.stores.is_empty());
}
