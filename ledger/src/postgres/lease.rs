//! The expiry's lease on PostgreSQL: a session-level advisory lock
//! ([`EXPIRY_LEASE`]) taken on a connection of its own, so one central of
//! those sharing a database runs the hold expiry at a time.
//!
//! The lock lives as long as the session that took it: when the holder's
//! process dies its kernel closes the socket and the server ends the
//! session at once, which frees the lock for the next central that tries
//! (every [`crate::Lease::RECHECK`]). A holder whose machine vanishes
//! without closing the socket is dropped by the server's TCP keepalives,
//! set on this session to notice a silent peer within about five seconds.
//!
//! The holder confirms its session with a round trip before each expiry
//! run (and while it runs): a connection that fails or does not answer
//! within [`ANSWER`] is a lost lease — the session is dropped (which, if the
//! server still has it, frees the lock) and taken again only by trying
//! afresh, as any other central does.

use std::time::Duration;

use anyhow::Context;
use postgres::{Client, NoTls, Statement};

/// The advisory lock of the expiry's lease: any number the application's
/// advisory locks do not otherwise use (the migrations take "STOCKLIN").
/// Advisory locks are per database, so ledgers sharing a server do not
/// share it.
pub(crate) const EXPIRY_LEASE: i64 = 0x5354_4f43_4b45_5850; // "STOCKEXP"

/// How long a round trip on the lease's session may take before the lease
/// counts as lost. Generous: a loaded machine must not lose a live lease
/// (two centrals expiring at once is only waste, never wrong), and a holder
/// that cannot reach the database could not write its expiries anyway.
const ANSWER: Duration = Duration::from_secs(5);

/// The lease's session: connected on first use, dropped on any failure.
pub(crate) struct Session {
    url: String,
    conn: Option<Connected>,
    /// The last connection attempt failed: logged once, not every retry.
    failing: bool,
}

struct Connected {
    client: Client,
    try_lock: Statement,
    /// This session holds the lock. Only true after the server said so on
    /// this connection; a new connection starts without it.
    held: bool,
}

impl Session {
    pub fn new(url: String) -> Session {
        Session {
            url,
            conn: None,
            failing: false,
        }
    }

    /// Whether this session holds the lease now: takes it if it is free,
    /// confirms it with a round trip if held. Blocking.
    pub fn hold(&mut self) -> bool {
        match self.try_hold() {
            Ok(held) => {
                self.failing = false;
                held
            }
            Err(error) => {
                let had = self.conn.as_ref().is_some_and(|c| c.held);
                // Dropping the client closes the session: the server frees
                // the lock if it still had it, so another central may take it.
                self.conn = None;
                if had {
                    tracing::warn!(error = %format!("{error:#}"), "the expiry lease's connection failed: this central stops expiring until it holds the lease again");
                } else if !self.failing {
                    tracing::warn!(error = %format!("{error:#}"), "could not try the expiry lease; trying again");
                }
                self.failing = true;
                false
            }
        }
    }

    fn try_hold(&mut self) -> anyhow::Result<bool> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(connect(&self.url)?),
        };
        if conn.held {
            conn.client
                .is_valid(ANSWER)
                .context("confirming the lease's session")?;
            return Ok(true);
        }
        let row = conn
            .client
            .query_one(&conn.try_lock, &[&EXPIRY_LEASE])
            .context("trying the lease's lock")?;
        // Taken once per session: the lock is re-entrant, so it is never
        // asked for again while held (one unlock would not free it).
        conn.held = row.try_get(0)?;
        Ok(conn.held)
    }
}

fn connect(url: &str) -> anyhow::Result<Connected> {
    let mut config: postgres::Config = url.parse().context("the database URL")?;
    config
        .application_name("stockline expiry lease")
        .connect_timeout(ANSWER)
        // Data the server does not acknowledge in time fails the session
        // here, rather than a write hanging on a dead network.
        .tcp_user_timeout(ANSWER);
    let mut client = config.connect(NoTls).context("connecting the lease")?;
    // The server's side: a peer gone silent (its machine lost, no FIN) ends
    // the session after ~2 s idle + 3 probes 1 s apart, freeing the lock.
    // A live peer's kernel answers the probes, however busy its process.
    client
        .batch_execute(
            "SET tcp_keepalives_idle = 2;
             SET tcp_keepalives_interval = 1;
             SET tcp_keepalives_count = 3",
        )
        .context("setting the lease's keepalives")?;
    let try_lock = client.prepare("SELECT pg_try_advisory_lock($1)")?;
    Ok(Connected {
        client,
        try_lock,
        held: false,
    })
}
