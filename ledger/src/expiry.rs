//! Releases holds when their time is up, by itself: it sleeps until the
//! soonest `expires_at` and then runs [`ExpireHolds`] in chunks sized to
//! keep the writer a few milliseconds each, until nothing more is due. There is no polling loop over the table: the
//! database is asked for the next expiry once at start and after each
//! run, and commits that place or extend holds (this central's, or another
//! central's through the follower) tell it of sooner ones.
//!
//! It runs while this central holds the [`Lease`]: on PostgreSQL one of the
//! centrals sharing a database at a time; the others wait to take the lease
//! over. The holder confirms the lease before each run and while it runs.
//! Correctness does not rest on the lease: the writer's transaction
//! releases each hold once, so should two centrals ever expire at once
//! (a holder whose session died unseen, finishing a chunk while another
//! takes over), the second finds the holds already released — waste, never
//! a hold released twice.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, watch};

use crate::{
    Committed, Lease, Ledger, Reader, Subscriber, WriteError,
    clock::Clock,
    cmd::{ExpireHolds, Expired},
};

/// Hears of holds due sooner than the expiry knows of, and of each group
/// this central's writer commits.
#[derive(Debug)]
pub struct ExpiryWatch {
    /// The soonest due time heard since the expiry last looked.
    soonest: AtomicI64,
    heard: Notify,
    /// Groups this central's writer has committed (not those of other
    /// centrals its follower publishes, which carry no commands).
    groups: watch::Sender<u64>,
}

impl Default for ExpiryWatch {
    fn default() -> Self {
        ExpiryWatch {
            soonest: AtomicI64::new(i64::MAX),
            heard: Notify::new(),
            groups: watch::Sender::new(0),
        }
    }
}

impl ExpiryWatch {
    /// Waits until a commit names a due time, and takes the soonest heard.
    async fn next_heard(&self) -> i64 {
        loop {
            let soonest = self.soonest.swap(i64::MAX, Ordering::AcqRel);
            if soonest != i64::MAX {
                return soonest;
            }
            self.heard.notified().await;
        }
    }
}

impl Subscriber for ExpiryWatch {
    fn committed(&self, committed: &Committed) {
        if committed.stats.commands > 0 {
            self.groups.send_modify(|n| *n = n.wrapping_add(1));
        }
        if let Some(due) = committed.holds_due {
            self.soonest.fetch_min(due, Ordering::AcqRel);
            // A permit is kept if the expiry is not waiting yet.
            self.heard.notify_one();
        }
    }
}

/// How the expiry works.
#[derive(Debug, Clone)]
pub struct ExpiryOptions {
    /// The most holds released per command: the writer runs other groups
    /// between.
    pub chunk: u32,
    /// How long one chunk should keep the writer: the chunk grows while
    /// chunks take less, and shrinks when they take more, so a sale queued
    /// behind one waits about this long on any machine, under any load.
    pub chunk_time: Duration,
    pub clock: Clock,
}

/// Runs until the task is dropped or the ledger closes, as the only
/// central on its database (tests, SQLite): [`run_leased`] with
/// [`Lease::sole`].
pub async fn run(ledger: Ledger, reader: Reader, watch: Arc<ExpiryWatch>, options: ExpiryOptions) {
    run_leased(ledger, reader, watch, options, Lease::sole()).await;
}

/// Runs until the task is dropped or the ledger closes, expiring while
/// this central holds `lease` and trying to take it while it does not.
pub async fn run_leased(
    ledger: Ledger,
    reader: Reader,
    watch: Arc<ExpiryWatch>,
    options: ExpiryOptions,
    mut lease: Lease,
) {
    loop {
        while !lease.hold().await {
            if ledger.is_closed() {
                return;
            }
            tokio::time::sleep(lease.recheck().unwrap_or(Lease::RECHECK)).await;
        }
        if lease.recheck().is_some() {
            tracing::info!("this central holds the expiry lease: it runs the hold expiry");
        }
        match lead(&ledger, &reader, &watch, &options, &mut lease).await {
            Stop::Closed => return,
            Stop::LeaseLost => {
                tracing::warn!(
                    "this central lost the expiry lease: it stops expiring until it holds it again"
                );
            }
        }
    }
}

/// Why the expiry stopped before nothing more was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The ledger has closed.
    Closed,
    /// The lease was found lost: another central may be expiring now.
    LeaseLost,
}

