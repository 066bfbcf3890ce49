//! The writer: the only code that writes the ledger, on a thread of its own.
//!
//! It takes whatever commands are queued (up to a bound), applies them in
//! order inside one transaction, commits once, publishes the group to the
//! subscribers and only then answers each caller. If a command fails, the
//! group is applied again with a savepoint per command, so one failing
//! command does not take the others down. One durable commit is shared by
//! the whole group, which is where the write throughput comes from.
//!
//! Commands are typed ([`Command`]): each is queued with the reply channel
//! of its own output, so the compiler pairs every answer with its command.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use shared::Change;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    AccessChange, Command, Committed, CommittedEvent, GroupStats, HoldTally, Positions, Subscriber,
    WriteError,
    backend::{Wants, WriteBackend, WriteStatements},
    clock::Clock,
    publish::{Publisher, access_change, earliest, hold_due},
};

/// How long a write waits for room in the writer's queue.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// How the writer is bounded, and where it reads the time.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Commands waiting for the writer at most; more wait for room.
    pub queue: usize,
    /// Most work (a batch counts its lines) one group transaction takes.
    pub group_items: usize,
    /// Stamps every write of a group, and decides which holds are due.
    pub clock: Clock,
}

pub(crate) enum Message {
    Job(Box<dyn Job>),
    /// Commit what is queued, then stop.
    Shutdown,
}

/// The handle request handlers use to write. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Message>,
    /// True once the subscribers are current ([`Ledger::started`]).
    started: watch::Receiver<bool>,
}

/// The writer's end of the queue; a backend hands it to [`run`].
pub(crate) struct Queue {
    rx: mpsc::Receiver<Message>,
    pub(crate) publisher: Arc<Publisher>,
    group_items: usize,
    clock: Clock,
    /// Where the subscribers' own state was read, if they read any.
    loaded: Option<Positions>,
    /// Told once the subscribers are current; dropped unsent if the
    /// writer cannot open the ledger.
    started: watch::Sender<bool>,
}

/// The writer's queue; `loaded` is where the subscribers' state was read
/// (see [`crate::Database::start_after`]).
pub(crate) fn queue(
    options: WriterOptions,
    subscribers: Vec<Arc<dyn Subscriber>>,
    loaded: Option<Positions>,
) -> (Ledger, Queue) {
    let (tx, rx) = mpsc::channel(options.queue.max(1));
    let (started, started_rx) = watch::channel(false);
    let queue = Queue {
        rx,
        publisher: Arc::new(Publisher::new(subscribers)),
        group_items: options.group_items.max(1),
        clock: options.clock,
        loaded,
        started,
    };
    let ledger = Ledger {
        tx,
        started: started_rx,
    };
    (ledger, queue)
}

impl Ledger {
    /// Runs one write and waits for its output. The queue is bounded, and
    /// so is the wait for room in it: a writer that cannot keep up refuses
    /// ([`WriteError::Overloaded`], retry with the same key) rather than
    /// hold every caller.
    pub async fn run<C: Command>(&self, command: C) -> Result<C::Output, WriteError> {
        let (reply, answer) = oneshot::channel();
        let room = tokio::time::timeout(QUEUE_WAIT, self.tx.reserve())
            .await
            .map_err(|_| WriteError::Overloaded)?
            .map_err(|_| WriteError::Closed)?;
        room.send(Message::Job(Box::new(Pending {
            command,
            output: None,
            reply,
        })));
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// Resolves once the writer has opened the ledger and the subscribers
    /// are current: opened, and (started with
    /// [`crate::Database::start_after`]) told of every event committed
    /// after their state was read, by any central. Until then what they
    /// hold may be stale: central serves nothing before it. An error if
    /// the writer could not open the ledger (it refuses every write).
    pub async fn started(&self) -> Result<(), WriteError> {
        let mut started = self.started.clone();
        match started.wait_for(|started| *started).await {
            Ok(_) => Ok(()),
            Err(_) => Err(WriteError::Closed),
        }
    }

    /// Asks the writer to commit what is queued and stop; later writes get
    /// [`WriteError::Closed`].
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Message::Shutdown).await;
    }

    /// Writes waiting in the queue for the writer to take them.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// True once the writer has stopped taking writes.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A queued command with its reply channel, its type erased for the queue.
pub(crate) trait Job: Send {
    fn weight(&self) -> usize;
    fn wants(&self, wants: &mut Wants);
    /// Applies the command; its output is kept until the group commits.
    fn apply(&mut self, tx: &mut Tx<'_>) -> anyhow::Result<()>;
    /// The command failed under its own savepoint: it answers `Storage`.
    fn fail(&mut self);
    /// The group was rolled back to be applied again: forget the output.
    fn forget(&mut self);
    /// Sends the output (`committed`), or `Storage` if the group failed.
    fn answer(self: Box<Self>, committed: bool);
}

struct Pending<C: Command> {
    command: C,
    output: Option<Result<C::Output, WriteError>>,
    reply: oneshot::Sender<Result<C::Output, WriteError>>,
}

impl<C: Command> Job for Pending<C> {
    fn weight(&self) -> usize {
        self.command.weight()
    }

