//! The ledger on a real database, below HTTP: the writer's group commit and
//! its savepoint path, what subscribers hear, keyed writes, baskets, reads
//! and retention. Every case runs on both backends (a fresh SQLite file, a
//! fresh database on the test PostgreSQL): one conformance suite.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use ledger::{
    Command, Committed, Ledger, ReadError, Reader, Refusal, Subscriber, WriteError, Writer,
    WriterOptions,
    clock::Clock,
    cmd::{
        Adjust, Batch, CreateProduct, CreateStore, EnrolDevice, NewDevice, Prune, PrunePolicy,
        SetStock,
    },
    expiry::ExpiryWatch,
    sqlite,
};
use shared::{
    AdjustKind, AdjustRequest, BatchAdjustRequest, BatchItem, NewProduct, NewStore, SetStockRequest,
};
use tokio::task::JoinHandle;

/// Everything a subscriber heard, in order.
#[derive(Default)]
struct Heard {
    opened: Mutex<Option<(u64, u64)>>,
    groups: Mutex<Vec<Committed>>,
    /// While set, the writer waits in `committed` until told to go on.
    hold: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Subscriber for Heard {
    fn opened(&self, head: u64, pruned_through: u64) {
        *self.opened.lock().unwrap() = Some((head, pruned_through));
    }

    fn committed(&self, committed: &Committed) {
        self.groups.lock().unwrap().push(committed.clone());
        let hold = self.hold.lock().unwrap().take();
        if let Some(go_on) = hold {
            let _ = go_on.recv_timeout(Duration::from_secs(10));
        }
    }
}

struct Fixture {
    ledger: Ledger,
    reader: Reader,
    heard: Arc<Heard>,
    /// Hears of holds due; [`ledger::expiry::run`] takes it.
    expiry: Arc<ExpiryWatch>,
    clock: Clock,
    writer: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Fixture {
    async fn open(backend: Backend) -> Fixture {
        Fixture::open_with(backend, Clock::system()).await
    }

    async fn open_with(backend: Backend, clock: Clock) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let location = match backend {
            Backend::Sqlite => ledger::Location::Sqlite(sqlite::Options {
                path: dir.path().join("ledger.db"),
                synchronous: sqlite::Synchronous::Normal,
                read_connections: 2,
                mark_demo: false,
            }),
            Backend::Postgres => ledger::Location::Postgres(ledger::postgres::Options {
                url: testkit::postgres::fresh_database().await,
                read_connections: 2,
                mark_demo: false,
            }),
        };
        let db = ledger::open(location).await.unwrap();
        let reader = db.reader();
        let heard = Arc::new(Heard::default());
        let expiry = Arc::new(ExpiryWatch::default());
        let writer_options = WriterOptions {
            queue: 64,
            group_items: 1024,
            clock: clock.clone(),
        };
        let (ledger, writer) = db.start(writer_options, vec![heard.clone(), expiry.clone()]);
        let fixture = Fixture {
            ledger,
            reader,
            heard,
            expiry,
            clock,
            writer,
            _dir: dir,
        };
        fixture.store("s1").await;
        fixture.product("A").await;
        fixture
    }

    async fn store(&self, store_id: &str) {
        let new = NewStore {
            store_id: store_id.into(),
            name: store_id.into(),
            client_secret: None,
        };
        let secret_hash = "not-a-real-hash".into();
        let created = self.ledger.run(CreateStore { new, secret_hash }).await;
        created.unwrap().unwrap();
    }

    async fn product(&self, sku: &str) {
        let new = NewProduct {
            sku: sku.into(),
            name: format!("Product {sku}"),
            price_cents: 100,
        };
        self.ledger.run(CreateProduct(new)).await.unwrap().unwrap();
    }

    async fn set(&self, sku: &str, on_hand: i64) {
        self.set_at("s1", sku, on_hand).await;
    }

