//! The engine against a fake central (in memory, with switches for going
//! offline, losing answers and expiring tokens) and memory storage.
// The fake answers with whole problems, as central's wire answers do.
#![allow(clippy::result_large_err)]

use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    rc::Rc,
};

use futures::executor::block_on;
use shared::{
    AdjustKind, AdjustRequest, AdjustResult, BatchAdjustRequest, BatchAdjustResponse,
    BatchItemResult, Change, ChangesPage, ErrorCode, Event, Problem, Product, ProductAvailability,
    Role, Snapshot, StockLevel, Store, StoreAvailability, TokenRequest, TokenResponse,
};

use shared::api::{self, Call, Endpoint, PathParams, Route};

use super::*;

mod pickups;
mod search;

const STORE: &str = "s1";
/// The enrolled device the engine under test signs in as.
const TILL: &str = "dev-till-1";

#[derive(Default)]
struct Central {
    levels: BTreeMap<(String, String), (i64, u64)>,
    /// Units held for online orders, per level.
    held: BTreeMap<(String, String), i64>,
    products: Vec<Product>,
    stores: Vec<Store>,
    events: Vec<Event>,
    /// Batch requests received, to see a basket go as one.
    batches: u32,
    pruned_through: u64,
    answers: BTreeMap<String, Result<AdjustResult, Problem>>,
    offline: bool,
    lose_answers: bool,
    sign_ins: u32,
    /// The next this-many calls answer 401 (an expired or revoked token).
    unauthorized: u32,
    page_size: usize,
    /// When set, the next changes call waits for this before answering.
    hold: Option<futures::channel::oneshot::Receiver<()>>,
    /// When set, the next snapshot is taken, then waits for this before
    /// it is answered (it arrives after whatever happened meanwhile).
    hold_snapshot: Option<futures::channel::oneshot::Receiver<()>>,
    /// Holds placed with [`Central::place_hold`], by id.
    holds: BTreeMap<String, shared::Hold>,
    /// Hand-over and cancel answers, by key: a retry replays its answer.
    hold_answers: BTreeMap<String, Result<shared::Hold, Problem>>,
    /// Central's time for holds, in ms: at or past `expires_at` a hold is
    /// refused, as central's transitions refuse it.
    now_ms: i64,
}

fn at() -> shared::Timestamp {
    time::OffsetDateTime::UNIX_EPOCH
}

fn problem(status: u16, code: ErrorCode) -> Problem {
    Problem::new(status, code, None)
}

impl Central {
    fn head(&self) -> u64 {
        self.events.last().map_or(self.pruned_through, |e| e.offset)
    }

    fn push(&mut self, change: Change) {
        let offset = self.head() + 1;
        self.events.push(Event {
            offset,
            at: at(),
            change,
        });
    }

    fn product(&mut self, sku: &str) {
        let product = Product {
            sku: sku.into(),
            name: format!("Product {sku}"),
            price_cents: 100,
            active: true,
            version: 1,
            updated_at: at(),
        };
        self.products.push(product.clone());
        self.push(Change::ProductCreated { product });
    }

    fn store(&mut self, id: &str, name: &str) {
        let store = Store {
            store_id: id.into(),
            name: name.into(),
            active: true,
            created_at: at(),
            safety_stock: 0,
        };
        self.stores.push(store.clone());
        self.push(Change::StoreCreated { store });
    }

    /// Applies one adjustment as central would (guarded ones never below
    /// zero), without saving its key.
    fn decide(
        &mut self,
        store: &str,
        key: &str,
        req: &AdjustRequest,
    ) -> Result<AdjustResult, Problem> {
        let (available, version) = self
            .levels
            .get(&(store.into(), req.sku.clone()))
            .copied()
            .unwrap_or_default();
        let next = available + req.delta;
        if req.kind == AdjustKind::Guarded && req.delta < 0 && next < 0 {
            return Err(problem(409, ErrorCode::InsufficientStock));
        }
        self.levels
            .insert((store.into(), req.sku.clone()), (next, version + 1));
        self.push(Change::StockAdjusted {
            store_id: store.into(),
            sku: req.sku.clone(),
            delta: req.delta,
            adjust_kind: req.kind,
            available: next,
            held: 0,
            version: version + 1,
            idempotency_key: key.into(),
            reason: req.reason.clone(),
            device_id: Some(TILL.into()),
        });
        Ok(AdjustResult {
            store_id: store.into(),
            sku: req.sku.clone(),
            available: next,
            held: 0,
            version: version + 1,
            offset: self.head(),
            discrepancy_offset: None,
        })
    }

    fn set(&mut self, store: &str, sku: &str, available: i64) {
        let level = self.levels.entry((store.into(), sku.into())).or_default();
        let previous = level.0;
        *level = (available, level.1 + 1);
        let version = level.1;
        self.push(Change::StockSet {
            store_id: store.into(),
            sku: sku.into(),
            previous,
            available,
            held: 0,
            version,
            reason: None,
        });
    }

    /// A sales channel holds `quantity` of the level (negative: gives
    /// them back), as central's hold events say it.
    fn hold(&mut self, store: &str, sku: &str, quantity: i64) {
        let pair = (store.to_owned(), sku.to_owned());
        let level = self.levels.entry(pair.clone()).or_default();
        *level = (level.0 - quantity, level.1 + 1);
        let (available, version) = *level;
        let held = self.held.entry(pair).or_default();
        *held += quantity;
        let line = shared::HeldLevel {
            sku: sku.into(),
            quantity: quantity.abs(),
            released: 0,
            available,
            held: *held,
            version,
        };
        let hold_id = "hold-1".to_owned();
        let change = if quantity > 0 {
            Change::HoldPlaced {
                hold_id,
                store_id: store.into(),
                channel: "web".into(),
                reference: "order-1".into(),
                expires_at: at(),
                lines: vec![line],
            }
        } else {
            Change::HoldReleased {
                hold_id,
                store_id: store.into(),
                reason: shared::ReleaseReason::Expired,
                admin: None,
                lines: vec![line],
            }
        };
        self.push(change);
    }

    fn gate(&mut self) -> Result<(), TransportError> {
        if self.offline {
            return Err(TransportError::Network("connection refused".into()));
        }
        if self.unauthorized > 0 {
            self.unauthorized -= 1;
            return Err(TransportError::Problem(Box::new(problem(
                401,
                ErrorCode::TokenExpired,
            ))));
        }
        Ok(())
    }
}

#[derive(Clone, Default)]
struct FakeCentral(Rc<RefCell<Central>>);

impl FakeCentral {
    /// Central's snapshot for `store`, now.
    fn take_snapshot(&self, store: &str) -> Result<Snapshot, TransportError> {
        let mut c = self.0.borrow_mut();
        c.gate()?;
        Ok(Snapshot {
            currency: "GBP".parse().expect("a currency"),
            offset: c.head(),
            store_id: Some(store.into()),
            stores: c.stores.clone(),
            products: c.products.clone(),
            holds: c
                .holds
                .values()
                .filter(|h| {
                    h.lines
                        .iter()
                        .any(|l| l.store_id == store && l.state == shared::HoldState::Active)
                })
                .cloned()
                .collect(),
            levels: c
                .levels
                .iter()
                .filter(|((s, _), _)| s == store)
                .map(|((s, sku), (available, version))| StockLevel {
                    store_id: s.clone(),
                    sku: sku.clone(),
                    available: *available,
                    held: c.held.get(&(s.clone(), sku.clone())).copied().unwrap_or(0),
                    version: *version,
                    updated_at: None,
                })
                .collect(),
        })
    }
}