    fn wants(&self, wants: &mut Wants) {
        self.command.wants(wants);
    }

    fn apply(&mut self, tx: &mut Tx<'_>) -> anyhow::Result<()> {
        self.output = Some(Ok(self.command.apply(tx)?));
        Ok(())
    }

    fn fail(&mut self) {
        self.output = Some(Err(WriteError::Storage));
    }

    fn forget(&mut self) {
        self.output = None;
    }

    fn answer(self: Box<Self>, committed: bool) {
        let output = match self.output {
            Some(output) if committed => output,
            _ => Err(WriteError::Storage),
        };
        let _ = self.reply.send(output);
    }
}

/// What a group appended and changed so far.
#[derive(Default)]
struct Effects {
    events: Vec<CommittedEvent>,
    access: Vec<AccessChange>,
    holds_due: Option<i64>,
    holds: HoldTally,
    pruned_through: Option<u64>,
}

/// The open group transaction, as commands see it.
pub struct Tx<'a> {
    db: &'a mut dyn WriteStatements,
    head: u64,
    effects: Effects,
    now_ms: i64,
}

/// A point to roll a command's partial work back to.
pub(crate) struct Mark {
    head: u64,
    events: usize,
    access: usize,
    holds_due: Option<i64>,
    holds: HoldTally,
    pruned_through: Option<u64>,
}

impl<'a> Tx<'a> {
    pub(crate) fn db(&mut self) -> &mut dyn WriteStatements {
        self.db
    }

    /// The newest offset, counting what the group appended so far.
    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    /// The group's time: every write in it is stamped the same.
    pub(crate) fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub(crate) fn now(&self) -> time::OffsetDateTime {
        crate::clock::timestamp(self.now_ms)
    }

    /// Appends an event at the next offset and returns the offset.
    pub(crate) fn append(&mut self, change: Change) -> anyhow::Result<u64> {
        let offset = self.head + 1;
        let store_id = change.store_id().map(str::to_owned);
        let kind = change.kind();
        let access = access_change(&change);
        let due = hold_due(&change);
        let event = shared::Event {
            offset,
            at: self.now(),
            change,
        };
        let json = serde_json::value::to_raw_value(&event)?;
        self.db
            .append_event(offset, self.now_ms, kind, store_id.as_deref(), json.get())?;
        self.head = offset;
        self.effects.access.extend(access);
        self.effects.holds_due = earliest(self.effects.holds_due, due);
        self.effects.events.push(CommittedEvent {
            offset,
            store_id,
            json,
        });
        Ok(offset)
    }

    /// Where hold commands count what they did (see [`HoldTally`]).
    pub(crate) fn holds(&mut self) -> &mut HoldTally {
        &mut self.effects.holds
    }

    /// Tells subscribers, once the group commits, that the log was pruned.
    pub(crate) fn note_pruned(&mut self, through: u64) {
        self.effects.pruned_through = Some(through);
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            head: self.head,
            events: self.effects.events.len(),
            access: self.effects.access.len(),
            holds_due: self.effects.holds_due,
            holds: self.effects.holds,
            pruned_through: self.effects.pruned_through,
        }
    }

    /// Forgets offsets and effects of work rolled back to a savepoint.
    pub(crate) fn reset(&mut self, mark: Mark) {
        self.head = mark.head;
        self.effects.events.truncate(mark.events);
        self.effects.access.truncate(mark.access);
        self.effects.holds_due = mark.holds_due;
        self.effects.holds = mark.holds;
        self.effects.pruned_through = mark.pruned_through;
    }
}

/// The writer loop, on the backend's thread, until a shutdown: then it
/// applies what was queued before it and returns.
pub(crate) fn run(backend: &mut dyn WriteBackend, queue: Queue) {
    let Queue {
        mut rx,
        publisher,
        group_items,
        clock,
        loaded,
        started,
    } = queue;
    let mut head = match open(backend, &publisher, loaded) {
        Ok(head) => head,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "the writer could not open the ledger; refusing writes"
            );
            return;
        }
    };
    started.send_replace(true);
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut group = Vec::new();
        let mut items = 0;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => {
                    items += job.weight();
                    group.push(job);
                }
                Message::Shutdown => {
                    // Refuse new writes; what is already queued still commits.
                    stopping = true;
                    rx.close();
                }
            }
            if items < group_items {
                next = rx.try_recv().ok();
            }
        }
        if !group.is_empty() {
            let queued = rx.len();
            commit_group(backend, &mut head, group, &publisher, queued, &clock);
        }
    }
    tracing::info!(head, "ledger writer stopped");
}

