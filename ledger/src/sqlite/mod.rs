//! The ledger on an embedded SQLite file: zero set-up, one machine.
//!
//! Migrations run first; then one write connection for the writer's
//! thread and a pool of read-only connections. WAL mode lets readers work
//! beside the writer without "database is locked". One driver (rusqlite)
//! does all of it.

mod holds;
mod pool;
mod read;
mod rows;
mod write;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use tokio::task::JoinHandle;

pub(crate) use pool::SqliteReads;

use crate::{Ledger, Reader, Subscriber, WriterOptions, pool::Pool, writer};

/// The schema, one step per release that changed it. A step is never
/// edited once released: add one.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../migrations/sqlite/0001_ledger.sql")),
    M::up(include_str!(
        "../../migrations/sqlite/0002_store_credentials.sql"
    )),
    M::up(include_str!(
        "../../migrations/sqlite/0003_keys_per_store_and_demo_mark.sql"
    )),
    M::up(include_str!("../../migrations/sqlite/0004_devices.sql")),
    M::up(include_str!("../../migrations/sqlite/0005_holds.sql")),
    M::up(include_str!(
        "../../migrations/sqlite/0006_channel_limits.sql"
    )),
];

/// How hard SQLite works to keep a commit across a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync the WAL on every commit: an acknowledged write survives power loss.
    Full,
    /// fsync only at checkpoints: a power cut may lose the last commits
    /// (never corrupts); a process crash loses nothing.
    Normal,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The database file (created if missing, with its directory).
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// Connections in the read pool (the writer has its own).
    pub read_connections: usize,
    /// Marks the database as holding demo data (published secrets).
    pub mark_demo: bool,
}

/// An open, migrated ledger database whose writer has not started yet.
pub struct Database {
    writer: Connection,
    reader: Reader,
    demo: bool,
    /// The checkpointer's connection ([`checkpoint`]).
    checkpointer: Connection,
}

/// Opens (creating if missing) and migrates the database. Blocking.
pub fn open(options: &Options) -> anyhow::Result<Database> {
    if let Some(dir) = options.path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    let mut writer = Connection::open(&options.path)
        .with_context(|| format!("opening {}", options.path.display()))?;
    let synchronous = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // No checkpoint inside a commit: the writer's commits only append to
    // the WAL, and the checkpointer (a connection of its own) copies it
    // into the database beside them (see `checkpoint`).
    writer.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
    ))?;
    tune(&writer)?;
    writer.set_prepared_statement_cache_capacity(64);
    migrate(&mut writer)?;
    if options.mark_demo {
        writer.execute("UPDATE ledger_meta SET demo = 1 WHERE id = 1", [])?;
    }
    let demo = writer.query_row("SELECT demo FROM ledger_meta WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    let reads = pool::SqliteReads {
        path: options.path.clone(),
    };
    let pool =
        Pool::open(reads, options.read_connections).context("opening the read connections")?;
    let checkpointer = Connection::open(&options.path).context("opening the checkpointer")?;
    tune(&checkpointer)?;
    Ok(Database {
        writer,
        reader: Reader::sqlite(pool),
        demo,
        checkpointer,
    })
}

/// The WAL is cut back to this size (bytes) when it is reset after a
/// checkpoint that took all of it.
const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// How often the checkpointer copies what the WAL holds into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the WAL into the database while the writer runs, until `closed`.
///
/// SQLite's own checkpoint runs inside the commit that takes the WAL past
/// 1,000 pages: that commit (and every write queued behind it) waited for
/// the copy and the database's fsync, tens of milliseconds under a storm of
/// writes. Here a connection of its own does it, PASSIVE: it never waits
/// for, nor blocks, the writer or the readers, and copies what no reader
/// still needs; the WAL restarts from its beginning once all of it was
/// copied.
fn checkpoint(conn: Connection, closed: Arc<AtomicBool>) {
    while !closed.load(Ordering::Acquire) {
        // Woken early when the writer stops.
        std::thread::park_timeout(CHECKPOINT_EVERY);
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        if let Err(error) = done {
            tracing::warn!(%error, "a WAL checkpoint failed; trying again");
        }
    }
}

/// The file at `path`, brought to the newest schema, on a plain
/// connection (for `migrate-to`, which reads it whole).
pub(crate) fn migrated(path: &std::path::Path) -> anyhow::Result<Connection> {
    let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    tune(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Brings the schema to the newest step. A database made by an earlier
/// central (whose migrations were recorded by sqlx in `_sqlx_migrations`)
/// is adopted at the step it reached.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let recorded: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let by_sqlx: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
        [],
        |r| r.get(0),
    )?;
    if recorded == 0 && by_sqlx {
        let reached: i64 = conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            [],
            |r| r.get(0),
        )?;
        conn.execute_batch(&format!(
            "BEGIN; PRAGMA user_version = {reached}; DROP TABLE _sqlx_migrations; COMMIT;"
        ))
        .context("adopting the migrations an earlier central recorded")?;
        tracing::info!(reached, "adopted an earlier central's migrations");
    }
    Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .context("running migrations")
}

/// Settings every connection shares.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA temp_store = MEMORY;")
}

impl Database {
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// The database holds demo data (seeded or served with `--demo`).
    pub fn demo(&self) -> bool {
        self.demo
    }

    /// Starts the writer on a thread of its own; it runs until
    /// [`Ledger::shutdown`]. `subscribers` hear every committed group.
    pub fn start(
        self,
        options: WriterOptions,
        subscribers: Vec<Arc<dyn Subscriber>>,
        loaded: Option<crate::Positions>,
    ) -> (Ledger, JoinHandle<()>) {
        let (ledger, queue) = writer::queue(options, subscribers, loaded);
        let conn = self.writer;
        let closed = Arc::new(AtomicBool::new(false));
        let checkpointer = std::thread::Builder::new()
            .name("stockline-checkpoint".into())
            .spawn({
                let (checkpointer, closed) = (self.checkpointer, closed.clone());
                move || checkpoint(checkpointer, closed)
            });
        if let Err(error) = &checkpointer {
            // Without it, the writer's commits checkpoint as SQLite does.
            tracing::warn!(%error, "no checkpointer thread; the writer checkpoints itself");
            if let Err(error) = conn.execute_batch("PRAGMA wal_autocheckpoint = 1000;") {
                tracing::error!(%error, "the writer cannot checkpoint either; the WAL grows");
            }
        }
        let task = tokio::task::spawn_blocking(move || {
            match write::SqliteWriter::new(&conn) {
                Ok(mut backend) => writer::run(&mut backend, queue),
                Err(error) => {
                    tracing::error!(%error, "the writer could not prepare its statements; refusing writes");
                }
            }
            closed.store(true, Ordering::Release);
            if let Ok(checkpointer) = checkpointer {
                checkpointer.thread().unpark();
                let _ = checkpointer.join();
            }
            // The last connection to close copies what is left.
            if let Err((_, error)) = conn.close() {
                tracing::warn!(%error, "closing the write connection");
            }
        });
        (ledger, task)
    }
}
