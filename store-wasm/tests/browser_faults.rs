//! The store node's fault suite, in headless Chromium against a real central
//! (part of the reliability suite): faults a till meets in the field, each
//! checked for the two things that matter.
//!
//! - **No intent lost or doubled**: central's change log holds each
//!   acknowledged sale's idempotency key exactly once (read with the admin
//!   key, as `browser.rs` does).
//! - **The replica converges**: once synced, what the node shows for each
//!   sku is central's level, and a node reopened on the same IndexedDB
//!   agrees; before that, what is stored is a past state of central (its
//!   offset and its levels agree).
//!
//! The faults: the database deleted under a running node; central pruning
//! the node's offset while it drains its queue (410 `offset_gone`); a tab
//! closed while it applies a page of changes or stores a basket.
//!
//! `cargo xtask test-browser` starts central for these tests (fresh
//! database, a short change-log retention that is applied only when a test
//! asks for it with `POST /v1/admin/prune`) and the cuttable proxy; URLs and
//! the admin key arrive at build time, as for `browser.rs`. The runner gives
//! the whole file one deadline (20 s), so nothing here long-polls.
#![cfg(target_arch = "wasm32")]

use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    pin::pin,
    rc::Rc,
    task::Poll,
};

use futures::{
    channel::oneshot,
    future::{Either, join_all, poll_fn, select},
};
use serde_json::{Value, json};
use shared::{
    AdjustKind,
    api::{Call, Endpoint, Route},
};
use store_wasm::{
    browser::{HttpTransport, IdbStorage, JsClock},
    engine::{
        BasketLine, Config, Credential, Engine, Intent, IntentStatus, Level, PageWrite, Recent,
        Replica, Storage, StorageError, Synced, Transport, TransportError,
    },
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

/// Nothing listens there: a node that must answer from IndexedDB alone.
const NOWHERE: &str = "http://127.0.0.1:9";

/// A store of its own with `skus` new products at `stock` each; and the
/// offset before their levels, from which the log holds all the test's
/// stock events.
async fn shop(skus: usize, stock: i64) -> (String, Vec<String>, u64) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let store = format!("f{}", &id[..12]);
    let new_store = json!({"store_id": store, "name": "Fault test", "client_secret": SECRET});
    assert_eq!(
        admin("POST", "/v1/admin/stores", Some(new_store)).await.0,
        201
    );
    let skus: Vec<String> = (0..skus)
        .map(|n| format!("F-{}-{n:03}", &id[..12]))
        .collect();
    let created = join_all(skus.iter().map(|sku| {
        let product =
            json!({"sku": sku, "name": format!("Fault product {sku}"), "price_cents": 100});
        admin("POST", "/v1/admin/products", Some(product))
    }))
    .await;
    assert!(
        created.iter().all(|(status, _)| *status == 201),
        "{created:?}"
    );
    let results = batch(
        &store,
        skus.iter()
            .map(|sku| (key(), sku.clone(), stock, AdjustKind::Guarded)),
    )
    .await;
    let start = results
        .iter()
        .map(|r| r["result"]["offset"].as_u64().expect("stocked"))
        .min()
        .unwrap();
    (store, skus, start - 1)
}

/// One non-atomic batch of `(key, sku, delta, kind)` at central, as another
/// till (or this one, whose answer got lost) sends it; every line applied.
async fn batch(
    store: &str,
    items: impl IntoIterator<Item = (String, String, i64, AdjustKind)>,
) -> Vec<Value> {
    let items: Vec<Value> = items
        .into_iter()
        .map(|(key, sku, delta, kind)| {
            json!({"idempotency_key": key, "sku": sku, "delta": delta, "kind": kind})
        })
        .collect();
    let path = format!("/v1/stores/{store}/adjustments/batch");
    let (status, answer) = admin("POST", &path, Some(json!({"items": items}))).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap().clone();
    assert!(results.iter().all(|r| r["status"] == 200), "{answer}");
    results
}

/// Central gets these intents as the node sends them (same key, same
/// request), but the node never hears the answer.
async fn deliver(store: &str, intents: &[Intent]) {
    let lines = intents
        .iter()
        .map(|i| (i.id.clone(), i.sku.clone(), i.delta, i.kind));
    batch(store, lines).await;
}

