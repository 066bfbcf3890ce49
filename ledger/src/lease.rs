//! Which central runs the hold expiry: the one holding the [`Lease`].
//!
//! A port with one implementation per backend, so the expiry loop does not
//! know which it runs on:
//! - SQLite: one central per file, so it is always the holder.
//! - PostgreSQL: a session-level advisory lock on a connection of its own
//!   (`postgres::lease`). Centrals that do not hold it try again every
//!   [`Lease::RECHECK`], so when the holder dies (its session ends with its
//!   process, freeing the lock) another takes over within a second; the
//!   holder confirms its session as often, and before each expiry run.
//!
//! The lease saves work, it does not keep the ledger right: the writer's
//! transaction releases each hold once whichever central expires it, so two
//! holders at once (one whose session died unseen still finishing a chunk
//! while another takes over) only waste work.

use std::time::Duration;

use tokio::sync::watch;

use crate::postgres::lease::Session;

/// The right to run the hold expiry, one central at a time.
pub struct Lease {
    kind: Kind,
    /// Whether this central holds it, as last found: for a metric.
    held: watch::Sender<bool>,
}

enum Kind {
    /// The only central on its database (SQLite).
    Sole,
    /// Shared with other centrals through PostgreSQL. `None` while a check
    /// is out on a blocking thread; a check the caller stopped waiting for
    /// takes its session with it (dropped, which frees the lock), and the
    /// next starts a new one.
    Postgres {
        url: String,
        session: Option<Box<Session>>,
    },
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Sole => "sole",
            Kind::Postgres { .. } => "postgres",
        };
        f.debug_struct("Lease")
            .field("kind", &kind)
            .field("held", &*self.held.borrow())
            .finish()
    }
}

impl Drop for Lease {
    /// Closes a PostgreSQL session (freeing the lock for another central)
    /// off the async threads: the synchronous client blocks to close, which
    /// panics on a thread driving a runtime. A plain thread, not the
    /// runtime's blocking pool, which may be shutting down with the lease.
    fn drop(&mut self) {
        if let Kind::Postgres { session, .. } = &mut self.kind
            && let Some(session) = session.take()
        {
            let closed = std::thread::Builder::new()
                .name("expiry-lease-close".into())
                .spawn(move || drop(session));
            if let Err(error) = closed {
                // The session then ends with the process.
                tracing::warn!(%error, "could not close the expiry lease's session");
            }
        }
    }
}

impl Lease {
    /// How often a central that does not hold a shared lease tries to take
    /// it, and one that holds it confirms it: a dead holder's lease is
    /// taken over within about this long after its session ends.
    pub const RECHECK: Duration = Duration::from_millis(300);

    /// The lease of a central alone on its database: always held.
    pub fn sole() -> Lease {
        Lease {
            kind: Kind::Sole,
            held: watch::Sender::new(true),
        }
    }

    /// The lease shared by the centrals on the PostgreSQL database at `url`.
    pub(crate) fn postgres(url: String) -> Lease {
        Lease {
            kind: Kind::Postgres { url, session: None },
            held: watch::Sender::new(false),
        }
    }

    /// How often [`Lease::hold`] should be asked again, held or not; `None`:
    /// never (the sole lease cannot be lost).
    pub fn recheck(&self) -> Option<Duration> {
        match self.kind {
            Kind::Sole => None,
            Kind::Postgres { .. } => Some(Self::RECHECK),
        }
    }

    /// Whether this central holds the lease now: takes it if it is free,
    /// and confirms it (a round trip to the database) if it was held. A
    /// lost connection is a lost lease, until it is taken again.
    pub async fn hold(&mut self) -> bool {
        let held = match &mut self.kind {
            Kind::Sole => true,
            Kind::Postgres { url, session } => {
                let mut taken = match session.take() {
                    Some(taken) => taken,
                    None => Box::new(Session::new(url.clone())),
                };
                let checked = tokio::task::spawn_blocking(move || {
                    let held = taken.hold();
                    (taken, held)
                })
                .await;
                match checked {
                    Ok((taken, held)) => {
                        *session = Some(taken);
                        held
                    }
                    // The blocking thread panicked: its session is gone.
                    Err(error) => {
                        tracing::error!(%error, "checking the expiry lease failed");
                        false
                    }
                }
            }
        };
        self.held
            .send_if_modified(|was| std::mem::replace(was, held) != held);
        held
    }

    /// Whether this central holds the lease, as last found, and each
    /// change of it; closed when the lease is dropped.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.held.subscribe()
    }
}
