//! Many clients hammering one level: no oversell, no lost or doubled write,
//! and a gapless log.

use serde_json::json;
use shared::{AdjustResult, Change};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hammering_one_level_never_oversells() {
    let app = TestApp::spawn().await;
    const INITIAL: i64 = 150;
    const TASKS: usize = 32;
    const EACH: usize = 8;
    let start = app.set_stock("s1", "A", INITIAL).await;
    let head_before = app.head().await;

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let client = app.client.clone();
            let url = app.url("/v1/stores/s1/adjustments");
            tokio::spawn(async move {
                let mut applied = Vec::new();
                for i in 0..EACH {
                    let delta = -(((t + i) % 3) as i64 + 1);
                    let r = client
                        .post(&url)
                        .header("Idempotency-Key", format!("t{t}-{i}"))
                        .json(&json!({"sku": "A", "delta": delta}))
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        200 => applied.push((delta, r.json::<AdjustResult>().await.unwrap())),
                        409 => {}
                        other => panic!("unexpected status {other}"),
                    }
                }
                applied
            })
        })
        .collect();
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap());
    }

    let level = app.level("s1", "A").await;
    let sum: i64 = applied.iter().map(|(d, _)| d).sum();
    assert_eq!(level.available, INITIAL + sum);
    assert!(level.available >= 0);
    assert!(
        level.available < 3,
        "demand exceeded stock: it should run dry"
    );
    assert_eq!(level.version, start.version + applied.len() as u64);

    // Every applied write has its own event; the log has no gaps or extras.
    let page = app.changes(&format!("from={head_before}&limit=1000")).await;
    let offsets: Vec<_> = page.events.iter().map(|e| e.offset).collect();
    let expected: Vec<_> = (head_before + 1..=head_before + applied.len() as u64).collect();
    assert_eq!(offsets, expected);
    let mut acked: Vec<_> = applied.iter().map(|(_, r)| r.offset).collect();
    acked.sort_unstable();
    assert_eq!(acked, expected);
    // Levels along the log never went below zero.
    for e in &page.events {
        if let Change::StockAdjusted { available, .. } = e.change {
            assert!(available >= 0);
        }
    }
}
