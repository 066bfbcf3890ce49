//! Opening the ledger on whichever backend its location names.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::{Lease, Ledger, Positions, Reader, Subscriber, WriterOptions, postgres, sqlite};

/// Where the ledger lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// An embedded SQLite file: zero set-up, one central.
    Sqlite(sqlite::Options),
    /// A PostgreSQL database: any number of centrals share it.
    Postgres(postgres::Options),
}

/// An open, migrated ledger whose writer has not started yet.
pub enum Database {
    Sqlite(Box<sqlite::Database>),
    Postgres(Box<postgres::Database>),
}

/// Opens (creating or migrating as needed) the ledger at `location`.
pub async fn open(location: Location) -> anyhow::Result<Database> {
    tokio::task::spawn_blocking(move || match location {
        Location::Sqlite(options) => {
            sqlite::open(&options).map(|db| Database::Sqlite(Box::new(db)))
        }
        Location::Postgres(options) => {
            postgres::open(&options).map(|db| Database::Postgres(Box::new(db)))
        }
    })
    .await?
}

impl Database {
    pub fn reader(&self) -> Reader {
        match self {
            Database::Sqlite(db) => db.reader(),
            Database::Postgres(db) => db.reader(),
        }
    }

    /// The database holds demo data (seeded or served with `--demo`).
    pub fn demo(&self) -> bool {
        match self {
            Database::Sqlite(db) => db.demo(),
            Database::Postgres(db) => db.demo(),
        }
    }

    /// Who runs the hold expiry: on SQLite this central, the only one on
    /// its file; on PostgreSQL whichever central holds the lease.
    pub fn lease(&self) -> Lease {
        match self {
            Database::Sqlite(_) => Lease::sole(),
            Database::Postgres(db) => db.lease(),
        }
    }

    /// Starts the writer (and, on PostgreSQL, the follower); they run
    /// until [`Ledger::shutdown`]. `subscribers` hear every committed
    /// group in offset order before any caller in it is answered, from
    /// the head the writer finds at start.
    pub fn start(
        self,
        options: WriterOptions,
        subscribers: Vec<Arc<dyn Subscriber>>,
    ) -> (Ledger, JoinHandle<()>) {
        self.start_from(options, subscribers, None)
    }

    /// [`Self::start`] for subscribers that read state of their own (the
    /// access cache) at `loaded` (e.g. [`crate::read::AccessState::at`]):
    /// they are opened there and, before [`Ledger::started`] resolves,
    /// hear every event committed after it — also what another central
    /// committed between that read and the writer's start, which a cache
    /// read first and opened at the writer's head would never hear of.
    pub fn start_after(
        self,
        loaded: Positions,
        options: WriterOptions,
        subscribers: Vec<Arc<dyn Subscriber>>,
    ) -> (Ledger, JoinHandle<()>) {
        self.start_from(options, subscribers, Some(loaded))
    }

    fn start_from(
        self,
        options: WriterOptions,
        subscribers: Vec<Arc<dyn Subscriber>>,
        loaded: Option<Positions>,
    ) -> (Ledger, JoinHandle<()>) {
        match self {
            Database::Sqlite(db) => (*db).start(options, subscribers, loaded),
            Database::Postgres(db) => (*db).start(options, subscribers, loaded),
        }
    }
}
