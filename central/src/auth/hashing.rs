//! The one expensive check: argon2 (~19 MiB and tens of milliseconds a
//! run). It runs on threads of its own, `--max-concurrent-hashes` of them;
//! a caller that cannot get a turn within `--hash-queue-ms` is told to come
//! back (503 with `Retry-After`), so a burst of sign-ins costs a bounded
//! amount of CPU, and of memory that goes back afterwards.
//!
//! Why threads of their own, each keeping one working memory: on the
//! blocking pool each run allocated its 19 MiB and freed it on whichever
//! thread ran it, and glibc raises its mmap threshold after the first such
//! free, so later buffers came from per-thread arenas that kept them. 150
//! concurrent wrong sign-ins took central from 37 MB to 780–1,026 MB, and
//! ~740 MB stayed. Now at most `--max-concurrent-hashes` buffers ever
//! exist: a thread makes its [`Memory`] at its first run, reuses it for
//! every run after, and frees it once it has had nothing to do for
//! [`KEEP_MEMORY`]; the binary fixes glibc's mmap threshold (`main.rs`), so
//! a freed buffer goes back to the system.
//!
//! Invariant: a worker is in the idle list whenever no caller holds the
//! turn it will run — a caller takes a worker out only while holding a
//! turn, and the worker goes back before it gives that turn back — so a
//! caller holding a turn always finds one.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex, PoisonError,
        mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel},
    },
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::secrets::{self, Cost, Memory};
use crate::{config::Config, error::AppError};

/// How long a hashing thread keeps its memory without a run: long enough
/// that a burst reuses it, short enough that it goes back soon after.
pub const KEEP_MEMORY: Duration = Duration::from_secs(1);

/// What a run does, in its thread's memory (made at the first need).
type Work = Box<dyn FnOnce(&mut Option<Memory>) + Send>;

/// A run: its work, and the turn it holds.
struct Job {
    work: Work,
    turn: OwnedSemaphorePermit,
}

pub struct Hashing {
    turns: Arc<Semaphore>,
    queue: Duration,
    /// Each worker's channel (capacity one: a worker runs one job at a
    /// time, and is handed one only when idle). Dropping them ends the
    /// workers.
    workers: Vec<SyncSender<Job>>,
    /// The workers waiting for a job, by index into `workers`.
    idle: Arc<Mutex<Vec<usize>>>,
}

impl Hashing {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Self::with_threads(
            config.max_concurrent_hashes.max(1),
            Duration::from_millis(config.hash_queue_ms),
            KEEP_MEMORY,
        )
    }

    fn with_threads(threads: usize, queue: Duration, keep: Duration) -> anyhow::Result<Self> {
        let idle = Arc::new(Mutex::new((0..threads).collect::<Vec<_>>()));
        let mut workers = Vec::with_capacity(threads);
        for index in 0..threads {
            let (sender, jobs) = sync_channel(1);
            let idle = idle.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || work(index, &jobs, &idle, keep))
                .map_err(|e| anyhow::anyhow!("starting a hashing thread: {e}"))?;
            workers.push(sender);
        }
        Ok(Hashing {
            turns: Arc::new(Semaphore::new(threads)),
            queue,
            workers,
            idle,
        })
    }

    /// Runs `work` on a hashing thread, in its memory, once a turn is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Option<Memory>) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let turn = tokio::time::timeout(self.queue, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| AppError::Busy("too many sign-ins at once; retry in a moment"))?
            .map_err(|e| AppError::Internal(e.into()))?;
        let worker = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no idle hashing thread")))?;
        let (answer, answered) = oneshot::channel();
        let job = Job {
            // A caller that went away meanwhile is answered nobody.
            work: Box::new(move |memory| drop(answer.send(work(memory)))),
            turn,
        };
        // An idle worker's channel is empty: this never waits.
        self.workers[worker]
            .try_send(job)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("a hashing thread: {e}")))?;
        answered
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a hashing run panicked")))
    }

    /// Whether `secret` matches `hash`: inline when the hash is cheap to
    /// check, else as a bounded turn of [`Self::run`].
    pub async fn verify(&self, secret: String, hash: Option<String>) -> Result<bool, AppError> {
        match secrets::cost(hash.as_deref()) {
            Cost::Cheap => Ok(secrets::verify(&secret, hash.as_deref())),
            Cost::Expensive => {
                self.run(move |memory| secrets::verify_with(&secret, hash.as_deref(), memory))
                    .await
            }
        }
    }

    /// A new credential's secret and the hash kept of it: the one the
    /// operator chose (argon2: it may be guessable), or one made here with
    /// 256 random bits (a fast hash is enough).
    pub async fn secret(&self, chosen: Option<String>) -> Result<(String, String), AppError> {
        match chosen {
            Some(chosen) => {
                let hash = self.hash_chosen(chosen.clone()).await?;
                Ok((chosen, hash))
            }
            None => {
                let secret = secrets::generate();
                let hash = secrets::hash_generated(&secret);
                Ok((secret, hash))
            }
        }
    }

    /// The argon2 hash of a secret someone chose, as a bounded turn.
    pub async fn hash_chosen(&self, secret: String) -> Result<String, AppError> {
        self.run(move |memory| {
            secrets::hash_chosen_with(&secret, memory.get_or_insert_with(Memory::new))
        })
        .await?
        .map_err(AppError::Internal)
    }
}

