//! Read-only connections to the database file, for the read pool.

use std::path::PathBuf;

use rusqlite::{Connection, OpenFlags};

use super::{read::SqliteRead, tune};
use crate::{ReadError, backend::ReadStatements, pool::Connector};

pub(crate) struct SqliteReads {
    pub path: PathBuf,
}

impl Connector for SqliteReads {
    type Conn = Connection;

    fn connect(&self) -> anyhow::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        tune(&conn)?;
        Ok(conn)
    }

    /// WAL: a read transaction sees one commit's state, and never waits
    /// for the writer.
    fn read<T>(
        &self,
        conn: &mut Connection,
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

    fn reusable(&self, conn: &Connection) -> bool {
        conn.is_autocommit()
    }
}
