//! Upgrades of a database that holds data: what the old schema saved must
//! mean the same after the migration.

use serde_json::json;

use crate::helpers::{TestApp, problem};

/// Takes the database back to the schema before migration 0003 (keys were
/// global then, and there were no devices), as a central of that time left
/// it: its migrations recorded by sqlx in `_sqlx_migrations`, not in
/// SQLite's `user_version`.
fn downgrade_to_global_keys(path: &std::path::Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE idempotency_global (
             key TEXT PRIMARY KEY, fingerprint BLOB NOT NULL,
             outcome TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT, WITHOUT ROWID;
         INSERT INTO idempotency_global SELECT key, fingerprint, outcome, created_at FROM idempotency;
         DROP TABLE idempotency;
         ALTER TABLE idempotency_global RENAME TO idempotency;
         CREATE INDEX idempotency_by_created ON idempotency (created_at);
         ALTER TABLE ledger_meta DROP COLUMN demo;
         DROP TABLE devices;
         ALTER TABLE stores DROP COLUMN safety_stock;
         DROP INDEX holds_by_channel;
         DROP TABLE hold_lines;
         DROP TABLE holds;
         DROP TABLE channels;
         ALTER TABLE stock_levels DROP COLUMN held;
         PRAGMA user_version = 0;
         CREATE TABLE _sqlx_migrations (
             version BIGINT PRIMARY KEY, description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (1, 'ledger', TRUE, x'00', 0), (2, 'store credentials', TRUE, x'00', 0);",
    )
    .unwrap();
}

/// A database of an earlier central is adopted at the migration it reached,
/// and saved answers of the global-key days are kept under the store they name,
/// so a till retrying after the upgrade gets its answer; an answer that
/// names no store matches nothing again (it ages out), and no other store
/// is ever answered with it.
#[tokio::test]
async fn keys_saved_before_they_were_per_store_keep_their_answers() {
    crate::helpers::sqlite_file_only!();
    let mut app = TestApp::spawn().await;
    app.set_stock("s1", "A", 1).await;
    let sale = json!({"sku": "A", "delta": -1});
    let applied = app.adjust("s1", "sold", &sale).await;
    assert_eq!(applied.status(), 200);
    let applied: shared::AdjustResult = applied.json().await.unwrap();
    let short = json!({"sku": "A", "delta": -5});
    let refused = problem(
        app.adjust("s1", "short", &short).await,
        409,
        "insufficient_stock",
    )
    .await;
    let unknown = json!({"sku": "NOPE", "delta": -1});
    problem(
        app.adjust("s1", "unknown", &unknown).await,
        404,
        "product_not_found",
    )
    .await;
    app.stop().await;

    downgrade_to_global_keys(&app.config.database_path());
    app.restart().await;

    let again = app.adjust("s1", "sold", &sale).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<shared::AdjustResult>().await.unwrap(), applied);
    let again = app.adjust("s1", "short", &short).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(problem(again, 409, "insufficient_stock").await, refused);
    let again = app.adjust("s1", "unknown", &unknown).await;
    assert!(
        again.headers().get("idempotent-replayed").is_none(),
        "decided anew"
    );
    problem(again, 404, "product_not_found").await;
    app.set_stock("s2", "A", 2).await;
    let other = app.adjust("s2", "sold", &sale).await;
    assert_eq!(other.status(), 200);
    assert!(
        other.headers().get("idempotent-replayed").is_none(),
        "s2's own write"
    );
    assert_eq!(app.level("s1", "A").await.available, 0, "applied once");
}