/// The expiry while this central holds the lease: sleeps until the soonest
/// due hold, expires what is due, and confirms the lease every
/// [`Lease::recheck`] and before each run. Returns when the lease is lost
/// or the ledger closes; the next holder reads the next expiry afresh, as
/// this one did on taking it (what it heard while not holding it is only a
/// hint).
async fn lead(
    ledger: &Ledger,
    reader: &Reader,
    watch: &ExpiryWatch,
    options: &ExpiryOptions,
    lease: &mut Lease,
) -> Stop {
    let mut next = None;
    let mut read_next = true;
    let recheck = lease.recheck();
    let mut confirmed = tokio::time::Instant::now();
    loop {
        if read_next {
            match reader.next_expiry().await {
                Ok(at) => {
                    next = at;
                    read_next = false;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not read the next hold expiry; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if !lease.hold().await {
                        return Stop::LeaseLost;
                    }
                    continue;
                }
            }
        }
        let due = async {
            match next {
                Some(at) => options.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let check = async {
            match recheck {
                Some(every) => tokio::time::sleep_until(confirmed + every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = due => {
                // Before each run: a lost connection is a lost lease.
                if !lease.hold().await {
                    return Stop::LeaseLost;
                }
                if let Err(stop) = expire_due(ledger, watch, options, lease).await {
                    return stop;
                }
                read_next = true;
                confirmed = tokio::time::Instant::now();
            }
            heard = watch.next_heard() => {
                next = Some(next.map_or(heard, |at: i64| at.min(heard)));
            }
            () = check => {
                if !lease.hold().await {
                    return Stop::LeaseLost;
                }
                confirmed = tokio::time::Instant::now();
            }
        }
    }
}

/// Expires chunk after chunk until none is due, confirming the lease
/// between chunks every [`Lease::recheck`]. Between chunks, writes that
/// queued meanwhile (a till's sale) go first, in groups of their own: a
/// sale waits for at most the one chunk being committed when it came, not
/// for the whole storm.
async fn expire_due(
    ledger: &Ledger,
    watch: &ExpiryWatch,
    options: &ExpiryOptions,
    lease: &mut Lease,
) -> Result<(), Stop> {
    let mut chunk = Chunk::new(options);
    let recheck = lease.recheck();
    let mut confirmed = tokio::time::Instant::now();
    loop {
        if let Some(every) = recheck
            && confirmed.elapsed() >= every
        {
            if !lease.hold().await {
                return Err(Stop::LeaseLost);
            }
            confirmed = tokio::time::Instant::now();
        }
        let started = tokio::time::Instant::now();
        let expired = ledger.run(ExpireHolds { limit: chunk.size }).await;
        match expired {
            Ok(Expired { more: true, .. }) => {
                chunk.took(started.elapsed());
                let_others_go_first(ledger, watch).await;
            }
            Ok(Expired { holds, more: false }) => {
                if holds > 0 {
                    tracing::debug!(holds, "expired holds");
                }
                return Ok(());
            }
            Err(WriteError::Closed) => return Err(Stop::Closed),
            Err(error) => {
                tracing::warn!(%error, "hold expiry was refused; trying again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The size of the next chunk: scaled by how long the last one took
/// against the time it should take (half-way each step, so one slow commit
/// does not halve it), within [`MIN_CHUNK`] and the configured most.
struct Chunk {
    size: u32,
    most: u32,
    time: Duration,
}

/// Fewer holds per command than this and the commits, not the holds,
/// take the writer's time.
const MIN_CHUNK: u32 = 10;

impl Chunk {
    fn new(options: &ExpiryOptions) -> Chunk {
        let most = options.chunk.max(1);
        Chunk {
            size: MIN_CHUNK.min(most),
            most,
            time: options.chunk_time.max(Duration::from_micros(100)),
        }
    }

    /// `took`: from asking to the answer, so a writer busy with other
    /// work (its queue) shrinks the chunk too.
    fn took(&mut self, took: Duration) {
        let took = took.as_secs_f64().max(1e-6);
        let scaled = f64::from(self.size) * self.time.as_secs_f64() / took;
        let next = (f64::from(self.size) + scaled) / 2.0;
        self.size = (next.round() as u32).clamp(MIN_CHUNK.min(self.most), self.most);
    }
}

/// Lets the writes queued behind a chunk go first, in a group without it:
/// if any are queued, waits (for at most [`YIELD`]) until this central's
/// writer commits its next group, which takes everything queued by then.
/// Not until the queue is empty: under steady sales it seldom is, and the
/// expiry stood aside the whole [`YIELD`] after every chunk (a storm of
/// 100,000 holds then took minutes to release on a loaded machine).
///
/// Needs `watch` among the writer's subscribers (as central has it);
/// without it, this waits [`YIELD`] whenever writes are queued.
async fn let_others_go_first(ledger: &Ledger, watch: &ExpiryWatch) {
    // Subscribed before the queue is looked at, so a group committed from
    // here on is seen. The chunk's own group is not one of them: it was
    // published before the chunk was answered.
    let mut groups = watch.groups.subscribe();
    if ledger.queued() == 0 {
        return;
    }
    let _ = tokio::time::timeout(YIELD, groups.changed()).await;
}

/// The longest the expiry stands aside for other writes between two
/// chunks: one group of them normally takes far less.
const YIELD: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(most: u32) -> Chunk {
        Chunk::new(&ExpiryOptions {
            chunk: most,
            chunk_time: Duration::from_millis(5),
            clock: Clock::system(),
        })
    }

    #[test]
    fn a_chunk_grows_while_fast_and_shrinks_when_slow_within_its_bounds() {
        let mut c = chunk(500);
        assert_eq!(c.size, MIN_CHUNK, "starts small");
        c.took(Duration::from_millis(1));
        assert_eq!(c.size, 30, "five times as many fit: half-way there");
        for _ in 0..20 {
            c.took(Duration::from_micros(100));
        }
        assert_eq!(c.size, 500, "never past the configured most");
        c.took(Duration::from_millis(50));
        assert_eq!(c.size, 275, "one slow commit: half-way down");
        for _ in 0..20 {
            c.took(Duration::from_secs(1));
        }
        assert_eq!(c.size, MIN_CHUNK, "never below the least");
        let mut tiny = chunk(3);
        tiny.took(Duration::from_secs(1));
        assert_eq!(tiny.size, 3, "a most below the least wins");
    }
}
