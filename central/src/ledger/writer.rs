//! The writer: the only code that writes the ledger, on a thread of its own.
//!
//! It takes whatever commands are queued (up to a bound), applies them in
//! order inside one transaction, commits once, and only then answers each
//! caller and wakes the long-polls the group concerns. If a command fails,
//! the group is applied again with a savepoint per command, so one failing
//! command does not take the others down. One fsync is shared by
//! the whole group, which is where SQLite's write throughput comes from; and
//! the thread talks to SQLite directly, so a group costs one hand-off between
//! threads, not one per statement.

use std::{cell::RefCell, collections::BTreeSet, mem, time::Instant};

use rusqlite::{Connection, Statement, params};
use shared::{Change, Device, Event, Product, SetStockResult, Store};
use tokio::sync::mpsc;

use super::{
    Adjusted, BatchOutcome, Command, Listeners, PruneReport, Refusal, apply, catalog, devices,
    idempotency, timestamp,
};
use crate::{
    auth::{Access, DeviceAccess},
    observability,
    replication::tail,
};

/// Why a write got no answer from the ledger. Each is worth a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the ledger is shutting down")]
    Closed,
    #[error("the ledger's queue is full")]
    Overloaded,
    #[error("the ledger could not commit the write")]
    Storage,
}

/// Which followers a group of changes concerns.
#[derive(Debug, Default, Clone)]
pub(crate) struct Effects {
    pub stores: BTreeSet<String>,
    pub catalog: bool,
    /// Stores whose activation or credentials changed.
    pub access: Vec<(String, Access)>,
    /// Devices enrolled or revoked.
    pub devices: Vec<(String, DeviceAccess)>,
    /// The events appended, for the in-memory tail of the log.
    pub events: Vec<tail::Entry>,
    /// Set when retention pruned the log up to this offset.
    pub pruned_through: Option<u64>,
}

impl Effects {
    fn merge(&mut self, other: Effects) {
        self.stores.extend(other.stores);
        self.catalog |= other.catalog;
        self.access.extend(other.access);
        self.devices.extend(other.devices);
        self.events.extend(other.events);
        self.pruned_through = other.pruned_through.or(self.pruned_through);
    }
}

/// The statements every adjustment runs, prepared once for the writer's
/// life: `prepare_cached` hashed a statement's SQL and took it out of and
/// back into its cache on every use.
pub(crate) struct Prepared<'c> {
    pub lookup_key: RefCell<Statement<'c>>,
    pub save_key: RefCell<Statement<'c>>,
    pub target: RefCell<Statement<'c>>,
    pub update_level: RefCell<Statement<'c>>,
    pub append: RefCell<Statement<'c>>,
}

impl<'c> Prepared<'c> {
    fn new(conn: &'c Connection) -> rusqlite::Result<Self> {
        let prepare = |sql| conn.prepare(sql).map(RefCell::new);
        Ok(Prepared {
            lookup_key: prepare(idempotency::LOOKUP)?,
            save_key: prepare(idempotency::SAVE)?,
            target: prepare(apply::TARGET)?,
            update_level: prepare(apply::UPDATE_LEVEL)?,
            append: prepare(APPEND)?,
        })
    }
}

const APPEND: &str = "INSERT INTO events (seq, at, kind, store_id, data) VALUES (?, ?, ?, ?, ?)";

/// The open group transaction, as commands see it.
pub(crate) struct Tx<'c, 'p> {
    pub conn: &'c Connection,
    pub prepared: &'c Prepared<'p>,
    head: u64,
    effects: Effects,
    pub now_ms: i64,
}

/// A point to roll a command's partial work back to.
pub(crate) struct Mark {
    head: u64,
    effects: Effects,
}

impl Tx<'_, '_> {
    pub fn exec(&self, sql: &'static str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(drop)
    }

    pub fn now(&self) -> time::OffsetDateTime {
        timestamp(self.now_ms)
    }