/// A hashing thread: runs the jobs it is handed in its one memory, frees
/// that memory after `keep` without a job, and ends when [`Hashing`] is
/// dropped.
fn work(index: usize, jobs: &Receiver<Job>, idle: &Mutex<Vec<usize>>, keep: Duration) {
    let mut memory: Option<Memory> = None;
    loop {
        let job = if memory.is_some() {
            match jobs.recv_timeout(keep) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    memory = None;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let Job { work, turn } = job;
        // A run that panics loses its answer (the caller hears of it), not
        // the thread; its memory is dropped, as it may be half written.
        if std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut memory))).is_err() {
            memory = None;
        }
        // Idle again before the turn is given back (the invariant above).
        idle.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(index);
        drop(turn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every run of a burst is answered, never more at once than there are
    /// threads, and each thread makes one memory for all its runs.
    #[tokio::test]
    async fn runs_share_a_few_threads_and_their_memory() {
        let hashing = Arc::new(
            Hashing::with_threads(2, Duration::from_secs(30), Duration::from_secs(30)).unwrap(),
        );
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let runs: Vec<_> = (0..16)
            .map(|_| {
                let (hashing, running, most) = (hashing.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    hashing
                        .run(move |memory| {
                            use std::sync::atomic::Ordering::SeqCst;
                            let now = running.fetch_add(1, SeqCst) + 1;
                            most.fetch_max(now, SeqCst);
                            let made = memory.is_none();
                            memory.get_or_insert_with(Memory::new);
                            std::thread::sleep(Duration::from_millis(5));
                            running.fetch_sub(1, SeqCst);
                            (std::thread::current().name().map(str::to_owned), made)
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut made = 0;
        for run in runs {
            let (thread, new) = run.await.unwrap();
            assert!(thread.is_some_and(|t| t.starts_with("argon2-")));
            made += usize::from(new);
        }
        assert!(most.load(std::sync::atomic::Ordering::SeqCst) <= 2);
        assert!(made <= 2, "{made} memories made for 16 runs");
    }

    #[tokio::test]
    async fn a_thread_frees_its_memory_when_idle_and_survives_a_panic() {
        let hashing =
            Hashing::with_threads(1, Duration::from_secs(30), Duration::from_millis(50)).unwrap();
        async fn had(hashing: &Hashing) -> Result<bool, AppError> {
            hashing
                .run(|memory| {
                    let had = memory.is_some();
                    memory.get_or_insert_with(Memory::new);
                    had
                })
                .await
        }
        assert!(!had(&hashing).await.unwrap());
        assert!(had(&hashing).await.unwrap(), "kept while busy");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!had(&hashing).await.unwrap(), "freed when idle");
        let panicked = hashing.run(|_| -> () { panic!("a bad run") }).await;
        assert!(panicked.is_err());
        assert!(!had(&hashing).await.unwrap(), "the thread runs on");
    }

    #[tokio::test]
    async fn a_caller_without_a_turn_in_time_is_told_to_retry() {
        let hashing = Arc::new(
            Hashing::with_threads(1, Duration::from_millis(20), Duration::from_secs(1)).unwrap(),
        );
        let slow = {
            let hashing = hashing.clone();
            tokio::spawn(async move {
                hashing
                    .run(|_| std::thread::sleep(Duration::from_millis(300)))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let busy = hashing.run(|_| ()).await;
        assert!(matches!(busy, Err(AppError::Busy(_))));
        slow.await.unwrap().unwrap();
        hashing.run(|_| ()).await.unwrap();
    }
}
