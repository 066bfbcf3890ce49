//! The read connections: a fixed number, each used by one read at a time
//! on a blocking thread. A read waits (asynchronously) for a free one, up
//! to a bound, then is refused as busy rather than queue without end.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::{read::SqliteRead, tune};
use crate::{ReadError, backend::ReadStatements};

/// How long a read waits for a free connection.
const WAIT: Duration = Duration::from_secs(5);

pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: holding one is owning a connection.
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(super) fn open(path: PathBuf, size: usize) -> anyhow::Result<ReadPool> {
        let size = size.max(1);
        let idle = (0..size)
            .map(|_| connect(&path))
            .collect::<anyhow::Result<_>>()?;
        Ok(ReadPool {
            path,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Closes the idle connections and refuses later reads as busy; reads
    /// under way finish and drop theirs.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
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
            // A read that panicked took its connection with it: open another.
            let conn = match taken {
                Some(conn) => conn,
                None => connect(&pool.path)?,
            };
            let answer = in_transaction(&conn, read);
            if conn.is_autocommit() && !pool.permits.is_closed() {
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

fn in_transaction<T>(
    conn: &Connection,
    read: impl FnOnce(&mut dyn ReadStatements) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    conn.execute_batch("BEGIN")?;
    let answer = read(&mut SqliteRead(conn));
    // A read changes nothing: ending it either way is the same.
    let ended = conn.execute_batch(if answer.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let answer = answer?;
    ended?;
    Ok(answer)
}

fn connect(path: &std::path::Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    tune(&conn)?;
    Ok(conn)
}
