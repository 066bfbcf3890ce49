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
//! The ledger reads on a blocking thread and hands each row to [`Out`].

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use ledger::{Reader, SnapshotSink};
use serde::Serialize;
use shared::{Hold, Product, StockLevel, Store};
use tokio::{
    runtime::Handle,
    sync::{Semaphore, mpsc, oneshot},
    time::Instant,
};
use tokio_stream::wrappers::ReceiverStream;

use crate::{error::AppError, observability};

/// How long a caller waits for a snapshot turn before 503.
const QUEUE: Duration = Duration::from_secs(1);
/// Bytes gathered before they are handed to the connection.
const CHUNK: usize = 32 * 1024;

type Chunk = Result<Bytes, std::io::Error>;
/// Told once: the snapshot started (its first bytes follow), or why not.
type Started = Arc<Mutex<Option<oneshot::Sender<Result<(), AppError>>>>>;

/// The snapshot of `store`'s levels (or every store's, for an admin), as a
/// streamed `application/json` answer of the [`shared::Snapshot`] shape.
/// Refusals (an unknown store, no turn) come before the first byte.
pub async fn stream(
    reader: &Reader,
    turns: &Arc<Semaphore>,
    deadline: Duration,
    store: Option<String>,
    currency: &shared::Currency,
) -> Result<Response, AppError> {
    let turn = tokio::time::timeout(QUEUE, turns.clone().acquire_owned())
        .await
        .map_err(|_| AppError::Busy("too many snapshots at once; retry in a moment"))?
        .map_err(|e| AppError::Internal(e.into()))?;
    let (sender, chunks) = mpsc::channel::<Chunk>(2);
    let (told, started) = oneshot::channel();
    let started_slot: Started = Arc::new(Mutex::new(Some(told)));
    let sink = Out {
        buffer: Vec::with_capacity(CHUNK + 1024),
        sender: sender.clone(),
        first: true,
        store: store.clone(),
        currency: currency.clone(),
        started: started_slot.clone(),
        deadline: Instant::now() + deadline,
        runtime: Handle::current(),
    };
    let reader = reader.clone();
    tokio::spawn(async move {
        let active = Active::enter();
        let read = reader.snapshot(store, sink).await;
        // The turn is free as soon as the read ends, however it ended.
        drop((turn, active));
        let Err(error) = read else {
            return;
        };
        let unstarted = started_slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match unstarted {
            // Refused before the first byte: the caller answers with it.
            Some(told) => {
                let _ = told.send(Err(error.into()));
            }
            // Cut short: the client sees a broken answer and asks again.
            None => {
                tracing::warn!(failure = %error, "snapshot cut short");
                // A stalled client's buffer is full: then the body just ends.
                let cut = sender.send(Err(std::io::Error::other(error)));
                let _ = tokio::time::timeout(Duration::from_secs(1), cut).await;
            }
        }
    });
    started.await.map_err(|_| {
        AppError::Internal(anyhow::anyhow!("the snapshot stopped before it began"))
    })??;
    let mut response = Body::from_stream(ReceiverStream::new(chunks)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The snapshot's fields before its long arrays.
#[derive(Serialize)]
struct Head<'a> {
    offset: u64,
    store_id: Option<&'a str>,
    currency: &'a shared::Currency,
    stores: &'a [Store],
}

/// The answer being written, on the reading thread: a buffer handed to
/// the connection whenever it is full. A client that stops reading holds
/// the read (and its connection) at most until the deadline.
struct Out {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Chunk>,
    first: bool,
    store: Option<String>,
    currency: shared::Currency,
    started: Started,
    deadline: Instant,
    runtime: Handle,
}

impl Out {
    fn item(&mut self, item: &impl Serialize) -> std::io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.buffer.push(b',');
        }
        serde_json::to_writer(&mut self.buffer, item)?;
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK + 1024),
        ));
        let sent = self.runtime.block_on(tokio::time::timeout_at(
            self.deadline,
            self.sender.send(Ok(chunk)),
        ));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "snapshot deadline passed",
            )),
        }
    }
}

impl SnapshotSink for Out {
    fn start(&mut self, offset: u64, stores: &[Store]) -> std::io::Result<()> {
        let head = Head {
            offset,
            store_id: self.store.as_deref(),
            currency: &self.currency,
            stores,
        };
        serde_json::to_writer(&mut self.buffer, &head)?;
        // Reopen the object to append the long arrays to it.
        self.buffer.pop();
        self.buffer.extend_from_slice(br#","products":["#);
        let told = self
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(told) = told {
            let _ = told.send(Ok(()));
        }
        Ok(())
    }

    fn product(&mut self, product: &Product) -> std::io::Result<()> {
        self.item(product)
    }

    fn levels(&mut self) -> std::io::Result<()> {
        self.buffer.extend_from_slice(br#"],"levels":["#);
        self.first = true;
        Ok(())
    }

    fn level(&mut self, level: &StockLevel) -> std::io::Result<()> {
        self.item(level)
    }

    fn holds(&mut self) -> std::io::Result<()> {
        self.buffer.extend_from_slice(br#"],"holds":["#);
        self.first = true;
        Ok(())
    }

    fn hold(&mut self, hold: &Hold) -> std::io::Result<()> {
        self.item(hold)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.buffer.extend_from_slice(b"]}");
        self.flush()
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