impl FakeCentral {
    async fn sign_in(&self, request: &TokenRequest) -> Result<TokenResponse, TransportError> {
        let mut c = self.0.borrow_mut();
        if c.offline {
            return Err(TransportError::Network("connection refused".into()));
        }
        c.sign_ins += 1;
        assert_eq!(
            *request,
            TokenRequest::Device {
                device_id: TILL.into(),
                device_secret: "secret".into()
            }
        );
        Ok(TokenResponse {
            access_token: format!("token-{}", c.sign_ins),
            token_type: "Bearer".into(),
            expires_in: 900,
            role: Role::Store,
            store_id: Some(STORE.into()),
            device_id: Some(TILL.into()),
            channel_id: None,
        })
    }

    async fn snapshot(&self, _: &str, store: &str) -> Result<Snapshot, TransportError> {
        let snapshot = self.take_snapshot(store)?;
        let held = self.0.borrow_mut().hold_snapshot.take();
        if let Some(held) = held {
            let _ = held.await;
        }
        Ok(snapshot)
    }

    async fn changes(
        &self,
        _: &str,
        store: &str,
        from: u64,
        _: u32,
    ) -> Result<ChangesPage, TransportError> {
        let held = self.0.borrow_mut().hold.take();
        if let Some(held) = held {
            let _ = held.await;
        }
        let mut c = self.0.borrow_mut();
        c.gate()?;
        if from < c.pruned_through {
            return Err(TransportError::Problem(Box::new(problem(
                410,
                ErrorCode::OffsetGone,
            ))));
        }
        let limit = c.page_size.max(1);
        let events: Vec<_> = c
            .events
            .iter()
            .filter(|e| e.offset > from)
            .filter(|e| e.store_id().is_none_or(|s| s == store))
            .take(limit)
            .cloned()
            .collect();
        let next_offset = match events.last() {
            Some(e) if events.len() == limit => e.offset,
            _ => c.head(),
        };
        Ok(ChangesPage {
            events,
            next_offset,
            head: c.head(),
        })
    }

    async fn adjust(
        &self,
        _: &str,
        store: &str,
        key: &str,
        req: &AdjustRequest,
    ) -> Result<AdjustResult, TransportError> {
        let mut c = self.0.borrow_mut();
        c.gate()?;
        let answer = match c.answers.get(key) {
            Some(saved) => saved.clone(),
            None => {
                let answer = c.decide(store, key, req);
                c.answers.insert(key.into(), answer.clone());
                answer
            }
        };
        if c.lose_answers {
            return Err(TransportError::Network("connection reset".into()));
        }
        answer.map_err(|p| TransportError::Problem(Box::new(p)))
    }

    async fn adjust_batch(
        &self,
        _: &str,
        store: &str,
        req: &BatchAdjustRequest,
    ) -> Result<BatchAdjustResponse, TransportError> {
        let mut c = self.0.borrow_mut();
        c.gate()?;
        c.batches += 1;
        assert!(req.atomic, "a basket goes as an atomic batch");
        let known: Vec<_> = req
            .items
            .iter()
            .map(|i| c.answers.get(&i.idempotency_key).cloned())
            .collect();
        let answers: Vec<_> = if known.iter().all(Option::is_some) {
            known.into_iter().flatten().collect()
        } else {
            // All or nothing: decide on a copy, keep it only if all passed.
            let (levels, events) = (c.levels.clone(), c.events.clone());
            let decided: Vec<_> = req
                .items
                .iter()
                .map(|i| c.decide(store, &i.idempotency_key, &i.request()))
                .collect();
            let answers: Vec<_> = if decided.iter().all(Result::is_ok) {
                decided
            } else {
                (c.levels, c.events) = (levels, events);
                decided
                    .into_iter()
                    .map(|d| match d {
                        Ok(_) => Err(problem(424, ErrorCode::BatchAborted)),
                        refused => refused,
                    })
                    .collect()
            };
            for (item, answer) in req.items.iter().zip(&answers) {
                c.answers
                    .insert(item.idempotency_key.clone(), answer.clone());
            }
            answers
        };
        if c.lose_answers {
            return Err(TransportError::Network("connection reset".into()));
        }
        Ok(BatchAdjustResponse {
            atomic: true,
            committed: answers.iter().all(Result::is_ok),
            results: req
                .items
                .iter()
                .zip(answers)
                .map(|(item, answer)| BatchItemResult {
                    idempotency_key: item.idempotency_key.clone(),
                    status: answer.as_ref().map_or_else(|p| p.status, |_| 200),
                    problem: answer.clone().err(),
                    result: answer.ok(),
                })
                .collect(),
        })
    }

    async fn commit_hold(
        &self,
        _: &str,
        key: &str,
        hold_id: &str,
        request: &shared::CommitHoldRequest,
    ) -> Result<shared::Hold, TransportError> {
        assert_eq!(request.lines, None, "a store hands its lines over whole");
        self.0
            .borrow_mut()
            .pickup(key, hold_id, shared::HoldState::Committed)
    }

    async fn release_hold(
        &self,
        _: &str,
        key: &str,
        hold_id: &str,
    ) -> Result<shared::Hold, TransportError> {
        self.0
            .borrow_mut()
            .pickup(key, hold_id, shared::HoldState::Released)
    }

    async fn availability(
        &self,
        _: &str,
        sku: &str,
    ) -> Result<ProductAvailability, TransportError> {
        let mut c = self.0.borrow_mut();
        c.gate()?;
        let product = c
            .products
            .iter()
            .find(|p| p.sku == sku)
            .cloned()
            .ok_or_else(|| {
                TransportError::Problem(Box::new(problem(404, ErrorCode::ProductNotFound)))
            })?;
        let stores: Vec<_> = c
            .levels
            .iter()
            .filter(|((_, s), _)| s == sku)
            .map(|((store_id, _), (available, version))| StoreAvailability {
                store_id: store_id.clone(),
                available: *available,
                held: 0,
                version: *version,
            })
            .collect();
        Ok(ProductAvailability {
            held: 0,
            product,
            total: stores.iter().map(|s| s.available).sum(),
            stores,
        })
    }
}

/// A value as another type of the same JSON: what a call's body, query and
/// answer go through on the wire.
fn cast<A: serde::Serialize, B: serde::de::DeserializeOwned>(value: &A) -> B {
    let json = serde_json::to_value(value).expect("a wire type serializes");
    serde_json::from_value(json).expect("the type the endpoint declares")
}

