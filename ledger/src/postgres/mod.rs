//! The ledger on PostgreSQL, for a chain that outgrows one machine: any
//! number of centrals with the same URL serve one ledger, each taking
//! writes and long-polls.
//!
//! - Writes: each central's writer runs its groups as on SQLite; a group
//!   locks the head row first ([`write`]), so groups of all centrals
//!   commit one after another, each continuing the log where the last
//!   ended.
//! - What other centrals commit reaches this one's subscribers through
//!   the follower: a connection that LISTENs for the writers' NOTIFY and
//!   also checks the head every [`CHECK`] (notifications are lost while it
//!   reconnects), then reads the new events in offset order.
//! - Reads: a pool of connections, one REPEATABLE READ transaction each.
//! - The hold expiry runs on one central at a time: the one holding an
//!   advisory lock on a connection of its own (`lease`).
//!
//! One driver (`postgres`, the synchronous face of `tokio-postgres`) on
//! blocking threads, so the writer, the follower and reads share the
//! statement ports the SQLite backend implements.

mod conn;
mod holds;
mod kept;
pub(crate) mod lease;
mod pipe;
mod read;
mod rows;
mod write;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use postgres::fallible_iterator::FallibleIterator;
use tokio::task::JoinHandle;

pub(crate) use read::PostgresReads;

use crate::{Ledger, Reader, Subscriber, WriterOptions, pool::Pool, publish::Publisher, writer};
use conn::{Conn, Sql};

/// How often the follower checks the head when no notification came.
pub const CHECK: Duration = Duration::from_millis(250);

/// The schema, one step per release that changed it, applied in order
/// under an advisory lock, so centrals starting together migrate once.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_ledger.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_levels_by_sku_and_store.sql"),
    ),
    (3, include_str!("../../migrations/postgres/0003_holds.sql")),
    (
        4,
        include_str!("../../migrations/postgres/0004_channel_limits.sql"),
    ),
];

/// Any number the application's advisory locks do not otherwise use.
const MIGRATION_LOCK: i64 = 0x5354_4f43_4b4c_494e; // "STOCKLIN"

/// Printed (`Debug`) with the URL's password masked.
#[derive(Clone)]
pub struct Options {
    /// `postgres://user:password@host:port/database` (or `?host=/socket/dir`).
    pub url: String,
    /// Connections in the read pool (the writer and the follower have
    /// their own).
    pub read_connections: usize,
    /// Marks the database as holding demo data (published secrets).
    pub mark_demo: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("url", &crate::url::redact(&self.url))
            .field("read_connections", &self.read_connections)
            .field("mark_demo", &self.mark_demo)
            .finish()
    }
}

/// An open, migrated ledger database whose writer has not started yet.
pub struct Database {
    url: String,
    reader: Reader,
    demo: bool,
}

/// Connects and migrates. Blocking.
pub fn open(options: &Options) -> anyhow::Result<Database> {
    // The writer connects on its own thread (`write::PostgresWriter`).
    let mut writer = Conn::connect(&options.url).context("connecting to PostgreSQL")?;
    migrate(&mut writer).context("running migrations")?;
    if options.mark_demo {
        writer.batch("UPDATE ledger_meta SET demo = TRUE WHERE id = 1")?;
    }
    let demo = writer
        .query_one("SELECT demo FROM ledger_meta WHERE id = 1", &[])?
        .try_get(0)?;
    let reads = PostgresReads {
        url: options.url.clone(),
    };
    let pool =
        Pool::open(reads, options.read_connections).context("opening the read connections")?;
    Ok(Database {
        url: options.url.clone(),
        reader: Reader::postgres(pool),
        demo,
    })
}

/// The database at `url`, brought to the newest schema, on a plain client
/// (for `migrate-to`, which fills it).
pub(crate) fn migrated(url: &str) -> anyhow::Result<::postgres::Client> {
    let mut conn = Conn::connect(url).context("connecting to PostgreSQL")?;
    migrate(&mut conn).context("running migrations")?;
    Ok(conn.client)
}

fn migrate(conn: &mut Conn) -> anyhow::Result<()> {
    conn.client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let migrated = (|| {
        conn.batch(
            "CREATE TABLE IF NOT EXISTS ledger_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
        for (version, sql) in MIGRATIONS {
            let applied = conn
                .client
                .query_opt(
                    "SELECT 1 FROM ledger_migrations WHERE version = $1",
                    &[version],
                )?
                .is_some();
            if applied {
                continue;
            }
            let mut tx = conn.client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO ledger_migrations (version) VALUES ($1)",
                &[version],
            )?;
            tx.commit()?;
            tracing::info!(version, "migrated the PostgreSQL ledger");
        }
        anyhow::Ok(())
    })();
    conn.client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    migrated
}

