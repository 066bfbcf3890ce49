//! The replication protocol end to end, as a store node runs it: bootstrap
//! from a store-filtered snapshot, follow the change log by long-poll while
//! other clients write to several stores, re-bootstrap on 410 after
//! retention pruned the replica's offset, and end as an exact copy of
//! central's state for that store at the same offset.

use std::{collections::BTreeMap, time::Duration};

use central::{Config, Running, config::Secret};
use serde_json::json;
use shared::{Change, ChangesPage, Snapshot};

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

struct Central {
    server: Running,
    client: reqwest::Client,
}

impl Central {
    async fn send(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> u16 {
        self.client
            .request(method, self.server.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    async fn snapshot(&self) -> Snapshot {
        self.client
            .get(
                self.server
                    .url(&format!("/v1/replication/snapshot?store={STORE}")),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_converges_through_traffic_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path());
    config.event_retention_count = 40;
    config.admin_api_keys = vec![Secret::new("e2e-admin-key-0123456789abcdef0123456789")];
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-api-key",
        "e2e-admin-key-0123456789abcdef0123456789".parse().unwrap(),
    );
    let central = Central {
        server: Running::start(config).await.unwrap(),
        client: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap(),
    };
    use reqwest::Method;
    for store in ["s1", "s2"] {
        let body = json!({"store_id": store, "name": store});
        assert_eq!(
            central.send(Method::POST, "/v1/admin/stores", body).await,
            201
        );
    }
    for i in 0..10 {
        let body =
            json!({"sku": format!("P{i}"), "name": format!("Product {i}"), "price_cents": 100});
        assert_eq!(
            central.send(Method::POST, "/v1/admin/products", body).await,
            201
        );
        for store in ["s1", "s2"] {
            let path = format!("/v1/admin/stores/{store}/stock/P{i}");
            assert_eq!(
                central
                    .send(Method::PUT, &path, json!({"available": 50}))
                    .await,
                200
            );
        }
    }

    let mut replica = Replica::default();
    replica.load(central.snapshot().await);

    // Writers: sales in both stores, catalogue edits, and retention runs.
    let (pruned_tx, mut pruned) = tokio::sync::oneshot::channel();
    let writer = {
        let client = central.client.clone();
        let base = central.server.url("");
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
    while !writer.is_finished() || replica.offset < central.snapshot().await.offset {
        if !paused && replica.offset > 60 {
            paused = true;
            (&mut pruned).await.expect("the writer prunes");
        }
        let url = central.server.url(&format!(
            "/v1/replication/changes?from={}&limit=7&wait=1&store={STORE}",
            replica.offset
        ));
        let r = central.client.get(url).send().await.unwrap();
        match r.status().as_u16() {
            200 => replica.apply(r.json().await.unwrap()),
            410 => replica.load(central.snapshot().await),
            other => panic!("unexpected status {other}"),
        }
    }
    writer.await.unwrap();

    let mut expected = Replica::default();
    expected.load(central.snapshot().await);
    assert!(replica.bootstraps >= 2, "pruning forced a re-bootstrap");
    expected.bootstraps = replica.bootstraps;
    assert_eq!(replica, expected);
    central.server.stop().await.unwrap();
}