/// The endpoints a till calls, answered as central would; any other is a
/// route this fake does not have.
impl Transport for FakeCentral {
    async fn call<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError> {
        let token = token.unwrap_or_default();
        let params = call.params.values();
        let param = params.first().copied().unwrap_or_default();
        let key = call.key.unwrap_or_default();
        assert_eq!(call.key.is_some(), E::KEYED, "{} takes a key", E::PATH);
        match E::ROUTE {
            Route::SignIn => self.sign_in(&cast(call.body)).await.map(|r| cast(&r)),
            Route::GetSnapshot => {
                let query: api::SnapshotQuery = cast(call.query);
                let store = query.store.expect("a till asks for its store");
                self.snapshot(token, &store).await.map(|r| cast(&r))
            }
            Route::GetChanges => {
                let query: api::ChangesQuery = cast(call.query);
                let store = query.store.expect("a till asks for its store");
                let wait = query.wait.unwrap_or(0.0) as u32;
                self.changes(token, &store, query.from, wait)
                    .await
                    .map(|r| cast(&r))
            }
            Route::AdjustStock => self
                .adjust(token, param, key, &cast(call.body))
                .await
                .map(|r| cast(&r)),
            Route::AdjustStockBatch => self
                .adjust_batch(token, param, &cast(call.body))
                .await
                .map(|r| cast(&r)),
            Route::CommitHold => self
                .commit_hold(token, key, param, &cast(call.body))
                .await
                .map(|r| cast(&r)),
            Route::ReleaseHold => self.release_hold(token, key, param).await.map(|r| cast(&r)),
            Route::GetProduct => self.availability(token, param).await.map(|r| cast(&r)),
            _ => Err(TransportError::Problem(Box::new(problem(
                404,
                ErrorCode::RouteNotFound,
            )))),
        }
    }
}

#[derive(Clone, Default)]
struct FakeClock(Rc<Cell<i64>>);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.get()
    }

    fn random(&self) -> f64 {
        0.5
    }
}

type TestEngine = Engine<MemoryStorage, FakeCentral, FakeClock>;

struct Harness {
    central: FakeCentral,
    storage: MemoryStorage,
    clock: FakeClock,
}

impl Harness {
    /// Central with products A and B at 10 each in s1, and 5 of A in s2.
    fn new() -> Harness {
        let central = FakeCentral::default();
        {
            let mut c = central.0.borrow_mut();
            c.page_size = 3;
            c.product("A");
            c.product("B");
            c.set(STORE, "A", 10);
            c.set(STORE, "B", 10);
            c.set("s2", "A", 5);
        }
        Harness {
            central,
            storage: MemoryStorage::default(),
            clock: FakeClock(Rc::new(Cell::new(1_000_000))),
        }
    }

    fn engine(&self) -> TestEngine {
        let config = Config::new(STORE, Credential::device(TILL, "secret"));
        block_on(Engine::open(
            self.storage.clone(),
            self.central.clone(),
            self.clock.clone(),
            config,
        ))
        .expect("open")
    }

    /// An engine that has taken central's snapshot.
    fn synced_engine(&self) -> TestEngine {
        let engine = self.engine();
        block_on(engine.sync(0)).expect("first sync");
        engine
    }

    fn central(&self) -> std::cell::RefMut<'_, Central> {
        self.central.0.borrow_mut()
    }
}

/// Syncs until the replica is at central's head.
fn catch_up(engine: &TestEngine) {
    for _ in 0..100 {
        block_on(engine.sync(0)).expect("sync");
        if engine.status().lag == 0 && engine.replica().offset.is_some() {
            return;
        }
    }
    panic!("did not catch up");
}

#[test]
fn bootstraps_then_follows_pages_in_order() {
    let h = Harness::new();
    let engine = h.engine();
    assert!(
        engine.view("A").is_none(),
        "nothing before the first snapshot"
    );
    assert_eq!(
        block_on(engine.sync(0)),
        Ok(Synced::Bootstrapped { offset: 5 })
    );
    assert_eq!(engine.view("A").unwrap().central_available, 10);

    for n in 0..7 {
        h.central().set(STORE, "A", n);
    }
    h.central().set("s2", "A", 99);
    catch_up(&engine);
    let a = engine.view("A").unwrap();
    assert_eq!((a.central_available, a.shown), (6, 6));
    assert_eq!(engine.replica().levels["A"].version, 8);
    assert_eq!(engine.replica().offset, Some(h.central().head()));
    // What is stored is what is in memory.
    let saved = h.storage.saved.borrow().clone();
    assert_eq!(
        (saved.offset, saved.levels.clone()),
        (engine.replica().offset, engine.replica().levels.clone())
    );
}

#[test]
fn units_held_for_online_orders_show_apart_and_are_not_sellable_at_the_till() {
    let h = Harness::new();
    let engine = h.engine();
    catch_up(&engine);
    h.central().hold(STORE, "A", 3);
    catch_up(&engine);
    let a = engine.view("A").unwrap();
    assert_eq!((a.shown, a.held), (7, 3));
    assert_eq!(h.storage.saved.borrow().levels["A"].held, 3, "stored");

    // A new snapshot carries them too; expiry gives them back.
    let fresh = h.engine();
    catch_up(&fresh);
    assert_eq!(fresh.view("A").unwrap().held, 3);
    h.central().hold(STORE, "A", -3);
    catch_up(&engine);
    let a = engine.view("A").unwrap();
    assert_eq!((a.shown, a.held), (10, 0));
}

#[test]
fn a_page_the_device_refuses_keeps_storage_whole_and_the_figures_live() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().set(STORE, "A", 1);
    h.central().set(STORE, "B", 2);
    h.storage.fail_writes.set(true);
    assert!(block_on(engine.sync(0)).is_ok(), "central answered");
    assert_eq!(engine.view("A").unwrap().central_available, 1, "live");
    assert!(engine.status().storage_error.is_some(), "said plainly");
    {
        let saved = h.storage.saved.borrow();
        assert_eq!(
            saved.offset,
            Some(5),
            "storage: the page whole or not at all"
        );
        assert_eq!(saved.levels["A"].available, 10);
    }
    // More pages while storage refuses, then it takes writes again.
    h.central().set(STORE, "A", 3);
    catch_up(&engine);
    h.storage.fail_writes.set(false);
    block_on(engine.sync(0)).unwrap();
    let saved = h.storage.saved.borrow().clone();
    assert_eq!(saved.offset, engine.replica().offset, "stored whole again");
    assert_eq!(saved.base, saved.offset);
    assert_eq!(saved.levels, engine.replica().levels);
    assert_eq!(engine.status().storage_error, None);
    assert_eq!(engine.view("A").unwrap().central_available, 3);
}

#[test]
fn a_sale_whose_answer_is_lost_is_answered_by_its_event_and_never_counted_twice() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell("A", 2, "sale-1".into())).unwrap();
    h.central().lose_answers = true;
    assert_eq!(block_on(engine.flush()).pending, 1, "applied, answer lost");
    // The change log brings the sale before any answer does.
    catch_up(&engine);
    let view = engine.view("A").unwrap();
    assert_eq!((view.central_available, view.shown), (8, 8), "not 6");
    assert!(matches!(
        engine.intents()[0].status,
        IntentStatus::Applied { .. }
    ));
    assert!(
        matches!(
            h.storage.saved.borrow().intents[0].status,
            IntentStatus::Applied { .. }
        ),
        "stored with the page"
    );
    h.central().lose_answers = false;
    assert_eq!(
        block_on(engine.flush()),
        Flushed::default(),
        "nothing to send"
    );
}