    /// Appends an event at the next offset and returns the offset.
    pub fn append(&mut self, change: Change) -> anyhow::Result<u64> {
        let offset = self.head + 1;
        let store_id = change.store_id().map(str::to_owned);
        let kind = change.kind();
        let event = Event {
            offset,
            at: self.now(),
            change,
        };
        let data = serde_json::value::to_raw_value(&event)?;
        self.prepared.append.borrow_mut().execute(params![
            offset as i64,
            self.now_ms,
            kind,
            store_id,
            data.get()
        ])?;
        self.head = offset;
        match &store_id {
            Some(store) => {
                self.effects.stores.insert(store.clone());
            }
            None => self.effects.catalog = true,
        }
        self.effects.events.push((offset, store_id, data));
        Ok(offset)
    }

    /// Tells followers, once the group commits, that the log was pruned.
    pub fn note_pruned(&mut self, through: u64) {
        self.effects.pruned_through = Some(through);
    }

    /// Publishes a store's new access once the group commits.
    pub fn note_access(&mut self, store_id: &str, access: Access) {
        self.effects.access.push((store_id.to_owned(), access));
    }

    /// Publishes a device's enrolment or revocation once the group commits.
    pub fn note_device(&mut self, device_id: &str, access: DeviceAccess) {
        self.effects.devices.push((device_id.to_owned(), access));
    }

    pub fn mark(&self) -> Mark {
        Mark {
            head: self.head,
            effects: self.effects.clone(),
        }
    }

    /// Forgets offsets and effects of work rolled back to a savepoint.
    pub fn reset(&mut self, mark: Mark) {
        self.head = mark.head;
        self.effects = mark.effects;
    }
}

/// What applying a command produced, held until the group's commit says
/// whether it stands.
pub(crate) enum Answer {
    Adjusted(Adjusted),
    Batch(BatchOutcome),
    Level(Result<SetStockResult, Refusal>),
    Product(Result<Product, Refusal>),
    Store(Result<Store, Refusal>),
    Device(Result<Device, Refusal>),
    Pruned(PruneReport),
}

impl Command {
    /// How much work a command is, for bounding a group.
    fn weight(&self) -> usize {
        match self {
            Command::Batch { req, .. } => req.items.len().max(1),
            _ => 1,
        }
    }

    /// Applies the command inside the open transaction. It only reads the
    /// command, so a group can be applied again after a rollback.
    fn apply(&self, tx: &mut Tx<'_, '_>) -> anyhow::Result<Answer> {
        Ok(match self {
            Command::Adjust {
                writer,
                key,
                req,
                fingerprint,
                ..
            } => Answer::Adjusted(apply::adjust(tx, writer, key, req, fingerprint)?),
            Command::Batch {
                writer,
                req,
                fingerprints,
                ..
            } => Answer::Batch(apply::batch(tx, writer, req, fingerprints)?),
            Command::SetStock {
                store_id, sku, req, ..
            } => Answer::Level(apply::set_stock(tx, store_id, sku, req)?),
            Command::CreateProduct { new, .. } => {
                Answer::Product(catalog::create_product(tx, new)?)
            }
            Command::UpdateProduct { sku, update, .. } => {
                Answer::Product(catalog::update_product(tx, sku, update)?)
            }
            Command::DeleteProduct { sku, .. } => {
                Answer::Product(catalog::delete_product(tx, sku)?)
            }
            Command::CreateStore {
                new, secret_hash, ..
            } => Answer::Store(catalog::create_store(tx, new, secret_hash)?),
            Command::SetStoreActive {
                store_id, active, ..
            } => Answer::Store(catalog::set_store_active(tx, store_id, *active)?),
            Command::RotateSecret {
                store_id,
                secret_hash,
                ..
            } => Answer::Store(catalog::rotate_secret(tx, store_id, secret_hash)?),
            Command::EnrolDevice {
                device,
                secret_hash,
                limit,
                ..
            } => Answer::Device(devices::enrol_device(tx, device, secret_hash, *limit)?),
            Command::RevokeDevice { device_id, .. } => {
                Answer::Device(devices::revoke_device(tx, device_id)?)
            }
            Command::Prune { policy, .. } => Answer::Pruned(catalog::prune(tx, *policy)?),
            Command::Shutdown => anyhow::bail!("the loop handles Shutdown"),
        })
    }