/// Opens the subscribers, before any group: at the head as the writer
/// reads it; or, when their state was read at `loaded`, there, and then
/// publishes every event committed since (by other centrals, on
/// PostgreSQL: between that read and this one), so nothing committed
/// before the writer started is missing from what they hold. The new head.
fn open(
    backend: &mut dyn WriteBackend,
    publisher: &Publisher,
    loaded: Option<Positions>,
) -> anyhow::Result<u64> {
    let positions = backend.positions()?;
    let Some(loaded) = loaded else {
        publisher.opened(positions.head, positions.pruned_through);
        return Ok(positions.head);
    };
    anyhow::ensure!(
        loaded.head <= positions.head,
        "the ledger's head went back from {} to {} since the subscribers' state was read",
        loaded.head,
        positions.head
    );
    // Pruned events cannot be published: had any after `loaded` gone, the
    // subscribers would miss them. (Retention keeps the newest events, so
    // only a log kept absurdly short gets here.)
    anyhow::ensure!(
        positions.pruned_through <= loaded.head,
        "the log was pruned through {} since the subscribers' state was read at {}; start again",
        positions.pruned_through,
        loaded.head
    );
    publisher.opened(loaded.head, loaded.pruned_through);
    publisher.follow(positions.head, positions.pruned_through, |from, through| {
        backend.events_between(from, through)
    })?;
    Ok(positions.head)
}

/// How a group's transaction went.
enum Applied {
    /// Committed after `base`, up to a new head.
    Committed(u64, u64, Effects),
    /// A command failed without savepoints: nothing was kept.
    CommandFailed,
}

/// Applies and commits a group. Without savepoints (the usual case) a
/// failing command rolls the whole transaction back and the group is
/// applied again with a savepoint per command, so only that command is
/// refused: a savepoint per command in every group costs SQLite a copy of
/// each page a command touches.
fn commit_group(
    backend: &mut dyn WriteBackend,
    head: &mut u64,
    mut group: Vec<Box<dyn Job>>,
    publisher: &Publisher,
    queued: usize,
    clock: &Clock,
) {
    let started = Instant::now();
    let now_ms = clock.now_ms();
    let applied = match apply_group(backend, &mut group, false, now_ms) {
        Ok(Applied::CommandFailed) => {
            group.iter_mut().for_each(|job| job.forget());
            apply_group(backend, &mut group, true, now_ms)
        }
        other => other,
    };
    let committed = match applied {
        Ok(Applied::Committed(base, new_head, effects)) => {
            *head = new_head;
            let committed = Committed {
                head: new_head,
                events: effects.events,
                access: effects.access,
                holds_due: effects.holds_due,
                holds: effects.holds,
                pruned_through: effects.pruned_through,
                stats: GroupStats {
                    commands: group.len(),
                    queued,
                    duration: started.elapsed(),
                },
            };
            // Publish before answering: once a caller has its answer, the
            // head and access everyone else sees already include it.
            let published = publisher.local(&committed, base, |from, through| {
                backend.events_between(from, through)
            });
            if let Err(error) = published {
                // Committed all the same; the follower publishes it later.
                tracing::error!(%error, "could not read the offsets before a group");
            }
            true
        }
        Ok(Applied::CommandFailed) => {
            tracing::error!("a group failed under savepoints; every write in it is refused");
            false
        }
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                size = group.len(),
                "group commit failed; every write in it is refused"
            );
            if let Err(error) = backend.rollback() {
                tracing::error!(%error, "rollback after a failed commit");
            }
            false
        }
    };
    for job in group {
        job.answer(committed);
    }
}

fn apply_group(
    backend: &mut dyn WriteBackend,
    group: &mut [Box<dyn Job>],
    savepoints: bool,
    now_ms: i64,
) -> anyhow::Result<Applied> {
    let mut wants = Wants::default();
    group.iter().for_each(|job| job.wants(&mut wants));
    let head = backend.begin(&wants)?;
    let mut tx = Tx {
        db: &mut *backend,
        head,
        effects: Effects::default(),
        now_ms,
    };
    for job in group.iter_mut() {
        if savepoints {
            tx.db.savepoint("command")?;
        }
        let mark = tx.mark();
        match job.apply(&mut tx) {
            Ok(()) => {}
            Err(_) if !savepoints => {
                drop(tx);
                backend.rollback()?;
                return Ok(Applied::CommandFailed);
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "a write failed; rolled back");
                tx.db.rollback_to("command")?;
                tx.reset(mark);
                job.fail();
            }
        }
        if savepoints {
            tx.db.release("command")?;
        }
    }
    let new_head = tx.head;
    let effects = std::mem::take(&mut tx.effects);
    drop(tx);
    backend.commit((new_head != head).then_some(new_head))?;
    Ok(Applied::Committed(head, new_head, effects))
}
