//! Opening the database. Migrations run first (sqlx), then: one direct
//! SQLite connection for the writer thread, and an sqlx pool for reads.
//! WAL mode lets readers work beside the writer without "database is locked".

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};

use crate::config::{Config, Synchronous};

pub struct Database {
    pub writer: rusqlite::Connection,
    pub read: SqlitePool,
    /// The database was seeded or served with `--demo`.
    pub demo: bool,
}

pub async fn open(config: &Config) -> anyhow::Result<Database> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let path = config.database_path();
    let base = SqliteConnectOptions::from_str("sqlite:")?
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);

    let mut migrator = base
        .clone()
        .create_if_missing(true)
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::migrate!("./migrations")
        .run(&mut migrator)
        .await
        .context("running migrations")?;
    if config.demo {
        sqlx::query("UPDATE ledger_meta SET demo = 1 WHERE id = 1")
            .execute(&mut migrator)
            .await?;
    }
    let (demo,): (bool,) = sqlx::query_as("SELECT demo FROM ledger_meta WHERE id = 1")
        .fetch_one(&mut migrator)
        .await?;
    migrator.close().await?;

    let writer = writer_connection(config)?;
    let read = SqlitePoolOptions::new()
        .max_connections(config.read_connections.max(1))
        .min_connections(1)
        .connect_with(base.read_only(true))
        .await
        .context("opening the read pool")?;
    Ok(Database { writer, read, demo })
}

/// The writer's connection. It is used from one thread, statement after
/// statement, so it talks to SQLite directly: going through sqlx's worker
/// thread cost a thread hand-off per statement, which dominated the profile.
fn writer_connection(config: &Config) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(config.database_path())
        .context("opening the write connection")?;
    let synchronous = match config.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;"
    ))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}
