//! Acknowledged writes and offsets survive a restart.

use serde_json::json;
use shared::AdjustResult;

use crate::helpers::TestApp;

#[tokio::test]
async fn restart_keeps_every_acknowledged_write_and_offset() {
    let mut app = TestApp::spawn().await;
    app.set_stock("s1", "A", 50).await;
    let mut last = None;
    for i in 0..20 {
        let r = app
            .adjust("s1", &format!("k{i}"), &json!({"sku": "A", "delta": -1}))
            .await;
        assert_eq!(r.status(), 200);
        last = Some(r.json::<AdjustResult>().await.unwrap());
    }
    let last = last.unwrap();
    let head = app.head().await;
    assert_eq!(head, last.offset);

    app.restart().await;

    assert_eq!(app.head().await, head);
    let level = app.level("s1", "A").await;
    assert_eq!((level.available, level.version), (30, last.version));
    // Keys are remembered across the restart...
    let r = app
        .adjust("s1", "k19", &json!({"sku": "A", "delta": -1}))
        .await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.json::<AdjustResult>().await.unwrap(), last);
    // ...and new events continue the log without a gap.
    let r = app
        .adjust("s1", "k20", &json!({"sku": "A", "delta": -1}))
        .await;
    assert_eq!(r.json::<AdjustResult>().await.unwrap().offset, head + 1);
}
