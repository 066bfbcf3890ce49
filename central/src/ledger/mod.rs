//! The authoritative ledger. One writer task owns the write connection and
//! applies commands in arrival order, committing whatever is queued as one
//! group transaction; handlers talk to it through [`Ledger`].

mod apply;
pub(crate) mod catalog;
pub mod devices;
mod idempotency;
pub mod read;
mod refusal;
mod writer;

use std::sync::Arc;

use shared::{
    AdjustRequest, AdjustResult, BatchAdjustRequest, Device, NewProduct, NewStore, Product,
    ProductUpdate, SetStockRequest, SetStockResult, Store,
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use idempotency::Fingerprint;
pub use refusal::Refusal;
pub(crate) use writer::Effects;
pub use writer::WriteError;

use crate::{
    auth::StoreAccess,
    replication::{Notifier, Tail},
};

/// An applied adjustment, or the refusal, and whether it was a replay.
#[derive(Debug, Clone)]
pub struct Adjusted {
    pub outcome: Result<AdjustResult, Refusal>,
    pub replayed: bool,
}

#[derive(Debug, Clone)]
pub struct BatchOutcome {
    pub atomic: bool,
    pub committed: bool,
    pub items: Vec<(String, Adjusted)>,
}

/// What retention removed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct PruneReport {
    pub events_pruned: u64,
    pub keys_pruned: u64,
    /// Requests for changes `from` below this get 410 Gone.
    pub oldest_offset: u64,
    /// False when a chunk limit stopped this prune: there is more to do.
    pub caught_up: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct PrunePolicy {
    pub events_before_ms: i64,
    pub keep_events: u64,
    pub keys_before_ms: i64,
    /// Most events, and most keys, one prune removes, so retention never
    /// holds the writer long; it runs again at once until caught up.
    pub chunk: u64,
}

impl PrunePolicy {
    /// Retention as configured, counted back from now.
    pub fn now(config: &crate::config::Config) -> Self {
        let now = now_ms();
        PrunePolicy {
            events_before_ms: now - config.event_retention().as_millis() as i64,
            keep_events: config.event_retention_count,
            keys_before_ms: now - config.idempotency_retention().as_millis() as i64,
            chunk: config.prune_chunk,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, WriteError>>;

/// Who a stock write is for: the store, and the enrolled device (till)
/// that made it, if one did — recorded in the event it appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub store_id: String,
    pub device_id: Option<String>,
}

impl Writer {
    /// A write no device made: an admin, or a store's own credentials.
    pub fn store(store_id: impl Into<String>) -> Writer {
        Writer {
            store_id: store_id.into(),
            device_id: None,
        }
    }
}

/// A device to enrol: its id (made by the caller), store and name.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub device_id: String,
    pub store_id: String,
    pub name: String,
}

/// How long a write waits for room in the writer's queue.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) enum Command {
    Adjust {
        writer: Writer,
        key: String,
        req: AdjustRequest,
        fingerprint: Fingerprint,
        reply: Reply<Adjusted>,
    },
    Batch {
        writer: Writer,
        req: BatchAdjustRequest,
        /// One per item, in order.
        fingerprints: Vec<Fingerprint>,
        reply: Reply<BatchOutcome>,
    },
    SetStock {
        store_id: String,
        sku: String,
        req: SetStockRequest,
        reply: Reply<Result<SetStockResult, Refusal>>,
    },
    CreateProduct {
        new: NewProduct,
        reply: Reply<Result<Product, Refusal>>,
    },
    UpdateProduct {
        sku: String,
        update: ProductUpdate,
        reply: Reply<Result<Product, Refusal>>,
    },
    DeleteProduct {
        sku: String,
        reply: Reply<Result<Product, Refusal>>,
    },
    CreateStore {
        new: NewStore,
        secret_hash: String,
        reply: Reply<Result<Store, Refusal>>,
    },
    SetStoreActive {
        store_id: String,
        active: bool,
        reply: Reply<Result<Store, Refusal>>,
    },
    RotateSecret {
        store_id: String,
        secret_hash: String,
        reply: Reply<Result<Store, Refusal>>,
    },
    EnrolDevice {
        device: NewDevice,
        secret_hash: String,
        /// Most enrolled (unrevoked) devices a store may have.
        limit: u32,
        reply: Reply<Result<Device, Refusal>>,
    },
    RevokeDevice {
        device_id: String,
        reply: Reply<Result<Device, Refusal>>,
    },
    Prune {
        policy: PrunePolicy,
        reply: Reply<PruneReport>,
    },
    /// Commit what is queued, then stop.
    Shutdown,
}

/// The handle request handlers use to write. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Command>,
}

/// Who hears about a group once it is committed.
pub struct Listeners {
    /// Wakes the long-polls the group concerns.
    pub notifier: Arc<Notifier>,
    /// Store activation and credential changes, for token checks.
    pub access: Arc<StoreAccess>,
    /// The newest events, for followers near the head.
    pub tail: Arc<Tail>,
}

/// Starts the writer on a thread of its own; it runs until [`Ledger::shutdown`].
pub fn start(
    conn: rusqlite::Connection,
    listeners: Listeners,
    queue: usize,
    group_items: usize,
) -> (Ledger, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let task = tokio::task::spawn_blocking(move || {
        writer::run(conn, rx, listeners, group_items.max(1));
    });
    (Ledger { tx }, task)
}

