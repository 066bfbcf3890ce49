//! The replication protocol end to end, as a store node runs it: bootstrap
//! from a store-filtered snapshot, follow the change log by long-poll while
//! other clients write to several stores, re-bootstrap on 410 after
//! retention pruned the replica's offset, and end as an exact copy of
//! central's state for that store at the same offset.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use shared::{Change, ChangesPage, Snapshot};
use testkit::TestApp;

const STORE: &str = "s1";

/// A store's replica: (sku → (available, version)) at `offset`.
#[derive(Debug, Default, PartialEq)]
struct Replica {
    offset: u64,
    levels: BTreeMap<String, (i64, u64)>,
    products: BTreeMap<String, (String, i64, bool)>,
    bootstraps: u32,
}

impl Replica {
    fn load(&mut self, snapshot: Snapshot) {
        self.offset = snapshot.offset;
        self.levels = snapshot
            .levels
            .into_iter()
            .map(|l| (l.sku, (l.available, l.version)))
            .collect();
        self.products = snapshot
            .products
            .into_iter()
            .map(|p| (p.sku, (p.name, p.price_cents, p.active)))
            .collect();
        self.bootstraps += 1;
    }

    /// Applies a page; events must continue exactly where the replica is.
    fn apply(&mut self, page: ChangesPage) {
        for event in page.events {
            assert!(event.offset > self.offset, "events in order, none twice");
            if let Some((store_id, sku, available, version)) = event.change.level() {
                assert_eq!(store_id, STORE, "the filter keeps other stores out");
                let previous = self.levels.insert(sku.to_owned(), (available, version));
                let previous_version = previous.map_or(0, |(_, v)| v);
                assert_eq!(previous_version + 1, version, "no level change skipped");
            }
            match event.change {
                Change::ProductCreated { product }
                | Change::ProductUpdated { product }
                | Change::ProductDeleted { product } => {
                    self.products.insert(
                        product.sku,
                        (product.name, product.price_cents, product.active),
                    );
                }
                _ => {}
            }
            self.offset = event.offset;
        }
        self.offset = page.next_offset;
    }
}

/// Store `s1`'s snapshot, as its node fetches it.
async fn snapshot(app: &TestApp) -> Snapshot {
    app.snapshot(&format!("store={STORE}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_converges_through_traffic_and_pruning() {
    let app = TestApp::builder()
        .bare()
        .configure(|config| config.event_retention_count = 40)
        .start()
        .await;
    for store in ["s1", "s2"] {
        app.create_store(store).await;
    }
    for i in 0..10 {
        app.create_product(&format!("P{i}")).await;
        for store in ["s1", "s2"] {
            app.set_stock(store, &format!("P{i}"), 50).await;
        }
    }

    let mut replica = Replica::default();
    replica.load(snapshot(&app).await);

    // Writers: sales in both stores, catalogue edits, and retention runs.
    let (pruned_tx, mut pruned) = tokio::sync::oneshot::channel();
    let writer = {
        let client = app.client.clone();
        let base = app.url("");
        tokio::spawn(async move {
            let mut pruned_tx = Some(pruned_tx);
            for round in 0..60 {
                for store in ["s1", "s2"] {
                    let status = client
                        .post(format!("{base}/v1/stores/{store}/adjustments"))
                        .header("Idempotency-Key", format!("{store}-{round}"))
                        .json(&json!({"sku": format!("P{}", round % 10), "delta": -1}))
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(status, 200);
                }
                if round % 15 == 0 {
                    client
                        .patch(format!("{base}/v1/admin/products/P{}", round % 10))
                        .json(&json!({"price_cents": 100 + round}))
                        .send()
                        .await
                        .unwrap();
                }
                if round == 40 {
                    // Keeps 40 events: the paused follower falls behind them.
                    client
                        .post(format!("{base}/v1/admin/prune"))
                        .send()
                        .await
                        .unwrap();
                    let _ = pruned_tx.take().map(|tx| tx.send(()));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // The follower: long-polls small pages; pauses once until pruning has
    // overtaken it.
    let mut paused = false;
    while !writer.is_finished() || replica.offset < snapshot(&app).await.offset {
        if !paused && replica.offset > 60 {
            paused = true;
            (&mut pruned).await.expect("the writer prunes");
        }
        let url = app.url(&format!(
            "/v1/replication/changes?from={}&limit=7&wait=1&store={STORE}",
            replica.offset
        ));
        let r = app.client.get(url).send().await.unwrap();
        match r.status().as_u16() {
            200 => replica.apply(r.json().await.unwrap()),
            410 => replica.load(snapshot(&app).await),
            other => panic!("unexpected status {other}"),
        }
    }
    writer.await.unwrap();

    let mut expected = Replica::default();
    expected.load(snapshot(&app).await);
    assert!(replica.bootstraps >= 2, "pruning forced a re-bootstrap");
    expected.bootstraps = replica.bootstraps;
    assert_eq!(replica, expected);
    let mut app = app;
    app.stop().await;
}