async fn central_level(store: &str, sku: &str) -> i64 {
    let (_, level) = admin("GET", &format!("/v1/stores/{store}/stock/{sku}"), None).await;
    level["available"].as_i64().expect("a level")
}

/// Central's level of `sku` as of `offset`, from the log.
fn level_at(log: &[Value], sku: &str, offset: u64) -> Option<Level> {
    log.iter()
        .rfind(|e| {
            e["sku"] == sku
                && e["offset"].as_u64().unwrap() <= offset
                && (e["kind"] == "stock_adjusted" || e["kind"] == "stock_set")
        })
        .map(|e| Level {
            available: e["available"].as_i64().unwrap(),
            held: e["held"].as_i64().unwrap_or(0),
            version: e["version"].as_u64().unwrap(),
        })
}

/// The level version the write with this key made, if the log has it.
fn version_of(log: &[Value], key: &str) -> Option<u64> {
    log.iter()
        .find(|e| e["kind"] == "stock_adjusted" && e["idempotency_key"] == key)
        .map(|e| e["version"].as_u64().unwrap())
}

type Node<S = IdbStorage, T = HttpTransport> = Engine<S, T, JsClock>;

fn config(store: &str) -> Config {
    Config::new(store, Credential::store(SECRET))
}

async fn node(db: &str, url: &str, store: &str) -> Node {
    let storage = IdbStorage::open(db).await.expect("IndexedDB opens");
    Engine::open(storage, HttpTransport::new(url), JsClock, config(store))
        .await
        .expect("node opens")
}

/// Forwards and syncs until nothing is queued and the node is at central's
/// head, its own writes included (a deadline, not a sleep, bounds it).
async fn catch_up<S: Storage, T: Transport>(engine: &Node<S, T>) {
    let deadline = js_sys::Date::now() + 8_000.0;
    loop {
        engine.flush().await;
        let synced = engine.sync(0).await;
        let status = engine.status();
        if synced.is_ok() && status.lag == 0 && status.queued == 0 && status.offset.is_some() {
            return;
        }
        assert!(
            js_sys::Date::now() < deadline,
            "did not catch up: {synced:?} {status:?}"
        );
        sleep(20).await;
    }
}

/// What `node` holds is a past state of central, and what it shows counts
/// each of its intents exactly once. At the stored offset every sku's level
/// is the one the log had then — or a newer one central answered one of
/// this node's intents with (answers move a level ahead of the offset) —
/// and each sku shows that level plus exactly the intents whose write that
/// level does not include (by version: the log's, for written ones).
fn assert_past_state<S: Storage, T: Transport>(
    node: &Node<S, T>,
    log: &[Value],
    skus: &[String],
    what: &str,
) {
    let replica = node.replica();
    let offset = replica.offset.expect("a replica");
    for sku in skus {
        let then = level_at(log, sku, offset);
        let level = replica.levels.get(sku).copied();
        let answered = replica.intents.iter().any(|i| match &i.status {
            IntentStatus::Applied { result } => {
                Some((result.available, result.version)) == level.map(|l| (l.available, l.version))
            }
            _ => false,
        });
        assert!(
            level == then || answered && level.map(|l| l.version) > then.map(|l| l.version),
            "{what}: {sku} holds {level:?}, central had {then:?} at the stored offset {offset}"
        );
        let version = level.map_or(0, |l| l.version);
        let above: i64 = replica
            .intents
            .iter()
            .filter(|i| &i.sku == sku && !matches!(i.status, IntentStatus::Rejected { .. }))
            .filter(|i| version_of(log, &i.id).is_none_or(|v| v > version))
            .map(|i| i.delta)
            .sum();
        assert_eq!(
            node.view(sku).unwrap().shown,
            level.map_or(0, |l| l.available) + above,
            "{what}: {sku} shows an intent twice or misses one (offset {offset})"
        );
    }
}

/// Deletes an IndexedDB database as the browser's "clear site data" would;
/// fails if a connection keeps it from going for 5 s.
async fn delete_database(name: &str) {
    let request = idb::Factory::new().unwrap().delete(name).unwrap();
    match select(pin!(async { request.await }), pin!(sleep(5_000))).await {
        Either::Left((deleted, _)) => deleted.expect("the database is deleted"),
        Either::Right(_) => panic!("deleting {name} was blocked: a connection did not let go"),
    }
}