#[test]
fn an_answer_is_never_overwritten_by_a_tab_that_did_not_get_one() {
    let h = Harness::new();
    let leader = h.synced_engine();
    block_on(leader.sell("A", 1, "sale-1".into())).unwrap();
    let follower = h.engine();
    assert!(follower.intents()[0].is_unanswered());
    assert_eq!(block_on(leader.flush()).applied, 1);

    // The other tab, behind, tries the same intent and gets no answer.
    h.central().offline = true;
    assert_eq!(block_on(follower.flush()).pending, 1);
    assert!(
        matches!(
            h.storage.saved.borrow().intents[0].status,
            IntentStatus::Applied { .. }
        ),
        "the stored answer stands"
    );
    block_on(follower.reload()).unwrap();
    assert!(matches!(
        follower.intents()[0].status,
        IntentStatus::Applied { .. }
    ));
    assert_eq!(follower.view("A").unwrap().shown, 9);
}

#[test]
fn one_replication_step_at_a_time() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().set(STORE, "A", 4);
    let (release, held) = futures::channel::oneshot::channel();
    h.central().hold = Some(held);
    block_on(async {
        let long_poll = engine.sync(25);
        let meanwhile = async {
            let second = engine.sync(0).await;
            release.send(()).unwrap();
            second
        };
        let (first, second) = futures::join!(long_poll, meanwhile);
        assert_eq!(second, Ok(Synced::Busy));
        assert!(matches!(first, Ok(Synced::Applied { events: 1, .. })));
    });
}

#[test]
fn a_caller_told_busy_waits_for_the_running_step_and_a_dropped_step_frees_the_next() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().set(STORE, "A", 4);
    let (release, held) = futures::channel::oneshot::channel();
    h.central().hold = Some(held);
    block_on(async {
        let long_poll = engine.sync(25);
        let waiter = async {
            assert_eq!(engine.sync(0).await, Ok(Synced::Busy));
            let until = engine.until_synced();
            release.send(()).unwrap();
            until.await;
            // The step is over: the next one runs.
            engine.sync(0).await
        };
        let (first, after) = futures::join!(long_poll, waiter);
        assert!(matches!(first, Ok(Synced::Applied { events: 1, .. })));
        assert!(matches!(after, Ok(Synced::Applied { .. })), "{after:?}");
    });
    // A step dropped before it ends frees the engine for the next one.
    let (_keep, held) = futures::channel::oneshot::channel::<()>();
    h.central().hold = Some(held);
    {
        let mut step = Box::pin(engine.sync(25));
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(step.as_mut().poll(&mut cx).is_pending(), "held at central");
    }
    h.central().hold = None;
    assert!(
        !matches!(block_on(engine.sync(0)), Ok(Synced::Busy)),
        "not stuck busy"
    );
    block_on(engine.until_synced());
}

#[test]
fn a_sign_in_is_contact_and_a_following_tab_takes_the_leaders_status() {
    let h = Harness::new();
    let _leader = h.synced_engine(); // it took the snapshot the follower reads
    let follower = h.engine();
    assert!(!follower.status().online, "no contact of its own");
    assert_eq!(
        block_on(follower.sell("A", 1, "f-1".into())).unwrap().kind,
        AdjustKind::Recorded
    );
    let at = h.clock.0.get();
    follower.follow_status(true, Some(at));
    assert!(follower.status().online && !follower.status().stale);
    assert_eq!(
        block_on(follower.sell("A", 1, "f-2".into())).unwrap().kind,
        AdjustKind::Guarded,
        "sells as the syncing tab would"
    );

    let fresh = h.engine();
    assert!(!fresh.status().online);
    block_on(fresh.sign_in()).unwrap();
    assert!(fresh.status().online, "central answered the sign-in");
}

#[test]
fn a_node_is_connecting_until_central_answers_or_fails() {
    let h = Harness::new();
    let engine = h.engine();
    let status = engine.status();
    assert!(status.connecting && !status.online, "nothing known yet");
    block_on(engine.sync(0)).unwrap();
    assert!(!engine.status().connecting && engine.status().online);

    h.central().offline = true;
    let unreachable = h.engine();
    assert!(unreachable.status().connecting);
    assert!(block_on(unreachable.sync(0)).is_err());
    let status = unreachable.status();
    assert!(!status.connecting && !status.online, "offline, now known");

    let follower = h.engine();
    assert!(follower.status().connecting);
    follower.follow_status(false, None);
    assert!(
        !follower.status().connecting,
        "the syncing tab said central is unreachable"
    );
}

#[test]
fn a_following_tab_rereads_the_base_only_after_a_new_snapshot() {
    let h = Harness::new();
    let leader = h.synced_engine();
    let follower = h.engine();
    let base = follower.replica().base;
    h.central().set(STORE, "A", 7);
    catch_up(&leader);
    block_on(follower.reload()).unwrap();
    assert_eq!(follower.view("A").unwrap().shown, 7);
    assert_eq!(follower.replica().base, base);

    // Central pruned the offset: the leader re-bootstraps; the follower
    // takes the new base whole.
    h.central().set(STORE, "B", 1);
    let head = h.central().head();
    h.central().pruned_through = head;
    catch_up(&leader);
    block_on(follower.reload()).unwrap();
    assert_eq!(follower.replica().base, Some(head));
    assert_eq!(follower.replica().levels, leader.replica().levels);
}

#[test]
fn a_snapshot_older_than_an_answer_never_moves_the_level_back() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell("A", 2, "sale-1".into())).unwrap();
    h.central().set(STORE, "B", 9);
    let head = h.central().head();
    h.central().pruned_through = head;
    let (release, held) = futures::channel::oneshot::channel();
    h.central().hold_snapshot = Some(held);
    block_on(async {
        // The offset is gone: a snapshot, taken before the sale is applied
        // and answered after it (the queue drains while it is on its way).
        let sync = engine.sync(0);
        let drain = async {
            let flushed = engine.flush().await;
            release.send(()).unwrap();
            flushed
        };
        let (synced, flushed) = futures::join!(sync, drain);
        assert_eq!(synced, Ok(Synced::Bootstrapped { offset: head }));
        assert_eq!(flushed.applied, 1);
    });
    assert_eq!(engine.replica().levels["A"].version, 2, "the answer's");
    let view = engine.view("A").unwrap();
    assert_eq!((view.central_available, view.shown), (8, 8), "once");
    assert_eq!(h.storage.saved.borrow().levels["A"].version, 2, "stored");
    assert_eq!(engine.view("B").unwrap().shown, 9, "the snapshot's");
    catch_up(&engine);
    assert_eq!(engine.view("A").unwrap().shown, 8);
}

