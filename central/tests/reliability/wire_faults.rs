//! Wire faults between clients and central: answers dropped after the
//! request reached central, resets before it did, delays. Clients retry
//! with the same key until they are answered, as a till does. Every intent
//! must be applied exactly once (the ledger and the change log agree), and
//! no client may be told two different answers for one key.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use shared::ChangesPage;
use testkit::{TestApp, chaos::Faults};

const CLIENTS: usize = 8;
const INTENTS_PER_CLIENT: usize = 100;
const SEED: u64 = 20261201;

/// A client behind the proxy: one connection per request, so a fault
/// strikes one request and never a pooled connection another one uses.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// An answer as a client saw it: the status and the body.
type Answer = (u16, Value);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability suite: cargo xtask test runs it"]
async fn every_intent_applies_once_and_every_key_gets_one_answer() {
    let app = TestApp::builder().with_chaos_proxy(SEED).start().await;
    for sku in ["A", "B"] {
        app.set_stock("s1", sku, 200).await;
    }
    let before_head = app.head().await;
    let chaos = app.chaos.as_ref().expect("proxy");
    chaos.set_faults(Faults {
        drop_answer: 250,
        reset: 100,
        delay: 200,
        delay_ms: (5, 60),
    });
    let admin_key = testkit::ADMIN_KEY;
    let answers: Arc<Mutex<BTreeMap<String, Vec<Answer>>>> = Arc::default();
    let attempts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = app.proxied_url("/v1/stores/s1");
            let (answers, attempts) = (answers.clone(), attempts.clone());
            tokio::spawn(async move {
                let http = client();
                for i in 0..INTENTS_PER_CLIENT {
                    // Sales (guarded: some are refused once stock runs
                    // out), offline facts, and now and then a basket.
                    let (path, key, body) = match i % 5 {
                        4 => {
                            let key = format!("w{c}-{i}");
                            let body = json!({"atomic": true, "items": [
                                {"idempotency_key": format!("{key}-1"), "sku": "A", "delta": -1},
                                {"idempotency_key": format!("{key}-2"), "sku": "B", "delta": -1},
                            ]});
                            ("/adjustments/batch", key, body)
                        }
                        3 => (
                            "/adjustments",
                            format!("w{c}-{i}"),
                            json!({"sku": "B", "delta": -1, "kind": "recorded"}),
                        ),
                        _ => (
                            "/adjustments",
                            format!("w{c}-{i}"),
                            json!({"sku": "A", "delta": -1}),
                        ),
                    };
                    loop {
                        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let mut request = http
                            .post(format!("{url}{path}"))
                            .header("x-api-key", admin_key)
                            .json(&body);
                        if path == "/adjustments" {
                            request = request.header("Idempotency-Key", &key);
                        }
                        let Ok(response) = request.send().await else {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        };
                        let status = response.status().as_u16();
                        let Ok(body) = response.json::<Value>().await else {
                            continue;
                        };
                        if status >= 500 {
                            continue;
                        }
                        answers
                            .lock()
                            .unwrap()
                            .entry(key.clone())
                            .or_default()
                            .push((status, body));
                        // Asked again now and then even when answered: a
                        // replay must say exactly what the first answer said.
                        if i % 7 != 0 || answers.lock().unwrap()[&key].len() > 1 {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    chaos.set_faults(Faults::default());
    let tally = chaos.tally();

    // One answer per key, however many times it was asked; what it applied.
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers.len(), CLIENTS * INTENTS_PER_CLIENT);
    let mut applied: HashMap<String, &str> = HashMap::new();
    for (key, seen) in &answers {
        for other in &seen[1..] {
            assert_eq!(&seen[0], other, "{key} was told two different answers");
        }
        let (status, body) = &seen[0];
        if body.get("results").is_some() {
            if body["committed"] == true {
                applied.insert(format!("{key}-1"), "A");
                applied.insert(format!("{key}-2"), "B");
            }
        } else if *status == 200 {
            applied.insert(key.clone(), body["sku"].as_str().expect("sku"));
        }
    }

    // The change log holds each applied key once, and nothing else.
    let mut logged: HashMap<String, usize> = HashMap::new();
    let mut from = before_head;
    loop {
        let page: ChangesPage = app.changes(&format!("from={from}&limit=1000")).await;
        for event in &page.events {
            if let shared::Change::StockAdjusted {
                idempotency_key, ..
            } = &event.change
            {
                *logged.entry(idempotency_key.clone()).or_default() += 1;
            }
        }
        if page.next_offset == page.head {
            break;
        }
        from = page.next_offset;
    }
    for key in applied.keys() {
        assert_eq!(logged.get(key), Some(&1), "{key} applied exactly once");
    }
    assert_eq!(
        logged.len(),
        applied.len(),
        "no write the clients were not told of"
    );
    // And the levels are the initial stock less exactly what was applied.
    for sku in ["A", "B"] {
        let sold = applied.values().filter(|s| **s == sku).count() as i64;
        assert_eq!(app.level("s1", sku).await.available, 200 - sold, "{sku}");
    }
    assert!(
        tally.answers_dropped > 10 && tally.resets > 5,
        "the faults struck: {tally:?}"
    );
    println!(
        "reliability: wire faults: {} intents, {} attempts through the proxy \
         ({} answers dropped after central had the request, {} resets, {} delays): \
         each applied at most once and answered alike every time; {} applied",
        answers.len(),
        attempts.load(std::sync::atomic::Ordering::Relaxed),
        tally.answers_dropped,
        tally.resets,
        tally.delays,
        applied.len()
    );
}