#[wasm_bindgen_test]
async fn a_database_deleted_under_a_running_node_is_stored_again_and_loses_no_sale() {
    network("up").await;
    let (store, skus, start) = shop(2, 10).await;
    let db = format!("faults-deleted-{store}");
    let engine = node(&db, proxy(), &store).await;
    assert!(matches!(
        engine.sync(0).await,
        Ok(Synced::Bootstrapped { .. })
    ));

    // Offline: a sale is acknowledged (stored), sent in vain, queued.
    network("down").await;
    assert!(engine.sync(0).await.is_err());
    let first = engine.sell(&skus[0], 2, key()).await.unwrap();
    assert_eq!(engine.flush().await.pending, 1);
    // A reload in another tab finds it on the device (and closes again).
    let reload = node(&db, NOWHERE, &store).await;
    assert_eq!(reload.status().queued, 1);
    drop(reload);

    // The browser's data for the site is cleared under the running node.
    delete_database(&db).await;
    assert_eq!(
        engine.view(&skus[0]).unwrap().shown,
        8,
        "reads answer from memory"
    );
    let second = engine
        .sell(&skus[1], 1, key())
        .await
        .expect("offline, a sale after the deletion is still stored on the device");

    // Both acknowledged sales are on the device again: a tab opened now
    // (offline) has them, though it has no replica to show them against.
    let reload = node(&db, NOWHERE, &store).await;
    let mut queued: Vec<String> = reload.intents().into_iter().map(|i| i.id).collect();
    queued.sort();
    let mut acknowledged = vec![first.id.clone(), second.id.clone()];
    acknowledged.sort();
    assert_eq!(queued, acknowledged, "the queue was stored again");
    drop(reload);

    // Central back: the queue drains once, the replica is stored again.
    network("up").await;
    catch_up(&engine).await;
    assert_eq!(central_level(&store, &skus[0]).await, 8);
    assert_eq!(central_level(&store, &skus[1]).await, 9);
    let log = stock_log(&store, start).await;
    for sale in [&first, &second] {
        assert_eq!(times_applied(&log, &sale.id), 1, "exactly once at central");
    }
    let shown =
        |node: &Node| -> Vec<i64> { skus.iter().map(|s| node.view(s).unwrap().shown).collect() };
    assert_eq!(shown(&engine), [8, 9]);
    assert_past_state(&engine, &log, &skus, "the running node");

    // A reload (offline) finds the whole replica again, at the same offset.
    let reopened = node(&db, NOWHERE, &store).await;
    assert_eq!(reopened.replica().offset, engine.replica().offset);
    assert_eq!(reopened.replica().levels, engine.replica().levels);
    assert_eq!(shown(&reopened), [8, 9]);
    assert_eq!(reopened.status().queued, 0);
    assert_past_state(&reopened, &log, &skus, "the reopened node");
}

/// Central over HTTP, but a snapshot's answer is held back (once fetched)
/// until the test lets it through: a bootstrap that lands after answers
/// the node got meanwhile.
struct Held {
    http: HttpTransport,
    hold: Rc<RefCell<Option<oneshot::Receiver<()>>>>,
    fetched: Rc<Cell<bool>>,
}

impl Transport for Held {
    async fn call<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError> {
        let answer = self.http.call(token, call).await;
        if E::ROUTE == Route::GetSnapshot {
            self.fetched.set(true);
            let hold = self.hold.borrow_mut().take();
            if let Some(hold) = hold {
                let _ = hold.await;
            }
        }
        answer
    }
}