    /// Sends the caller its answer, or the error when it has none.
    fn reply(self, answer: Result<Answer, WriteError>) {
        fn send<T>(
            reply: super::Reply<T>,
            answer: Result<Answer, WriteError>,
            pick: fn(Answer) -> Option<T>,
        ) {
            // An answer of another kind than the command's would be a bug
            // here; the caller then gets a retryable error, never a panic.
            let value = answer.and_then(|a| pick(a).ok_or(WriteError::Storage));
            let _ = reply.send(value);
        }
        match self {
            Command::Adjust { reply, .. } => send(reply, answer, |a| match a {
                Answer::Adjusted(v) => Some(v),
                _ => None,
            }),
            Command::Batch { reply, .. } => send(reply, answer, |a| match a {
                Answer::Batch(v) => Some(v),
                _ => None,
            }),
            Command::SetStock { reply, .. } => send(reply, answer, |a| match a {
                Answer::Level(v) => Some(v),
                _ => None,
            }),
            Command::CreateProduct { reply, .. }
            | Command::UpdateProduct { reply, .. }
            | Command::DeleteProduct { reply, .. } => send(reply, answer, |a| match a {
                Answer::Product(v) => Some(v),
                _ => None,
            }),
            Command::CreateStore { reply, .. }
            | Command::SetStoreActive { reply, .. }
            | Command::RotateSecret { reply, .. } => send(reply, answer, |a| match a {
                Answer::Store(v) => Some(v),
                _ => None,
            }),
            Command::EnrolDevice { reply, .. } | Command::RevokeDevice { reply, .. } => {
                send(reply, answer, |a| match a {
                    Answer::Device(v) => Some(v),
                    _ => None,
                })
            }
            Command::Prune { reply, .. } => send(reply, answer, |a| match a {
                Answer::Pruned(v) => Some(v),
                _ => None,
            }),
            Command::Shutdown => {}
        }
    }
}

/// The writer loop; runs on a blocking thread until a `Shutdown` command,
/// then applies what was queued behind it and returns.
pub(super) fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Command>,
    listeners: Listeners,
    group_items: usize,
) {
    let mut head = match load_head(&conn) {
        Ok((head, pruned_through)) => {
            listeners.tail.reset(head, pruned_through);
            head
        }
        Err(error) => {
            tracing::error!(%error, "the writer could not read the ledger head; refusing writes");
            return;
        }
    };
    let prepared = match Prepared::new(&conn) {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!(%error, "the writer could not prepare its statements; refusing writes");
            return;
        }
    };
    listeners.notifier.publish(head, &Effects::default());
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut group = Vec::new();
        let mut items = 0;
        let mut next = Some(first);
        while let Some(cmd) = next.take() {
            if matches!(cmd, Command::Shutdown) {
                // Refuse new writes; what is already queued still commits.
                stopping = true;
                rx.close();
            } else {
                items += cmd.weight();
                group.push(cmd);
            }
            if items < group_items {
                next = rx.try_recv().ok();
            }
        }
        if group.is_empty() {
            continue;
        }
        metrics::gauge!(observability::WRITER_QUEUE).set((rx.len() + group.len()) as f64);
        metrics::histogram!(observability::GROUP_SIZE).record(group.len() as f64);
        let started = Instant::now();
        commit_group(&conn, &prepared, &mut head, group, &listeners);
        metrics::histogram!(observability::GROUP_DURATION).record(started.elapsed().as_secs_f64());
    }
    drop(prepared);
    if let Err((_, error)) = conn.close() {
        tracing::warn!(%error, "closing the write connection");
    }
    tracing::info!(head, "ledger writer stopped");
}

