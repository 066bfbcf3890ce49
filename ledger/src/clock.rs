//! How the ledger keeps time: milliseconds since the Unix epoch, which is
//! what its tables store.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tokio::sync::watch;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A stored time as a timestamp; one out of range reads as the epoch
/// rather than failing a read.
pub fn timestamp(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A timestamp as stored.
pub fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Where the writer and the hold expiry read the time: the system's, or a
/// clock a test moves by hand (so expiry is tested without sleeps).
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<watch::Sender<i64>>>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Clock::System"),
            Some(at) => write!(f, "Clock::Manual({})", *at.borrow()),
        }
    }
}

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that reads `start_ms` until it is moved.
    pub fn manual(start_ms: i64) -> Clock {
        Clock(Some(Arc::new(watch::Sender::new(start_ms))))
    }

    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => now_ms(),
            Some(at) => *at.borrow(),
        }
    }

    /// Moves a manual clock on (a system clock ignores it).
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.0 {
            let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            at.send_modify(|now| *now = now.saturating_add(by));
        }
    }

    /// Returns once the clock reads `at_ms` or later.
    pub async fn sleep_until(&self, at_ms: i64) {
        match &self.0 {
            None => loop {
                let now = now_ms();
                if now >= at_ms {
                    return;
                }
                let wait = u64::try_from(at_ms - now).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            },
            Some(at) => {
                let mut read = at.subscribe();
                // The sender lives as long as `self`: this only ends when
                // the clock gets there.
                let _ = read.wait_for(|now| *now >= at_ms).await;
            }
        }
    }
}