#[wasm_bindgen_test]
async fn central_pruning_the_offset_mid_drain_means_a_snapshot_and_each_sale_once() {
    network("up").await;
    let (store, skus, _) = shop(2, 100).await;
    let db = format!("faults-pruned-{store}");
    let (fetched, hold) = (Rc::new(Cell::new(false)), Rc::new(RefCell::new(None)));
    let transport = Held {
        http: HttpTransport::new(proxy()),
        hold: hold.clone(),
        fetched: fetched.clone(),
    };
    let storage = IdbStorage::open(&db).await.unwrap();
    let engine = Engine::open(storage, transport, JsClock, config(&store))
        .await
        .unwrap();
    let Ok(Synced::Bootstrapped { offset: followed }) = engine.sync(0).await else {
        panic!("bootstraps");
    };

    // Offline: three sales queued, sent in vain.
    network("down").await;
    assert!(engine.sync(0).await.is_err());
    let sales = [
        engine.sell(&skus[0], 2, key()).await.unwrap(),
        engine.sell(&skus[0], 3, key()).await.unwrap(),
        engine.sell(&skus[1], 4, key()).await.unwrap(),
    ];
    assert_eq!(engine.flush().await.pending, 3);

    // Meanwhile the chain is busy, and central prunes the node's offset.
    let (neighbour, their_skus, _) = shop(1, 1).await;
    let mut oldest = 0;
    for _ in 0..10 {
        let restocks = (0..500).map(|_| (key(), their_skus[0].clone(), 1, AdjustKind::Guarded));
        batch(&neighbour, restocks).await;
        let (status, report) = admin("POST", "/v1/admin/prune", None).await;
        assert_eq!(status, 200, "{report}");
        oldest = report["oldest_offset"].as_u64().unwrap();
        if oldest > followed {
            break;
        }
    }
    assert!(oldest > followed, "central never pruned offset {followed}");
    // One of the sales had reached central before the network went (its
    // answer lost): central has it, the node does not know.
    deliver(&store, &sales[1..2]).await;

    // Central back. The node's next page is a 410, so it takes a snapshot;
    // while that snapshot is on its way the node drains its queue, and the
    // snapshot (older than the drain's answers) lands after them.
    let (release, held) = oneshot::channel();
    *hold.borrow_mut() = Some(held);
    network("up").await;
    let sync = engine.sync(0);
    let drain = async {
        let deadline = js_sys::Date::now() + 5_000.0;
        while !fetched.get() {
            assert!(js_sys::Date::now() < deadline, "the snapshot never came");
            sleep(5).await;
        }
        let flushed = engine.flush().await;
        let versions: Vec<_> = skus.iter().map(|s| engine.replica().version(s)).collect();
        release.send(()).unwrap();
        (flushed, versions)
    };
    let (synced, (flushed, drained)) = futures::join!(sync, drain);
    assert!(
        matches!(synced, Ok(Synced::Bootstrapped { offset }) if offset >= oldest),
        "a 410 means a snapshot: {synced:?}"
    );
    assert_eq!(flushed.applied, 3, "the queue drained: {flushed:?}");
    let versions: Vec<_> = skus.iter().map(|s| engine.replica().version(s)).collect();
    for (now, then) in versions.iter().zip(&drained) {
        assert!(
            now >= then,
            "a snapshot moved a level back: {then:?} → {now:?}"
        );
    }
    let shown = |node: &Node<IdbStorage, Held>| -> Vec<i64> {
        skus.iter().map(|s| node.view(s).unwrap().shown).collect()
    };
    assert_eq!(
        shown(&engine),
        [95, 96],
        "each sale counted once, on top of a snapshot or in it"
    );

    catch_up(&engine).await;
    assert_eq!(central_level(&store, &skus[0]).await, 95);
    assert_eq!(central_level(&store, &skus[1]).await, 96);
    assert_eq!(shown(&engine), [95, 96]);
    let log = stock_log(&store, oldest).await;
    for sale in &sales {
        assert_eq!(times_applied(&log, &sale.id), 1, "exactly once at central");
    }
    assert!(
        engine
            .intents()
            .iter()
            .all(|i| matches!(i.status, IntentStatus::Applied { .. }))
    );
    assert_past_state(&engine, &log, &skus, "the node");
    let reopened = node(&db, NOWHERE, &store).await;
    assert_eq!(reopened.replica().offset, engine.replica().offset);
    assert_eq!(
        skus.iter()
            .map(|s| reopened.view(s).unwrap().shown)
            .collect::<Vec<_>>(),
        [95, 96]
    );
    assert_past_state(&reopened, &log, &skus, "the reopened node");
}

/// Counts a storage write's progress: begun, and returned.
#[derive(Clone, Default)]
struct Progress {
    begun: Rc<Cell<u32>>,
    done: Rc<Cell<u32>>,
}

impl Progress {
    async fn watch<R>(&self, write: impl Future<Output = R>) -> R {
        self.begun.set(self.begun.get() + 1);
        let result = write.await;
        self.done.set(self.done.get() + 1);
        result
    }

