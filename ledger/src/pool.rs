//! The read connections: a fixed number, each used by one read at a time
//! on a blocking thread. A read waits (asynchronously) for a free one, up
//! to a bound, then is refused as busy rather than queue without end.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::Semaphore;

use crate::{ReadError, backend::ReadStatements};

/// How long a read waits for a free connection.
const WAIT: Duration = Duration::from_secs(5);

/// How a backend opens a read connection and runs one read on it.
pub(crate) trait Connector: Send + Sync + 'static {
    type Conn: Send + 'static;

    fn connect(&self) -> anyhow::Result<Self::Conn>;

    /// Runs `read` inside one read transaction, so what it reads is
    /// consistent.
    fn read<T>(
        &self,
        conn: &mut Self::Conn,
        read: impl FnOnce(&mut dyn ReadStatements) -> Result<T, ReadError>,
    ) -> Result<T, ReadError>;

    /// Whether the connection may serve another read (not broken, not
    /// left inside a transaction).
    fn reusable(&self, conn: &Self::Conn) -> bool;
}

pub(crate) struct Pool<C: Connector> {
    connector: C,
    idle: Mutex<Vec<C::Conn>>,
    /// One permit per connection: holding one is owning a connection.
    permits: Arc<Semaphore>,
}

impl<C: Connector> Pool<C> {
    pub(crate) fn open(connector: C, size: usize) -> anyhow::Result<Pool<C>> {
        let size = size.max(1);
        let idle = (0..size)
            .map(|_| connector.connect())
            .collect::<anyhow::Result<_>>()?;
        Ok(Pool {
            connector,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Closes the idle connections and refuses later reads as busy; reads
    /// under way finish and drop theirs.
    pub(crate) fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        drop_off_runtime(idle);
    }

    /// Runs `read` in one read transaction on a free connection.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&mut dyn ReadStatements) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let permit = tokio::time::timeout(WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ReadError::Busy)?
            .map_err(|_| ReadError::Busy)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            // A read that failed badly took its connection with it: open
            // another in its place.
            let mut conn = match taken {
                Some(conn) => conn,
                None => pool.connector.connect()?,
            };
            let answer = pool.connector.read(&mut conn, read);
            if pool.connector.reusable(&conn) && !pool.permits.is_closed() {
                pool.idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn);
            }
            answer
        })
        .await
        .map_err(|e| ReadError::Storage(e.into()))?
    }
}

impl<C: Connector> Drop for Pool<C> {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
        drop_off_runtime(idle);
    }
}

/// Drops connections where closing them may block: a synchronous client
/// (PostgreSQL's) says goodbye to the server by blocking on its own
/// runtime, which panics on a thread that drives async tasks.
fn drop_off_runtime<T: Send + 'static>(connections: Vec<T>) {
    if connections.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return drop(connections);
    }
    let closing = std::thread::Builder::new()
        .name("ledger-close".into())
        .spawn(move || drop(connections));
    if let Err(error) = closing {
        tracing::warn!(%error, "could not close the read connections");
    }
}