    async fn set_at(&self, store_id: &str, sku: &str, on_hand: i64) {
        let req = SetStockRequest {
            on_hand,
            expected_version: None,
            reason: None,
        };
        let set = SetStock {
            store_id: store_id.into(),
            sku: sku.into(),
            req,
        };
        self.ledger.run(set).await.unwrap().unwrap();
    }

    fn adjust(&self, key: &str, sku: &str, delta: i64) -> Adjust {
        Adjust::new(Writer::store("s1"), key.into(), sale(sku, delta)).unwrap()
    }

    /// Holds the writer in its next publication until the sender is used
    /// or dropped.
    fn hold_next_commit(&self) -> mpsc::Sender<()> {
        let (go_on, wait) = mpsc::channel();
        *self.heard.hold.lock().unwrap() = Some(wait);
        go_on
    }

    /// Waits until `n` writes wait in the writer's queue, so they are
    /// taken in the order they were sent.
    async fn until_queued(&self, n: usize) {
        while self.ledger.queued() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Sends a write and waits until it is queued, the `n`th behind a held
    /// writer.
    async fn queue<C: Command>(
        &self,
        command: C,
        n: usize,
    ) -> JoinHandle<Result<C::Output, WriteError>>
    where
        C::Output: std::fmt::Debug,
    {
        let ledger = self.ledger.clone();
        let sent = tokio::spawn(async move { ledger.run(command).await });
        self.until_queued(n).await;
        sent
    }

    fn groups(&self) -> Vec<Committed> {
        self.heard.groups.lock().unwrap().clone()
    }

    async fn close(self) {
        self.ledger.shutdown().await;
        self.writer.await.unwrap();
    }
}

fn sale(sku: &str, delta: i64) -> AdjustRequest {
    AdjustRequest {
        sku: sku.into(),
        delta,
        kind: AdjustKind::Guarded,
        expected_version: None,
        reason: None,
    }
}

fn offsets(groups: &[Committed]) -> Vec<u64> {
    groups
        .iter()
        .flat_map(|g| g.events.iter().map(|e| e.offset))
        .collect()
}

async fn subscribers_hear_the_head_at_open_and_every_group_in_offset_order(backend: Backend) {
    let fx = Fixture::open(backend).await;
    assert_eq!(*fx.heard.opened.lock().unwrap(), Some((0, 0)));
    fx.set("A", 5).await;
    let applied = fx.ledger.run(fx.adjust("k1", "A", -2)).await.unwrap();
    assert_eq!(applied.outcome.as_ref().unwrap().available, 3);

    let groups = fx.groups();
    let all = offsets(&groups);
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>(), "gapless");
    assert_eq!(groups.last().unwrap().head, all.len() as u64);
    assert_eq!(fx.reader.positions().await.unwrap().head, all.len() as u64);
    fx.close().await;
}

/// One command whose statement fails (a device id enrolled twice breaks
/// the primary key) costs only itself: the group is applied again with a
/// savepoint per command, its neighbours commit, and no offset is skipped.
/// Enrols `dev-1` at s1: a second enrolment of it fails the command
/// (not a refusal), which sends its group down the savepoint path.
fn enrol_device(name: &str) -> EnrolDevice {
    EnrolDevice {
        device: NewDevice {
            device_id: "dev-1".into(),
            store_id: "s1".into(),
            name: name.into(),
        },
        secret_hash: "hash".into(),
        limit: 8,
    }
}

async fn a_failing_command_is_refused_alone_and_the_rest_of_its_group_commits(backend: Backend) {
    let fx = Fixture::open(backend).await;
    fx.set("A", 10).await;
    let enrol = enrol_device;
    fx.ledger.run(enrol("first")).await.unwrap().unwrap();

    // Hold the writer after the next commit, queue three commands behind
    // it, then let it take them as one group.
    let go_on = fx.hold_next_commit();
    let ledger = fx.ledger.clone();
    let holder = tokio::spawn({
        let adjust = fx.adjust("k0", "A", -1);
        async move { ledger.run(adjust).await }
    });
    while fx.heard.hold.lock().unwrap().is_some() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ledger = fx.ledger.clone();
    let before = tokio::spawn({
        let adjust = fx.adjust("k1", "A", -1);
        let ledger = ledger.clone();
        async move { ledger.run(adjust).await }
    });
    fx.until_queued(1).await;
    let failing = tokio::spawn({
        let ledger = ledger.clone();
        let again = enrol("second");
        async move { ledger.run(again).await }
    });
    fx.until_queued(2).await;
    let after = tokio::spawn({
        let adjust = fx.adjust("k2", "A", -1);
        async move { ledger.run(adjust).await }
    });
    fx.until_queued(3).await;
    go_on.send(()).unwrap();

    assert!(holder.await.unwrap().unwrap().outcome.is_ok());
    let before = before.await.unwrap().unwrap().outcome.unwrap();
    assert_eq!(failing.await.unwrap(), Err(WriteError::Storage));
    let after = after.await.unwrap().unwrap().outcome.unwrap();
    assert_eq!((before.available, after.available), (8, 7));
    assert_eq!(
        after.offset,
        before.offset + 1,
        "no offset for the failed one"
    );

    let groups = fx.groups();
    let group = groups.last().unwrap();
    assert_eq!(group.stats.commands, 3, "the three were one group");
    assert_eq!(group.events.len(), 2);
    assert!(
        group.access.is_empty(),
        "the failed enrolment published nothing"
    );
    let all = offsets(&groups);
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    let level = fx.reader.level("s1", "A").await.unwrap();
    assert_eq!((level.available, level.version), (7, 4));
    fx.close().await;
}

/// Inside one group, each command reads what the ones before it wrote —
/// also where a backend keeps the group's writes in memory until COMMIT —
/// and a basket rolled back in the middle leaves the level as the command
/// before it left it. A product created in the group is found by the next.
async fn later_commands_in_a_group_read_what_earlier_ones_wrote(backend: Backend) {
    let fx = Fixture::open(backend).await;
    fx.set("A", 10).await;
    let go_on = fx.hold_next_commit();
    let holder = fx.queue(fx.adjust("k0", "A", -1), 0).await;
    while fx.heard.hold.lock().unwrap().is_some() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let line = |key: &str, delta: i64| BatchItem {
        idempotency_key: key.into(),
        sku: "A".into(),
        delta,
        kind: AdjustKind::Guarded,
        expected_version: None,
        reason: None,
    };
    let basket = BatchAdjustRequest {
        atomic: true,
        items: vec![line("b1", -2), line("b2", -100)],
    };
    let new_b = NewProduct {
        sku: "B".into(),
        name: "Product B".into(),
        price_cents: 100,
    };
    let first = fx.queue(fx.adjust("k1", "A", -1), 1).await;
    let basket = fx
        .queue(Batch::new(Writer::store("s1"), basket).unwrap(), 2)
        .await;
    let no_b = fx.queue(fx.adjust("k2", "B", 5), 3).await;
    let create_b = fx.queue(CreateProduct(new_b), 4).await;
    let restock_b = fx.queue(fx.adjust("k3", "B", 5), 5).await;
    let again = fx.queue(fx.adjust("k1", "A", -1), 6).await;
    let last = fx.queue(fx.adjust("k4", "A", -1), 7).await;
    go_on.send(()).unwrap();

    assert_eq!(holder.await.unwrap().unwrap().outcome.unwrap().available, 9);
    let first = first.await.unwrap().unwrap().outcome.unwrap();
    assert_eq!(first.available, 8);
    let basket = basket.await.unwrap().unwrap();
    assert!(!basket.committed);
    match &basket.items[1].1.outcome {
        Err(Refusal::InsufficientStock { current, .. }) => assert_eq!(
            current.available, 8,
            "the level as the group left it, not as the database had it"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        no_b.await.unwrap().unwrap().outcome,
        Err(Refusal::ProductNotFound { .. })
    ));
    create_b.await.unwrap().unwrap().unwrap();
    assert_eq!(
        restock_b.await.unwrap().unwrap().outcome.unwrap().available,
        5
    );
    let again = again.await.unwrap().unwrap();
    assert!(again.replayed, "a key saved earlier in the group replays");
    assert_eq!(again.outcome.unwrap(), first);
    let last = last.await.unwrap().unwrap().outcome.unwrap();
    assert_eq!(
        (last.available, last.offset),
        (7, first.offset + 3),
        "the rolled-back basket left no offset: +1 the product, +1 B, +1 this"
    );

    let groups = fx.groups();
    let group = groups.last().unwrap();
    assert_eq!(group.stats.commands, 7, "the seven were one group");
    let all = offsets(&groups);
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
    let a = fx.reader.level("s1", "A").await.unwrap();
    assert_eq!((a.available, a.version), (7, 4));
    let b = fx.reader.level("s1", "B").await.unwrap();
    assert_eq!((b.available, b.version), (5, 1));
    fx.close().await;
}

async fn a_replayed_key_gets_its_saved_answer_and_applies_nothing(backend: Backend) {
    let fx = Fixture::open(backend).await;
    fx.set("A", 1).await;
    let first = fx.ledger.run(fx.adjust("k", "A", -1)).await.unwrap();
    assert!(!first.replayed);
    let again = fx.ledger.run(fx.adjust("k", "A", -1)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.outcome, first.outcome);
    let other = fx.ledger.run(fx.adjust("k", "A", -3)).await.unwrap();
    assert_eq!(other.outcome, Err(Refusal::IdempotencyKeyReused));
    let short = fx.ledger.run(fx.adjust("k2", "A", -1)).await.unwrap();
    assert!(matches!(
        short.outcome,
        Err(Refusal::InsufficientStock { .. })
    ));
    assert_eq!(fx.reader.level("s1", "A").await.unwrap().available, 0);
    fx.close().await;
}

async fn a_basket_applies_whole_or_not_at_all(backend: Backend) {
    let fx = Fixture::open(backend).await;
    fx.product("B").await;
    fx.set("A", 2).await;
    fx.set("B", 1).await;
    let line = |key: &str, sku: &str, delta: i64| BatchItem {
        idempotency_key: key.into(),
        sku: sku.into(),
        delta,
        kind: AdjustKind::Guarded,
        expected_version: None,
        reason: None,
    };
    let basket = |b: i64| BatchAdjustRequest {
        atomic: true,
        items: vec![line("l1", "A", -1), line("l2", "B", b)],
    };
    let head = fx.reader.positions().await.unwrap().head;
    let refused = Batch::new(Writer::store("s1"), basket(-2)).unwrap();
    let refused = fx.ledger.run(refused).await.unwrap();
    assert!(!refused.committed);
    assert_eq!(refused.items[0].1.outcome, Err(Refusal::BatchAborted));
    assert_eq!(
        fx.reader.positions().await.unwrap().head,
        head,
        "nothing appended"
    );
    assert_eq!(fx.reader.level("s1", "A").await.unwrap().available, 2);

    // The same keys with the same lines replay the refusal; with other
    // lines they are refused as reused.
    let sold = Batch::new(Writer::store("s1"), basket(-1)).unwrap();
    let sold = fx.ledger.run(sold).await.unwrap();
    assert!(!sold.committed, "its keys already answered");
    let fresh = BatchAdjustRequest {
        atomic: true,
        items: vec![line("l3", "A", -1), line("l4", "B", -1)],
    };
    let fresh = fx
        .ledger
        .run(Batch::new(Writer::store("s1"), fresh).unwrap())
        .await
        .unwrap();
    assert!(fresh.committed);
    assert_eq!(fx.reader.level("s1", "B").await.unwrap().available, 0);
    fx.close().await;
}

async fn reads_refuse_what_does_not_exist_and_read_unwritten_levels_as_zero(backend: Backend) {
    let fx = Fixture::open(backend).await;
    let level = fx.reader.level("s1", "A").await.unwrap();
    assert_eq!((level.available, level.version), (0, 0));
    assert!(matches!(
        fx.reader.level("nope", "A").await,
        Err(ReadError::Refused(Refusal::StoreNotFound { .. }))
    ));
    assert!(matches!(
        fx.reader.level("s1", "NOPE").await,
        Err(ReadError::Refused(Refusal::ProductNotFound { .. }))
    ));
    assert!(matches!(
        fx.reader.devices_of("nope").await,
        Err(ReadError::Refused(Refusal::StoreNotFound { .. }))
    ));
    fx.close().await;
}

async fn pruned_offsets_are_gone_and_the_rest_of_the_log_pages_as_before(backend: Backend) {
    let fx = Fixture::open(backend).await;
    for i in 0..5 {
        fx.set("A", i).await;
    }
    let head = fx.reader.positions().await.unwrap().head;
    let page = fx.reader.changes(0, 3, Some("s1")).await.unwrap();
    assert_eq!(page.events.len(), 3);
    assert!(page.next_offset < head);

    let policy = PrunePolicy {
        events_before_ms: 0,
        keep_events: 2,
        keys_before_ms: 0,
        chunk: 1_000,
    };
    let report = fx.ledger.run(Prune(policy)).await.unwrap();
    assert_eq!(report.oldest_offset, head - 2);
    assert_eq!(fx.groups().last().unwrap().pruned_through, Some(head - 2));
    assert!(matches!(
        fx.reader.changes(0, 10, None).await,
        Err(ReadError::OffsetGone { oldest, .. }) if oldest == head - 2
    ));
    let rest = fx.reader.changes(head - 2, 10, None).await.unwrap();
    assert_eq!((rest.events.len(), rest.next_offset), (2, head));
    fx.close().await;
}

/// What was queued before the shutdown commits; what comes after is
/// refused, never lost silently.
async fn writes_after_shutdown_are_refused_as_closed(backend: Backend) {
    let fx = Fixture::open(backend).await;
    fx.set("A", 1).await;
    let queued = {
        let ledger = fx.ledger.clone();
        let adjust = fx.adjust("before", "A", -1);
        tokio::spawn(async move { ledger.run(adjust).await })
    };
    tokio::task::yield_now().await;
    fx.ledger.shutdown().await;
    let late = fx.adjust("after", "A", 1);
    let ledger = fx.ledger.clone();
    fx.writer.await.unwrap();
    assert!(ledger.is_closed());
    assert_eq!(ledger.run(late).await.unwrap_err(), WriteError::Closed);
    match queued.await.unwrap() {
        Ok(applied) => assert!(applied.outcome.is_ok()),
        Err(error) => assert_eq!(error, WriteError::Closed, "refused, not lost"),
    }
}

/// Each case above, once per backend.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Sqlite).await
            })*
        }
        mod postgres_backend {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Postgres).await
            })*
        }
    };
}

on_both_backends!(
    subscribers_hear_the_head_at_open_and_every_group_in_offset_order,
    a_failing_command_is_refused_alone_and_the_rest_of_its_group_commits,
    later_commands_in_a_group_read_what_earlier_ones_wrote,
    a_replayed_key_gets_its_saved_answer_and_applies_nothing,
    a_basket_applies_whole_or_not_at_all,
    reads_refuse_what_does_not_exist_and_read_unwritten_levels_as_zero,
    pruned_offsets_are_gone_and_the_rest_of_the_log_pages_as_before,
    writes_after_shutdown_are_refused_as_closed,
);

mod checkpoint;
mod holds;
mod lease;
mod start;
