//! SQLite: what the writer commits goes to the WAL only, and a connection
//! of its own copies the WAL into the database beside the commits — never
//! inside one (where SQLite's own checkpoint made the commit that crossed
//! 1,000 pages, and every write queued behind it, wait for the copy).

use std::time::{Duration, Instant};

use super::{Backend, Fixture};

/// The database file's size, and the size it has with the WAL's pages in
/// it (what a reader sees).
fn sizes(path: &std::path::Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let logical = u64::try_from(pages * page_size).unwrap();
    (std::fs::metadata(path).unwrap().len(), logical)
}

#[tokio::test]
async fn a_few_writes_reach_the_database_file_without_waiting_for_a_thousand_pages() {
    let fx = Fixture::open(Backend::Sqlite).await;
    let path = fx._dir.path().join("ledger.db");
    fx.set("A", 0).await;
    // A few hundred events: new pages, far fewer than SQLite's own
    // checkpoint waits for.
    for n in 0..300 {
        let adjusted = fx.ledger.run(fx.adjust(&format!("k{n}"), "A", 1)).await;
        assert!(adjusted.unwrap().outcome.is_ok());
    }
    let (file, logical) = sizes(&path);
    assert!(file <= logical);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (file, logical) = sizes(&path);
        if file == logical {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the database file ({file} bytes) never caught up with its WAL ({logical} bytes)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fx.close().await;
}
