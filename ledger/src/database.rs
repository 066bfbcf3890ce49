//! Opening the ledger on whichever backend its location names.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::{Ledger, Reader, Subscriber, WriterOptions, postgres, sqlite};

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
    Sqlite(sqlite::Database),
    Postgres(Box<postgres::Database>),
}

/// Opens (creating or migrating as needed) the ledger at `location`.
pub async fn open(location: Location) -> anyhow::Result<Database> {
    tokio::task::spawn_blocking(move || match location {
        Location::Sqlite(options) => sqlite::open(&options).map(Database::Sqlite),
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

    /// Starts the writer (and, on PostgreSQL, the follower); they run
    /// until [`Ledger::shutdown`]. `subscribers` hear every committed
    /// group in offset order before any caller in it is answered.
    pub fn start(
        self,
        options: WriterOptions,
        subscribers: Vec<Arc<dyn Subscriber>>,
    ) -> (Ledger, JoinHandle<()>) {
        match self {
            Database::Sqlite(db) => db.start(options, subscribers),
            Database::Postgres(db) => (*db).start(options, subscribers),
        }
    }
}