#[test]
fn a_database_deleted_under_the_node_gets_the_queue_back_at_once_and_the_replica_with_the_next_page()
 {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().offline = true;
    assert!(block_on(engine.sync(0)).is_err());
    block_on(engine.sell("A", 1, "before".into())).unwrap();
    h.storage.lose();

    // Offline, the next sale is stored with the one the device lost.
    block_on(engine.sell("B", 1, "after".into())).unwrap();
    let stored: Vec<_> = h
        .storage
        .saved
        .borrow()
        .intents
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(stored, ["before", "after"]);
    assert_eq!(
        h.storage.saved.borrow().offset,
        None,
        "no page without its base"
    );
    assert_eq!(engine.view("A").unwrap().shown, 9, "memory still answers");

    // Central back: the next page stores the replica whole, the queue drains.
    h.central().offline = false;
    catch_up(&engine);
    let saved = h.storage.saved.borrow().clone();
    assert_eq!(
        (saved.offset, saved.base),
        (Some(5), Some(5)),
        "stored whole"
    );
    assert_eq!(saved.levels, engine.replica().levels);
    assert_eq!(saved.products, engine.replica().products);
    assert_eq!(block_on(engine.flush()).applied, 2);
    catch_up(&engine);
    let saved = h.storage.saved.borrow().clone();
    assert_eq!(saved.offset, engine.replica().offset);
    assert_eq!(saved.levels, engine.replica().levels);
    let reopened = h.engine();
    assert_eq!(reopened.view("A").unwrap().shown, 9);
    assert_eq!(reopened.view("B").unwrap().shown, 9);
    assert_eq!(h.central().answers.len(), 2, "each key once");
}

#[test]
fn a_following_tab_keeps_its_figures_while_a_lost_replica_is_stored_again() {
    let h = Harness::new();
    let leader = h.synced_engine();
    let follower = h.engine();
    block_on(follower.sell("A", 1, "follower".into())).unwrap();
    h.storage.lose();
    block_on(follower.reload()).unwrap();
    assert_eq!(follower.view("A").unwrap().shown, 9, "not a blank till");
    assert_eq!(follower.intents().len(), 1);
    // The syncing tab stores it all again; the follower takes it.
    block_on(leader.reload()).unwrap();
    h.central().set(STORE, "B", 4);
    catch_up(&leader);
    block_on(follower.reload()).unwrap();
    assert_eq!(follower.view("B").unwrap().shown, 4);
    assert_eq!(follower.view("A").unwrap().shown, 9);
}

#[test]
fn an_offset_central_pruned_means_a_new_snapshot() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().set(STORE, "A", 3);
    h.central().set(STORE, "A", 4);
    let head = h.central().head();
    h.central().pruned_through = head;
    assert_eq!(
        block_on(engine.sync(0)),
        Ok(Synced::Bootstrapped { offset: head })
    );
    assert_eq!(engine.view("A").unwrap().central_available, 4);
}

#[test]
fn offline_sales_queue_as_facts_and_drain_once_with_the_same_key() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().offline = true;
    assert!(block_on(engine.sync(0)).is_err());
    assert!(!engine.status().online);

    let sale = block_on(engine.sell("A", 3, "sale-1".into())).unwrap();
    assert_eq!(
        sale.kind,
        AdjustKind::Recorded,
        "offline: the sale happened"
    );
    let view = engine.view("A").unwrap();
    assert_eq!(
        (view.central_available, view.pending_delta, view.shown),
        (10, -3, 7)
    );

    for _ in 0..3 {
        let flushed = block_on(engine.flush());
        assert_eq!(
            flushed,
            Flushed {
                applied: 0,
                rejected: 0,
                pending: 1
            }
        );
    }
    assert_eq!(engine.intents()[0].attempts, 3);
    assert_eq!(
        h.storage.saved.borrow().intents[0].status,
        IntentStatus::Sent,
        "stored as sent, unanswered"
    );

    h.central().offline = false;
    assert_eq!(block_on(engine.flush()).applied, 1);
    assert_eq!(h.central().answers.len(), 1, "one key, once");
    assert_eq!(h.central().levels[&(STORE.into(), "A".into())].0, 7);
    // The answer updated the level: the intent no longer counts, no double.
    let view = engine.view("A").unwrap();
    assert_eq!(
        (view.central_available, view.pending_delta, view.shown),
        (7, 0, 7)
    );
    catch_up(&engine);
    assert_eq!(engine.view("A").unwrap().shown, 7);
}

#[test]
fn a_lost_answer_is_retried_with_the_same_key_and_applied_once() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell("A", 2, "sale-1".into())).unwrap();
    h.central().lose_answers = true;
    assert_eq!(block_on(engine.flush()).pending, 1);
    assert_eq!(
        h.central().levels[&(STORE.into(), "A".into())].0,
        8,
        "applied at central"
    );
    h.central().lose_answers = false;
    assert_eq!(block_on(engine.flush()).applied, 1);
    assert_eq!(
        h.central().levels[&(STORE.into(), "A".into())].0,
        8,
        "not applied twice"
    );
    assert_eq!(engine.view("A").unwrap().shown, 8);
}

#[test]
fn a_refused_intent_is_final_and_does_not_block_the_queue() {
    let h = Harness::new();
    let engine = h.synced_engine();
    assert!(engine.status().online);
    let big = block_on(engine.sell("A", 50, "too-many".into())).unwrap();
    assert_eq!(big.kind, AdjustKind::Guarded, "online: central decides");
    block_on(engine.sell("B", 1, "fine".into())).unwrap();
    assert_eq!(
        block_on(engine.flush()),
        Flushed {
            applied: 1,
            rejected: 1,
            pending: 0
        }
    );
    match &engine.intents()[0].status {
        IntentStatus::Rejected { problem } => {
            assert_eq!(problem.code, ErrorCode::InsufficientStock)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        engine.view("A").unwrap().shown,
        10,
        "a refusal never counts"
    );
    assert_eq!(engine.view("B").unwrap().shown, 9);
    assert_eq!(
        block_on(engine.flush()),
        Flushed::default(),
        "nothing resent"
    );
}

#[test]
fn reads_say_when_they_are_stale() {
    let h = Harness::new();
    let engine = h.synced_engine();
    let fresh = engine.view("A").unwrap();
    assert!(!fresh.stale);
    assert_eq!(fresh.age_ms, Some(0));
    h.clock.0.set(h.clock.0.get() + 31_000);
    let old = engine.view("A").unwrap();
    assert!(old.stale && engine.status().stale);
    assert_eq!(old.age_ms, Some(31_000));
    catch_up(&engine);
    assert!(!engine.view("A").unwrap().stale);
}

#[test]
fn a_401_means_one_new_sign_in_not_a_loop() {
    let h = Harness::new();
    let engine = h.synced_engine();
    assert_eq!(h.central().sign_ins, 1);
    h.central().unauthorized = 1;
    block_on(engine.sync(0)).unwrap();
    assert_eq!(h.central().sign_ins, 2, "signed in again once");
    h.central().unauthorized = 10;
    let err = block_on(engine.sync(0)).unwrap_err();
    assert!(matches!(err, EngineError::Refused(ref p) if p.status == 401));
    assert_eq!(h.central().sign_ins, 3, "one more try, then the error");
}

#[test]
fn tokens_are_renewed_before_they_expire() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.clock.0.set(h.clock.0.get() + 800_000);
    block_on(engine.sync(0)).unwrap();
    assert_eq!(h.central().sign_ins, 1, "still valid");
    h.clock.0.set(h.clock.0.get() + 50_000);
    block_on(engine.sync(0)).unwrap();
    assert_eq!(h.central().sign_ins, 2, "renewed within the margin");
}

