//! `/metrics` after real traffic, and the dashboard and alert rules in
//! `deploy/` naming only series central really exports.

use std::{collections::BTreeSet, path::Path, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

/// Series names in a Prometheus text exposition.
fn series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every `stockline_*` metric name a text mentions.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("stockline_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if end > "stockline_".len() {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// Traffic that touches every metric: applied, refused, replayed, a
/// discrepancy, a batch, and a store's long-poll woken by a write.
async fn traffic(app: &TestApp) {
    app.set_stock("s1", "A", 1).await;
    let sale = json!({"sku": "A", "delta": -1});
    app.adjust("s1", "m1", &sale).await;
    app.adjust("s1", "m1", &sale).await;
    app.adjust("s1", "m2", &sale).await;
    app.adjust(
        "s1",
        "m3",
        &json!({"sku": "A", "delta": -1, "expected_version": 99}),
    )
    .await;
    app.adjust(
        "s1",
        "m4",
        &json!({"sku": "A", "delta": -2, "kind": "recorded"}),
    )
    .await;
    app.post(
        "/v1/stores/s1/adjustments/batch",
        &json!({"items": [{"idempotency_key": "m5", "sku": "B", "delta": 3}]}),
    )
    .await;
    let store = app.store_client("s2").await;
    let head = app.head().await;
    let poll = tokio::spawn(
        store
            .get(app.url(&format!(
                "/v1/replication/changes?from={head}&store=s2&wait=5"
            )))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let waiting: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("stockline_long_polls_active "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(waiting >= 1.0, "the long-poll is counted while it waits");
    app.set_stock("s2", "A", 5).await;
    assert_eq!(poll.await.unwrap().unwrap().status(), 200);
    holds(app).await;
}

/// A hold placed and committed, and one left to expire (after a second):
/// every hold transition but extend and release is counted by then.
async fn holds(app: &TestApp) {
    app.create_channel("web").await;
    let shop = app.channel_client("web").await;
    let place = async |key: &str, ttl: u32| -> Value {
        let body = json!({"reference": key, "ttl_seconds": ttl,
                          "lines": [{"sku": "A", "quantity": 1, "store_id": "s2"}]});
        let r = shop
            .post(app.url("/v1/holds"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    };
    let kept = place("hold-1", 600).await;
    let commit = format!("/v1/holds/{}/commit", kept["hold_id"].as_str().unwrap());
    let r = shop
        .post(app.url(&commit))
        .header("Idempotency-Key", "commit-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Metrics are the process's: other tests' holds count too, so this
    // waits for the count to move rather than for a figure.
    let expired = r#"stockline_holds_total{transition="expired"}"#;
    let before = value_of(&app.get("/metrics").await.text().await.unwrap(), expired);
    place("hold-2", 1).await;
    for _ in 0..100 {
        let now = value_of(&app.get("/metrics").await.text().await.unwrap(), expired);
        if now > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the expired hold was never counted");
}

/// The value of one series in an exposition (0 when absent).
fn value_of(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_expose_the_named_series_after_traffic() {
    let app = TestApp::spawn().await;
    traffic(&app).await;
    let r = app.get("/metrics").await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().await.unwrap();
    let names = series(&text);
    for name in [
        "stockline_http_requests_total",
        "stockline_http_request_duration_seconds_bucket",
        "stockline_adjustments_total",
        "stockline_idempotent_replays_total",
        "stockline_discrepancies_total",
        "stockline_writer_queue_depth",
        "stockline_group_commit_size_bucket",
        "stockline_group_commit_duration_seconds_bucket",
        "stockline_long_polls_active",
        "stockline_head_offset",
        "stockline_replication_lag_events",
        "stockline_rate_limited_total",
        "stockline_holds_total",
        "stockline_hold_expiry_lag_seconds_bucket",
        "stockline_expiry_leader",
    ] {
        assert!(names.contains(name), "{name} missing from /metrics");
    }
    for labelled in [
        r#"stockline_adjustments_total{result="applied"}"#,
        r#"stockline_adjustments_total{result="insufficient_stock"}"#,
        r#"stockline_adjustments_total{result="version_conflict"}"#,
        r#"stockline_replication_lag_events{store="s2"}"#,
        r#"route="/v1/stores/{store_id}/adjustments""#,
        r#"stockline_holds_total{transition="released"}"#,
    ] {
        assert!(text.contains(labelled), "{labelled} missing from /metrics");
    }
    for transition in ["placed", "committed"] {
        let series = format!(r#"stockline_holds_total{{transition="{transition}"}}"#);
        assert!(value_of(&text, &series) >= 1.0, "{series} counted");
    }
    assert!(
        !text.contains("/v1/stores/s1/"),
        "routes are labelled by template, not path"
    );
}

#[tokio::test]
async fn dashboard_and_alerts_query_only_exported_metrics() {
    let app = TestApp::spawn().await;
    traffic(&app).await;
    let exported = series(&app.get("/metrics").await.text().await.unwrap());

    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy.join("grafana/stockline-central.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() >= panels.len(), "every panel has a query");
    let alerts = std::fs::read_to_string(deploy.join("prometheus/alerts.yml")).unwrap();

    let used: BTreeSet<_> = queries
        .iter()
        .flat_map(|q| names_in(q))
        .chain(names_in(&alerts))
        .collect();
    assert!(used.len() >= 10);
    for name in &used {
        assert!(
            exported.contains(name),
            "{name} is queried but not exported"
        );
    }
}

/// `/docs` ran Swagger UI on the till's origin with no policy at all; it
/// has one of its own now, with nothing inline.
#[tokio::test]
async fn the_docs_page_has_a_policy_of_its_own() {
    let app = TestApp::spawn().await;
    for path in ["/docs", "/docs/init.js", "/docs/swagger-ui-bundle.js"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let policy = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-eval"), "{policy}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    let page = app.get("/docs").await.text().await.unwrap();
    assert!(!page.contains("<script>"), "no inline script: {page}");
}

/// In production the docs and the metrics can be turned off, or moved to
/// an operations listener only the monitoring network reaches.
#[tokio::test]
async fn docs_and_metrics_can_be_off_or_elsewhere() {
    let off = TestApp::spawn_with(|c| {
        c.docs = false;
        c.metrics = false;
    })
    .await;
    for path in ["/docs", "/openapi.json", "/metrics"] {
        problem(off.get(path).await, 404, "route_not_found").await;
    }
    assert_eq!(off.get("/healthz").await.status(), 200);

    let moved = TestApp::spawn_with(|c| c.ops_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    for path in ["/docs", "/openapi.json", "/metrics"] {
        problem(moved.get(path).await, 404, "route_not_found").await;
    }
    let ops = moved.ops_url("/metrics");
    let metrics = reqwest::get(ops).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("stockline_head_offset")
    );
    let docs = reqwest::get(moved.ops_url("/openapi.json")).await.unwrap();
    assert_eq!(docs.status(), 200);
    let api = reqwest::get(moved.ops_url("/v1/products")).await.unwrap();
    problem(api, 404, "route_not_found").await;
}
