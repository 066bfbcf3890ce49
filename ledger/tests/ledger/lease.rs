//! The expiry's lease, below the expiry loop: on SQLite always held; on
//! PostgreSQL held by one of the ledgers sharing a database at a time,
//! lost with its connection, and taken over by another once the holder's
//! session ends. Waits are bounded loops with generous deadlines: the
//! machine may be loaded, and only the order of events is asserted.

use std::time::{Duration, Instant};

use ledger::{Lease, Location};

/// The lease of a ledger opened on the PostgreSQL database at `url`.
async fn postgres_lease(url: &str) -> Lease {
    let options = ledger::postgres::Options {
        url: url.to_owned(),
        read_connections: 1,
        mark_demo: false,
    };
    let db = ledger::open(Location::Postgres(options)).await.unwrap();
    let lease = db.lease();
    // The synchronous client closes its connections blocking.
    tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
    lease
}

/// Asks `lease` until it is held, for at most 10 s.
async fn until_held(lease: &mut Lease, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lease.hold().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Lease::RECHECK).await;
    }
}

/// Ends, from outside, the session holding the expiry's advisory lock on
/// the database at `url` (as a restart, a fail-over or a network cut does).
async fn end_the_holders_session(url: &str) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let ended = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks
                 WHERE locktype = 'advisory' AND granted
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .unwrap();
        assert_eq!(ended.get::<_, i64>(0), 1, "one session held the lease");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_ledger_alone_on_its_sqlite_file_always_holds_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger::open(Location::Sqlite(ledger::sqlite::Options {
        path: dir.path().join("ledger.db"),
        synchronous: ledger::sqlite::Synchronous::Normal,
        read_connections: 1,
        mark_demo: false,
    }))
    .await
    .unwrap();
    let mut lease = db.lease();
    assert!(*lease.watch().borrow(), "held from the start");
    assert!(lease.hold().await);
    assert_eq!(lease.recheck(), None, "nothing to confirm");
}

#[tokio::test]
async fn one_ledger_at_a_time_holds_the_postgres_lease_and_another_takes_it_over() {
    let url = testkit::postgres::fresh_database().await;
    let (mut a, mut b) = (postgres_lease(&url).await, postgres_lease(&url).await);
    let a_held = a.watch();
    assert!(!*a_held.borrow(), "not held before it is asked for");

    assert!(a.hold().await, "a free lease is taken");
    assert!(!b.hold().await, "a held lease is not taken twice");
    assert!(a.hold().await, "the holder confirms it");
    assert!(!b.hold().await);
    assert!(*a_held.borrow());

    // The holder's session ends: its next check finds the lease lost, and
    // the other takes it.
    end_the_holders_session(&url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.hold().await {
        assert!(
            Instant::now() < deadline,
            "a lost connection is a lost lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!*a_held.borrow());
    until_held(&mut b, "the other took the lease over").await;
    assert!(!a.hold().await, "the old holder does not take it back");

    // The holder goes away (its connection closes with it): taken over.
    drop(b);
    until_held(&mut a, "taken over when its holder went away").await;
    assert!(*a_held.borrow());
}