    fn in_flight(&self) -> bool {
        self.begun.get() > self.done.get()
    }

    /// Resolves once a write has begun and the task was woken `wakes`
    /// times more. It registers no waker of its own: raced in one task
    /// against the write (`select`), it is polled each time the write's
    /// IndexedDB requests wake the task, so it lands after that many
    /// requests of the write's transaction.
    fn after_wakes(&self, wakes: u32) -> impl Future<Output = ()> + '_ {
        let mut seen = 0;
        poll_fn(move |_| {
            if self.begun.get() > 0 {
                seen += 1;
            }
            if seen > wakes {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// IndexedDB storage whose page and intent writes the test can watch.
struct Watched {
    idb: IdbStorage,
    pages: Progress,
    intents: Progress,
}

impl Storage for Watched {
    async fn load(&self) -> Result<Replica, StorageError> {
        self.idb.load().await
    }

    async fn load_recent(&self) -> Result<Recent, StorageError> {
        self.idb.load_recent().await
    }

    async fn replace(&self, replica: &Replica) -> Result<(), StorageError> {
        self.idb.replace(replica).await
    }

    async fn apply(&self, page: &PageWrite) -> Result<(), StorageError> {
        self.pages.watch(self.idb.apply(page)).await
    }

    async fn put_intents(
        &self,
        intents: &[Intent],
        levels: &[(String, Level)],
        contact_ms: Option<i64>,
    ) -> Result<(), StorageError> {
        self.intents
            .watch(self.idb.put_intents(intents, levels, contact_ms))
            .await
    }

    async fn delete_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.idb.delete_intents(ids).await
    }

    async fn put_pickup_intents(
        &self,
        intents: &[store_wasm::engine::PickupIntent],
        ended: &[String],
    ) -> Result<(), StorageError> {
        self.intents
            .watch(self.idb.put_pickup_intents(intents, ended))
            .await
    }

    async fn delete_pickup_intents(&self, ids: &[String]) -> Result<(), StorageError> {
        self.idb.delete_pickup_intents(ids).await
    }

    fn take_lost(&self) -> bool {
        self.idb.take_lost()
    }
}

/// A tab whose writes the test watches (and closes mid-write).
async fn watched(db: &str, store: &str) -> (Node<Watched>, Progress, Progress) {
    let (pages, intents) = (Progress::default(), Progress::default());
    let storage = Watched {
        idb: IdbStorage::open(db).await.unwrap(),
        pages: pages.clone(),
        intents: intents.clone(),
    };
    let engine = Engine::open(
        storage,
        HttpTransport::new(central()),
        JsClock,
        config(store),
    )
    .await
    .unwrap();
    (engine, pages, intents)
}

#[wasm_bindgen_test]
async fn a_tab_closed_mid_page_leaves_a_past_state_and_the_next_tab_converges() {
    let (store, skus, start) = shop(60, 50).await;
    let db = format!("faults-mid-page-{store}");
    // A tab that stays open all along, following what the others store.
    let stays = node(&db, central(), &store).await;
    assert!(matches!(
        stays.sync(0).await,
        Ok(Synced::Bootstrapped { .. })
    ));
    let (mut sold, mut mid_page) = (Vec::new(), 0);
    for wakes in [1, 4, 15, 40, 62, 1_000] {
        // Another tab sells five (stored, not forwarded yet); central gets
        // them (their answers lost) and a sale of every sku from other
        // tills: the next page answers the five and moves every level.
        let (tab, pages, _) = watched(&db, &store).await;
        let mut intents = Vec::new();
        for sku in &skus[..5] {
            intents.push(tab.sell(sku, 1, key()).await.unwrap());
        }
        deliver(&store, &intents).await;
        batch(
            &store,
            skus.iter()
                .map(|s| (key(), s.clone(), -1, AdjustKind::Guarded)),
        )
        .await;
        sold.extend(intents.iter().map(|i| i.id.clone()));

        // The tab closes while it applies that page.
        match select(pin!(tab.sync(0)), pin!(pages.after_wakes(wakes))).await {
            Either::Left((synced, _)) => {
                synced.unwrap();
            }
            Either::Right(_) => {}
        }
        mid_page += usize::from(pages.in_flight());
        drop(tab);

        // What it left is a past state of central, for a tab opened now
        // and for the one that stayed.
        let log = stock_log(&store, start).await;
        let reopened = node(&db, NOWHERE, &store).await;
        assert_past_state(
            &reopened,
            &log,
            &skus,
            &format!("reopened after {wakes} wakes"),
        );
        drop(reopened);
        stays.reload().await.unwrap();
        assert_past_state(
            &stays,
            &log,
            &skus,
            &format!("the tab that stayed, {wakes} wakes"),
        );

        // The tab that stayed takes over and converges with central.
        catch_up(&stays).await;
        let log = stock_log(&store, start).await;
        for sku in &skus {
            let central = level_at(&log, sku, u64::MAX).unwrap();
            assert_eq!(
                stays.replica().levels[sku],
                central,
                "{sku} after {wakes} wakes"
            );
            assert_eq!(stays.view(sku).unwrap().shown, central.available);
        }
        assert_past_state(&stays, &log, &skus, "caught up");
    }
    assert!(
        mid_page >= 3,
        "only {mid_page} tabs closed while a page was being stored: the test missed its fault"
    );

    // Each sale once; and a tab opened last agrees.
    let log = stock_log(&store, start).await;
    for id in &sold {
        assert_eq!(times_applied(&log, id), 1, "sale {id} applied once");
    }
    assert_eq!(central_level(&store, &skus[0]).await, 50 - 6 - 6);
    let last = node(&db, NOWHERE, &store).await;
    assert_eq!(last.replica().offset, stays.replica().offset);
    assert_past_state(&last, &log, &skus, "the last tab");
}

#[wasm_bindgen_test]
async fn a_tab_closed_while_storing_a_basket_keeps_all_its_lines_or_none() {
    const LINES: usize = 20;
    let (store, skus, start) = shop(1, 500).await;
    let db = format!("faults-basket-{store}");
    let first = node(&db, central(), &store).await;
    assert!(matches!(
        first.sync(0).await,
        Ok(Synced::Bootstrapped { .. })
    ));
    drop(first);

    let (mut kept, mut lost, mut mid_write) = (Vec::new(), Vec::new(), 0);
    for wakes in [1, 3, 8, 15, 19, 1_000] {
        let (tab, _, stores) = watched(&db, &store).await;
        let lines: Vec<BasketLine> = (0..LINES)
            .map(|_| BasketLine {
                sku: skus[0].clone(),
                quantity: 1,
                id: key(),
            })
            .collect();
        let ids: Vec<String> = lines.iter().map(|l| l.id.clone()).collect();
        let sale = tab.sell_basket(key(), lines);
        match select(pin!(sale), pin!(stores.after_wakes(wakes))).await {
            Either::Left((sold, _)) => {
                sold.unwrap();
            }
            Either::Right(_) => {}
        }
        mid_write += usize::from(stores.in_flight());
        drop(tab);

        let reopened = node(&db, NOWHERE, &store).await;
        let stored = reopened
            .intents()
            .iter()
            .filter(|i| ids.contains(&i.id))
            .count();
        assert!(
            stored == 0 || stored == LINES,
            "{stored} of the basket's {LINES} lines were stored (closed after {wakes} wakes)"
        );
        if stored == LINES {
            kept.extend(ids);
        } else {
            lost.extend(ids);
        }
    }
    assert!(
        mid_write >= 3,
        "only {mid_write} tabs closed while a basket was being stored: the test missed its fault"
    );
    assert!(!kept.is_empty(), "a tab that stayed open stored its basket");

    // Whatever was stored goes to central, once; nothing else does.
    let last = node(&db, central(), &store).await;
    catch_up(&last).await;
    let log = stock_log(&store, start).await;
    for id in &kept {
        assert_eq!(times_applied(&log, id), 1, "a stored line, once");
    }
    for id in &lost {
        assert_eq!(times_applied(&log, id), 0, "a line never acknowledged");
    }
    let level = central_level(&store, &skus[0]).await;
    assert_eq!(level, 500 - kept.len() as i64);
    assert_eq!(last.view(&skus[0]).unwrap().shown, level);
    let stored: BTreeMap<_, _> = last
        .intents()
        .into_iter()
        .map(|i| (i.id, i.status))
        .collect();
    assert!(
        stored
            .values()
            .all(|s| matches!(s, IntentStatus::Applied { .. })),
        "every stored line answered"
    );
}
