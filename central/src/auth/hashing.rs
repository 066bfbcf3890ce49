//! The one expensive check: argon2 (~19 MiB and tens of milliseconds a
//! run). At most `--max-concurrent-hashes` run at once, on the blocking
//! pool; a caller that cannot get a turn within `--hash-queue-ms` is told
//! to come back (503 with `Retry-After`), so a burst of sign-ins costs a
//! bounded amount of memory and CPU instead of all of both.

use std::{sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use super::secrets::{self, Cost};
use crate::{config::Config, error::AppError};

pub struct Hashing {
    permits: Arc<Semaphore>,
    queue: Duration,
}

impl Hashing {
    pub fn new(config: &Config) -> Self {
        Hashing {
            permits: Arc::new(Semaphore::new(config.max_concurrent_hashes.max(1))),
            queue: Duration::from_millis(config.hash_queue_ms),
        }
    }

    /// Runs `work` on the blocking pool once a turn is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = tokio::time::timeout(self.queue, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| AppError::Busy("too many sign-ins at once; retry in a moment"))?
            .map_err(|e| AppError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            let _turn = permit;
            work()
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))
    }

    /// Whether `secret` matches `hash`: inline when the hash is cheap to
    /// check, else as a bounded turn of [`Self::run`].
    pub async fn verify(&self, secret: String, hash: Option<String>) -> Result<bool, AppError> {
        match secrets::cost(hash.as_deref()) {
            Cost::Cheap => Ok(secrets::verify(&secret, hash.as_deref())),
            Cost::Expensive => {
                self.run(move || secrets::verify(&secret, hash.as_deref()))
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
        self.run(move || secrets::hash_chosen(&secret))
            .await?
            .map_err(AppError::Internal)
    }
}