#[test]
fn reads_and_sales_go_on_while_a_long_poll_waits() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().set(STORE, "A", 4);
    let (release, held) = futures::channel::oneshot::channel();
    h.central().hold = Some(held);
    block_on(async {
        let sync = engine.sync(25);
        let meanwhile = async {
            // The sync is parked on the long-poll here.
            let shown = engine.view("A").map(|v| v.shown);
            let sold = engine.sell("B", 1, "during".into()).await;
            release.send(()).unwrap();
            (shown, sold)
        };
        let (synced, (shown, sold)) = futures::join!(sync, meanwhile);
        assert_eq!(
            shown,
            Some(10),
            "answered from the replica, without waiting"
        );
        assert!(sold.is_ok());
        assert!(matches!(synced, Ok(Synced::Applied { events: 1, .. })));
    });
    assert_eq!(engine.view("A").unwrap().shown, 4);
    assert_eq!(engine.view("B").unwrap().shown, 9);
}

#[test]
fn a_following_tab_reloads_what_the_syncing_tab_stored() {
    let h = Harness::new();
    let leader = h.engine();
    let follower = h.engine();
    block_on(leader.sync(0)).unwrap();
    block_on(leader.sell("A", 1, "from-leader".into())).unwrap();
    assert!(follower.view("A").is_none(), "not yet");
    block_on(follower.reload()).unwrap();
    assert_eq!(follower.view("A").unwrap().shown, 9);
    assert_eq!(follower.intents().len(), 1);
}

#[test]
fn the_queue_survives_a_reopen() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().offline = true;
    block_on(engine.sell("A", 1, "kept".into())).unwrap();
    drop(engine);
    let reopened = h.engine();
    assert_eq!(reopened.intents().len(), 1);
    assert_eq!(reopened.view("A").unwrap().shown, 9);
}

#[test]
fn offline_a_storage_refusal_is_said_plainly_and_nothing_is_acknowledged() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().offline = true;
    assert!(block_on(engine.sync(0)).is_err());
    h.storage.fail_writes.set(true);
    let err = block_on(engine.sell("A", 1, "no-room".into())).unwrap_err();
    assert_eq!(
        err,
        EngineError::Storage(StorageError("QuotaExceededError".into()))
    );
    assert!(
        engine.intents().is_empty(),
        "not acknowledged, so not queued"
    );
    assert_eq!(
        engine.status().storage_error.as_deref(),
        Some("QuotaExceededError"),
        "the page can say why"
    );
    h.storage.fail_writes.set(false);
    block_on(engine.sell("A", 1, "room-again".into())).unwrap();
    assert_eq!(engine.status().storage_error, None, "cleared by a write");
}

#[test]
fn online_a_storage_refusal_sells_straight_through_central() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.storage.fail_writes.set(true);
    let sale = block_on(engine.sell("A", 2, "no-room".into())).unwrap();
    assert!(
        matches!(sale.status, IntentStatus::Applied { .. }),
        "acknowledged once central applied it: {sale:?}"
    );
    assert_eq!(h.central().levels[&(STORE.into(), "A".into())].0, 8);
    assert_eq!(engine.view("A").unwrap().shown, 8);
    assert!(engine.status().storage_error.is_some());
    assert!(
        h.storage.saved.borrow().intents.is_empty(),
        "nothing stored"
    );

    // Central's answer lost too: not confirmed, and sent again with its key
    // (from memory) until it is answered, applied once.
    h.central().lose_answers = true;
    let err = block_on(engine.sell("B", 1, "unconfirmed".into())).unwrap_err();
    assert!(matches!(err, EngineError::Storage(_)), "{err:?}");
    assert_eq!(engine.status().queued, 1, "kept in memory, unanswered");
    h.central().lose_answers = false;
    assert_eq!(block_on(engine.flush()).applied, 1);
    assert_eq!(h.central().levels[&(STORE.into(), "B".into())].0, 9);
    assert_eq!(h.central().answers.len(), 2, "each key once");
}

#[test]
fn bad_quantities_and_unknown_skus_are_refused_before_queueing() {
    let h = Harness::new();
    let engine = h.synced_engine();
    assert!(matches!(
        block_on(engine.sell("ZZ", 1, "x".into())),
        Err(EngineError::Invalid(_))
    ));
    for quantity in [0, -3, shared::limits::MAX_QUANTITY + 1] {
        let sold = block_on(engine.sell("A", quantity, "neg".into()));
        assert!(
            matches!(sold, Err(EngineError::Invalid(_))),
            "a sale of {quantity}"
        );
        let stocked = block_on(engine.restock("A", quantity, "neg".into()));
        assert!(
            matches!(stocked, Err(EngineError::Invalid(_))),
            "a restock of {quantity}"
        );
    }
    let line = |sku: &str, quantity| BasketLine {
        sku: sku.into(),
        quantity,
        id: format!("line-{sku}-{quantity}"),
    };
    for lines in [
        vec![],
        vec![line("A", 1), line("B", 0)],
        vec![line("A", 1), line("ZZ", 1)],
        (0..=MAX_BASKET_LINES as i64)
            .map(|n| line("A", n + 1))
            .collect(),
    ] {
        let sold = block_on(engine.sell_basket("b".into(), lines));
        assert!(matches!(sold, Err(EngineError::Invalid(_))), "{sold:?}");
    }
    assert!(engine.intents().is_empty());
}

fn basket(lines: &[(&str, i64)]) -> Vec<BasketLine> {
    lines
        .iter()
        .enumerate()
        .map(|(n, (sku, quantity))| BasketLine {
            sku: (*sku).into(),
            quantity: *quantity,
            id: format!("line-{n}-{sku}"),
        })
        .collect()
}

#[test]
fn a_basket_goes_as_one_atomic_batch_and_applies_whole() {
    let h = Harness::new();
    let engine = h.synced_engine();
    let lines =
        block_on(engine.sell_basket("basket-1".into(), basket(&[("A", 2), ("B", 3)]))).unwrap();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l.basket.as_deref() == Some("basket-1"))
    );
    assert_eq!(h.storage.saved.borrow().intents.len(), 2, "both stored");
    assert_eq!(
        (
            engine.view("A").unwrap().shown,
            engine.view("B").unwrap().shown
        ),
        (8, 7)
    );

    let flushed = block_on(engine.flush());
    assert_eq!((flushed.applied, flushed.rejected), (2, 0));
    assert_eq!(h.central().batches, 1, "one request for the basket");
    assert_eq!(h.central().levels[&(STORE.into(), "A".into())].0, 8);
    assert_eq!(h.central().levels[&(STORE.into(), "B".into())].0, 7);
    catch_up(&engine);
    assert_eq!(
        (
            engine.view("A").unwrap().shown,
            engine.view("B").unwrap().shown
        ),
        (8, 7)
    );
}

