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

/// A write that fails inside the writer is refused alone (503, retryable,
/// its key not saved); the writes committed with it in the same group
/// stand, and the log stays gapless.
#[tokio::test]
async fn a_failing_write_is_refused_alone_and_its_group_commits() {
    crate::helpers::sqlite_file_only!();
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 100).await;
    let head = app.head().await;
    // Make the writer fail on one request: its event insert aborts.
    let db = rusqlite::Connection::open(app.config.database_path()).unwrap();
    db.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.data LIKE '%\"reason\":\"poison\"%'
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
    )
    .unwrap();

    let sent = (0..20).map(|i| {
        let reason = if i == 7 { "poison" } else { "sale" };
        let body = json!({"sku": "A", "delta": -1, "reason": reason});
        let app = &app;
        async move { app.adjust("s1", &format!("g{i}"), &body).await }
    });
    let answers = futures::future::join_all(sent).await;
    let mut offsets = Vec::new();
    for (i, r) in answers.into_iter().enumerate() {
        if i == 7 {
            crate::helpers::problem(r, 503, "service_unavailable").await;
        } else {
            assert_eq!(r.status(), 200, "write {i}");
            offsets.push(r.json::<AdjustResult>().await.unwrap().offset);
        }
    }
    offsets.sort_unstable();
    assert_eq!(offsets, ((head + 1)..=(head + 19)).collect::<Vec<_>>());
    assert_eq!(app.head().await, head + 19);
    assert_eq!(app.level("s1", "A").await.available, 81);

    // Nothing of the refused write was kept: its retry applies, once.
    db.execute_batch("DROP TRIGGER poison").unwrap();
    let body = json!({"sku": "A", "delta": -1, "reason": "poison"});
    let r = app.adjust("s1", "g7", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<AdjustResult>().await.unwrap().offset, head + 20);
    assert_eq!(app.level("s1", "A").await.available, 80);
}