impl Database {
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// The database holds demo data (seeded or served with `--demo`).
    pub fn demo(&self) -> bool {
        self.demo
    }

    /// The expiry's lease, shared with every central on this database.
    pub fn lease(&self) -> crate::Lease {
        crate::Lease::postgres(self.url.clone())
    }

    /// Starts the writer and the follower on threads of their own; they
    /// run until [`Ledger::shutdown`]. `subscribers` hear every committed
    /// group, this central's and every other's, in offset order: after
    /// `loaded` (see [`crate::Database::start_after`]), or after the head
    /// the writer finds. The follower publishes nothing before the writer
    /// has opened them.
    pub fn start(
        self,
        options: WriterOptions,
        subscribers: Vec<Arc<dyn Subscriber>>,
        loaded: Option<crate::Positions>,
    ) -> (Ledger, JoinHandle<()>) {
        let (ledger, queue) = writer::queue(options, subscribers, loaded);
        let publisher = queue.publisher.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let writer_pid = Arc::new(AtomicI32::new(0));
        let Database { url, .. } = self;
        let task = tokio::task::spawn_blocking(move || {
            let follower = {
                let (url, stop, writer_pid) = (url.clone(), stop.clone(), writer_pid.clone());
                std::thread::Builder::new()
                    .name("ledger-follower".into())
                    .spawn(move || follow(&url, &publisher, &stop, &writer_pid))
            };
            match write::PostgresWriter::new(url, writer_pid) {
                Ok(mut backend) => writer::run(&mut backend, queue),
                Err(error) => {
                    tracing::error!(%error, "the writer could not set up its connection; refusing writes");
                }
            }
            stop.store(true, Ordering::Relaxed);
            match follower {
                Ok(follower) => {
                    let _ = follower.join();
                }
                Err(error) => tracing::error!(%error, "the follower did not start"),
            }
        });
        (ledger, task)
    }
}

/// Publishes what other centrals commit: woken by their NOTIFY, and every
/// [`CHECK`] regardless; reconnects after a failure. A notification from
/// this central's own writer (`writer_pid`, its backend's process id)
/// wakes nothing: the writer publishes its groups itself, with their
/// figures, and reads for it what others committed before them.
fn follow(url: &str, publisher: &Publisher, stop: &AtomicBool, writer_pid: &AtomicI32) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let mut conn = match Conn::connect(url).and_then(|mut c| {
            c.batch(&format!("LISTEN {}", write::CHANNEL))?;
            Ok(c)
        }) {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "the follower could not connect; trying again");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let mut woken = true;
        while !stop.load(Ordering::Relaxed) {
            if woken && let Err(error) = catch_up(&mut conn, publisher) {
                tracing::warn!(%error, "the follower lost its connection; reconnecting");
                break;
            }
            let mut notifications = conn.client.notifications();
            let own = writer_pid.load(Ordering::Relaxed);
            let first = match notifications.timeout_iter(CHECK).next() {
                Ok(first) => first,
                Err(error) => {
                    tracing::warn!(%error, "the follower lost its connection; reconnecting");
                    break;
                }
            };
            // No notification in a whole CHECK: look at the head anyway.
            woken = first.as_ref().is_none_or(|n| n.process_id() != own);
            // One read catches up with every notification pending.
            while let Ok(Some(next)) = notifications.iter().next() {
                woken |= next.process_id() != own;
            }
        }
    }
}

/// Most events one catch-up reads; a follower far behind takes several.
const CATCH_UP: u64 = 10_000;

fn catch_up(conn: &mut Conn, publisher: &Publisher) -> anyhow::Result<()> {
    // Until the writer has opened the subscribers (and published what was
    // committed before it did), there is nothing to follow from.
    if !publisher.is_opened() {
        return Ok(());
    }
    loop {
        let positions = rows::positions(conn)?;
        let through = positions.head.min(publisher.head() + CATCH_UP);
        publisher.follow(through, positions.pruned_through, |from, through| {
            rows::events_between(conn, from, through)
        })?;
        if through >= positions.head {
            return Ok(());
        }
    }
}