impl Ledger {
    /// Asks the writer to commit what is queued and stop; later writes get
    /// [`WriteError::Closed`].
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
    }

    /// True once the writer has stopped taking writes.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues a command and waits for its answer. The queue is bounded,
    /// and so is the wait for room in it: a writer that cannot keep up
    /// refuses (503, retry with the same key) rather than hold every caller.
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, WriteError> {
        let (reply, answer) = oneshot::channel();
        let room = tokio::time::timeout(QUEUE_WAIT, self.tx.reserve())
            .await
            .map_err(|_| WriteError::Overloaded)?
            .map_err(|_| WriteError::Closed)?;
        room.send(make(reply));
        answer.await.map_err(|_| WriteError::Closed)?
    }

    pub async fn adjust(
        &self,
        writer: Writer,
        key: String,
        req: AdjustRequest,
    ) -> Result<Adjusted, WriteError> {
        // The device is not part of the fingerprint: the same write retried
        // by another tab of the till, or after re-enrolment, is the same.
        let fingerprint = fingerprint(&writer.store_id, &req)?;
        self.call(|reply| Command::Adjust {
            writer,
            key,
            req,
            fingerprint,
            reply,
        })
        .await
    }

    pub async fn batch(
        &self,
        writer: Writer,
        req: BatchAdjustRequest,
    ) -> Result<BatchOutcome, WriteError> {
        let fingerprints = req
            .items
            .iter()
            .map(|item| fingerprint(&writer.store_id, &item.request()))
            .collect::<Result<_, _>>()?;
        self.call(|reply| Command::Batch {
            writer,
            req,
            fingerprints,
            reply,
        })
        .await
    }

    pub async fn set_stock(
        &self,
        store_id: String,
        sku: String,
        req: SetStockRequest,
    ) -> Result<Result<SetStockResult, Refusal>, WriteError> {
        self.call(|reply| Command::SetStock {
            store_id,
            sku,
            req,
            reply,
        })
        .await
    }

    pub async fn create_product(
        &self,
        new: NewProduct,
    ) -> Result<Result<Product, Refusal>, WriteError> {
        self.call(|reply| Command::CreateProduct { new, reply })
            .await
    }

    pub async fn update_product(
        &self,
        sku: String,
        update: ProductUpdate,
    ) -> Result<Result<Product, Refusal>, WriteError> {
        self.call(|reply| Command::UpdateProduct { sku, update, reply })
            .await
    }

    pub async fn delete_product(
        &self,
        sku: String,
    ) -> Result<Result<Product, Refusal>, WriteError> {
        self.call(|reply| Command::DeleteProduct { sku, reply })
            .await
    }

    /// Registers a store; `secret_hash` is the argon2 hash of its secret.
    pub async fn create_store(
        &self,
        new: NewStore,
        secret_hash: String,
    ) -> Result<Result<Store, Refusal>, WriteError> {
        self.call(|reply| Command::CreateStore {
            new,
            secret_hash,
            reply,
        })
        .await
    }

    /// Activates or deactivates a store; deactivating revokes its tokens.
    pub async fn set_store_active(
        &self,
        store_id: String,
        active: bool,
    ) -> Result<Result<Store, Refusal>, WriteError> {
        self.call(|reply| Command::SetStoreActive {
            store_id,
            active,
            reply,
        })
        .await
    }

    /// Replaces a store's secret; tokens issued before stop working.
    pub async fn rotate_secret(
        &self,
        store_id: String,
        secret_hash: String,
    ) -> Result<Result<Store, Refusal>, WriteError> {
        self.call(|reply| Command::RotateSecret {
            store_id,
            secret_hash,
            reply,
        })
        .await
    }

    /// Enrols a device; `secret_hash` is the hash of the secret it got.
    pub async fn enrol_device(
        &self,
        device: NewDevice,
        secret_hash: String,
        limit: u32,
    ) -> Result<Result<Device, Refusal>, WriteError> {
        self.call(|reply| Command::EnrolDevice {
            device,
            secret_hash,
            limit,
            reply,
        })
        .await
    }

    /// Revokes a device: its credential and tokens stop working at once.
    /// Revoking a revoked device answers it as it is.
    pub async fn revoke_device(
        &self,
        device_id: String,
    ) -> Result<Result<Device, Refusal>, WriteError> {
        self.call(|reply| Command::RevokeDevice { device_id, reply })
            .await
    }

    pub async fn prune(&self, policy: PrunePolicy) -> Result<PruneReport, WriteError> {
        self.call(|reply| Command::Prune { policy, reply }).await
    }
}

/// An adjustment's fingerprint; it cannot fail for these types, but if it
/// did the write is refused as not taken, never panics.
fn fingerprint(store_id: &str, req: &AdjustRequest) -> Result<Fingerprint, WriteError> {
    idempotency::fingerprint(store_id, req).map_err(|error| {
        tracing::error!(%error, "could not fingerprint a write");
        WriteError::Storage
    })
}

/// Milliseconds since the Unix epoch: how the database keeps time.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn timestamp(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
