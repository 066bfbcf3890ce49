//! Opening the database: one connection for the writer task, a pool for reads.
//! WAL mode lets readers work beside the writer without "database is locked".

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::{Config, Synchronous};

pub struct Database {
    pub writer: SqliteConnection,
    pub read: SqlitePool,
}

pub async fn open(config: &Config) -> anyhow::Result<Database> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let path = config.database_path();
    let base = SqliteConnectOptions::from_str("sqlite:")?
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        .pragma("temp_store", "memory");

    let mut writer = base
        .clone()
        .create_if_missing(true)
        .synchronous(match config.synchronous {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        })
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::migrate!("./migrations")
        .run(&mut writer)
        .await
        .context("running migrations")?;

    let read = SqlitePoolOptions::new()
        .max_connections(config.read_connections.max(1))
        .min_connections(1)
        .connect_with(base.read_only(true))
        .await
        .context("opening the read pool")?;
    Ok(Database { writer, read })
}