/// The newest offset committed and the newest pruned.
fn load_head(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    conn.query_row(
        "SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
}

/// How a group's transaction went.
enum Applied {
    /// Committed: one answer per command, in order.
    Committed(Vec<Result<Answer, WriteError>>, u64, Effects),
    /// A command failed without savepoints: nothing was kept.
    CommandFailed,
}

/// Applies and commits a group. Without savepoints (the usual case) a
/// failing command rolls the whole transaction back and the group is applied
/// again with a savepoint per command, so only that command is refused. A
/// savepoint per command in every group cost ~15% of the writer's work:
/// each page a command touches was first copied to the statement journal.
fn commit_group(
    conn: &Connection,
    prepared: &Prepared<'_>,
    head: &mut u64,
    group: Vec<Command>,
    listeners: &Listeners,
) {
    let size = group.len();
    let applied = match apply_group(conn, prepared, *head, &group, false) {
        Ok(Applied::CommandFailed) => apply_group(conn, prepared, *head, &group, true),
        other => other,
    };
    match applied {
        Ok(Applied::Committed(answers, new_head, mut effects)) => {
            // Publish before answering: once a caller has its answer, the
            // head and store access everyone else sees already include it.
            *head = new_head;
            for (store_id, access) in mem::take(&mut effects.access) {
                listeners.access.set(store_id, access);
            }
            for (device_id, access) in mem::take(&mut effects.devices) {
                listeners.access.set_device(device_id, access);
            }
            let events = mem::take(&mut effects.events);
            listeners.tail.extend(events, *head, effects.pruned_through);
            listeners.notifier.publish(*head, &effects);
            for (cmd, answer) in group.into_iter().zip(answers) {
                cmd.reply(answer);
            }
        }
        Ok(Applied::CommandFailed) => {
            // Not reached: with savepoints a failing command is refused alone.
            for cmd in group {
                cmd.reply(Err(WriteError::Storage));
            }
        }
        Err(error) => {
            tracing::error!(%error, size, "group commit failed; every write in it is refused");
            if let Err(error) = conn.execute_batch("ROLLBACK") {
                tracing::error!(%error, "rollback after a failed commit");
            }
            for cmd in group {
                cmd.reply(Err(WriteError::Storage));
            }
        }
    }
}

fn apply_group(
    conn: &Connection,
    prepared: &Prepared<'_>,
    head: u64,
    group: &[Command],
    savepoints: bool,
) -> rusqlite::Result<Applied> {
    let mut tx = Tx {
        conn,
        prepared,
        head,
        effects: Effects::default(),
        now_ms: super::now_ms(),
    };
    let mut answers = Vec::with_capacity(group.len());
    let mut effects = Effects::default();
    tx.exec("BEGIN IMMEDIATE")?;
    for cmd in group {
        if savepoints {
            tx.exec("SAVEPOINT command")?;
        }
        let mark = savepoints.then(|| tx.mark());
        match cmd.apply(&mut tx) {
            Ok(answer) => {
                answers.push(Ok(answer));
                effects.merge(mem::take(&mut tx.effects));
            }
            Err(_) if !savepoints => {
                tx.exec("ROLLBACK")?;
                return Ok(Applied::CommandFailed);
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "a write failed; rolled back");
                tx.exec("ROLLBACK TO command")?;
                if let Some(mark) = mark {
                    tx.reset(mark);
                }
                answers.push(Err(WriteError::Storage));
            }
        }
        if savepoints {
            tx.exec("RELEASE command")?;
        }
    }
    if tx.head != head {
        tx.conn
            .prepare_cached("UPDATE ledger_meta SET head_offset = ? WHERE id = 1")?
            .execute([tx.head as i64])?;
    }
    tx.exec("COMMIT")?;
    Ok(Applied::Committed(answers, tx.head, effects))
}
