//! The writer's connection: statements sent together in one round trip.
//!
//! A group holds the head row from its first statement to COMMIT, and
//! with it every central's writer; each round trip in between is time
//! every other central waits, and on a loaded machine each one is also a
//! wake-up of this thread and of the server's process. So the writer
//! sends what does not depend on an answer together: BEGIN, the head lock
//! and the reads ahead in one message; the group's writes, the head, the
//! NOTIFY and COMMIT in another.
//!
//! PostgreSQL runs pipelined statements one after another, as if sent one
//! by one: a read sent after the head lock runs once the lock is held, on
//! a snapshot taken then (READ COMMITTED takes one per statement), so it
//! sees whatever the group before committed. If one fails, those after it
//! in the same transaction fail too, and the group is rolled back.
//!
//! Built on `tokio-postgres` (the synchronous `postgres` client sends one
//! statement at a time) with a runtime of the writer's own thread.

use std::{collections::HashMap, future::Future, pin::Pin};

use anyhow::Context;
use postgres::{NoTls, Row, Statement, types::ToSql};

use super::conn::Sql;

/// One statement of a pipeline.
pub(crate) enum Step<'a> {
    /// Text without parameters (`BEGIN`, `COMMIT`), possibly several
    /// statements; answers no rows.
    Batch(&'a str),
    /// A prepared statement and its parameters; answers its rows.
    Query(&'static str, &'a [&'a (dyn ToSql + Sync)]),
}

pub(crate) struct Pipe {
    client: tokio_postgres::Client,
    runtime: tokio::runtime::Runtime,
    prepared: HashMap<&'static str, Statement>,
}

type Answer<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + 'a>>;

impl Pipe {
    /// Connects; the connection is driven whenever this thread waits on it.
    pub fn connect(url: &str) -> anyhow::Result<Pipe> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("the writer's runtime")?;
        let (client, connection) = runtime.block_on(tokio_postgres::connect(url, NoTls))?;
        runtime.spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the writer's connection to PostgreSQL ended");
            }
        });
        Ok(Pipe {
            client,
            runtime,
            prepared: HashMap::new(),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &'static str) -> anyhow::Result<Statement> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.runtime.block_on(self.client.prepare(sql))?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Sends every step at once and answers each one's rows, in order.
    /// A statement not yet prepared costs one round trip first, once per
    /// connection.
    pub fn pipeline(&mut self, steps: &[Step<'_>]) -> anyhow::Result<Vec<Vec<Row>>> {
        let mut prepared = Vec::with_capacity(steps.len());
        for step in steps {
            prepared.push(match *step {
                Step::Batch(sql) => (None, sql, &[][..]),
                Step::Query(sql, params) => (Some(self.statement(sql)?), sql, params),
            });
        }
        let client = &self.client;
        let answers: Vec<Answer<'_>> = prepared
            .iter()
            .map(|(statement, sql, params)| -> Answer<'_> {
                match statement {
                    Some(statement) => Box::pin(client.query(statement, params)),
                    None => {
                        Box::pin(
                            async move { client.batch_execute(sql).await.map(|()| Vec::new()) },
                        )
                    }
                }
            })
            .collect();
        // Each request is sent when its future is first polled, and
        // `try_join_all` first polls them in order.
        Ok(self
            .runtime
            .block_on(futures_util::future::try_join_all(answers))?)
    }
}

impl Sql for Pipe {
    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(self
            .runtime
            .block_on(self.client.query(&statement, params))?)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<u64> {
        let statement = self.statement(sql)?;
        Ok(self
            .runtime
            .block_on(self.client.execute(&statement, params))?)
    }

    fn batch(&mut self, sql: &str) -> anyhow::Result<()> {
        Ok(self.runtime.block_on(self.client.batch_execute(sql))?)
    }
}
