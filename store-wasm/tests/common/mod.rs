//! What the browser test files share: central's and the proxy's URLs and
//! the admin key (set at build time by `cargo xtask test-browser`), admin
//! calls, the network switch, and reading central's change log.
#![allow(dead_code)] // each test file uses its own part of it

use gloo_net::http::Request;
use serde_json::Value;
use wasm_bindgen_futures::JsFuture;

pub const SECRET: &str = "browser-test-secret-0123456789";

pub fn env(value: Option<&'static str>) -> &'static str {
    value.unwrap_or_else(|| panic!("run through `cargo xtask test-browser`, which starts central"))
}

pub fn central() -> &'static str {
    env(option_env!("STOCKLINE_CENTRAL_URL"))
}

/// Central as the node sees it: through a proxy the test can cut.
pub fn proxy() -> &'static str {
    env(option_env!("STOCKLINE_PROXY_URL"))
}

pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An admin call to central; the status and JSON body.
pub async fn admin(method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", central());
    let builder = match method {
        "POST" => Request::post(&url),
        "PUT" => Request::put(&url),
        _ => Request::get(&url),
    }
    .header("X-API-Key", env(option_env!("STOCKLINE_ADMIN_KEY")))
    .header("Idempotency-Key", &key());
    let response = match body {
        Some(body) => builder.json(&body).unwrap().send().await,
        None => builder.send().await,
    }
    .expect("central answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Cuts (`down`) or restores (`up`) the network between node and central.
pub async fn network(state: &str) {
    let control = env(option_env!("STOCKLINE_CHAOS_URL"));
    Request::post(&format!("{control}/{state}"))
        .send()
        .await
        .expect("proxy control");
}

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Central's newest offset now: a test reads the log from here, never from
/// 0, which another test's pruning may have taken away.
pub async fn head() -> u64 {
    let (_, health) = admin("GET", "/healthz", None).await;
    health["head"].as_u64().expect("a head")
}

/// The store's stock events in central's change log after `from`.
pub async fn stock_log(store: &str, from: u64) -> Vec<Value> {
    let (mut events, mut from) = (Vec::new(), from);
    loop {
        let path = format!("/v1/replication/changes?from={from}&limit=1000&store={store}");
        let (status, page) = admin("GET", &path, None).await;
        assert_eq!(status, 200, "the log after {from}: {page}");
        events.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["store_id"] == store)
                .cloned(),
        );
        let next = page["next_offset"].as_u64().unwrap();
        if next >= page["head"].as_u64().unwrap() || next == from {
            return events;
        }
        from = next;
    }
}

/// How many times the log applied the write with this key (a recorded
/// sale below zero also has a `discrepancy` event with its key: not counted).
pub fn times_applied(log: &[Value], key: &str) -> usize {
    log.iter()
        .filter(|e| e["kind"] == "stock_adjusted" && e["idempotency_key"] == key)
        .count()
}
