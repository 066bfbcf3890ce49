//! The store node benchmark, in headless Chromium against a release central
//! seeded with 50,000 products: `cargo xtask bench-node` runs it and it
//! prints its figures. Ignored in the normal test run.
#![cfg(target_arch = "wasm32")]

use gloo_net::http::Request;
use serde_json::json;
use store_wasm::{
    browser::{HttpTransport, IdbStorage, JsClock},
    engine::{Config, Credential, Engine, Transport},
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn env(value: Option<&'static str>) -> &'static str {
    match value {
        Some(v) => v,
        None => panic!("run through `cargo xtask bench-node`"),
    }
}

#[wasm_bindgen_test]
#[ignore = "benchmark: cargo xtask bench-node"]
async fn bootstrap_and_commit_to_applied() {
    let central = env(option_env!("STOCKLINE_CENTRAL_URL"));
    let admin_key = env(option_env!("STOCKLINE_ADMIN_KEY"));
    let config = Config::new(
        "node-bench",
        Credential::store("node-bench-secret-0123456789"),
    );
    let db = format!("node-bench-{}", now_ms());
    let storage = IdbStorage::open(&db).await.unwrap();
    let engine = Engine::open(storage, HttpTransport::new(central), JsClock, config)
        .await
        .unwrap();

    // The snapshot alone (sign-in, download, parse), to split the figure.
    let transport = HttpTransport::new(central);
    let token = transport
        .sign_in(&Credential::store("node-bench-secret-0123456789").token_request("node-bench"))
        .await
        .unwrap()
        .access_token;
    let started = now_ms();
    let snapshot = transport.snapshot(&token, "node-bench").await.unwrap();
    let fetch_parse = now_ms() - started;
    drop(snapshot);

    let started = now_ms();
    engine.sync(0).await.expect("bootstrap");
    let bootstrap = now_ms() - started;
    let skus = engine.replica().levels.len();

    // Commit to applied: the node long-polls; another client adjusts; the
    // time from central's answer to the node holding the new level.
    let mut latencies = Vec::new();
    for i in 0..100 {
        let sku = format!("N{:06}", i % skus.max(1));
        let follow = async {
            engine.sync(25).await.expect("follow");
            now_ms()
        };
        let commit = async {
            let r = Request::post(&format!("{central}/v1/stores/node-bench/adjustments"))
                .header("X-API-Key", admin_key)
                .header("Idempotency-Key", &format!("lat-{db}-{i}"))
                .json(&json!({"sku": sku, "delta": -1}))
                .unwrap()
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            now_ms()
        };
        let (applied, committed) = futures::join!(follow, commit);
        latencies.push((applied - committed).max(0.0));
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    console_log!(
        "store node benchmark: bootstrap of {skus} skus into IndexedDB {bootstrap:.0} ms \
         (of which fetch + parse {fetch_parse:.0} ms; target < 3000); \
         commit-to-applied p50 {:.1} ms, p99 {:.1} ms over {} writes (target p99 < 100)",
        p(0.5),
        p(0.99),
        latencies.len()
    );
    assert!(skus >= 50_000, "seeded with 50k skus");
}
