//! The snapshot, streamed: the catalogue, the stores and the levels (all,
//! or one store's) read in one read transaction — exactly central's state
//! at `offset` — and written out as they are read, so central never holds a
//! whole snapshot in memory, however large the chain.
//!
//! Bounded: at most `--max-snapshots` stream at once (a caller waits up to a
//! second for a turn, then gets 503), and each must be read by its client
//! within `--snapshot-timeout-secs`, after which the body is cut (the
//! client sees a broken answer and asks again). A read transaction held
//! open keeps SQLite from checkpointing past it, so it must not stay long.

use std::{sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures_util::TryStreamExt;
use serde::Serialize;
use shared::{Product, StockLevel, Store};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{check_store, positions};
use crate::{
    error::AppError,
    ledger::{
        catalog::{PRODUCT_COLUMNS, ProductRow, StoreRow},
        read::{LEVEL_COLUMNS, LevelRow},
    },
    observability,
};

/// How long a caller waits for a snapshot turn before 503.
const QUEUE: Duration = Duration::from_secs(1);
/// Bytes gathered before they are handed to the connection.
const CHUNK: usize = 32 * 1024;

type Chunk = Result<Bytes, std::io::Error>;

/// The snapshot of `store`'s levels (or every store's, for an admin), as a
/// streamed `application/json` answer of the [`shared::Snapshot`] shape.
/// Refusals (an unknown store, no turn) come before the first byte.
pub async fn stream(
    pool: &SqlitePool,
    turns: &Arc<Semaphore>,
    deadline: Duration,
    store: Option<String>,
    currency: &shared::Currency,
) -> Result<Response, AppError> {
    let turn = tokio::time::timeout(QUEUE, turns.clone().acquire_owned())
        .await
        .map_err(|_| AppError::Busy("too many snapshots at once; retry in a moment"))?
        .map_err(|e| AppError::Internal(e.into()))?;
    let mut tx = pool.begin().await?;
    let (offset, _) = positions(&mut tx).await?;
    if let Some(store) = &store {
        check_store(&mut tx, store).await?;
    }
    let stores: Vec<StoreRow> =
        sqlx::query_as("SELECT store_id, name, active, created_at FROM stores ORDER BY store_id")
            .fetch_all(&mut *tx)
            .await?;
    let stores: Vec<Store> = stores.into_iter().map(Store::from).collect();
    let mut head = Vec::with_capacity(CHUNK);
    serde_json::to_writer(
        &mut head,
        &Head {
            offset,
            store_id: store.as_deref(),
            currency,
            stores: &stores,
        },
    )
    .map_err(|e| AppError::Internal(e.into()))?;
    // Reopen the object to append the two long arrays to it.
    head.pop();
    head.extend_from_slice(br#","products":["#);

    let (sender, chunks) = mpsc::channel::<Chunk>(2);
    tokio::spawn(async move {
        let written = tokio::time::timeout(deadline, write(tx, store, head, &sender, turn)).await;
        let failure = match written {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => std::io::Error::new(std::io::ErrorKind::TimedOut, "snapshot deadline passed"),
        };
        tracing::warn!(%failure, "snapshot cut short");
        let _ = sender.send(Err(failure)).await;
    });
    let mut response = Body::from_stream(ReceiverStream::new(chunks)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The snapshot's fields before its two long arrays.
#[derive(Serialize)]
struct Head<'a> {
    offset: u64,
    store_id: Option<&'a str>,
    currency: &'a shared::Currency,
    stores: &'a [Store],
}

/// Writes the products and levels after `head`, chunk by chunk; fails if
/// the client went away or the database failed.
async fn write(
    mut tx: Transaction<'static, Sqlite>,
    store: Option<String>,
    head: Vec<u8>,
    sender: &mpsc::Sender<Chunk>,
    turn: OwnedSemaphorePermit,
) -> Result<(), std::io::Error> {
    let _turn = turn;
    let _active = Active::enter();
    let mut out = Out {
        buffer: head,
        sender,
    };
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY sku");
    let mut products = sqlx::query_as::<_, ProductRow>(&sql).fetch(&mut *tx);
    let mut first = true;
    while let Some(row) = products.try_next().await.map_err(io)? {
        out.item(&mut first, &Product::from(row)).await?;
    }
    drop(products);
    out.buffer.extend_from_slice(br#"],"levels":["#);
    let sql = format!(
        "SELECT {LEVEL_COLUMNS} FROM stock_levels
         WHERE ?1 IS NULL OR store_id = ?1 ORDER BY store_id, sku"
    );
    let mut levels = sqlx::query_as::<_, LevelRow>(&sql)
        .bind(store.as_deref())
        .fetch(&mut *tx);
    let mut first = true;
    while let Some(row) = levels.try_next().await.map_err(io)? {
        out.item(&mut first, &StockLevel::from(row)).await?;
    }
    drop(levels);
    out.buffer.extend_from_slice(b"]}");
    out.flush().await?;
    tx.commit().await.map_err(io)
}

fn io(error: sqlx::Error) -> std::io::Error {
    std::io::Error::other(error)
}

/// The answer being written: a buffer handed on whenever it is full.
struct Out<'a> {
    buffer: Vec<u8>,
    sender: &'a mpsc::Sender<Chunk>,
}

impl Out<'_> {
    async fn item(&mut self, first: &mut bool, item: &impl Serialize) -> std::io::Result<()> {
        if !std::mem::take(first) {
            self.buffer.push(b',');
        }
        serde_json::to_writer(&mut self.buffer, item)?;
        if self.buffer.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK + 1024),
        ));
        self.sender.send(Ok(chunk)).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// Keeps the active-snapshots gauge right however a stream ends.
struct Active;

impl Active {
    fn enter() -> Self {
        metrics::gauge!(observability::SNAPSHOTS_ACTIVE).increment(1.0);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        metrics::gauge!(observability::SNAPSHOTS_ACTIVE).decrement(1.0);
    }
}