#[test]
fn a_basket_with_a_line_central_refuses_applies_nothing() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell_basket("b".into(), basket(&[("A", 2), ("B", 50)]))).unwrap();
    block_on(engine.sell("A", 1, "after".into())).unwrap();
    let flushed = block_on(engine.flush());
    assert_eq!(
        (flushed.applied, flushed.rejected),
        (1, 2),
        "the sale behind it went on"
    );
    let intents = engine.intents();
    let problem = |i: &Intent| match &i.status {
        IntentStatus::Rejected { problem } => problem.code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(problem(&intents[0]), ErrorCode::BatchAborted);
    assert_eq!(problem(&intents[1]), ErrorCode::InsufficientStock);
    assert_eq!(
        h.central().levels[&(STORE.into(), "A".into())].0,
        9,
        "only the later sale"
    );
    assert_eq!(h.central().levels[&(STORE.into(), "B".into())].0, 10);
    assert_eq!(
        engine.view("B").unwrap().shown,
        10,
        "a refusal never counts"
    );
}

#[test]
fn an_offline_basket_is_recorded_and_a_lost_answer_replays_whole() {
    let h = Harness::new();
    let engine = h.synced_engine();
    h.central().offline = true;
    assert!(block_on(engine.sync(0)).is_err());
    let lines = block_on(engine.sell_basket("b".into(), basket(&[("A", 12), ("B", 1)]))).unwrap();
    assert!(
        lines.iter().all(|l| l.kind == AdjustKind::Recorded),
        "the goods left"
    );
    assert_eq!(block_on(engine.flush()).pending, 2);
    assert!(
        engine
            .intents()
            .iter()
            .all(|i| i.status == IntentStatus::Sent)
    );

    h.central().offline = false;
    h.central().lose_answers = true;
    assert_eq!(block_on(engine.flush()).pending, 2, "applied, answer lost");
    h.central().lose_answers = false;
    assert_eq!(block_on(engine.flush()).applied, 2, "replayed");
    assert_eq!(
        h.central().levels[&(STORE.into(), "A".into())].0,
        -2,
        "a fact below zero"
    );
    assert_eq!(h.central().levels[&(STORE.into(), "B".into())].0, 9);
    assert_eq!(h.central().answers.len(), 2, "each key once");
}

#[test]
fn refused_credentials_keep_the_queue_and_say_so() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell("A", 1, "kept".into())).unwrap();
    h.central().unauthorized = 10;
    let flushed = block_on(engine.flush());
    assert_eq!(flushed.pending, 1, "a 401 is no answer about the sale");
    assert_eq!(engine.intents()[0].status, IntentStatus::Sent);
    assert_eq!(
        engine.status().signed_out.map(|p| p.status),
        Some(401),
        "the page can ask for a new sign-in"
    );
    h.central().unauthorized = 0;
    assert_eq!(block_on(engine.flush()).applied, 1);
    assert_eq!(engine.status().signed_out, None);
}

#[test]
fn applied_intents_are_pruned_once_the_replica_has_them() {
    let h = Harness::new();
    let engine = h.synced_engine();
    for n in 0..60 {
        block_on(engine.restock("A", 1, format!("r-{n}"))).unwrap();
    }
    block_on(engine.sell("A", 500, "refused".into())).unwrap();
    assert_eq!(block_on(engine.flush()).applied, 60);
    catch_up(&engine);
    let intents = engine.intents();
    assert_eq!(intents.len(), 51, "the newest 50 applied, and the refusal");
    assert_eq!(
        h.storage.saved.borrow().intents.len(),
        51,
        "stored likewise"
    );
    assert_eq!(intents[0].id, "r-10", "the oldest went first");
    assert_eq!(engine.view("A").unwrap().shown, 70, "nothing counted twice");

    // The cashier dismisses the refusal; an unanswered one cannot be.
    block_on(engine.dismiss("refused")).unwrap();
    assert!(engine.intents().iter().all(|i| i.id != "refused"));
    h.central().offline = true;
    block_on(engine.sell("A", 1, "queued".into())).unwrap();
    assert!(matches!(
        block_on(engine.dismiss("queued")),
        Err(EngineError::Invalid(_))
    ));
}

/// The reason central recorded for the write with `key`.
fn reason_at_central(h: &Harness, key: &str) -> Option<String> {
    h.central().events.iter().find_map(|e| match &e.change {
        Change::StockAdjusted {
            idempotency_key,
            reason,
            ..
        } if idempotency_key == key => reason.clone(),
        _ => None,
    })
}

#[test]
fn a_return_puts_the_goods_back_with_its_reason() {
    let h = Harness::new();
    let engine = h.synced_engine();
    let back = block_on(engine.return_item("A", 2, "changed mind", "ret-1".into())).unwrap();
    assert_eq!((back.delta, back.kind), (2, AdjustKind::Guarded));
    assert_eq!(engine.view("A").unwrap().shown, 12, "on the shelf at once");
    assert_eq!(block_on(engine.flush()).applied, 1);
    assert_eq!(h.central().levels[&(STORE.into(), "A".into())].0, 12);
    assert_eq!(
        reason_at_central(&h, "ret-1").as_deref(),
        Some("return: changed mind")
    );
    // A reason a cashier typed is cut to what central takes, never refused.
    let long = "x\n".repeat(300);
    let back = block_on(engine.return_item("A", 1, &long, "ret-2".into())).unwrap();
    let reason = back.reason.unwrap();
    assert_eq!(reason.chars().count(), shared::limits::MAX_REASON_LEN);
    assert!(!reason.contains('\n'));
    assert!(block_on(engine.return_item("A", 0, "none", "ret-3".into())).is_err());
}

#[test]
fn a_void_puts_back_every_line_of_the_sale_as_one_batch_naming_it() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell_basket("b-1".into(), basket(&[("A", 2), ("B", 3)]))).unwrap();
    assert_eq!(block_on(engine.flush()).applied, 2);
    let lines: Vec<String> = engine.intents().iter().map(|i| i.id.clone()).collect();

    let voided = block_on(engine.void(&lines, "void-1".into())).unwrap();
    assert_eq!(voided.len(), 2);
    assert!(voided.iter().all(|v| v.basket.as_deref() == Some("void-1")));
    assert_eq!(
        (
            engine.view("A").unwrap().shown,
            engine.view("B").unwrap().shown
        ),
        (10, 10),
        "back at once"
    );
    let batches = h.central().batches;
    assert_eq!(block_on(engine.flush()).applied, 2);
    assert_eq!(h.central().batches, batches + 1, "one atomic batch");
    assert_eq!(h.central().levels[&(STORE.into(), "A".into())].0, 10);
    assert_eq!(h.central().levels[&(STORE.into(), "B".into())].0, 10);
    assert_eq!(
        reason_at_central(&h, &voided[0].id),
        Some(format!("void of sale {}", lines[0]))
    );
    assert!(
        block_on(engine.void(&lines, "void-2".into())).is_err(),
        "voided once"
    );
    assert_eq!(engine.view("A").unwrap().shown, 10);
}

