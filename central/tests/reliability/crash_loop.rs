//! Crash loop: `central` killed with SIGKILL under sustained writes and
//! restarted on the same file, ten times. Afterwards every acknowledged
//! write is there with its saved answer, every write whose answer was lost
//! applies exactly once when retried with its key, the change log is
//! gapless from its first offset, and replaying it from zero rebuilds every
//! level exactly.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use shared::{Change, ChangesPage, Snapshot};

use crate::{adjust, admin_client, central};

const CYCLES: usize = 10;
const WRITERS: usize = 6;
const SKUS: [&str; 3] = ["C1", "C2", "C3"];

async fn set_up(addr: SocketAddr, http: &reqwest::Client) {
    let post =
        |path: &str, body: Value| http.post(format!("http://{addr}{path}")).json(&body).send();
    assert_eq!(
        post(
            "/v1/admin/stores",
            json!({"store_id": "k1", "name": "Kill"})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    for sku in SKUS {
        let product = json!({"sku": sku, "name": format!("Product {sku}"), "price_cents": 100});
        assert_eq!(
            post("/v1/admin/products", product).await.unwrap().status(),
            201
        );
        let r = http
            .put(format!("http://{addr}/v1/admin/stores/k1/stock/{sku}"))
            .json(&json!({"available": 1000}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

fn sale(w: usize, n: usize) -> Value {
    let sku = SKUS[(w + n) % SKUS.len()];
    // Mostly guarded sales, some restocks and offline facts.
    match n % 4 {
        0 => json!({"sku": sku, "delta": 3}),
        1 => json!({"sku": sku, "delta": -1, "kind": "recorded"}),
        _ => json!({"sku": sku, "delta": -1}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability suite: cargo xtask test runs it"]
async fn ten_kills_under_load_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let http = admin_client();
    let acked: Arc<Mutex<BTreeMap<String, (Value, Value)>>> = Arc::default();
    let mut unanswered: Vec<(String, Value)> = Vec::new();
    let mut server = central(dir.path()).await;
    set_up(server.addr, &http).await;
    for cycle in 0..CYCLES {
        let addr = server.addr;
        let lost: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (http, acked, lost) = (http.clone(), acked.clone(), lost.clone());
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("c{cycle}-w{w}-{n}");
                        let body = sale(w, n);
                        let sent = adjust(&http, addr, "k1", &key, &body).await;
                        let answer = match sent {
                            Ok(r) if r.status().is_success() || r.status().is_client_error() => {
                                r.json::<Value>().await.ok()
                            }
                            _ => None,
                        };
                        match answer {
                            Some(answer) => {
                                acked.lock().unwrap().insert(key, (body, answer));
                            }
                            None => {
                                lost.lock().unwrap().push((key, body));
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300 + 40 * cycle as u64)).await;
        server.kill().await;
        for writer in writers {
            writer.await.unwrap();
        }
        unanswered.extend(lost.lock().unwrap().drain(..));
        server = central(dir.path()).await;
    }
    let addr = server.addr;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 200,
        "traffic flowed between the kills: {}",
        acked.len()
    );

    // Every acknowledged write: there, with the very answer it was given.
    for (key, (body, answer)) in &acked {
        let r = adjust(&http, addr, "k1", key, body).await.unwrap();
        assert_eq!(r.headers()["idempotent-replayed"], "true", "{key} survived");
        assert_eq!(
            &r.json::<Value>().await.unwrap(),
            answer,
            "{key}'s saved answer"
        );
    }
    // Every write whose answer was lost: retried, answered, applied once.
    for (key, body) in &unanswered {
        let r = adjust(&http, addr, "k1", key, body).await.unwrap();
        assert!(
            r.status() == 200 || r.status() == 409,
            "{key}: {}",
            r.status()
        );
    }

    // The log: gapless from offset 1, each key once, and it rebuilds every
    // level when replayed from zero.
    let mut rebuilt: HashMap<String, (i64, u64)> = HashMap::new();
    let mut keys: HashMap<String, usize> = HashMap::new();
    let (mut from, mut expected) = (0, 1);
    loop {
        let page: ChangesPage = http
            .get(format!(
                "http://{addr}/v1/replication/changes?from={from}&limit=1000"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for event in &page.events {
            assert_eq!(event.offset, expected, "gapless");
            expected += 1;
            match &event.change {
                Change::StockAdjusted {
                    sku,
                    delta,
                    available,
                    version,
                    idempotency_key,
                    ..
                } => {
                    let level = rebuilt.entry(sku.clone()).or_default();
                    level.0 += delta;
                    level.1 += 1;
                    assert_eq!(
                        (level.0, level.1),
                        (*available, *version),
                        "{sku} at {}",
                        event.offset
                    );
                    *keys.entry(idempotency_key.clone()).or_default() += 1;
                }
                Change::StockSet {
                    sku,
                    available,
                    version,
                    ..
                } => {
                    let level = rebuilt.entry(sku.clone()).or_default();
                    *level = (*available, *version);
                }
                _ => {}
            }
        }
        if page.events.is_empty() {
            break;
        }
        from = page.next_offset;
    }
    assert!(keys.values().all(|n| *n == 1), "no key applied twice");
    let applied_acked = acked
        .values()
        .filter(|(_, a)| a.get("offset").is_some())
        .count();
    assert!(keys.len() >= applied_acked);
    let snapshot: Snapshot = http
        .get(format!("http://{addr}/v1/replication/snapshot?store=k1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for level in &snapshot.levels {
        assert_eq!(
            rebuilt.get(&level.sku),
            Some(&(level.available, level.version)),
            "{} rebuilt from the log",
            level.sku
        );
    }
    println!(
        "reliability: crash loop: {CYCLES} SIGKILLs under {WRITERS} writers; {} writes acknowledged \
         and all found with their answers, {} answers lost and retried, each applied once; \
         {} events gapless, levels rebuilt from the log",
        acked.len(),
        unanswered.len(),
        expected - 1
    );
    server.kill().await;
}
