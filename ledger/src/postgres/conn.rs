//! A PostgreSQL connection with its prepared statements: each statement is
//! prepared on first use and kept for the connection's life, so a hot one
//! costs one round trip, not a parse and then an execute. [`Sql`] is what
//! the statements shared by the readers and the writer run on.

use std::collections::HashMap;

use postgres::{Client, NoTls, Row, Statement, types::ToSql};

pub(crate) struct Conn {
    pub client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Conn {
    pub fn connect(url: &str) -> anyhow::Result<Conn> {
        let client = Client::connect(url, NoTls)?;
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &'static str) -> anyhow::Result<Statement> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }
}

/// Statements on a connection, prepared on first use: the readers' and
/// the migrations' [`Conn`], and the writer's [`super::pipe::Pipe`].
pub(crate) trait Sql {
    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Vec<Row>>;

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)])
    -> anyhow::Result<u64>;

    /// Text without parameters, possibly several statements.
    fn batch(&mut self, sql: &str) -> anyhow::Result<()>;

    /// The one row the statement answers; an error for none or several.
    fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| anyhow::anyhow!("the statement answered no row"))
    }

    /// The row the statement answers, if any; an error for several.
    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Option<Row>> {
        let mut rows = self.query(sql, params)?;
        anyhow::ensure!(
            rows.len() <= 1,
            "the statement answered {} rows, not one",
            rows.len()
        );
        Ok(rows.pop())
    }
}

impl Sql for Conn {
    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<u64> {
        let statement = self.statement(sql)?;
        Ok(self.client.execute(&statement, params)?)
    }

    fn batch(&mut self, sql: &str) -> anyhow::Result<()> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// A stored count or offset: never negative, but stored signed.
pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