#[test]
fn only_a_sale_this_till_knows_and_central_took_can_be_voided() {
    let h = Harness::new();
    let engine = h.synced_engine();
    assert!(block_on(engine.void(&["nope".into()], "v".into())).is_err());
    block_on(engine.restock("A", 1, "restock".into())).unwrap();
    assert!(
        block_on(engine.void(&["restock".into()], "v".into())).is_err(),
        "a restock is not a sale"
    );
    block_on(engine.sell("A", 50, "too-many".into())).unwrap();
    block_on(engine.flush());
    assert!(
        block_on(engine.void(&["too-many".into()], "v".into())).is_err(),
        "refused: nothing to void"
    );
    assert_eq!(engine.view("A").unwrap().shown, 11);
}

#[test]
fn a_count_records_the_difference_from_what_the_till_shows() {
    let h = Harness::new();
    let engine = h.synced_engine();
    block_on(engine.sell("A", 1, "sale".into())).unwrap();
    assert_eq!(engine.view("A").unwrap().shown, 9);
    let counted = block_on(engine.count("A", 6, "count-1".into())).unwrap();
    assert_eq!((counted.delta, counted.kind), (-3, AdjustKind::Recorded));
    assert_eq!(engine.view("A").unwrap().shown, 6);
    assert_eq!(block_on(engine.flush()).applied, 2);
    assert_eq!(h.central().levels[&(STORE.into(), "A".into())].0, 6);
    assert_eq!(
        reason_at_central(&h, "count-1").as_deref(),
        Some("count: 6 counted, 9 shown")
    );
    assert!(
        block_on(engine.count("A", 6, "count-2".into())).is_err(),
        "nothing to correct"
    );
    assert!(block_on(engine.count("A", -1, "count-3".into())).is_err());
}

#[test]
fn the_last_sale_and_the_figures_below_zero_are_there_to_be_resolved() {
    let h = Harness::new();
    let engine = h.synced_engine();
    assert!(engine.last_sale().is_none());
    block_on(engine.sell("A", 1, "one".into())).unwrap();
    block_on(engine.sell_basket("b".into(), basket(&[("A", 2), ("B", 1)]))).unwrap();
    block_on(engine.restock("B", 5, "restock".into())).unwrap();
    let last = engine.last_sale().unwrap();
    assert_eq!(
        last.iter().map(|i| i.sku.as_str()).collect::<Vec<_>>(),
        ["A", "B"],
        "the basket, whole; a later restock is not a sale"
    );
    assert_eq!(last[0].purpose(), Purpose::Sale);

    // Offline, a sale the shelf could not hold is recorded all the same.
    h.central().offline = true;
    assert!(block_on(engine.sync(0)).is_err());
    block_on(engine.sell("A", 20, "too-many".into())).unwrap();
    let below = engine.below_zero();
    assert_eq!(below.len(), 1);
    assert_eq!((below[0].sku.as_str(), below[0].shown), ("A", -13));
    block_on(engine.count("A", 0, "count".into())).unwrap();
    assert!(engine.below_zero().is_empty(), "counted: resolved");
    assert_eq!(
        engine.intents().last().map(Intent::purpose),
        Some(Purpose::Count)
    );
}

#[test]
fn prices_count_in_the_currency_central_names_in_its_snapshot() {
    let h = Harness::new();
    let engine = h.engine();
    assert_eq!(engine.currency().code(), "EUR", "until central says");
    block_on(engine.sync(0)).unwrap();
    assert_eq!(engine.currency().code(), "GBP");
    assert_eq!(
        h.storage.saved.borrow().currency.as_ref().map(|c| c.code()),
        Some("GBP"),
        "kept for offline"
    );
}

#[test]
fn lists_put_an_exact_sku_first_and_stop_at_the_limit() {
    let h = Harness::new();
    {
        let mut c = h.central();
        c.product("AB");
        c.product("XA");
    }
    let engine = h.synced_engine();
    let skus = |filter: &str, limit| -> Vec<String> {
        engine
            .list(filter, limit)
            .into_iter()
            .map(|v| v.sku)
            .collect()
    };
    assert_eq!(skus("a", 10), ["A", "AB", "XA"], "exact (any case) first");
    assert_eq!(skus("b", 10), ["B", "AB"]);
    assert_eq!(skus("product xa", 10), ["XA"], "by name, any case");
    assert_eq!(skus("", 2), ["A", "AB"]);
    assert!(skus("nothing", 10).is_empty());
}

#[test]
fn nearby_names_the_other_stores_from_the_replica() {
    let h = Harness::new();
    {
        let mut c = h.central();
        c.store(STORE, "Downtown");
        c.store("s2", "Harbourside");
    }
    let engine = h.synced_engine();
    h.central().store("s3", "Airport");
    h.central().set("s3", "A", 4);
    catch_up(&engine);
    assert_eq!(
        engine.store_name("s3").as_deref(),
        Some("Airport"),
        "followed"
    );
    let mut nearby = block_on(engine.nearby("A")).unwrap();
    nearby.sort_by(|a, b| a.store_id.cmp(&b.store_id));
    let seen: Vec<_> = nearby
        .iter()
        .map(|n| (n.store_id.as_str(), n.name.as_deref(), n.available))
        .collect();
    assert_eq!(
        seen,
        [
            ("s1", Some("Downtown"), 10),
            ("s2", Some("Harbourside"), 5),
            ("s3", Some("Airport"), 4)
        ]
    );
    h.central().offline = true;
    assert!(matches!(
        block_on(engine.nearby("A")),
        Err(EngineError::Offline(_))
    ));
}

/// A till's queue outlives its software: intents stored by one release are
/// read by the next, after an update, offline. Their JSON is pinned here,
/// so a rename cannot silently lose a queued sale.
#[test]
fn a_stored_intent_keeps_its_json() {
    let intent = Intent {
        id: "k-1".into(),
        sku: "A".into(),
        delta: 2,
        kind: AdjustKind::Recorded,
        basket: Some("v-1".into()),
        reason: Some("void of sale k-0".into()),
        created_at_ms: 1_764_590_400_000,
        attempts: 1,
        last_error: Some("offline".into()),
        status: IntentStatus::Sent,
    };
    let golden = r#"{"id":"k-1","sku":"A","delta":2,"kind":"recorded","basket":"v-1","reason":"void of sale k-0","created_at_ms":1764590400000,"attempts":1,"last_error":"offline","status":"sent"}"#;
    assert_eq!(serde_json::to_string(&intent).unwrap(), golden);
    assert_eq!(serde_json::from_str::<Intent>(golden).unwrap(), intent);
    // One stored before intents had reasons and baskets reads as before.
    let older = r#"{"id":"k-1","sku":"A","delta":-1,"kind":"guarded","created_at_ms":1,"attempts":0,"last_error":null,"status":"pending"}"#;
    let read: Intent = serde_json::from_str(older).unwrap();
    assert_eq!(read.purpose(), Purpose::Sale);
    assert_eq!((read.basket, read.reason), (None, None));
}
