//! The replication protocol end to end, as a till runs it: the store
//! node's own engine (natively, over the test-kit's HTTP transport and
//! memory storage) bootstraps from a store-filtered snapshot, follows the
//! change log by long-poll while other clients write to several stores,
//! re-bootstraps on 410 after retention pruned its offset, sells through
//! its queue exactly once, and ends as an exact copy of central's state for
//! that store at the same offset.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use shared::Snapshot;
use store_wasm::engine::{Credential, Synced};
use testkit::{TestApp, node, secret_of};

const STORE: &str = "s1";

/// Store `s1`'s snapshot, as its node fetches it.
async fn snapshot(app: &TestApp) -> Snapshot {
    app.snapshot(&format!("store={STORE}")).await
}

/// (sku → (available, version)), and (sku → (name, price, active)).
type State = (
    BTreeMap<String, (i64, u64)>,
    BTreeMap<String, (String, i64, bool)>,
);

fn of_snapshot(snapshot: &Snapshot) -> State {
    let levels = snapshot
        .levels
        .iter()
        .map(|l| (l.sku.clone(), (l.available, l.version)))
        .collect();
    let products = snapshot
        .products
        .iter()
        .map(|p| (p.sku.clone(), (p.name.clone(), p.price_cents, p.active)))
        .collect();
    (levels, products)
}

fn of_node(node: &node::NativeNode) -> State {
    let replica = node.replica();
    let levels = replica
        .levels
        .iter()
        .map(|(sku, l)| (sku.clone(), (l.available, l.version)))
        .collect();
    let products = replica
        .products
        .values()
        .map(|p| (p.sku.clone(), (p.name.clone(), p.price_cents, p.active)))
        .collect();
    (levels, products)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_engine_converges_through_traffic_and_pruning() {
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

    let node = node::open_node(&app.url(""), STORE, Credential::store(secret_of(STORE))).await;

    // Writers: sales in both stores, catalogue edits, and retention runs.
    // The prune waits for the node to pause and then for 23 rounds (46
    // events, retention keeps 40), so it always overtakes the paused node:
    // pruning at a fixed round once missed a node that, slowed down, had
    // taken one page past the pruned offsets before pausing.
    let (paused_tx, mut paused_rx) = tokio::sync::oneshot::channel();
    let (pruned_tx, mut pruned) = tokio::sync::oneshot::channel();
    let writer = {
        let client = app.client.clone();
        let base = app.url("");
        tokio::spawn(async move {
            let mut pruned_tx = Some(pruned_tx);
            let (mut paused_at, mut pruned_at) = (None, None);
            let mut round = 0;
            while round < 60 || pruned_at.is_none_or(|at| round < at + 10) {
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
                if paused_at.is_none() && paused_rx.try_recv().is_ok() {
                    paused_at = Some(round);
                }
                if pruned_at.is_none() && paused_at.is_some_and(|at| round >= at + 23) {
                    // Keeps 40 events: the paused follower falls behind them.
                    client
                        .post(format!("{base}/v1/admin/prune"))
                        .send()
                        .await
                        .unwrap();
                    let _ = pruned_tx.take().map(|tx| tx.send(()));
                    pruned_at = Some(round);
                }
                round += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // The node: long-polls, one step at a time; pauses once until pruning
    // has overtaken it, so its offset is gone and it must start again.
    let (mut paused_tx, mut bootstraps) = (Some(paused_tx), 0);
    let offset = |node: &node::NativeNode| node.replica().offset.unwrap_or(0);
    while !writer.is_finished() || offset(&node) < snapshot(&app).await.offset {
        if offset(&node) > 60
            && let Some(paused) = paused_tx.take()
        {
            let _ = paused.send(());
            (&mut pruned).await.expect("the writer prunes");
        }
        match node.sync(1).await.expect("central answers") {
            Synced::Bootstrapped { .. } => bootstraps += 1,
            Synced::Applied { .. } => {}
            Synced::Busy => node.until_synced().await,
        }
    }
    writer.await.unwrap();
    assert!(bootstraps >= 2, "pruning forced a re-bootstrap");

    // A sale through the node's queue lands once and comes back to it.
    let head = snapshot(&app).await.offset;
    let sold = node
        .sell("P3", 1, "the-node-sells-P3".into())
        .await
        .unwrap();
    node.flush().await;
    node.flush().await;
    while offset(&node) <= head {
        node.sync(1).await.expect("central answers");
    }
    let events = app
        .changes(&format!("from={head}&store={STORE}"))
        .await
        .events;
    let sales: Vec<_> = events
        .iter()
        .filter(|e| matches!(&e.change, shared::Change::StockAdjusted { idempotency_key, .. } if *idempotency_key == sold.id))
        .collect();
    assert_eq!(sales.len(), 1, "applied once");

    let expected = snapshot(&app).await;
    assert_eq!(node.replica().offset, Some(expected.offset));
    assert_eq!(of_node(&node), of_snapshot(&expected));
    let mut app = app;
    app.stop().await;
}

/// Hand-overs at the counter through a wire that drops answers and resets
/// connections: the node sends each again with its key until it is
/// answered, and central commits each hold exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_overs_through_a_lossy_wire_commit_each_hold_exactly_once() {
    let app = TestApp::builder().with_chaos_proxy(20261202).start().await;
    app.set_stock(STORE, "A", 100).await;
    app.create_channel("web").await;
    let shop = app.channel_client("web").await;
    let mut holds = Vec::new();
    for i in 0..20 {
        let body = json!({"reference": format!("W-{i}"),
                          "lines": [{"sku": "A", "quantity": 1, "store_id": STORE}]});
        let placed = shop
            .post(app.url("/v1/holds"))
            .header("Idempotency-Key", format!("h-{i}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), 201);
        let hold: shared::Hold = placed.json().await.unwrap();
        holds.push(hold.hold_id);
    }
    let transport = node::NativeTransport::unpooled(&app.proxied_url(""));
    let node = node::open_node_over(transport, STORE, Credential::store(secret_of(STORE))).await;
    node.sync(0).await.expect("the snapshot");
    assert_eq!(node.pickups().len(), 20, "the snapshot carries them");

    let chaos = app.chaos.as_ref().expect("proxy");
    chaos.set_faults(testkit::chaos::Faults {
        drop_answer: 300,
        reset: 100,
        delay: 0,
        delay_ms: (0, 0),
    });
    for hold in &holds {
        node.hand_over(hold, format!("ho-{hold}")).await.unwrap();
    }
    for _ in 0..200 {
        node.flush().await;
        if node.status().queued == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(node.status().queued, 0, "every hand-over answered");
    assert!(chaos.tally().answers_dropped > 0, "answers were lost");
    chaos.set_faults(testkit::chaos::Faults::default());

    let page = app.changes("from=0&limit=1000").await;
    let mut commits: BTreeMap<String, usize> = BTreeMap::new();
    for event in page.events {
        if let shared::Change::HoldCommitted { hold_id, .. } = event.change {
            *commits.entry(hold_id).or_default() += 1;
        }
    }
    let once: BTreeMap<String, usize> = holds.iter().map(|h| (h.clone(), 1)).collect();
    assert_eq!(commits, once, "each hold committed exactly once");
    assert!(
        node.pickup_intents()
            .iter()
            .all(|i| matches!(i.status, store_wasm::engine::IntentStatus::Applied { .. }))
    );
    let a = app.snapshot(&format!("store={STORE}")).await;
    let a = a.levels.iter().find(|l| l.sku == "A").unwrap();
    assert_eq!((a.available, a.held), (80, 0), "20 handed over, none held");
}
